/* crawllinks: what a page hands the frontier — links resolved against
 * <base href> or the page, normalized, one per page key, the page itself,
 * non-http(s) and unparsable links left out, the caps; a sitemap entry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crawllinks.h"

static uint8_t key[SEEN_KEY_LEN];

static int setup(void **state)
{
    (void)state;
    seen_key("bat_test", key);
    return 0;
}

/* The hash the list must carry for url. */
static uint64_t hash_of(const char *url)
{
    struct crawlurl u;
    char why[160];
    crawlurl_init(&u);
    assert_int_equal(crawlurl_parse(url, &u, why, sizeof(why)), 0);
    uint64_t h = seen_hash_with(key, u.key.ptr, u.key.len);
    crawlurl_release(&u);
    return h;
}

static size_t links(const char *html, const char *page, size_t max_links, size_t max_bytes,
                    struct buf *out)
{
    buf_truncate(out, 0);
    return crawllinks_html(html, strlen(html), page, key, max_links, max_bytes, out);
}

static void test_resolved_normalized_deduplicated(void **state)
{
    (void)state;
    struct buf out = BUF_INIT(BUF_NO_MAX);
    const char *html = "<html><body>"
                       "<a href=\"/a\">a</a><a href=\"HTTP://WWW.Example.com:80/a/#x\">a again</a>"
                       "<a href=\"b/index.html\">b</a><area href=\"c?q=1\">"
                       "<a href=\"mailto:x@example.com\">m</a><a href=\"javascript:void(0)\">j</a>"
                       "<a href=\"#top\">self</a><a href=\"\">self</a><a>none</a>"
                       "<a href=\"http://[bad\">bad</a>"
                       "</body></html>";
    size_t n = links(html, "http://example.com/dir/page", 100, 1 << 20, &out);
    char want[1024];
    snprintf(want, sizeof(want),
             "[\"%016llx http://example.com/a\",\"%016llx http://example.com/dir/b/index.html\","
             "\"%016llx http://example.com/dir/c?q=1\"]",
             (unsigned long long)hash_of("http://example.com/a"),
             (unsigned long long)hash_of("http://example.com/dir/b/"),
             (unsigned long long)hash_of("http://example.com/dir/c?q=1"));
    assert_int_equal(n, 3);
    assert_string_equal(buf_str(&out), want);
    buf_release(&out);
}

static void test_base_href(void **state)
{
    (void)state;
    struct buf out = BUF_INIT(BUF_NO_MAX);
    const char *html = "<html><head><base href=\"/p/\"></head><body>"
                       "<a href=\"7\">7</a><a href=\"../p/7\">7 again</a><a href=\"./8/\">8</a>"
                       "</body></html>";
    size_t n = links(html, "http://example.com/s/1/", 100, 1 << 20, &out);
    assert_int_equal(n, 2);
    assert_non_null(strstr(buf_str(&out), " http://example.com/p/7\""));
    assert_non_null(strstr(buf_str(&out), " http://example.com/p/8/\""));
    buf_release(&out);
}

static void test_caps(void **state)
{
    (void)state;
    struct buf out = BUF_INIT(BUF_NO_MAX);
    char html[8192] = "<html><body>";
    for (int i = 0; i < 100; i++)
        snprintf(html + strlen(html), sizeof(html) - strlen(html), "<a href=\"/p/%d\">x</a>", i);
    strcat(html, "</body></html>");
    assert_int_equal(links(html, "http://example.com/", 10, 1 << 20, &out), 10);
    /* bytes: the list, brackets included, stays within max_bytes */
    size_t n = links(html, "http://example.com/", 100, 200, &out);
    assert_true(n > 0 && n < 10);
    assert_true(out.len <= 200);
    assert_int_equal(out.ptr[0], '[');
    assert_int_equal(out.ptr[out.len - 1], ']');
    /* not HTML at all, or an unusable page URL: an empty list */
    assert_int_equal(links("\x01\x02 no markup", "http://example.com/", 10, 1 << 20, &out), 0);
    assert_string_equal(buf_str(&out), "[]");
    assert_int_equal(links(html, "ftp://example.com/", 10, 1 << 20, &out), 0);
    assert_string_equal(buf_str(&out), "[]");
    buf_release(&out);
}

static void test_entry(void **state)
{
    (void)state;
    struct buf out = BUF_INIT(BUF_NO_MAX);
    struct crawlurl u;
    crawlurl_init(&u);
    assert_int_equal(crawllinks_entry("https://Example.com/x/", key, 0, &u, &out), 0);
    assert_int_equal(crawllinks_entry("mailto:x@example.com", key, 1, &u, &out), -1);
    assert_int_equal(crawllinks_entry("https://example.com/y", key, 1, &u, &out), 0);
    char want[256];
    snprintf(want, sizeof(want),
             "\"%016llx https://example.com/x/\",\"%016llx https://example.com/y\"",
             (unsigned long long)hash_of("https://example.com/x"),
             (unsigned long long)hash_of("https://example.com/y"));
    assert_string_equal(buf_str(&out), want);
    crawlurl_release(&u);
    buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolved_normalized_deduplicated),
        cmocka_unit_test(test_base_href),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_entry),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
