/*
 * aggregate_record_bench — the aggregator's reading of results, alone: a
 * plain result with text and markdown (escapes, UTF-8) and a failed crawl
 * page with frontier links, each through record_parse_result, and the
 * first through results_merge, ROUNDS times. For instruction counts of the
 * JSON scanner (shared/jx.h, "scanning") before and after a change:
 *
 *   valgrind --tool=callgrind build/tools/aggregate_record_bench 2000
 *
 * Prints ok=<count> (a canonical result counts 2) so a change that reads
 * them otherwise shows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "record.h"
#include "results.h"

static char *make(int i, int kind, size_t *len)
{
    char *b = malloc(1 << 16);
    int n;
    if (kind == 0) /* a plain ok result with text and markdown */
        n = snprintf(
            b, 1 << 16,
            "{\"schema_version\":1,\"batch_id\":\"bat_01HZZZZZZZZZZZZZZZZZZZZZZZ\",\"tenant\":"
            "\"acme\",\"index\":%d,"
            "\"input\":\"https://example.com/p/"
            "%d\",\"status\":\"ok\",\"http_status\":200,\"final_url\":\"https://example.com/p/%d\","
            "\"content_type\":\"text/html; "
            "charset=utf-8\",\"duration_ms\":412,\"attempts\":1,\"fetched_at\":\"2026-11-30T12:00:"
            "00.000Z\","
            "\"error\":null,\"credits_charged\":1,\"data\":{\"text\":\"%s\",\"markdown\":\"# "
            "Title\\n\\nSome text with \\\"quotes\\\" and caf\xc3\xa9 %s\","
            "\"links\":[\"https://example.com/a\",\"https://example.com/"
            "b\"],\"metadata\":{\"title\":\"T\",\"lang\":\"en\"}}}",
            i, i, i,
            "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
            "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
            "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure "
            "dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla "
            "pariatur.",
            "\\u00e9t\\u00e9 \xe2\x82\xac \xf0\x9f\x98\x80 end");
    else /* a failed one, a crawl page with frontier links */
        n = snprintf(b, 1 << 16,
                     "{\"schema_version\":1,\"batch_id\":\"bat_01HZZZZZZZZZZZZZZZZZZZZZZZ\","
                     "\"tenant\":\"acme\",\"index\":%d,"
                     "\"input\":\"https://example.com/q/"
                     "%d\",\"status\":\"timeout\",\"http_status\":null,\"final_url\":null,"
                     "\"content_type\":null,\"duration_ms\":30001,\"attempts\":3,\"fetched_at\":"
                     "\"2026-11-30T12:00:00.000Z\","
                     "\"error\":\"timed out after 30000 "
                     "ms\",\"credits_charged\":0,\"depth\":2,\"found_on\":41,"
                     "\"frontier\":[\"0f1e2d3c4b5a6978 https://example.com/x\",\"0f1e2d3c4b5a6979 "
                     "https://example.com/y\"],\"data\":null}",
                     i, i);
    *len = (size_t)n;
    return b;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 2000;
    char errstr[256];
    size_t lens[2];
    char *texts[2];
    texts[0] = make(7, 0, &lens[0]);
    texts[1] = make(8, 1, &lens[1]);
    long ok = 0;
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < 2; k++) {
            struct record rec;
            memset(&rec, 0, sizeof(rec));
            if (record_parse_result(&rec, texts[k], lens[k], "bat_01HZZZZZZZZZZZZZZZZZZZZZZZ", 30,
                                    100000, errstr, sizeof(errstr)) == 0)
                ok += rec.canonical ? 2 : 1;
            else
                fprintf(stderr, "%s\n", errstr), exit(1);
            record_release(&rec);
        }
        size_t n;
        char *m = results_merge(texts, lens, 1, &n);
        free(m);
    }
    printf("ok=%ld\n", ok);
    return 0;
}
