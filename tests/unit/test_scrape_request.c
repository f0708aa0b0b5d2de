/* scrape's request reader: the quick reader (no JSON tree) reads every
 * request exactly as the jansson path does, and leaves what it does not
 * know to that path. Each case is read twice: as it is, and with an unknown
 * member added (which only the jansson path takes, and which changes
 * nothing it reads), and the two items must agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "request.h"

static const struct request_limits lim = {.default_timeout_ms = 30000,
                                          .max_timeout_ms = 60000,
                                          .default_max_bytes = 1000,
                                          .max_max_bytes = 5000};

struct read {
    int rc, tree;
    char err[256];
    struct item it;
};

static void read_request(const char *json, struct read *r)
{
    memset(r, 0, sizeof(*r));
    r->it.depth = -1;
    r->it.found_on = -1;
    r->it.job.value = strdup(json);
    r->it.job.value_len = strlen(json);
    r->rc = request_parse(&r->it, &lim, r->err, sizeof(r->err));
    r->tree = r->it.req != NULL;
}

static void read_free(struct read *r)
{
    json_decref(r->it.req);
    free(r->it.strs);
    curl_slist_free_all(r->it.headers);
    free(r->it.job.value);
}

static void assert_same_str(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

/* The JSON with "zz":0 as its first member: only jansson reads it. */
static char *with_unknown(const char *json)
{
    const char *brace = strchr(json, '{');
    size_t head = (size_t)(brace - json) + 1;
    char *out = malloc(strlen(json) + 16);
    memcpy(out, json, head);
    int rest_empty = brace[1 + strspn(brace + 1, " ")] == '}';
    sprintf(out + head, "\"zz\":0%s%s", rest_empty ? "" : ",", brace + 1);
    return out;
}

/* Reads json both ways; asserts they agree. Returns the quick read's rc. */
static int agree(const char *json, int expect_quick)
{
    struct read q, t;
    char *slow = with_unknown(json);
    read_request(json, &q);
    read_request(slow, &t);
    free(slow);
    if (q.rc == 0 && expect_quick >= 0)
        assert_int_equal(!q.tree, expect_quick);
    assert_true(t.rc != 0 || t.tree);
    assert_int_equal(q.rc, t.rc);
    /* The added member moves jansson's columns: the words must agree. */
    const char *qe = strstr(q.err, ": "), *te = strstr(t.err, ": ");
    assert_string_equal(qe && strstr(q.err, "column") ? qe : q.err,
                        te && strstr(t.err, "column") ? te : t.err);
    if (q.rc == 0) {
        assert_same_str(q.it.batch_id, t.it.batch_id);
        assert_same_str(q.it.url, t.it.url);
        assert_same_str(q.it.tenant, t.it.tenant);
        assert_int_equal(q.it.index, t.it.index);
        assert_int_equal(q.it.fetch, t.it.fetch);
        assert_int_equal(q.it.formats, t.it.formats);
        assert_int_equal(q.it.timeout_ms, t.it.timeout_ms);
        assert_int_equal(q.it.max_bytes, t.it.max_bytes);
        assert_int_equal(q.it.follow_redirects, t.it.follow_redirects);
        assert_int_equal(q.it.depth, t.it.depth);
        assert_int_equal(q.it.found_on, t.it.found_on);
        assert_int_equal(q.it.frontier, t.it.frontier);
        assert_string_equal(q.it.invalid_url, t.it.invalid_url);
        struct curl_slist *a = q.it.headers, *b = t.it.headers;
        for (; a && b; a = a->next, b = b->next)
            assert_string_equal(a->data, b->data);
        assert_ptr_equal(a, b);
    }
    int rc = q.rc;
    read_free(&q);
    read_free(&t);
    return rc;
}

static void test_quick_reads_what_jansson_reads(void **state)
{
    (void)state;
    /* What ingest writes. */
    assert_int_equal(
        agree("{\"batch_id\":\"bat_1\",\"tenant\":\"acme\",\"index\":17,\"url\":"
              "\"http://a.example/p?q=1\",\"headers\":{\"Accept-Language\":\"es\",\"X-A\":"
              "\"b\\\"c\"},\"formats\":[\"html\",\"links\",\"nope\"],\"options\":{\"timeout_ms\":"
              "90000,\"max_bytes\":0,\"follow_redirects\":false}}",
              1),
        0);
    agree(" { \"schema_version\" : 1 , \"batch_id\":\"b\",\"index\":0,\"url\":\"https://x.y/\\/z\","
          "\"headers\":{},\"formats\":[]} \n",
          1);
    agree("{\"batch_id\":\"b\",\"index\":-3,\"url\":\"http://x/\"}", 1);
    /* A crawl's page and a site file. */
    agree("{\"batch_id\":\"b\",\"index\":4,\"url\":\"http://x/a\",\"depth\":2,\"found_on\":null,"
          "\"frontier\":true}",
          1);
    agree("{\"batch_id\":\"b\",\"index\":4,\"url\":\"http://x/a\",\"depth\":1,\"found_on\":9}", 1);
    agree("{\"batch_id\":\"b\",\"fetch\":\"robots\",\"url\":\"http://x/robots.txt\"}", 1);
    /* An unusable URL is an item (a result), not a poison record. */
    agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"ftp://x/\"}", 1);
    agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/a b\"}", 1);
    /* Headers libcurl would not send verbatim are dropped both ways. */
    agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/\",\"headers\":{\"Host\":\"e\","
          "\"A\":\"x\\r\\ny\",\"B:C\":\"d\",\"\":\"e\",\"Ok\":\"1\"}}",
          1);
}

static void test_quick_leaves_the_rest_to_jansson(void **state)
{
    (void)state;
    /* Members only the tree carries, other types, escapes past the plain
     * subset: read by jansson, with the same outcome. */
    agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/\",\"input\":{\"url\":\"u\"}}", 0);
    agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/\",\"track\":{\"key\":\"k\"}}", 0);
    agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/\",\"extract\":{\"hash\":\"h\"}}", 0);
    agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/\",\"options\":{\"timeout_ms\":"
          "\"5\",\"other\":1}}",
          0);
    agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/\",\"formats\":\"html\"}", 0);
    agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/\",\"headers\":{\"A\":1}}", 0);
    agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/\\u00e9\"}", 0);
    agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/\",\"tenant\":null}", 0);
    agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/\",\"depth\":1.5}", 0);
    /* Poison records: the same error either way. */
    assert_int_not_equal(agree("{\"batch_id\":\"b\",\"url\":\"http://x/\"}", -1), 0);
    assert_int_not_equal(agree("{\"batch_id\":\"b\",\"index\":\"1\",\"url\":\"http://x/\"}", -1),
                         0);
    assert_int_not_equal(agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/\","
                               "\"fetch\":\"pdf\"}",
                               -1),
                         0);
    assert_int_not_equal(agree("{\"schema_version\":99,\"batch_id\":\"b\",\"index\":1,\"url\":"
                               "\"http://x/\"}",
                               -1),
                         0);
    assert_int_not_equal(agree("{\"batch_id\":\"b\",\"index\":1,\"index\":2,\"url\":\"x\"}", -1),
                         0);
    assert_int_not_equal(agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/\","
                               "\"headers\":{\"A\":\"1\",\"A\":\"2\"}}",
                               -1),
                         0);
    assert_int_not_equal(agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/\",}", -1), 0);
    assert_int_not_equal(agree("{\"batch_id\":\"b\",\"index\":1,\"url\":\"http://x/\"} x", -1), 0);
    assert_int_not_equal(agree("{\"batch_id\":\"b\",\"index\":1,\"formats\":[\"html\",],"
                               "\"url\":\"http://x/\"}",
                               -1),
                         0);
    assert_int_not_equal(agree("{\"batch_id\":\"b\",\"index\":01,\"url\":\"http://x/\"}", -1), 0);
}

/* Every prefix of a request is malformed: the quick reader must never
 * accept one, and must agree with jansson's error. */
static void test_truncated(void **state)
{
    (void)state;
    const char *full = "{\"batch_id\":\"b\",\"index\":12,\"url\":\"http://x/\",\"headers\":"
                       "{\"A\":\"1\"},\"formats\":[\"html\"],\"options\":{\"follow_redirects\":"
                       "true},\"depth\":0,\"found_on\":null}";
    char buf[512];
    for (size_t n = 1; n < strlen(full); n++) {
        struct read r;
        memcpy(buf, full, n);
        buf[n] = '\0';
        read_request(buf, &r);
        assert_int_not_equal(r.rc, 0);
        read_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quick_reads_what_jansson_reads),
        cmocka_unit_test(test_quick_leaves_the_rest_to_jansson),
        cmocka_unit_test(test_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
