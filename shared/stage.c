#include "stage.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "shutdown.h"

int stage_init(struct stage *st, const char *name, const char *summary, const struct cfg_opt *own,
               int argc, char **argv)
{
    char errstr[512];
    enum log_level level;

    memset(st, 0, sizeof(*st));
    st->name = name;
    snprintf(st->client_id, sizeof(st->client_id), "ferry-%s", name);
    cfg_init(&st->cfg, st->client_id, summary);
    cfg_add(&st->cfg, cfg_common);
    if (own)
        cfg_add(&st->cfg, own);

    int rc = cfg_parse(&st->cfg, argc, argv, errstr, sizeof(errstr));
    if (rc == 0 && topics_init(&st->topics, &st->cfg, errstr, sizeof(errstr)))
        rc = -1;
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", st->client_id, errstr);
    if (rc)
        return rc;

    log_level_parse(cfg_str(&st->cfg, "FERRY_LOG_LEVEL"), &level);
    log_init(name, level);
    shutdown_install();
    return 0;
}

int stage_ensure_topics(struct stage *st, rd_kafka_t *rk)
{
    char errstr[512];
    int64_t started = clk_mono_ms();
    int warned = 0;

    while (!shutdown_requested()) {
        if (topics_ensure(&st->topics, rk, &st->cfg, 10000, errstr, sizeof(errstr)) == 0) {
            LOG_INFO("topics_ready", "brokers=%s ms=%lld", cfg_str(&st->cfg, "FERRY_KAFKA_BROKERS"),
                     (long long)(clk_mono_ms() - started));
            return 0;
        }
        if (!warned++ || log_enabled(LOG_DEBUG)) {
            char q[600];
            LOG_WARN("topics_waiting", "reason=%s", log_quote(q, sizeof(q), errstr));
        }
        /* Short naps so a stop signal is noticed within a second. */
        for (int i = 0; i < 10 && !shutdown_requested(); i++)
            usleep(100 * 1000);
    }
    return -1;
}
