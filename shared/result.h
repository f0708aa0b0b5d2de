/*
 * result — serializes one item's result (schemas/scrape.results.schema.json), as
 * scrape and render write it.
 *
 * A result that would exceed the largest Kafka message (a 10 MiB page asked
 * for in html, text and markdown) is SPLIT into parts rather than cut:
 * every part repeats the item's fields and adds "part" (1-based) and
 * "parts"; each data string (html, text, markdown, base64) is cut at a
 * character boundary into consecutive slices, and links/metadata ride in
 * part 1 (so do data.extract and an endpoint's data). The full value of
 * data.<field> is the concatenation of that field over parts 1..parts in
 * order (absent = empty).
 *
 * A tracked item (result_meta.track) is compared with its previous result
 * here, so scrape and render write the same verdict: every part carries
 * change, change_key and content_hash, hashed over the whole data before
 * it is cut.
 */
#ifndef FERRY_RESULT_H
#define FERRY_RESULT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "extract.h"
#include "words.h"

struct result_meta {
    const char *batch_id, *tenant, *input;
    const char *input_json; /* the submitted item object as JSON: echoed as "input" instead */
    long long index;
    enum status status;
    long http_status;         /* 0: null */
    const char *final_url;    /* NULL: null */
    const char *content_type; /* NULL: null */
    long long duration_ms;
    int attempts;
    int64_t fetched_at_ms;
    const char *error; /* NULL when ok */
    /* Credits an ok item costs: 0 means one (a fetched page); render
     * charges FERRY_CREDITS_RENDER. */
    int credits_ok;
    /* Raw JSON members appended inside "data" (render's
     * "\"screenshot\":{...}"), NULL for none; in part 1 of a split result. */
    const char *data_extra;
    /* The request's `track` (shared/changes.h), NULL when the item's batch
     * does not track changes: the result then carries change, change_key
     * and content_hash, the hash over the data written plus hash_extra
     * (render's screenshot bytes, which data_extra only names). */
    const json_t *track;
    const void *hash_extra;
    size_t hash_extra_len;
    /* The extraction rules' data (shared/xrules.h), as JSON: an endpoint's
     * object is the whole "data" (ex is then NULL); a user's rules give
     * data.extract, in part 1. NULL: none. */
    const char *data_json;
    const char *extract_json;
    /* A crawl's page (crawl_page set; zero for anything else): its depth,
     * the page that linked it (-1: null), and the links it hands the
     * frontier (crawllinks.h; NULL: none), in part 1 of a split result. */
    int crawl_page;
    int depth;
    long long found_on;
    const char *frontier;
    size_t frontier_len;
};

struct result_part {
    char *buf; /* malloc'd JSON, the caller frees (or hands to Kafka) */
    size_t len;
};

/* Serializes m and ex (NULL: "data": null) into one or more messages of at
 * most max_bytes each. Returns the number of parts; *parts is malloc'd. */
size_t result_build(const struct result_meta *m, const struct extract *ex, unsigned formats,
                    size_t max_bytes, struct result_part **parts);

#endif
