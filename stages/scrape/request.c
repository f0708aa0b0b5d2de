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

int request_parse(struct item *it, const struct request_limits *lim, char *errstr,
                  size_t errstr_size)
{
    json_t *req =
        jx_parse(it->job.value, it->job.value_len, REQUEST_MAX_DEPTH, errstr, errstr_size);
    if (!req)
        return -1;
    if (schema_check(jx_int(req, SCHEMA_VERSION_KEY, 1), SCHEMA_REQUESTS, errstr, errstr_size)) {
        json_decref(req);
        return -1;
    }
    const char *batch = jx_str(req, "batch_id", NULL);
    const char *url = jx_str(req, "url", NULL);
    const char *fetch = jx_str(req, "fetch", NULL);
    json_t *index = json_object_get(req, "index");
    int kind = !fetch                          ? FETCH_PAGE
               : strcmp(fetch, "robots") == 0  ? FETCH_ROBOTS
               : strcmp(fetch, "sitemap") == 0 ? FETCH_SITEMAP
                                               : -1;
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
    long long t = jx_int(opt, "timeout_ms", lim->default_timeout_ms);
    it->timeout_ms = t < 1 ? 1 : t > lim->max_timeout_ms ? lim->max_timeout_ms : (long)t;
    long long mb = jx_int(opt, "max_bytes", lim->default_max_bytes);
    it->max_bytes = mb < 1 ? 1 : mb > lim->max_max_bytes ? lim->max_max_bytes : mb;
    it->follow_redirects = jx_bool(opt, "follow_redirects", 1);

    const char *key;
    json_t *v;
    int n = 0;
    json_object_foreach(json_object_get(req, "headers"), key, v)
    {
        const char *val = json_string_value(v);
        if (!val || !header_ok(key, val) || n >= MAX_HEADERS)
            continue;
        size_t len = strlen(key) + strlen(val) + 3;
        char *line = malloc(len);
        if (!line)
            abort();
        snprintf(line, len, "%s: %s", key, val);
        it->headers = curl_slist_append(it->headers, line);
        free(line);
        n++;
    }
    check_url(it);
    return 0;
}
