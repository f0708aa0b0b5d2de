#include "keys.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int keys_valid_tenant(const char *t, size_t len)
{
    if (len == 0 || len >= KEYS_TENANT_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)t[i]) && t[i] != '-' && t[i] != '_' && t[i] != '.')
            return 0;
    return 1;
}

static void trim(const char **s, size_t *len)
{
    while (*len && isspace((unsigned char)**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

int keys_add_list(struct keys *ks, const char *text, const char *sep, char *errstr,
                  size_t errstr_size)
{
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, sep);
        const char *item = p;
        p += len;
        if (*p)
            p++;
        trim(&item, &len);
        if (len == 0 || item[0] == '#')
            continue;
        const char *colon = memchr(item, ':', len);
        if (!colon) {
            snprintf(errstr, errstr_size, "expected key:tenant, got an entry without ':'");
            return -1;
        }
        const char *key = item, *tenant = colon + 1;
        size_t key_len = (size_t)(colon - item), tenant_len = len - key_len - 1;
        trim(&key, &key_len);
        trim(&tenant, &tenant_len);
        if (key_len < 8 || key_len >= KEYS_KEY_MAX) {
            snprintf(errstr, errstr_size, "a key must be 8 to %d bytes", KEYS_KEY_MAX - 1);
            return -1;
        }
        if (!keys_valid_tenant(tenant, tenant_len)) {
            snprintf(errstr, errstr_size,
                     "a tenant must be 1 to %d letters, digits, '-', '_' or '.'",
                     KEYS_TENANT_MAX - 1);
            return -1;
        }
        if (ks->n == KEYS_MAX) {
            snprintf(errstr, errstr_size, "more than %d keys", KEYS_MAX);
            return -1;
        }
        memcpy(ks->k[ks->n].key, key, key_len);
        ks->k[ks->n].key[key_len] = '\0';
        ks->k[ks->n].key_len = key_len;
        memcpy(ks->k[ks->n].tenant, tenant, tenant_len);
        ks->k[ks->n].tenant[tenant_len] = '\0';
        ks->n++;
    }
    return 0;
}

int keys_load(struct keys *ks, const char *env_list, const char *file, char *errstr,
              size_t errstr_size)
{
    char why[200];
    memset(ks, 0, sizeof(*ks));
    if (env_list && keys_add_list(ks, env_list, ",", why, sizeof(why))) {
        snprintf(errstr, errstr_size, "FERRY_API_KEYS: %s", why);
        return -1;
    }
    if (!file || !*file)
        return 0;
    FILE *fp = fopen(file, "r");
    if (!fp) {
        snprintf(errstr, errstr_size, "FERRY_API_KEYS_FILE=%s: cannot open", file);
        return -1;
    }
    char *text = NULL;
    size_t cap = 0;
    long n = (long)getdelim(&text, &cap, '\0', fp);
    fclose(fp);
    int rc = 0;
    if (n > 0 && keys_add_list(ks, text, "\n", why, sizeof(why))) {
        snprintf(errstr, errstr_size, "FERRY_API_KEYS_FILE=%s: %s", file, why);
        rc = -1;
    }
    if (text) {
        OPENSSL_cleanse(text, cap);
        free(text);
    }
    return rc;
}

const char *keys_known_tenant(const struct keys *ks, const char *tenant)
{
    for (size_t i = 0; i < ks->n; i++)
        if (strcmp(ks->k[i].tenant, tenant) == 0)
            return ks->k[i].tenant;
    return NULL;
}

const char *keys_tenant(const struct keys *ks, const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    const char *given = authorization + 7;
    while (*given == ' ')
        given++;
    size_t len = strlen(given);
    if (len == 0 || len >= KEYS_KEY_MAX)
        return NULL;
    const char *found = NULL;
    /* Every key is compared (no early exit), each in constant time. */
    for (size_t i = 0; i < ks->n; i++) {
        int same = ks->k[i].key_len == len && CRYPTO_memcmp(ks->k[i].key, given, len) == 0;
        if (same && !found)
            found = ks->k[i].tenant;
    }
    return found;
}
