/*
 * stage — the start-up every stage program shares.
 *
 *     struct stage st;
 *     int rc = stage_init(&st, "scrape", "Fetches URLs ...", scrape_opts, argc, argv);
 *     if (rc) return rc < 0 ? 2 : 0;     // bad setting (printed) or --help
 *     ... build clients ...
 *     stage_ensure_topics(&st, producer);
 *
 * stage_init registers the common settings and the stage's own, parses the
 * command line and the environment, validates everything (printing the bad
 * name and value), sets up logging and resolves the topic names, and
 * installs the stop-signal handlers. It creates no Kafka client, and a
 * stage creates none before its listening port is bound (httpd_listen,
 * httpd_ops_start): a duplicate that cannot start must fail before it can
 * fence or unseat the instance already running.
 *
 * Instance names. Each process has a stable name, st->instance, used
 * wherever Kafka must recognise the same process after a restart: as its
 * consumers' group.instance.id (static membership: a restarted instance
 * takes its partitions back at once instead of after the old session's
 * timeout and a rebalance) and in its transactional ids (a restarted
 * instance fences its crashed self and aborts what it left open). The rule:
 *
 *   1. FERRY_<STAGE>_INSTANCE (FERRY_INGEST_INSTANCE, FERRY_SCRAPE_INSTANCE,
 *      FERRY_AGGREGATE_INSTANCE, FERRY_DELIVER_INSTANCE); for ingest also
 *      its older name FERRY_INGEST_ID;
 *   2. else "<host name>-<port of the stage's HTTP listener>": stable across
 *      restarts with the same settings, and unique on a host because two
 *      processes cannot bind one port.
 *
 * Letters, digits, '.', '_' and '-', at most 100 (Kafka's rule for
 * group.instance.id). Two running instances of a stage must never share a
 * name: the second fences the first.
 */
#ifndef FERRY_STAGE_H
#define FERRY_STAGE_H

#include <librdkafka/rdkafka.h>

#include "cfg.h"
#include "topics.h"

struct stage {
    const char *name;   /* "ingest" */
    char client_id[64]; /* "ferry-ingest" */
    char instance[128]; /* this process's stable name (see above) */
    struct cfg cfg;
    struct topics topics;
    /* The FERRY_<STAGE>_INSTANCE row (and its older names), named at run time. */
    char instance_env[2][48];
    struct cfg_opt instance_opts[3];
};

/* 0: run. 1: --help/--version printed, exit 0. -1: error printed, exit 2.
 * `own` may be NULL. st must stay where it is while the stage runs (its
 * configuration points into it). */
int stage_init(struct stage *st, const char *name, const char *summary, const struct cfg_opt *own,
               int argc, char **argv);

/* Creates the missing topics through rk's admin API. While the cluster is
 * unreachable, retries until it answers or a stop signal arrives (a stage
 * started before its broker waits for it). 0 ok, -1 stopped or a real error
 * (logged). */
int stage_ensure_topics(struct stage *st, rd_kafka_t *rk);

/* A cfg check for instance names. */
int stage_check_instance(const char *value, char *errstr, size_t errstr_size);

#endif
