/*
 * complete — finishing a batch: its final status document and its
 * batch.* webhook task, with the results inline while they fit; and the
 * item.completed tasks on the way.
 *
 * The inline results come from one of two places. While a batch runs, the
 * engine keeps each counted result's text (its `follow`, below) as long as
 * every result so far is kept and they fit the inline cap and the memory cap
 * (FERRY_AGGREGATE_CACHE_BYTES); at completion that list is the body's
 * results. Otherwise (a restart in between, too much held) the batch's
 * results are read back from scrape.results at the end of the transaction
 * that finishes it, together with the other batches finished in it (one
 * scan per partition, not one per batch): the first whole result of each
 * item in the batch's offset range, parts put together (results.h).
 *
 * Every result text that goes into a body is in JSON.stringify's form
 * (record.h's `canonical`, else rewritten), and a body that would make the
 * webhook task larger than a Kafka message carries results_url instead.
 */
#ifndef FERRY_AGGREGATE_COMPLETE_H
#define FERRY_AGGREGATE_COMPLETE_H

#include <librdkafka/rdkafka.h>

#include "emit.h"
#include "record.h"
#include "results.h"
#include "state.h"

struct crawl;

/* What the engine keeps beside a running batch's count (tally.h). */
struct follow {
    struct crawl *crawl;      /* a crawl's frontier (frontier.h), or NULL */
    int64_t status_mono;      /* its last status snapshot (monotonic ms) */
    struct results cache;     /* counted results' texts, while cache_ok */
    unsigned cache_ok : 1;    /* no counted result is missing from cache */
    unsigned inline_over : 1; /* the results alone pass the inline cap */
};

/* For state_init: frees a follow (its cache, its crawl's frontier). */
void follow_free(struct follow *f);

struct closing;

struct completion {
    struct emit *out;
    struct state *state;
    rd_kafka_t *reader; /* a scan.h consumer for read-backs */
    const char *results_topic;
    size_t inline_max;  /* FERRY_WEBHOOK_INLINE_MAX_BYTES */
    size_t cache_max;   /* FERRY_AGGREGATE_CACHE_BYTES */
    size_t cache_bytes; /* held in every follow's cache */
    /* Batches finished in the open transaction whose results are read back
     * before it commits. */
    struct closing *closing;
    size_t n_closing, cap_closing;
    /* Last-result times of the batches finished in the open transaction,
     * observed as latency once it commits. */
    int64_t *done_last;
    size_t n_done, cap_done;
    struct metric *m_latency, *m_completed, *m_failed, *m_cancelled;
    /* Called first thing when a batch finishes (the frontier ends a
     * crawl's): may be NULL. */
    void (*on_finish)(void *arg, struct tally *t);
    void *on_finish_arg;
};

/* Borrows everything. */
void complete_init(struct completion *c, struct emit *out, struct state *s, rd_kafka_t *reader,
                   const char *results_topic, size_t inline_max, size_t cache_max);
void complete_release(struct completion *c);

/* t's follow, made when t has none: its cache starts whole only while
 * nothing of t was counted yet. Call it before counting a result. */
struct follow *complete_follow(struct completion *c, struct tally *t);

/* Sums the cached bytes again, after the table lost tallies wholesale
 * (a revocation, a restore). */
void complete_recount(struct completion *c);

/* Drops t's cached results (a batch nobody will get a body of). */
void complete_forget_cache(struct completion *c, struct tally *t);

/* A result was just counted (tally_count said TALLY_COUNTED; its first
 * part lies at first_offset): emits item.completed when the webhook asks
 * for it, and keeps the text for the inline body. A result in parts is
 * read back whole first. Takes r->text when it keeps it. */
void complete_counted(struct completion *c, struct tally *t, struct record *r, int64_t first_offset,
                      int64_t offset);

/* The batch record arrived after some of its results: item.completed for
 * those, read back from scrape.results. */
void complete_held_items(struct completion *c, struct tally *t);

/* Finishes t: final status (completed, failed or cancelled, report.h), the
 * webhook task (now, or from complete_flush), and t becomes a done tally. */
void complete_batch(struct completion *c, struct tally *t, const char *status);

/* Before the commit: reads back the results of this transaction's finished
 * batches and emits their webhook tasks. */
void complete_flush(struct completion *c);

/* After the transaction ended: observes completion latencies when it
 * committed, forgets them when it aborted. */
void complete_ended(struct completion *c, int committed);

#endif
