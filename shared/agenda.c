#include "agenda.h"

#include <stdio.h>
#include <stdlib.h>

int agenda_tick_check(int64_t tick_ms, char *errstr, size_t errstr_size)
{
    if (tick_ms < 1000 || tick_ms > 60000 || 60000 % tick_ms != 0) {
        snprintf(errstr, errstr_size,
                 "a cron minute must last 1s to 1m and divide a minute evenly (1s, 2s, 5s, ...)");
        return -1;
    }
    return 0;
}

/* The fast clock: scale times the real one (1 in production). */
static int64_t scale_of(const struct agenda_clock *k)
{
    return 60000 / k->tick_ms;
}

int64_t agenda_next(const struct agenda_rule *r, const struct agenda_clock *k, int64_t after_ms)
{
    int64_t scale = scale_of(k);
    if (after_ms > ((int64_t)1 << 56) / scale || after_ms < -((int64_t)1 << 56) / scale)
        return AGENDA_NONE;
    int64_t s = cron_next(&r->cron, r->tz, tz_floor_div(after_ms * scale, 1000));
    if (s == CRON_NONE)
        return AGENDA_NONE;
    /* Back to real ms, rounding up so the slot stays after after_ms when a
     * transition instant does not fall on a whole tick. */
    return tz_floor_div(s * 1000 + scale - 1, scale);
}

int64_t agenda_last(const struct agenda_rule *r, const struct agenda_clock *k, int64_t after_ms,
                    int64_t at_ms)
{
    int64_t first = agenda_next(r, k, after_ms);
    if (first > at_ms)
        return AGENDA_NONE;
    /* agenda_next is monotonic: find the last x with agenda_next(x) <= at_ms;
     * its answer is the last slot. Invariant: next(lo) <= at < next(hi). */
    int64_t lo = after_ms, hi = at_ms;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (agenda_next(r, k, mid) <= at_ms)
            lo = mid;
        else
            hi = mid;
    }
    return agenda_next(r, k, lo);
}

void agenda_decide(const struct agenda_rule *r, const struct agenda_clock *k, int64_t done_ms,
                   int64_t now_ms, struct agenda_decision *d)
{
    int64_t s = agenda_next(r, k, done_ms);
    d->fire_ms = AGENDA_NONE;
    d->done_ms = done_ms;
    d->missed = 0;
    if (s == AGENDA_NONE || s > now_ms) {
        d->wake_ms = s;
        return;
    }
    d->wake_ms = now_ms;
    if (now_ms - s <= k->misfire_ms) {
        d->fire_ms = d->done_ms = s;
        return;
    }
    /* Slots up to `cut` are missed; those after it are merely late and are
     * the next steps' business. */
    int64_t cut = now_ms - k->misfire_ms;
    d->missed = 1;
    if (r->catch_up == AGENDA_CATCH_UP_ONE) {
        d->fire_ms = agenda_last(r, k, done_ms, cut);
        d->done_ms = d->fire_ms;
    } else {
        d->done_ms = cut;
    }
}

/* ---- the heap ------------------------------------------------------------ */

static void swap(struct agenda_entry *a, struct agenda_entry *b)
{
    struct agenda_entry t = *a;
    *a = *b;
    *b = t;
}

void agenda_heap_push(struct agenda_heap *h, int64_t due_ms, uint64_t ref)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 256;
        h->e = realloc(h->e, h->cap * sizeof(*h->e));
        if (!h->e)
            abort();
    }
    size_t i = h->n++;
    h->e[i] = (struct agenda_entry){due_ms, ref};
    while (i > 0 && h->e[(i - 1) / 2].due_ms > h->e[i].due_ms) {
        swap(&h->e[(i - 1) / 2], &h->e[i]);
        i = (i - 1) / 2;
    }
}

const struct agenda_entry *agenda_heap_peek(const struct agenda_heap *h)
{
    return h->n ? &h->e[0] : NULL;
}

int agenda_heap_pop(struct agenda_heap *h, struct agenda_entry *out)
{
    if (!h->n)
        return -1;
    *out = h->e[0];
    h->e[0] = h->e[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < h->n && h->e[l].due_ms < h->e[m].due_ms)
            m = l;
        if (l + 1 < h->n && h->e[l + 1].due_ms < h->e[m].due_ms)
            m = l + 1;
        if (m == i)
            break;
        swap(&h->e[i], &h->e[m]);
        i = m;
    }
    return 0;
}

void agenda_heap_release(struct agenda_heap *h)
{
    free(h->e);
    h->e = NULL;
    h->n = h->cap = 0;
}
