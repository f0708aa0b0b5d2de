/*
 * report — what the aggregator writes: status documents and webhook tasks.
 *
 * The status document (`batch.status`) is GET /v1/batch/{id} without the
 * results plus `tenant` (MESSAGES.md); `kafka` says where the results lie.
 * A batch.* webhook body is that document without `tenant`, headed by
 * `event`, with the results inline (`results`, by index) while the body
 * stays under the inline cap, else `results_truncated: true` and
 * `results_url`. The webhook task carries that body as a string: the exact
 * bytes deliver signs and sends.
 *
 * Everything here is written by jx.h's writer, or spliced from result texts
 * already in its form, so every document and body is byte for byte what
 * JavaScript's JSON.stringify(JSON.parse(text)) writes: a receiver that
 * re-serializes a parsed body before checking its signature (seed 002) gets
 * the same bytes.
 */
#ifndef FERRY_AGGREGATE_REPORT_H
#define FERRY_AGGREGATE_REPORT_H

#include <jansson.h>
#include <stdint.h>

#include "tally.h"

/* Status values. */
#define REPORT_RUNNING   "running"
#define REPORT_COMPLETED "completed"
#define REPORT_FAILED    "failed"
#define REPORT_CANCELLED "cancelled"

/* The status document of a known batch (new reference). `status` is one of
 * the values above; `now_ms` is updated_at (and completed_at unless running).
 * `results_topic` names scrape.results for `kafka`. */
json_t *report_status(const struct tally *t, const char *status, int64_t now_ms,
                      const char *results_topic);

/* The event of a final status: batch.completed, batch.failed, batch.cancelled. */
const char *report_event(const char *status);

/* A batch.* webhook body from a final status document. `results` is the
 * JSON text of the inline results array (results_len bytes), or NULL when
 * they did not fit (then results_truncated/results_url). Returns the
 * malloc'd JSON text. */
char *report_body(const json_t *status_doc, const char *event, const char *results,
                  size_t results_len, size_t *len);

/* The size report_body would have without results: the budget check is
 * base + results bytes <= cap. */
size_t report_body_base(const json_t *status_doc, const char *event);

/* An item.completed body (malloc'd text) around a result's inline text
 * (record.h, in JSON.stringify form). `truncated`: the result goes without
 * its data, with result_truncated and results_url (a result too large for a
 * webhook task). */
char *report_item_body(const char *batch_id, long long index, const char *result, size_t result_len,
                       int truncated, size_t *len);

/* Rewrites JSON text into JSON.stringify's form (jx.h's writer), for a
 * result that jx_scan found in another form. NULL when jansson cannot read
 * it. */
char *report_canonical(const char *text, size_t len, size_t *out_len);

/* The webhook task (malloc'd JSON text) for `event` of the batch whose record
 * is `record`; `item` < 0 for batch.* events. Takes nothing. */
char *report_task(const json_t *record, const char *event, long item, const char *body,
                  size_t body_len, int64_t now_ms, char delivery_id[IDS_DELIVERY_LEN], size_t *len);

#endif
