/*
 * UTF-8 helpers for the plugins: strict decoding (the CSV and JSON lines
 * readers validate every value with it, the sms_replies source folds
 * replies), encoding, and trimming text cut by a byte limit (item titles
 * in reasons). Compiled into each module that uses them.
 */
#ifndef ECRM_PLUGINS_UTF8_H
#define ECRM_PLUGINS_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of the longest UTF-8 sequence. */
#define UTF8_SEQ_MAX 4

/* Decode the UTF-8 sequence at S (AVAIL >= 1 bytes readable) into *CP
 * (CP may be NULL: validation only). Returns its length in bytes, or 0
 * when it is not valid UTF-8: a stray continuation byte, an overlong
 * form, a surrogate, a code point past U+10FFFF or a sequence cut short
 * by AVAIL. */
size_t utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp);

/* Encode code point CP (at most U+10FFFF) into OUT (UTF8_SEQ_MAX bytes,
 * not NUL-terminated). Returns the bytes written (1 to 4). */
size_t utf8_encode(uint32_t cp, unsigned char *out);

/* Cut BUF (NUL-terminated) back to whole UTF-8 sequences: the store keeps
 * reasons as text, and a title cut by a byte limit may end mid-character.
 * A sequence that is complete is never touched. */
void utf8_trim(char *buf);

#endif /* ECRM_PLUGINS_UTF8_H */
