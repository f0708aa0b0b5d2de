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
 * installs the stop-signal handlers.
 */
#ifndef FERRY_STAGE_H
#define FERRY_STAGE_H

#include <librdkafka/rdkafka.h>

#include "cfg.h"
#include "topics.h"

struct stage {
    const char *name;   /* "ingest" */
    char client_id[64]; /* "ferry-ingest" */
    struct cfg cfg;
    struct topics topics;
};

/* 0: run. 1: --help/--version printed, exit 0. -1: error printed, exit 2.
 * `own` may be NULL. */
int stage_init(struct stage *st, const char *name, const char *summary, const struct cfg_opt *own,
               int argc, char **argv);

/* Creates the missing topics through rk's admin API. While the cluster is
 * unreachable, retries until it answers or a stop signal arrives (a stage
 * started before its broker waits for it). 0 ok, -1 stopped or a real error
 * (logged). */
int stage_ensure_topics(struct stage *st, rd_kafka_t *rk);

#endif
