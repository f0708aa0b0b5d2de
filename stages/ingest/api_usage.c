/* GET /v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD: the tenant's usage per UTC
 * day (batches, items, succeeded, failed, credits, webhooks_delivered) and
 * the range's total, from the usage table (usage.h). `to` defaults to
 * today, `from` to 29 days before `to`; every day of the range is listed,
 * zeros included, at most USAGE_MAX_DAYS of them. */
#include <stdio.h>

#include "api.h"
#include "clock.h"

static int bad_date(struct httpd_resp *resp, const char *field, const char *why)
{
    char msg[200];
    snprintf(msg, sizeof(msg), "%s: %s", field, why);
    httpd_error(resp, 422, "invalid_field", msg, json_pack("{s:s}", "field", field));
    return -1;
}

static int date_param(const struct httpd_req *req, struct httpd_resp *resp, const char *name,
                      int64_t fallback, int64_t *days)
{
    const char *v = httpd_query(req, name);
    *days = fallback;
    if (v && usagerec_parse_date(v, days))
        return bad_date(resp, name, "must be a date as YYYY-MM-DD (UTC)");
    return 0;
}

static void h_usage(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                    const char *tenant)
{
    int64_t today = clk_now_ms() / 86400000, from, to;
    if (date_param(req, resp, "to", today, &to) || date_param(req, resp, "from", to - 29, &from))
        return;
    if (from > to) {
        bad_date(resp, "from", "must not be after to");
        return;
    }
    if (to - from >= USAGE_MAX_DAYS) {
        char why[80];
        snprintf(why, sizeof(why), "the range may span at most %d days", USAGE_MAX_DAYS);
        bad_date(resp, "from", why);
        return;
    }
    json_t *out = usage_report(a->usage, tenant, from, to);
    httpd_json_doc(resp, 200, out);
    json_decref(out);
}

const struct api_route api_usage_routes[] = {
    /* A lookup per day in memory: answered on the I/O worker. */
    {"GET", "/v1/usage", "usage", h_usage, 0, httpd_never_blocks},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
