#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jx.h"
#include "schema.h"
#include "ritem.h"
#include "words.h"

#define REQUEST_MAX_DEPTH 16
#define MAX_HEADERS       64
#define MAX_SELECTOR      1000

/* Screenshot sizes in CSS pixels (device scale 1). */
#define SHOT_MIN_SIDE 100
#define SHOT_MAX_SIDE 8192

static void release(struct job *j)
{
    ritem_free((struct ritem *)j);
}

void ritem_free(struct ritem *it)
{
    if (!it)
        return;
    job_finish(&it->job);
    if (it->xr)
        xrules_use_release(it->xr, &it->rules);
    json_decref(it->req);
    free(it);
}

/* A header Chromium will send as given: a token name, no CR/LF, and none
 * of the headers the browser must set itself. */
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
           strcasecmp(name, "Transfer-Encoding") != 0 && strcasecmp(name, "Cookie") != 0 &&
           strcasecmp(name, "Proxy-Authorization") != 0;
}

static void invalid(struct ritem *it, const char *why)
{
    if (!it->invalid[0])
        snprintf(it->invalid, sizeof(it->invalid), "%s", why);
}

static void parse_url(struct ritem *it)
{
    const char *u = it->url;
    size_t skip = strncasecmp(u, "http://", 7) == 0    ? 7
                  : strncasecmp(u, "https://", 8) == 0 ? 8
                                                       : 0;
    if (!skip)
        invalid(it, "the URL's scheme is not http or https");
    else if (!u[skip] || u[skip] == '/' || strpbrk(u, " \t\r\n"))
        invalid(it, "no host, or whitespace in the URL");
}

/* formats: text formats as a mask; "screenshot" asks for one. */
static void parse_formats(struct ritem *it, const json_t *formats)
{
    size_t i;
    json_t *v;
    json_array_foreach(formats, i, v)
    {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        if (strcmp(s, "screenshot") == 0) {
            it->shot = SHOT_PNG;
            continue;
        }
        enum format f = format_parse(s, strlen(s));
        if (f != FORMAT_UNKNOWN)
            it->formats |= FORMAT_BIT(f);
    }
}

static int clamp(long long v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : (int)v;
}

static void parse_screenshot(struct ritem *it, const json_t *s)
{
    if (!json_is_object(s))
        return;
    if (it->shot == SHOT_NONE)
        it->shot = SHOT_PNG; /* options alone ask for a screenshot too */
    const char *type = jx_str(s, "type", "png");
    if (strcmp(type, "jpeg") == 0 || strcmp(type, "jpg") == 0)
        it->shot = SHOT_JPEG;
    else if (strcmp(type, "png") != 0)
        invalid(it, "screenshot.type must be png or jpeg");
    it->full_page = jx_bool(s, "full_page", 0);
    it->width = clamp(jx_int(s, "width", RITEM_WIDTH), SHOT_MIN_SIDE, SHOT_MAX_SIDE);
    it->height = clamp(jx_int(s, "height", RITEM_HEIGHT), SHOT_MIN_SIDE, SHOT_MAX_SIDE);
    it->quality = clamp(jx_int(s, "quality", 0), 0, 100);
}

static void parse_wait_for(struct ritem *it, const json_t *w)
{
    if (!json_is_object(w))
        return;
    it->wait_selector = jx_str(w, "selector", NULL);
    if (it->wait_selector && strlen(it->wait_selector) > MAX_SELECTOR)
        invalid(it, "wait_for.selector is longer than 1000 characters");
    long long ms = jx_int(w, "ms", 0);
    it->wait_ms = ms < 0 ? 0 : ms > it->timeout_ms ? it->timeout_ms : (long)ms;
}

struct ritem *request_parse(struct job_sink *sink, const rd_kafka_message_t *msg,
                            struct offtrack *ot, const struct render_limits *lim,
                            struct ritem **poison, char *errstr, size_t errstr_size)
{
    struct ritem *it = calloc(1, sizeof(*it));
    if (!it)
        abort();
    it->job.release = release;
    job_start(sink, &it->job, msg, ot);
    *poison = NULL;

    json_t *req = jx_parse(msg->payload, msg->len, REQUEST_MAX_DEPTH, errstr, errstr_size);
    const char *batch = jx_str(req, "batch_id", NULL);
    const char *url = jx_str(req, "url", NULL);
    json_t *index = json_object_get(req, "index");
    if (!req || !batch || !url || !json_is_integer(index) ||
        schema_check(jx_int(req, SCHEMA_VERSION_KEY, 1), SCHEMA_REQUESTS, errstr, errstr_size)) {
        if (req && (!batch || !url || !json_is_integer(index)))
            snprintf(errstr, errstr_size, "batch_id, index and url are required");
        json_decref(req);
        *poison = it;
        return NULL;
    }
    it->req = req;
    it->batch_id = batch;
    it->url = url;
    it->tenant = jx_str(req, "tenant", NULL);
    it->index = json_integer_value(index);
    it->input = json_object_get(req, "input");
    if (it->input && !json_is_object(it->input))
        it->input = NULL;

    json_t *opt = json_object_get(req, "options");
    long long t = jx_int(opt, "timeout_ms", lim->default_timeout_ms);
    it->timeout_ms = t < 1 ? 1 : t > lim->max_timeout_ms ? lim->max_timeout_ms : (long)t;
    long long mb = jx_int(opt, "max_bytes", lim->default_max_bytes);
    it->max_bytes = mb < 1 ? 1 : mb > lim->max_max_bytes ? lim->max_max_bytes : mb;
    it->block_ads = jx_bool(req, "block_ads", 0);
    it->width = RITEM_WIDTH;
    it->height = RITEM_HEIGHT;

    parse_formats(it, json_object_get(req, "formats"));
    parse_screenshot(it, json_object_get(req, "screenshot"));
    parse_wait_for(it, json_object_get(req, "wait_for"));
    if (!it->formats && it->shot == SHOT_NONE)
        it->formats = FORMAT_BIT(FORMAT_HTML); /* the default, as for scrape */

    json_t *headers = json_object_get(req, "headers");
    const char *key;
    json_t *v;
    int n = 0;
    json_object_foreach(headers, key, v)
    {
        const char *val = json_string_value(v);
        if (!val || !header_ok(key, val) || ++n > MAX_HEADERS) {
            invalid(it, "a request header is not allowed");
            break;
        }
    }
    it->headers = json_is_object(headers) ? headers : NULL;
    parse_url(it);
    return it;
}
