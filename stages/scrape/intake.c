#include "intake.h"

#include <stdio.h>

#include "log.h"

/* One consumed record: start its item (its offset begun), then refuse,
 * skip, or fetch it. */
static void take(void *arg, rd_kafka_message_t *msg, struct offtrack *ot)
{
    struct intake *in = arg;
    char errstr[256];
    struct item *it = item_new(&in->em->sink, msg, ot);
    if (request_parse(it, in->lim, errstr, sizeof(errstr))) {
        char q[300];
        LOG_WARN("poison_request", "topic=%s partition=%d offset=%lld why=%s",
                 rd_kafka_topic_name(msg->rkt), (int)msg->partition, (long long)msg->offset,
                 log_quote(q, sizeof(q), errstr));
        emit_dead_letter(in->em, it, errstr);
    } else if (cancels_has(in->cancels, it->batch_id)) {
        process_skip(in->pr, it, STATUS_CANCELLED, "batch cancelled");
    } else if (it->invalid_url[0]) {
        char why[160];
        snprintf(why, sizeof(why), "%s", it->invalid_url);
        process_skip(in->pr, it, STATUS_INVALID_URL, why);
    } else if (in->xr && it->req &&
               xrules_resolve(in->xr, it->req, &it->rules, errstr, sizeof(errstr))) {
        process_unusable(in->pr, it, STATUS_EXTRACT_ERROR, errstr);
    } else {
        it->xr = in->xr; /* the item holds its rules until it is freed */
        fetch_pool_submit(in->pool, it);
    }
    rd_kafka_message_destroy(msg);
}

int intake_open(struct intake *in, const struct stage *st, char *errstr, size_t errstr_size)
{
    const struct topics *t = &st->topics;
    in->cancels = cancels_start(&st->cfg, st->client_id, topic_name(t, TOPIC_BATCHES), in->xr,
                                errstr, errstr_size);
    if (!in->cancels)
        return -1;
    if (in->xr)
        xrules_set_sync(in->xr, cancels_sync, in->cancels);
    if (!cancels_wait_caught_up(in->cancels, 15000))
        LOG_WARN("cancels_lagging", "topic=%s", topic_name(t, TOPIC_BATCHES));
    const struct consume_conf cc = {
        .stage = "scrape",
        .topic = topic_name(t, TOPIC_REQUESTS),
        .small_topic = topic_name(t, TOPIC_REQUESTS_SMALL),
        .bulk_every = in->bulk_every,
        .tiers = t->scrape_tier,
        .n_tiers = t->n_scrape_tiers,
        .max_item_ms = cfg_int(&st->cfg, "FERRY_SCRAPE_MAX_TIMEOUT"),
        .inflight = in->inflight,
        .sink = &in->em->sink,
        .cancels = in->cancels,
        .take = take,
        .arg = in,
    };
    if (consume_open(&in->cs, &cc, st, errstr, errstr_size)) {
        cancels_stop(in->cancels);
        in->cancels = NULL;
        return -1;
    }
    return 0;
}

void intake_run(struct intake *in)
{
    consume_run(&in->cs);
}

void intake_close(struct intake *in)
{
    consume_close(&in->cs);
    if (in->cancels)
        cancels_stop(in->cancels);
    in->cancels = NULL;
}
