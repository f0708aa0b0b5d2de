/* The HTTP client engine against a local server (testhttp): admission per
 * host, timeouts from the real start, body caps, many transfers, stop with
 * transfers running, the SSRF guard; and Retry-After parsing. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "httpc.h"
#include "log.h"
#include "testhttp.h"

static struct testhttp *srv;

struct tx {
    struct httpc_xfer x;
    char url[256];
    long timeout_ms;
    int refuse; /* setup says no */
    /* The outcome. */
    int done, dropped;
    CURLcode rc;
    long status;
    long ms; /* from admission to the end */
    char body[64];
    size_t body_len, body_total;
    int too_large, blocked;
    char retry_after[64];
};

struct counts {
    int done, dropped;
};

static int setup_tx(struct httpc_xfer *x, CURL *easy, void *arg)
{
    struct tx *t = x->owner;
    (void)arg;
    if (t->refuse)
        return -1;
    curl_easy_setopt(easy, CURLOPT_URL, t->url);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, t->timeout_ms ? t->timeout_ms : 10000L);
    return 0;
}

static void done_tx(struct httpc_xfer *x, CURLcode rc, void *arg)
{
    struct tx *t = x->owner;
    struct counts *c = arg;
    c->done++;
    t->done++;
    t->rc = rc;
    if (x->easy)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &t->status);
    t->ms = (long)((clk_mono_us() - x->started_us) / 1000);
    t->body_len = x->body.len;
    t->body_total = x->body_total;
    snprintf(t->body, sizeof(t->body), "%.*s", (int)(x->body.len < 63 ? x->body.len : 63),
             buf_str(&x->body));
    t->too_large = x->too_large;
    t->blocked = x->guard.blocked;
    snprintf(t->retry_after, sizeof(t->retry_after), "%s", x->retry_after);
    buf_release(&x->body);
}

static void drop_tx(struct httpc_xfer *x, void *arg)
{
    struct tx *t = x->owner;
    struct counts *c = arg;
    c->dropped++;
    t->dropped++;
    buf_release(&x->body);
}

static const struct httpc_ops ops = {setup_tx, done_tx, drop_tx};

static struct httpc *engine(int max_per_host, struct counts *c)
{
    char err[128];
    struct httpc_conf conf = {.max_per_host = max_per_host, .allow_private = 1};
    struct httpc *e = httpc_new(&conf, &ops, c, err, sizeof(err));
    assert_non_null(e);
    return e;
}

static void tx_init(struct tx *t, const char *key, const char *path, size_t body_max,
                    size_t read_max)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->url, sizeof(t->url), "%s%s", testhttp_url(srv), path);
    httpc_xfer_init(&t->x, t, key, body_max, read_max);
}

/* Runs the engine until `n` transfers are done (or the deadline). */
static void run_until(struct httpc *e, struct counts *c, int n, int timeout_ms)
{
    int64_t deadline = clk_mono_ms() + timeout_ms;
    while (c->done < n && clk_mono_ms() < deadline)
        httpc_run(e, 50);
    assert_int_equal(c->done, n);
}

static int group_setup(void **state)
{
    (void)state;
    log_init("test", LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    srv = testhttp_start();
    return srv ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    testhttp_stop(srv);
    curl_global_cleanup();
    return 0;
}

static void test_admission_per_host(void **state)
{
    (void)state;
    struct counts c = {0};
    struct httpc *e = engine(2, &c);
    static struct tx t[12];
    for (int i = 0; i < 12; i++) {
        int a = i % 2 == 0;
        tx_init(&t[i], a ? "http://a" : "http://b",
                a ? "/delay/150?tag=adm-a" : "/delay/150?tag=adm-b", 1024, 1024);
        httpc_submit(e, &t[i].x);
    }
    /* Two of each host run, the rest wait in their host's queue. */
    assert_int_equal(httpc_running(e), 4);
    assert_int_equal(httpc_waiting(e), 8);
    assert_int_equal(httpc_load(e), 12);
    struct httpc_host *h = httpc_host_find(e, "http://a");
    assert_non_null(h);
    assert_int_equal(httpc_host_running(h), 2);
    assert_int_equal(httpc_host_waiting(h), 4);
    assert_null(httpc_host_find(e, "http://c"));

    /* Both hosts progress at once, each at most two at a time. */
    int64_t deadline = clk_mono_ms() + 5000;
    while ((testhttp_tag(srv, "adm-a").open < 2 || testhttp_tag(srv, "adm-b").open < 2) &&
           clk_mono_ms() < deadline)
        httpc_run(e, 10);
    assert_int_equal(testhttp_tag(srv, "adm-a").open, 2);
    assert_int_equal(testhttp_tag(srv, "adm-b").open, 2);
    run_until(e, &c, 12, 10000);
    assert_int_equal(testhttp_tag(srv, "adm-a").max, 2);
    assert_int_equal(testhttp_tag(srv, "adm-b").max, 2);
    assert_int_equal(testhttp_tag(srv, "adm-a").requests, 6);
    for (int i = 0; i < 12; i++) {
        assert_int_equal(t[i].rc, CURLE_OK);
        assert_int_equal(t[i].status, 200);
        assert_string_equal(t[i].body, "ok");
    }
    /* A host whose transfers all ended is forgotten. */
    assert_null(httpc_host_find(e, "http://a"));
    assert_int_equal(httpc_load(e), 0);
    httpc_free(e);
}

/* Queued behind its host, a transfer's timeout starts when it does: three
 * answers of 250 ms one after the other, each within its 600 ms, although
 * the last ends 750 ms after it was submitted. */
static void test_timeout_counts_from_the_real_start(void **state)
{
    (void)state;
    struct counts c = {0};
    struct httpc *e = engine(1, &c);
    struct tx t[4];
    for (int i = 0; i < 3; i++) {
        tx_init(&t[i], "http://slow", "/delay/250?tag=slow", 64, 64);
        t[i].timeout_ms = 600;
        httpc_submit(e, &t[i].x);
    }
    int64_t t0 = clk_mono_ms();
    run_until(e, &c, 3, 10000);
    assert_true(clk_mono_ms() - t0 >= 700);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t[i].rc, CURLE_OK);
        assert_in_range(t[i].ms, 240, 590);
    }
    assert_int_equal(testhttp_tag(srv, "slow").max, 1);

    /* The timeout itself is the stage's option, and it holds. */
    tx_init(&t[3], "http://slow", "/delay/2000?tag=slow2", 64, 64);
    t[3].timeout_ms = 200;
    httpc_submit(e, &t[3].x);
    run_until(e, &c, 4, 5000);
    assert_int_equal(t[3].rc, CURLE_OPERATION_TIMEDOUT);
    assert_in_range(t[3].ms, 190, 1500);
    httpc_free(e);
}

static void test_body_caps(void **state)
{
    (void)state;
    struct counts c = {0};
    struct httpc *e = engine(4, &c);
    struct tx fits, over, kept;
    tx_init(&fits, "k", "/bytes/3000", 4096, 4096);
    tx_init(&over, "k", "/bytes/100000", 4096, 4096);
    /* deliver's shape: keep the first bytes, read on up to a larger cap */
    tx_init(&kept, "k", "/bytes/10000", 10, 1 << 20);
    httpc_submit(e, &fits.x);
    httpc_submit(e, &over.x);
    httpc_submit(e, &kept.x);
    run_until(e, &c, 3, 5000);

    assert_int_equal(fits.rc, CURLE_OK);
    assert_int_equal(fits.body_len, 3000);
    assert_false(fits.too_large);

    assert_int_equal(over.rc, CURLE_WRITE_ERROR);
    assert_true(over.too_large);
    assert_true(over.body_len <= 4096);
    assert_true(over.body_total > 4096 && over.body_total < 100000);

    assert_int_equal(kept.rc, CURLE_OK);
    assert_false(kept.too_large);
    assert_int_equal(kept.body_len, 10);
    assert_string_equal(kept.body, "aaaaaaaaaa");
    assert_int_equal(kept.body_total, 10000);
    httpc_free(e);
}

static void test_many_transfers(void **state)
{
    (void)state;
    enum { N = 3000, HOSTS = 10, CAP = 20 };
    struct counts c = {0};
    struct httpc *e = engine(CAP, &c);
    struct tx *t = calloc(N, sizeof(*t));
    assert_non_null(t);
    for (int i = 0; i < N; i++) {
        char key[32], path[64];
        snprintf(key, sizeof(key), "http://h%d", i % HOSTS);
        snprintf(path, sizeof(path), "/delay/%d?tag=many%d", i % 3, i % HOSTS);
        tx_init(&t[i], key, path, 64, 64);
        httpc_submit(e, &t[i].x);
    }
    assert_int_equal(httpc_running(e), HOSTS * CAP);
    run_until(e, &c, N, 60000);
    for (int i = 0; i < N; i++) {
        assert_int_equal(t[i].done, 1);
        assert_int_equal(t[i].rc, CURLE_OK);
        assert_int_equal(t[i].status, 200);
    }
    for (int h = 0; h < HOSTS; h++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "many%d", h);
        assert_int_equal(testhttp_tag(srv, tag).requests, N / HOSTS);
        assert_in_range(testhttp_tag(srv, tag).max, 1, CAP);
    }
    assert_int_equal(httpc_running(e), 0);
    assert_int_equal(httpc_waiting(e), 0);
    httpc_free(e);
    free(t);
}

/* Stopping hands back every transfer, running, queued or still in the
 * inbox, without an outcome, and closes the connections. */
static void test_stop_with_transfers_running(void **state)
{
    (void)state;
    struct counts c = {0};
    struct httpc *e = engine(3, &c);
    struct tx t[7];
    for (int i = 0; i < 5; i++) {
        tx_init(&t[i], "hang", "/hang?tag=hang", 64, 64);
        httpc_submit(e, &t[i].x);
    }
    int64_t deadline = clk_mono_ms() + 5000;
    while (testhttp_tag(srv, "hang").open < 3 && clk_mono_ms() < deadline)
        httpc_run(e, 20);
    assert_int_equal(testhttp_tag(srv, "hang").open, 3);
    for (int i = 5; i < 7; i++) {
        tx_init(&t[i], "hang", "/hang?tag=hang", 64, 64);
        httpc_post(e, &t[i].x);
    }
    assert_int_equal(httpc_load(e), 7);
    httpc_free(e);
    assert_int_equal(c.done, 0);
    assert_int_equal(c.dropped, 7);
    for (int i = 0; i < 7; i++)
        assert_int_equal(t[i].dropped, 1);
    deadline = clk_mono_ms() + 5000;
    while (testhttp_tag(srv, "hang").open > 0 && clk_mono_ms() < deadline)
        usleep(5000);
    assert_int_equal(testhttp_tag(srv, "hang").open, 0);
}

/* done() may hand the engine more work for the same host, even one whose
 * setup fails in turn (the host must outlive both callbacks). */
static struct httpc *chain_engine;
static struct tx chain[4];
static int chained;

static void done_chain(struct httpc_xfer *x, CURLcode rc, void *arg)
{
    done_tx(x, rc, arg);
    if (chained < 4) {
        struct tx *t = &chain[chained++];
        tx_init(t, "chain", "/ok?tag=chain", 64, 64);
        t->refuse = chained == 2; /* the second one never starts */
        httpc_submit(chain_engine, &t->x);
    }
}

static void test_done_may_submit(void **state)
{
    (void)state;
    char err[128];
    struct counts c = {0};
    static const struct httpc_ops chain_ops = {setup_tx, done_chain, drop_tx};
    struct httpc_conf conf = {.max_per_host = 1, .allow_private = 1};
    chain_engine = httpc_new(&conf, &chain_ops, &c, err, sizeof(err));
    assert_non_null(chain_engine);
    struct tx first;
    tx_init(&first, "chain", "/ok?tag=chain", 64, 64);
    httpc_submit(chain_engine, &first.x);
    run_until(chain_engine, &c, 5, 5000);
    assert_int_equal(first.rc, CURLE_OK);
    assert_int_equal(chain[0].rc, CURLE_OK);
    assert_int_equal(chain[1].rc, CURLE_FAILED_INIT);
    assert_int_equal(chain[2].rc, CURLE_OK);
    assert_int_equal(chain[3].rc, CURLE_OK);
    assert_int_equal(testhttp_tag(srv, "chain").requests, 4);
    assert_null(httpc_host_find(chain_engine, "chain"));
    httpc_free(chain_engine);
}

/* A transfer the stage refuses to start gives its slot back at once. */
static void test_setup_refusal(void **state)
{
    (void)state;
    struct counts c = {0};
    struct httpc *e = engine(1, &c);
    struct tx no, yes;
    tx_init(&no, "k", "/ok", 64, 64);
    no.refuse = 1;
    tx_init(&yes, "k", "/ok", 64, 64);
    httpc_submit(e, &no.x);
    assert_int_equal(no.done, 1);
    assert_int_equal(no.rc, CURLE_FAILED_INIT);
    assert_int_equal(httpc_running(e), 0);
    httpc_submit(e, &yes.x);
    assert_int_equal(httpc_running(e), 1);
    run_until(e, &c, 2, 5000);
    assert_int_equal(yes.rc, CURLE_OK);
    httpc_free(e);
}

static void test_guard_and_retry_after(void **state)
{
    (void)state;
    char err[128];
    struct counts c = {0};
    struct httpc_conf conf = {.max_per_host = 4, .allow_private = 0};
    struct httpc *e = httpc_new(&conf, &ops, &c, err, sizeof(err));
    struct tx t;
    tx_init(&t, "k", "/ok?tag=guard", 64, 64);
    httpc_submit(e, &t.x);
    run_until(e, &c, 1, 5000);
    assert_int_equal(t.rc, CURLE_COULDNT_CONNECT);
    assert_true(t.blocked);
    assert_int_equal(testhttp_tag(srv, "guard").requests, 0);
    httpc_free(e);

    c.done = 0;
    e = engine(4, &c);
    tx_init(&t, "k", "/status/503?retry_after=Wed,%2021%20Oct%202015%2007:28:00%20GMT", 64, 64);
    httpc_submit(e, &t.x);
    run_until(e, &c, 1, 5000);
    assert_int_equal(t.status, 503);
    assert_string_equal(t.retry_after, "Wed, 21 Oct 2015 07:28:00 GMT");
    httpc_free(e);
}

/* A watched descriptor and a post from another thread end the wait. */
static void *post_later(void *arg)
{
    void **a = arg;
    usleep(100000);
    httpc_post(a[0], a[1]);
    return NULL;
}

static void test_wakeups(void **state)
{
    (void)state;
    struct counts c = {0};
    struct httpc *e = engine(4, &c);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(httpc_watch(e, p[0]), 0);
    assert_int_equal(write(p[1], "w", 1), 1);
    int64_t t0 = clk_mono_ms();
    httpc_run(e, 5000);
    assert_true(clk_mono_ms() - t0 < 1000);
    char ch;
    assert_int_equal(read(p[0], &ch, 1), 1);

    struct tx t;
    tx_init(&t, "k", "/ok", 64, 64);
    void *args[2] = {e, &t.x};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, post_later, args), 0);
    t0 = clk_mono_ms();
    while (!t.done && clk_mono_ms() - t0 < 5000)
        httpc_run(e, 5000);
    pthread_join(th, NULL);
    assert_true(clk_mono_ms() - t0 < 2000);
    assert_int_equal(t.rc, CURLE_OK);
    httpc_free(e);
    close(p[0]);
    close(p[1]);
}

static void test_retry_after_parse(void **state)
{
    (void)state;
    /* Wed, 21 Oct 2015 07:28:00 GMT */
    const int64_t date = 1445412480000LL;
    static const struct {
        const char *value;
        int64_t now, max, want;
    } cases[] = {
        {"120", 0, 3600000, 120000},
        {"  7 \r\n", 0, 3600000, 7000},
        {"0", 0, 3600000, 0},
        {"7200", 0, 3600000, 3600000},              /* capped */
        {"99999999999999999999999", 0, 5000, 5000}, /* huge: the cap, no overflow */
        {"Wed, 21 Oct 2015 07:28:00 GMT", date - 30000, 3600000, 30000},
        {"Wednesday, 21-Oct-15 07:28:00 GMT", date - 30000, 3600000, 30000}, /* RFC 850 */
        {"Wed Oct 21 07:28:00 2015", date - 30000, 3600000, 30000},          /* asctime */
        {"Wed, 21 Oct 2015 07:28:00 GMT", date + 5000, 3600000, 0},          /* past */
        {"Wed, 21 Oct 2015 07:28:00 GMT", date - 86400000, 60000, 60000},    /* capped */
        {"", 0, 3600000, -1},
        {"   ", 0, 3600000, -1},
        {"-5", 0, 3600000, -1},
        {"1.5", 0, 3600000, -1},
        {"12abc", 0, 3600000, -1},
        {"soon", 0, 3600000, -1},
        {"+30", 0, 3600000, -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = httpc_retry_after_ms(cases[i].value, cases[i].now, cases[i].max);
        if (got != cases[i].want)
            fail_msg("case %zu \"%s\": got %lld, want %lld", i, cases[i].value, (long long)got,
                     (long long)cases[i].want);
    }
    assert_int_equal(httpc_retry_after_ms(NULL, 0, 1000), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after_parse),
        cmocka_unit_test(test_admission_per_host),
        cmocka_unit_test(test_timeout_counts_from_the_real_start),
        cmocka_unit_test(test_body_caps),
        cmocka_unit_test(test_many_transfers),
        cmocka_unit_test(test_stop_with_transfers_running),
        cmocka_unit_test(test_setup_refusal),
        cmocka_unit_test(test_done_may_submit),
        cmocka_unit_test(test_guard_and_retry_after),
        cmocka_unit_test(test_wakeups),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
