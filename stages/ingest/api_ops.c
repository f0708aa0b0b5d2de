/* GET /healthz and GET /metrics, served without an API key. ingest is ready
 * once Kafka answers and the status table has caught up with the topic, so
 * a load balancer sends no status request that would answer 404 for a
 * batch not read yet. */
#include <stdio.h>

#include "api.h"

static int ready(void *arg, char *why, size_t why_size)
{
    struct api *a = arg;
    if (!atomic_load(&a->kafka_up)) {
        snprintf(why, why_size, "kafka not reachable");
        return 0;
    }
    if (!atomic_load(&a->status_caught_up)) {
        snprintf(why, why_size, "status table catching up");
        return 0;
    }
    if (!atomic_load(&a->schedules_caught_up)) {
        snprintf(why, why_size, "schedules catching up");
        return 0;
    }
    return 1;
}

static void h_healthz(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                      const char *tenant)
{
    (void)req;
    (void)tenant;
    httpd_healthz_reply(resp, ready, a);
}

static void h_metrics(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                      const char *tenant)
{
    (void)a;
    (void)req;
    (void)tenant;
    httpd_metrics_reply(resp);
}

const struct api_route api_ops_routes[] = {
    {"GET", "/healthz", "healthz", h_healthz, 1, httpd_never_blocks},
    {"GET", "/metrics", "metrics", h_metrics, 1, httpd_never_blocks},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
