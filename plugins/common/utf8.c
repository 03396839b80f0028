/* UTF-8 helpers. See utf8.h. */
#include "utf8.h"

#include <string.h>

void utf8_trim(char *buf)
{
    size_t n = strlen(buf), s = n;
    while (s > 0 && ((unsigned char)buf[s - 1] & 0xC0) == 0x80)
        s--;
    if (s == 0)
        return;
    unsigned char lead = (unsigned char)buf[s - 1];
    size_t want = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (lead >= 0x80 && n - (s - 1) < want)
        buf[s - 1] = '\0';
}
