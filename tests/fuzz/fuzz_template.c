/*
 * libFuzzer target: the template engine (core/template.c). The input is
 * compiled (NUL bytes allowed) and, when it compiles, rendered in text and
 * HTML mode against a small fixed context with values, a list of records
 * and an empty list; ecrm_tpl_check_vars() runs over it too.
 */
#include "buf.h"
#include "conf.h"
#include "template.h"

#include <ecrm/plugin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct ecrm_tpl_ctx *ctx;

static void setup(void)
{
    ctx = ecrm_tpl_ctx_new();
    ecrm_tpl_ctx_set(ctx, "customer.name", "Ada <Lovelace> & \"Co\"");
    ecrm_tpl_ctx_set(ctx, "customer.email", "ada@example.com");
    ecrm_tpl_ctx_set(ctx, "shop", "Tea & Co");
    ecrm_tpl_ctx_set(ctx, "empty", "");
    ecrm_tpl_ctx_setn(ctx, "raw", "a{{b}}\0c\r\n", 11);
    static const char *const items[][2] = {
        {"Green tea", "T-1"}, {"Black tea", "T-2"}, {"Mug {{x}}", "M-9"}};
    for (size_t i = 0; i < 3; i++) {
        struct ecrm_tpl_rec *r = ecrm_tpl_ctx_list_add(ctx, "items");
        ecrm_tpl_rec_set(r, "title", items[i][0]);
        ecrm_tpl_rec_set(r, "sku", items[i][1]);
        ecrm_tpl_rec_setn(r, "note", "x\0y", 3);
    }
    ecrm_tpl_ctx_list(ctx, "none");
}

static const char *const known_vars[] = {"customer.name", "customer.email",
                                         "shop", "items", "none", NULL};
static const char *const known_fields[] = {"title", "sku", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx)
        setup();
    struct ecrm_diag d = {0};
    struct ecrm_tpl *t = NULL;
    int rc = ecrm_tpl_compilen("fuzz", (const char *)data, size, &t, &d);
    if (rc == ECRM_OK) {
        if (!t)
            abort();
        for (int mode = ECRM_TPL_TEXT; mode <= ECRM_TPL_HTML; mode++) {
            struct ecrm_buf out = {0};
            ecrm_buf_puts(&out, "prefix");
            size_t before = out.len;
            if (ecrm_tpl_render(t, ctx, mode, &out, &d) != ECRM_OK &&
                out.len != before)
                abort(); /* a failed render leaves OUT as it was */
            ecrm_buf_free(&out);
        }
        (void)ecrm_tpl_check_vars(t, known_vars, known_fields, &d);
        ecrm_tpl_free(t);
    } else if (t || !d.n) {
        abort();
    }
    ecrm_diag_clear(&d);
    return 0;
}
