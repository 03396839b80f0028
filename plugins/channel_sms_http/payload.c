/* Request bodies and gateway answers of the sms_http channel. See
 * payload.h. */
#include "payload.h"

#include <ecrm/plugin.h>

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------------
 * Bodies
 */
static const char *const names[] = {"to", "text", "sender", "key", "campaign"};
#define NNAMES (sizeof(names) / sizeof(*names))

/* Value of placeholder NAME (N bytes) in F, NULL when NAME is unknown. */
static const char *field(const struct sms_fields *f, const char *name, size_t n)
{
    const char *v[NNAMES] = {f->to, f->text, f->sender, f->key, f->campaign};
    for (size_t i = 0; i < NNAMES; i++)
        if (strlen(names[i]) == n && memcmp(names[i], name, n) == 0)
            return v[i] ? v[i] : "";
    return NULL;
}

int sms_template_check(const char *tmpl, char *err)
{
    static const struct sms_fields probe = {0};
    for (const char *p = strstr(tmpl, "{{"); p; p = strstr(p, "{{")) {
        const char *e = strstr(p + 2, "}}");
        if (!e) {
            snprintf(err, ECRM_ERRMAX, "body_template: unclosed \"{{\"");
            return -1;
        }
        if (!field(&probe, p + 2, (size_t)(e - p - 2))) {
            snprintf(err, ECRM_ERRMAX,
                     "body_template: unknown placeholder \"%.*s\" (known: "
                     "to, text, sender, key, campaign)",
                     (int)(e - p - 2 > 40 ? 40 : e - p - 2), p + 2);
            return -1;
        }
        p = e + 2;
    }
    return 0;
}

/* Length of the valid UTF-8 sequence at S (1-4), 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4;
    else
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

/* V as the inside of a JSON string (RFC 8259 section 7). */
static void json_escape(struct strbuf *b, const char *v)
{
    const unsigned char *p = (const unsigned char *)v;
    while (*p) {
        size_t n = utf8_len(p);
        char esc[8];
        if (*p == '"' || *p == '\\') {
            strbuf_putc(b, '\\');
            strbuf_putc(b, (char)*p);
        } else if (*p == '\n') {
            strbuf_puts(b, "\\n");
        } else if (*p == '\r') {
            strbuf_puts(b, "\\r");
        } else if (*p == '\t') {
            strbuf_puts(b, "\\t");
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            strbuf_puts(b, esc);
        } else if (n == 0) {
            strbuf_puts(b, "\xef\xbf\xbd"); /* JSON must be valid UTF-8 */
            n = 1;
        } else {
            strbuf_add(b, (const char *)p, n);
        }
        p += n ? n : 1;
    }
}

/* V application/x-www-form-urlencoded (WHATWG URL, "urlencoded
 * serializer"): space becomes '+', all but ALPHA DIGIT *-._ is %XX. */
static void form_escape(struct strbuf *b, const char *v)
{
    static const char xd[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("*-._", *p)) {
            strbuf_putc(b, (char)*p);
        } else if (*p == ' ') {
            strbuf_putc(b, '+');
        } else {
            char q[3] = {'%', xd[*p >> 4], xd[*p & 15]};
            strbuf_add(b, q, 3);
        }
    }
}

void sms_body_build(struct strbuf *b, enum sms_body_kind kind, const char *tmpl,
                    const struct sms_fields *f)
{
    void (*esc)(struct strbuf *, const char *) =
        kind == SMS_BODY_JSON ? json_escape : form_escape;
    strbuf_add(b, "", 0);
    if (!tmpl) {
        /* the default body is a template too: one escaping path */
        if (kind == SMS_BODY_JSON)
            tmpl = f->sender && *f->sender
                       ? "{\"to\":\"{{to}}\",\"text\":\"{{text}}\","
                         "\"from\":\"{{sender}}\"}"
                       : "{\"to\":\"{{to}}\",\"text\":\"{{text}}\"}";
        else
            tmpl = f->sender && *f->sender
                       ? "to={{to}}&text={{text}}&from={{sender}}"
                       : "to={{to}}&text={{text}}";
    }
    const char *p = tmpl;
    for (const char *o; (o = strstr(p, "{{"));) {
        const char *e = strstr(o + 2, "}}");
        const char *v = e ? field(f, o + 2, (size_t)(e - o - 2)) : NULL;
        if (!v) { /* not a placeholder (checked at init): literal text */
            strbuf_add(b, p, (size_t)(o + 2 - p));
            p = o + 2;
            continue;
        }
        strbuf_add(b, p, (size_t)(o - p));
        esc(b, v);
        p = e + 2;
    }
    strbuf_puts(b, p);
}

/* ------------------------------------------------------------------------
 * Answers: just enough JSON to find one top-level member.
 */
struct cur {
    const char *p, *e;
};

static void skip_ws(struct cur *c)
{
    while (c->p < c->e && strchr(" \t\r\n", *c->p) && *c->p)
        c->p++;
}

/* Skip a string at c->p (at its opening quote), copying its content into
 * OUT (OUTLEN bytes, NUL-terminated, escapes decoded, anything but
 * printable ASCII as '?') when OUT is not NULL. 0 or -1. */
static int json_string(struct cur *c, char *out, size_t outlen)
{
    size_t o = 0;
    if (c->p >= c->e || *c->p != '"')
        return -1;
    for (c->p++; c->p < c->e; c->p++) {
        char ch = *c->p;
        if (ch == '"') {
            c->p++;
            if (out)
                out[o] = '\0';
            return 0;
        }
        if (ch == '\\') {
            if (++c->p >= c->e)
                return -1;
            ch = *c->p;
            if (ch == 'u') {
                if (c->e - c->p < 5)
                    return -1;
                c->p += 4; /* its value does not matter for ids */
                ch = '?';
            } else if (!strchr("\"\\/", ch)) {
                ch = '?';
            }
        }
        if (out && o + 1 < outlen)
            out[o++] = (unsigned char)ch >= 0x20 && ch != 0x7f ? ch : '?';
    }
    return -1;
}

/* Skip any JSON value at c->p. 0 or -1. */
static int json_skip(struct cur *c, int depth)
{
    skip_ws(c);
    if (c->p >= c->e || depth > 64)
        return -1;
    if (*c->p == '"')
        return json_string(c, NULL, 0);
    if (*c->p == '{' || *c->p == '[') {
        char close = *c->p == '{' ? '}' : ']';
        c->p++;
        for (;;) {
            skip_ws(c);
            if (c->p < c->e && *c->p == close) {
                c->p++;
                return 0;
            }
            if (close == '}') {
                if (json_string(c, NULL, 0))
                    return -1;
                skip_ws(c);
                if (c->p >= c->e || *c->p++ != ':')
                    return -1;
            }
            if (json_skip(c, depth + 1))
                return -1;
            skip_ws(c);
            if (c->p < c->e && *c->p == ',')
                c->p++;
            else if (!(c->p < c->e && *c->p == close))
                return -1;
        }
    }
    /* number, true, false, null */
    const char *s = c->p;
    while (c->p < c->e && strchr("+-.0123456789eEtruefalsn", *c->p) && *c->p)
        c->p++;
    return c->p > s ? 0 : -1;
}

int sms_response_id(const char *body, size_t len, char *out, size_t outlen)
{
    struct cur c = {body, body + len};
    char key[32], id[2][128] = {"", ""};
    skip_ws(&c);
    if (c.p >= c.e || *c.p++ != '{')
        return -1;
    for (;;) {
        skip_ws(&c);
        if (c.p < c.e && *c.p == '}')
            break;
        if (json_string(&c, key, sizeof(key)))
            return -1;
        skip_ws(&c);
        if (c.p >= c.e || *c.p++ != ':')
            return -1;
        skip_ws(&c);
        int which = strcmp(key, "id") == 0           ? 0
                    : strcmp(key, "message_id") == 0 ? 1
                                                     : -1;
        const char *v = c.p;
        if (which >= 0 && c.p < c.e && *c.p == '"') {
            if (json_string(&c, id[which], sizeof(id[which])))
                return -1;
        } else {
            if (json_skip(&c, 0))
                return -1;
            if (which >= 0 && c.p > v && strchr("-0123456789", *v)) {
                size_t n = (size_t)(c.p - v);
                if (n >= sizeof(id[which]))
                    n = sizeof(id[which]) - 1;
                memcpy(id[which], v, n);
                id[which][n] = '\0';
            }
        }
        skip_ws(&c);
        if (c.p < c.e && *c.p == ',')
            c.p++;
        else if (!(c.p < c.e && *c.p == '}'))
            return -1;
    }
    const char *found = *id[0] ? id[0] : *id[1] ? id[1] : NULL;
    if (!found)
        return -1;
    snprintf(out, outlen, "%s", found);
    return 0;
}
