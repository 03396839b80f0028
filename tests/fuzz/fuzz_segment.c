/*
 * libFuzzer target: the segment expression lexer and parser
 * (core/segment_lex.c, core/segment_parse.c) through
 * ecrm_segment_parse(): parse only, no store and no evaluation.
 */
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Known issue (doc/RELIABILITY.md): glibc's regcomp() takes exponential
 * time and memory on stacked repetitions ("a+++++++++++++++++++++" takes
 * ~5 s with 20 '+', x4.5 per two more; "a{2}{2}{2}..." likewise), and
 * segment_parse.c hands a `~` pattern to regcomp() unchecked. Until the
 * parser bounds patterns, the parser under test is compiled here with
 * regcomp() replaced by a guard that refuses patterns whose repetition
 * factor exceeds 4096 (as REG_ESPACE, an error path the parser handles),
 * so that fuzzing keeps finding other bugs instead of this one. Set
 * ECRM_FUZZ_REAL_REGCOMP=1 to fuzz with the unguarded regcomp().
 */
static int fuzz_regcomp(regex_t *re, const char *pat, int flags)
{
    static int real = -1;
    if (real < 0)
        real = getenv("ECRM_FUZZ_REAL_REGCOMP") != NULL;
    double factor = 1;
    for (const char *c = pat; !real && *c; c++) {
        if (*c == '\\' && c[1]) {
            c++;
        } else if (*c == '+' || *c == '*' || *c == '?') {
            factor *= 2;
        } else if (*c == '{') {
            long hi = 0, n = 0;
            for (c++; *c && *c != '}'; c++)
                if (*c >= '0' && *c <= '9')
                    n = n < 100000 ? n * 10 + (*c - '0') : n;
                else {
                    hi = n > hi ? n : hi;
                    n = 0;
                }
            hi = n > hi ? n : hi;
            factor *= (double)hi + 1;
            if (!*c)
                break;
        }
    }
    if (!real && factor > 4096)
        return REG_ESPACE;
    return regcomp(re, pat, flags);
}
#define regcomp fuzz_regcomp
#include "segment_parse.c"
#undef regcomp

#include "conf.h"
#include "segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    struct ecrm_diag d = {0};
    struct ecrm_segment *s = ecrm_segment_parse("fuzz", text, NULL, &d);
    if (s) {
        if (!s->expr)
            abort();
        ecrm_segment_free(s);
    } else if (!d.n) {
        abort(); /* a refused expression always says why */
    }
    ecrm_diag_clear(&d);

    /* The lexer on its own, to the end or the first error. */
    struct ecrm_seg_lexer l;
    ecrm_seg_lex_init(&l, text);
    for (size_t n = 0; l.tok.type != ECRM_T_END && l.tok.type != ECRM_T_ERROR;
         n++) {
        if (n > size + 1)
            abort(); /* no progress */
        ecrm_seg_lex_next(&l);
    }
    ecrm_seg_lex_done(&l);
    free(text);
    return 0;
}
