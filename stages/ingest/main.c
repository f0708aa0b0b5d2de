/*
 * ferry-ingest — the HTTP API: accepts batches, writes them durably to Kafka,
 * answers status from the compacted status topic.
 *
 * Foundation skeleton: starts, provisions the topics, follows the status
 * topic in a real poll loop, serves /healthz (ready once Kafka answers) and
 * /metrics on FERRY_LISTEN, and shuts down in order on SIGTERM/SIGINT.
 */
#include <stdio.h>

#include "httpd.h"
#include "kafka.h"
#include "log.h"
#include "shutdown.h"
#include "stage.h"

static const struct cfg_opt ingest_opts[] = {
    {"FERRY_LISTEN", CFG_STRING, "127.0.0.1:8080", "host:port of the HTTP API", 0, 0,
     httpd_check_listen},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

static volatile int kafka_ready;

static int ingest_ready(void *arg, char *why, size_t why_size)
{
    (void)arg;
    if (!kafka_ready)
        snprintf(why, why_size, "kafka not reachable yet");
    return kafka_ready;
}

int main(int argc, char **argv)
{
    struct stage st;
    struct _u_instance api;
    struct sockaddr_in addr;
    char errstr[512];
    int rc = stage_init(&st, "ingest", "The HTTP API of ferry: submit batches, poll status.",
                        ingest_opts, argc, argv);
    if (rc)
        return rc < 0 ? 2 : 0;

    const char *listen = cfg_str(&st.cfg, "FERRY_LISTEN");
    httpd_parse_listen(listen, &addr, errstr, sizeof(errstr));
    rd_kafka_conf_t *conf = kafka_consumer_conf(&st.cfg, st.client_id, "ferry-ingest-status",
                                                errstr, sizeof(errstr));
    const char *topics[] = {topic(&st.topics, TOPIC_STATUS)};
    rd_kafka_t *consumer = conf ? kafka_consumer_open(conf, topics, 1, errstr, sizeof(errstr)) : NULL;
    if (!consumer) {
        fprintf(stderr, "ferry-ingest: %s\n", errstr);
        return 2;
    }
    if (ulfius_init_instance(&api, ntohs(addr.sin_port), &addr, NULL) != U_OK ||
        httpd_add_ops_routes(&api, ingest_ready, NULL) || ulfius_start_framework(&api) != U_OK) {
        fprintf(stderr, "ferry-ingest: cannot listen on %s\n", listen);
        kafka_consumer_close(consumer, 0);
        return 2;
    }
    LOG_INFO("listening", "addr=%s", listen);
    if (stage_ensure_topics(&st, consumer) == 0)
        kafka_ready = 1;

    while (!shutdown_requested()) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(consumer, 100);
        if (msg)
            rd_kafka_message_destroy(msg);
    }

    LOG_INFO("stopping", "");
    ulfius_stop_framework(&api);
    ulfius_clean_instance(&api);
    kafka_consumer_close(consumer, 0);
    LOG_INFO("stopped", "");
    return 0;
}
