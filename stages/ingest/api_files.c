/* Stored files: GET /v1/files/{file_id} (a screenshot of a rendered page),
 * for the tenant whose item made it, until it expires. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "clock.h"
#include "files.h"
#include "ids.h"
#include "log.h"

static void not_found(struct httpd_resp *resp, const char *id)
{
    httpd_error(resp, 404, "not_found", "no such file (unknown, expired, or not yours)",
                json_pack("{s:s}", "id", id ? id : ""));
}

static void h_file(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                   const char *tenant)
{
    const char *id = httpd_param(req, "id");
    struct file *file = NULL;
    char errstr[256], header[128];
    if (!id || !ids_valid("fil", id)) {
        not_found(resp, id);
        return;
    }
    switch (files_get(a->files, id, tenant, &file, errstr, sizeof(errstr))) {
    case FILES_OK: break;
    case FILES_NOT_FOUND: not_found(resp, id); return;
    case FILES_BUSY:
        httpd_resp_header(resp, "Retry-After", "1");
        httpd_error(resp, 503, "busy", "too many downloads at once; try again shortly", NULL);
        return;
    case FILES_ERROR:
        LOG_WARN("file_read_failed", "file=%s err=\"%s\"", id, errstr);
        httpd_error(resp, 503, "kafka_unavailable", "the file could not be read", NULL);
        return;
    }
    /* The same bytes until they expire: a client may keep them that long. */
    long long left = (file->expires_ms - clk_now_ms()) / 1000;
    snprintf(header, sizeof(header), "private, max-age=%lld, immutable", left > 0 ? left : 0);
    httpd_resp_header(resp, "Cache-Control", header);
    snprintf(header, sizeof(header), "\"%s\"", id);
    httpd_resp_header(resp, "ETag", header);
    /* Served as exactly the type it was stored as, never sniffed. */
    httpd_resp_header(resp, "X-Content-Type-Options", "nosniff");
    httpd_reply_borrow(resp, 200, file->content_type, file->data, file->len, files_release, file);
}

const struct api_route api_files_routes[] = {
    {"GET", "/v1/files/:id", "files", h_file, 0, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
