/*
 * RFC 5322 / MIME composition of an ecrm_message, shared by the e-mail
 * channels (maildir, smtp) so that every channel writes byte-for-byte the
 * same message for the same input.
 *
 * Safety: header values never carry raw control characters. Display names
 * and subjects are cleaned (C0 controls and DEL become spaces, invalid UTF-8
 * becomes U+FFFD) and non-ASCII ones are written as RFC 2047 encoded-words;
 * addresses with anything but printable ASCII are refused. Whatever a
 * customer's name or a subject contains, it cannot add a header line.
 *
 * Bodies are UTF-8, quoted-printable, with CRLF line ends; with HTML the
 * message is multipart/alternative (text first, then HTML).
 *
 * ---------------------------------------------------------------------
 * Unsubscribe token (List-Unsubscribe, RFC 2369 / RFC 8058), format 1:
 *
 *   PAYLOAD = "1:" CUSTOMER_ID ":" EXPIRES ":" CAMPAIGN
 *       CUSTOMER_ID  the store's customer id, decimal, optional '-' sign
 *       EXPIRES      unix seconds UTC after which the token is refused,
 *                    decimal; "0" means it never expires
 *       CAMPAIGN     the campaign name, raw UTF-8 bytes up to the end of
 *                    PAYLOAD (it may itself contain ':'); may be empty
 *   SIG     = HMAC-SHA256(key = SECRET, message = PAYLOAD bytes)
 *   TOKEN   = B64URL(PAYLOAD) "." B64URL(SIG)
 *       B64URL is base64 with the URL alphabet of RFC 4648 section 5
 *       ("-" and "_") and no "=" padding; SECRET is the raw bytes of the
 *       secret (the value of the unsubscribe_secret_env variable).
 *
 * The URL in the header is the configured base URL followed by "?t=TOKEN"
 * (or "&t=TOKEN" when the base URL already has a query); the optional
 * second entry is <mailto:ADDR?subject=unsubscribe%20TOKEN>. One-click
 * receivers POST "List-Unsubscribe=One-Click" to the URL (RFC 8058). A verifier
 * decodes both parts, recomputes SIG over the decoded PAYLOAD, compares in
 * constant time, then checks the leading "1:" and EXPIRES against its
 * clock (see mime_unsub_token_verify()).
 */
#ifndef ECRM_PLUGINS_MIME_H
#define ECRM_PLUGINS_MIME_H

#include <ecrm/plugin.h>

#include "strbuf.h"

#include <stddef.h>
#include <stdint.h>

/* Longest address accepted (RFC 5321 path limit minus the brackets). */
#define MIME_ADDR_MAX 254
/* Longest campaign name an unsubscribe token carries. */
#define MIME_CAMPAIGN_MAX 200

/* Whether ADDR (not NULL) is an address that can go into a header and an
 * SMTP envelope: local@domain, printable ASCII without blanks or specials,
 * a domain of letters, digits, hyphens and dots, at most MIME_ADDR_MAX. */
int mime_addr_ok(const char *addr);

/* The prepare() operation of the e-mail channels (see <ecrm/plugin.h>):
 * ECRM_OK when MSG->to satisfies mime_addr_ok(), else ECRM_FAIL with
 * OUT->reason "invalid_address" and err set. An e-mail is one unit. */
int mime_prepare(void *ctx, const struct ecrm_message *msg,
                 struct ecrm_prepared *out, char *err);

/* Whether DOMAIN can be the right side of a Message-ID (1 or 0). */
int mime_domain_ok(const char *domain);

/* Parse option OPT's value S, "Name <addr>" or "addr" (a quoted Name loses
 * its quotes), into a new, complete, encoded header line
 * "HNAME: value\r\n" in *LINE; the address's domain into *DOMAIN and the
 * bare address into *ADDR when those are not NULL. Everything returned is
 * malloc'ed and owned by the caller. Returns 0, or -1 with ERR
 * (ECRM_ERRMAX bytes) naming OPT; nothing is returned then. */
int mime_parse_sender(const char *opt, const char *hname, const char *s,
                      char **line, char **domain, char **addr, char *err);

/* 32 lower-case hex digits (128 bits) of SHA-256(KEY) into HEX[33]: the
 * deterministic part of Message-IDs and maildir names. */
void mime_key_hash(const char *key, char hex[33]);

/* What of a message comes from the channel rather than the message. All
 * borrowed; they must outlive mime_compose(). */
struct mime_envelope {
    const char *from_line;  /* "From: ...\r\n" (mime_parse_sender) */
    const char *reply_line; /* "Reply-To: ...\r\n", or NULL */
    const char *domain;     /* right side of the Message-ID */
    const char *extra;      /* more complete header lines, each ending in
                               CRLF, already safe (e.g. from
                               mime_list_unsubscribe()), or NULL */
    int64_t date;           /* Date: header, unix seconds */
};

/* Append the complete message for MSG to B: Date, From, Reply-To, To,
 * Subject, Message-ID "<HASH@domain>", EXTRA, MIME headers and body.
 * MSG->to must satisfy mime_addr_ok(). HASH is mime_key_hash(msg->key).
 * Returns 0, or -1 when out of memory (B is then to be freed). */
int mime_compose(struct strbuf *b, const struct mime_envelope *env,
                 const struct ecrm_message *msg, const char *hash);

/* Make an unsubscribe token (format above) for CUSTOMER_ID and CAMPAIGN
 * (NULL = "") expiring at EXPIRES (0 = never), signed with SECRET
 * (SECRETLEN bytes). Returns a new string (caller frees) or NULL when out
 * of memory or CAMPAIGN is longer than MIME_CAMPAIGN_MAX bytes. */
char *mime_unsub_token(const void *secret, size_t secretlen,
                       int64_t customer_id, const char *campaign,
                       int64_t expires);

/* Verify TOKEN against SECRET at time NOW. Returns 0 and fills
 * *CUSTOMER_ID, *EXPIRES and *CAMPAIGN (a new string, caller frees; any
 * out pointer may be NULL) when the signature matches and the token has
 * not expired; -1 otherwise. */
int mime_unsub_token_verify(const void *secret, size_t secretlen,
                            const char *token, int64_t now,
                            int64_t *customer_id, int64_t *expires,
                            char **campaign);

/* Whether URL can be an unsubscribe base URL: http:// or https://, then
 * printable ASCII without blanks, '<', '>', ',', '"' or '#', at most 400
 * bytes. */
int mime_unsub_url_ok(const char *url);

/* Append the List-Unsubscribe header for base URL (mime_unsub_url_ok())
 * and TOKEN, with a second mailto: entry when MAILTO (an address) is not
 * NULL, and the RFC 8058 header "List-Unsubscribe-Post:
 * List-Unsubscribe=One-Click". */
void mime_list_unsubscribe(struct strbuf *b, const char *url, const char *token,
                           const char *mailto);

#endif /* ECRM_PLUGINS_MIME_H */
