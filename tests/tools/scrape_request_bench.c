/*
 * scrape_request_bench — scrape's reading of requests, alone: an item with
 * headers and options and a crawl page, each through request_parse (the
 * typed jx_scan readers; both stay off jansson), ROUNDS times. For
 * instruction counts before and after a change:
 *
 *   valgrind --tool=callgrind build/tools/scrape_request_bench 2000
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "request.h"

static const struct request_limits lim = {.default_timeout_ms = 30000,
                                          .max_timeout_ms = 120000,
                                          .default_max_bytes = 10485760,
                                          .max_max_bytes = 52428800};
static const char *reqs[] = {
    "{\"schema_version\":1,\"batch_id\":\"bat_01HZZZZZZZZZZZZZZZZZZZZZZZ\",\"tenant\":\"acme\","
    "\"index\":17,"
    "\"url\":\"https://example.com/p/17?q=a%20b\",\"headers\":{\"Accept-Language\":\"es\"},"
    "\"formats\":[\"html\",\"links\"],\"options\":{\"timeout_ms\":30000,\"max_bytes\":10485760,"
    "\"follow_redirects\":true}}",
    "{\"schema_version\":1,\"batch_id\":\"bat_01HZZZZZZZZZZZZZZZZZZZZZZZ\",\"tenant\":\"acme\","
    "\"index\":3,"
    "\"url\":\"https://example.com/"
    "\",\"depth\":2,\"found_on\":null,\"frontier\":true,\"headers\":{},"
    "\"formats\":[\"markdown\"],\"options\":{\"timeout_ms\":30000}}"};

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 2000;
    long ok = 0;
    char err[256];
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < 2; k++) {
            struct item it;
            memset(&it, 0, sizeof(it));
            it.depth = -1;
            it.found_on = -1;
            it.job.value = (char *)reqs[k];
            it.job.value_len = strlen(reqs[k]);
            if (request_parse(&it, &lim, err, sizeof(err)))
                fprintf(stderr, "%s\n", err), exit(1);
            ok += it.req ? 100 : 1;
            json_decref(it.req);
            free(it.strs);
            curl_slist_free_all(it.headers);
        }
    printf("ok=%ld\n", ok);
    return 0;
}
