/*
 * keys — API keys and the tenants they belong to.
 *
 * Keys come from FERRY_API_KEYS ("key:tenant,key:tenant") and the file named
 * by FERRY_API_KEYS_FILE (one "key:tenant" per line; blank lines and lines
 * starting with '#' are skipped). There is no default key. Lookups compare
 * every key in constant time, so response timing does not reveal how much of
 * a key was right.
 */
#ifndef INGEST_KEYS_H
#define INGEST_KEYS_H

#include <stddef.h>

#define KEYS_MAX        1024
#define KEYS_KEY_MAX    128
#define KEYS_TENANT_MAX 64

struct keys {
    size_t n;
    struct {
        char key[KEYS_KEY_MAX];
        size_t key_len;
        char tenant[KEYS_TENANT_MAX];
    } k[KEYS_MAX];
};

/* Adds the pairs of a "key:tenant,key:tenant" list (`sep` separates pairs:
 * "," for the variable, "\n" for the file). 0 ok, -1 with errstr. */
int keys_add_list(struct keys *ks, const char *text, const char *sep, char *errstr,
                  size_t errstr_size);

/* Loads env and file (either may be NULL). 0 ok, -1 with errstr. */
int keys_load(struct keys *ks, const char *env_list, const char *file, char *errstr,
              size_t errstr_size);

/* 1 when t[0..len) is a tenant name: 1-63 letters, digits, '-', '_', '.'
 * (never a newline or a ':', so it can be part of a key or a list). */
int keys_valid_tenant(const char *t, size_t len);

/* `tenant` as the key list spells it when some key belongs to it, or NULL
 * (a submit produced to Kafka names its tenant instead of a key). */
const char *keys_known_tenant(const struct keys *ks, const char *tenant);

/* The tenant of the Authorization header's Bearer key, or NULL. */
const char *keys_tenant(const struct keys *ks, const char *authorization);

#endif
