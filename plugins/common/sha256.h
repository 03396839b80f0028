/*
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), compiled into the
 * plugins that need them: plugins link nothing of the core, and a 100-line
 * hash is cheaper than a dependency on a crypto library.
 */
#ifndef ECRM_PLUGINS_SHA256_H
#define ECRM_PLUGINS_SHA256_H

#include <stddef.h>

#define ECRM_SHA256_LEN 32

/* Hash LEN bytes at DATA into OUT (32 bytes, caller-owned). */
void ecrm_sha256(const void *data, size_t len,
                 unsigned char out[ECRM_SHA256_LEN]);

/* HMAC-SHA256 of MSG (MSGLEN bytes) under KEY (KEYLEN bytes, any length)
 * into OUT (32 bytes, caller-owned). */
void ecrm_hmac_sha256(const void *key, size_t keylen, const void *msg,
                      size_t msglen, unsigned char out[ECRM_SHA256_LEN]);

#endif /* ECRM_PLUGINS_SHA256_H */
