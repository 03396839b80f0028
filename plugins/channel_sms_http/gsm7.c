/* SMS encoding and segment counting. See gsm7.h. */
#include "gsm7.h"

#include <stdint.h>

/* Single-part capacity and concatenated-part capacity. */
#define GSM7_SINGLE 160
#define GSM7_PART 153
#define UCS2_SINGLE 70
#define UCS2_PART 67

/* The non-ASCII characters of the GSM 03.38 basic table. */
static const uint16_t gsm_basic_other[] = {
    0x00a3, 0x00a5, 0x00e8, 0x00e9, 0x00f9, 0x00ec, 0x00f2, 0x00c7,
    0x00d8, 0x00f8, 0x00c5, 0x00e5, 0x0394, 0x03a6, 0x0393, 0x039b,
    0x03a9, 0x03a0, 0x03a8, 0x03a3, 0x0398, 0x039e, 0x00c6, 0x00e6,
    0x00df, 0x00c9, 0x00a4, 0x00a1, 0x00c4, 0x00d6, 0x00d1, 0x00dc,
    0x00a7, 0x00bf, 0x00e4, 0x00f6, 0x00f1, 0x00fc, 0x00e0};

/* Septets code point CP takes in GSM-7: 1 (basic table), 2 (extension
 * table), or 0 when GSM-7 cannot represent it. */
static int gsm_septets(uint32_t cp)
{
    if (cp == '\n' || cp == '\r')
        return 1;
    if (cp >= 0x20 && cp < 0x7f) {
        switch (cp) {
        case '^':
        case '{':
        case '}':
        case '\\':
        case '[':
        case '~':
        case ']':
        case '|':
            return 2;
        case '`': /* the only printable ASCII character GSM lacks */
            return 0;
        default:
            return 1;
        }
    }
    if (cp == 0x0c || cp == 0x20ac) /* form feed, euro sign */
        return 2;
    for (size_t i = 0; i < sizeof(gsm_basic_other) / sizeof(*gsm_basic_other);
         i++)
        if (gsm_basic_other[i] == cp)
            return 1;
    return 0;
}

/* Decode the UTF-8 character at *P, advancing past it. Invalid sequences
 * (overlong, surrogates, beyond U+10FFFF, truncated) yield U+FFFD for one
 * byte. */
static uint32_t next_cp(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t cp;
    size_t n;
    if (s[0] < 0x80) {
        *p = s + 1;
        return s[0];
    } else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        cp = s[0] & 0x1f;
        n = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        cp = s[0] & 0x0f;
        n = 3;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        cp = s[0] & 0x07;
        n = 4;
    } else {
        goto bad;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            goto bad;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        goto bad;
    *p = s + n;
    return cp;
bad:
    *p = s + 1;
    return 0xfffd;
}

/* Units code point CP takes in ENC (0 when GSM-7 cannot represent it). */
static int units(uint32_t cp, enum ecrm_sms_enc enc)
{
    if (enc == ECRM_SMS_GSM7)
        return gsm_septets(cp);
    return cp >= 0x10000 ? 2 : 1;
}

enum ecrm_sms_enc ecrm_sms_encoding(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    while (*p)
        if (gsm_septets(next_cp(&p)) == 0)
            return ECRM_SMS_UCS2;
    return ECRM_SMS_GSM7;
}

size_t ecrm_sms_length(const char *text, enum ecrm_sms_enc enc)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t n = 0;
    while (*p)
        n += (size_t)units(next_cp(&p), enc);
    return n;
}

size_t ecrm_sms_segments(const char *text, enum ecrm_sms_enc *encoding)
{
    enum ecrm_sms_enc enc = ecrm_sms_encoding(text);
    size_t single = enc == ECRM_SMS_GSM7 ? GSM7_SINGLE : UCS2_SINGLE;
    size_t part = enc == ECRM_SMS_GSM7 ? GSM7_PART : UCS2_PART;
    if (encoding)
        *encoding = enc;
    if (ecrm_sms_length(text, enc) <= single)
        return 1;
    /* fill parts character by character: a 2-unit character that does not
     * fit in what is left of a part starts the next one */
    const unsigned char *p = (const unsigned char *)text;
    size_t parts = 1, used = 0;
    while (*p) {
        size_t u = (size_t)units(next_cp(&p), enc);
        if (used + u > part) {
            parts++;
            used = 0;
        }
        used += u;
    }
    return parts;
}
