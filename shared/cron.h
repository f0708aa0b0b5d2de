/*
 * cron — five-field cron expressions, and the next slot after an instant in
 * an IANA time zone.
 *
 * Syntax (Vixie cron's, as crontab(5) documents it, plus the usual
 * extensions):
 *
 *     minute hour day-of-month month day-of-week
 *     0-59   0-23 1-31         1-12  0-7 (0 and 7 are Sunday)
 *
 * Each field is a comma list of `*`, `N`, `N-M`, each optionally `/STEP`
 * (`N/STEP` means N up to the field's maximum). Months and days of the week
 * also take names (JAN..DEC, SUN..SAT, any case), in ranges too (MON-FRI).
 * `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and
 * `@hourly` stand for `0 0 1 1 *`, `0 0 1 * *`, `0 0 * * 0`, `0 0 * * *` and
 * `0 * * * *`. Errors name the field: "hour: 24 is out of range 0-23".
 *
 * Day of month and day of week combine as in Vixie cron: when both are
 * restricted, a day matches if EITHER does (`0 0 1 * MON` = the 1st and
 * every Monday); when either starts with `*`, both must match. "Starts with
 * `*`" is Vixie's test, so `*` / 2 counts as unrestricted there. An
 * expression that can never match (`0 0 30 FEB *`) is refused.
 *
 * Daylight saving, also as Vixie cron does it (cron(8), "Daylight Saving
 * Time"). A schedule is "wildcard" when its minute or hour field starts with
 * `*` (`*` / 5 * * * *, @hourly), else "fixed-time" (`30 2 * * *`):
 *
 *   - fixed-time: each local slot runs once. A slot that falls in a gap
 *     (clocks jump forward over it) runs at the first valid instant after
 *     the gap; a slot in a repeated hour (clocks go back) runs at its first
 *     occurrence only.
 *   - wildcard: slots follow elapsed time. Local times skipped by a gap do
 *     not run (nothing due was missed: the hour did not happen); a repeated
 *     hour runs again, so `*` / 5 keeps running every 5 minutes.
 *
 * Slots that land on the same instant (several skipped slots moved to the
 * end of one gap) are one slot: cron_next() answers instants.
 *
 * Times are Unix seconds; a struct cron is a plain value (copy it, share it
 * between threads).
 */
#ifndef FERRY_CRON_H
#define FERRY_CRON_H

#include <stddef.h>
#include <stdint.h>

#include "tz.h"

#define CRON_EXPR_MAX 256
#define CRON_NONE     INT64_MAX

enum {
    CRON_DOM_STAR = 1, /* the day-of-month field starts with '*' */
    CRON_DOW_STAR = 2, /* the day-of-week field starts with '*' */
    CRON_WILDCARD = 4, /* the minute or hour field starts with '*' */
};

struct cron {
    uint64_t minute; /* bit m: minute m (0..59) */
    uint32_t hour;   /* bit h: hour h (0..23) */
    uint32_t dom;    /* bit d: day d of the month (1..31) */
    uint16_t month;  /* bit m: month m (1..12) */
    uint8_t dow;     /* bit d: weekday d (0 = Sunday .. 6) */
    unsigned flags;
};

/* Parses expr. 0 ok, -1 with errstr naming the field and the fault. */
int cron_parse(struct cron *c, const char *expr, char *errstr, size_t errstr_size);

/* 1 when local wall-clock second `local` (utc + offset) is on a minute
 * boundary that the expression names, else 0. */
int cron_match(const struct cron *c, int64_t local);

/* The smallest matching wall-clock minute >= local, in local seconds, or
 * CRON_NONE (only for instants past year 10^12 or so). */
int64_t cron_next_local(const struct cron *c, int64_t local);

/* The first instant (UTC second) strictly after `after` at which the
 * schedule fires in zone tz, daylight saving applied as above; CRON_NONE if
 * there is none. */
int64_t cron_next(const struct cron *c, const struct tz *tz, int64_t after);

#endif
