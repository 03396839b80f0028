/*
 * UTF-8 helpers for plugins that compose text from stored strings (item
 * titles in reasons). Compiled into each module that uses them.
 */
#ifndef ECRM_PLUGINS_UTF8_H
#define ECRM_PLUGINS_UTF8_H

/* Cut BUF (NUL-terminated) back to whole UTF-8 sequences: the store keeps
 * reasons as text, and a title cut by a byte limit may end mid-character.
 * A sequence that is complete is never touched. */
void utf8_trim(char *buf);

#endif /* ECRM_PLUGINS_UTF8_H */
