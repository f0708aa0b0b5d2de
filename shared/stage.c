#include "stage.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "cloudevents.h"
#include "httpd.h"
#include "kafka.h"
#include "log.h"
#include "shutdown.h"

#define INSTANCE_MAX 100

int stage_check_instance(const char *value, char *errstr, size_t errstr_size)
{
    size_t n = strlen(value);
    if (n == 0 || n > INSTANCE_MAX ||
        strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n) {
        snprintf(errstr, errstr_size, "1 to %d letters, digits, '.', '_' or '-'", INSTANCE_MAX);
        return -1;
    }
    return 0;
}

/* Older names of FERRY_<STAGE>_INSTANCE that keep working. */
static const char *const instance_aliases[][2] = {
    {"ingest", "FERRY_INGEST_ID"},
};

/* Registers FERRY_<STAGE>_INSTANCE (and its older names) for this stage. */
static void instance_register(struct stage *st)
{
    size_t n = 0;
    char *env = st->instance_env[0];
    snprintf(env, sizeof(st->instance_env[0]), "FERRY_%s_INSTANCE", st->name);
    for (char *p = env; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    st->instance_opts[n++] = (struct cfg_opt){
        env,
        CFG_STRING,
        NULL,
        "this instance's stable name (default: <host>-<port of its HTTP listener>): its Kafka "
        "group.instance.id and transactional ids; unique among running instances",
        0,
        0,
        stage_check_instance};
    for (size_t i = 0; i < sizeof(instance_aliases) / sizeof(instance_aliases[0]); i++)
        if (strcmp(instance_aliases[i][0], st->name) == 0) {
            snprintf(st->instance_env[1], sizeof(st->instance_env[1]), "%s",
                     instance_aliases[i][1]);
            st->instance_opts[n++] = (struct cfg_opt){
                st->instance_env[1], CFG_STRING, NULL, "older name of the setting above", 0, 0,
                stage_check_instance};
        }
    st->instance_opts[n] = (struct cfg_opt){NULL, 0, NULL, NULL, 0, 0, NULL};
    cfg_add(&st->cfg, st->instance_opts);
}

/* The rule in stage.h. */
static void instance_resolve(struct stage *st)
{
    const char *given = cfg_str(&st->cfg, st->instance_env[0]);
    if (!given && st->instance_env[1][0])
        given = cfg_str(&st->cfg, st->instance_env[1]);
    if (given) {
        snprintf(st->instance, sizeof(st->instance), "%s", given);
        return;
    }
    char host[64] = "";
    if (gethostname(host, sizeof(host) - 1) || stage_check_instance(host, NULL, 0) == -1 ||
        !host[0])
        snprintf(host, sizeof(host), "host");
    /* The port of the stage's listener: the one setting checked as a
     * listen address. */
    int port = 0;
    for (size_t i = 0; i < st->cfg.n_values; i++) {
        struct sockaddr_in addr;
        char errstr[64];
        const struct cfg_value *v = &st->cfg.values[i];
        if (v->opt->check == httpd_check_listen && v->text &&
            httpd_parse_listen(v->text, &addr, errstr, sizeof(errstr)) == 0) {
            port = ntohs(addr.sin_port);
            break;
        }
    }
    if (port)
        snprintf(st->instance, sizeof(st->instance), "%.60s-%d", host, port);
    else
        snprintf(st->instance, sizeof(st->instance), "%.60s", host);
}

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
    cfg_add(&st->cfg, httpd_cfg);
    if (own)
        cfg_add(&st->cfg, own);
    instance_register(st);

    int rc = cfg_parse(&st->cfg, argc, argv, errstr, sizeof(errstr));
    if (rc == 0 && topics_init(&st->topics, &st->cfg, errstr, sizeof(errstr)))
        rc = -1;
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", st->client_id, errstr);
    if (rc)
        return rc;

    log_level_parse(cfg_str(&st->cfg, "FERRY_LOG_LEVEL"), &level);
    log_init(name, level);
    httpd_configure(&st->cfg);
    instance_resolve(st);
    kafka_set_instance(st->instance);
    ce_init(name, st->instance, cfg_str(&st->cfg, "FERRY_TOPIC_PREFIX"));
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
