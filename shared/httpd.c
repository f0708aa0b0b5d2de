#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "metrics.h"

struct ops_ctx {
    httpd_ready_fn ready;
    void *arg;
};

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

void httpd_json(struct _u_response *resp, unsigned int status, const char *body)
{
    ulfius_set_string_body_response(resp, status, body);
    u_map_put(resp->map_header, "Content-Type", "application/json");
}

static int on_healthz(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct ops_ctx *ctx = user;
    char why[256] = "", body[512];
    (void)req;
    if (!ctx->ready || ctx->ready(ctx->arg, why, sizeof(why))) {
        httpd_json(resp, 200, "{\"status\":\"ok\"}");
        return U_CALLBACK_COMPLETE;
    }
    json_t *doc = json_pack("{s:s,s:s}", "status", "starting", "reason", why);
    char *s = jx_dump(doc, NULL);
    snprintf(body, sizeof(body), "%s", s ? s : "{\"status\":\"starting\"}");
    free(s);
    json_decref(doc);
    httpd_json(resp, 503, body);
    return U_CALLBACK_COMPLETE;
}

static int on_metrics(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    (void)user;
    char *text = metrics_render();
    ulfius_set_string_body_response(resp, 200, text);
    u_map_put(resp->map_header, "Content-Type", "text/plain; version=0.0.4");
    free(text);
    return U_CALLBACK_COMPLETE;
}

int httpd_add_ops_routes(struct _u_instance *inst, httpd_ready_fn ready, void *arg)
{
    /* A process serves ops routes on one or two servers; their contexts
     * live in static storage for the life of the process (nothing to free,
     * nothing for LeakSanitizer to report at exit). */
    static struct ops_ctx ctxs[4];
    static int n_ctxs;
    if (n_ctxs == (int)(sizeof(ctxs) / sizeof(ctxs[0])))
        return -1;
    struct ops_ctx *ctx = &ctxs[n_ctxs++];
    ctx->ready = ready;
    ctx->arg = arg;
    if (ulfius_add_endpoint_by_val(inst, "GET", "/healthz", NULL, 0, on_healthz, ctx) != U_OK ||
        ulfius_add_endpoint_by_val(inst, "GET", "/metrics", NULL, 0, on_metrics, NULL) != U_OK)
        return -1;
    return 0;
}

int httpd_start(struct _u_instance *inst, struct sockaddr_in *addr)
{
    /* The options ulfius_start_framework itself passes, so behaviour is the
     * same but for the poll() flag. */
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, addr},
        {inst->timeout > 0 ? MHD_OPTION_CONNECTION_TIMEOUT : MHD_OPTION_END,
         (intptr_t)inst->timeout, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    return ulfius_start_framework_with_mhd_options(inst, flags, opts);
}

int httpd_ops_start(struct httpd_ops *ops, const char *listen, httpd_ready_fn ready, void *arg,
                    char *errstr, size_t errstr_size)
{
    memset(ops, 0, sizeof(*ops));
    if (httpd_parse_listen(listen, &ops->addr, errstr, errstr_size))
        return -1;
    if (ulfius_init_instance(&ops->inst, ntohs(ops->addr.sin_port), &ops->addr, NULL) != U_OK) {
        snprintf(errstr, errstr_size, "ulfius init failed for %s", listen);
        return -1;
    }
    if (httpd_add_ops_routes(&ops->inst, ready, arg) ||
        httpd_start(&ops->inst, &ops->addr) != U_OK) {
        snprintf(errstr, errstr_size, "cannot listen on %s", listen);
        ulfius_clean_instance(&ops->inst);
        return -1;
    }
    ops->started = 1;
    return 0;
}

void httpd_ops_stop(struct httpd_ops *ops)
{
    if (!ops->started)
        return;
    ulfius_stop_framework(&ops->inst);
    ulfius_clean_instance(&ops->inst);
    ops->started = 0;
}
