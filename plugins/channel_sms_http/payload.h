/*
 * What the sms_http channel puts on and takes off the wire, without any
 * I/O: the request body (a default JSON or form body, or a user template
 * with {{placeholders}} escaped for the body's syntax) and the provider id
 * found in a gateway's JSON answer.
 */
#ifndef ECRM_SMS_PAYLOAD_H
#define ECRM_SMS_PAYLOAD_H

#include "../common/strbuf.h"

#include <stddef.h>

enum sms_body_kind {
    SMS_BODY_JSON = 0, /* application/json; values become JSON strings */
    SMS_BODY_FORM = 1  /* application/x-www-form-urlencoded */
};

/* The values a body may carry; NULL members count as "". */
struct sms_fields {
    const char *to;       /* E.164 number */
    const char *text;     /* complete text, opt-out line included */
    const char *sender;   /* sender id or number, may be NULL */
    const char *key;      /* ledger key, stable across retries */
    const char *campaign; /* campaign name */
};

/* Check that every "{{name}}" in TEMPLATE is one of to, text, sender, key,
 * campaign and that every "{{" is closed. Returns 0, or -1 with ERR
 * (ECRM_ERRMAX bytes) saying which placeholder is wrong. */
int sms_template_check(const char *tmpl, char *err);

/* Append the request body to B. TEMPLATE (checked with
 * sms_template_check(), or NULL for the default body {"to","text","from"}
 * resp. to=&text=&from=, "from" only when there is a sender) is copied
 * as is except for placeholders, which are replaced by their value escaped
 * for KIND: the inside of a JSON string (quotes, backslashes and controls
 * escaped, invalid UTF-8 replaced by U+FFFD) or form-urlencoded. Check
 * B->oom afterwards. */
void sms_body_build(struct strbuf *b, enum sms_body_kind kind, const char *tmpl,
                    const struct sms_fields *f);

/* Find the provider's message id in the JSON answer BODY (LEN bytes, not
 * necessarily NUL-terminated): the string or number value of the top-level
 * member "id", else "message_id". Writes it into OUT (OUTLEN bytes,
 * printable ASCII only, truncated) and returns 0, or returns -1 when the
 * body is no JSON object or has neither member. */
int sms_response_id(const char *body, size_t len, char *out, size_t outlen);

#endif /* ECRM_SMS_PAYLOAD_H */
