/*
 * tenant — a tenant's webhook settings: the record on the compacted topic
 * `tenants` (keyed by tenant), and the table its readers keep of it.
 *
 * The record is the whole state of one tenant, so the latest one per key is
 * all a reader needs (the topic is compacted):
 *
 *     {"tenant": "acme", "updated_at": "...",
 *      "webhook": {"url": "https://...", "events": ["batch.completed"]} | null,
 *      "secret": {"enc": "v1...", "created_at": "..."} | null,
 *      "previous_secret": {"enc": "v1...", "valid_until": "..."} | null}
 *
 * Secrets are sealed (secretbox.h) under FERRY_SECRET_KEY with
 * "tenant:<name>" as associated data (tenant_secret_aad): a sealed secret
 * copied into another tenant's record, or into a batch's (whose associated
 * data is its batch id, which has no ':'), does not open.
 *
 * ingest writes the records (its tenants module) and reads them back for
 * GET /v1/webhook and for submits; deliver reads them to sign each attempt
 * of a batch that is signed with its tenant's secret, so a rotation reaches
 * tasks already in flight or parked in a retry tier. Both keep a
 * tenant_table, fed by a follower (follower.h) through tenant_table_follow.
 */
#ifndef FERRY_TENANT_H
#define FERRY_TENANT_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#define TENANT_NAME_MAX   64  /* as API keys allow */
#define TENANT_SEALED_MAX 512 /* a sealed tenant secret is about 110 bytes */
#define TENANT_AAD_MAX    (TENANT_NAME_MAX + 8)

struct tenant_settings {
    char *url;      /* the default webhook; NULL: none */
    json_t *events; /* its events (an array); NULL when url is NULL */
    char *secret_enc;
    int64_t secret_created_ms;
    char *previous_enc;        /* the rotated-out secret; NULL: none */
    int64_t previous_until_ms; /* when the previous secret stops signing */
    int64_t updated_ms;
};

/* The associated data sealing `tenant`'s secrets: "tenant:<tenant>". */
void tenant_secret_aad(const char *tenant, char out[TENANT_AAD_MAX]);

/* Reads a record's value into s (zeroed first). 0, or -1 with errstr when
 * it is not a settings record. s needs tenant_settings_release() either
 * way. */
int tenant_settings_parse(struct tenant_settings *s, const char *value, size_t len, char *errstr,
                          size_t errstr_size);

/* The record of `tenant` with settings s; malloc'd, length in *len. */
char *tenant_settings_json(const char *tenant, const struct tenant_settings *s, size_t *len);

/* A deep copy into dst (zeroed first). 0, or -1 when out of memory. */
int tenant_settings_copy(struct tenant_settings *dst, const struct tenant_settings *src);

void tenant_settings_release(struct tenant_settings *s);

/* ---- the table: tenant -> settings, safe for concurrent readers and one
 * writer (the follower's thread). */

struct tenant_table;

struct tenant_table *tenant_table_new(void);
void tenant_table_free(struct tenant_table *t);

/* Applies a record of `tenant` (value NULL or empty: a tombstone, the
 * tenant is forgotten). 0, or -1 when the value is not a settings record
 * (the table is unchanged). */
int tenant_table_apply(struct tenant_table *t, const char *tenant, const char *value, size_t len);

/* A follower_fn (follower.h) applying the records of the tenants topic;
 * `table` is the tenant_table. */
void tenant_table_follow(void *table, int topic, const rd_kafka_message_t *msg);

/* A copy of `tenant`'s settings into out. 0 found, -1 none (out zeroed). */
int tenant_table_get(struct tenant_table *t, const char *tenant, struct tenant_settings *out);

/* The sealed secrets that sign for `tenant` at now_ms: the current one, and
 * the previous one while it is still valid. Returns how many were copied
 * (0: the tenant has no secret; 1: cur; 2: cur and prev). Costs a lookup
 * under a read lock and two short copies: it runs for every attempt. */
int tenant_table_secrets(struct tenant_table *t, const char *tenant, int64_t now_ms,
                         char cur[TENANT_SEALED_MAX], char prev[TENANT_SEALED_MAX]);

size_t tenant_table_count(struct tenant_table *t);

#endif
