#include "secretbox.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"

#define NONCE_LEN 12
#define TAG_LEN   16

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

long secretbox_unb64(const char *text, unsigned char *out, size_t cap)
{
    size_t len = strlen(text), o = 0;
    unsigned acc = 0;
    int bits = 0;
    while (len > 0 && text[len - 1] == '=')
        len--;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(text[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* Canonical encodings only: the bits left over after the last whole
     * byte must be zero. Otherwise two texts decode to the same bytes, and a
     * changed last character of a sealed secret would go unnoticed. */
    if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)o;
}

char *secretbox_b64(const void *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

int secretbox_init(struct secretbox *sb, const char *key_text, char *errstr, size_t errstr_size)
{
    size_t len = strlen(key_text);
    if (len == 2 * SECRETBOX_KEY_LEN) {
        int ok = 1;
        for (size_t i = 0; i < SECRETBOX_KEY_LEN && ok; i++) {
            int hi = hexval(key_text[2 * i]), lo = hexval(key_text[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            if (ok)
                sb->key[i] = (unsigned char)(hi << 4 | lo);
        }
        if (ok)
            return 0;
    }
    unsigned char buf[SECRETBOX_KEY_LEN + 3];
    if (secretbox_unb64(key_text, buf, sizeof(buf)) == SECRETBOX_KEY_LEN) {
        memcpy(sb->key, buf, SECRETBOX_KEY_LEN);
        OPENSSL_cleanse(buf, sizeof(buf));
        return 0;
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    snprintf(errstr, errstr_size,
             "must be 32 bytes as 64 hex digits or base64 "
             "(make one with: openssl rand -hex 32)");
    return -1;
}

int secretbox_check_key(const char *value, char *errstr, size_t errstr_size)
{
    struct secretbox sb;
    int rc = secretbox_init(&sb, value, errstr, errstr_size);
    OPENSSL_cleanse(&sb, sizeof(sb));
    return rc;
}

/* base64url without padding: the sealed form goes in JSON and in URLs. */
static void b64url(const unsigned char *in, size_t len, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = tbl[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = tbl[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

char *secretbox_seal(const struct secretbox *sb, const void *plain, size_t len, const char *aad)
{
    unsigned char *raw = malloc(NONCE_LEN + len + TAG_LEN);
    char *out = NULL;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n;

    if (!raw || !ctx || ids_random(raw, NONCE_LEN))
        goto out;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, sb->key, raw) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_EncryptUpdate(ctx, raw + NONCE_LEN, &n, plain, (int)len) != 1 ||
        EVP_EncryptFinal_ex(ctx, raw + NONCE_LEN + n, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + len) != 1)
        goto out;
    size_t raw_len = NONCE_LEN + len + TAG_LEN;
    out = malloc(3 + (raw_len * 4 + 2) / 3 + 1);
    if (out) {
        memcpy(out, "v1.", 3);
        b64url(raw, raw_len, out + 3);
    }
out:
    EVP_CIPHER_CTX_free(ctx);
    if (raw)
        OPENSSL_cleanse(raw, NONCE_LEN + len + TAG_LEN);
    free(raw);
    return out;
}

char *secretbox_open(const struct secretbox *sb, const char *sealed, const char *aad, size_t *len)
{
    size_t cap = strlen(sealed);
    unsigned char *raw = NULL;
    char *plain = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    int n, ok = 0;

    if (strncmp(sealed, "v1.", 3) != 0 || !(raw = malloc(cap)))
        goto out;
    long raw_len = secretbox_unb64(sealed + 3, raw, cap);
    if (raw_len < NONCE_LEN + TAG_LEN)
        goto out;
    size_t plen = (size_t)raw_len - NONCE_LEN - TAG_LEN;
    if (!(plain = malloc(plen + 1)) || !(ctx = EVP_CIPHER_CTX_new()))
        goto out;
    ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, sb->key, raw) == 1 &&
         EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
         EVP_DecryptUpdate(ctx, (unsigned char *)plain, &n, raw + NONCE_LEN, (int)plen) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + plen) == 1 &&
         EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + n, &n) == 1;
    if (ok) {
        plain[plen] = '\0';
        if (len)
            *len = plen;
    }
out:
    EVP_CIPHER_CTX_free(ctx);
    free(raw);
    if (!ok && plain) {
        OPENSSL_cleanse(plain, strlen(sealed) > 0 ? 1 : 0);
        free(plain);
        plain = NULL;
    }
    return plain;
}
