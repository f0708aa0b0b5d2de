/* What the aggregator writes: the status document (kafka location, credits,
 * estimated completion, errors by name), webhook bodies and tasks, all in
 * JSON.stringify's form. Links the stage's objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record.h"
#include "report.h"
#include "jx.h"

#define ID "bat_01M816TZ7MSG7GBE1TYYCV6RYZ"

static json_t *record_of(long long total)
{
    char why[128];
    /* Metadata as a user sends it: numbers JavaScript prints its own way,
     * an index-like key, escapes. */
    const char *meta = "{\"price\":1.10,\"ratio\":0.6666666666666666,\"big\":1e21,\"tiny\":1e-7,"
                       "\"whole\":10.0,\"b\":1,\"2\":\"two\",\"s\":\"\\u00e9\\u2028\\/\\u001F\"}";
    json_t *rec =
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:{s:s, s:[s], s:s, s:n, s:n}}", "type", "batch",
                  "id", ID, "tenant", "acme", "created_at", "2026-11-22T10:00:00.000Z", "total",
                  (json_int_t)total, "metadata", jx_parse(meta, strlen(meta), 8, why, sizeof(why)),
                  "webhook", "url", "https://r/h", "events", "batch.completed", "secret_enc",
                  "v1.x", "previous_secret_enc", "previous_secret_until");
    return rec;
}

static void count(struct tally *t, long long index, enum status st, int64_t ts, int64_t offset)
{
    struct tally_in in = {.index = index, .status = st, .credits = st == STATUS_OK};
    int64_t first;
    tally_count(t, &in, ts, offset, 100, &first);
}

static void test_status_document(void **st)
{
    (void)st;
    struct tally *t = tally_new(ID, 1, 1);
    json_t *rec = record_of(3);
    /* The batch started at 10:00:00, two items counted by 10:00:02. */
    tally_set_record(t, rec, 1763805600000);
    count(t, 0, STATUS_OK, 1763805601000, 10);
    count(t, 1, STATUS_NOT_FOUND, 1763805602000, 12);
    struct tally_in odd = {.index = 2, .status = STATUS_UNKNOWN};
    json_t *doc = report_status(t, REPORT_RUNNING, 1763805602000, "p.scrape.results");
    char *text = jx_dump(doc, NULL);
    const char *want =
        "{\"schema_version\":1,\"id\":\"" ID "\",\"tenant\":\"acme\",\"kind\":\"batch\","
        "\"status\":\"running\","
        "\"total\":3,\"processed\":2,\"succeeded\":1,\"failed\":1,\"errors\":{\"not_found\":1},"
        "\"progress\":0.667,\"credits_charged\":1,\"created_at\":\"2026-11-22T10:00:00.000Z\","
        "\"started_at\":\"2025-11-22T10:00:00.000Z\",\"updated_at\":\"2025-11-22T10:00:02.000Z\","
        "\"completed_at\":null,\"estimated_completion\":\"2025-11-22T10:00:03.000Z\","
        "\"metadata\":{\"2\":\"two\",\"price\":1.1,\"ratio\":0.6666666666666666,\"big\":1e+21,"
        "\"tiny\":1e-7,\"whole\":10,\"b\":1,\"s\":\"\xc3\xa9\xe2\x80\xa8/\\u001f\"},"
        "\"webhook\":{\"url\":\"https://r/h\",\"events\":[\"batch.completed\"]},"
        "\"kafka\":{\"results_topic\":\"p.scrape.results\",\"partition\":1,\"first_offset\":10,"
        "\"last_offset\":12}}";
    assert_string_equal(text, want);
    free(text);
    json_decref(doc);

    /* The last item, under a status this version does not know: counted
     * under its name. The final document has no estimate. */
    snprintf(odd.other, sizeof(odd.other), "geo_fenced");
    int64_t first;
    tally_count(t, &odd, 1763805603000, 13, 100, &first);
    doc = report_status(t, REPORT_COMPLETED, 1763805603000, "p.scrape.results");
    assert_int_equal(jx_int(json_object_get(doc, "errors"), "geo_fenced", 0), 1);
    assert_int_equal(jx_int(doc, "failed", 0), 2);
    assert_true(json_is_null(json_object_get(doc, "estimated_completion")));
    assert_string_equal(jx_str(doc, "completed_at", ""), "2025-11-22T10:00:03.000Z");
    text = jx_dump(doc, NULL);
    assert_non_null(strstr(text, "\"progress\":1,"));
    free(text);
    json_decref(doc);

    /* Nothing counted yet: no estimate, no offsets. */
    struct tally *u = tally_new(ID, 0, 1);
    tally_set_record(u, rec, 1763805600000);
    doc = report_status(u, REPORT_RUNNING, 1763805602000, "p.scrape.results");
    assert_true(json_is_null(json_object_get(doc, "estimated_completion")));
    assert_true(json_is_null(json_object_get(doc, "kafka")));
    json_decref(doc);
    tally_free(u);
    json_decref(rec);
    tally_free(t);
}

static void test_bodies_and_tasks(void **st)
{
    (void)st;
    char why[256], dlv[IDS_DELIVERY_LEN];
    size_t len, tlen;
    struct tally *t = tally_new(ID, 1, 1);
    json_t *rec = record_of(2);
    tally_set_record(t, rec, 5);
    count(t, 0, STATUS_OK, 6, 10);
    count(t, 1, STATUS_DNS, 7, 12);
    json_t *doc = report_status(t, REPORT_COMPLETED, 8, "p.scrape.results");

    const char *results = "[{\"index\":0,\"s\":\"a\\n\"},{\"index\":1}]";
    char *body = report_body(doc, "batch.completed", results, strlen(results), &len);
    const char *head =
        "{\"schema_version\":1,\"event\":\"batch.completed\",\"id\":\"" ID "\",\"kind\"";
    assert_true(strncmp(body, head, strlen(head)) == 0);
    assert_null(strstr(body, "tenant"));
    assert_non_null(strstr(body, ",\"kafka\":{"));
    assert_true(len > strlen(results) &&
                strcmp(body + len - strlen(results) - 12, ",\"results\":[{\"index\":0,"
                                                          "\"s\":\"a\\n\"},{\"index\":1}]}") == 0);
    assert_int_equal(len, report_body_base(doc, "batch.completed") + strlen(results) - 2);

    /* The task carries the body as a string: the same bytes come back. */
    char *task = report_task(rec, "batch.completed", -1, body, len, 9, dlv, &tlen);
    json_t *parsed = jx_parse(task, tlen, 8, why, sizeof(why));
    assert_non_null(parsed);
    assert_string_equal(jx_str(parsed, "body", ""), body);
    assert_string_equal(jx_str(parsed, "url", ""), "https://r/h");
    assert_string_equal(jx_str(parsed, "secret_enc", ""), "v1.x");
    assert_string_equal(jx_str(parsed, "delivery_id", ""), dlv);
    assert_true(json_is_null(json_object_get(parsed, "previous_secret_enc")));
    json_decref(parsed);
    free(task);
    free(body);

    body = report_body(doc, "batch.completed", NULL, 0, &len);
    parsed = jx_parse(body, len, 16, why, sizeof(why));
    assert_true(jx_bool(parsed, "results_truncated", 0));
    assert_string_equal(jx_str(parsed, "results_url", ""), "/v1/batch/" ID "/results");
    json_decref(parsed);
    free(body);

    const char *item = "{\"index\":1,\"status\":\"ok\",\"data\":{\"html\":\"<p>x</p>\"}}";
    body = report_item_body(ID, 1, item, strlen(item), 0, &len);
    assert_string_equal(body,
                        "{\"schema_version\":1,\"event\":\"item.completed\",\"batch_id\":\"" ID
                        "\",\"index\":1,\"result\":{\"index\":1,\"status\":\"ok\","
                        "\"data\":{\"html\":\"<p>x</p>\"}}}");
    free(body);
    /* Too large for a task: the result without its data, and where to
     * get it. */
    body = report_item_body(ID, 1, item, strlen(item), 1, &len);
    assert_string_equal(body,
                        "{\"schema_version\":1,\"event\":\"item.completed\",\"batch_id\":\"" ID
                        "\",\"index\":1,\"result\":{\"index\":1,\"status\":\"ok\"},"
                        "\"result_truncated\":true,\"results_url\":\"/v1/batch/" ID "/results\"}");
    free(body);
    json_decref(doc);
    json_decref(rec);
    tally_free(t);
}

static void test_results_rewritten_only_when_needed(void **st)
{
    (void)st;
    size_t len;
    /* A result in another form than JSON.stringify's comes out in it (a
     * repeated name keeps its first place and its last value, as
     * JSON.parse does). */
    const char *odd = "{ \"b\" : 1.50, \"1\": [1E2, -0, \"\\u00E9\\/\"], \"b\": 2 }";
    char *out = report_canonical(odd, strlen(odd), &len);
    assert_string_equal(out, "{\"1\":[100,0,\"\xc3\xa9/\"],\"b\":2}");
    free(out);
    assert_null(report_canonical("{nope", 5, &len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_document),
        cmocka_unit_test(test_bodies_and_tasks),
        cmocka_unit_test(test_results_rewritten_only_when_needed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
