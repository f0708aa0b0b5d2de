/*
 * hostwin — how many pages of one crawl host may be out at once: its
 * frontier window, sized by the round trip.
 *
 * FERRY_CRAWL_HOST_CONCURRENCY (C) is the politeness promise: at most C
 * fetches at the host at once on average over a sample (below), not at
 * every instant. A page out of the frontier is at the host
 * only while scrape fetches it; the rest of its round trip it waits for
 * the transaction that wrote its request, in Kafka, in scrape's intake, or
 * comes back as a result to be counted. A window of C pages out therefore
 * keeps fewer than C fetches at the host, the fewer the faster the host
 * answers (a local host at 2 ms a page behind a 40 ms round trip: one).
 *
 * So the window follows what the host sees. Over each sample (about a
 * quarter second of results), the fetches at the host at once are the sum
 * of the results' fetch durations divided by the sample's length (Little's
 * law). The window aims at HOSTWIN_AIM * C of them: while it held pages
 * back and the host had fewer, it grows by the ratio (at most by half in
 * a sample); when the host had more, it shrinks by the ratio. Aiming under C
 * tells a window that is just enough from one whose extra pages only wait
 * in scrape (the host, or scrape's cap, at C either way). It never goes
 * below C nor above
 * HOSTWIN_MAX_FACTOR * C, and a host with a Crawl-delay is not windowed
 * (one page at a time). Scrape's own cap, FERRY_SCRAPE_HOST_CONNECTIONS
 * per instance, bounds the connections at every instant.
 */
#ifndef FERRY_AGGREGATE_HOSTWIN_H
#define FERRY_AGGREGATE_HOSTWIN_H

#include <stdint.h>

/* The window's ceiling, as a multiple of the host concurrency. */
#define HOSTWIN_MAX_FACTOR 8
/* The fetches at the host at once the window aims at, as a part of C. */
#define HOSTWIN_AIM 0.9
/* The most a window grows in one sample. */
#define HOSTWIN_GROW 1.5
/* A sample's length (ms): several round trips, so one sample sees the
 * effect of the last change. */
#define HOSTWIN_SAMPLE_MS 250

struct hostwin {
    double size;       /* pages that may be out; C .. HOSTWIN_MAX_FACTOR * C */
    long long busy_ms; /* fetch durations of the sample's results, summed */
    int64_t from_ms;   /* the sample's start (monotonic ms), 0: none yet */
    unsigned held : 1; /* the window held a page back during the sample */
};

/* A window of `concurrency` pages. */
void hostwin_init(struct hostwin *w, long long concurrency);

/* Pages that may be out now. */
long long hostwin_size(const struct hostwin *w);

/* The window held a page back (the host's queue waits on it). */
void hostwin_held(struct hostwin *w);

/* A result of the host came back at `now_ms` (monotonic), its fetch took
 * fetch_ms (<0: unknown, counts as nothing). Resizes at a sample's end. */
void hostwin_result(struct hostwin *w, long long concurrency, long long fetch_ms, int64_t now_ms);

#endif
