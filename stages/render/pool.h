/*
 * pool — the browsers and the slots that render on them.
 *
 *   pool_submit ─► queue ─► slot threads (browsers × tabs) ─► done()
 *                              │ each renders one item at a time in its
 *                              │ browser, in a fresh browser context
 *   supervisor thread ─────────┘ starts, watches and replaces browsers
 *
 * The supervisor starts every browser (so the kernel's parent-death signal
 * is tied to a thread that lives as long as they do), reaps dead processes,
 * and every 250 ms measures each browser's process group: a renderer above
 * the per-page memory cap is killed (its page crashes, reported too_large;
 * the browser and the stage live on).
 *
 * A browser that died (crash, SIGKILL) or stopped answering (a call past
 * its deadline plus grace) is killed whole and replaced; the items that were
 * on it go back to the front of the queue and are rendered again on another
 * browser — up to `max_losses` times each, after which the item fails with
 * render_error (a page that kills every browser it touches must not loop).
 * A browser is also replaced, when idle, after `recycle_after` items, so
 * slow leaks in Chromium cannot grow without end.
 *
 * A slot that waits for an item opens the page the item will use first (a
 * fresh context with a tab at about:blank, page_prepare): the renderer starts and
 * the protocol's round trips happen while nothing else needs the slot. The
 * page still serves one item only; an item of another size, or a browser
 * replaced meanwhile, gets a page of its own as before.
 *
 * Stop: pool_stop() kills the browsers first, so running items end at once;
 * they and the queued ones are dropped without a result (their offsets are
 * not stored: they are rendered again after a restart).
 */
#ifndef FERRY_RENDER_POOL_H
#define FERRY_RENDER_POOL_H

#include "chrome.h"
#include "page.h"
#include "proxy.h"
#include "ritem.h"

#define POOL_MAX_BROWSERS 64 /* FERRY_RENDER_BROWSERS is capped here */

struct pool_conf {
    int browsers, tabs;
    struct chrome_conf chrome;
    struct proxy *proxy;   /* slot i uses proxy slot i */
    size_t max_message;    /* the largest DevTools message read */
    long long page_memory; /* renderer RSS cap, bytes (0: none) */
    int recycle_after;     /* items per browser before it is replaced (0: never) */
    int max_losses;        /* browsers an item may lose before it fails */
    int max_height;        /* full-page screenshots are cut here (px) */
    int prepare;           /* each waiting slot opens its next page ahead */
    int width, height;     /* ... at this size (the items' default) */
};

/* An item is finished: emit it (takes it; res is released by the pool
 * after the call). Runs on a slot thread. */
typedef void (*pool_done_fn)(struct ritem *it, struct page_res *res, long long duration_ms,
                             void *arg);

struct pool;

/* Starts the supervisor (which starts the browsers) and the slots. */
struct pool *pool_start(const struct pool_conf *pc, pool_done_fn done, void *arg);

/* Takes it. */
void pool_submit(struct pool *p, struct ritem *it);

void pool_stop(struct pool *p);

/* Items queued or rendering. */
long pool_active(struct pool *p);

/* Browsers up and answering. */
int pool_browsers_up(struct pool *p);

/* Memory of every browser's processes (proportional set size: shared
 * pages counted once), bytes, measured now: it walks the page tables of
 * every browser process (milliseconds of kernel time), so callers cache it.
 * Safe from any thread. */
long long pool_browsers_pss(struct pool *p);

#endif
