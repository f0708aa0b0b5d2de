#include "submission.h"
#include "submission_int.h"

#include "crawl_opts.h"
#include "render_opts.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jx.h"
#include "url.h"
#include "words.h"

#define N_OF(a)          (sizeof(a) / sizeof((a)[0]))
#define HEADERS_MAX      64
#define HEADER_VALUE_MAX 8192
#define METADATA_MAX     16384

__attribute__((format(printf, 5, 6))) int submission_fail(struct submission_err *err, int status,
                                                          const char *code, long index,
                                                          const char *fmt, ...)
{
    va_list ap;
    err->status = status;
    snprintf(err->code, sizeof(err->code), "%s", code);
    err->index = index;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

static int bad_field(struct submission_err *err, const char *field, long index, const char *why)
{
    snprintf(err->field, sizeof(err->field), "%s", field);
    return submission_fail(err, 422, "invalid_field", index, "%s: %s", field, why);
}

int submission_bad_field(struct submission_err *err, const char *field, long index, const char *why)
{
    return bad_field(err, field, index, why);
}

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

/* Normalizes the URL string in `v` (a member of root) in place: NULL, or
 * why it is refused. */
static const char *normalize_url(json_t *v, unsigned flags)
{
    const char *why;
    char *norm;
    if (!json_is_string(v))
        return "must be a string";
    if (url_normalize(json_string_value(v), json_string_length(v), flags, &norm, &why))
        return why;
    int rc = json_string_set(v, norm);
    free(norm);
    return rc ? "out of memory" : NULL;
}

int submission_check_url(struct submission_err *err, json_t *v, unsigned flags, const char *field,
                         long index)
{
    const char *why = normalize_url(v, flags);
    return why ? bad_field(err, field, index, why) : 0;
}

static int check_headers(struct submission_err *err, const json_t *h, const char *field, long index)
{
    const char *k;
    json_t *v;
    if (!json_is_object(h))
        return bad_field(err, field, index, "must be an object of strings");
    if (json_object_size(h) > HEADERS_MAX)
        return bad_field(err, field, index, "has more than 64 headers");
    json_object_foreach((json_t *)h, k, v)
    {
        if (!*k || strpbrk(k, " \t\r\n:") || !json_is_string(v) ||
            json_string_length(v) > HEADER_VALUE_MAX ||
            strlen(json_string_value(v)) != json_string_length(v) ||
            strpbrk(json_string_value(v), "\r\n"))
            return bad_field(err, field, index,
                             "header names must be tokens and values strings without CR/LF");
    }
    return 0;
}

/* With ignore_invalid_urls: notes entry `index` (its submitted number) as
 * skipped; `url` is what was submitted there (NULL: nothing). */
static void skip_entry(struct submission *b, long index, const json_t *url, const char *why)
{
    json_array_append_new(b->invalid, json_pack("{s:i,s:O?,s:s,s:s}", "index", (int)index, "url",
                                                json_is_string(url) ? url : NULL, "code",
                                                "invalid_url", "message", why));
}

/* The entries of `list` whose flag in keep[] is set, as a new array that
 * replaces member `name` of the body. */
static json_t *keep_only(struct submission *b, const char *name, json_t *list,
                         const unsigned char *keep)
{
    json_t *kept = json_array();
    for (size_t i = 0; i < json_array_size(list); i++)
        if (keep[i])
            json_array_append(kept, json_array_get(list, i));
    json_object_set_new(b->root, name, kept);
    return kept;
}

static int check_items(struct submission *b, const struct submission_limits *lim,
                       struct submission_err *err)
{
    char field[96];
    size_t n_items = b->items ? json_array_size(b->items) : 0, n_urls;
    unsigned char *keep = NULL;
    int rc = -1;
    n_urls = b->urls ? json_array_size(b->urls) : 0;
    b->n_urls = n_urls;
    b->total = n_urls + n_items;
    if (b->total == 0)
        return bad_field(err, "urls", -1, "at least one URL is required (urls or items)");
    if ((long long)b->total > lim->max_items)
        return bad_field(err, b->items ? "items" : "urls", -1,
                         "too many items for one batch (FERRY_MAX_ITEMS)");
    if (b->invalid && !(keep = malloc(b->total)))
        return submission_fail(err, 500, "internal", -1, "out of memory");
    for (size_t i = 0; i < n_urls; i++) {
        json_t *v = json_array_get(b->urls, i);
        const char *why = normalize_url(v, 0);
        if (why && keep) {
            skip_entry(b, (long)i, v, why);
            keep[i] = 0;
            continue;
        }
        if (keep)
            keep[i] = 1;
        snprintf(field, sizeof(field), "urls[%zu]", i);
        if (why) {
            bad_field(err, field, (long)i, why);
            goto out;
        }
    }
    for (size_t j = 0; j < n_items; j++) {
        long index = (long)(n_urls + j);
        json_t *it = json_array_get(b->items, j), *v;
        const char *k;
        if (!json_is_object(it)) {
            snprintf(field, sizeof(field), "items[%zu]", j);
            bad_field(err, field, index, "must be an object with a url");
            goto out;
        }
        json_object_foreach(it, k, v)
        {
            if (strcmp(k, "url") && strcmp(k, "headers")) {
                snprintf(field, sizeof(field), "items[%zu].%.40s", j, k);
                bad_field(err, field, index, "unknown field");
                goto out;
            }
        }
        snprintf(field, sizeof(field), "items[%zu].url", j);
        v = json_object_get(it, "url");
        const char *why = v ? normalize_url(v, 0) : "is required";
        if (keep)
            keep[n_urls + j] = !why;
        if (why && keep) {
            skip_entry(b, index, v, why);
            continue;
        }
        if (why) {
            bad_field(err, field, index, why);
            goto out;
        }
        if ((v = json_object_get(it, "headers")) && !json_is_null(v)) {
            snprintf(field, sizeof(field), "items[%zu].headers", j);
            if (check_headers(err, v, field, index))
                goto out;
        }
    }
    if (keep && json_array_size(b->invalid) > 0) {
        /* The accepted entries, numbered anew from 0 in the same order. */
        if (b->urls)
            b->urls = keep_only(b, "urls", b->urls, keep);
        if (b->items)
            b->items = keep_only(b, "items", b->items, keep + n_urls);
        b->n_urls = b->urls ? json_array_size(b->urls) : 0;
        b->total = b->n_urls + (b->items ? json_array_size(b->items) : 0);
        if (b->total == 0) {
            bad_field(err, b->urls ? "urls" : "items", -1,
                      "no entry is a valid URL (ignore_invalid_urls skipped them all)");
            goto out;
        }
    }
    rc = 0;
out:
    free(keep);
    return rc;
}

static int check_formats(struct submission *b, struct submission_err *err)
{
    json_t *f = json_object_get(b->root, "formats"), *v;
    size_t i;
    char field[32];
    b->formats = json_array();
    if (!f || json_is_null(f)) {
        json_array_append_new(b->formats, json_string("html"));
        return 0;
    }
    if (!json_is_array(f) || json_array_size(f) == 0)
        return bad_field(err, "formats", -1, "must be a non-empty array of format names");
    json_array_foreach(f, i, v)
    {
        snprintf(field, sizeof(field), "formats[%zu]", i);
        if (!json_is_string(v) ||
            format_parse(json_string_value(v), json_string_length(v)) == FORMAT_UNKNOWN) {
            char why[128];
            snprintf(why, sizeof(why), "unknown format (%s)", format_list());
            return bad_field(err, field, -1, why);
        }
        int dup = 0;
        for (size_t k = 0; k < json_array_size(b->formats); k++)
            dup |= json_equal(json_array_get(b->formats, k), v);
        if (!dup)
            json_array_append(b->formats, v);
    }
    return 0;
}

/* Every number of v within [-2^63, 2^63). Written back the way JavaScript
 * writes it, 1.5e19 becomes "15000000000000000000", an integer no 64-bit
 * reader of the status and webhook documents could take; such numbers are
 * refused here instead. (Integer literals past 64 bits are refused by the
 * parser already.) */
static int numbers_fit(const json_t *v)
{
    const char *k;
    json_t *e;
    size_t i;
    if (json_is_real(v))
        return json_real_value(v) >= -9223372036854775808.0 &&
               json_real_value(v) < 9223372036854775808.0;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, e)
        {
            if (!numbers_fit(e))
                return 0;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            if (!numbers_fit(e))
                return 0;
        }
    }
    return 1;
}

static int check_options(struct submission *b, const struct submission_limits *lim,
                         struct submission_err *err)
{
    json_t *o = json_object_get(b->root, "options"), *v;
    const char *k;
    long long timeout = 30000, max_bytes = 10485760;
    int follow = 1;
    if (max_bytes > lim->max_page_bytes)
        max_bytes = lim->max_page_bytes;
    if (o && !json_is_null(o)) {
        if (!json_is_object(o))
            return bad_field(err, "options", -1, "must be an object");
        json_object_foreach(o, k, v)
        {
            char field[64];
            snprintf(field, sizeof(field), "options.%.40s", k);
            if (strcmp(k, "timeout_ms") == 0) {
                if (!jx_whole(v, 100, 300000, &timeout))
                    return bad_field(err, field, -1, "must be an integer from 100 to 300000");
            } else if (strcmp(k, "max_bytes") == 0) {
                if (!jx_whole(v, 1, lim->max_page_bytes, &max_bytes)) {
                    char why[96];
                    snprintf(why, sizeof(why), "must be an integer from 1 to %lld",
                             lim->max_page_bytes);
                    return bad_field(err, field, -1, why);
                }
            } else if (strcmp(k, "follow_redirects") == 0) {
                if (!json_is_boolean(v))
                    return bad_field(err, field, -1, "must be true or false");
                follow = json_is_true(v);
            } else {
                return bad_field(err, field, -1,
                                 "unknown option (timeout_ms, max_bytes, follow_redirects)");
            }
        }
    }
    b->options = json_pack("{s:I,s:I,s:b}", "timeout_ms", (json_int_t)timeout, "max_bytes",
                           (json_int_t)max_bytes, "follow_redirects", follow);
    return 0;
}

static int check_top_level(struct submission *b, int kind, struct submission_err *err)
{
    static const char *const fields[] = {
        "urls",           "items",     "formats",  "webhook_url", "webhook_secret",
        "webhook_events", "options",   "metadata", "render",      "wait_for",
        "screenshot",     "block_ads", "extract",  "endpoint",    "ignore_invalid_urls"};
    const char *k;
    json_t *v;
    json_object_foreach(b->root, k, v)
    {
        int common = in_list(k, fields, N_OF(fields)) && strcmp(k, "urls") && strcmp(k, "items");
        int ok =
            kind == SUBMISSION_SINGLE ? strcmp(k, "url") == 0 || strcmp(k, "headers") == 0 || common
            : kind == SUBMISSION_CRAWL ? strcmp(k, "url") == 0 || crawl_opts_member(k) || common
                                       : in_list(k, fields, N_OF(fields));
        if (!ok) {
            char field[64];
            snprintf(field, sizeof(field), "%.60s", k);
            return bad_field(err, field, -1, "unknown field");
        }
    }
    json_t *ignore = json_object_get(b->root, "ignore_invalid_urls");
    if (ignore && !json_is_null(ignore) && !json_is_boolean(ignore))
        return bad_field(err, "ignore_invalid_urls", -1, "must be true or false");
    if (json_is_true(ignore) && kind == SUBMISSION_BATCH)
        b->invalid = json_array();
    if (kind != SUBMISSION_BATCH) {
        json_t *url = json_object_get(b->root, "url");
        if (!url)
            return bad_field(err, "url", -1, "is required");
        if (submission_check_url(err, url, 0, "url", kind == SUBMISSION_SINGLE ? 0 : -1))
            return -1;
        json_t *h = kind == SUBMISSION_SINGLE ? json_object_get(b->root, "headers") : NULL;
        if (h && !json_is_null(h) && check_headers(err, h, "headers", 0))
            return -1;
        /* A batch of one: the same shape as items[0] (a crawl's start page,
         * the first of its items). */
        json_t *item = json_pack("{s:O}", "url", url);
        if (h && !json_is_null(h))
            json_object_set(item, "headers", h);
        json_t *items = json_array();
        json_array_append_new(items, item);
        json_object_set_new(b->root, "items", items);
        b->items = items;
        return 0;
    }
    b->urls = json_object_get(b->root, "urls");
    b->items = json_object_get(b->root, "items");
    if (b->urls && json_is_null(b->urls))
        b->urls = NULL;
    if (b->items && json_is_null(b->items))
        b->items = NULL;
    if (b->urls && !json_is_array(b->urls))
        return bad_field(err, "urls", -1, "must be an array of URL strings");
    if (b->items && !json_is_array(b->items))
        return bad_field(err, "items", -1, "must be an array of objects");
    return 0;
}

/* A crawl's options; its start page (item 0) is fetched as the crawl
 * normalizes every link it follows. */
static int check_crawl(struct submission *b, const struct submission_limits *lim,
                       struct submission_err *err)
{
    if (crawl_opts_check(b->root, lim->max_items, &b->crawl, err))
        return -1;
    json_t *start = json_object_get(b->crawl, "url");
    json_object_set(json_array_get(b->items, 0), "url", start);
    return 0;
}

int submission_parse(struct submission *b, const char *body, size_t len, int kind,
                     const char *tenant, const struct submission_limits *lim,
                     struct submission_err *err)
{
    char why[200];
    memset(b, 0, sizeof(*b));
    memset(err, 0, sizeof(*err));
    err->index = -1;
    snprintf(b->tenant, sizeof(b->tenant), "%s", tenant);

    b->root = jx_parse(body, len, SUBMISSION_MAX_DEPTH, why, sizeof(why));
    if (!b->root)
        return submission_fail(err, 400, "invalid_json", -1, "the body is not valid JSON: %s", why);
    if (!json_is_object(b->root))
        return submission_fail(err, 400, "invalid_json", -1, "the body must be a JSON object");
    if (check_top_level(b, kind, err) || (kind == SUBMISSION_CRAWL && check_crawl(b, lim, err)) ||
        submission_rules(b, kind != SUBMISSION_BATCH, lim, err) ||
        (!b->profile && check_items(b, lim, err)) || check_formats(b, err) ||
        check_options(b, lim, err) ||
        render_opts_check(b->root, b->formats, b->options, &b->render, err) ||
        submission_check_webhook(b, lim, err))
        return -1;
    /* A rendered page hands no links to the frontier (render writes no
     * `frontier` list): such a crawl would end at its start page. */
    if (b->crawl && b->render)
        return submission_bad_field(
            err, "render", -1, "a crawl's pages are fetched, not rendered (not supported yet)");

    json_t *md = json_object_get(b->root, "metadata");
    if (md && !json_is_null(md)) {
        if (!json_is_object(md))
            return bad_field(err, "metadata", -1, "must be an object");
        if (!numbers_fit(md))
            return bad_field(err, "metadata", -1,
                             "numbers must lie within the 64-bit integer range (-2^63 to 2^63-1)");
        char *s = jx_dump(md, NULL);
        size_t n = s ? strlen(s) : 0;
        free(s);
        if (n > METADATA_MAX)
            return bad_field(err, "metadata", -1, "is larger than 16 KiB");
        b->metadata = json_incref(md);
    } else {
        b->metadata = json_object();
    }

    if (ids_batch_new(b->id))
        return submission_fail(err, 500, "internal", -1, "no randomness for a batch id");
    b->created_ms = clk_now_ms();
    clk_iso8601(b->created_ms, b->created_at);

    if (b->profile) /* its data is the profile's fields, no format */
        json_array_clear(b->formats);
    char *formats = jx_dump(b->formats, NULL), *options = jx_dump(b->options, NULL);
    /* A rendered batch's requests carry its rendering options too. */
    char *render = b->render ? jx_dump(b->render, NULL) : NULL;
    if (formats && options && (render || !b->render)) {
        size_t n = strlen(formats) + strlen(options) + (render ? strlen(render) : 0) + 32;
        if ((b->request_tail = malloc(n)))
            snprintf(b->request_tail, n, ",\"formats\":%s,\"options\":%s%s%.*s}", formats, options,
                     render ? "," : "", render ? (int)strlen(render) - 2 : 0,
                     render ? render + 1 : "");
    }
    free(formats);
    free(options);
    free(render);
    if (!b->request_tail)
        return submission_fail(err, 500, "internal", -1, "out of memory");
    if (b->crawl) {
        /* What every page of the crawl is requested with: the members a
         * request of this body carries after its url. */
        size_t n = strlen(b->request_tail);
        char *obj = malloc(n + 1);
        json_t *req = NULL;
        if (obj) {
            obj[0] = '{';
            memcpy(obj + 1, b->request_tail + 1, n); /* with the NUL */
            req = json_loads(obj, 0, NULL);
            free(obj);
        }
        /* A crawl's rules name the spec as an item's do: it travels once,
         * in this record (xrules.h), and scrape applies it to every page. */
        if (req && b->extract &&
            json_object_set_new(req, "extract", json_pack("{s:s}", "hash", b->extract_hash))) {
            json_decref(req);
            req = NULL;
        }
        if (!req || json_object_set_new(b->crawl, "request", req))
            return submission_fail(err, 500, "internal", -1, "out of memory");
    }
    return 0;
}

void submission_release(struct submission *b)
{
    json_decref(b->root);
    json_decref(b->formats);
    json_decref(b->options);
    json_decref(b->render);
    json_decref(b->metadata);
    json_decref(b->events);
    json_decref(b->extract);
    json_decref(b->expanded);
    json_decref(b->invalid);
    json_decref(b->crawl);
    if (b->secret) {
        OPENSSL_cleanse(b->secret, strlen(b->secret));
        free(b->secret);
    }
    free(b->request_tail);
    free(b->idem_key);
    free(b->idem_record);
    free(b->track);
    memset(b, 0, sizeof(*b));
}
