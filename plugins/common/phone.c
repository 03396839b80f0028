/* Phone numbers to E.164. See phone.h. */
#include "phone.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int phone_e164(const char *s, const char *cc, char *out)
{
    char d[64];
    size_t n = 0;
    int plus = 0;
    for (; *s; s++) {
        if (strchr(" -.()\t", *s))
            continue;
        if (*s == '+' && n == 0 && !plus) {
            plus = 1;
            continue;
        }
        if (!isdigit((unsigned char)*s) || n >= sizeof d - 1)
            return -1;
        d[n++] = *s;
    }
    d[n] = '\0';
    const char *digits = d;
    char prefix[8] = "";
    if (!plus) {
        if (d[0] == '0' && d[1] == '0')
            digits = d + 2; /* international call prefix */
        else if (d[0] == '0' && *cc) {
            snprintf(prefix, sizeof prefix, "%s", cc + 1); /* trunk 0 */
            digits = d + 1;
        } else
            return -1;
    }
    size_t total = strlen(prefix) + strlen(digits);
    if (total < 8 || total > 15 || (prefix[0] ? prefix[0] : digits[0]) == '0')
        return -1;
    out[0] = '+';
    memcpy(out + 1, prefix, strlen(prefix));
    memcpy(out + 1 + strlen(prefix), digits, strlen(digits) + 1);
    return 0;
}
