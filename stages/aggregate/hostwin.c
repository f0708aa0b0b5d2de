#include "hostwin.h"

void hostwin_init(struct hostwin *w, long long concurrency)
{
    *w = (struct hostwin){.size = (double)(concurrency > 0 ? concurrency : 1)};
}

long long hostwin_size(const struct hostwin *w)
{
    return (long long)w->size;
}

void hostwin_held(struct hostwin *w)
{
    w->held = 1;
}

void hostwin_result(struct hostwin *w, long long concurrency, long long fetch_ms, int64_t now_ms)
{
    double c = (double)(concurrency > 0 ? concurrency : 1);
    if (w->from_ms == 0) {
        w->from_ms = now_ms; /* the first result starts the first sample */
        return;
    }
    if (fetch_ms > 0)
        w->busy_ms += fetch_ms;
    int64_t span = now_ms - w->from_ms;
    if (span < HOSTWIN_SAMPLE_MS)
        return;
    /* Fetches at the host at once, on average over the sample. The window
     * aims under C: at C itself the host (or scrape's cap) may be what
     * limits, and pages out beyond it would only wait in scrape; so a
     * window at C shrinks until the fetches drop under it, and grows back
     * while they stay under. */
    double at_host = (double)w->busy_ms / (double)span, aim = HOSTWIN_AIM * c;
    if (at_host > aim)
        w->size *= aim / at_host;
    else if (w->held) /* pages out scale the fetches; a burst of Kafka's is no trend */
        w->size *= at_host * HOSTWIN_GROW > aim ? aim / at_host : HOSTWIN_GROW;
    if (w->size < c)
        w->size = c;
    if (w->size > HOSTWIN_MAX_FACTOR * c)
        w->size = HOSTWIN_MAX_FACTOR * c;
    w->busy_ms = 0;
    w->from_ms = now_ms;
    w->held = 0;
}
