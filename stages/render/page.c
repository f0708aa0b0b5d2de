#include "page.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "image.h"
#include "jx.h"
#include "log.h"
#include "navfail.h"
#include "secretbox.h"

/* After the deadline, disposing of the context still gets this long; a
 * browser that cannot even do that is hung. */
#define DISPOSE_GRACE_MS 5000
/* Screenshots and HTML keep at least this share of the item's time: a
 * wait_for never takes more than the rest. */
#define CAPTURE_RESERVE_MS 1000

static const char *const watched[] = {
    "Page.loadEventFired",      "Page.javascriptDialogOpening", "Inspector.targetCrashed",
    "Network.responseReceived", "Network.loadingFailed",        NULL,
};

struct run {
    struct cdp *c;
    const struct page_req *r;
    struct page_res *res;
    char ctx[64], target[64], session[80];
    char doc_request[64]; /* the request id of the main frame's document */
    int loaded, world;
    long kills_at_start;
};

static void fail(struct run *u, const char *status, int transient, const char *fmt, const char *a)
{
    if (u->res->status)
        return; /* the first failure is the one to report */
    u->res->status = status;
    u->res->transient = transient;
    snprintf(u->res->error, sizeof(u->res->error), fmt, a);
}

static int pump(struct run *u, int64_t until, int want_load);

/* What a failed command means for the item. Always -1 (res->status set). */
static int failed(struct run *u, enum cdp_rc rc, const char *what, const char *err)
{
    switch (rc) {
    case CDP_OK: return 0;
    case CDP_GONE:
        u->res->browser_failed = u->res->interrupted = 1;
        fail(u, "render_error", 1, "%s", err);
        return -1;
    case CDP_TIMEOUT:
        if (clk_mono_ms() >= u->r->deadline_ms) {
            char why[120];
            snprintf(why, sizeof(why), "%s did not finish within the item's %ld ms", what,
                     u->r->timeout_ms);
            fail(u, "timeout", 1, "%s", why);
        } else {
            fail(u, "render_error", 1, "%s", err);
        }
        return -1;
    case CDP_ERROR:
        /* A crashed page answers commands with errors: let its crash
         * event, if any, name the failure. */
        pump(u, clk_mono_ms() + 50, 0);
        fail(u, "render_error", 0, "%s", err);
        return -1;
    }
    return -1;
}

/* One command; NULL session = the browser. 0 ok, -1 (res->status set). */
static int call(struct run *u, const char *session, const char *method, json_t *params,
                int64_t deadline, json_t **out)
{
    char err[200];
    enum cdp_rc rc = cdp_call(u->c, session, method, params, deadline, out, err, sizeof(err));
    return rc == CDP_OK ? 0 : failed(u, rc, method, err);
}

/* Maps a failed navigation (the document's Network.loadingFailed) to a
 * status. The proxy knows better than Chromium's generic "proxy connection
 * failed". */
static void navigation_failed(struct run *u, const char *text)
{
    struct proxy_failure f;
    if ((strstr(text, "SOCKS") || strstr(text, "PROXY") || strstr(text, "TUNNEL")) &&
        proxy_slot_failure(u->r->proxy, u->r->slot, NULL, &f)) {
        const char *k = f.kind;
        if (strcmp(k, "blocked") == 0 || strcmp(k, "ad") == 0)
            fail(u, "blocked", 0, "%s", f.why);
        else if (strcmp(k, "dns") == 0)
            fail(u, "dns", 0, "%s", f.why);
        else if (strcmp(k, "timeout") == 0)
            fail(u, "timeout", 1, "%s", f.why);
        else
            fail(u, "connect", 0, "%s", f.why);
        return;
    }
    int transient;
    const char *status = navfail_status(text, &transient);
    fail(u, status, transient, "navigation failed: %s", text);
}

static const char *header_value(const json_t *headers, const char *name)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)headers, k, v)
    {
        if (strcasecmp(k, name) == 0 && json_is_string(v))
            return json_string_value(v);
    }
    return NULL;
}

static void replace(char **dst, const char *src)
{
    free(*dst);
    *dst = src ? strdup(src) : NULL;
}

/* Handles one event. -1 when the page is lost (crashed). */
static int on_event(struct run *u, json_t *ev)
{
    const char *m = jx_str(ev, "method", "");
    json_t *p = json_object_get(ev, "params");
    if (strcmp(m, "Page.loadEventFired") == 0) {
        u->loaded = 1;
    } else if (strcmp(m, "Network.responseReceived") == 0) {
        /* The main frame's document (its frame id is the target id); the
         * last one wins (a redirect's final answer, a client navigation). */
        if (strcmp(jx_str(p, "type", ""), "Document") != 0 ||
            strcmp(jx_str(p, "frameId", ""), u->target) != 0)
            return 0;
        json_t *resp = json_object_get(p, "response");
        snprintf(u->doc_request, sizeof(u->doc_request), "%s", jx_str(p, "requestId", ""));
        u->res->http_status = (long)jx_int(resp, "status", 0);
        replace(&u->res->final_url, jx_str(resp, "url", NULL));
        const char *ct = header_value(json_object_get(resp, "headers"), "Content-Type");
        replace(&u->res->content_type, ct ? ct : jx_str(resp, "mimeType", NULL));
    } else if (strcmp(m, "Network.loadingFailed") == 0) {
        /* The main frame's document failing before the load is the
         * navigation failing. Until it answered no other frame exists, so
         * any document is it; after, its request id tells. */
        if (strcmp(jx_str(p, "type", ""), "Document") != 0 || u->loaded)
            return 0;
        if (!u->res->http_status) {
            navigation_failed(u, jx_str(p, "errorText", "net::ERR_FAILED"));
            return -1;
        }
        if (strcmp(jx_str(p, "requestId", ""), u->doc_request) != 0 || !jx_bool(p, "canceled", 0))
            return 0; /* cut mid-body: the page shows what came */
        /* Answered, then not shown. */
        long st = u->res->http_status;
        fail(u, "http_error", 0, "%s",
             st == 204 || st == 205 ? "the URL answers no content, not a page"
                                    : "the URL answers a download, not a page");
        return -1;
    } else if (strcmp(m, "Page.javascriptDialogOpening") == 0) {
        /* An alert() blocks the page's scripts (and its load event) until
         * answered: dismiss it, but let a page be left (beforeunload). */
        int leave = strcmp(jx_str(p, "type", ""), "beforeunload") == 0;
        json_t *params = json_pack("{s:b}", "accept", leave);
        char err[160];
        cdp_call(u->c, u->session, "Page.handleJavaScriptDialog", params, clk_mono_ms() + 2000,
                 NULL, err, sizeof(err));
    } else if (strcmp(m, "Inspector.targetCrashed") == 0) {
        u->res->crashed = 1;
        if (atomic_load(u->r->memory_kills) != u->kills_at_start) {
            char why[120];
            snprintf(why, sizeof(why), "the page used more than %lld MiB of memory",
                     u->r->memory_cap >> 20);
            fail(u, "too_large", 0, "%s", why);
        } else {
            fail(u, "render_error", 1, "%s", "the page crashed the browser's renderer");
        }
        return -1;
    }
    return 0;
}

/* Handles events until `until` (monotonic ms) or, with want_load, the load
 * event. 1 loaded (or the time is up without want_load), 0 time up, -1 lost. */
static int pump(struct run *u, int64_t until, int want_load)
{
    for (;;) {
        if (want_load && u->loaded)
            return 1;
        json_t *ev;
        enum cdp_rc rc = cdp_event(u->c, u->session, until, &ev);
        if (rc == CDP_GONE) {
            u->res->browser_failed = u->res->interrupted = 1;
            fail(u, "render_error", 1, "%s", "browser gone");
            return -1;
        }
        if (rc == CDP_TIMEOUT)
            return want_load ? 0 : 1;
        int r = on_event(u, ev);
        json_decref(ev);
        if (r < 0)
            return -1;
    }
}

/* Network.setExtraHTTPHeaders's params for the item's extra request
 * headers; NULL when it has none. */
static json_t *extra_headers(const json_t *headers)
{
    return headers && json_object_size(headers) ? json_pack("{s:O}", "headers", (json_t *)headers)
                                                : NULL;
}

/* A fresh context and its tab at url, sized as the request says, with the
 * extra headers if any. The browser holds a new tab before it navigates
 * (pool.c starts it so): the tab's domains are enabled, then it runs, so
 * nothing it does goes unseen and no blank page is loaded first. */
static int open_page(struct run *u, const char *url, const json_t *headers)
{
    const struct page_req *r = u->r;
    json_t *out = NULL;
    char proxy[64];
    snprintf(proxy, sizeof(proxy), "socks5://127.0.0.1:%d", proxy_port(r->proxy, r->slot));
    if (call(u, NULL, "Target.createBrowserContext",
             json_pack("{s:b,s:s,s:s}", "disposeOnDetach", 1, "proxyServer", proxy,
                       "proxyBypassList", "<-loopback>"),
             r->deadline_ms, &out))
        return -1;
    snprintf(u->ctx, sizeof(u->ctx), "%s", jx_str(out, "browserContextId", ""));
    json_decref(out);
    /* A download would write to the disk of the stage: never. */
    if (call(u, NULL, "Browser.setDownloadBehavior",
             json_pack("{s:s,s:s}", "behavior", "deny", "browserContextId", u->ctx), r->deadline_ms,
             NULL) ||
        call(u, NULL, "Target.createTarget",
             json_pack("{s:s,s:s,s:i,s:i}", "url", url, "browserContextId", u->ctx, "width",
                       r->width, "height", r->height),
             r->deadline_ms, &out))
        return -1;
    snprintf(u->target, sizeof(u->target), "%s", jx_str(out, "targetId", ""));
    json_decref(out);
    enum cdp_rc rc = cdp_claim(u->c, u->target, r->deadline_ms, u->session, sizeof(u->session));
    if (rc != CDP_OK)
        return failed(u, rc, "attaching the new page",
                      rc == CDP_GONE ? "browser gone" : "the new page was not attached");
    cdp_watch(u->c, u->session, watched);
    struct cdp_cmd cmds[CDP_MAX_BATCH] = {
        {"Inspector.enable", NULL, NULL},
        {"Page.enable", NULL, NULL},
        /* Response bodies are never asked for: keep none buffered. */
        {"Network.enable",
         json_pack("{s:i,s:i}", "maxTotalBufferSize", 0, "maxResourceBufferSize", 0), NULL},
        {"Emulation.setDeviceMetricsOverride",
         json_pack("{s:i,s:i,s:i,s:b}", "width", r->width, "height", r->height, "deviceScaleFactor",
                   1, "mobile", 0),
         NULL},
    };
    int n = 4;
    json_t *h = extra_headers(headers);
    if (h)
        cmds[n++] = (struct cdp_cmd){"Network.setExtraHTTPHeaders", h, NULL};
    cmds[n++] = (struct cdp_cmd){"Runtime.runIfWaitingForDebugger", NULL, NULL};
    char err[200];
    rc = cdp_calls(u->c, u->session, cmds, n, r->deadline_ms, err, sizeof(err));
    return rc == CDP_OK ? 0 : failed(u, rc, "opening the page", err);
}

/* The prepared page when it fits the item, else a page of its own; then
 * the item's own headers. */
static int take_page(struct run *u)
{
    const struct page_req *r = u->r;
    struct page_tab *t = r->spare;
    if (t && t->ctx[0] && t->width == r->width && t->height == r->height) {
        snprintf(u->ctx, sizeof(u->ctx), "%s", t->ctx);
        snprintf(u->target, sizeof(u->target), "%s", t->target);
        snprintf(u->session, sizeof(u->session), "%s", t->session);
        memset(t, 0, sizeof(*t));
        u->res->spare_used = 1;
        json_t *h = extra_headers(r->headers);
        return h ? call(u, u->session, "Network.setExtraHTTPHeaders", h, r->deadline_ms, NULL) : 0;
    }
    if (t && t->ctx[0])
        page_discard(u->c, t);
    return open_page(u, r->url, r->headers);
}

int page_prepare(struct cdp *c, struct proxy *proxy, int slot, int width, int height,
                 int64_t deadline_ms, struct page_tab *t, char *errstr, size_t errstr_size)
{
    struct page_req r = {
        .deadline_ms = deadline_ms, .width = width, .height = height, .proxy = proxy, .slot = slot};
    struct page_res res = {0};
    struct run u = {.c = c, .r = &r, .res = &res};
    memset(t, 0, sizeof(*t));
    /* A tab opened at about:blank shows the initial empty document: no
     * navigation, so no load event is left for the item to mistake. */
    if (open_page(&u, "about:blank", NULL) == 0) {
        snprintf(t->ctx, sizeof(t->ctx), "%s", u.ctx);
        snprintf(t->target, sizeof(t->target), "%s", u.target);
        snprintf(t->session, sizeof(t->session), "%s", u.session);
        t->width = width;
        t->height = height;
        return 0;
    }
    snprintf(errstr, errstr_size, "%s", res.error);
    if (res.browser_failed)
        return 1;
    struct page_tab half = {.width = width, .height = height};
    snprintf(half.ctx, sizeof(half.ctx), "%s", u.ctx);
    snprintf(half.session, sizeof(half.session), "%s", u.session);
    page_discard(c, &half);
    return -1;
}

void page_discard(struct cdp *c, struct page_tab *t)
{
    if (!t->ctx[0])
        return;
    char err[160];
    if (t->session[0])
        cdp_unwatch(c, t->session);
    cdp_call(c, NULL, "Target.disposeBrowserContext",
             json_pack("{s:s}", "browserContextId", t->ctx), clk_mono_ms() + DISPOSE_GRACE_MS, NULL,
             err, sizeof(err));
    memset(t, 0, sizeof(*t));
}

/* Page.navigate in a prepared page; then, either way, until the load. How
 * the navigation went is told by the events alone, the same in both: the
 * document's answer (Network.responseReceived) or its failure
 * (Network.loadingFailed: an error, or a download or no content after an
 * answer). */
static int navigate(struct run *u)
{
    if (u->res->spare_used && call(u, u->session, "Page.navigate",
                                   json_pack("{s:s}", "url", u->r->url), u->r->deadline_ms, NULL))
        return -1;
    int loaded = pump(u, u->r->deadline_ms, 1);
    if (loaded < 0)
        return -1;
    if (!loaded) {
        char why[120];
        snprintf(why, sizeof(why), "the page did not finish loading within %ld ms",
                 u->r->timeout_ms);
        fail(u, "timeout", 1, "%s", why);
        return -1;
    }
    long st = u->res->http_status;
    if (st >= 400) {
        char why[40];
        snprintf(why, sizeof(why), "http %ld", st);
        fail(u, st == 404 || st == 410 ? "not_found" : "http_error",
             st == 429 || st == 502 || st == 503 || st == 504, "%s", why);
        return -1;
    }
    return 0;
}

/* Evaluates an expression in our isolated world; the value (new ref). */
static int eval(struct run *u, const char *expr, int await, int64_t deadline, json_t **value)
{
    json_t *out = NULL;
    if (!u->world) {
        if (call(u, u->session, "Page.createIsolatedWorld",
                 json_pack("{s:s,s:s}", "frameId", u->target, "worldName", "ferry"), deadline,
                 &out))
            return -1;
        u->world = (int)jx_int(out, "executionContextId", 0);
        json_decref(out);
    }
    if (call(u, u->session, "Runtime.evaluate",
             json_pack("{s:s,s:i,s:b,s:b}", "expression", expr, "contextId", u->world,
                       "returnByValue", 1, "awaitPromise", await),
             deadline, &out))
        return -1;
    json_t *exc = json_object_get(out, "exceptionDetails");
    if (exc) {
        fail(u, "render_error", 0, "script failed: %s", jx_str(exc, "text", "exception"));
        json_decref(out);
        return -1;
    }
    *value = json_incref(json_object_get(json_object_get(out, "result"), "value"));
    json_decref(out);
    return 0;
}

static int wait_for(struct run *u)
{
    const struct page_req *r = u->r;
    int64_t now = clk_mono_ms();
    int64_t cap = r->deadline_ms - CAPTURE_RESERVE_MS;
    if (cap < now)
        cap = now;
    if (r->wait_selector && r->wait_selector[0]) {
        /* Polled inside the page every 50 ms, until found or the cap. */
        json_t *sel = json_string(r->wait_selector);
        char *sel_js = jx_dump(sel, NULL);
        json_decref(sel);
        char expr[1400];
        int n = snprintf(expr, sizeof(expr),
                         "(async (s, ms) => { const end = Date.now() + ms;"
                         " for (;;) { try { if (document.querySelector(s)) return 'found'; }"
                         " catch (e) { return 'invalid'; }"
                         " if (Date.now() >= end) return 'absent';"
                         " await new Promise(r => setTimeout(r, 50)); } })(%s, %lld)",
                         sel_js ? sel_js : "\"\"", (long long)(cap - now));
        free(sel_js);
        if (n >= (int)sizeof(expr)) {
            fail(u, "render_error", 0, "%s", "wait_for.selector is too long");
            return -1;
        }
        json_t *v = NULL;
        if (eval(u, expr, 1, cap + 2000 < r->deadline_ms ? cap + 2000 : r->deadline_ms, &v))
            return -1;
        const char *found = json_string_value(v);
        if (!found || strcmp(found, "found") != 0) {
            int invalid = found && strcmp(found, "invalid") == 0;
            fail(u, invalid ? "render_error" : "timeout", 0,
                 invalid ? "wait_for.selector %s is not a valid CSS selector"
                         : "wait_for.selector %s did not appear in time",
                 r->wait_selector);
            json_decref(v);
            return -1;
        }
        json_decref(v);
    }
    if (r->wait_ms > 0) {
        int64_t until = clk_mono_ms() + r->wait_ms;
        if (until > cap)
            until = cap;
        if (pump(u, until, 0) < 0)
            return -1;
    }
    return 0;
}

static int capture_html(struct run *u)
{
    char expr[800];
    snprintf(expr, sizeof(expr),
             "(() => { const d = document; let h = '';"
             " if (d.doctype) h = new XMLSerializer().serializeToString(d.doctype) + '\\n';"
             " if (d.documentElement) h += d.documentElement.outerHTML;"
             " return h.length > %zu ? {too_large: h.length} : {html: h, url: location.href}; })()",
             u->r->max_html);
    json_t *v = NULL;
    if (eval(u, expr, 0, u->r->deadline_ms, &v))
        return -1;
    const char *html = jx_str(v, "html", NULL);
    if (!html || strlen(html) > u->r->max_html) {
        fail(u, "too_large", 0, "%s", "the rendered document is larger than max_bytes");
        json_decref(v);
        return -1;
    }
    u->res->html_len = strlen(html);
    u->res->html = strdup(html);
    /* location.href after scripts ran (pushState included). */
    if (jx_str(v, "url", NULL))
        replace(&u->res->final_url, jx_str(v, "url", NULL));
    json_decref(v);
    return 0;
}

static int screenshot(struct run *u)
{
    const struct page_req *r = u->r;
    json_t *params = json_pack("{s:s,s:b}", "format", r->shot == SHOT_JPEG ? "jpeg" : "png",
                               "optimizeForSpeed", 1);
    if (r->shot == SHOT_JPEG && r->quality > 0)
        json_object_set_new(params, "quality", json_integer(r->quality));
    if (r->full_page) {
        json_t *m = NULL;
        if (call(u, u->session, "Page.getLayoutMetrics", NULL, r->deadline_ms, &m)) {
            json_decref(params);
            return -1;
        }
        json_t *size = json_object_get(m, "cssContentSize");
        double h = json_number_value(json_object_get(size, "height"));
        json_decref(m);
        int height = h < 1 ? r->height : (int)ceil(h);
        if (height > r->max_height)
            height = r->max_height;
        json_object_set_new(params, "captureBeyondViewport", json_true());
        json_object_set_new(params, "clip",
                            json_pack("{s:i,s:i,s:i,s:i,s:i}", "x", 0, "y", 0, "width", r->width,
                                      "height", height, "scale", 1));
    }
    json_t *out = NULL;
    if (call(u, u->session, "Page.captureScreenshot", params, r->deadline_ms, &out))
        return -1;
    const char *data = jx_str(out, "data", "");
    size_t cap = strlen(data) / 4 * 3 + 3;
    u->res->image = malloc(cap);
    if (!u->res->image)
        abort();
    long n = secretbox_unb64(data, u->res->image, cap);
    json_decref(out);
    u->res->image_len = n > 0 ? (size_t)n : 0;
    if (n <= 0 ||
        image_size(u->res->image, u->res->image_len, &u->res->image_width, &u->res->image_height)) {
        fail(u, "render_error", 0, "%s", "the browser returned no image");
        return -1;
    }
    return 0;
}

void page_render(struct cdp *c, const struct page_req *r, struct page_res *res)
{
    struct run u = {.c = c, .r = r, .res = res, .kills_at_start = atomic_load(r->memory_kills)};
    memset(res, 0, sizeof(*res));
    proxy_slot_begin(r->proxy, r->slot, r->block_ads);
    if (take_page(&u) == 0 && navigate(&u) == 0 && wait_for(&u) == 0 &&
        (!r->want_html || capture_html(&u) == 0) && (r->shot == SHOT_NONE || screenshot(&u) == 0))
        res->status = "ok";
    if (u.session[0])
        cdp_unwatch(c, u.session);
    if (u.ctx[0] && !res->browser_failed) {
        /* Closes every page of the context (popups included) and drops its
         * cookies, storage and cache. */
        int64_t until =
            (clk_mono_ms() > r->deadline_ms ? clk_mono_ms() : r->deadline_ms) + DISPOSE_GRACE_MS;
        char err[160];
        enum cdp_rc rc =
            cdp_call(c, NULL, "Target.disposeBrowserContext",
                     json_pack("{s:s}", "browserContextId", u.ctx), until, NULL, err, sizeof(err));
        if (rc == CDP_TIMEOUT || rc == CDP_GONE) {
            LOG_WARN("browser_unresponsive", "call=Target.disposeBrowserContext why=%s", err);
            res->browser_failed = 1;
            /* A browser that cannot even close a context was hung, so the
             * item's timeout was the browser's, not the page's: render it
             * again elsewhere. */
            if (res->status && strcmp(res->status, "timeout") == 0)
                res->interrupted = 1;
        }
    }
}

void page_res_release(struct page_res *res)
{
    free(res->final_url);
    free(res->content_type);
    free(res->html);
    free(res->image);
    memset(res, 0, sizeof(*res));
}
