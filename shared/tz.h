/*
 * tz — IANA time zones read from the system's tz database (TZif files,
 * RFC 8536), and the calendar arithmetic around them.
 *
 * Why our own reader and not localtime_r/mktime: libc's answer depends on the
 * process-global TZ (setenv + tzset), which one thread cannot change while
 * another converts, and mktime's handling of a nonexistent or repeated local
 * time is "some answer" rather than a contract. Here a zone is an immutable
 * value: load it once, share it between threads, ask it anything.
 *
 * A zone is a list of spans of UTC time, each with one offset. Transitions
 * come from the file's 64-bit data; past its last transition, from the POSIX
 * TZ rule in its footer (e.g. "CET-1CEST,M3.5.0,M10.5.0/3"), expanded up to
 * the year TZ_RULE_LAST_YEAR at load; later instants keep the offset in force
 * then. Transitions that change only the abbreviation or the DST flag (not
 * the offset) are merged away: cron cares about wall clocks only.
 *
 * Times are Unix seconds (int64); offsets are seconds east of UTC. "Local
 * seconds" is the wall-clock reading expressed as if it were UTC (utc +
 * offset), so the civil helpers below work on both.
 *
 * Files come from $TZDIR if set, else /usr/share/zoneinfo (Debian's tzdata).
 * Names are IANA names ("Europe/Berlin", "UTC"); anything else (paths with
 * "..", absolute paths, leap-second "right/" zones, non-TZif files) is
 * refused with a message.
 */
#ifndef FERRY_TZ_H
#define FERRY_TZ_H

#include <stddef.h>
#include <stdint.h>

#define TZ_RULE_LAST_YEAR 2500
#define TZ_NAME_MAX       128

struct tz;

/* One span of constant offset: [start, end) in UTC seconds (INT64_MIN /
 * INT64_MAX at the ends of time). `seen` is the supremum of the local times
 * that occurred before `start` (INT64_MIN for the first span): local times
 * in [seen, start + offset) never happened (a gap, clocks jumped forward);
 * local times below `seen` that recur in this span happened before (an
 * overlap, clocks went back). */
struct tz_span {
    int64_t start, end;
    int32_t offset;
    int64_t seen;
};

/* Loads and validates a zone. Returns a zone the caller frees with tz_free(),
 * or NULL with errstr ("unknown time zone 'Europe/Berln'"). */
struct tz *tz_load(const char *name, char *errstr, size_t errstr_size);

/* The same from the bytes of a TZif file (tests, embedded zones). */
struct tz *tz_parse(const char *name, const void *data, size_t len, char *errstr,
                    size_t errstr_size);

/* A shared zone from a process-wide cache: loaded on first use, kept for the
 * life of the process, never freed (do not tz_free it). Thread-safe; the
 * answers of two calls with one name are the same pointer. */
const struct tz *tz_get(const char *name, char *errstr, size_t errstr_size);

void tz_free(struct tz *tz);

/* The name it was loaded under. */
const char *tz_name(const struct tz *tz);

/* Offset (seconds east of UTC) in force at UTC second t. */
int32_t tz_offset(const struct tz *tz, int64_t t);

/* The span that contains UTC second t. */
void tz_span_at(const struct tz *tz, int64_t t, struct tz_span *out);

/* Proleptic Gregorian calendar on day numbers (days since 1970-01-01),
 * valid for any int32 year. month 1..12, day 1..31, weekday 0 = Sunday. */
int64_t tz_days_from_civil(int64_t year, int month, int day);
void tz_civil_from_days(int64_t days, int64_t *year, int *month, int *day);
int tz_weekday(int64_t days);
int tz_days_in_month(int64_t year, int month);

/* Floor division of t by d (d > 0): the day of a second is
 * tz_floor_div(t, 86400) also before 1970. */
int64_t tz_floor_div(int64_t t, int64_t d);

#endif
