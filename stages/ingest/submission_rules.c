/* The extraction a submit asks for: "extract" (a user's rules) or
 * "endpoint" (a profile whose items are its parameters). Checked here, at
 * submit, so a malformed selector or a bad parameter is a 422 naming the
 * field, never a failed item later (submission.h). */
#include "submission.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "profile.h"
#include "url.h"
#include "xrules.h"
#include "xspec.h"

static int rules_fail(struct submission_err *err, const char *field, long index, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
static int rules_fail(struct submission_err *err, const char *field, long index, const char *fmt,
                      ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    err->status = 422;
    snprintf(err->code, sizeof(err->code), "invalid_field");
    snprintf(err->field, sizeof(err->field), "%s", field);
    err->index = index;
    snprintf(err->message, sizeof(err->message), "%s: %s", field, why);
    return -1;
}

/* A user's spec: compiled once here to find its errors (scrape compiles it
 * again, once per batch), and known by its hash. */
static int check_extract(struct submission *b, json_t *spec, struct submission_err *err)
{
    if (!json_is_object(spec))
        return rules_fail(err, "extract", -1, "must be an object with fields");
    size_t len;
    char *text = jx_dump(spec, &len);
    free(text);
    if (!text || len > XRULES_SPEC_MAX)
        return rules_fail(err, "extract", -1, "is larger than %d KiB", XRULES_SPEC_MAX / 1024);
    char why[300];
    struct xspec *x = xspec_compile(spec, why, sizeof(why));
    if (!x) {
        /* "fields.price.selector: position 7: expected ']'": the member is
         * what comes before the first ": ". */
        char field[96];
        const char *colon = strstr(why, ": ");
        int n = colon ? (int)(colon - why) : 0;
        snprintf(field, sizeof(field), n ? "extract.%.*s" : "extract", n, why);
        return rules_fail(err, field, -1, "%s", colon ? colon + 2 : why);
    }
    xspec_free(x);
    if (xrules_spec_hash(spec, b->extract_hash))
        return rules_fail(err, "extract", -1, "cannot be written out");
    b->extract = json_incref(spec);
    return 0;
}

/* An endpoint batch's items: each checked against the profile's parameters
 * and expanded into what scrape fetches. */
static int check_endpoint(struct submission *b, const struct profiles *ps, json_t *name,
                          const struct submission_limits *lim, struct submission_err *err)
{
    if (!json_is_string(name) || !(b->profile = profiles_get(ps, json_string_value(name)))) {
        char known[400] = "";
        size_t off = 0;
        for (size_t i = 0; i < profiles_count(ps) && off < sizeof(known); i++)
            off += (size_t)snprintf(known + off, sizeof(known) - off, "%s%s", i ? ", " : "",
                                    profiles_at(ps, i)->name);
        return rules_fail(err, "endpoint", -1, "unknown endpoint (%s)", known);
    }
    if (b->urls)
        return rules_fail(err, "urls", -1,
                          "an endpoint batch takes items (each the profile's parameters)");
    json_t *f = json_object_get(b->root, "formats");
    if (f && !json_is_null(f))
        return rules_fail(err, "formats", -1,
                          "an endpoint's data is the profile's fields; formats do not apply");
    size_t n = b->items ? json_array_size(b->items) : 0;
    if (n == 0)
        return rules_fail(err, "items", -1, "at least one item is required");
    if ((long long)n > lim->max_items)
        return rules_fail(err, "items", -1, "too many items for one batch (FERRY_MAX_ITEMS)");
    b->expanded = json_array();
    for (size_t j = 0; j < n; j++) {
        char field[96], why[300];
        const char *member;
        struct profile_req r = {0};
        json_t *it = json_array_get(b->items, j);
        if (!json_is_object(it)) {
            snprintf(field, sizeof(field), "items[%zu]", j);
            return rules_fail(err, field, (long)j, "must be an object of the profile's parameters");
        }
        if (profile_expand(b->profile, it, &r, &member, why, sizeof(why))) {
            snprintf(field, sizeof(field), "items[%zu]%s%.60s", j, *member ? "." : "", member);
            return rules_fail(err, field, (long)j, "%s", why);
        }
        char *norm = NULL;
        const char *bad;
        int rc = url_normalize(r.url, strlen(r.url), 0, &norm, &bad);
        if (!rc)
            json_array_append_new(b->expanded, json_pack("{s:s,s:O,s:O}", "url", norm, "headers",
                                                         r.headers, "params", r.params));
        free(norm);
        profile_req_release(&r);
        if (rc) {
            snprintf(field, sizeof(field), "items[%zu].url", j);
            return rules_fail(err, field, (long)j, "%s", bad);
        }
    }
    b->total = n;
    return 0;
}

int submission_rules(struct submission *b, int single, const struct submission_limits *lim,
                     struct submission_err *err)
{
    json_t *ex = json_object_get(b->root, "extract");
    json_t *ep = json_object_get(b->root, "endpoint");
    if (ex && json_is_null(ex))
        ex = NULL;
    if (ep && json_is_null(ep))
        ep = NULL;
    if (ex && ep)
        return rules_fail(err, "extract", -1,
                          "an endpoint brings its own rules; extract cannot be added");
    /* Rendered items run a user's rules on the document after its scripts
     * ran (render); an endpoint's profile says how its pages are fetched. */
    int rendered = json_is_true(json_object_get(b->root, "render"));
    json_t *formats = json_object_get(b->root, "formats"), *v;
    size_t i;
    json_array_foreach(formats, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), "screenshot") == 0)
            rendered = 1;
    }
    if (ep && rendered)
        return rules_fail(err, "endpoint", -1, "an endpoint's pages are not rendered");
    if (ex)
        return check_extract(b, ex, err);
    if (!ep)
        return 0;
    if (single)
        return rules_fail(err, "endpoint", -1, "submit endpoint batches to POST /v1/batch");
    if (!lim->profiles)
        return rules_fail(err, "endpoint", -1, "no endpoints are configured");
    return check_endpoint(b, lim->profiles, ep, lim, err);
}

int submission_rules_request(const struct submission *b, size_t index, struct buf *w)
{
    if (b->extract) {
        buf_addf(w, ",\"extract\":{\"hash\":\"%s\"}", b->extract_hash);
    } else if (b->profile) {
        const json_t *e = json_array_get(b->expanded, index);
        char *params = jx_dump(json_object_get(e, "params"), NULL);
        char *input = jx_dump(json_array_get(b->items, index), NULL);
        if (!params || !input) {
            free(params);
            free(input);
            return -1;
        }
        buf_adds(w, ",\"input\":");
        buf_adds(w, input);
        buf_adds(w, ",\"endpoint\":{\"name\":");
        jx_add_strz(w, b->profile->name);
        buf_addf(w, ",\"digest\":\"%s\",\"params\":", b->profile->digest);
        buf_adds(w, params);
        buf_addc(w, '}');
        free(params);
        free(input);
    }
    return 0;
}
