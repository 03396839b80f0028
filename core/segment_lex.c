/* Tokens of the segment expression language. See segment.h. */
#include "segment.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void ecrm_seg_lex_done(struct ecrm_seg_lexer *l)
{
    free(l->tok.str);
    l->tok.str = NULL;
}

void ecrm_seg_lex_init(struct ecrm_seg_lexer *l, const char *text)
{
    memset(l, 0, sizeof *l);
    l->text = text;
    ecrm_seg_lex_next(l);
}

static void error(struct ecrm_seg_lexer *l, size_t start, const char *why)
{
    l->tok.type = ECRM_T_ERROR;
    l->tok.offset = (int)start;
    l->tok.len = 1;
    l->tok.error = why;
}

/* A quoted string starting at the quote L->pos; escapes \" \' \\ \n \t. */
static void string(struct ecrm_seg_lexer *l)
{
    const char *t = l->text;
    size_t start = l->pos;
    char q = t[l->pos++];
    size_t cap = 16, n = 0;
    char *out = malloc(cap);
    if (!out)
        abort();
    for (;;) {
        char c = t[l->pos];
        if (c == '\0') {
            free(out);
            error(l, start, "unterminated string");
            return;
        }
        l->pos++;
        if (c == q)
            break;
        if (c == '\\') {
            char e = t[l->pos];
            switch (e) {
            case '"':
            case '\'':
            case '\\':
                c = e;
                break;
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            default:
                free(out);
                error(l, l->pos - 1,
                      "unknown escape in string (use \\\", "
                      "\\', \\\\, \\n or \\t)");
                return;
            }
            l->pos++;
        }
        if (n + 2 > cap) {
            cap *= 2;
            char *p = realloc(out, cap);
            if (!p)
                abort();
            out = p;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    l->tok.type = ECRM_T_STR;
    l->tok.str = out;
    l->tok.len = (int)(l->pos - start);
}

/* Decimal digits with an optional fraction (no sign, exponent or hex:
 * strtod alone would also take "inf" and "0x1p3"). */
static void number(struct ecrm_seg_lexer *l)
{
    const char *t = l->text + l->pos;
    char buf[64];
    size_t n = 0;
    while (isdigit((unsigned char)t[n]))
        n++;
    if (t[n] == '.' && isdigit((unsigned char)t[n + 1])) {
        n++;
        while (isdigit((unsigned char)t[n]))
            n++;
    }
    if (n >= sizeof buf) {
        error(l, l->pos, "number too long");
        return;
    }
    memcpy(buf, t, n);
    buf[n] = '\0';
    l->tok.type = ECRM_T_NUM;
    l->tok.num = strtod(buf, NULL);
    l->tok.len = (int)n;
    l->pos += n;
}

void ecrm_seg_lex_next(struct ecrm_seg_lexer *l)
{
    const char *t = l->text;
    ecrm_seg_lex_done(l);
    memset(&l->tok, 0, sizeof l->tok);
    while (t[l->pos] && isspace((unsigned char)t[l->pos]))
        l->pos++;
    l->tok.offset = (int)l->pos;
    l->tok.len = 1;
    char c = t[l->pos];
    if (!c) {
        l->tok.type = ECRM_T_END;
        l->tok.len = 0;
        return;
    }
    if (c == '"' || c == '\'') {
        string(l);
        return;
    }
    if (isdigit((unsigned char)c)) {
        number(l);
        return;
    }
    if (isalpha((unsigned char)c) || c == '_') {
        size_t s = l->pos;
        while (isalnum((unsigned char)t[l->pos]) || t[l->pos] == '_' ||
               t[l->pos] == '-')
            l->pos++;
        /* '-' belongs to names (attribute keys like "shoe-size") only
         * when a letter follows, so "now-30 days" still subtracts. */
        while (l->pos > s && t[l->pos - 1] == '-')
            l->pos--;
        for (size_t i = s; i < l->pos; i++)
            if (t[i] == '-' && !isalpha((unsigned char)t[i + 1])) {
                l->pos = i;
                break;
            }
        size_t n = l->pos - s;
        l->tok.type = ECRM_T_IDENT;
        l->tok.str = malloc(n + 1);
        if (!l->tok.str)
            abort();
        memcpy(l->tok.str, t + s, n);
        l->tok.str[n] = '\0';
        l->tok.len = (int)n;
        return;
    }
    l->pos++;
    switch (c) {
    case '(':
        l->tok.type = ECRM_T_LP;
        return;
    case ')':
        l->tok.type = ECRM_T_RP;
        return;
    case ',':
        l->tok.type = ECRM_T_COMMA;
        return;
    case '.':
        l->tok.type = ECRM_T_DOT;
        return;
    case '+':
        l->tok.type = ECRM_T_PLUS;
        return;
    case '-':
        l->tok.type = ECRM_T_MINUS;
        return;
    case '~':
        l->tok.type = ECRM_T_TILDE;
        return;
    case '=':
        l->tok.type = ECRM_T_CMP;
        l->tok.op = ECRM_EQ;
        if (t[l->pos] == '=') { /* "==" is forgiven */
            l->pos++;
            l->tok.len = 2;
        }
        return;
    case '!':
        if (t[l->pos] == '=') {
            l->pos++;
            l->tok.type = ECRM_T_CMP;
            l->tok.op = ECRM_NE;
            l->tok.len = 2;
            return;
        }
        break;
    case '<':
        l->tok.type = ECRM_T_CMP;
        l->tok.op = ECRM_LT;
        if (t[l->pos] == '=' || t[l->pos] == '>') {
            l->tok.op = t[l->pos] == '=' ? ECRM_LE : ECRM_NE;
            l->pos++;
            l->tok.len = 2;
        }
        return;
    case '>':
        l->tok.type = ECRM_T_CMP;
        l->tok.op = ECRM_GT;
        if (t[l->pos] == '=') {
            l->tok.op = ECRM_GE;
            l->pos++;
            l->tok.len = 2;
        }
        return;
    default:
        break;
    }
    error(l, l->pos - 1, "unexpected character");
}
