/* ingest's submit validation and message building (stages/ingest/submission.c)
 * and API keys (keys.c): table-driven, no broker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jx.h"
#include "keys.h"
#include "submission.h"

static const struct submission_limits lim = {
    .max_items = 3, .allow_http_webhook = 0, .max_page_bytes = 1 << 20};
static const struct submission_limits dev = {
    .max_items = 3, .allow_http_webhook = 1, .allow_private_webhook = 1, .max_page_bytes = 1 << 20};

static void test_rejects_with_field_and_index(void **state)
{
    static const struct {
        const char *body;
        int status;
        const char *field;
        long index;
    } cases[] = {
        {"", 400, "", -1},
        {"{\"urls\": [", 400, "", -1},
        {"[\"https://a.example\"]", 400, "", -1},
        {"{\"urls\": [\"https://a.example/\\u0000\"]}", 400, "", -1},
        {"{}", 422, "urls", -1},
        {"{\"urls\": [\"https://a.example\", \"ftp://b\"]}", 422, "urls[1]", 1},
        {"{\"urls\": [\"https://a.example\", \"http://has space\"]}", 422, "urls[1]", 1},
        {"{\"urls\": [\"http://\"]}", 422, "urls[0]", 0},
        {"{\"urls\": [\"https://a\"], \"items\": [{\"url\": 3}]}", 422, "items[0].url", 1},
        {"{\"items\": [{\"url\": \"https://a\", \"headers\": {\"X\": \"a\\nb\"}}]}", 422,
         "items[0].headers", 0},
        {"{\"urls\": [\"https://a\", \"https://b\", \"https://c\", \"https://d\"]}", 422, "urls",
         -1},
        {"{\"urls\": [\"https://a\"], \"formats\": [\"html\", \"pdf\"]}", 422, "formats[1]", -1},
        {"{\"urls\": [\"https://a\"], \"webhook_url\": \"http://hook\"}", 422, "webhook_url", -1},
        {"{\"urls\": [\"https://a\"], \"webhook_url\": \"https://hook\", \"webhook_secret\": "
         "\"0123456789abcde\"}",
         422, "webhook_secret", -1},
        {"{\"urls\": [\"https://a\"], \"options\": {\"max_bytes\": 2000000}}", 422,
         "options.max_bytes", -1},
        {"{\"urls\": [\"https://a\"], \"metadata\": 1}", 422, "metadata", -1},
        {"{\"urls\": [\"https://a\"], \"x\": 1}", 422, "x", -1},
        {"{\"urls\": [\"https://a\"], \"urls\": []}", 400, "", -1}, /* duplicate key */
        /* One reading of a URL, curl's: what it would connect to is judged. */
        {"{\"urls\": [\"http://127.0.0.1:28181\\\\@evil.example/x\"]}", 422, "urls[0]", 0},
        {"{\"urls\": [\"http://user:pw@a.example/\"]}", 422, "urls[0]", 0},
        {"{\"urls\": [\"https://a.example:99999/\"]}", 422, "urls[0]", 0},
        {"{\"urls\": [\"https://a.example:0/\"]}", 422, "urls[0]", 0},
        {"{\"urls\": [\"a.example/x\"]}", 422, "urls[0]", 0},
        {"{\"items\": [{\"headers\": {}}]}", 422, "items[0].url", 0},
        {"{\"urls\": [\"https://a\"], \"webhook_url\": \"https://127.0.0.1/h\"}", 422,
         "webhook_url", -1},
        {"{\"urls\": [\"https://a\"], \"webhook_url\": \"https://[::1]:8443/h\"}", 422,
         "webhook_url", -1},
        {"{\"urls\": [\"https://a\"], \"webhook_url\": \"https://10.1.2.3/h\"}", 422, "webhook_url",
         -1},
        {"{\"urls\": [\"https://a\"], \"webhook_url\": \"https://0x7f000001/h\"}", 422,
         "webhook_url", -1},
        {"{\"urls\": [\"https://a\"], \"webhook_url\": \"https://hooks.localhost/h\"}", 422,
         "webhook_url", -1},
        {"{\"urls\": [\"https://a\"], \"webhook_url\": \"https://u:p@a.example/h\"}", 422,
         "webhook_url", -1},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct submission b;
        struct submission_err err;
        int rc = submission_parse(&b, cases[i].body, strlen(cases[i].body), 0, "acme", &lim, &err);
        if (rc != -1 || err.status != cases[i].status || strcmp(err.field, cases[i].field) ||
            err.index != cases[i].index)
            fail_msg("case %zu (%s): rc %d status %d field '%s' index %ld", i, cases[i].body, rc,
                     err.status, err.field, err.index);
        submission_release(&b);
    }
}

static void test_requests_and_records(void **state)
{
    const char *body = "{\"urls\": [\"https://a.example/\\\"q\\\"\"], \"items\": [{\"url\": "
                       "\"https://b.example/\", \"headers\": {\"Accept\": \"x\"}}], "
                       "\"formats\": [\"text\", \"text\"], \"webhook_url\": \"https://h.example\"}";
    struct submission b;
    struct submission_err err;
    char *buf = NULL;
    size_t cap = 0;
    (void)state;
    assert_int_equal(submission_parse(&b, body, strlen(body), 0, "acme", &lim, &err), 0);
    assert_int_equal(b.total, 2);
    assert_true(ids_valid("bat", b.id));
    assert_true(b.secret_generated && strncmp(b.secret, "whsec_", 6) == 0);
    assert_int_equal(strlen(b.secret), 6 + 44); /* base64 of 32 bytes */

    for (size_t i = 0; i < 2; i++) {
        long len = submission_request_json(&b, i, &buf, &cap);
        json_t *req = json_loadb(buf, (size_t)len, 0, NULL);
        assert_non_null(req);
        assert_string_equal(jx_str(req, "batch_id", ""), b.id);
        assert_int_equal(jx_int(req, "index", -1), (long long)i);
        assert_int_equal(json_array_size(json_object_get(req, "formats")), 1); /* deduped */
        assert_int_equal(jx_int(json_object_get(req, "options"), "timeout_ms", 0), 30000);
        assert_string_equal(jx_str(req, "url", ""),
                            i == 0 ? "https://a.example/\"q\"" : "https://b.example/");
        assert_int_equal(json_object_size(json_object_get(req, "headers")), i);
        json_decref(req);
    }
    free(buf);

    char *rec = submission_record_json(&b, "v1.sealed");
    assert_null(strstr(rec, b.secret));
    json_t *r = json_loads(rec, 0, NULL);
    assert_string_equal(jx_str(json_object_get(r, "webhook"), "secret_enc", ""), "v1.sealed");
    assert_int_equal(json_array_size(json_object_get(json_object_get(r, "webhook"), "events")), 3);
    json_decref(r);
    free(rec);

    char *accepted = submission_accepted_json(&b);
    assert_non_null(strstr(accepted, b.secret));
    free(accepted);
    submission_release(&b);
}

/* What scrape needs to apply the rules: the spec once, in the record, and
 * its hash in each request; an endpoint's items expanded by its templates,
 * echoed as input, with the profile's name, digest and parameters. */
static void test_rules_in_requests_and_records(void **state)
{
    (void)state;
    char err_text[300];
    struct profiles *ps = profiles_load(NULL, err_text, sizeof(err_text));
    assert_non_null(ps);
    struct submission_limits l = lim;
    l.profiles = ps;
    struct submission b;
    struct submission_err err;
    char *buf = NULL;
    size_t cap = 0;

    const char *body = "{\"urls\": [\"https://a.example/\"], \"extract\": {\"fields\": "
                       "{\"t\": \"h1\"}}}";
    assert_int_equal(submission_parse(&b, body, strlen(body), 0, "acme", &l, &err), 0);
    long len = submission_request_json(&b, 0, &buf, &cap);
    json_t *req = json_loadb(buf, (size_t)len, 0, NULL);
    assert_non_null(req);
    assert_string_equal(jx_str(json_object_get(req, "extract"), "hash", ""), b.extract_hash);
    assert_int_equal(strlen(b.extract_hash), XRULES_HASH_LEN - 1);
    json_decref(req);
    char *rec = submission_record_json(&b, NULL);
    json_t *r = json_loads(rec, 0, NULL);
    assert_string_equal(jx_str(r, "extract_hash", ""), b.extract_hash);
    assert_string_equal(jx_str(json_object_get(json_object_get(r, "extract"), "fields"), "t", ""),
                        "h1");
    json_decref(r);
    free(rec);
    submission_release(&b);

    body = "{\"endpoint\": \"amazon.product\", \"items\": [{\"query\": \"B09HN3Q81F\", "
           "\"domain\": \"de\", \"language\": \"de_DE\"}, {\"query\": \"B000000001\", \"url\": "
           "\"http://mirror.example/x\"}]}";
    assert_int_equal(submission_parse(&b, body, strlen(body), 0, "acme", &l, &err), 0);
    assert_int_equal(b.total, 2);
    len = submission_request_json(&b, 0, &buf, &cap);
    req = json_loadb(buf, (size_t)len, 0, NULL);
    assert_non_null(req);
    assert_string_equal(jx_str(req, "url", ""),
                        "https://www.amazon.de/dp/B09HN3Q81F?language=de_DE");
    assert_string_equal(jx_str(json_object_get(req, "headers"), "Accept-Language", ""), "de-DE");
    assert_string_equal(jx_str(json_object_get(req, "input"), "query", ""), "B09HN3Q81F");
    json_t *ep = json_object_get(req, "endpoint");
    assert_string_equal(jx_str(ep, "name", ""), "amazon.product");
    assert_string_equal(jx_str(ep, "digest", ""), profiles_get(ps, "amazon.product")->digest);
    assert_string_equal(jx_str(json_object_get(ep, "params"), "domain", ""), "de");
    assert_int_equal(json_array_size(json_object_get(req, "formats")), 0);
    json_decref(req);
    len = submission_request_json(&b, 1, &buf, &cap);
    req = json_loadb(buf, (size_t)len, 0, NULL);
    assert_string_equal(jx_str(req, "url", ""), "http://mirror.example/x");
    /* The parameters' defaults filled in. */
    assert_string_equal(
        jx_str(json_object_get(json_object_get(req, "endpoint"), "params"), "domain", ""), "com");
    json_decref(req);
    free(buf);
    submission_release(&b);

    /* Without profiles configured, an endpoint is refused. */
    body = "{\"endpoint\": \"amazon.product\", \"items\": [{\"query\": \"B09HN3Q81F\"}]}";
    assert_int_equal(submission_parse(&b, body, strlen(body), 0, "acme", &lim, &err), -1);
    assert_string_equal(err.field, "endpoint");
    submission_release(&b);
    profiles_free(ps);
}

static void test_single(void **state)
{
    const char *body = "{\"url\": \"https://a.example\", \"headers\": {\"A\": \"b\"}}";
    struct submission b;
    struct submission_err err;
    (void)state;
    assert_int_equal(submission_parse(&b, body, strlen(body), 1, "acme", &lim, &err), 0);
    assert_int_equal(b.total, 1);
    const json_t *h;
    assert_string_equal(submission_item(&b, 0, &h), "https://a.example/"); /* curl's form */
    assert_string_equal(jx_str(h, "A", ""), "b");
    submission_release(&b);
    body = "{\"urls\": [\"https://a.example\"]}";
    assert_int_equal(submission_parse(&b, body, strlen(body), 1, "acme", &lim, &err), -1);
    assert_string_equal(err.field, "urls");
    submission_release(&b);
}

/* What the request carries is curl's normalized text, the one scrape fetches. */
static void test_urls_normalized(void **state)
{
    const char *body = "{\"urls\": [\"HTTP://Example.COM:8080/a/../b?q=1\", "
                       "\"http://2130706433/x\"], \"webhook_url\": \"http://127.0.0.1:9/h\"}";
    struct submission b;
    struct submission_err err;
    const json_t *h;
    (void)state;
    assert_int_equal(submission_parse(&b, body, strlen(body), 0, "acme", &dev, &err), 0);
    assert_string_equal(submission_item(&b, 0, &h), "http://Example.COM:8080/b?q=1");
    assert_string_equal(submission_item(&b, 1, &h), "http://127.0.0.1/x");
    assert_string_equal(b.webhook_url, "http://127.0.0.1:9/h"); /* allowed in development */
    submission_release(&b);
}

/* ignore_invalid_urls: entries whose URL is refused are skipped and listed
 * (their submitted index), the rest numbered anew; none left is a 422. */
static void test_ignore_invalid_urls(void **state)
{
    static const struct submission_limits wide = {.max_items = 10, .max_page_bytes = 1 << 20};
    const char *body = "{\"urls\": [\"https://a.example/\", \"nope\", 5], \"items\": "
                       "[{\"url\": \"ftp://x/\"}, {\"url\": \"https://b.example/\", \"headers\": "
                       "{\"A\": \"1\"}}, {}], \"ignore_invalid_urls\": true}";
    struct submission b;
    struct submission_err err;
    const json_t *h;
    (void)state;
    assert_int_equal(submission_parse(&b, body, strlen(body), 0, "acme", &wide, &err), 0);
    assert_int_equal(b.total, 2);
    assert_string_equal(submission_item(&b, 0, &h), "https://a.example/");
    assert_string_equal(submission_item(&b, 1, &h), "https://b.example/");
    assert_string_equal(jx_str(h, "A", ""), "1");
    assert_int_equal(json_array_size(b.invalid), 4);
    static const long skipped[] = {1, 2, 3, 5};
    for (size_t i = 0; i < 4; i++) {
        json_t *x = json_array_get(b.invalid, i);
        assert_int_equal(jx_int(x, "index", -1), skipped[i]);
        assert_string_equal(jx_str(x, "code", ""), "invalid_url");
        assert_true(strlen(jx_str(x, "message", "")) > 0);
    }
    assert_string_equal(jx_str(json_array_get(b.invalid, 0), "url", ""), "nope");
    assert_true(json_is_null(json_object_get(json_array_get(b.invalid, 1), "url")));
    char *accepted = submission_accepted_json(&b);
    json_t *a = json_loads(accepted, 0, NULL);
    assert_int_equal(jx_int(a, "total", 0), 2);
    assert_int_equal(json_array_size(json_object_get(a, "invalid_urls")), 4);
    json_decref(a);
    free(accepted);
    submission_release(&b);

    /* Structure is still checked: a bad header is no URL to skip. */
    body = "{\"items\": [{\"url\": \"https://a.example/\", \"headers\": 3}], "
           "\"ignore_invalid_urls\": true}";
    assert_int_equal(submission_parse(&b, body, strlen(body), 0, "acme", &wide, &err), -1);
    assert_string_equal(err.field, "items[0].headers");
    submission_release(&b);
    body = "{\"urls\": [\"nope\", \"ftp://x/\"], \"ignore_invalid_urls\": true}";
    assert_int_equal(submission_parse(&b, body, strlen(body), 0, "acme", &wide, &err), -1);
    assert_int_equal(err.status, 422);
    assert_string_equal(err.field, "urls");
    submission_release(&b);
}

/* Which webhook and secret a batch gets from its tenant's settings. */
static void test_tenant_defaults(void **state)
{
    json_t *events = json_pack("[s]", "batch.completed");
    struct submission_tenant none = {NULL, NULL, 0}, url_only = {"https://t.example/", events, 0},
                             both = {"https://t.example/", events, 1};
    struct submission b;
    struct submission_err err;
    (void)state;
    static const char *const bodies[] = {
        "{\"urls\": [\"https://a.example\"]}",
        "{\"urls\": [\"https://a.example\"], \"webhook_url\": \"https://own.example/\"}",
        "{\"urls\": [\"https://a.example\"], \"webhook_url\": \"https://own.example/\", "
        "\"webhook_secret\": \"0123456789abcdef\"}",
    };
    static const struct {
        int body;
        int tenant; /* 0 none, 1 url only, 2 url and secret */
        const char *url;
        int generated, tenant_secret, own;
    } cases[] = {
        {0, 0, NULL, 0, 0, 0},
        {0, 1, "https://t.example/", 1, 0, 0},
        {0, 2, "https://t.example/", 0, 1, 0},
        {1, 0, "https://own.example/", 1, 0, 0},
        {1, 2, "https://own.example/", 0, 1, 0},
        {2, 2, "https://own.example/", 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct submission_tenant *t = cases[i].tenant == 0   ? &none
                                            : cases[i].tenant == 1 ? &url_only
                                                                   : &both;
        const char *body = bodies[cases[i].body];
        assert_int_equal(submission_parse(&b, body, strlen(body), 0, "acme", &lim, &err), 0);
        assert_int_equal(submission_apply_tenant(&b, t, &err), 0);
        if (cases[i].url)
            assert_string_equal(b.webhook_url, cases[i].url);
        else
            assert_null(b.webhook_url);
        assert_int_equal(b.secret_generated, cases[i].generated);
        assert_int_equal(b.tenant_secret, cases[i].tenant_secret);
        assert_int_equal(b.secret != NULL, cases[i].generated || cases[i].own);
        char *rec = submission_record_json(&b, b.secret ? "v1.sealed" : NULL);
        json_t *r = json_loads(rec, 0, NULL), *wh = json_object_get(r, "webhook");
        assert_int_equal(jx_bool(wh, "tenant_secret", 0), cases[i].tenant_secret);
        if (cases[i].tenant_secret)
            assert_true(json_is_null(json_object_get(wh, "secret_enc")));
        json_decref(r);
        free(rec);
        submission_release(&b);
    }
    json_decref(events);

    /* A rendered batch's record carries its rendering options: a retry
     * reads its requests from render.requests and renders alike. */
    const char *rendered = "{\"urls\": [\"https://a.example\"], \"render\": true, "
                           "\"block_ads\": true}";
    assert_int_equal(submission_parse(&b, rendered, strlen(rendered), 0, "acme", &lim, &err), 0);
    char *rrec = submission_record_json(&b, NULL);
    json_t *rr = json_loads(rrec, 0, NULL);
    assert_true(jx_bool(rr, "render", 0) && jx_bool(rr, "block_ads", 0));
    json_decref(rr);
    free(rrec);
    submission_release(&b);

    /* A retry names its source in the record, the status and the answer. */
    assert_int_equal(submission_parse(&b, bodies[0], strlen(bodies[0]), 0, "acme", &lim, &err), 0);
    snprintf(b.retry_of, sizeof(b.retry_of), "bat_01M8MW0N00YBDBNFBKCYCSCFWD");
    char *docs[] = {submission_record_json(&b, NULL), submission_status_json(&b),
                    submission_accepted_json(&b)};
    for (int i = 0; i < 3; i++) {
        json_t *d = json_loads(docs[i], 0, NULL);
        assert_string_equal(jx_str(d, "retry_of", ""), "bat_01M8MW0N00YBDBNFBKCYCSCFWD");
        json_decref(d);
        free(docs[i]);
    }
    submission_release(&b);
}

static void test_keys(void **state)
{
    struct keys *ks = calloc(1, sizeof(*ks));
    char err[256];
    (void)state;
    assert_int_equal(
        keys_add_list(ks, " key-acme-1:acme , key-globex:globex,", ",", err, sizeof(err)), 0);
    assert_int_equal(ks->n, 2);
    assert_string_equal(keys_tenant(ks, "Bearer key-acme-1"), "acme");
    assert_string_equal(keys_tenant(ks, "bearer key-globex"), "globex");
    assert_null(keys_tenant(ks, "Bearer key-acme-"));
    assert_null(keys_tenant(ks, "Bearer key-acme-12"));
    assert_null(keys_tenant(ks, "key-acme-1"));
    assert_null(keys_tenant(ks, NULL));
    assert_int_equal(keys_add_list(ks, "short:acme", ",", err, sizeof(err)), -1);
    assert_int_equal(keys_add_list(ks, "long-enough-key", ",", err, sizeof(err)), -1);
    assert_int_equal(keys_add_list(ks, "long-enough-key:bad tenant", ",", err, sizeof(err)), -1);
    assert_int_equal(keys_add_list(ks, "# comment\n\nfile-key-1:file\n", "\n", err, sizeof(err)),
                     0);
    assert_string_equal(keys_tenant(ks, "Bearer file-key-1"), "file");
    free(ks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejects_with_field_and_index),
        cmocka_unit_test(test_requests_and_records),
        cmocka_unit_test(test_rules_in_requests_and_records),
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_urls_normalized),
        cmocka_unit_test(test_ignore_invalid_urls),
        cmocka_unit_test(test_tenant_defaults),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
