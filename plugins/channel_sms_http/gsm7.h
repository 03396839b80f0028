/*
 * SMS length arithmetic: which encoding a text needs and how many segments
 * (billable messages) it takes. Pure functions without any dependency, so
 * that the planner can compute costs at planning time (and --dry-run show
 * them) with exactly the numbers the sms_http channel enforces.
 *
 * GSM-7 is the GSM 03.38 default alphabet; the characters of its extension
 * table (form feed ^ { } \ [ ~ ] | and the euro sign) take two septets (an
 * escape plus the character). A text with any other character is sent as
 * UCS-2, where each character takes one UTF-16 code unit, or two for those
 * outside the Basic Multilingual Plane (surrogate pairs, e.g. emoji).
 *
 * One segment holds 160 septets or 70 UCS-2 units. Longer texts are split
 * into concatenated parts of 153 septets or 67 units each (the rest is
 * taken by the user data header); like handsets and gateways do, an escape
 * pair or a surrogate pair is never split across two parts, so a part may
 * hold one unit less.
 */
#ifndef ECRM_SMS_GSM7_H
#define ECRM_SMS_GSM7_H

#include <stddef.h>

enum ecrm_sms_enc {
    ECRM_SMS_GSM7 = 7, /* GSM 03.38 7-bit default alphabet */
    ECRM_SMS_UCS2 = 16 /* UCS-2 / UTF-16 */
};

/* The encoding TEXT (UTF-8, NUL-terminated, not NULL) needs: ECRM_SMS_GSM7
 * when every character is in the GSM 03.38 basic or extension table,
 * ECRM_SMS_UCS2 otherwise (also for invalid UTF-8, which a gateway would
 * replace by U+FFFD). */
enum ecrm_sms_enc ecrm_sms_encoding(const char *text);

/* Length of TEXT in ENC units: septets for ECRM_SMS_GSM7 (extension
 * characters count 2; the text must be GSM-7, see ecrm_sms_encoding()),
 * UTF-16 code units for ECRM_SMS_UCS2. */
size_t ecrm_sms_length(const char *text, enum ecrm_sms_enc enc);

/* Number of segments TEXT takes in the encoding it needs, which is stored
 * in *ENCODING when ENCODING is not NULL. An empty text still takes one
 * segment. */
size_t ecrm_sms_segments(const char *text, enum ecrm_sms_enc *encoding);

#endif /* ECRM_SMS_GSM7_H */
