/* httpd_parse: each framing rule, on the bytes a hostile client would send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "httpd_parse.h"

/* Scans and parses one head; returns 0 or the refusal status; fills h. */
static int head_of(const char *raw, size_t len, struct httpd_head *h, char *copy)
{
    size_t scanned = 0;
    const char *why;
    long end = httpd_head_scan(raw, len, &scanned, 16384);
    if (end < 0)
        return (int)-end;
    if (end == 0)
        return -1; /* incomplete */
    memcpy(copy, raw, (size_t)end);
    return httpd_head_parse(copy, (size_t)end, h, &why);
}

#define HEAD(raw, h) head_of(raw, sizeof(raw) - 1, h, copy)

static void test_plain_requests(void **state)
{
    struct httpd_head h;
    char copy[4096];
    (void)state;
    assert_int_equal(HEAD("GET /v1/batch/x?include=results HTTP/1.1\r\nHost: a\r\n"
                          "Authorization:  Bearer k \r\n\r\n",
                          &h),
                     0);
    assert_string_equal(h.method, "GET");
    assert_string_equal(h.target, "/v1/batch/x?include=results");
    assert_int_equal(h.minor, 1);
    assert_string_equal(httpd_head_get(&h, "authorization"), "Bearer k");
    assert_int_equal(h.content_length, -1);
    assert_true(h.keep_alive);
    /* Empty lines before the request line are skipped (RFC 9112 2.2). */
    assert_int_equal(HEAD("\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n"
                          "Connection: close\r\nExpect: 100-continue\r\n\r\n",
                          &h),
                     0);
    assert_int_equal(h.content_length, 12);
    assert_false(h.keep_alive);
    assert_true(h.expect_continue);
    assert_int_equal(HEAD("GET / HTTP/1.0\r\n\r\n", &h), 0);
    assert_false(h.keep_alive);
    assert_int_equal(HEAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &h),
                     0);
    assert_true(h.chunked);
}

static void test_incomplete_waits(void **state)
{
    struct httpd_head h;
    char copy[4096];
    (void)state;
    assert_int_equal(HEAD("GET / HTTP/1.1\r\nHost: a\r\n", &h), -1);
    assert_int_equal(HEAD("GET / HTTP/1.1\r\nHost: a\r\n\r", &h), -1);
    /* Resumed scans give the same answer as one scan. */
    const char raw[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t scanned = 0;
    for (size_t n = 1; n < sizeof(raw) - 1; n++)
        assert_int_equal(httpd_head_scan(raw, n, &scanned, 16384), 0);
    assert_int_equal(httpd_head_scan(raw, sizeof(raw) - 1, &scanned, 16384), sizeof(raw) - 1);
}

static void test_line_ends_and_bytes(void **state)
{
    struct httpd_head h;
    char copy[4096];
    (void)state;
    assert_int_equal(HEAD("GET / HTTP/1.1\nHost: a\n\n", &h), 400);             /* bare LF */
    assert_int_equal(HEAD("GET / HTTP/1.1\r\nHost: a\n\r\n", &h), 400);         /* one bare LF */
    assert_int_equal(HEAD("GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", &h), 400); /* bare CR */
    assert_int_equal(HEAD("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer k\0x\r\n\r\n", &h),
                     400);                                                    /* NUL */
    assert_int_equal(HEAD("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", &h), 400); /* control */
    assert_int_equal(HEAD("GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", &h), 400);
    assert_int_equal(HEAD("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", &h), 400); /* raw UTF-8 */
    /* Tab in a value is fine; obs-text too. */
    assert_int_equal(HEAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\xe9\r\n\r\n", &h), 0);
}

static void test_malformed_heads(void **state)
{
    struct httpd_head h;
    char copy[4096];
    (void)state;
    assert_int_equal(HEAD("GET / HTTP/1.1\r\nHost : a\r\n\r\n", &h), 400);      /* space before : */
    assert_int_equal(HEAD("GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", &h), 400); /* folding */
    assert_int_equal(HEAD("GET / HTTP/1.1\r\nHost a\r\n\r\n", &h), 400);        /* no colon */
    assert_int_equal(HEAD("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", &h), 400);      /* two spaces */
    assert_int_equal(HEAD("GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n", &h), 400); /* absolute */
    assert_int_equal(HEAD("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &h), 505);
    assert_int_equal(HEAD("GET / HTTX/1.1\r\nHost: a\r\n\r\n", &h), 400);
    assert_int_equal(HEAD("GET / HTTP/1.1\r\n\r\n", &h), 400); /* 1.1 without Host */
    assert_int_equal(HEAD("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &h), 400);
    assert_int_equal(
        HEAD("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: a\r\nauthorization: b\r\n\r\n", &h), 400);
    assert_int_equal(HEAD("GET / HTTP/1.1\r\nHost: a\r\nExpect: fancy\r\n\r\n", &h), 417);
    char big[20000];
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    size_t scanned = 0;
    assert_int_equal(httpd_head_scan(big, sizeof(big), &scanned, 16384), -431);
}

static void test_framing(void **state)
{
    struct httpd_head h;
    char copy[4096];
    (void)state;
    assert_int_equal(
        HEAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nContent-Length: 2\r\n\r\n", &h),
        400);
    assert_int_equal(
        HEAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n", &h),
        400);
    assert_int_equal(HEAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\n", &h), 400);
    assert_int_equal(HEAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\n", &h), 400);
    assert_int_equal(HEAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n",
                          &h),
                     400);
    assert_int_equal(HEAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", &h),
                     501);
    assert_int_equal(
        HEAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &h), 501);
    assert_int_equal(HEAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n",
                          &h),
                     400);
    assert_int_equal(HEAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", &h), 400);
}

static void test_chunked(void **state)
{
    (void)state;
    struct httpd_chunked c = {0};
    struct buf body = BUF_INIT(100);
    const char in[] = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1";
    long used = httpd_chunked_feed(&c, in, sizeof(in) - 1, &body);
    assert_true(c.done);
    assert_int_equal(used, strlen(in) - strlen("GET / HTTP/1.1"));
    assert_string_equal(buf_str(&body), "hello world");
    buf_release(&body);

    /* Byte by byte: the same. */
    memset(&c, 0, sizeof(c));
    for (size_t i = 0; i < sizeof(in) - 1 && !c.done; i++)
        assert_int_equal(httpd_chunked_feed(&c, in + i, 1, &body), 1);
    assert_string_equal(buf_str(&body), "hello world");
    buf_release(&body);

    static const char *const bad[] = {
        "x\r\n",   "5\nhello\r\n",          "5\r\nhelloX\r\n", "\r\n", "0\r\nTrailer: x\n\r\n",
        "0\r\n\n", "ffffffffffffffffff\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&c, 0, sizeof(c));
        assert_int_equal(httpd_chunked_feed(&c, bad[i], strlen(bad[i]), &body), -400);
        buf_release(&body);
    }
    struct buf small = BUF_INIT(4);
    memset(&c, 0, sizeof(c));
    assert_int_equal(httpd_chunked_feed(&c, "5\r\nhello\r\n", 10, &small), -413);
    buf_release(&small);
}

static void test_pct_decode(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(httpd_pct_decode("a%20b+c", 7, out, 1), 5);
    assert_string_equal(out, "a b c");
    assert_int_equal(httpd_pct_decode("a+b", 3, out, 0), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(httpd_pct_decode("bat_x%00", 8, out, 0), -1);
    assert_int_equal(httpd_pct_decode("%4", 2, out, 0), -1);
    assert_int_equal(httpd_pct_decode("%zz", 3, out, 0), -1);
    assert_int_equal(httpd_pct_decode("%41%2f", 6, out, 0), 2);
    assert_string_equal(out, "A/");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_requests),
        cmocka_unit_test(test_incomplete_waits),
        cmocka_unit_test(test_line_ends_and_bytes),
        cmocka_unit_test(test_malformed_heads),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_pct_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
