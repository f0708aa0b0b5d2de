/*
 * secretbox — webhook secrets sealed for the topics.
 *
 * A webhook secret must never sit in plain text on a topic that any consumer
 * can read. ingest seals it with AES-256-GCM under FERRY_SECRET_KEY (32 bytes,
 * given as 64 hex digits or base64); deliver opens it in memory only, just
 * before signing. The sealed form is text, safe in JSON:
 *
 *     "v1." base64url(nonce[12] | ciphertext | tag[16])
 *
 * The batch id is bound as associated data, so a sealed secret copied into
 * another batch's record does not open.
 */
#ifndef FERRY_SECRETBOX_H
#define FERRY_SECRETBOX_H

#include <stddef.h>

#define SECRETBOX_KEY_LEN 32

struct secretbox {
    unsigned char key[SECRETBOX_KEY_LEN];
};

/* Parses the key from 64 hex digits or base64 (standard or url-safe) of 32
 * bytes. 0 ok, -1 with errstr. */
int secretbox_init(struct secretbox *sb, const char *key_text, char *errstr, size_t errstr_size);

/* A cfg check for FERRY_SECRET_KEY. */
int secretbox_check_key(const char *value, char *errstr, size_t errstr_size);

/* Seals plain[0..len) bound to `aad` (the batch id). Returns a malloc'd
 * string the caller frees, or NULL. */
char *secretbox_seal(const struct secretbox *sb, const void *plain, size_t len, const char *aad);

/* Opens a sealed string. Returns a malloc'd NUL-terminated plaintext (length
 * in *len if non-NULL) that the caller must wipe (OPENSSL_cleanse) and free,
 * or NULL when the text is malformed, the key is wrong or it was tampered
 * with. */
char *secretbox_open(const struct secretbox *sb, const char *sealed, const char *aad, size_t *len);

/* Standard base64 with padding. Returns malloc'd text or NULL. */
char *secretbox_b64(const void *data, size_t len);

/* Decodes standard or url-safe base64, padding optional, into out (cap
 * bytes). Returns the decoded length, or -1. */
long secretbox_unb64(const char *text, unsigned char *out, size_t cap);

#endif
