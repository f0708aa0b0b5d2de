#include "tz.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A TZif file of the real database is a few KiB; anything past this is not
 * one, and reading it would only cost memory. */
#define TZ_FILE_MAX (1 << 20)
/* Real offsets stay within +-26 h (RFC 8536 allows more only in theory). */
#define TZ_OFFSET_MAX (26 * 3600)

struct tz {
    struct tz *next; /* tz_get's cache list */
    char name[TZ_NAME_MAX + 1];
    int32_t off0; /* offset before the first transition */
    size_t n;     /* transitions, offsets differ from one to the next */
    int64_t *at;  /* UTC second of each transition, ascending */
    int32_t *off; /* offset from at[i] on */
    int64_t *seen;
};

/* ---- civil calendar (Howard Hinnant's days_from_civil) ----------------- */

int64_t tz_floor_div(int64_t t, int64_t d)
{
    int64_t q = t / d;
    return (t % d != 0 && (t < 0)) ? q - 1 : q;
}

int64_t tz_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = tz_floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t z, int64_t *year, int *month, int *day)
{
    z += 719468;
    int64_t era = tz_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (m <= 2);
    *month = m;
    *day = d;
}

int tz_weekday(int64_t days)
{
    /* 1970-01-01 was a Thursday (4). */
    int64_t r = (days + 4) % 7;
    return (int)(r < 0 ? r + 7 : r);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int tz_days_in_month(int64_t y, int m)
{
    static const int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

/* ---- POSIX TZ footer: "std offset [dst [offset] [,start[/time],end[/time]]]" */

struct rule_date {
    char kind; /* 'J' (1..365, no Feb 29), 'n' (0..365), 'M' (month.week.day) */
    int a, b, c;
    int32_t time; /* local seconds after midnight, may be negative or > 24 h */
};

struct posix_tz {
    int32_t std_off, dst_off; /* seconds east of UTC */
    int has_dst;
    struct rule_date start, end;
};

static int parse_num(const char **p, int lo, int hi, int *out)
{
    const char *s = *p;
    int v = 0, digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 4) {
        v = v * 10 + (*s++ - '0');
        digits++;
    }
    if (!digits || v < lo || v > hi)
        return -1;
    *p = s;
    *out = v;
    return 0;
}

/* [+|-]hh[:mm[:ss]] in seconds; hours up to max_h. */
static int parse_hms(const char **p, int max_h, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (**p == '+' || **p == '-')
        sign = *(*p)++ == '-' ? -1 : 1;
    if (parse_num(p, 0, max_h, &h))
        return -1;
    if (**p == ':') {
        (*p)++;
        if (parse_num(p, 0, 59, &m))
            return -1;
        if (**p == ':') {
            (*p)++;
            if (parse_num(p, 0, 59, &s))
                return -1;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return 0;
}

static int parse_abbr(const char **p)
{
    const char *s = *p;
    if (*s == '<') {
        for (s++; *s && *s != '>'; s++)
            if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                  (*s >= '0' && *s <= '9') || *s == '+' || *s == '-'))
                return -1;
        if (*s != '>' || s - *p < 4)
            return -1;
        *p = s + 1;
        return 0;
    }
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
        s++;
    if (s - *p < 3)
        return -1;
    *p = s;
    return 0;
}

static int parse_rule_date(const char **p, struct rule_date *d)
{
    if (**p == 'J') {
        (*p)++;
        d->kind = 'J';
        if (parse_num(p, 1, 365, &d->a))
            return -1;
    } else if (**p == 'M') {
        (*p)++;
        d->kind = 'M';
        if (parse_num(p, 1, 12, &d->a) || *(*p)++ != '.' || parse_num(p, 1, 5, &d->b) ||
            *(*p)++ != '.' || parse_num(p, 0, 6, &d->c))
            return -1;
    } else {
        d->kind = 'n';
        if (parse_num(p, 0, 365, &d->a))
            return -1;
    }
    d->time = 7200; /* POSIX's default: 02:00 */
    if (**p == '/') {
        (*p)++;
        /* RFC 8536 3.3.1 extends the hours to -167..167. */
        if (parse_hms(p, 167, &d->time))
            return -1;
    }
    return 0;
}

static int parse_posix_tz(const char *s, struct posix_tz *tz)
{
    int32_t v;
    memset(tz, 0, sizeof(*tz));
    if (parse_abbr(&s) || parse_hms(&s, 24, &v))
        return -1;
    tz->std_off = -v; /* POSIX counts west of UTC as positive */
    if (*s == '\0')
        return 0;
    if (parse_abbr(&s))
        return -1;
    tz->has_dst = 1;
    tz->dst_off = tz->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (parse_hms(&s, 24, &v))
            return -1;
        tz->dst_off = -v;
    }
    /* RFC 8536 footers always carry the rule when there is DST. */
    if (*s++ != ',' || parse_rule_date(&s, &tz->start) || *s++ != ',' ||
        parse_rule_date(&s, &tz->end) || *s != '\0')
        return -1;
    return 0;
}

/* The UTC second at which rule date d of year y happens, given the offset in
 * force just before it. */
static int64_t rule_instant(const struct rule_date *d, int64_t y, int32_t off_before)
{
    int64_t day;
    if (d->kind == 'J') {
        day = tz_days_from_civil(y, 1, 1) + d->a - 1 + (is_leap(y) && d->a >= 60);
    } else if (d->kind == 'n') {
        day = tz_days_from_civil(y, 1, 1) + d->a;
    } else {
        int64_t first = tz_days_from_civil(y, d->a, 1);
        day = first + (d->c - tz_weekday(first) + 7) % 7 + (int64_t)(d->b - 1) * 7;
        while (day >= first + tz_days_in_month(y, d->a))
            day -= 7; /* week 5 means "the last" */
    }
    return day * 86400 + d->time - off_before;
}

/* ---- building a zone ---------------------------------------------------- */

struct builder {
    int64_t *at;
    int32_t *off;
    size_t n, cap;
};

/* Appends a transition; one at the same instant as the last replaces its
 * offset (a rule whose DST ends and restarts at one instant: permanent DST). */
static void builder_push(struct builder *b, int64_t at, int32_t off)
{
    if (b->n && at < b->at[b->n - 1])
        return;
    if (b->n && at == b->at[b->n - 1]) {
        b->off[b->n - 1] = off;
        return;
    }
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->at = realloc(b->at, b->cap * sizeof(*b->at));
        b->off = realloc(b->off, b->cap * sizeof(*b->off));
        if (!b->at || !b->off)
            abort();
    }
    b->at[b->n] = at;
    b->off[b->n] = off;
    b->n++;
}

static void expand_rule(struct builder *b, const struct posix_tz *p, int32_t last_off)
{
    int64_t from_year = 1900;
    if (b->n) {
        int m, d;
        tz_civil_from_days(tz_floor_div(b->at[b->n - 1] + last_off, 86400), &from_year, &m, &d);
    }
    /* Without DST the rule is the offset of the last transition (RFC 8536
     * requires the two to agree): nothing to add. */
    if (!p->has_dst)
        return;
    int64_t last = b->n ? b->at[b->n - 1] : INT64_MIN;
    for (int64_t y = from_year; y <= TZ_RULE_LAST_YEAR; y++) {
        int64_t s = rule_instant(&p->start, y, p->std_off);
        int64_t e = rule_instant(&p->end, y, p->dst_off);
        int64_t t1 = s < e ? s : e, t2 = s < e ? e : s;
        int32_t o1 = s < e ? p->dst_off : p->std_off, o2 = s < e ? p->std_off : p->dst_off;
        if (t1 > last)
            builder_push(b, t1, o1);
        if (t2 > last)
            builder_push(b, t2, o2);
    }
}

/* Drops transitions that do not change the offset, computes `seen`, and
 * moves the result into one allocation owned by a new zone. */
static struct tz *zone_finish(const char *name, int32_t off0, struct builder *b)
{
    size_t n = 0;
    int32_t cur = off0;
    for (size_t i = 0; i < b->n; i++) {
        if (b->off[i] == cur)
            continue;
        b->at[n] = b->at[i];
        b->off[n] = b->off[i];
        cur = b->off[i];
        n++;
    }
    struct tz *tz = calloc(1, sizeof(*tz) + n * (2 * sizeof(int64_t) + sizeof(int32_t)));
    if (!tz)
        abort();
    snprintf(tz->name, sizeof(tz->name), "%s", name);
    tz->off0 = off0;
    tz->n = n;
    tz->at = (int64_t *)(tz + 1);
    tz->seen = tz->at + n;
    tz->off = (int32_t *)(tz->seen + n);
    int64_t seen = INT64_MIN;
    int32_t prev = off0;
    for (size_t i = 0; i < n; i++) {
        int64_t end_local = b->at[i] + prev;
        seen = end_local > seen ? end_local : seen;
        tz->at[i] = b->at[i];
        tz->off[i] = b->off[i];
        tz->seen[i] = seen;
        prev = b->off[i];
    }
    free(b->at);
    free(b->off);
    b->at = NULL;
    b->off = NULL;
    return tz;
}

/* ---- TZif (RFC 8536) ------------------------------------------------------ */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_hdr {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

/* Reads the header at p; returns the size of the data block that follows
 * (time_size: 4 for v1 data, 8 for v2+), or 0 if invalid. */
static size_t tzif_header(const unsigned char *p, size_t len, size_t time_size, struct tzif_hdr *h)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return 0;
    h->version = (char)p[4];
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 || h->timecnt > 100000 ||
        h->leapcnt > 100000 || h->charcnt > 100000 || (h->isutcnt && h->isutcnt != h->typecnt) ||
        (h->isstdcnt && h->isstdcnt != h->typecnt))
        return 0;
    size_t size = (size_t)h->timecnt * (time_size + 1) + (size_t)h->typecnt * 6 + h->charcnt +
                  (size_t)h->leapcnt * (time_size + 4) + h->isstdcnt + h->isutcnt;
    return 44 + size <= len ? size : 0;
}

struct tz *tz_parse(const char *name, const void *data, size_t len, char *errstr,
                    size_t errstr_size)
{
    const unsigned char *p = data;
    struct tzif_hdr h;
    struct builder b = {0};
    struct tz *tz = NULL;
    size_t size = tzif_header(p, len, 4, &h);
    size_t time_size = 4;

    if (!size)
        goto bad;
    if (h.version >= '2') {
        /* Skip the 32-bit block: the 64-bit one after it is authoritative. */
        p += 44 + size;
        len -= 44 + size;
        time_size = 8;
        if (!(size = tzif_header(p, len, 8, &h)))
            goto bad;
    }
    if (h.leapcnt) {
        snprintf(errstr, errstr_size, "time zone '%s' counts leap seconds (a \"right/\" zone)",
                 name);
        return NULL;
    }
    const unsigned char *times = p + 44;
    const unsigned char *idx = times + (size_t)h.timecnt * time_size;
    const unsigned char *types = idx + h.timecnt;
    int32_t offs[256];
    for (uint32_t i = 0; i < h.typecnt; i++) {
        int32_t o = (int32_t)be32(types + 6 * i);
        if (o < -TZ_OFFSET_MAX || o > TZ_OFFSET_MAX || types[6 * i + 4] > 1 ||
            types[6 * i + 5] >= h.charcnt)
            goto bad;
        offs[i] = o;
    }
    int64_t prev = INT64_MIN;
    for (uint32_t i = 0; i < h.timecnt; i++) {
        int64_t t = time_size == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        if ((i && t <= prev) || idx[i] >= h.typecnt)
            goto bad;
        builder_push(&b, t, offs[idx[i]]);
        prev = t;
    }
    if (h.version >= '2') {
        /* The footer: "\n" POSIX-TZ "\n"; an empty TZ means "no rule". */
        const char *f = (const char *)p + 44 + size;
        size_t flen = len - 44 - size;
        const char *nl = flen > 1 && f[0] == '\n' ? memchr(f + 1, '\n', flen - 1) : NULL;
        char rule[256];
        struct posix_tz ptz;
        if (!nl || (size_t)(nl - f - 1) >= sizeof(rule))
            goto bad;
        memcpy(rule, f + 1, (size_t)(nl - f - 1));
        rule[nl - f - 1] = '\0';
        if (rule[0]) {
            if (parse_posix_tz(rule, &ptz)) {
                snprintf(errstr, errstr_size, "time zone '%s': unsupported rule '%s'", name, rule);
                goto out;
            }
            expand_rule(&b, &ptz, b.n ? b.off[b.n - 1] : offs[0]);
        }
    }
    tz = zone_finish(name, offs[0], &b);
    goto out;
bad:
    snprintf(errstr, errstr_size, "time zone '%s': not a valid TZif file", name);
out:
    free(b.at);
    free(b.off);
    return tz;
}

/* IANA names: components of letters, digits and "_+-", no "." or ".."
 * components, no absolute paths, nothing outside the tz directory. */
static int name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > TZ_NAME_MAX || strcmp(name, "localtime") == 0)
        return 0;
    for (const char *c = name; *c; c++) {
        int start = c == name || c[-1] == '/';
        if (*c == '/' && (start || c[1] == '\0'))
            return 0;
        if (start && (*c == '.' || *c == '-'))
            return 0;
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '/' || *c == '_' || *c == '+' || *c == '-' || *c == '.'))
            return 0;
    }
    return 1;
}

struct tz *tz_load(const char *name, char *errstr, size_t errstr_size)
{
    const char *dir = getenv("TZDIR");
    char path[4096];
    struct stat st;
    unsigned char *data = NULL;
    struct tz *tz = NULL;
    int fd = -1;

    if (!name_ok(name)) {
        snprintf(errstr, errstr_size, "'%.*s' is not an IANA time zone name", TZ_NAME_MAX, name);
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        snprintf(errstr, errstr_size, "unknown time zone '%s'", name);
        goto out;
    }
    if (st.st_size > TZ_FILE_MAX) {
        snprintf(errstr, errstr_size, "time zone '%s': not a valid TZif file", name);
        goto out;
    }
    size_t len = (size_t)st.st_size, got = 0;
    data = malloc(len ? len : 1);
    if (!data)
        abort();
    while (got < len) {
        ssize_t r = read(fd, data + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(errstr, errstr_size, "time zone '%s': %s", name,
                     r < 0 ? strerror(errno) : "file shrank while read");
            goto out;
        }
        got += (size_t)r;
    }
    tz = tz_parse(name, data, len, errstr, errstr_size);
out:
    if (fd >= 0)
        close(fd);
    free(data);
    return tz;
}

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz *cache; /* never freed: tz_get's answers live as long as the process */

const struct tz *tz_get(const char *name, char *errstr, size_t errstr_size)
{
    struct tz *tz;
    pthread_mutex_lock(&cache_lock);
    for (tz = cache; tz; tz = tz->next)
        if (strcmp(tz->name, name) == 0)
            goto out;
    /* Loading under the lock: it happens once per zone, and two threads
     * asking for one new zone then load it once. */
    tz = tz_load(name, errstr, errstr_size);
    if (tz) {
        tz->next = cache;
        cache = tz;
    }
out:
    pthread_mutex_unlock(&cache_lock);
    return tz;
}

void tz_free(struct tz *tz)
{
    free(tz);
}

const char *tz_name(const struct tz *tz)
{
    return tz->name;
}

/* Index of the last transition at or before t, or -1. */
static long find(const struct tz *tz, int64_t t)
{
    long lo = 0, hi = (long)tz->n - 1, ans = -1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= t) {
            ans = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return ans;
}

int32_t tz_offset(const struct tz *tz, int64_t t)
{
    long i = find(tz, t);
    return i < 0 ? tz->off0 : tz->off[i];
}

void tz_span_at(const struct tz *tz, int64_t t, struct tz_span *out)
{
    long i = find(tz, t);
    out->start = i < 0 ? INT64_MIN : tz->at[i];
    out->end = (size_t)(i + 1) < tz->n ? tz->at[i + 1] : INT64_MAX;
    out->offset = i < 0 ? tz->off0 : tz->off[i];
    out->seen = i < 0 ? INT64_MIN : tz->seen[i];
}
