#include "request.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "extract.h"
#include "jx.h"
#include "schema.h"

#define REQUEST_MAX_DEPTH 16
#define MAX_HEADERS       64

/* A header line libcurl will send verbatim: a token name, no CR/LF. */
static int header_ok(const char *name, const char *value)
{
    if (!*name || strlen(name) > 256 || strlen(value) > 8192)
        return 0;
    for (const char *p = name; *p; p++)
        if (!isgraph((unsigned char)*p) || *p == ':')
            return 0;
    for (const char *p = value; *p; p++)
        if (*p == '\r' || *p == '\n')
            return 0;
    return strcasecmp(name, "Host") != 0 && strcasecmp(name, "Content-Length") != 0 &&
           strcasecmp(name, "Transfer-Encoding") != 0;
}

/* A cheap gate: http(s) only, with a host. Anything else malformed is
 * reported by libcurl (CURLE_URL_MALFORMAT), also as invalid_url. */
static void check_url(struct item *it)
{
    const char *u = it->url;
    size_t skip = strncasecmp(u, "http://", 7) == 0    ? 7
                  : strncasecmp(u, "https://", 8) == 0 ? 8
                                                       : 0;
    if (!skip) {
        const char *colon = strstr(u, "://");
        snprintf(it->invalid_url, sizeof(it->invalid_url), "scheme %.*s is not http or https",
                 colon && colon - u < 20 ? (int)(colon - u) : 1, colon ? u : "?");
    } else if (!u[skip] || u[skip] == '/' || strpbrk(u, " \t\r\n")) {
        snprintf(it->invalid_url, sizeof(it->invalid_url), "no host, or whitespace in the URL");
    }
}

/* One header of the request, as libcurl sends it (at most MAX_HEADERS). */
static void add_header(struct item *it, const char *key, const char *val, int *n)
{
    if (!val || !header_ok(key, val) || *n >= MAX_HEADERS)
        return;
    size_t len = strlen(key) + strlen(val) + 3;
    char *line = malloc(len);
    if (!line)
        abort();
    snprintf(line, len, "%s: %s", key, val);
    it->headers = curl_slist_append(it->headers, line);
    free(line);
    (*n)++;
}

static void set_options(struct item *it, const struct request_limits *lim, long long t,
                        long long mb, int follow)
{
    it->timeout_ms = t < 1 ? 1 : t > lim->max_timeout_ms ? lim->max_timeout_ms : (long)t;
    it->max_bytes = mb < 1 ? 1 : mb > lim->max_max_bytes ? lim->max_max_bytes : mb;
    it->follow_redirects = follow;
}

/* What a request's fetch member asks for: a page when absent, -1 for a
 * word it does not know. */
static int fetch_kind(const char *fetch)
{
    if (!fetch)
        return FETCH_PAGE;
    for (int f = FETCH_ROBOTS; f <= FETCH_SITEMAP; f++)
        if (strcmp(fetch, item_fetch_word((enum item_fetch)f)) == 0)
            return f;
    return -1;
}

/* The members the quick reader takes, one bit each for duplicates. */
#define QUICK_MEMBERS(X)                                                                           \
    X(VERSION, SCHEMA_VERSION_KEY)                                                                 \
    X(BATCH, "batch_id")                                                                           \
    X(TENANT, "tenant")                                                                            \
    X(INDEX, "index")                                                                              \
    X(URL, "url")                                                                                  \
    X(HEADERS, "headers")                                                                          \
    X(FORMATS, "formats")                                                                          \
    X(OPTIONS, "options")                                                                          \
    X(DEPTH, "depth")                                                                              \
    X(FOUND_ON, "found_on")                                                                        \
    X(FRONTIER, "frontier")                                                                        \
    X(FETCH, "fetch")                                                                              \
    X(TIMEOUT, "timeout_ms")                                                                       \
    X(MAX_BYTES, "max_bytes")                                                                      \
    X(FOLLOW, "follow_redirects")
#define QM_ENUM(id, name) QM_##id,
enum { QUICK_MEMBERS(QM_ENUM) QM__N };
#define QM_NAME(id, name) name,
static const char *const quick_names[] = {QUICK_MEMBERS(QM_NAME)};

/* Which known member key is, or -1. */
static int quick_member(const char *key)
{
    for (int i = 0; i < QM__N; i++)
        if (key[0] == quick_names[i][0] && strcmp(key, quick_names[i]) == 0)
            return i;
    return -1;
}

/* The request's headers object: the same lines the jansson path makes,
 * or -1 (a value that is not a string, a repeated name: jansson's). */
static int quick_headers(struct jx_scan *s, struct item *it)
{
    const char *key, *val, *seen[MAX_HEADERS];
    size_t len;
    int more, n = 0, count = 0;
    if (jx_scan_enter(s, '{'))
        return -1;
    while ((more = jx_scan_member(s, &key)) > 0) {
        if (count == MAX_HEADERS || jx_scan_str(s, &val, &len))
            return -1;
        for (int i = 0; i < count; i++)
            if (strcmp(seen[i], key) == 0)
                return -1;
        seen[count++] = key;
        add_header(it, key, val, &n);
    }
    return more;
}

/* The request read without a JSON tree, when it holds only the members
 * above, each of the type it should have; the strings live in it->strs.
 * 1 when read (schema_version still to check), 0 to read it with jansson
 * instead (anything else: input, track, extraction rules, other types,
 * escapes past the plain subset, malformed bytes). */
static int read_quick(struct item *it, const struct request_limits *lim, long long *version)
{
    struct jx_scan s;
    const char *key, *str, *fetch = NULL;
    size_t len;
    long long idx = 0, depth = -1, found_on = -1, t = lim->default_timeout_ms,
              mb = lim->default_max_bytes;
    int more, follow = 1, frontier = 0;
    unsigned seen = 0;
    it->strs = malloc(it->job.value_len + 1);
    if (!it->strs)
        abort();
    jx_scan_init(&s, it->job.value, it->job.value_len, it->strs, REQUEST_MAX_DEPTH);
    *version = 1;
    it->formats = FORMAT_BIT(FORMAT_HTML);
    if (jx_scan_enter(&s, '{'))
        goto slow;
    while ((more = jx_scan_member(&s, &key)) > 0) {
        int m = quick_member(key), r = 0;
        if (m < 0 || m >= QM_TIMEOUT || (seen & (1u << m)))
            goto slow;
        seen |= 1u << m;
        switch (m) {
        case QM_VERSION: r = jx_scan_int(&s, version); break;
        case QM_BATCH: r = jx_scan_str(&s, &it->batch_id, &len); break;
        case QM_TENANT: r = jx_scan_str(&s, &it->tenant, &len); break;
        case QM_INDEX: r = jx_scan_int(&s, &idx); break;
        case QM_URL: r = jx_scan_str(&s, &it->url, &len); break;
        case QM_FETCH: r = jx_scan_str(&s, &fetch, &len); break;
        case QM_DEPTH: r = jx_scan_int(&s, &depth); break;
        case QM_FOUND_ON: r = jx_scan_null(&s) ? 0 : jx_scan_int(&s, &found_on); break;
        case QM_FRONTIER: r = jx_scan_bool(&s, &frontier); break;
        case QM_HEADERS: r = quick_headers(&s, it); break;
        case QM_FORMATS:
            it->formats = 0;
            if ((r = jx_scan_enter(&s, '[')))
                break;
            while ((r = jx_scan_element(&s)) > 0) {
                if ((r = jx_scan_str(&s, &str, &len)))
                    break;
                enum format f = format_parse(str, len);
                if (f != FORMAT_UNKNOWN)
                    it->formats |= FORMAT_BIT(f);
            }
            break;
        case QM_OPTIONS:
            if ((r = jx_scan_enter(&s, '{')))
                break;
            while ((r = jx_scan_member(&s, &key)) > 0) {
                int o = quick_member(key);
                if (o < QM_TIMEOUT || (seen & (1u << o)))
                    goto slow;
                seen |= 1u << o;
                r = o == QM_TIMEOUT     ? jx_scan_int(&s, &t)
                    : o == QM_MAX_BYTES ? jx_scan_int(&s, &mb)
                                        : jx_scan_bool(&s, &follow);
                if (r)
                    break;
            }
            break;
        }
        if (r)
            goto slow;
    }
    if (more < 0 || jx_scan_end(&s))
        goto slow;
    /* What the jansson path refuses, it refuses with its own words. */
    int kind = fetch_kind(fetch);
    if (!it->batch_id || !it->url || kind < 0 || (!fetch && !(seen & (1u << QM_INDEX))))
        goto slow;
    it->fetch = (enum item_fetch)kind;
    it->index = fetch ? -1 : idx;
    if (!fetch && depth >= 0) {
        it->depth = (int)depth;
        it->found_on = found_on;
        it->frontier = frontier;
    }
    set_options(it, lim, t, mb, follow);
    return 1;
slow:
    free(it->strs);
    curl_slist_free_all(it->headers);
    it->strs = NULL;
    it->headers = NULL;
    it->batch_id = it->tenant = it->url = NULL;
    return 0;
}

/* The request as a jansson tree: whatever the quick reader does not take. */
static int read_tree(struct item *it, const struct request_limits *lim, long long *version,
                     char *errstr, size_t errstr_size)
{
    json_t *req =
        jx_parse(it->job.value, it->job.value_len, REQUEST_MAX_DEPTH, errstr, errstr_size);
    if (!req)
        return -1;
    *version = jx_int(req, SCHEMA_VERSION_KEY, 1);
    const char *batch = jx_str(req, "batch_id", NULL);
    const char *url = jx_str(req, "url", NULL);
    const char *fetch = jx_str(req, "fetch", NULL);
    json_t *index = json_object_get(req, "index");
    int kind = fetch_kind(fetch);
    if (schema_check(*version, SCHEMA_REQUESTS, errstr, errstr_size)) {
        json_decref(req);
        return -1;
    }
    if (!batch || !url || kind < 0 || (!fetch && !json_is_integer(index))) {
        snprintf(errstr, errstr_size,
                 "batch_id, url and index (or fetch: robots or sitemap) are required");
        json_decref(req);
        return -1;
    }
    it->fetch = (enum item_fetch)kind;
    it->req = req;
    it->batch_id = batch;
    it->url = url;
    it->tenant = jx_str(req, "tenant", NULL);
    it->index = fetch ? -1 : json_integer_value(index);
    /* A crawl's page says where the crawl found it. */
    json_t *depth = json_object_get(req, "depth"), *found_on = json_object_get(req, "found_on");
    if (!fetch && json_is_integer(depth) && json_integer_value(depth) >= 0) {
        it->depth = (int)json_integer_value(depth);
        it->found_on = json_is_integer(found_on) ? json_integer_value(found_on) : -1;
        it->frontier = jx_bool(req, "frontier", 0);
    }
    it->formats = extract_formats(json_object_get(req, "formats"));
    it->input = json_object_get(req, "input");
    if (it->input && !json_is_object(it->input))
        it->input = NULL;

    json_t *opt = json_object_get(req, "options");
    set_options(it, lim, jx_int(opt, "timeout_ms", lim->default_timeout_ms),
                jx_int(opt, "max_bytes", lim->default_max_bytes),
                jx_bool(opt, "follow_redirects", 1));

    const char *key;
    json_t *v;
    int n = 0;
    json_object_foreach(json_object_get(req, "headers"), key, v)
    {
        add_header(it, key, json_string_value(v), &n);
    }
    return 0;
}

int request_parse(struct item *it, const struct request_limits *lim, char *errstr,
                  size_t errstr_size)
{
    long long version;
    if (!read_quick(it, lim, &version)) {
        if (read_tree(it, lim, &version, errstr, errstr_size))
            return -1;
    } else if (schema_check(version, SCHEMA_REQUESTS, errstr, errstr_size)) {
        return -1;
    }
    check_url(it);
    return 0;
}
