/* The dashboard (ui/, see ui.h): GET / is its index.html, GET /ui/{name}
 * its other files. Public (the page asks for an API key and sends it with
 * each API call it makes); answered from memory, on the I/O worker. */
#include <string.h>

#include "api.h"
#include "ui.h"

/* The page talks to this origin only; screenshots arrive as blob: URLs
 * (GET /v1/files needs the key, so the page fetches them itself). */
#define UI_CSP                                                                                     \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "        \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static void serve(struct api *a, struct httpd_req *req, struct httpd_resp *resp, const char *name)
{
    const struct ui_file *f = a->ui ? ui_find(a->ui, name) : NULL;
    if (!f) {
        httpd_error(resp, 404, "not_found",
                    a->ui && a->ui->n ? "no such dashboard file"
                                      : "the dashboard is not installed (FERRY_INGEST_UI_DIR)",
                    NULL);
        return;
    }
    /* Revalidated on every load (the names are not versioned, so a cached
     * app.js must never outlive the index.html it belongs to); unchanged
     * files cost a 304. */
    httpd_resp_header(resp, "Cache-Control", "no-cache");
    httpd_resp_header(resp, "ETag", f->etag);
    httpd_resp_header(resp, "X-Content-Type-Options", "nosniff");
    httpd_resp_header(resp, "Referrer-Policy", "no-referrer");
    if (strstr(f->content_type, "text/html")) {
        httpd_resp_header(resp, "Content-Security-Policy", UI_CSP);
        httpd_resp_header(resp, "X-Frame-Options", "DENY");
    }
    const char *inm = httpd_header(req, "If-None-Match");
    if (inm && strstr(inm, f->etag)) {
        httpd_reply(resp, 304, f->content_type, "", 0);
        return;
    }
    httpd_reply(resp, 200, f->content_type, f->data, f->len);
}

static void h_index(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                    const char *tenant)
{
    (void)tenant;
    serve(a, req, resp, "index.html");
}

static void h_file(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                   const char *tenant)
{
    (void)tenant;
    const char *name = httpd_param(req, "name");
    /* The decoded name: "..", "%2F" and the like are not names of the
     * folder's files, so they are 404 like any other unknown name. */
    if (!name || !ui_name_ok(name)) {
        httpd_error(resp, 404, "not_found", "no such dashboard file", NULL);
        return;
    }
    serve(a, req, resp, name);
}

const struct api_route api_ui_routes[] = {
    {"GET", "/", "ui", h_index, 1, httpd_never_blocks},
    {"GET", "/ui/:name", "ui", h_file, 1, httpd_never_blocks},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
