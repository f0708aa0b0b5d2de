#include "idem.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jx.h"
#include "schema.h"
#include "log.h"
#include "strmap.h"
#include "whsig.h"

#define DAY_MS         (24LL * 3600 * 1000)
#define SWEEP_EVERY_MS 60000

struct idem {
    pthread_mutex_t lock;
    pthread_cond_t released; /* a key left the in-flight set */
    struct strmap keys;      /* "<tenant>/<key>" -> struct idem_entry (owned) */
    struct strmap busy;      /* "<tenant>/<key>" in flight here (value unused) */
    int64_t next_sweep_ms;
};

struct idem *idem_new(void)
{
    struct idem *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->released, NULL);
    d->keys = (struct strmap)STRMAP_INIT;
    d->busy = (struct strmap)STRMAP_INIT;
    return d;
}

void idem_free(struct idem *d)
{
    if (!d)
        return;
    strmap_release(&d->keys, free);
    strmap_release(&d->busy, NULL);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->released);
    free(d);
}

int idem_key_valid(const char *key)
{
    size_t n = strlen(key);
    if (n < 1 || n > IDEM_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (key[i] < 0x20 || key[i] > 0x7e)
            return 0;
    return 1;
}

void idem_hash(const char *route, const char *body, size_t len, unsigned char out[IDEM_HASH])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(c, route, strlen(route) + 1) != 1 || EVP_DigestUpdate(c, body, len) != 1 ||
        EVP_DigestFinal_ex(c, out, NULL) != 1)
        abort(); /* as buf.h: out of memory ends the stage */
    EVP_MD_CTX_free(c);
}

void idem_topic_key(const char *tenant, const char *key, char out[IDEM_TOPIC_KEY_MAX])
{
    snprintf(out, IDEM_TOPIC_KEY_MAX, "%.64s/%s", tenant, key);
}

/* Under the lock: forgets keys past their 24 h, at most once a minute. */
static void sweep(struct idem *d, int64_t now)
{
    const char *k;
    void *v;
    if (now < d->next_sweep_ms)
        return;
    d->next_sweep_ms = now + SWEEP_EVERY_MS;
    for (size_t pos = 0; strmap_next(&d->keys, &pos, &k, &v);)
        if (now - ((struct idem_entry *)v)->created_ms >= IDEM_TTL_MS)
            free(strmap_remove(&d->keys, k));
}

/* Under the lock: the live entry of a key, or NULL. */
static const struct idem_entry *live(struct idem *d, const char *tk, int64_t now)
{
    const struct idem_entry *e = strmap_get(&d->keys, tk);
    return e && now - e->created_ms < IDEM_TTL_MS ? e : NULL;
}

/* Under the lock: stores a copy of e for key tk. */
static void remember(struct idem *d, const char *tk, const struct idem_entry *e)
{
    struct idem_entry *c = malloc(sizeof(*c));
    if (!c)
        return; /* the key is then not remembered here; its id still derives the same */
    *c = *e;
    free(strmap_put(&d->keys, tk, c, NULL));
    sweep(d, clk_now_ms());
}

enum idem_verdict idem_begin(struct idem *d, const char *tenant, const char *key,
                             const unsigned char hash[IDEM_HASH], int timeout_ms,
                             struct idem_entry *hit)
{
    char tk[IDEM_TOPIC_KEY_MAX];
    struct timespec until;
    enum idem_verdict v = IDEM_BUSY;
    idem_topic_key(tenant, key, tk);
    clk_deadline(timeout_ms, &until);
    pthread_mutex_lock(&d->lock);
    for (;;) {
        const struct idem_entry *e = live(d, tk, clk_now_ms());
        if (e) {
            *hit = *e;
            v = CRYPTO_memcmp(e->hash, hash, IDEM_HASH) == 0 ? IDEM_REPLAY : IDEM_REUSED;
            break;
        }
        if (!strmap_has(&d->busy, tk)) {
            strmap_put(&d->busy, tk, NULL, NULL);
            v = IDEM_NEW;
            break;
        }
        if (pthread_cond_timedwait(&d->released, &d->lock, &until))
            break;
    }
    pthread_mutex_unlock(&d->lock);
    return v;
}

void idem_end(struct idem *d, const char *tenant, const char *key, const struct idem_entry *made)
{
    char tk[IDEM_TOPIC_KEY_MAX];
    idem_topic_key(tenant, key, tk);
    pthread_mutex_lock(&d->lock);
    strmap_remove(&d->busy, tk);
    if (made)
        remember(d, tk, made);
    pthread_cond_broadcast(&d->released);
    pthread_mutex_unlock(&d->lock);
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
    if (!s || strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return 0;
}

void idem_follow(void *arg, int topic, const rd_kafka_message_t *m)
{
    struct idem *d = arg;
    struct idem_entry e = {0};
    char tk[IDEM_TOPIC_KEY_MAX], why[128];
    (void)topic;
    if (!m->payload || !m->len)
        return; /* a tombstone: nothing here writes them, and the key ages out anyway */
    json_t *doc = jx_parse(m->payload, m->len, 4, why, sizeof(why));
    const char *tenant = jx_str(doc, "tenant", NULL), *key = jx_str(doc, "key", NULL),
               *id = jx_str(doc, "batch_id", NULL), *at = jx_str(doc, "created_at", NULL);
    if (!tenant || !key || !id || !ids_valid("bat", id) || !at ||
        schema_check(jx_int(doc, SCHEMA_VERSION_KEY, 1), SCHEMA_IDEMPOTENCY, why, sizeof(why)) ||
        clk_parse_iso8601(at, &e.created_ms) ||
        unhex(jx_str(doc, "request_sha256", NULL), e.hash, IDEM_HASH) || !idem_key_valid(key)) {
        LOG_WARN("bad_idempotency_record", "partition=%d offset=%lld", m->partition,
                 (long long)m->offset);
        json_decref(doc);
        return;
    }
    snprintf(e.batch_id, sizeof(e.batch_id), "%s", id);
    e.total = jx_int(doc, "total", 0);
    e.invalid = jx_int(doc, "invalid", 0);
    e.secret_generated = jx_bool(doc, "secret_generated", 0);
    idem_topic_key(tenant, key, tk);
    /* Records past their day are not worth the memory (read back after a
     * restart, the topic keeps them two days). */
    if (clk_now_ms() - e.created_ms < IDEM_TTL_MS) {
        pthread_mutex_lock(&d->lock);
        remember(d, tk, &e);
        pthread_mutex_unlock(&d->lock);
    }
    json_decref(doc);
}

int idem_batch_id(const char *tenant, const char *key, const unsigned char hash[IDEM_HASH],
                  int64_t now_ms, char out[IDS_BATCH_LEN])
{
    unsigned char seed[64 + 1 + IDEM_KEY_MAX + 1 + IDEM_HASH];
    size_t tl = strlen(tenant), kl = strlen(key);
    if (tl > 64 || kl > IDEM_KEY_MAX)
        return -1;
    memcpy(seed, tenant, tl);
    seed[tl] = '\n';
    memcpy(seed + tl + 1, key, kl);
    seed[tl + 1 + kl] = '\n';
    memcpy(seed + tl + kl + 2, hash, IDEM_HASH);
    return ids_batch_derived(now_ms - now_ms % DAY_MS, seed, tl + kl + 2 + IDEM_HASH, out);
}

char *idem_secret(const struct secretbox *sb, const char *batch_id)
{
    static const char label[] = "ferry idempotent webhook secret\n";
    unsigned char msg[sizeof(label) + IDS_BATCH_LEN], mac[32];
    size_t n = strlen(batch_id);
    if (n >= IDS_BATCH_LEN)
        return NULL;
    memcpy(msg, label, sizeof(label) - 1);
    memcpy(msg + sizeof(label) - 1, batch_id, n);
    /* The sealing key, under a label of its own: the secret is as hard to
     * guess as a random one for anyone without FERRY_SECRET_KEY. */
    if (whsig_hmac(sb->key, SECRETBOX_KEY_LEN, msg, sizeof(label) - 1 + n, mac))
        return NULL;
    char *out = whsig_secret_of(mac, sizeof(mac));
    OPENSSL_cleanse(mac, sizeof(mac));
    return out;
}

char *idem_record_json(const char *tenant, const char *key, const struct idem_entry *e, size_t *len)
{
    char hex[2 * IDEM_HASH + 1], at[CLK_ISO_LEN];
    for (int i = 0; i < IDEM_HASH; i++)
        snprintf(hex + 2 * i, 3, "%02x", e->hash[i]);
    clk_iso8601(e->created_ms, at);
    json_t *doc =
        json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:b}", SCHEMA_VERSION_KEY, SCHEMA_IDEMPOTENCY,
                  "tenant", tenant, "key", key, "batch_id", e->batch_id, "request_sha256", hex,
                  "created_at", at, "total", (json_int_t)e->total, "invalid",
                  (json_int_t)e->invalid, "secret_generated", e->secret_generated);
    char *out = doc ? jx_dump(doc, len) : NULL;
    json_decref(doc);
    return out;
}

size_t idem_count(struct idem *d)
{
    pthread_mutex_lock(&d->lock);
    size_t n = strmap_size(&d->keys);
    pthread_mutex_unlock(&d->lock);
    return n;
}
