#include "cancel.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fhdr.h"
#include "follower.h"
#include "kafka.h"
#include "log.h"
#include "strmap.h"

/* ------------------------------------------------------------ follower */

struct cancels {
    struct follower *f;
    pthread_rwlock_t lock;
    struct strmap set; /* cancelled batch ids (values unused); guarded by lock */
    struct xrules *xr;
};

/* On the follower's thread. */
static void on_record(void *arg, int topic, const rd_kafka_message_t *m)
{
    struct cancels *c = arg;
    char type[16], id[128];
    (void)topic;
    if (!fhdr_get(m, FHDR_TYPE, type, sizeof(type)))
        type[0] = '\0';
    if (c->xr && strcmp(type, "batch") == 0 && m->payload)
        xrules_note_batch(c->xr, m->payload, m->len);
    if (strcmp(type, "cancel") != 0)
        return;
    /* The id is in the ferry-batch header and the key (batch-scoped topics
     * are keyed by batch id): the header, else the key. */
    const char *bid = fhdr_get(m, FHDR_BATCH, id, sizeof(id));
    if (!bid && m->key_len > 0 && m->key_len < sizeof(id)) {
        memcpy(id, m->key, m->key_len);
        id[m->key_len] = '\0';
        bid = id;
    }
    if (bid) {
        pthread_rwlock_wrlock(&c->lock);
        strmap_put(&c->set, bid, NULL, NULL);
        pthread_rwlock_unlock(&c->lock);
        LOG_INFO("batch_cancelled", "batch=%s", bid);
    }
}

struct cancels *cancels_start(const struct cfg *cfg, const char *client_id, const char *topic,
                              struct xrules *xr, char *errstr, size_t errstr_size)
{
    char name[128];
    struct cancels *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->xr = xr;
    pthread_rwlock_init(&c->lock, NULL);
    c->set = (struct strmap)STRMAP_INIT;
    /* ferry-scrape-cancels, ferry-render-cancels: unused, nothing is
     * committed (follower.h). */
    snprintf(name, sizeof(name), "%s-cancels", client_id);
    c->f = follower_open(cfg, client_id, name, &topic, 1, 0, on_record, c, errstr, errstr_size);
    if (!c->f) {
        pthread_rwlock_destroy(&c->lock);
        free(c);
        return NULL;
    }
    return c;
}

int cancels_has(struct cancels *c, const char *batch_id)
{
    pthread_rwlock_rdlock(&c->lock);
    int has = strmap_size(&c->set) && strmap_has(&c->set, batch_id);
    pthread_rwlock_unlock(&c->lock);
    return has;
}

size_t cancels_count(struct cancels *c)
{
    pthread_rwlock_rdlock(&c->lock);
    size_t n = strmap_size(&c->set);
    pthread_rwlock_unlock(&c->lock);
    return n;
}

int cancels_wait_caught_up(struct cancels *c, int timeout_ms)
{
    return follower_wait_caught_up(c->f, timeout_ms) == 0;
}

int cancels_sync(void *arg, int timeout_ms)
{
    struct cancels *c = arg;
    char errstr[256];
    int64_t deadline = clk_mono_ms() + timeout_ms;
    for (int32_t p = 0; p < follower_partitions(c->f, 0); p++) {
        int64_t left = deadline - clk_mono_ms();
        if (follower_wait_end(c->f, 0, p, left > 0 ? (int)left : 1, errstr, sizeof(errstr)))
            return 0;
    }
    return 1;
}

void cancels_stop(struct cancels *c)
{
    follower_close(c->f);
    pthread_rwlock_wrlock(&c->lock);
    strmap_release(&c->set, NULL);
    pthread_rwlock_unlock(&c->lock);
    pthread_rwlock_destroy(&c->lock);
    free(c);
}
