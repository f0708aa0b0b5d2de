#include "xrules.h"

#include <libxml/HTMLtree.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "log.h"
#include "strmap.h"
#include "xarena.h"

/* How long a request whose spec is unknown waits for the batches follower
 * to read to the end of the topic (it normally takes a poll or two). */
#define XRULES_WAIT_MS 10000
/* Specs found missing after a sync, remembered so the rest of such a batch
 * fails at once; the set is emptied when it reaches this size. */
#define XRULES_MISSING_MAX 4096
#define BATCH_MAX_DEPTH    64

/* A user spec, by hash. Guarded by xr->lock, except `compiled`, which is
 * immutable once set and read by workers through the uses holding it. */
struct xrules_spec {
    char hash[XRULES_HASH_LEN];
    char *text; /* its JSON */
    size_t len;
    struct xspec *compiled; /* on first use */
    char *error;            /* why it did not compile here */
    int refs;               /* uses holding it: never dropped while > 0 */
    uint64_t used;          /* xr->clock at its last use or arrival */
};

struct xrules {
    struct profiles *profiles;
    pthread_mutex_t lock;
    struct strmap specs;   /* hash -> struct xrules_spec */
    struct strmap missing; /* hashes a sync did not find (values unused) */
    size_t bytes;          /* text of every kept spec */
    uint64_t clock;
    int (*sync)(void *arg, int timeout_ms);
    void *sync_arg;
};

static void spec_free(void *p)
{
    struct xrules_spec *s = p;
    if (!s)
        return;
    free(s->text);
    xspec_free(s->compiled);
    free(s->error);
    free(s);
}

struct xrules *xrules_new(const char *profiles_dir, char *errstr, size_t errstr_size)
{
    struct profiles *ps = profiles_load(profiles_dir, errstr, errstr_size);
    if (!ps)
        return NULL;
    struct xrules *xr = calloc(1, sizeof(*xr));
    if (!xr)
        abort();
    xr->profiles = ps;
    pthread_mutex_init(&xr->lock, NULL);
    xr->specs = (struct strmap)STRMAP_INIT;
    xr->missing = (struct strmap)STRMAP_INIT;
    return xr;
}

void xrules_free(struct xrules *xr)
{
    if (!xr)
        return;
    strmap_release(&xr->specs, spec_free);
    strmap_release(&xr->missing, NULL);
    pthread_mutex_destroy(&xr->lock);
    profiles_free(xr->profiles);
    free(xr);
}

const struct profiles *xrules_profiles(const struct xrules *xr)
{
    return xr->profiles;
}

void xrules_set_sync(struct xrules *xr, int (*sync)(void *arg, int timeout_ms), void *arg)
{
    xr->sync = sync;
    xr->sync_arg = arg;
}

int xrules_spec_hash(const json_t *spec, char out[XRULES_HASH_LEN])
{
    size_t len;
    char *text = jx_dump(spec, &len);
    if (!text)
        return -1;
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)text, len, md);
    free(text);
    for (int i = 0; i < (XRULES_HASH_LEN - 1) / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* Drops the least recently used specs that no use holds until the kept
 * text fits (lock held). A scan per drop: drops are rare, the table small. */
static void evict(struct xrules *xr)
{
    while (xr->bytes > XRULES_SPECS_MAX_BYTES) {
        const char *key, *victim = NULL;
        void *v;
        uint64_t oldest = UINT64_MAX;
        for (size_t pos = 0; strmap_next(&xr->specs, &pos, &key, &v);) {
            struct xrules_spec *s = v;
            if (s->refs == 0 && s->used < oldest)
                oldest = s->used, victim = key;
        }
        if (!victim)
            return;
        struct xrules_spec *s = strmap_remove(&xr->specs, victim);
        LOG_WARN("extract_spec_dropped", "hash=%s bytes=%zu kept=%zu", s->hash, s->len, xr->bytes);
        xr->bytes -= s->len;
        spec_free(s);
    }
}

void xrules_note_batch(struct xrules *xr, const char *value, size_t len)
{
    if (!memmem(value, len, "\"extract_hash\"", 14))
        return;
    char why[200];
    json_t *rec = jx_parse(value, len, BATCH_MAX_DEPTH, why, sizeof(why));
    const char *hash = jx_str(rec, "extract_hash", NULL);
    const json_t *spec = json_object_get(rec, "extract");
    if (!hash || strlen(hash) != XRULES_HASH_LEN - 1 || !json_is_object(spec)) {
        LOG_WARN("batch_record_unreadable", "why=%s", rec ? "no usable extract spec" : why);
        json_decref(rec);
        return;
    }
    pthread_mutex_lock(&xr->lock);
    struct xrules_spec *s = strmap_get(&xr->specs, hash);
    if (s) {
        s->used = ++xr->clock;
    } else if ((s = calloc(1, sizeof(*s))) != NULL && (s->text = jx_dump(spec, &s->len))) {
        snprintf(s->hash, sizeof(s->hash), "%s", hash);
        s->used = ++xr->clock;
        strmap_put(&xr->specs, hash, s, NULL);
        strmap_remove(&xr->missing, hash);
        xr->bytes += s->len;
        evict(xr);
    } else {
        free(s);
    }
    pthread_mutex_unlock(&xr->lock);
    json_decref(rec);
}

/* The spec of `hash`, compiled, with a reference taken (lock held). NULL
 * with errstr when it is unknown or does not compile. */
static struct xrules_spec *spec_take(struct xrules *xr, const char *hash, char *errstr,
                                     size_t errstr_size)
{
    struct xrules_spec *s = strmap_get(&xr->specs, hash);
    if (!s) {
        snprintf(errstr, errstr_size,
                 "extract spec %.40s not found: its batch record was not read (or has expired)",
                 hash);
        return NULL;
    }
    if (!s->compiled && !s->error) {
        char why[300];
        json_t *spec = jx_parse(s->text, s->len, BATCH_MAX_DEPTH, why, sizeof(why));
        s->compiled = spec ? xspec_compile(spec, why, sizeof(why)) : NULL;
        json_decref(spec);
        if (!s->compiled && !(s->error = strdup(why)))
            abort();
    }
    if (s->error) {
        snprintf(errstr, errstr_size, "extract spec %s does not compile here: %.200s", hash,
                 s->error);
        return NULL;
    }
    s->refs++;
    s->used = ++xr->clock;
    return s;
}

static int resolve_spec(struct xrules *xr, const json_t *ex, struct xrules_use *use, char *errstr,
                        size_t errstr_size)
{
    const char *hash = jx_str(ex, "hash", NULL);
    if (!hash || strlen(hash) != XRULES_HASH_LEN - 1) {
        snprintf(errstr, errstr_size, "extract.hash is missing or malformed");
        return -1;
    }
    pthread_mutex_lock(&xr->lock);
    int known = strmap_has(&xr->specs, hash), missing = strmap_has(&xr->missing, hash);
    pthread_mutex_unlock(&xr->lock);
    /* Committed with the request: once the follower has read to the end of
     * the topic, a spec still unknown is gone for good. */
    int synced = !known && !missing && xr->sync && xr->sync(xr->sync_arg, XRULES_WAIT_MS);
    pthread_mutex_lock(&xr->lock);
    struct xrules_spec *s = spec_take(xr, hash, errstr, errstr_size);
    if (!s && synced && !strmap_has(&xr->specs, hash)) {
        if (strmap_size(&xr->missing) >= XRULES_MISSING_MAX)
            strmap_release(&xr->missing, NULL);
        strmap_put(&xr->missing, hash, NULL, NULL);
    }
    pthread_mutex_unlock(&xr->lock);
    if (!s)
        return -1;
    use->spec = s->compiled;
    use->held = s;
    return 0;
}

int xrules_resolve(struct xrules *xr, const json_t *req, struct xrules_use *use, char *errstr,
                   size_t errstr_size)
{
    memset(use, 0, sizeof(*use));
    const json_t *ep = json_object_get(req, "endpoint");
    const json_t *ex = json_object_get(req, "extract");
    if (ex && !json_is_null(ex))
        return resolve_spec(xr, ex, use, errstr, errstr_size);
    if (!ep || json_is_null(ep))
        return 0;
    const char *name = jx_str(ep, "name", NULL), *digest = jx_str(ep, "digest", NULL);
    const struct profile *p = name ? profiles_get(xr->profiles, name) : NULL;
    if (!p) {
        snprintf(errstr, errstr_size, "no profile named %.80s here", name ? name : "(none)");
        return -1;
    }
    /* Other rules than the ones ingest checked the item against would
     * answer for it: refuse, and let a retry find an instance that has
     * the same version (a rolling upgrade). */
    if (digest && strcmp(digest, p->digest) != 0) {
        snprintf(errstr, errstr_size,
                 "profile %s is version %s here; the item was checked against version %.20s",
                 p->name, p->digest, digest);
        return -1;
    }
    use->spec = p->extract;
    use->endpoint = 1;
    use->params = json_object_get(ep, "params");
    return 0;
}

void xrules_use_release(struct xrules *xr, struct xrules_use *use)
{
    if (use->held) {
        pthread_mutex_lock(&xr->lock);
        use->held->refs--;
        pthread_mutex_unlock(&xr->lock);
    }
    memset(use, 0, sizeof(*use));
}

char *xrules_apply(const struct xrules_use *use, const struct xrules_page *page, size_t *len,
                   enum status *status, char *error, size_t error_size)
{
    xmlDocPtr doc = page->doc, own = NULL;
    if (!doc && !(doc = own = htmlNewDocNoDtD(NULL, NULL)))
        abort();
    struct xpage pg;
    xpage_init(&pg, doc, page->url, page->headers, page->n_headers, page->body, page->body_len);
    enum xspec_status st;
    /* XPath's objects, like the tree they point into, from the arena of
     * the page's parse (when the caller holds one). */
    xarena_enter();
    json_t *data = xspec_eval(use->spec, &pg, use->params, &st);
    xpage_release(&pg);
    xarena_leave();
    if (own)
        xmlFreeDoc(own);
    char *text = NULL;
    *status = STATUS_OK;
    error[0] = '\0';
    if (st == XSPEC_CAPTCHA) {
        *status = STATUS_CAPTCHA;
        snprintf(error, error_size, "a bot check (captcha) instead of the page");
    } else if (st == XSPEC_EMPTY) {
        *status = STATUS_EMPTY;
        snprintf(error, error_size, "the page showed nothing, or a required field was missing");
    } else if (!(text = jx_dump(data, len)) || *len > XRULES_DATA_MAX) {
        free(text);
        text = NULL;
        *status = STATUS_TOO_LARGE;
        snprintf(error, error_size, "the extracted data is larger than %d bytes", XRULES_DATA_MAX);
    }
    json_decref(data);
    return text;
}
