/*
 * frontier_int — the frontier's own structures, shared by its modules:
 * frontier.c (pages, links, levels, completion), frontier_hosts.c (hosts,
 * robots.txt, queues, what is emitted), frontier_sites.c (robots.txt and
 * sitemap answers), frontier_log.c (the changelog and its restore).
 * Not for the engine: it sees frontier.h.
 *
 * Ownership: the frontier owns its crawls (listed in `crawls`); a crawl is
 * also reachable from its tally (t->follow->crawl), and goes with the tally
 * (follow_free) or at its end (frontier_end). A crawl owns its hosts, a
 * host its queued entries.
 */
#ifndef FERRY_AGGREGATE_FRONTIER_INT_H
#define FERRY_AGGREGATE_FRONTIER_INT_H

#include <stdint.h>

#include "buf.h"
#include "crawlurl.h"
#include "frontier.h"
#include "hostwin.h"
#include "robots.h"
#include "seen.h"
#include "strmap.h"

/* Sitemap fetches one crawl makes at most (its own, robots.txt's, and an
 * index's). */
#define CRAWL_MAX_SITEMAPS 64
/* Out-of-scope hashes remembered per crawl before the cache starts over. */
#define CRAWL_REFUSED_MAX 65536

enum crawl_sitemap { SITEMAP_INCLUDE, SITEMAP_SKIP, SITEMAP_ONLY };

/* An accepted page waiting in its host's queue. */
struct crawl_entry {
    struct crawl_entry *next;
    long long index, found_on; /* found_on -1: none (start page, sitemap entry) */
    int depth;
    int logged; /* written to a queue chunk of the changelog */
    char url[]; /* normalized */
};

enum crawl_robots {
    ROBOTS_UNKNOWN = 0, /* not asked for yet */
    ROBOTS_ASKED,       /* a fetch is out */
    ROBOTS_KNOWN,       /* `rules` hold */
};

struct crawl_host {
    char *name; /* "scheme://host[:port]": robots.txt's scope (the table's key too) */
    enum crawl_robots robots;
    struct robots *rules; /* ROBOTS_KNOWN */
    long long delay_ms;   /* Crawl-delay obeyed (0: none) */
    /* Pages sent (requested, or written robots_blocked), results counted of
     * them, and logged entries taken off the queue (restore skips those). */
    long long emitted, resulted, dequeued;
    int64_t not_before_ms; /* Crawl-delay: the next request waits until then */
    struct hostwin win;    /* pages that may be out (hostwin.h; not in the changelog) */
    struct crawl_entry *head, *tail;
    /* The first entry not yet in a queue chunk: entries join at the tail,
     * so every unlogged one is here or after it, and a flush reads only
     * those, not the whole queue each commit. NULL: none. */
    struct crawl_entry *unlogged;
    size_t queued;
    unsigned dirty : 1;       /* counters changed: its h/ record */
    unsigned rules_dirty : 1; /* rules arrived: its r/ record */
    long long skip;           /* restore: logged pages still to pass over */
};

/* A sitemap fetch out. `child`: listed by an index (its own index entries
 * are not followed). */
struct crawl_sitemap_fetch {
    char *url;
    int child;
};

/* A queue chunk read back, replayed once every chunk is in. */
struct crawl_chunk {
    long long n;
    char *text;
    size_t len;
};

struct crawl {
    struct frontier *f;
    struct crawl *prev, *next; /* the frontier's list */
    struct tally *t;

    /* Options, from the batch record. */
    struct crawlscope scope;
    long long limit;
    int max_depth, robots, render;
    enum crawl_sitemap sitemap;
    char *start_url, *start_host;
    char *tenant;
    char *tail; /* the request members after scrapereq_begin()'s: ,"formats":...} */

    /* What it has seen and decided. */
    struct seen seen;    /* page keys accepted (and past the limit), redirect landings */
    struct seen refused; /* a cache of out-of-scope hashes (not in the changelog) */
    long long accepted, discovered;
    int level;                            /* links of pages up to this depth are processed */
    long long pending_cur;                /* pages at depth `level` without a result */
    long long pending_next;               /* pages at depth level + 1 without a result */
    int64_t held_from;                    /* least offset of a result whose links wait, -1 none */
    int64_t replay_from;                  /* a replay's next offset, -1 when none runs */
    int64_t replay_until;                 /* its last offset */
    struct strmap hosts;                  /* name -> struct crawl_host */
    struct crawl_sitemap_fetch *sitemaps; /* fetches out */
    size_t n_sitemaps, sitemaps_asked;
    int sitemaps_started; /* the start host's sitemaps were asked for (or never will be) */
    long long seen_chunks, queue_chunks; /* changelog chunks written */
    unsigned dirty : 1;                  /* its core record */
    unsigned restoring : 1;              /* being read back from the changelog */
    unsigned restored_core : 1;          /* its core record was read back */
    struct crawl_chunk *rq;              /* restore: queue chunks read so far */
    size_t n_rq;
};

struct metric;

struct frontier {
    struct frontier_conf conf;
    struct emit *out;
    struct completion *done;
    struct state *state;
    rd_kafka_t *consumer, *reader;
    int32_t req_parts, render_parts;
    struct crawl *crawls; /* every crawl this instance follows */
    size_t n_replaying;
    struct crawlurl u; /* scratch, reused for every link */
    struct metric *m_links, *m_accepted, *m_requests, *m_blocked, *m_sitefiles, *m_replayed;
};

/* ---- frontier.c ---- */

/* A new crawl of t from its record's options (NULL with errstr when the
 * options do not make one), linked into f. */
struct crawl *crawl_new(struct frontier *f, struct tally *t, char *errstr, size_t errstr_size);

/* Processes one page's frontier array: the links found on page `found_on`
 * at depth `depth`. */
void crawl_links(struct crawl *c, long long found_on, int depth, const char *arr, size_t len);

/* One link ("<16 hex digits of its seen-set hash> <normalized URL>", n
 * bytes) to a page at depth `depth`, found on page found_on (-1: in a
 * sitemap). */
void crawl_link(struct crawl *c, long long found_on, int depth, const char *s, size_t n);

/* After anything changed: levels, then completion. Returns 1 when the crawl
 * completed (c is gone then). */
int crawl_settle(struct crawl *c);

/* 1 while links may still be processed (sitemaps out, links held or in a
 * replay). */
int crawl_busy(const struct crawl *c);

/* ---- frontier_hosts.c ---- */

/* The host of a normalized URL (its "scheme://host[:port]" prefix), made
 * when new. */
struct crawl_host *crawl_host_of(struct crawl *c, const char *url);

/* Appends e to h's queue (takes it), sending nothing. */
void crawl_host_push(struct crawl_host *h, struct crawl_entry *e);

/* Queues an accepted page at its host and sends what may go. */
void crawl_enqueue(struct crawl *c, struct crawl_entry *e);

/* Sends what h's queue may send now (robots.txt, window, Crawl-delay). */
void crawl_host_pump(struct crawl *c, struct crawl_host *h);

/* A page result of host h was counted; its fetch took fetch_ms (<0:
 * unknown). */
void crawl_host_result(struct crawl *c, struct crawl_host *h, long long fetch_ms);

/* Asks scrape for a site file: `fetch` is "robots" or "sitemap". */
void crawl_ask(struct crawl *c, const char *fetch, const char *url);

/* Asks scrape for host h's robots.txt. */
void crawl_ask_robots(struct crawl *c, const struct crawl_host *h);

void crawl_host_free(void *h);

/* ---- frontier_sites.c ---- */

/* Asks for the start host's sitemaps: /sitemap.xml (when `rules` allow
 * it) and rules' Sitemap: lines. rules may be NULL. */
void crawl_sitemaps_start(struct crawl *c, const struct robots *rules);

/* ---- frontier_log.c ---- */

/* Writes c's changed state to crawl.state in the open transaction. */
void crawl_log_flush(struct crawl *c);

/* Tombstones every record of c. */
void crawl_log_forget(struct crawl *c);

#endif
