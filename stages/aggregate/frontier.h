/*
 * frontier — a crawl's frontier, kept by the aggregator instance that owns
 * the crawl's partition (DESIGN.md, "Crawl").
 *
 * A crawl is a batch of kind "crawl" (its record carries the options and
 * the request every page becomes) whose total grows: each page the frontier
 * accepts becomes the next item. Everything it decides is produced in the
 * aggregator's open transaction (txn.h), together with the result that
 * caused it and the consumed offsets, and its state is written to the
 * changelog topic `crawl.state` in that transaction; so a SIGKILL of any
 * stage neither loses a branch of the site nor requests a page twice.
 *
 * What happens to a link (scrape normalizes the links of each page next to
 * their extraction and sends them, with their seen-set hash, in the
 * result's `frontier` member):
 *   1. seen before (its hash is in the crawl's seen set, seen.h) or refused
 *      before (out of scope: a bounded cache): dropped, without parsing it;
 *   2. parsed again (crawlurl.h) for its page key, host and path; out of
 *      scope (site, subdomains, external, include/exclude): dropped;
 *   3. new: added to the seen set and counted in `discovered`; while the
 *      crawl has accepted fewer than `limit` pages it is accepted: the next
 *      item index, at the depth of its page plus one, found_on its page.
 * A page that redirected within scope adds the key of the URL it landed on
 * to the seen set when its result is counted, so a link straight to that
 * URL found afterwards is dropped (one found before, in a level already
 * processed, was a page of its own and is fetched).
 * An accepted page waits in its host's queue until it may go (below), then
 * becomes a scrape request (or a render request), or, when robots.txt
 * disallows it, a result with status `robots_blocked` written by the
 * frontier itself to scrape.results (counted when it is read back, like any
 * result).
 *
 * Exact depths (BFS) by levels: the links of a page at depth d are
 * processed only once every page at a depth below d has its result (the
 * crawl's `level` is d), so a page is first found at its least depth. Pages
 * of the next level are fetched meanwhile; their links wait ("held"): the
 * frontier remembers only the smallest offset of such a result, and when
 * the level is done reads them back from scrape.results (a replay, in
 * bounded steps), so holding costs no memory per page. Sitemap entries are
 * depth 1, and level 0 waits for the sitemaps. The limit takes pages in that
 * order, so a crawl with limit N has the N first pages of a breadth-first
 * walk (which of a level's pages are last in is the order results came).
 *
 * robots.txt and sitemaps: asked of scrape (requests with `fetch`: robots,
 * sitemap), answered on `crawl.sitefiles`: robots.txt once per host per
 * crawl (scheme, host and port, as RFC 9309 scopes it) before any page of
 * the host goes; the start host's sitemaps (/sitemap.xml and robots.txt's
 * Sitemap: lines, an index's sitemaps one level deep) when its robots.txt
 * is known.
 *
 * Politeness, across every scrape instance: each host of a crawl has a
 * window of requests out (emitted and without a result yet, retry tiers
 * included), sized so that the host sees FERRY_CRAWL_HOST_CONCURRENCY
 * fetches at once on average, no more (hostwin.h: the window follows the round trip,
 * from that concurrency up to 8 times it); a host whose robots.txt has a
 * Crawl-delay gets one at a time, the next one the delay after the last
 * one's result came back. The frontier holds the rest in its queue, so
 * scrape never holds more than a little of a host it may not fetch yet
 * (which would take its intake from every other batch), and the bound
 * holds whatever the number of scrape instances and however long a
 * request waits in Kafka.
 *
 * Latency: a page's requests reach scrape only when the transaction that
 * wrote them commits, and a host's window frees only when results come
 * back, so a crawl of one host runs at about its window per round trip
 * (hence a window sized by it). A transaction that holds requests commits
 * within FERRY_CRAWL_COMMIT_INTERVAL (txn_hurry), and replay steps run
 * between polls at most every few milliseconds while results arrive, so a
 * level being read back never stops results from being counted.
 *
 * Completion: a crawl completes when every accepted page has its result
 * and nothing can add one (no sitemap outstanding, no links held or being
 * replayed): then one batch.completed, as for any batch.
 */
#ifndef FERRY_AGGREGATE_FRONTIER_H
#define FERRY_AGGREGATE_FRONTIER_H

#include <librdkafka/rdkafka.h>

#include "complete.h"
#include "emit.h"
#include "record.h"
#include "state.h"

struct frontier_conf {
    long long host_concurrency; /* FERRY_CRAWL_HOST_CONCURRENCY */
    long long max_items;        /* FERRY_MAX_ITEMS: the most pages a seen set holds */
    long long replay_step;      /* results read back per replay step */
    long long commit_ms;        /* FERRY_CRAWL_COMMIT_INTERVAL: requests wait at most this */
};

struct frontier;
struct crawl;

/* Borrows everything; `consumer` is the group consumer (its positions end a
 * replay), `reader` a scan.h consumer shared with completion. The partition
 * counts of scrape.requests and render.requests (asked of the cluster
 * through `producer`) spread a crawl's requests as ingest spreads a batch's.
 * Hooks itself into done (complete_batch ends a crawl's frontier). NULL
 * with errstr when the cluster did not answer. */
struct frontier *frontier_new(const struct frontier_conf *conf, struct emit *out,
                              struct completion *done, struct state *s, rd_kafka_t *consumer,
                              rd_kafka_t *reader, rd_kafka_t *producer, char *errstr,
                              size_t errstr_size);
void frontier_free(struct frontier *f);

/* Frees a crawl's frontier (follow_free: the tally is gone). */
void frontier_crawl_free(struct crawl *c);

/* A crawl's batch record was counted (t is known): starts its frontier
 * (the start page, robots.txt, sitemaps). */
void frontier_start(struct frontier *f, struct tally *t);

/* A result of t was counted (TALLY_COUNTED) at `offset` of scrape.results:
 * its links, when the crawl has a frontier. Completes the crawl when that
 * was its last page. */
void frontier_page(struct frontier *f, struct tally *t, const struct record *r, int64_t offset);

/* A record of crawl.sitefiles (robots.txt or a sitemap, as scrape read it). */
void frontier_sitefile(struct frontier *f, const rd_kafka_message_t *m);

/* 1 when t is a crawl that may still accept pages (tally_complete is then
 * not the end). */
int frontier_busy(const struct tally *t);

/* Work that waits for time or for the loop: replay steps, hosts whose
 * Crawl-delay has passed. Begins a transaction when there is any. */
void frontier_work(struct frontier *f);
/* The same and a look at every crawl (completion, queues), each tick. */
void frontier_tick(struct frontier *f);

/* Before a commit: the changelog of every crawl the transaction changed. */
void frontier_flush(struct frontier *f);

/* complete_batch's hook: t (a crawl) is ending; its changelog records get
 * tombstones and its frontier goes. */
void frontier_end(void *f, struct tally *t);

/* After the state of partitions `nums` was restored (restore.h): their
 * crawls' frontiers from crawl.state. 0 ok, -1 with errstr (call again). */
int frontier_restore(struct frontier *f, const int32_t *nums, size_t n, char *errstr,
                     size_t errstr_size);

#endif
