/*
 * whsig — webhook signatures (named apart from shutdown's signal handling).
 *
 * Two schemes, both HMAC-SHA256:
 *  - X-Ferry-Signature: "sha256=" + hex(HMAC(key = the secret's bytes, raw body)),
 *    the scheme the seeds' Python/Node/PHP snippets verify as written.
 *  - Standard Webhooks: webhook-signature "v1," + base64(HMAC(key, id "." ts "." body)),
 *    key = base64-decoded part after "whsec_" for such secrets, else the raw bytes.
 */
#ifndef FERRY_WHSIG_H
#define FERRY_WHSIG_H

#include <stddef.h>

#define WHSIG_HEX_LEN (7 + 64 + 1) /* "sha256=" + 64 hex + NUL */
#define WHSIG_V1_LEN  (3 + 44 + 1) /* "v1," + 44 base64 + NUL */

/* "sha256=<hex>" of body under the secret's bytes. */
void whsig_ferry(const char *secret, const void *body, size_t body_len, char out[WHSIG_HEX_LEN]);

/* "v1,<base64>" of "<id>.<timestamp>.<body>" under the Standard Webhooks key
 * of secret. 0 ok, -1 when a whsec_ secret's base64 is malformed. */
int whsig_standard(const char *secret, const char *id, long long timestamp, const void *body,
                   size_t body_len, char out[WHSIG_V1_LEN]);

/* A new random secret: "whsec_" + base64 of 32 random bytes (the
 * Standard Webhooks form). malloc'd (wipe it, then free), or NULL when the
 * kernel had no randomness or memory ran out. */
char *whsig_secret_new(void);

/* The secret "whsec_" + base64 of bytes[0..n) (key material derived
 * elsewhere). malloc'd (wipe it, then free), or NULL. */
char *whsig_secret_of(const unsigned char *bytes, size_t n);

/* HMAC-SHA256 of data[0..len) under key[0..key_len): for values ferry
 * derives from a key of its own. 0 ok, -1 when OpenSSL fails. */
int whsig_hmac(const void *key, size_t key_len, const void *data, size_t len, unsigned char md[32]);

/* Constant-time comparison of two NUL-terminated signatures. 1 equal. */
int whsig_equal(const char *a, const char *b);

/* ---------------------------------------------------------------- verifying
 *
 * What a receiver does with a request it got. A signature header may hold
 * several space-separated values (while a rotated-out secret is still valid,
 * ferry sends one per secret); a header verifies when any of its values
 * matches. Every comparison is constant-time. */

/* 1 when X-Ferry-Signature `header` has a value equal to
 * whsig_ferry(secret, body). */
int whsig_verify_ferry(const char *secret, const char *header, const void *body, size_t body_len);

/* 1 when webhook-signature `header` has a "v1,..." value equal to
 * whsig_standard(secret, id, timestamp, body); `timestamp` is the
 * webhook-timestamp header as sent (decimal unix seconds, else 0). The
 * age of the timestamp is the caller's to judge. */
int whsig_verify_standard(const char *secret, const char *id, const char *timestamp,
                          const char *header, const void *body, size_t body_len);

#endif
