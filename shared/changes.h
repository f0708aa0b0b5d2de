/*
 * changes — change tracking of a schedule's runs (DESIGN.md, "Schedules"):
 * which inputs' data changed since the previous run.
 *
 * The flow, one stage at a time:
 *
 *   ingest    fires a run of a schedule with track_changes. Each item's
 *             request gets `track: {"key", "previous"}`: the key names the
 *             input within the schedule ("<schedule id>/<input key>", the
 *             input key a hash of the URL and headers, so an input keeps it
 *             when the template is edited around it), `previous` is the
 *             content hash of that input's last result (null: none yet).
 *   scrape,   hash the data they are about to write (changes_hasher over the
 *   render    requested formats, or the extracted fields when the request
 *             has extract), compare with `previous`, and write the verdict
 *             into the result: `change` (new, same, changed; null when the
 *             item failed and nothing was compared), `change_key`,
 *             `content_hash`. Every reader of results (pages, webhooks,
 *             Kafka consumers) sees the verdict; nothing joins later.
 *   aggregate counts verdicts into the status's `changes`, and for each
 *             counted result with a content hash writes
 *             `schedule.changes` record key = change_key, value
 *             {"hash", "batch_id", "index"} in the same transaction: the
 *             input's hash is remembered exactly when its result is counted.
 *   ingest    every instance reads schedule.changes whole into memory (the
 *             hashes of each schedule by input key) to fill the next run's
 *             `previous`.
 *
 * Where the hashes live: the compacted topic schedule.changes, one record
 * per (schedule, input), on the partition of the schedule id (every record
 * of a schedule in one partition, the partition its definition has in
 * `schedules`). Bounded: compaction keeps one record per input; inputs a
 * template no longer has and every input of a deleted schedule get
 * tombstones from ingest. A failed item writes nothing, so the next run
 * compares with the last result that was fetched.
 *
 * Hashes are 64 bits of SHA-256, as 16 lower-case hex digits.
 */
#ifndef FERRY_CHANGES_H
#define FERRY_CHANGES_H

#include <stddef.h>
#include <stdint.h>

#include "words.h"

#define CHANGES_HASH_LEN 17                /* 16 hex digits + NUL */
#define CHANGES_KEY_MAX  (31 + 1 + 16 + 1) /* "sch_<26>/<16 hex>" + NUL */

struct changes_hasher {
    void *ctx; /* an EVP_MD_CTX */
};

/* Starts a content hash. Allocation failure aborts. */
void changes_hasher_init(struct changes_hasher *h);

/* Adds one named field's bytes; fields are told apart by name and length,
 * so ("html", "ab") + ("text", "c") never hashes like ("html", "a") +
 * ("text", "bc"). Add them in a fixed order. */
void changes_hasher_add(struct changes_hasher *h, const char *name, const void *data, size_t len);

/* Writes the hash and frees the context. */
void changes_hasher_final(struct changes_hasher *h, char out[CHANGES_HASH_LEN]);

/* The input key of an item: the hash of its URL and its headers (names
 * lower-cased, sorted; `header_lines` is an array of n "name: value"
 * strings in any order, NULL when none). */
void changes_input_key(const char *url, const char *const *header_lines, size_t n,
                       char out[CHANGES_HASH_LEN]);

/* "<schedule_id>/<input key>" into out (CHANGES_KEY_MAX). */
void changes_key(const char *schedule_id, const char *input_key, char out[CHANGES_KEY_MAX]);

/* Splits a change key: 0 with the schedule id (its length in *id_len) and
 * the input key's position, -1 when key is not one. */
int changes_key_split(const char *key, size_t len, size_t *id_len, const char **input_key);

/* 1 when s is 16 lower-case hex digits. */
int changes_hash_valid(const char *s, size_t len);

/* The verdict of a hash against the previous one (NULL: none). */
enum change changes_verdict(const char *previous, const char *hash);

/* A hash as a number (for compact tables), and back. */
uint64_t changes_hash_u64(const char *hex);
void changes_hash_hex(uint64_t v, char out[CHANGES_HASH_LEN]);

#endif
