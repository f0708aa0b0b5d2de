#include "cron.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct field {
    const char *name;
    int lo, hi;
    const char *const *names; /* names[i] stands for lo + i */
    int n_names;
};

static const struct field fields[5] = {
    {"minute", 0, 59, NULL, 0},          {"hour", 0, 23, NULL, 0},
    {"day-of-month", 1, 31, NULL, 0},    {"month", 1, 12, month_names, 12},
    {"day-of-week", 0, 7, dow_names, 7},
};

static const struct {
    const char *name, *expr;
} shortcuts[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* Reads a number or a name at *p. 0 ok, -1 with errstr. */
static int parse_value(const struct field *f, const char **p, int *out, char *errstr,
                       size_t errstr_size)
{
    const char *s = *p;
    if (*s >= '0' && *s <= '9') {
        long v = 0;
        while (*s >= '0' && *s <= '9') {
            if (v < 100000)
                v = v * 10 + (*s - '0');
            s++;
        }
        if (v < f->lo || v > f->hi) {
            snprintf(errstr, errstr_size, "%s: %.*s is out of range %d-%d", f->name,
                     (int)(s - *p > 12 ? 12 : s - *p), *p, f->lo, f->hi);
            return -1;
        }
        *out = (int)v;
        *p = s;
        return 0;
    }
    const char *e = s;
    while ((*e >= 'A' && *e <= 'Z') || (*e >= 'a' && *e <= 'z'))
        e++;
    if (e == s) {
        snprintf(errstr, errstr_size, "%s: expected a number%s, found '%.12s'", f->name,
                 f->names ? " or a name" : "", s);
        return -1;
    }
    for (int i = 0; i < f->n_names; i++)
        if (e - s == 3 && strncasecmp(s, f->names[i], 3) == 0) {
            *out = f->lo + i;
            *p = e;
            return 0;
        }
    if (f->names)
        snprintf(errstr, errstr_size, "%s: unknown name '%.*s' (use %s..%s)", f->name,
                 (int)(e - s > 12 ? 12 : e - s), s, f->names[0], f->names[f->n_names - 1]);
    else
        snprintf(errstr, errstr_size, "%s: expected a number, found '%.*s'", f->name,
                 (int)(e - s > 12 ? 12 : e - s), s);
    return -1;
}

/* One field's text (no spaces) into a bit set. */
static int parse_field(const struct field *f, const char *text, uint64_t *bits, char *errstr,
                       size_t errstr_size)
{
    const char *p = text;
    *bits = 0;
    for (;;) {
        int a, b, step = 1, single = 0;
        if (*p == '*') {
            a = f->lo;
            b = f->hi;
            p++;
        } else {
            if (*p == ',' || *p == '\0') {
                snprintf(errstr, errstr_size, "%s: empty element in '%s'", f->name, text);
                return -1;
            }
            if (parse_value(f, &p, &a, errstr, errstr_size))
                return -1;
            b = a;
            single = *p != '-';
            if (*p == '-') {
                p++;
                if (parse_value(f, &p, &b, errstr, errstr_size))
                    return -1;
                if (b < a) {
                    snprintf(errstr, errstr_size, "%s: range %d-%d runs backwards", f->name, a, b);
                    return -1;
                }
            }
        }
        if (*p == '/') {
            const char *s = ++p;
            long v = 0;
            while (*p >= '0' && *p <= '9') {
                if (v < 100000)
                    v = v * 10 + (*p - '0');
                p++;
            }
            if (p == s || v < 1 || v > f->hi - f->lo + 1) {
                snprintf(errstr, errstr_size, "%s: step '%.*s' is not a number from 1 to %d",
                         f->name, (int)(p - s > 12 ? 12 : p - s), s, f->hi - f->lo + 1);
                return -1;
            }
            step = (int)v;
            if (single)
                b = f->hi; /* "N/STEP": from N to the end of the range */
        }
        for (int v = a; v <= b; v += step)
            *bits |= 1ULL << v;
        if (*p == '\0')
            return 0;
        if (*p != ',') {
            snprintf(errstr, errstr_size, "%s: unexpected '%c' in '%s'", f->name, *p, text);
            return -1;
        }
        p++;
    }
}

static int next_bit(uint64_t mask, int from)
{
    uint64_t m = from >= 64 ? 0 : mask >> from;
    return m ? from + __builtin_ctzll(m) : -1;
}

static int day_ok(const struct cron *c, int64_t days, int dom)
{
    int by_dom = c->dom >> dom & 1, by_dow = c->dow >> tz_weekday(days) & 1;
    if (c->flags & (CRON_DOM_STAR | CRON_DOW_STAR))
        return by_dom && by_dow;
    return by_dom || by_dow;
}

int cron_match(const struct cron *c, int64_t local)
{
    if (tz_floor_div(local, 60) * 60 != local)
        return 0;
    int64_t days = tz_floor_div(local, 86400), y;
    int secs = (int)(local - days * 86400), month, dom;
    tz_civil_from_days(days, &y, &month, &dom);
    return (c->minute >> (secs / 60 % 60) & 1) && (c->hour >> (secs / 3600) & 1) &&
           (c->month >> month & 1) && day_ok(c, days, dom);
}

/* Beyond this, local seconds + offsets and day numbers would need care with
 * overflow; no schedule lives that long. */
#define CRON_TIME_MAX ((int64_t)1 << 50)

/* Searches at most this many years ahead: the Gregorian calendar repeats
 * every 400 years, so a day that matches nowhere in them matches never. */
#define CRON_HORIZON_YEARS 401

int64_t cron_next_local(const struct cron *c, int64_t local)
{
    if (local > CRON_TIME_MAX || local < -CRON_TIME_MAX)
        return CRON_NONE;
    int64_t minutes = tz_floor_div(local + 59, 60);
    int64_t days = tz_floor_div(minutes, 1440), y;
    int hour = (int)(minutes - days * 1440) / 60, minute = (int)(minutes - days * 1440) % 60;
    int month, dom;
    tz_civil_from_days(days, &y, &month, &dom);
    int64_t last_year = y + CRON_HORIZON_YEARS;

    while (y <= last_year) {
        if (!(c->month >> month & 1)) {
            int m = next_bit(c->month, month + 1);
            if (m < 0) {
                y++;
                m = next_bit(c->month, 1);
            }
            month = m;
            dom = 1;
            hour = minute = 0;
            continue;
        }
        int h = -1, mi = -1;
        if (day_ok(c, tz_days_from_civil(y, month, dom), dom)) {
            h = next_bit(c->hour, hour);
            if (h >= 0 && h != hour)
                minute = 0;
            if (h >= 0 && (mi = next_bit(c->minute, minute)) < 0) {
                /* No minute left in this hour: the next matching hour. */
                h = next_bit(c->hour, h + 1);
                mi = h >= 0 ? next_bit(c->minute, 0) : -1;
            }
        }
        if (h >= 0 && mi >= 0)
            return (tz_days_from_civil(y, month, dom) * 1440 + h * 60 + mi) * 60;
        /* Nothing left today: the next day. */
        hour = minute = 0;
        if (++dom > tz_days_in_month(y, month)) {
            dom = 1;
            if (++month > 12) {
                month = 1;
                y++;
            }
        }
    }
    return CRON_NONE;
}

int64_t cron_next(const struct cron *c, const struct tz *tz, int64_t after)
{
    int fixed = !(c->flags & CRON_WILDCARD);
    struct tz_span sp;

    if (after >= CRON_TIME_MAX || after < -CRON_TIME_MAX)
        return CRON_NONE;
    int64_t u = after + 1;
    tz_span_at(tz, u, &sp);
    /* One span of constant offset at a time: its slots are its local times
     * that match, mapped back by its offset. The spans of 400 years are far
     * fewer than this bound; it only stops a runaway loop. */
    for (int spans = 0; spans < 4096; spans++) {
        int64_t lo = u + sp.offset, l; /* u is in this span */
        if (fixed && sp.start >= u && sp.start + sp.offset > sp.seen) {
            /* A gap opens this span: local times [seen, start + offset)
             * never happen; a fixed-time slot among them runs now. */
            l = cron_next_local(c, sp.seen);
            if (l < sp.start + sp.offset)
                return sp.start;
        }
        /* Fixed-time slots already had their turn in an earlier span. */
        if (fixed && sp.seen > lo)
            lo = sp.seen;
        l = cron_next_local(c, lo);
        if (l != CRON_NONE && (sp.end == INT64_MAX || l - sp.offset < sp.end))
            return l - sp.offset;
        if (sp.end == INT64_MAX)
            return CRON_NONE;
        u = sp.end;
        tz_span_at(tz, u, &sp);
    }
    return CRON_NONE;
}

/* Splits expr into exactly five fields (copied into f, NUL-terminated). */
static int split_fields(const char *expr, char f[5][CRON_EXPR_MAX + 1], char *errstr,
                        size_t errstr_size)
{
    int n = 0;
    const char *p = expr;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        const char *s = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (n < 5)
            snprintf(f[n], CRON_EXPR_MAX + 1, "%.*s", (int)(p - s), s);
        n++;
    }
    if (n != 5) {
        snprintf(errstr, errstr_size,
                 "expected 5 fields (minute hour day-of-month month day-of-week), found %d", n);
        return -1;
    }
    return 0;
}

int cron_parse(struct cron *c, const char *expr, char *errstr, size_t errstr_size)
{
    char f[5][CRON_EXPR_MAX + 1];
    uint64_t bits[5];

    memset(c, 0, sizeof(*c));
    if (strlen(expr) > CRON_EXPR_MAX) {
        snprintf(errstr, errstr_size, "cron expression longer than %d characters", CRON_EXPR_MAX);
        return -1;
    }
    while (*expr == ' ' || *expr == '\t')
        expr++;
    if (*expr == '@') {
        size_t len = strcspn(expr, " \t");
        const char *rest = expr + len + strspn(expr + len, " \t");
        for (size_t i = 0; i < sizeof(shortcuts) / sizeof(shortcuts[0]); i++)
            if (strlen(shortcuts[i].name) == len &&
                strncasecmp(expr, shortcuts[i].name, len) == 0) {
                if (*rest) {
                    snprintf(errstr, errstr_size, "%s takes no fields after it", shortcuts[i].name);
                    return -1;
                }
                return cron_parse(c, shortcuts[i].expr, errstr, errstr_size);
            }
        snprintf(errstr, errstr_size,
                 "unknown shortcut '%.*s' (use @yearly, @annually, @monthly, @weekly, @daily, "
                 "@midnight or @hourly)",
                 (int)(len > 16 ? 16 : len), expr);
        return -1;
    }
    if (split_fields(expr, f, errstr, errstr_size))
        return -1;
    for (int i = 0; i < 5; i++)
        if (parse_field(&fields[i], f[i], &bits[i], errstr, errstr_size))
            return -1;
    c->minute = bits[0];
    c->hour = (uint32_t)bits[1];
    c->dom = (uint32_t)bits[2];
    c->month = (uint16_t)bits[3];
    c->dow = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f); /* 7 is Sunday too */
    c->flags = (f[2][0] == '*' ? CRON_DOM_STAR : 0) | (f[4][0] == '*' ? CRON_DOW_STAR : 0) |
               (f[0][0] == '*' || f[1][0] == '*' ? CRON_WILDCARD : 0);
    /* Only a day-of-month that no chosen month has can make it match
     * nothing (30 FEB): a restricted day of week always has days. */
    if (cron_next_local(c, 0) == CRON_NONE) {
        snprintf(errstr, errstr_size,
                 "day-of-month: no day '%s' exists in the month(s) '%s', so it never runs", f[2],
                 f[3]);
        return -1;
    }
    return 0;
}
