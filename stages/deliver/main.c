/*
 * ferry-deliver — POSTs signed webhooks; failed attempts wait in retry-tier delay topics, then go to the dead-letter topic.
 *
 * Foundation skeleton: starts, provisions the topics, consumes its input
 * topic in a real poll loop, serves /healthz and /metrics, and shuts down in
 * order on SIGTERM/SIGINT. The stage's work arrives with its own issue.
 */
#include <stdio.h>

#include "httpd.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "shutdown.h"
#include "stage.h"

static const struct cfg_opt deliver_opts[] = {
    {"FERRY_DELIVER_METRICS_LISTEN", CFG_STRING, "127.0.0.1:9103",
     "host:port of this stage's /healthz and /metrics", 0, 0, httpd_check_listen},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

int main(int argc, char **argv)
{
    struct stage st;
    struct httpd_ops ops;
    char errstr[512];
    int rc = stage_init(&st, "deliver", "POSTs signed webhooks; failed attempts wait in retry-tier delay topics, then go to the dead-letter topic.", deliver_opts, argc, argv);
    if (rc)
        return rc < 0 ? 2 : 0;

    rd_kafka_conf_t *conf = kafka_consumer_conf(&st.cfg, st.client_id, "ferry-deliver", errstr,
                                                sizeof(errstr));
    const char *topics[] = {topic(&st.topics, TOPIC_WEBHOOKS)};
    rd_kafka_t *consumer = conf ? kafka_consumer_open(conf, topics, 1, errstr, sizeof(errstr)) : NULL;
    if (!consumer) {
        fprintf(stderr, "ferry-deliver: %s\n", errstr);
        return 2;
    }
    if (httpd_ops_start(&ops, cfg_str(&st.cfg, "FERRY_DELIVER_METRICS_LISTEN"), NULL, NULL,
                        errstr, sizeof(errstr))) {
        fprintf(stderr, "ferry-deliver: %s\n", errstr);
        kafka_consumer_close(consumer, 0);
        return 2;
    }
    if (stage_ensure_topics(&st, consumer) == 0)
        LOG_INFO("started", "input=%s", topics[0]);

    struct metric *consumed =
        metric_counter("ferry_deliver_consumed_total", "Messages consumed from the input topic", "");
    while (!shutdown_requested()) {
        /* 100 ms: short enough to notice a stop signal at once, long enough
         * that an idle stage costs no CPU. */
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(consumer, 100);
        if (!msg)
            continue;
        if (!msg->err) {
            metric_inc(consumed, 1);
            rd_kafka_offset_store(msg->rkt, msg->partition, msg->offset);
        } else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            LOG_WARN("consume_error", "err=%s", rd_kafka_err2name(msg->err));
        }
        rd_kafka_message_destroy(msg);
    }

    LOG_INFO("stopping", "consumed=%lld", metric_value(consumed));
    httpd_ops_stop(&ops);
    kafka_consumer_close(consumer, 0);
    LOG_INFO("stopped", "");
    return 0;
}
