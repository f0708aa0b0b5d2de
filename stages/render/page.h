/*
 * page — one item rendered in a browser: a fresh browser context (no
 * cookies, storage or cache shared with any other item), its proxy port,
 * navigation, the load event, wait_for, the page's HTML after JavaScript
 * ran, an optional screenshot, and the context disposed again.
 *
 * The tab is opened at the item's URL: the browser holds a new tab before
 * it navigates (pool.c has it attach every new page, cdp_claim), its domains
 * are enabled and it is let run in one batch of commands, so its first
 * request is seen and no blank page is loaded and navigated away from (two
 * navigations and two documents a screenshot: 11-16% of its CPU).
 *
 * One deadline covers all of it (the item's timeout): navigation, loading,
 * waiting and capture. wait_for is capped so that capture keeps a share of
 * the time. Scripts of ours run in an isolated world, so a page that
 * redefines XMLSerializer or querySelector cannot change what we read.
 */
#ifndef FERRY_RENDER_PAGE_H
#define FERRY_RENDER_PAGE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cdp.h"
#include "proxy.h"

enum shot_type { SHOT_NONE, SHOT_PNG, SHOT_JPEG };

/* A page opened before its item is known (pool.c opens one per slot while
 * the slot waits): a fresh browser context on the slot's proxy port with one
 * tab of width x height at about:blank (its initial empty document: nothing
 * is loaded), its domains enabled; the item navigates it. One item uses it
 * and disposes of it as it would a page it opened itself, so no context
 * ever serves two items; what moves is only the time its set-up takes (a
 * renderer started, the protocol's round trips), out of the next item's. */
struct page_tab {
    char ctx[64], target[64], session[80]; /* ctx "" : none */
    int width, height;
};

struct page_req {
    const char *url;
    int64_t deadline_ms;       /* monotonic */
    long timeout_ms;           /* for messages */
    const char *wait_selector; /* NULL: none */
    long wait_ms;              /* 0: none */
    const json_t *headers;     /* extra request headers (object) or NULL */
    int want_html;             /* capture the document (a text format was asked for) */
    size_t max_html;           /* a larger document is too_large */
    int block_ads;
    enum shot_type shot;
    int full_page, width, height, quality; /* quality: jpeg, 0 = Chromium's default */
    int max_height;                        /* full-page screenshots are cut here (px) */
    struct proxy *proxy;
    int slot;
    /* A prepared page (or NULL): used when its size is the item's, else
     * closed; emptied either way. */
    struct page_tab *spare;
    /* Renderers the memory watchdog killed in this browser (pool.c): a
     * crash while it grows is the page's memory, not a bug. */
    atomic_long *memory_kills;
    long long memory_cap;
};

struct page_res {
    const char *status; /* "ok" or an error code (static string) */
    char error[320];
    int transient;      /* worth another attempt from a retry tier */
    int browser_failed; /* the browser died or stopped answering: replace it */
    int interrupted;    /* ... before this item got an outcome: render it again */
    int crashed;        /* the page's renderer died */
    int spare_used;     /* rendered in the prepared page (page_req.spare) */
    long http_status;   /* 0: no response */
    char *final_url, *content_type;
    char *html;
    size_t html_len;
    unsigned char *image;
    size_t image_len;
    int image_width, image_height;
};

/* Renders r in the browser behind c. Always fills res (release it). */
void page_render(struct cdp *c, const struct page_req *r, struct page_res *res);
void page_res_release(struct page_res *res);

/* Opens a page for the next item of `slot`, of width x height, before
 * deadline_ms. 0 ok; otherwise nothing is left open and errstr says why:
 * 1 the browser died or stopped answering, -1 anything else. */
int page_prepare(struct cdp *c, struct proxy *proxy, int slot, int width, int height,
                 int64_t deadline_ms, struct page_tab *t, char *errstr, size_t errstr_size);

/* Closes a prepared page no item will use (its context disposed). */
void page_discard(struct cdp *c, struct page_tab *t);

#endif
