#include "whsig.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "ids.h"
#include "secretbox.h"

static EVP_MAC *hmac;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* Fetching an algorithm walks OpenSSL's provider tables; do it once. */
static EVP_MAC *hmac_mac(void)
{
    pthread_once(&hmac_once, hmac_fetch);
    return hmac;
}

/* HMAC-SHA256 of the concatenation of parts[0..n) under key. 0 ok. */
static int hmac_sha256(const void *key, size_t key_len, const struct iovec *parts, size_t n,
                       unsigned char md[32])
{
    /* EVP_MAC streams the parts without copying a large body. */
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_mac());
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t md_len = 0;
    int ok = ctx && EVP_MAC_init(ctx, key, key_len, params) == 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_MAC_update(ctx, parts[i].iov_base, parts[i].iov_len) == 1;
    ok = ok && EVP_MAC_final(ctx, md, &md_len, 32) == 1;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : -1;
}

char *whsig_secret_new(void)
{
    unsigned char raw[32];
    if (ids_random(raw, sizeof(raw)))
        return NULL;
    char *out = whsig_secret_of(raw, sizeof(raw));
    OPENSSL_cleanse(raw, sizeof(raw));
    return out;
}

char *whsig_secret_of(const unsigned char *bytes, size_t len)
{
    char *b64 = secretbox_b64(bytes, len);
    if (!b64)
        return NULL;
    size_t n = strlen(b64) + 7;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "whsec_%s", b64);
    OPENSSL_cleanse(b64, strlen(b64));
    free(b64);
    return out;
}

int whsig_hmac(const void *key, size_t key_len, const void *data, size_t len, unsigned char md[32])
{
    struct iovec part = {(void *)data, len};
    return hmac_sha256(key, key_len, &part, 1, md);
}

void whsig_ferry(const char *secret, const void *body, size_t body_len, char out[WHSIG_HEX_LEN])
{
    unsigned char md[32];
    struct iovec part = {(void *)body, body_len};
    memset(md, 0, sizeof(md));
    hmac_sha256(secret, strlen(secret), &part, 1, md);
    memcpy(out, "sha256=", 7);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

int whsig_standard(const char *secret, const char *id, long long timestamp, const void *body,
                   size_t body_len, char out[WHSIG_V1_LEN])
{
    unsigned char key[256], md[32];
    size_t key_len;
    char ts[32];

    if (strncmp(secret, "whsec_", 6) == 0) {
        long n = secretbox_unb64(secret + 6, key, sizeof(key));
        if (n <= 0)
            return -1;
        key_len = (size_t)n;
    } else {
        key_len = strlen(secret);
        if (key_len > sizeof(key))
            return -1;
        memcpy(key, secret, key_len);
    }
    int ts_len = snprintf(ts, sizeof(ts), "%lld", timestamp);

    struct iovec parts[] = {
        {(void *)id, strlen(id)}, {(void *)".", 1},         {ts, (size_t)ts_len},
        {(void *)".", 1},         {(void *)body, body_len},
    };
    int rc = hmac_sha256(key, key_len, parts, sizeof(parts) / sizeof(parts[0]), md);
    OPENSSL_cleanse(key, sizeof(key));
    if (rc)
        return -1;
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, md, 32);
    return 0;
}

int whsig_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

/* 1 when a space-separated value of header equals expected. Every value
 * is compared, so the time taken does not tell which one matched. */
static int any_value(const char *header, const char *expected)
{
    int found = 0;
    size_t n = strlen(expected);
    for (const char *p = header; *p;) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n)
            found |= CRYPTO_memcmp(p, expected, n) == 0;
        p += len;
    }
    return found;
}

int whsig_verify_ferry(const char *secret, const char *header, const void *body, size_t body_len)
{
    char expected[WHSIG_HEX_LEN];
    whsig_ferry(secret, body, body_len, expected);
    return any_value(header, expected);
}

int whsig_verify_standard(const char *secret, const char *id, const char *timestamp,
                          const char *header, const void *body, size_t body_len)
{
    char expected[WHSIG_V1_LEN], *end;
    long long ts = strtoll(timestamp, &end, 10);
    /* The signed text has the timestamp as sent; one that does not read
     * back the same (leading zeros, a sign, junk) cannot have been signed
     * by ferry, which writes plain decimal. */
    char again[32];
    snprintf(again, sizeof(again), "%lld", ts);
    if (!*timestamp || *end || strcmp(again, timestamp) != 0)
        return 0;
    if (whsig_standard(secret, id, ts, body, body_len, expected))
        return 0;
    return any_value(header, expected);
}
