/* ingest's Idempotency-Keys (stages/ingest/idem.c): what a key answers, a
 * key in flight on this instance, records read from the topic (and their
 * 24 h), and the ids and secrets every instance derives alike. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "idem.h"

static struct idem_entry made(const char *id, unsigned char h, int64_t at)
{
    struct idem_entry e = {0};
    snprintf(e.batch_id, sizeof(e.batch_id), "%s", id);
    memset(e.hash, h, sizeof(e.hash));
    e.created_ms = at;
    e.total = 2;
    e.secret_generated = 1;
    return e;
}

static void test_keys_and_hashes(void **state)
{
    (void)state;
    char long_key[300];
    memset(long_key, 'k', sizeof(long_key));
    long_key[255] = '\0';
    assert_true(idem_key_valid("order-1"));
    assert_true(idem_key_valid("a key with spaces ~!"));
    assert_true(idem_key_valid(long_key));
    long_key[255] = 'k';
    long_key[256] = '\0';
    assert_false(idem_key_valid(long_key));
    assert_false(idem_key_valid(""));
    assert_false(idem_key_valid("tab\there"));
    assert_false(idem_key_valid("caf\xc3\xa9"));

    unsigned char a[IDEM_HASH], b[IDEM_HASH], c[IDEM_HASH];
    idem_hash("submit", "{}", 2, a);
    idem_hash("submit", "{}", 2, b);
    assert_memory_equal(a, b, IDEM_HASH);
    idem_hash("scrape_async", "{}", 2, c); /* the route is part of the request */
    assert_memory_not_equal(a, c, IDEM_HASH);
    idem_hash("submit", "{ }", 3, c);
    assert_memory_not_equal(a, c, IDEM_HASH);
}

static void test_begin_end(void **state)
{
    (void)state;
    struct idem *d = idem_new();
    struct idem_entry hit, e = made("bat_01M8MW0N00YBDBNFBKCYCSCFWD", 1, clk_now_ms());
    unsigned char same[IDEM_HASH], other[IDEM_HASH];
    memset(same, 1, sizeof(same));
    memset(other, 2, sizeof(other));

    assert_int_equal(idem_begin(d, "acme", "k", same, 100, &hit), IDEM_NEW);
    idem_end(d, "acme", "k", NULL); /* nothing written: the key stays free */
    assert_int_equal(idem_begin(d, "acme", "k", same, 100, &hit), IDEM_NEW);
    idem_end(d, "acme", "k", &e);
    assert_int_equal(idem_count(d), 1);
    assert_int_equal(idem_begin(d, "acme", "k", same, 100, &hit), IDEM_REPLAY);
    assert_string_equal(hit.batch_id, e.batch_id);
    assert_int_equal(idem_begin(d, "acme", "k", other, 100, &hit), IDEM_REUSED);
    assert_int_equal(idem_begin(d, "globex", "k", same, 100, &hit), IDEM_NEW); /* per tenant */
    idem_end(d, "globex", "k", NULL);
    idem_free(d);
}

struct racer {
    struct idem *d;
    enum idem_verdict v;
    struct idem_entry hit;
};

static void *second(void *arg)
{
    struct racer *r = arg;
    unsigned char h[IDEM_HASH];
    memset(h, 1, sizeof(h));
    r->v = idem_begin(r->d, "acme", "k", h, 5000, &r->hit);
    return NULL;
}

static void test_in_flight(void **state)
{
    (void)state;
    struct idem *d = idem_new();
    struct idem_entry hit, e = made("bat_01M8MW0N00YBDBNFBKCYCSCFWD", 1, clk_now_ms());
    unsigned char h[IDEM_HASH];
    memset(h, 1, sizeof(h));
    assert_int_equal(idem_begin(d, "acme", "k", h, 100, &hit), IDEM_NEW);
    /* Held: another request with the key waits, and gives up at its deadline. */
    int64_t t0 = clk_mono_ms();
    assert_int_equal(idem_begin(d, "acme", "k", h, 200, &hit), IDEM_BUSY);
    assert_true(clk_mono_ms() - t0 >= 190);
    /* ... or gets the first one's answer when it comes. */
    struct racer r = {.d = d, .v = IDEM_NEW};
    pthread_t t;
    pthread_create(&t, NULL, second, &r);
    usleep(50 * 1000);
    idem_end(d, "acme", "k", &e);
    pthread_join(t, NULL);
    assert_int_equal(r.v, IDEM_REPLAY);
    assert_string_equal(r.hit.batch_id, e.batch_id);
    idem_free(d);
}

static rd_kafka_message_t message(const char *value)
{
    rd_kafka_message_t m;
    memset(&m, 0, sizeof(m));
    m.payload = (void *)value;
    m.len = value ? strlen(value) : 0;
    return m;
}

static void test_follow(void **state)
{
    (void)state;
    struct idem *d = idem_new();
    struct idem_entry hit, e = made("bat_01M8MW0N00YBDBNFBKCYCSCFWD", 7, clk_now_ms() - 1000);
    size_t len;
    char *rec = idem_record_json("acme", "order 1", &e, &len);
    rd_kafka_message_t m = message(rec);
    idem_follow(d, 1, &m);
    assert_int_equal(idem_begin(d, "acme", "order 1", e.hash, 100, &hit), IDEM_REPLAY);
    assert_string_equal(hit.batch_id, e.batch_id);
    assert_int_equal(hit.created_ms, e.created_ms);
    assert_int_equal(hit.total, 2);
    assert_true(hit.secret_generated);
    free(rec);

    /* A day old: forgotten (the key may make a new batch). */
    struct idem_entry old = made("bat_01M8MW0N00YBDBNFBKCYCSCFWE", 7, clk_now_ms() - IDEM_TTL_MS);
    rec = idem_record_json("acme", "order 2", &old, &len);
    m = message(rec);
    idem_follow(d, 1, &m);
    assert_int_equal(idem_begin(d, "acme", "order 2", old.hash, 100, &hit), IDEM_NEW);
    idem_end(d, "acme", "order 2", NULL);
    free(rec);

    /* The record leads with its version; one without it is version 1. */
    struct idem_entry legacy = made("bat_01M8MW0N00YBDBNFBKCYCSCFWF", 9, clk_now_ms() - 1000);
    rec = idem_record_json("acme", "order 3", &legacy, &len);
    assert_memory_equal(rec, "{\"schema_version\":1,\"tenant\"", 28);
    char *unversioned = strdup(rec), *after = strchr(unversioned, ',');
    memmove(unversioned + 1, after + 1, strlen(after));
    m = message(unversioned);
    idem_follow(d, 1, &m);
    assert_int_equal(idem_begin(d, "acme", "order 3", legacy.hash, 100, &hit), IDEM_REPLAY);
    assert_string_equal(hit.batch_id, legacy.batch_id);
    /* A version this ingest does not know is not guessed at. */
    struct idem_entry later = made("bat_01M8MW0N00YBDBNFBKCYCSCFWG", 11, clk_now_ms() - 1000);
    char *next = idem_record_json("acme", "order 4", &later, &len);
    next[strlen("{\"schema_version\":")] = '2';
    m = message(next);
    idem_follow(d, 1, &m);
    assert_int_equal(idem_count(d), 2);
    free(next);
    free(unversioned);
    free(rec);

    /* Garbage and tombstones change nothing. */
    static const char *const bad[] = {"{", "{\"tenant\":\"acme\",\"key\":\"x\"}", "[]", NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m = message(bad[i]);
        idem_follow(d, 1, &m);
    }
    assert_int_equal(idem_count(d), 2);
    idem_free(d);
}

static void test_derived(void **state)
{
    (void)state;
    unsigned char h1[IDEM_HASH], h2[IDEM_HASH];
    char a[IDS_BATCH_LEN], b[IDS_BATCH_LEN], c[IDS_BATCH_LEN];
    int64_t noon = 1795348800000LL; /* 2026-11-22T12:00:00Z */
    memset(h1, 1, sizeof(h1));
    memset(h2, 2, sizeof(h2));
    assert_int_equal(idem_batch_id("acme", "k", h1, noon, a), 0);
    assert_int_equal(idem_batch_id("acme", "k", h1, noon + 3600000, b), 0);
    assert_string_equal(a, b); /* the same day, key and request: the same batch */
    assert_int_equal(ids_time_ms("bat", a), noon - 12 * 3600000);
    assert_int_equal(idem_batch_id("acme", "k", h2, noon, c), 0);
    assert_string_not_equal(a, c);
    assert_int_equal(idem_batch_id("globex", "k", h1, noon, c), 0);
    assert_string_not_equal(a, c);
    assert_int_equal(idem_batch_id("acme", "k", h1, noon + 86400000, c), 0);
    assert_string_not_equal(a, c);

    struct secretbox sb, other;
    char errstr[128];
    secretbox_init(&sb, "5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f", errstr,
                   sizeof(errstr));
    secretbox_init(&other, "6f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f",
                   errstr, sizeof(errstr));
    char *s1 = idem_secret(&sb, a), *s2 = idem_secret(&sb, a), *s3 = idem_secret(&sb, c),
         *s4 = idem_secret(&other, a);
    assert_string_equal(s1, s2);
    assert_string_not_equal(s1, s3);
    assert_string_not_equal(s1, s4);
    assert_int_equal(strncmp(s1, "whsec_", 6), 0);
    assert_int_equal(strlen(s1), 6 + 44);
    free(s1);
    free(s2);
    free(s3);
    free(s4);

    char tk[IDEM_TOPIC_KEY_MAX];
    idem_topic_key("acme", "order/1", tk);
    assert_string_equal(tk, "acme/order/1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_and_hashes), cmocka_unit_test(test_begin_end),
        cmocka_unit_test(test_in_flight),       cmocka_unit_test(test_follow),
        cmocka_unit_test(test_derived),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
