/*
 * httpc — the HTTP client engine: many transfers at once over one libcurl
 * multi handle, a per-host admission cap, a capped body, and the SSRF guard
 * on every connection. Scrape (fetches) and deliver (webhook POSTs) both
 * run on it; each stage brings two callbacks: set up a transfer (its own
 * easy options), and receive its outcome.
 *
 * The loop is libcurl's socket interface (curl's docs/examples/ephiperfifo.c
 * shape): curl says which sockets to watch and when its next timeout falls,
 * the engine keeps them in an epoll set, so a wake-up costs in proportion to
 * the sockets that are ready, not to the thousands of transfers in flight
 * (however many of them hang).
 *
 * Admission: a transfer starts only while its host (an admission key the
 * stage chooses, e.g. "https://host:443") has fewer than max_per_host
 * running; later ones wait in the host's queue in order, and other hosts are
 * not held up. So a transfer's timeout counts from when it really starts,
 * where libcurl's own per-host cap would queue it with its clock running.
 *
 *     struct httpc *e = httpc_new(&conf, &ops, arg, errstr, sizeof(errstr));
 *     httpc_xfer_init(&job->x, job, "https://example.com:443", 4096, 1 << 20);
 *     httpc_submit(e, &job->x);          // ops.setup runs when admitted
 *     while (!stop)
 *         httpc_run(e, 100);             // ops.done runs for what finished
 *     httpc_free(e);                     // ops.drop for what never finished
 *
 * Threads: an engine belongs to the one thread that calls httpc_run (and
 * every function here not marked otherwise). Other threads hand it
 * transfers with httpc_post() and interrupt its wait with httpc_wake().
 */
#ifndef FERRY_HTTPC_H
#define FERRY_HTTPC_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ssrf.h"

#define HTTPC_HOSTKEY_MAX 300 /* "scheme://authority"; longer keys are cut */
#define HTTPC_WATCH_MAX   4   /* extra descriptors httpc_run waits on */

struct httpc;
struct httpc_host;

/* One transfer. The stage embeds it in its own object (an item, a job) and
 * finds that again through `owner`. */
struct httpc_xfer {
    /* Set by httpc_xfer_init. */
    void *owner;
    char hostkey[HTTPC_HOSTKEY_MAX];
    struct buf body; /* the response body: its first `body.max` bytes */
    size_t read_max; /* past this many body bytes the transfer is aborted */

    /* Set by the engine, for setup() and done() to read. */
    CURL *easy;              /* during setup() and done(); NULL when it never started */
    int easy_fresh;          /* during setup(): easy is new, no option set on it yet */
    struct httpc_host *host; /* during done() */
    int64_t started_us;      /* monotonic, when it was admitted */
    size_t body_total;       /* body bytes received, kept or not */
    int too_large;           /* read_max passed: aborted with CURLE_WRITE_ERROR */
    char retry_after[64];    /* Retry-After of the last response, "" when none */
    char errbuf[CURL_ERROR_SIZE];
    struct ssrf_guard guard; /* guard.blocked and guard.why when an address was refused */

    /* The engine's: inbox, host queue or running list. */
    struct httpc_xfer *next, *prev;
};

struct httpc_ops {
    /* The transfer was admitted: set its own options on easy (URL, method,
     * body, headers, timeouts, protocols, redirects). The engine has set
     * PRIVATE, the write and header callbacks, ERRORBUFFER, NOSIGNAL, the
     * SSRF guard and an empty PROXY (a proxy would make the guard judge the
     * proxy's address, not the target's); leave those alone. easy is a
     * recycled handle that keeps the options of its last transfer (a reset
     * costs some 2,800 instructions, 0.7% of a whole scrape fetch): set
     * every option the stage ever varies, each time; options that never
     * vary may be set only when x->easy_fresh. Return -1 when the
     * transfer cannot start: done() then follows at once with
     * CURLE_FAILED_INIT and x->easy NULL. */
    int (*setup)(struct httpc_xfer *x, CURL *easy, void *arg);

    /* The transfer ended with rc (CURLE_OK: a response arrived, whatever its
     * status). x->easy is valid for curl_easy_getinfo during the call. The
     * stage takes the transfer back: the engine does not touch x again, so
     * done() may free it (x->body is the stage's to release). Runs on the
     * engine's thread, inside httpc_run (or inside httpc_submit when setup
     * failed); it may submit further transfers. */
    void (*done)(struct httpc_xfer *x, CURLcode rc, void *arg);

    /* httpc_free found the transfer unfinished (queued or running): the
     * stage takes it back without an outcome. It must not call the engine. */
    void (*drop)(struct httpc_xfer *x, void *arg);
};

struct httpc_conf {
    int max_per_host; /* transfers running at once per admission key (>= 1) */
    /* 1: libcurl also caps connections per real host (name:port) at
     * max_per_host, so a redirect to another host, or one host spelled as
     * two keys, cannot pass the cap there. Only for keys that are real
     * hosts: transfers past curl's cap wait inside curl, clock running. */
    int cap_real_hosts;
    /* The SSRF guard (ssrf.h): 1 lets every address through. */
    int allow_private;
    const struct ssrf_allow *allow; /* exceptions; may be NULL; outlives the engine */
    /* Bytes of stage data kept with each host while it has transfers
     * (httpc_host_data), zeroed when the host is first seen. */
    size_t host_data_size;
};

/* A new engine. NULL with errstr when the kernel refuses an epoll set or an
 * eventfd. ops and arg are copied. */
struct httpc *httpc_new(const struct httpc_conf *conf, const struct httpc_ops *ops, void *arg,
                        char *errstr, size_t errstr_size);

/* Hands every unfinished transfer to ops.drop (none of them gets done()),
 * then frees the engine. Call it from the engine's thread, or after that
 * thread ended. */
void httpc_free(struct httpc *e);

/* Prepares x for submitting: owner, admission key, and the body caps (keep
 * the first body_max bytes; abort past read_max, which is at least body_max).
 * Any earlier body is released. */
void httpc_xfer_init(struct httpc_xfer *x, void *owner, const char *hostkey, size_t body_max,
                     size_t read_max);

/* Takes x: starts it now when its host has a free slot, else queues it
 * behind the host's earlier ones. */
void httpc_submit(struct httpc *e, struct httpc_xfer *x);

/* httpc_submit from any thread: x waits in the engine's inbox until its
 * thread next runs, which this wakes. */
void httpc_post(struct httpc *e, struct httpc_xfer *x);

/* Makes the engine's current or next httpc_run return promptly. Any thread. */
void httpc_wake(struct httpc *e);

/* Adds fd (readable = an event) to what httpc_run waits on. The engine does
 * not read it: the caller drains it before running again, or httpc_run
 * returns at once. 0, or -1 with errno (at most HTTPC_WATCH_MAX). */
int httpc_watch(struct httpc *e, int fd);

/* Waits at most timeout_ms (less when curl has a timeout due sooner) for a
 * socket, a watched fd or a wake-up, acts on what is ready, admits what was
 * posted, and calls done() for every transfer that finished. Returns the
 * number of transfers finished. */
int httpc_run(struct httpc *e, int timeout_ms);

/* Transfers handed over (submitted or posted) and not yet given back by
 * done() or drop(). Any thread. */
size_t httpc_load(const struct httpc *e);

/* Transfers running, and waiting behind their host's cap. */
int httpc_running(const struct httpc *e);
int httpc_waiting(const struct httpc *e);

/* The host of an admission key, or NULL when the engine holds no transfer
 * for it (it forgets a host whose last transfer ended). */
struct httpc_host *httpc_host_find(struct httpc *e, const char *hostkey);
int httpc_host_running(const struct httpc_host *h);
int httpc_host_waiting(const struct httpc_host *h);
/* Monotonic ms of the host's last finished transfer, or of when it was
 * first seen if none finished yet. */
int64_t httpc_host_last_done_ms(const struct httpc_host *h);
/* conf.host_data_size bytes of the stage's, as long as the host lives. */
void *httpc_host_data(struct httpc_host *h);

/* A Retry-After value (RFC 9110: delta-seconds, or an HTTP-date) as a delay
 * from now_ms in ms, at most max_ms: a date in the past is 0. -1 when value
 * is NULL, empty or not one of the two forms. */
int64_t httpc_retry_after_ms(const char *value, int64_t now_ms, int64_t max_ms);

#endif
