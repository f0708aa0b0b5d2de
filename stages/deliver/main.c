/*
 * ferry-deliver — POSTs signed webhooks; failed attempts wait in retry-tier
 * delay topics, then go to the dead-letter topic.
 *
 * Reads webhook tasks from `webhooks` and due retries from the tiers
 * `webhooks.retry.<delay>`, POSTs each task's exact body with both signature
 * schemes, records every attempt in `webhooks.attempts`, and parks a failed
 * task in the next tier (or `webhooks.dlq`). A task's offset is stored only
 * once what it caused is acked by Kafka.
 */
#include <malloc.h>
#include <stdio.h>

#include "httpd.h"
#include "kafka.h"
#include "log.h"
#include "loop.h"
#include "shutdown.h"
#include "stage.h"

static const struct cfg_opt deliver_opts[] = {
    {"FERRY_DELIVER_METRICS_LISTEN", CFG_STRING, "127.0.0.1:9103",
     "host:port of this stage's /healthz and /metrics", 0, 0, httpd_check_listen},
    {"FERRY_SECRET_KEY", CFG_STRING, NULL,
     "key that opens webhook secrets (64 hex digits or base64 of 32 bytes); required", 0, 0,
     secretbox_check_key},
    {"FERRY_WEBHOOK_TIMEOUT_MS", CFG_DURATION, "30000", "timeout of one webhook POST", 1, 3600000,
     NULL},
    {"FERRY_WEBHOOK_CONNECT_TIMEOUT_MS", CFG_DURATION, "10000",
     "timeout of connecting to a webhook receiver", 1, 600000, NULL},
    {"FERRY_WEBHOOK_ALLOW_HTTP", CFG_BOOL, "0", "allow http:// webhook URLs (development)", 0, 0,
     NULL},
    {"FERRY_ALLOW_PRIVATE_NETWORKS", CFG_BOOL, "0",
     "allow webhook receivers on loopback/private/link-local addresses (development)", 0, 0, NULL},
    {"FERRY_WEBHOOK_MAX_PER_HOST", CFG_INT, "64",
     "concurrent POSTs per receiver host; more wait without holding up other hosts", 1, 100000,
     NULL},
    {"FERRY_WEBHOOK_MAX_IN_FLIGHT", CFG_INT, "5000",
     "tasks held in memory at once (sending, queued per host, being recorded)", 1, 1000000, NULL},
    {"FERRY_WEBHOOK_HOST_MAX_WAIT_MS", CFG_DURATION, "10000",
     "a task that would queue longer behind its host's cap (judged by the host's answer rate) "
     "waits in the first retry tier instead, unattempted",
     1, 86400000, NULL},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

static int ready(void *arg, char *why, size_t why_size)
{
    (void)arg;
    (void)why;
    (void)why_size;
    return 1;
}

/* Lets in-flight POSTs finish for up to wait_ms, flushes the producer (its
 * acks store offsets), then closes the consumers (which commits them). */
static void close_in_order(struct deliver_loop *l, int wait_ms)
{
    deliver_loop_drain(l, wait_ms);
    kafka_producer_close(l->producer, wait_ms);
    deliver_loop_release(l);
    consume_close(&l->cs);
}

int main(int argc, char **argv)
{
    struct stage st;
    struct httpd_ops ops = {0};
    struct secretbox sb;
    struct deliver_loop l = {0};
    char errstr[512];
    int rc = stage_init(&st, "deliver",
                        "POSTs signed webhooks; failed attempts wait in retry-tier delay topics, "
                        "then go to the dead-letter topic.",
                        deliver_opts, argc, argv);
    if (rc)
        return rc < 0 ? 2 : 0;
    /* Thousands of jobs a second come and go: keep freed memory instead of
     * handing it back to the kernel and faulting it in again. */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    const char *key = cfg_str(&st.cfg, "FERRY_SECRET_KEY");
    if (!key || secretbox_init(&sb, key, errstr, sizeof(errstr))) {
        fprintf(stderr, "ferry-deliver: FERRY_SECRET_KEY: %s\n", key ? errstr : "required");
        return 2;
    }

    /* The port before any Kafka client: a duplicate stops here, before it
     * could take the running instance's group membership. */
    if (httpd_ops_bind(&ops, cfg_str(&st.cfg, "FERRY_DELIVER_METRICS_LISTEN"), errstr,
                       sizeof(errstr))) {
        fprintf(stderr, "ferry-deliver: %s\n", errstr);
        return 2;
    }

    /* Clients: one producer, then the task and tier consumers. The producer
     * first: it provisions the topics, and the consumers
     * subscribe only once every broker knows them (a group that joins
     * while the broker it asks does not is assigned nothing until its next
     * metadata refresh). */
    rd_kafka_conf_t *pconf =
        kafka_producer_conf(&st.cfg, st.client_id, NULL, errstr, sizeof(errstr));
    if (pconf)
        deliver_loop_set_dr(pconf, &l);
    l.producer = pconf ? kafka_producer_open(pconf, 10000, errstr, sizeof(errstr)) : NULL;
    if (!l.producer)
        goto fail;
    if (stage_ensure_topics(&st, l.producer)) {
        kafka_producer_close(l.producer, 0);
        httpd_ops_stop(&ops);
        return shutdown_exit_code(shutdown_requested() ? 0 : 1);
    }
    l.topics = &st.topics;
    if (deliver_loop_open_intake(&l, &st, errstr, sizeof(errstr)))
        goto fail_producer;
    l.pol = (struct task_policy){
        .sb = &sb,
        .allow_http = cfg_bool(&st.cfg, "FERRY_WEBHOOK_ALLOW_HTTP"),
        .n_tiers = st.topics.n_webhook_tiers,
        .tier_ms = st.topics.webhook_tier_ms,
    };
    l.max_pending = (int)cfg_int(&st.cfg, "FERRY_WEBHOOK_MAX_IN_FLIGHT");
    l.host_max_wait_ms = (long)cfg_int(&st.cfg, "FERRY_WEBHOOK_HOST_MAX_WAIT_MS");
    struct sender_opts so = {
        .timeout_ms = (long)cfg_int(&st.cfg, "FERRY_WEBHOOK_TIMEOUT_MS"),
        .connect_timeout_ms = (long)cfg_int(&st.cfg, "FERRY_WEBHOOK_CONNECT_TIMEOUT_MS"),
        .max_per_host = (int)cfg_int(&st.cfg, "FERRY_WEBHOOK_MAX_PER_HOST"),
        .allow_http = l.pol.allow_http,
        .allow_private = cfg_bool(&st.cfg, "FERRY_ALLOW_PRIVATE_NETWORKS"),
        .user_agent = "ferry/" FERRY_VERSION,
        .pol = &l.pol,
    };
    if (deliver_loop_init(&l, &so, errstr, sizeof(errstr)))
        goto fail_consumers;
    if (httpd_ops_serve(&ops, ready, NULL, errstr, sizeof(errstr)))
        goto fail_loop;

    /* Run: until a stop signal. Tenant secrets are followed from their
     * topic (provisioned above). */
    rc = 0;
    if (!shutdown_requested() && task_tenants_open(&l.pol, &st, errstr, sizeof(errstr))) {
        LOG_ERROR("start_failed", "err=%s", errstr);
        rc = 2;
    } else {
        LOG_INFO("started", "input=%s tiers=%zu retries=%zu max_per_host=%d",
                 topic_name(&st.topics, TOPIC_WEBHOOKS),
                 topics_tier_topics(st.topics.webhook_tier, st.topics.n_webhook_tiers, NULL),
                 st.topics.n_webhook_tiers, so.max_per_host);
        deliver_loop_run(&l);
    }

    /* Shut down: stop intake, then drain and close in order. */
    LOG_INFO("stopping", "jobs=%d", l.alive);
    httpd_ops_stop(&ops);
    close_in_order(&l, 2000);
    task_tenants_close(&l.pol);
    LOG_INFO("stopped", "");
    return shutdown_exit_code(rc);

fail_loop:
    close_in_order(&l, 0);
    goto fail;
fail_consumers:
    consume_close(&l.cs);
fail_producer:
    kafka_producer_close(l.producer, 0);
fail:
    httpd_ops_stop(&ops);
    fprintf(stderr, "ferry-deliver: %s\n", errstr);
    return 2;
}
