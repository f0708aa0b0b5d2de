#include "changes.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"

void changes_hasher_init(struct changes_hasher *h)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        abort();
    h->ctx = ctx;
}

void changes_hasher_add(struct changes_hasher *h, const char *name, const void *data, size_t len)
{
    unsigned char n[8];
    uint64_t v = len;
    for (int i = 0; i < 8; i++)
        n[i] = (unsigned char)(v >> (8 * i));
    EVP_DigestUpdate(h->ctx, name, strlen(name) + 1);
    EVP_DigestUpdate(h->ctx, n, sizeof(n));
    if (len)
        EVP_DigestUpdate(h->ctx, data, len);
}

static void hex8(const unsigned char *d, char out[CHANGES_HASH_LEN])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[16] = '\0';
}

void changes_hasher_final(struct changes_hasher *h, char out[CHANGES_HASH_LEN])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->ctx, d, &n);
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
    hex8(d, out);
}

/* Header lines by name, case-folded; lines of one name by their text. */
static int by_name(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    for (;; x++, y++) {
        int cx = *x == ':' || !*x ? 0 : tolower((unsigned char)*x);
        int cy = *y == ':' || !*y ? 0 : tolower((unsigned char)*y);
        if (cx != cy)
            return cx - cy;
        if (!cx)
            return strcmp(x, y);
    }
}

void changes_input_key(const char *url, const char *const *header_lines, size_t n,
                       char out[CHANGES_HASH_LEN])
{
    struct changes_hasher h;
    changes_hasher_init(&h);
    changes_hasher_add(&h, "url", url, strlen(url));
    if (n) {
        const char **sorted = malloc(n * sizeof(*sorted));
        if (!sorted)
            abort();
        memcpy(sorted, header_lines, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), by_name);
        for (size_t i = 0; i < n; i++) {
            /* The name case-folded (HTTP names are case-insensitive), the
             * value as given. */
            char name[128];
            const char *colon = strchr(sorted[i], ':');
            size_t len = colon ? (size_t)(colon - sorted[i]) : strlen(sorted[i]);
            size_t k = 0;
            for (; k < len && k < sizeof(name) - 1; k++)
                name[k] = (char)tolower((unsigned char)sorted[i][k]);
            name[k] = '\0';
            const char *value = colon ? colon + 1 : "";
            while (*value == ' ')
                value++;
            changes_hasher_add(&h, "header", name, k);
            changes_hasher_add(&h, "value", value, strlen(value));
        }
        free(sorted);
    }
    changes_hasher_final(&h, out);
}

void changes_key(const char *schedule_id, const char *input_key, char out[CHANGES_KEY_MAX])
{
    snprintf(out, CHANGES_KEY_MAX, "%s/%s", schedule_id, input_key);
}

int changes_hash_valid(const char *s, size_t len)
{
    if (len != 16)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int changes_key_split(const char *key, size_t len, size_t *id_len, const char **input_key)
{
    char id[32];
    const char *slash = memchr(key, '/', len);
    if (!slash || (size_t)(slash - key) >= sizeof(id))
        return -1;
    memcpy(id, key, (size_t)(slash - key));
    id[slash - key] = '\0';
    if (!ids_valid("sch", id) || !changes_hash_valid(slash + 1, len - (size_t)(slash + 1 - key)))
        return -1;
    *id_len = (size_t)(slash - key);
    *input_key = slash + 1;
    return 0;
}

enum change changes_verdict(const char *previous, const char *hash)
{
    if (!previous || !*previous)
        return CHANGE_NEW;
    return strcmp(previous, hash) == 0 ? CHANGE_SAME : CHANGE_CHANGED;
}

uint64_t changes_hash_u64(const char *hex)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++)
        v = (v << 4) | (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
    return v;
}

void changes_hash_hex(uint64_t v, char out[CHANGES_HASH_LEN])
{
    unsigned char d[8];
    for (int i = 0; i < 8; i++)
        d[i] = (unsigned char)(v >> (56 - 8 * i));
    hex8(d, out);
}
