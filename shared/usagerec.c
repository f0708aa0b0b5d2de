#include "usagerec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "jx.h"
#include "schema.h"
#include "tz.h"

void usage_counts_add(struct usage_counts *a, const struct usage_counts *b)
{
#define X(name) a->name += b->name;
    USAGE_FIELDS(X)
#undef X
}

void usagerec_format_days(int64_t days, char out[USAGEREC_DATE_LEN])
{
    int64_t y;
    int m, d;
    tz_civil_from_days(days, &y, &m, &d);
    /* Years past 9999 do not fit the format; no clock gets there. */
    snprintf(out, USAGEREC_DATE_LEN, "%04u-%02u-%02u", (unsigned)(y % 10000) % 10000u,
             (unsigned)m % 100u, (unsigned)d % 100u);
}

void usagerec_date(int64_t epoch_ms, char out[USAGEREC_DATE_LEN])
{
    int64_t days = epoch_ms / 86400000;
    if (epoch_ms < 0 && epoch_ms % 86400000)
        days--;
    usagerec_format_days(days, out);
}

int usagerec_parse_date(const char *text, int64_t *days)
{
    int y, m, d;
    char tail;
    if (!text || strlen(text) != 10 || text[4] != '-' || text[7] != '-' ||
        sscanf(text, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
            return -1;
    if (m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    int64_t n = tz_days_from_civil(y, m, d);
    /* 2026-02-30 would come back as March: not a date. */
    int64_t yy;
    int mm, dd;
    tz_civil_from_days(n, &yy, &mm, &dd);
    if (yy != y || mm != m || dd != d)
        return -1;
    *days = n;
    return 0;
}

void usagerec_key(const struct usagerec *r, char out[USAGEREC_KEY_MAX])
{
    snprintf(out, USAGEREC_KEY_MAX, "%s/%d/%s", r->date, (int)r->partition, r->tenant);
}

char *usagerec_json(const struct usagerec *r, int64_t now_ms, size_t *len)
{
    char at[CLK_ISO_LEN];
    struct buf b = BUF_INIT(BUF_NO_MAX);
    clk_iso8601(now_ms, at);
    buf_addf(&b, "{\"" SCHEMA_VERSION_KEY "\":%d,\"tenant\":", SCHEMA_USAGE);
    jx_add_strz(&b, r->tenant);
    buf_addf(&b, ",\"date\":\"%s\",\"partition\":%d", r->date, (int)r->partition);
#define X(name) buf_addf(&b, ",\"" #name "\":%lld", r->c.name);
    USAGE_FIELDS(X)
#undef X
    buf_addf(&b, ",\"updated_at\":\"%s\"}", at);
    return buf_detach(&b, len);
}

int usagerec_parse(struct usagerec *r, const char *json, size_t len)
{
    int64_t days;
    int rc = -1;
    json_t *v = jx_parse(json, len, 4, NULL, 0);
    const char *tenant = jx_str(v, "tenant", NULL), *date = jx_str(v, "date", NULL);
    const json_t *part = json_object_get(v, "partition");
    memset(r, 0, sizeof(*r));
    char why[96];
    if (!tenant || !date || !json_is_integer(part) || strlen(tenant) >= sizeof(r->tenant) ||
        usagerec_parse_date(date, &days) ||
        schema_check(jx_int(v, SCHEMA_VERSION_KEY, 1), SCHEMA_USAGE, why, sizeof(why)))
        goto out;
    snprintf(r->tenant, sizeof(r->tenant), "%s", tenant);
    snprintf(r->date, sizeof(r->date), "%s", date);
    r->partition = (int32_t)json_integer_value(part);
#define X(name) r->c.name = jx_int(v, #name, 0);
    USAGE_FIELDS(X)
#undef X
    rc = 0;
out:
    json_decref(v);
    return rc;
}
