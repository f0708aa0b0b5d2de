/*
 * ferry-aggregate — counts every item of every batch exactly once, publishes
 * status snapshots and emits the webhook task when a batch completes.
 *
 * Reads `batches` and `scrape.results`; writes `batch.status`, `webhooks`,
 * `aggregate.dlq` and its changelog `aggregate.state`, all in Kafka
 * transactions with the consumed offsets (engine.h says how). Several
 * instances share the work as one consumer group; give each its own
 * FERRY_AGGREGATE_INSTANCE.
 */
#include <stdio.h>

#include "engine.h"
#include "httpd.h"
#include "log.h"
#include "stage.h"

int main(int argc, char **argv)
{
    struct stage st;
    struct httpd_ops ops = {0};
    char errstr[512];
    int rc = stage_init(&st, "aggregate",
                        "Counts every item of every batch exactly once, publishes status "
                        "snapshots and emits the webhook task when a batch completes.",
                        engine_opts, argc, argv);
    if (rc)
        return rc < 0 ? 2 : 0;

    /* The port first: a duplicate that cannot bind stops before its
     * transactional id fences the running instance. */
    if (httpd_ops_bind(&ops, cfg_str(&st.cfg, "FERRY_AGGREGATE_METRICS_LISTEN"), errstr,
                       sizeof(errstr))) {
        LOG_ERROR("start_failed", "error=\"%s\"", errstr);
        return 2;
    }
    struct engine *e = engine_open(&st, errstr, sizeof(errstr));
    if (!e || httpd_ops_serve(&ops, engine_ready, e, errstr, sizeof(errstr))) {
        LOG_ERROR("start_failed", "error=\"%s\"", errstr);
        httpd_ops_stop(&ops);
        if (e)
            engine_close(e);
        return 2;
    }

    rc = engine_run(e);

    LOG_INFO("stopping", "");
    httpd_ops_stop(&ops);
    engine_close(e);
    LOG_INFO("stopped", "");
    return rc ? 1 : 0;
}
