/*
 * topic_config BROKERS TOPIC — prints a topic's configuration, one
 * "name=value" per line (the admin API's DescribeConfigs), for tests that
 * check what ferry provisioned (kcat cannot describe configs).
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    char errstr[512];
    if (argc != 3) {
        fprintf(stderr, "usage: topic_config BROKERS TOPIC\n");
        return 2;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr))) {
        fprintf(stderr, "%s\n", errstr);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "%s\n", errstr);
        return 2;
    }
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, argv[2]);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DescribeConfigs(rk, &res, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
    int rc = 1;
    if (!ev || rd_kafka_event_error(ev)) {
        fprintf(stderr, "describe: %s\n", ev ? rd_kafka_event_error_string(ev) : "timeout");
        goto out;
    }
    size_t n, nc;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    if (n != 1 || rd_kafka_ConfigResource_error(rs[0])) {
        fprintf(stderr, "describe: %s\n", n ? rd_kafka_ConfigResource_error_string(rs[0]) : "?");
        goto out;
    }
    const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(rs[0], &nc);
    for (size_t i = 0; i < nc; i++) {
        const char *v = rd_kafka_ConfigEntry_value(entries[i]);
        printf("%s=%s\n", rd_kafka_ConfigEntry_name(entries[i]), v ? v : "");
    }
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}
