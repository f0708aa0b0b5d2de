/* httpd's requests, responses and routes (see httpd.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpd_int.h"
#include "jx.h"
#include "metrics.h"

/* ------------------------------------------------------------ listen addresses */

int httpd_parse_listen(const char *text, struct sockaddr_in *addr, char *errstr, size_t errstr_size)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    char *end;

    if (!colon || (size_t)(colon - text) >= sizeof(host) || colon == text) {
        snprintf(errstr, errstr_size, "expected host:port");
        return -1;
    }
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 0 || port > 65535) {
        snprintf(errstr, errstr_size, "bad port");
        return -1;
    }
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &addr->sin_addr) != 1) {
        snprintf(errstr, errstr_size, "'%s' is not an IPv4 address", host);
        return -1;
    }
    return 0;
}

int httpd_check_listen(const char *value, char *errstr, size_t errstr_size)
{
    struct sockaddr_in addr;
    return httpd_parse_listen(value, &addr, errstr, errstr_size);
}

/* ------------------------------------------------------------ requests */

const char *httpd_method(const struct httpd_req *req)
{
    return req->head->method;
}

const char *httpd_path(const struct httpd_req *req)
{
    return req->path;
}

const char *httpd_param(const struct httpd_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_params; i++)
        if (strcmp(req->p[i].name, name) == 0)
            return req->p[i].value;
    return NULL;
}

const char *httpd_query(const struct httpd_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_query; i++)
        if (strcmp(req->q[i].name, name) == 0)
            return req->q[i].value;
    return NULL;
}

int httpd_query_each(const struct httpd_req *req,
                     int (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    for (size_t i = 0; i < req->n_query; i++) {
        int rc = fn(arg, req->q[i].name, req->q[i].value);
        if (rc)
            return rc;
    }
    return 0;
}

const char *httpd_header(const struct httpd_req *req, const char *name)
{
    return httpd_head_get(req->head, name);
}

const char *httpd_body(const struct httpd_req *req, size_t *len)
{
    if (len)
        *len = req->body_len;
    return req->body;
}

/* Copies (decode: percent-decodes) in[0..len) into the arena. NULL when it
 * does not decode. */
static const char *arena_put(struct httpd_req *req, const char *in, size_t len, int decode,
                             int plus)
{
    char *out = req->arena + req->arena_used;
    long n = (long)len;
    if (req->arena_used + len + 1 > req->arena_size)
        return NULL;
    if (decode) {
        n = httpd_pct_decode(in, len, out, plus);
        if (n < 0)
            return NULL;
    } else {
        memcpy(out, in, len);
        out[len] = '\0';
    }
    req->arena_used += (size_t)n + 1;
    return out;
}

/* Splits the target into path and decoded query parameters. -1 when the
 * query does not decode (or holds too many parameters). */
static int req_parse_target(struct httpd_req *req)
{
    const char *t = req->head->target, *qm = strchr(t, '?');
    size_t plen = qm ? (size_t)(qm - t) : strlen(t);
    if (memchr(t, '#', strlen(t)))
        return -1; /* a fragment is never sent to a server */
    req->path = (char *)arena_put(req, t, plen, 0, 0);
    req->query = (char *)arena_put(req, qm ? qm + 1 : "", qm ? strlen(qm + 1) : 0, 0, 0);
    for (const char *p = qm ? qm + 1 : ""; *p;) {
        size_t len = strcspn(p, "&"), nlen = strcspn(p, "=");
        if (nlen > len)
            nlen = len;
        if (len) {
            if (req->n_query == HTTPD_MAX_QUERY)
                return -1;
            const char *name = arena_put(req, p, nlen, 1, 1);
            const char *value = nlen < len ? arena_put(req, p + nlen + 1, len - nlen - 1, 1, 1)
                                           : arena_put(req, "", 0, 0, 0);
            if (!name || !value)
                return -1;
            req->q[req->n_query].name = name;
            req->q[req->n_query].value = value;
            req->n_query++;
        }
        p += len;
        if (*p)
            p++;
    }
    return 0;
}

/* 1 when the path's segments fit the route (filling its parameters), 0 when
 * not, -1 when a parameter does not decode. */
static int route_match(const struct httpd_route *r, struct httpd_req *req)
{
    const char *p = req->path;
    size_t used = req->arena_used;
    req->n_params = 0;
    for (size_t i = 0; i < r->n_segs; i++) {
        if (*p != '/')
            goto no;
        p++;
        size_t len = strcspn(p, "/");
        if (r->segs[i][0] == ':') {
            if (len == 0 || req->n_params == HTTPD_MAX_PARAMS)
                goto no;
            const char *v = arena_put(req, p, len, 1, 0);
            if (!v)
                return -1;
            req->p[req->n_params].name = r->segs[i] + 1;
            req->p[req->n_params].value = v;
            req->n_params++;
        } else if (strlen(r->segs[i]) != len || strncmp(r->segs[i], p, len) != 0) {
            goto no;
        }
        p += len;
    }
    if (*p == '\0')
        return 1;
no:
    req->arena_used = used;
    req->n_params = 0;
    return 0;
}

/* ------------------------------------------------------------ routes */

int httpd_never_blocks(const struct httpd_req *req)
{
    (void)req;
    return 0;
}

int httpd_route(struct httpd *h, const char *method, const char *pattern, httpd_blocks_fn blocks,
                httpd_fn fn, void *arg)
{
    struct httpd_route *r = calloc(1, sizeof(*r)), **tail = &h->routes;
    if (!r || strlen(method) >= sizeof(r->method) || pattern[0] != '/') {
        free(r);
        return -1;
    }
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->blocks = blocks;
    r->fn = fn;
    r->arg = arg;
    for (const char *p = pattern + 1;; p++) {
        size_t len = strcspn(p, "/");
        if (r->n_segs == HTTPD_MAX_SEGS || !(r->segs[r->n_segs] = strndup(p, len))) {
            for (size_t i = 0; i < r->n_segs; i++)
                free(r->segs[i]);
            free(r);
            return -1;
        }
        r->n_segs++;
        p += len;
        if (!*p)
            break;
    }
    while (*tail)
        tail = &(*tail)->next;
    *tail = r;
    return 0;
}

void httpd_fallback(struct httpd *h, httpd_fn fn, void *arg)
{
    h->fallback = fn;
    h->fallback_arg = arg;
}

static void not_found(struct httpd_req *req, struct httpd_resp *resp, void *arg)
{
    (void)req;
    (void)arg;
    httpd_error(resp, 404, "not_found", "no such resource", NULL);
}

const struct httpd_route *httpd_match(struct httpd *h, struct httpd_req *req,
                                      struct httpd_resp *resp)
{
    size_t tlen = strlen(req->head->target);
    /* Copies and decodings of the target, each no longer than it, plus one
     * NUL per piece: three times its size is always enough. */
    req->arena_size = 3 * tlen + 3 * (HTTPD_MAX_QUERY + HTTPD_MAX_PARAMS) + 16;
    req->arena = malloc(req->arena_size);
    if (!req->arena) {
        httpd_error(resp, 503, "unavailable", "out of memory", NULL);
        return NULL;
    }
    struct buf allow = BUF_INIT(256);
    const struct httpd_route *hit = NULL;
    if (req_parse_target(req)) {
        httpd_error(resp, 400, "bad_request", "the query string does not decode", NULL);
        goto out;
    }
    for (const struct httpd_route *r = h->routes; r && !hit; r = r->next) {
        int m = route_match(r, req);
        if (m < 0) {
            httpd_error(resp, 400, "bad_request",
                        "a path segment does not decode (malformed escape or %00)", NULL);
            goto out;
        }
        if (m && strcmp(r->method, req->head->method) == 0)
            hit = r;
        else if (m && !strstr(buf_str(&allow), r->method))
            buf_addf(&allow, "%s%s", allow.len ? ", " : "", r->method);
    }
    if (!hit && allow.len) {
        httpd_resp_header(resp, "Allow", buf_str(&allow));
        httpd_error(resp, 405, "method_not_allowed", "this path does not take that method", NULL);
    } else if (!hit) {
        (h->fallback ? h->fallback : not_found)(req, resp, h->fallback_arg);
    }
out:
    buf_release(&allow);
    return hit;
}

void httpd_req_release(struct httpd_req *req)
{
    free(req->arena);
    req->arena = NULL;
}

/* ------------------------------------------------------------ responses */

void httpd_body_free(char *body, void (*fn)(void *arg), void *arg)
{
    if (fn)
        fn(arg);
    else
        free(body);
}

void httpd_resp_release(struct httpd_resp *resp)
{
    httpd_body_free(resp->body, resp->body_free, resp->body_arg);
    resp->body = NULL;
    resp->body_len = 0;
    resp->body_free = NULL;
    resp->body_arg = NULL;
    buf_release(&resp->headers);
}

void httpd_reply_take(struct httpd_resp *resp, unsigned status, const char *content_type,
                      char *body, size_t len)
{
    httpd_body_free(resp->body, resp->body_free, resp->body_arg);
    resp->status = status;
    snprintf(resp->content_type, sizeof(resp->content_type), "%s", content_type);
    resp->body = body;
    resp->body_len = body ? len : 0;
    resp->body_free = NULL;
    resp->body_arg = NULL;
}

void httpd_reply_borrow(struct httpd_resp *resp, unsigned status, const char *content_type,
                        const void *body, size_t len, void (*release)(void *arg), void *arg)
{
    httpd_reply_take(resp, status, content_type, (char *)body, len);
    resp->body_free = release;
    resp->body_arg = arg;
}

void httpd_reply(struct httpd_resp *resp, unsigned status, const char *content_type,
                 const void *body, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy)
        memcpy(copy, body, len);
    httpd_reply_take(resp, copy ? status : 503, content_type, copy, len);
}

void httpd_json(struct httpd_resp *resp, unsigned status, const char *body)
{
    httpd_reply(resp, status, "application/json", body, strlen(body));
}

void httpd_json_doc(struct httpd_resp *resp, unsigned status, const json_t *doc)
{
    size_t len = 0;
    char *s = doc ? jx_dump(doc, &len) : NULL;
    if (s)
        httpd_reply_take(resp, status, "application/json", s, len);
    else
        httpd_json(resp, 500,
                   "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\","
                   "\"details\":null}}");
}

void httpd_error(struct httpd_resp *resp, unsigned status, const char *code, const char *message,
                 json_t *details)
{
    json_t *doc = json_pack("{s:{s:s,s:s,s:o}}", "error", "code", code, "message", message,
                            "details", details ? details : json_null());
    httpd_json_doc(resp, status, doc);
    json_decref(doc);
}

int httpd_resp_header(struct httpd_resp *resp, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return -1;
    return buf_addf(&resp->headers, "%s: %s\r\n", name, value);
}

unsigned httpd_resp_status(const struct httpd_resp *resp)
{
    return resp->status;
}

struct httpd_resp *httpd_resp_new(void)
{
    struct httpd_resp *resp = calloc(1, sizeof(*resp));
    if (resp)
        resp->headers = (struct buf)BUF_INIT(16384);
    return resp;
}

void httpd_resp_free(struct httpd_resp *resp)
{
    if (!resp)
        return;
    httpd_resp_release(resp);
    free(resp);
}

const char *httpd_resp_body(const struct httpd_resp *resp, size_t *len)
{
    *len = resp->body_len;
    return resp->body;
}

const char *httpd_resp_header_value(const struct httpd_resp *resp, const char *name, char *buf,
                                    size_t size)
{
    size_t n = strlen(name);
    /* The lines are "Name: value\r\n", as httpd_resp_header wrote them. */
    for (const char *line = buf_str(&resp->headers); *line;) {
        const char *end = strstr(line, "\r\n");
        if (!end)
            break;
        if ((size_t)(end - line) > n + 1 && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            if ((size_t)(end - v) >= size)
                return NULL;
            memcpy(buf, v, (size_t)(end - v));
            buf[end - v] = '\0';
            return buf;
        }
        line = end + 2;
    }
    return NULL;
}

const char *httpd_reason(unsigned status)
{
    static const struct {
        unsigned code;
        const char *text;
    } reasons[] = {
        {100, "Continue"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {413, "Content Too Large"},
        {415, "Unsupported Media Type"},
        {417, "Expectation Failed"},
        {422, "Unprocessable Content"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {503, "Service Unavailable"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].code == status)
            return reasons[i].text;
    return "Status";
}

/* ------------------------------------------------------------ operations */

struct ops_ready {
    httpd_ready_fn ready;
    void *arg;
};

void httpd_healthz_reply(struct httpd_resp *resp, httpd_ready_fn ready, void *arg)
{
    char why[256] = "";
    if (!ready || ready(arg, why, sizeof(why))) {
        httpd_json(resp, 200, "{\"status\":\"ok\"}");
        return;
    }
    json_t *doc = json_pack("{s:s,s:s}", "status", "starting", "reason", why);
    httpd_json_doc(resp, 503, doc);
    json_decref(doc);
}

void httpd_metrics_reply(struct httpd_resp *resp)
{
    char *text = metrics_render();
    httpd_reply_take(resp, text ? 200 : 503, "text/plain; version=0.0.4", text,
                     text ? strlen(text) : 0);
}

static void on_healthz(struct httpd_req *req, struct httpd_resp *resp, void *arg)
{
    const struct ops_ready *r = arg;
    (void)req;
    httpd_healthz_reply(resp, r->ready, r->arg);
}

static void on_metrics(struct httpd_req *req, struct httpd_resp *resp, void *arg)
{
    (void)req;
    (void)arg;
    httpd_metrics_reply(resp);
}

int httpd_add_ops_routes(struct httpd *h, httpd_ready_fn ready, void *arg)
{
    /* A process serves ops routes on one or two servers; their contexts
     * live in static storage for the life of the process. */
    static struct ops_ready ctxs[4];
    static int n_ctxs;
    if (n_ctxs == (int)(sizeof(ctxs) / sizeof(ctxs[0])))
        return -1;
    struct ops_ready *ctx = &ctxs[n_ctxs++];
    ctx->ready = ready;
    ctx->arg = arg;
    if (httpd_route(h, "GET", "/healthz", httpd_never_blocks, on_healthz, ctx) ||
        httpd_route(h, "GET", "/metrics", httpd_never_blocks, on_metrics, NULL))
        return -1;
    return 0;
}

int httpd_ops_bind(struct httpd_ops *ops, const char *listen, char *errstr, size_t errstr_size)
{
    struct httpd_limits lim;
    httpd_limits_default(&lim);
    ops->h = httpd_new(&lim, errstr, errstr_size);
    if (!ops->h || httpd_listen(ops->h, listen, errstr, errstr_size)) {
        httpd_free(ops->h);
        ops->h = NULL;
        return -1;
    }
    return 0;
}

int httpd_ops_serve(struct httpd_ops *ops, httpd_ready_fn ready, void *arg, char *errstr,
                    size_t errstr_size)
{
    if (httpd_add_ops_routes(ops->h, ready, arg)) {
        snprintf(errstr, errstr_size, "cannot add the ops routes");
        return -1;
    }
    return httpd_start(ops->h, errstr, errstr_size);
}

void httpd_ops_stop(struct httpd_ops *ops)
{
    httpd_free(ops->h);
    ops->h = NULL;
}
