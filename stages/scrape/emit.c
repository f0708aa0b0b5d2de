#include "emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fhdr.h"

int emit_init(struct emit *em, rd_kafka_t *producer, const struct topics *t, size_t max_message)
{
    memset(em, 0, sizeof(*em));
    job_sink_init(&em->sink, producer);
    em->results = rd_kafka_topic_new(producer, topic_name(t, TOPIC_RESULTS), NULL);
    em->dlq = rd_kafka_topic_new(producer, topic_name(t, TOPIC_SCRAPE_DLQ), NULL);
    em->sitefiles = rd_kafka_topic_new(producer, topic_name(t, TOPIC_CRAWL_SITEFILES), NULL);
    em->n_tiers = t->n_scrape_tiers;
    for (size_t i = 0; i < em->n_tiers; i++) {
        em->tiers[i] = rd_kafka_topic_new(producer, t->scrape_tier[i], NULL);
        em->tier_ms[i] = t->scrape_tier_ms[i];
    }
    em->max_message = max_message;
    return em->results && em->dlq && em->sitefiles ? 0 : -1;
}

void emit_release(struct emit *em)
{
    if (em->results)
        rd_kafka_topic_destroy(em->results);
    if (em->dlq)
        rd_kafka_topic_destroy(em->dlq);
    if (em->sitefiles)
        rd_kafka_topic_destroy(em->sitefiles);
    for (size_t i = 0; i < em->n_tiers; i++)
        if (em->tiers[i])
            rd_kafka_topic_destroy(em->tiers[i]);
    job_sink_release(&em->sink);
}

static rd_kafka_headers_t *item_headers(const struct item *it)
{
    return fhdr_batch(it->batch_id, it->url /* the request was read */ ? it->index : -1);
}

void emit_result(struct emit *em, struct item *it, const struct result_meta *m,
                 const struct extract *ex)
{
    struct result_part *parts;
    size_t n = result_build(m, ex, it->formats, em->max_message, &parts);
    buf_release(&it->x.body); /* the body is in the parts now */
    job_expect(&it->job, (int)n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_headers_t *h = item_headers(it);
        fhdr_add_part(h, i + 1, n);
        /* After the last one, it may be gone already. */
        job_produce(&em->sink, &it->job, em->results, it->batch_id, parts[i].buf, parts[i].len, h);
    }
    free(parts);
}

void emit_retry(struct emit *em, struct item *it, size_t tier, int64_t due_ms,
                const char *last_error)
{
    buf_release(&it->x.body);
    job_retry(&em->sink, &it->job, em->tiers[tier], it->batch_id, due_ms, last_error,
              item_headers(it));
}

void emit_dead_letter(struct emit *em, struct item *it, const char *why)
{
    job_dead_letter(&em->sink, &it->job, em->dlq, why);
}
