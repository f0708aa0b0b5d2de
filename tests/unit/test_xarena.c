/* xarena: pages parsed and evaluated with libxml2's allocations in a
 * per-thread arena give the same data as with malloc; what is allocated
 * outside the windows survives the arena being emptied; a page larger than
 * the arena spills to malloc; threads have arenas of their own, and a hold
 * released on another thread aborts. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/HTMLparser.h>

#include "buf.h"
#include "extract.h"
#include "jx.h"
#include "testfile.h"
#include "xarena.h"
#include "xrules.h"

#define FIXTURES "tests/fixtures/extract/"

static const char *const pages[] = {"amazon_product_us.html", "amazon_product_de.html",
                                    "amazon_product_jp.html"};
static struct xrules *xr;
static struct xrules_use use;
static json_t *req;
static char *want[3]; /* each page's data, computed before the arena is installed */

/* A page as scrape handles an endpoint item: parse, rules, release. */
static char *run_page(const char *html, size_t len, int *in_arena)
{
    const char *url = "https://www.amazon.com/dp/B09VPHVT2Z";
    struct extract ex;
    extract_run(&ex, html, len, "text/html; charset=utf-8", url, EXTRACT_KEEP_DOC);
    *in_arena = ex.arena;
    const struct xrules_page page = {
        .doc = ex.doc, .url = url, .body = ex.html, .body_len = ex.html_len};
    size_t n;
    enum status st;
    char error[160];
    char *data = xrules_apply(&use, &page, &n, &st, error, sizeof(error));
    extract_release(&ex);
    return data;
}

static char *run_fixture(int i, int *in_arena)
{
    char path[256];
    snprintf(path, sizeof(path), FIXTURES "%s", pages[i]);
    size_t len;
    char *html = testfile_read(path, &len);
    char *data = run_page(html, len, in_arena);
    free(html);
    return data;
}

static int setup(void **state)
{
    (void)state;
    char err[300];
    xr = xrules_new(NULL, err, sizeof(err));
    req = json_pack("{s:{s:s}}", "endpoint", "name", "amazon.product");
    return xr && xrules_resolve(xr, req, &use, err, sizeof(err)) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        free(want[i]);
    xrules_use_release(xr, &use);
    json_decref(req);
    xrules_free(xr);
    return 0;
}

static void test_not_installed(void **state)
{
    (void)state;
    assert_int_equal(xarena_hold(), 0);
    for (int i = 0; i < 3; i++) {
        int in_arena;
        want[i] = run_fixture(i, &in_arena);
        assert_non_null(want[i]);
        assert_false(in_arena);
    }
    assert_non_null(strstr(want[0], "\"price\":{\"value\":39.99,\"currency\":\"USD\"}"));
}

static void test_same_data_in_arena(void **state)
{
    (void)state;
    xarena_install();
    xarena_install(); /* idempotent */
    for (int round = 0; round < 50; round++)
        for (int i = 0; i < 3; i++) {
            int in_arena;
            char *got = run_fixture(i, &in_arena);
            assert_true(in_arena);
            assert_string_equal(got, want[i]);
            free(got);
        }
}

/* Allocated while the arena is held but outside a window: malloc's, so
 * it outlives the arena being emptied and refilled by later pages. */
static void test_outside_windows_survives(void **state)
{
    (void)state;
    assert_int_equal(xarena_hold(), 1);
    xmlChar *keep = xmlStrdup((const xmlChar *)"kept across pages");
    xarena_enter();
    xmlChar *scratch = xmlStrdup((const xmlChar *)"scratch");
    xarena_leave();
    xmlFree(scratch); /* an arena block: freeing it is a no-op, and allowed */
    xarena_release();
    for (int i = 0; i < 3; i++) {
        int in_arena;
        free(run_fixture(i, &in_arena));
    }
    assert_string_equal((const char *)keep, "kept across pages");
    xmlFree(keep);
}

/* A page whose tree is larger than the arena: the rest comes from malloc
 * and is freed as usual (ASan/LSan would see a leak or a bad free). */
static void test_larger_than_arena(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(BUF_NO_MAX);
    buf_adds(&b, "<html><body><input id=ASIN value=B09VPHVT2Z><span id=productTitle>Big</span>");
    size_t n = 0;
    while (b.len < 6 * 1024 * 1024) {
        buf_addf(&b, "<div class='a b c' data-x='%zu'><span>item %zu</span></div>", n, n);
        n++;
    }
    buf_adds(&b, "</body></html>");
    int in_arena;
    char *got = run_page(b.ptr, b.len, &in_arena);
    assert_true(in_arena);
    assert_non_null(got);
    assert_non_null(strstr(got, "\"title\":\"Big\""));
    free(got);
    /* The arena is usable again afterwards. */
    got = run_fixture(0, &in_arena);
    assert_string_equal(got, want[0]);
    free(got);
    buf_release(&b);
}

static void *worker(void *arg)
{
    long bad = 0;
    for (int round = 0; round < 30; round++)
        for (int i = 0; i < 3; i++) {
            int in_arena;
            char *got = run_fixture((i + (int)(long)arg) % 3, &in_arena);
            bad += !in_arena || strcmp(got, want[(i + (int)(long)arg) % 3]) != 0;
            free(got);
        }
    return (void *)bad;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[3];
    for (long i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)i), 0);
    for (int i = 0; i < 3; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        assert_int_equal((long)bad, 0);
    }
}

static void *hold_only(void *arg)
{
    (void)arg;
    return (void *)(long)xarena_hold();
}

static void test_release_on_another_thread_aborts(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        xarena_install();
        pthread_t t;
        void *held = NULL;
        if (pthread_create(&t, NULL, hold_only, NULL) || pthread_join(t, &held) || !held)
            _exit(3);
        freopen("/dev/null", "w", stderr);
        xarena_release(); /* the hold was the other thread's */
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_installed),
        cmocka_unit_test(test_same_data_in_arena),
        cmocka_unit_test(test_outside_windows_survives),
        cmocka_unit_test(test_larger_than_arena),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_release_on_another_thread_aborts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
