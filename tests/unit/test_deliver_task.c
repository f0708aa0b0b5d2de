/*
 * deliver's pure logic: what an attempt's result means (verdict, tier, due
 * time, Retry-After), signing with rotation, and the attempt record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <stdio.h>

#include "deliver.h"
#include "jx.h"

static const long long tiers[] = {1000, 5000, 30000};
static const struct task_policy pol3 = {.n_tiers = 3, .tier_ms = tiers};

static void test_verdicts(void **state)
{
    (void)state;
    static const struct {
        int attempt;
        long status;
        const char *error;
        int final;
        const char *retry_after;
        enum verdict verdict;
        int tier;
        int64_t due; /* relative to now */
    } cases[] = {
        {1, 200, "", 0, "", VERDICT_DELIVERED, -1, 0},
        {3, 204, "", 0, "", VERDICT_DELIVERED, -1, 0},
        {1, 500, "http 500", 0, "", VERDICT_RETRY, 0, 1000},
        {2, 500, "http 500", 0, "", VERDICT_RETRY, 1, 5000},
        {3, 0, "timeout after 30000 ms", 0, "", VERDICT_RETRY, 2, 30000},
        {4, 500, "http 500", 0, "", VERDICT_DEAD, -1, 0}, /* tiers exhausted */
        {1, 410, "http 410", 0, "", VERDICT_DEAD, -1, 0}, /* gone: no retries */
        {1, 302, "http 302: redirect not followed", 0, "", VERDICT_RETRY, 0, 1000},
        {1, 0, "blocked: 10.0.0.1 is private", 1, "", VERDICT_DEAD, -1, 0},
        {2, 429, "http 429", 0, "7", VERDICT_RETRY, 1, 7000},    /* honoured */
        {2, 503, "http 503", 0, "60", VERDICT_RETRY, 1, 10000},  /* at most 2x */
        {2, 503, "http 503", 0, "1", VERDICT_RETRY, 1, 5000},    /* not below the tier */
        {2, 503, "http 503", 0, "soon", VERDICT_RETRY, 1, 5000}, /* unparsable: the tier */
        {2, 500, "http 500", 0, "7", VERDICT_RETRY, 1, 5000},    /* only on 429/503 */
        /* an HTTP date 8 s after the attempt ended */
        {2, 429, "http 429", 0, "Thu, 01 Jan 1970 00:16:48 GMT", VERDICT_RETRY, 1, 8000},
        {1, 200, "closed: connection reset", 0, "", VERDICT_RETRY, 0, 1000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct job j = {0};
        j.attempt = cases[i].attempt;
        j.status = cases[i].status;
        snprintf(j.error, sizeof(j.error), "%s", cases[i].error);
        j.final = cases[i].final;
        snprintf(j.x.retry_after, sizeof(j.x.retry_after), "%s", cases[i].retry_after);
        task_verdict(&j, &pol3, 1000000);
        assert_int_equal(j.verdict, cases[i].verdict);
        assert_int_equal(j.tier, cases[i].tier);
        if (cases[i].verdict == VERDICT_RETRY)
            assert_int_equal(j.due_ms, 1000000 + cases[i].due);
    }
}

static struct job *signed_job(struct secretbox *sb, const char *secret, const char *prev,
                              const char *until)
{
    struct job *j = calloc(1, sizeof(*j));
    char *s1 = secretbox_seal(sb, secret, strlen(secret), "bat_x");
    char *s2 = prev ? secretbox_seal(sb, prev, strlen(prev), "bat_x") : NULL;
    j->task = json_pack("{s:s,s:s?,s:s?}", "secret_enc", s1, "previous_secret_enc", s2,
                        "previous_secret_until", until);
    free(s1);
    free(s2);
    j->batch_id = "bat_x";
    j->delivery_id = "dlv_0123";
    j->body = "{\"a\": 1}";
    j->body_len = strlen(j->body);
    return j;
}

static void key_init(struct secretbox *sb)
{
    char errstr[256];
    assert_int_equal(
        secretbox_init(sb, "5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f",
                       errstr, sizeof(errstr)),
        0);
}

static void test_sign_and_rotation(void **state)
{
    (void)state;
    struct secretbox sb;
    char errstr[256], want[WHSIG_HEX_LEN], want_std[WHSIG_V1_LEN], want_prev[WHSIG_HEX_LEN];
    key_init(&sb);
    struct task_policy pol = {.sb = &sb};
    int64_t now = 1795337000000LL;

    struct job *j = signed_job(&sb, "new-secret", NULL, NULL);
    assert_int_equal(task_sign(j, &pol, now, errstr, sizeof(errstr)), 0);
    whsig_ferry("new-secret", j->body, j->body_len, want);
    whsig_standard("new-secret", "dlv_0123", now / 1000, j->body, j->body_len, want_std);
    assert_string_equal(j->ferry_sig, want);
    assert_string_equal(j->std_sig, want_std);
    assert_int_equal(j->ts, now / 1000);
    job_free(j);

    /* Previous secret still valid: both, space-separated, new first. */
    j = signed_job(&sb, "new-secret", "old-secret", "2026-11-23T00:00:00Z");
    assert_int_equal(task_sign(j, &pol, now, errstr, sizeof(errstr)), 0);
    whsig_ferry("old-secret", j->body, j->body_len, want_prev);
    char both[2 * WHSIG_HEX_LEN + 1];
    snprintf(both, sizeof(both), "%s %s", want, want_prev);
    assert_string_equal(j->ferry_sig, both);
    assert_non_null(strchr(j->std_sig, ' '));
    job_free(j);

    /* Expired: only the new one. */
    j = signed_job(&sb, "new-secret", "old-secret", "2026-11-01T00:00:00Z");
    assert_int_equal(task_sign(j, &pol, now, errstr, sizeof(errstr)), 0);
    assert_string_equal(j->ferry_sig, want);
    job_free(j);

    /* Sealed for another batch: does not open. */
    j = signed_job(&sb, "new-secret", NULL, NULL);
    j->batch_id = "bat_y";
    assert_int_equal(task_sign(j, &pol, now, errstr, sizeof(errstr)), -1);
    assert_non_null(strstr(errstr, "does not open"));
    job_free(j);
}

/* A tenant-signed task: the tenant's secrets as the table has them at each
 * attempt; a rotation between two attempts changes what signs the next. */
static void test_sign_with_tenant_secret(void **state)
{
    (void)state;
    struct secretbox sb;
    char errstr[256], aad[TENANT_AAD_MAX], want[WHSIG_HEX_LEN], want_old[WHSIG_HEX_LEN];
    key_init(&sb);
    struct task_policy pol = {
        .sb = &sb, .tenants = tenant_table_new(), .n_tiers = 3, .tier_ms = tiers};
    int64_t now = 1795337000000LL;
    struct job j = {0};
    j.task = json_pack("{s:n,s:b}", "secret_enc", "tenant_secret", 1);
    j.tenant_secret = 1;
    j.tenant = "acme";
    j.batch_id = "bat_x";
    j.delivery_id = "dlv_0123";
    j.body = "{\"a\": 1}";
    j.body_len = strlen(j.body);
    j.attempt = 1;

    /* Not known here yet: an error, but a retry, not the dead letters. */
    assert_int_equal(task_sign(&j, &pol, now, errstr, sizeof(errstr)), -1);
    assert_true(j.secret_pending);
    j.final = 1; /* as the sender marks an attempt that could not start */
    snprintf(j.error, sizeof(j.error), "%s", errstr);
    task_verdict(&j, &pol, now);
    assert_int_equal(j.verdict, VERDICT_RETRY);

    tenant_secret_aad("acme", aad);
    char *cur = secretbox_seal(&sb, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 38, aad);
    char *old = secretbox_seal(&sb, "whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZA==", 42, aad);
    char *other =
        secretbox_seal(&sb, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 38, "tenant:globex");
    char rec[1024];
    snprintf(rec, sizeof(rec),
             "{\"tenant\":\"acme\",\"webhook\":null,\"secret\":{\"enc\":\"%s\",\"created_at\":"
             "\"2026-11-22T00:00:00Z\"},\"previous_secret\":{\"enc\":\"%s\",\"valid_until\":"
             "\"2026-11-22T09:00:00Z\"}}",
             cur, old);
    assert_int_equal(tenant_table_apply(pol.tenants, "acme", rec, strlen(rec)), 0);
    assert_int_equal(task_sign(&j, &pol, now, errstr, sizeof(errstr)), 0);
    assert_false(j.secret_pending);
    whsig_ferry("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", j.body, j.body_len, want);
    whsig_ferry("whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZA==", j.body, j.body_len, want_old);
    char both[2 * WHSIG_HEX_LEN + 1];
    snprintf(both, sizeof(both), "%s %s", want, want_old);
    assert_string_equal(j.ferry_sig, both); /* the overlap: both */
    assert_non_null(strchr(j.std_sig, ' '));

    /* After valid_until: the new one only. */
    assert_int_equal(task_sign(&j, &pol, now + 3600 * 1000, errstr, sizeof(errstr)), 0);
    assert_string_equal(j.ferry_sig, want);

    /* Another tenant's sealed secret does not open for this one. */
    snprintf(rec, sizeof(rec),
             "{\"tenant\":\"acme\",\"secret\":{\"enc\":\"%s\",\"created_at\":null}}", other);
    assert_int_equal(tenant_table_apply(pol.tenants, "acme", rec, strlen(rec)), 0);
    assert_int_equal(task_sign(&j, &pol, now, errstr, sizeof(errstr)), -1);
    assert_false(j.secret_pending);
    assert_non_null(strstr(errstr, "does not open"));

    free(cur);
    free(old);
    free(other);
    json_decref(j.task);
    tenant_table_free(pol.tenants);
}

static void test_attempt_record(void **state)
{
    (void)state;
    struct job j = {0};
    j.delivery_id = "dlv_1";
    j.batch_id = "bat_1";
    j.tenant = "acme";
    j.event = "batch.completed";
    j.url = "https://r.example/h";
    j.attempt = 2;
    j.start_ms = 1795337000123LL;
    j.status = 503;
    j.latency_ms = 31;
    snprintf(j.error, sizeof(j.error), "http 503");
    j.verdict = VERDICT_RETRY;
    j.due_ms = 1795337005123LL;
    snprintf(j.origin, sizeof(j.origin), "ferry.webhooks/4/99");
    /* A binary answer: invalid UTF-8 and a NUL become '?'. */
    buf_init(&j.x.body, DELIVER_RESP_KEEP);
    buf_add(&j.x.body, "ok\xff\xc3(\0z\xe2\x82\xac", 10);
    size_t len;
    char *s = recorder_attempt_json(&j, &len);
    json_t *o = json_loads(s, 0, NULL);
    assert_non_null(o);
    assert_string_equal(jx_str(o, "outcome", ""), "retrying");
    assert_string_equal(jx_str(o, "at", ""), "2026-11-22T08:43:20.123Z");
    assert_string_equal(jx_str(o, "next_attempt_at", ""), "2026-11-22T08:43:25.123Z");
    assert_int_equal(jx_int(o, "status_code", 0), 503);
    assert_string_equal(jx_str(o, "response_body", ""), "ok?"
                                                        "?(?z\xe2\x82\xac");
    json_t *t = json_object_get(o, "task");
    assert_string_equal(jx_str(t, "topic", ""), "ferry.webhooks");
    assert_int_equal(jx_int(t, "partition", -1), 4);
    assert_int_equal(jx_int(t, "offset", -1), 99);
    json_decref(o);
    free(s);

    /* Delivered: no error, no next attempt, no status when none came. */
    j.verdict = VERDICT_DELIVERED;
    j.error[0] = '\0';
    j.status = 0;
    s = recorder_attempt_json(&j, &len);
    o = json_loads(s, 0, NULL);
    assert_true(json_is_null(json_object_get(o, "error")));
    assert_true(json_is_null(json_object_get(o, "next_attempt_at")));
    assert_true(json_is_null(json_object_get(o, "status_code")));
    json_decref(o);
    free(s);
    buf_release(&j.x.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_sign_and_rotation),
        cmocka_unit_test(test_sign_with_tenant_secret),
        cmocka_unit_test(test_attempt_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
