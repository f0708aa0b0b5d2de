/* fhdr and scrapereq: ferry's record headers are the word list
 * schemas/MESSAGES.md documents, the builders write the sets the topics
 * carry, in order; a scrape request is the bytes ingest and the crawl
 * frontier have always written, and valid JSON in every shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "fhdr.h"
#include "scrapereq.h"

/* The headers of hs as "name=value;..." in order, to compare at once. */
static void flat(const rd_kafka_headers_t *hs, char *out, size_t size)
{
    const char *name;
    const void *val;
    size_t len, at = 0;
    out[0] = '\0';
    for (size_t i = 0; rd_kafka_header_get_all(hs, i, &name, &val, &len) == 0; i++)
        at += (size_t)snprintf(out + at, size - at, "%s=%.*s;", name, (int)len, (const char *)val);
}

static void test_builders_write_the_documented_sets(void **state)
{
    (void)state;
    char got[512];
    rd_kafka_headers_t *hs = fhdr_request("bat_1", 17, NULL);
    flat(hs, got, sizeof(got));
    assert_string_equal(got, "ferry-batch=bat_1;ferry-index=17;ferry-attempt=1;");
    rd_kafka_headers_destroy(hs);

    hs = fhdr_request("bat_1", -1, "robots");
    flat(hs, got, sizeof(got));
    assert_string_equal(got, "ferry-batch=bat_1;ferry-fetch=robots;ferry-attempt=1;");
    rd_kafka_headers_destroy(hs);

    /* A result of a request that could not be read has no batch. */
    hs = fhdr_batch(NULL, -1);
    assert_int_equal(rd_kafka_header_cnt(hs), 0);
    assert_int_equal(fhdr_add_part(hs, 1, 1), 0);
    assert_int_equal(rd_kafka_header_cnt(hs), 0);
    fhdr_add_part(hs, 2, 3);
    fhdr_add_ll(hs, FHDR_DUE_MS, 1700000000123LL);
    flat(hs, got, sizeof(got));
    assert_string_equal(got, "ferry-part=2/3;ferry-due-ms=1700000000123;");
    rd_kafka_headers_destroy(hs);

    hs = fhdr_dead("ferry.scrape.results/3/41", "not JSON");
    flat(hs, got, sizeof(got));
    assert_string_equal(got, "ferry-origin=ferry.scrape.results/3/41;ferry-last-error=not JSON;");
    rd_kafka_headers_destroy(hs);
}

/* Every name once, and the same set as MESSAGES.md's "Headers" table. */
static void test_messages_md_lists_the_same_names(void **state)
{
    (void)state;
    FILE *f = fopen("schemas/MESSAGES.md", "r");
    assert_non_null(f);
    char line[1024];
    int in_table = 0, seen[FHDR__COUNT] = {0}, rows = 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "## Headers", 10) == 0) {
            in_table = 1;
            continue;
        }
        if (in_table && strncmp(line, "## ", 3) == 0)
            break;
        if (!in_table || strncmp(line, "| `", 3) != 0)
            continue;
        char *end = strchr(line + 3, '`');
        assert_non_null(end);
        *end = '\0';
        int found = -1;
        for (int i = 0; i < FHDR__COUNT; i++)
            if (strcmp(fhdr_name((enum fhdr)i), line + 3) == 0)
                found = i;
        if (found < 0)
            fail_msg("MESSAGES.md documents header %s, which FHDR_MAP lacks", line + 3);
        seen[found]++;
        rows++;
    }
    fclose(f);
    for (int i = 0; i < FHDR__COUNT; i++)
        if (seen[i] != 1)
            fail_msg("header %s is in MESSAGES.md's table %d times", fhdr_name((enum fhdr)i),
                     seen[i]);
    assert_int_equal(rows, FHDR__COUNT);
}

static char *write_request(const struct scrapereq *r, const char *own, const char *tail)
{
    struct buf w = BUF_INIT(BUF_NO_MAX);
    scrapereq_begin(&w, r);
    buf_adds(&w, own);
    buf_adds(&w, tail);
    return buf_detach(&w, NULL);
}

static void test_request_bytes(void **state)
{
    (void)state;
    /* An item of a tracked batch with headers and rules (ingest). */
    struct scrapereq r = {.batch_id = "bat_0",
                          .tenant = "acme \"co\"",
                          .index = 7,
                          .url = "https://example.com/a?b=\"c\"",
                          .headers = "{\"Accept-Language\":\"es\"}",
                          .track_key = "sch_1/0123456789abcdef",
                          .track_previous = ""};
    char *s = write_request(&r, ",\"extract\":{\"hash\":\"ab\"}",
                            ",\"formats\":[\"html\"],\"options\":{}}");
    assert_string_equal(
        s,
        "{\"schema_version\":1,\"batch_id\":\"bat_0\",\"tenant\":\"acme \\\"co\\\"\",\"index\":7,"
        "\"url\":\"https://example.com/a?b=\\\"c\\\"\",\"headers\":{\"Accept-Language\":\"es\"},"
        "\"track\":{\"key\":\"sch_1/0123456789abcdef\",\"previous\":null},"
        "\"extract\":{\"hash\":\"ab\"},\"formats\":[\"html\"],\"options\":{}}");
    free(s);
    r.track_previous = "fedcba9876543210";
    s = write_request(&r, "", "}");
    json_t *doc = json_loads(s, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(doc, "track"), "previous")),
        "fedcba9876543210");
    assert_string_equal(json_string_value(json_object_get(doc, "tenant")), "acme \"co\"");
    json_decref(doc);
    free(s);

    /* A crawl's page (the frontier): no headers of its own, where it was found. */
    struct scrapereq page = {.batch_id = "bat_0",
                             .tenant = "acme",
                             .index = 3,
                             .url = "https://example.com/",
                             .crawl_page = 1,
                             .depth = 0,
                             .found_on = -1,
                             .frontier = 1};
    s = write_request(&page, "", ",\"formats\":[\"links\"]}");
    assert_string_equal(s, "{\"schema_version\":1,\"batch_id\":\"bat_0\",\"tenant\":\"acme\","
                           "\"index\":3,\"url\":\"https://example.com/\","
                           "\"depth\":0,\"found_on\":null,\"frontier\":true,\"headers\":{},"
                           "\"formats\":[\"links\"]}");
    free(s);
    page.depth = 2;
    page.found_on = 41;
    page.frontier = 0;
    s = write_request(&page, "", "}");
    assert_non_null(strstr(s, ",\"depth\":2,\"found_on\":41,\"frontier\":false,\"headers\":{}}"));
    free(s);

    /* A site file: fetch instead of index. */
    struct scrapereq site = {.batch_id = "bat_0",
                             .tenant = "acme",
                             .index = 99,
                             .fetch = "robots",
                             .url = "https://example.com/robots.txt"};
    s = write_request(&site, ",\"options\":{}", "}");
    assert_string_equal(s, "{\"schema_version\":1,\"batch_id\":\"bat_0\",\"tenant\":\"acme\","
                           "\"fetch\":\"robots\",\"url\":\"https://example.com/robots.txt\","
                           "\"headers\":{},\"options\":{}}");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builders_write_the_documented_sets),
        cmocka_unit_test(test_messages_md_lists_the_same_names),
        cmocka_unit_test(test_request_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
