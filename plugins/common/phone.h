/*
 * Phone numbers to E.164, shared by the sources that read them (customers,
 * sms_replies) so that a reply's sender matches the number the customer
 * registered with, byte for byte. Compiled into each plugin module.
 */
#ifndef ECRM_PLUGINS_PHONE_H
#define ECRM_PLUGINS_PHONE_H

/* Bytes of an E.164 number with its '+' and NUL. */
#define PHONE_E164_MAX 17

/* Normalise phone S to E.164 into OUT (PHONE_E164_MAX bytes): blanks,
 * '-', '.', '(' and ')' are dropped; "+CC..." and "00CC..." are
 * international; a national number starting with one 0 takes the calling
 * code CC ("+44"; "" refuses national numbers). 8 to 15 digits, the first
 * not 0. Returns 0, or -1 when S is no such number. */
int phone_e164(const char *s, const char *cc, char *out);

#endif /* ECRM_PLUGINS_PHONE_H */
