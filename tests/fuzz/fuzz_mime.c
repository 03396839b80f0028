/*
 * libFuzzer target: MIME composition and the unsubscribe token
 * (plugins/common/mime.c).
 *
 * The input is split at NUL bytes into: display name, subject, text body,
 * HTML body (absent when empty), a token to verify, a sender ("Name
 * <addr>") and a campaign. Checked properties:
 *   - mime_compose()'s header section has only CRLF line ends, printable
 *     ASCII, exactly one To: and one Subject:, and every line is either a
 *     "Name: value" header of the fixed set or a folded continuation:
 *     nothing in a name or subject can add a header;
 *   - the body has CRLF line ends only;
 *   - a token made for the campaign verifies back to the same values, the
 *     fuzzed token never crashes the verifier, and a token verifies with
 *     one secret only.
 */
#include "mime.h"
#include "strbuf.h"

#include <ecrm/plugin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NPARTS 7

static const char secret[] = "fuzz-secret-0123456789";

static int known_header(const char *p, size_t n)
{
    static const char *const names[] = {
        "Date:",         "From:",         "Reply-To:",
        "To:",           "Subject:",      "Message-ID:",
        "MIME-Version:", "Content-Type:", "Content-Transfer-Encoding:",
        "List-Unsubscribe:", "List-Unsubscribe-Post:", NULL};
    for (size_t i = 0; names[i]; i++) {
        size_t k = strlen(names[i]);
        if (n >= k && !memcmp(p, names[i], k) && (n == k || p[k] == ' '))
            return (int)i + 1;
    }
    return 0;
}

static void check_message(const char *m, size_t len)
{
    const char *end = NULL;
    for (size_t i = 0; i + 3 < len; i++)
        if (!memcmp(m + i, "\r\n\r\n", 4)) {
            end = m + i + 2;
            break;
        }
    if (!end)
        abort();
    int ntos = 0, nsubject = 0;
    for (const char *p = m; p < end;) {
        const char *eol = p;
        while (eol < end && *eol != '\r' && *eol != '\n')
            eol++;
        if (eol + 1 >= end + 1 || eol[0] != '\r' || eol[1] != '\n')
            abort(); /* bare CR or LF in the header */
        for (const char *c = p; c < eol; c++)
            if ((unsigned char)*c < 0x20 && *c != '\t')
                abort();
            else if ((unsigned char)*c >= 0x7f)
                abort(); /* raw 8-bit in a header */
        if (*p != ' ' && *p != '\t') {
            int h = known_header(p, (size_t)(eol - p));
            if (!h)
                abort(); /* an injected header line */
            ntos += h == 4;
            nsubject += h == 5;
        }
        p = eol + 2;
    }
    if (ntos != 1 || nsubject != 1)
        abort();
    for (const char *p = end + 2; p < m + len; p++)
        if ((*p == '\r' && (p + 1 == m + len || p[1] != '\n')) ||
            (*p == '\n' && p[-1] != '\r'))
            abort(); /* bare CR or LF in the body */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *part[NPARTS];
    size_t np = 0;
    part[np++] = buf;
    for (size_t i = 0; i < size && np < NPARTS; i++)
        if (buf[i] == '\0')
            part[np++] = buf + i + 1;
    while (np < NPARTS)
        part[np++] = "";

    /* Sender parsing, then composition with it when it parsed. */
    char err[ECRM_ERRMAX];
    char *from_line = NULL, *domain = NULL, *addr = NULL;
    if (mime_parse_sender("from", "From", part[5], &from_line, &domain, &addr,
                          err) == 0) {
        if (!mime_addr_ok(addr) || !from_line)
            abort();
        free(addr);
    } else {
        from_line = strdup("From: Shop <shop@example.com>\r\n");
        domain = strdup("example.com");
    }
    char *tok = mime_unsub_token(secret, sizeof secret - 1, 42, part[6],
                                 1700000000);
    struct strbuf extra = {0};
    if (tok)
        mime_list_unsubscribe(&extra, "https://example.com/u?x=1", tok,
                              "unsub@example.com");

    struct ecrm_message msg = ECRM_REC_INIT(struct ecrm_message);
    msg.key = "fuzz:1";
    msg.customer_id = 42;
    msg.to = mime_addr_ok(part[0]) ? part[0] : "ada@example.com";
    msg.to_name = part[0];
    msg.subject = part[1];
    msg.text = part[2];
    msg.html = *part[3] ? part[3] : NULL;
    msg.campaign = part[6];
    struct mime_envelope env = {.from_line = from_line,
                                .reply_line = "Reply-To: help@example.com\r\n",
                                .domain = domain,
                                .extra = extra.p,
                                .date = 1700000000};
    char hash[33];
    mime_key_hash(msg.key, hash);
    struct strbuf b = {0};
    if (mime_compose(&b, &env, &msg, hash) == 0 && !b.oom)
        check_message(b.p, b.len);
    free(b.p);
    free(extra.p);
    free(from_line);
    free(domain);

    /* Token round trip for the fuzzed campaign. */
    if (tok) {
        int64_t id = 0, exp = 0;
        char *camp = NULL;
        if (mime_unsub_token_verify(secret, sizeof secret - 1, tok,
                                    1600000000, &id, &exp, &camp) != 0)
            abort();
        if (id != 42 || exp != 1700000000 || strcmp(camp, part[6]))
            abort();
        free(camp);
        if (mime_unsub_token_verify(secret, sizeof secret - 2, tok,
                                    1600000000, NULL, NULL, NULL) == 0)
            abort(); /* verified with the wrong secret */
        if (mime_unsub_token_verify(secret, sizeof secret - 1, tok,
                                    1800000000, NULL, NULL, NULL) == 0)
            abort(); /* expired */
        free(tok);
    }
    /* The fuzzed token. */
    {
        int64_t id, exp;
        char *camp = NULL;
        if (mime_unsub_token_verify(secret, sizeof secret - 1, part[4],
                                    1600000000, &id, &exp, &camp) == 0)
            free(camp);
        (void)mime_unsub_url_ok(part[4]);
        (void)mime_domain_ok(part[4]);
    }
    free(buf);
    return 0;
}
