/*
 * libFuzzer target: SMS encoding and length arithmetic
 * (plugins/channel_sms_http/gsm7.c) on arbitrary bytes.
 */
#include "gsm7.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0'; /* the API takes C strings: stop at the first NUL */
    size_t bytes = strlen(text);

    enum ecrm_sms_enc enc = ecrm_sms_encoding(text);
    if (enc != ECRM_SMS_GSM7 && enc != ECRM_SMS_UCS2)
        abort();
    size_t len = ecrm_sms_length(text, enc);
    enum ecrm_sms_enc enc2;
    size_t segs = ecrm_sms_segments(text, &enc2);
    if (enc2 != enc || segs < 1)
        abort();
    /* Never more units than bytes (GSM-7 escapes take two septets for
     * two or three bytes; UTF-16 never needs more units than UTF-8 bytes,
     * and invalid bytes count one unit each at most). */
    if (len > 2 * bytes)
        abort();
    /* A segment holds at least 66 units (67 minus a split pair). */
    if (len > 0 && segs > len / 66 + 1)
        abort();
    (void)ecrm_sms_length(text, ECRM_SMS_UCS2);
    free(text);
    return 0;
}
