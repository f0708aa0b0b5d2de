/*
 * api — the HTTP routes of ferry's API v1 (DESIGN.md, "HTTP API").
 *
 * Every route authenticates the Bearer key first (401), then works on the
 * caller's tenant only: another tenant's batch answers 404, exactly like an
 * unknown one. Errors are {"error": {"code", "message", "details"}}.
 * Each request is counted by route and status code and timed
 * (ferry_ingest_requests_total, ferry_ingest_request_seconds).
 */
#ifndef INGEST_API_H
#define INGEST_API_H

#include <librdkafka/rdkafka.h>
#include <ulfius.h>

#include "batch.h"
#include "keys.h"
#include "reader.h"
#include "results.h"
#include "secretbox.h"
#include "stage.h"
#include "table.h"
#include "txn.h"

struct api {
    const struct stage *st;
    const struct keys *keys;
    struct table *table;
    struct txn_pool *txn;
    struct reader_pool *readers;
    struct results *results;
    rd_kafka_t *producer;       /* plain idempotent producer: cancel and redeliver */
    const struct secretbox *sb; /* NULL: FERRY_SECRET_KEY unset, webhooks refused */
    struct batch_limits lim;
    long long max_body;
    int timeout_ms;
};

/* Adds the API routes (and a JSON 404 for everything else) to inst, whose
 * max_post_body_size must be max_body + 1 so a larger body is detectable
 * without being buffered whole. 0/-1. */
int api_add_routes(struct api *a, struct _u_instance *inst);

/* The delivery report of api->producer's configuration: logs and counts
 * (kafka_dr_default) and wakes the request waiting for that record. */
void api_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* Registers the metrics (call once before serving). */
void api_metrics_init(struct api *a);

#endif
