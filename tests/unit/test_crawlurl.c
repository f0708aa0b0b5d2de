/* crawlurl: links resolved and normalized, which spellings are one page,
 * and the crawl's scope. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crawlurl.h"

/* href resolved against base: the normalized URL, or NULL when refused. */
struct rcase {
    const char *base, *href, *url;
};

static void test_resolve_and_normalize(void **state)
{
    (void)state;
    static const struct rcase c[] = {
        {"https://example.com/a/b", "c", "https://example.com/a/c"},
        {"https://example.com/a/b", "../c", "https://example.com/c"},
        {"https://example.com/a/b", "/c/./d/../e", "https://example.com/c/e"},
        {"https://example.com/a/b", "//other.org/x", "https://other.org/x"},
        {"https://example.com/a/b", "?page=2", "https://example.com/a/b?page=2"},
        {"https://example.com/a/b?q=1", "", "https://example.com/a/b?q=1"},
        {"https://example.com/a/b?q=1", "#top", "https://example.com/a/b?q=1"},
        {"https://example.com/a/b", "  /c\n  ", "https://example.com/c"},
        {"https://example.com/a/b", "/c\td", "https://example.com/cd"},
        /* scheme and host case, trailing dot, default port, fragment, userinfo */
        {"https://example.com/", "HTTP://Example.COM:80/X#frag", "http://example.com/X"},
        {"https://example.com/", "https://EXAMPLE.com.:443/", "https://example.com/"},
        {"https://example.com/", "https://example.com:8443/", "https://example.com:8443/"},
        {"https://example.com/", "http://example.com:443/", "http://example.com:443/"},
        {"https://example.com/", "https://user:pw@example.com/p", "https://example.com/p"},
        {"https://example.com/", "https://example.com", "https://example.com/"},
        /* empty query */
        {"https://example.com/", "/a?", "https://example.com/a"},
        {"https://example.com/", "/a?#x", "https://example.com/a"},
        /* percent-encoding */
        {"https://example.com/", "/%7e%7Euser/%41", "https://example.com/~~user/A"},
        {"https://example.com/", "/a%2fb%2Fc", "https://example.com/a%2Fb%2Fc"},
        {"https://example.com/", "/a b", "https://example.com/a%20b"},
        {"https://example.com/", "/caf\xC3\xA9", "https://example.com/caf%C3%A9"},
        {"https://example.com/", "/caf%c3%a9", "https://example.com/caf%C3%A9"},
        {"https://example.com/", "/100%", "https://example.com/100%25"},
        {"https://example.com/", "/%zz", "https://example.com/%25zz"},
        {"https://example.com/", "/a\"<>{}|^`", "https://example.com/a%22%3C%3E%7B%7D%7C%5E%60"},
        {"https://example.com/", "/s?q=a b&x=%7e", "https://example.com/s?q=a%20b&x=~"},
        /* IPv6 and IPv4 literals */
        {"https://example.com/", "http://[::1]:80/x", "http://[::1]/x"},
        {"https://example.com/", "http://127.0.0.1:8080", "http://127.0.0.1:8080/"},
        /* refused */
        {"https://example.com/", "mailto:a@example.com", NULL},
        {"https://example.com/", "javascript:void(0)", NULL},
        {"https://example.com/", "JavaScript:alert(1)", NULL},
        {"https://example.com/", "tel:+15551234", NULL},
        {"https://example.com/", "data:text/html,hi", NULL},
        {"https://example.com/", "ftp://example.com/f", NULL},
        {"https://example.com/", "http://", NULL},
        {"https://example.com/", "http://exa mple.com/", NULL},
    };
    struct crawlurl u;
    crawlurl_init(&u);
    int bad = 0;
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        struct crawlurl_base b;
        char err[128] = "";
        assert_int_equal(crawlurl_base_init(&b, c[i].base, err, sizeof(err)), 0);
        int rc = crawlurl_resolve(&b, c[i].href, &u, err, sizeof(err));
        const char *got = rc == 0 ? buf_str(&u.url) : NULL;
        if ((got == NULL) != (c[i].url == NULL) || (got && strcmp(got, c[i].url) != 0)) {
            print_error("case %zu: %s + %s: got %s (%s), want %s\n", i, c[i].base, c[i].href,
                        got ? got : "refused", err, c[i].url ? c[i].url : "refused");
            bad++;
        }
        if (rc != 0)
            assert_true(err[0] != '\0');
        crawlurl_base_release(&b);
    }
    crawlurl_release(&u);
    assert_int_equal(bad, 0);
}

/* Each row: spellings that must share one key; the next row's differ. */
static void test_page_keys(void **state)
{
    (void)state;
    static const char *const same[][8] = {
        {"http://example.com/", "https://example.com", "https://www.example.com/",
         "https://EXAMPLE.com/index.html", "http://www.example.com/index.php",
         "https://example.com/index.htm#x", "https://example.com:443/?", NULL},
        {"https://example.com/docs", "https://example.com/docs/",
         "https://www.example.com/docs/index.html", "https://example.com/docs//",
         "https://example.com/docs/index.php", "https://example.com/d%6fcs", NULL},
        {"https://example.com/a?x=1", "https://example.com/a/?x=1",
         "https://example.com/a/index.php?x=1", "https://www.example.com/a?x=%31", NULL},
        {"https://example.com/%7Euser", "https://example.com/~user", NULL},
        {"https://example.com/caf%C3%A9", "https://example.com/caf%c3%a9",
         "https://example.com/caf\xC3\xA9", NULL},
    };
    /* Pairs that must stay two pages. */
    static const char *const apart[][2] = {
        {"https://example.com/A", "https://example.com/a"},
        {"https://example.com/a?x=1&y=2", "https://example.com/a?y=2&x=1"},
        {"https://example.com/a?x=1", "https://example.com/a"},
        {"https://example.com/a", "https://example.com:8443/a"},
        {"https://example.com/default.aspx", "https://example.com/"},
        {"https://example.com/d/index.html.bak", "https://example.com/d/"},
        {"https://example.com/a//b", "https://example.com/a/b"},
        {"https://blog.example.com/", "https://example.com/"},
        {"https://wwwexample.com/", "https://example.com/"},
        {"https://example.com/a%2Fb", "https://example.com/a/b"},
        {"https://example.com/dindex.html", "https://example.com/d"},
    };
    struct crawlurl u;
    crawlurl_init(&u);
    char err[128], key[CRAWLURL_MAX + 1], first[CRAWLURL_MAX + 1];
    for (size_t r = 0; r < sizeof(same) / sizeof(same[0]); r++) {
        for (size_t i = 0; same[r][i]; i++) {
            assert_int_equal(crawlurl_parse(same[r][i], &u, err, sizeof(err)), 0);
            snprintf(key, sizeof(key), "%s", buf_str(&u.key));
            if (i == 0)
                snprintf(first, sizeof(first), "%s", key);
            if (strcmp(key, first) != 0)
                print_error("row %zu: %s -> %s, but %s -> %s\n", r, same[r][i], key, same[r][0],
                            first);
            assert_string_equal(key, first);
        }
    }
    for (size_t p = 0; p < sizeof(apart) / sizeof(apart[0]); p++) {
        assert_int_equal(crawlurl_parse(apart[p][0], &u, err, sizeof(err)), 0);
        snprintf(first, sizeof(first), "%s", buf_str(&u.key));
        assert_int_equal(crawlurl_parse(apart[p][1], &u, err, sizeof(err)), 0);
        if (strcmp(first, buf_str(&u.key)) == 0)
            print_error("%s and %s share the key %s\n", apart[p][0], apart[p][1], first);
        assert_string_not_equal(first, buf_str(&u.key));
    }
    /* the key itself, for the record */
    assert_int_equal(
        crawlurl_parse("HTTPS://WWW.Example.com:8443/d/index.html?q=1#f", &u, err, sizeof(err)), 0);
    assert_string_equal(buf_str(&u.url), "https://www.example.com:8443/d/index.html?q=1");
    assert_string_equal(buf_str(&u.key), "example.com:8443/d?q=1");
    crawlurl_release(&u);
}

static void test_limits(void **state)
{
    (void)state;
    struct crawlurl u;
    crawlurl_init(&u);
    char err[128];
    char *long_url = malloc(CRAWLURL_MAX + 64);
    int n = snprintf(long_url, CRAWLURL_MAX + 64, "https://example.com/");
    memset(long_url + n, 'a', CRAWLURL_MAX + 64 - (size_t)n - 1);
    long_url[CRAWLURL_MAX + 63] = '\0';
    assert_int_equal(crawlurl_parse(long_url, &u, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer"));
    /* a URL that fits raw but not once encoded */
    n = snprintf(long_url, CRAWLURL_MAX + 64, "https://example.com/");
    memset(long_url + n, ' ', 2000);
    long_url[n + 2000] = '\0';
    memcpy(long_url + n, "x", 1);
    strcat(long_url, "y");
    assert_int_equal(crawlurl_parse(long_url, &u, err, sizeof(err)), -1);
    free(long_url);
    /* the URL buffer is usable after a refusal */
    assert_int_equal(crawlurl_parse("https://example.com/ok", &u, err, sizeof(err)), 0);
    assert_string_equal(buf_str(&u.url), "https://example.com/ok");
    crawlurl_release(&u);
}

static enum crawlscope_verdict check(const struct crawlscope *s, const char *url)
{
    struct crawlurl u;
    char err[128];
    crawlurl_init(&u);
    assert_int_equal(crawlurl_parse(url, &u, err, sizeof(err)), 0);
    enum crawlscope_verdict v = crawlscope_check(s, &u);
    crawlurl_release(&u);
    return v;
}

static void test_scope(void **state)
{
    (void)state;
    struct crawlurl start;
    char err[128];
    crawlurl_init(&start);
    assert_int_equal(crawlurl_parse("https://www.example.com/blog/", &start, err, sizeof(err)), 0);

    struct crawlscope s;
    assert_int_equal(crawlscope_init(&s, &start, 0, 0), 0);
    assert_int_equal(check(&s, "https://example.com/x"), CRAWLSCOPE_IN);
    assert_int_equal(check(&s, "http://www.example.com/x"), CRAWLSCOPE_IN);
    assert_int_equal(check(&s, "https://EXAMPLE.COM./x"), CRAWLSCOPE_IN);
    assert_int_equal(check(&s, "https://blog.example.com/x"), CRAWLSCOPE_OFF_SITE);
    assert_int_equal(check(&s, "https://example.com:8443/x"), CRAWLSCOPE_OFF_SITE);
    assert_int_equal(check(&s, "https://notexample.com/x"), CRAWLSCOPE_OFF_SITE);
    assert_int_equal(check(&s, "https://example.com.evil.org/x"), CRAWLSCOPE_OFF_SITE);
    crawlscope_release(&s);

    assert_int_equal(crawlscope_init(&s, &start, 1, 0), 0);
    assert_int_equal(check(&s, "https://blog.example.com/x"), CRAWLSCOPE_IN);
    assert_int_equal(check(&s, "https://a.b.example.com/x"), CRAWLSCOPE_IN);
    assert_int_equal(check(&s, "https://notexample.com/x"), CRAWLSCOPE_OFF_SITE);
    assert_int_equal(check(&s, "https://other.org/x"), CRAWLSCOPE_OFF_SITE);
    crawlscope_release(&s);

    assert_int_equal(crawlscope_init(&s, &start, 0, 1), 0);
    assert_int_equal(check(&s, "https://other.org/x"), CRAWLSCOPE_IN);
    crawlscope_release(&s);

    /* path patterns: on the path only, JavaScript's \d accepted */
    assert_int_equal(crawlscope_init(&s, &start, 0, 0), 0);
    assert_int_equal(crawlscope_include(&s, "^/blog/", err, sizeof(err)), 0);
    assert_int_equal(crawlscope_include(&s, "^/docs/v\\d+/", err, sizeof(err)), 0);
    assert_int_equal(crawlscope_exclude(&s, "/drafts?/", err, sizeof(err)), 0);
    assert_int_equal(crawlscope_exclude(&s, "\\.pdf$", err, sizeof(err)), 0);
    assert_int_equal(check(&s, "https://example.com/blog/post"), CRAWLSCOPE_IN);
    assert_int_equal(check(&s, "https://example.com/docs/v12/intro"), CRAWLSCOPE_IN);
    assert_int_equal(check(&s, "https://example.com/docs/vx/intro"), CRAWLSCOPE_NOT_INCLUDED);
    assert_int_equal(check(&s, "https://example.com/about?next=/blog/"), CRAWLSCOPE_NOT_INCLUDED);
    assert_int_equal(check(&s, "https://example.com/blog/draft/1"), CRAWLSCOPE_EXCLUDED);
    assert_int_equal(check(&s, "https://example.com/blog/a.pdf"), CRAWLSCOPE_EXCLUDED);
    assert_int_equal(check(&s, "https://example.com/blog/a.pdf?x"), CRAWLSCOPE_EXCLUDED);
    assert_int_equal(check(&s, "https://other.org/blog/"), CRAWLSCOPE_OFF_SITE);
    assert_string_equal(crawlscope_verdict_name(CRAWLSCOPE_EXCLUDED), "excluded");

    /* bad patterns are refused with a reason */
    assert_int_equal(crawlscope_include(&s, "(unclosed", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "invalid regex"));
    char big[CRAWLSCOPE_PATTERN_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(crawlscope_exclude(&s, big, err, sizeof(err)), -1);
    crawlscope_release(&s);

    assert_int_equal(crawlscope_init(&s, &start, 0, 0), 0);
    for (int i = 0; i < CRAWLSCOPE_MAX_PATTERNS; i++)
        assert_int_equal(crawlscope_exclude(&s, "x", err, sizeof(err)), 0);
    assert_int_equal(crawlscope_exclude(&s, "x", err, sizeof(err)), -1);
    crawlscope_release(&s);
    crawlurl_release(&start);
}

static void test_pct_normalize(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(64);
    assert_int_equal(crawlurl_pct_normalize(&b, "/a*b$%2a%41", 11, "*$"), 0);
    assert_string_equal(buf_str(&b), "/a%2Ab%24%2AA");
    buf_reset(&b);
    assert_int_equal(crawlurl_pct_normalize(&b, "%4", 2, ""), 0);
    assert_string_equal(buf_str(&b), "%254");
    buf_reset(&b);
    char nul[3] = {'a', '\0', 'b'};
    assert_int_equal(crawlurl_pct_normalize(&b, nul, 3, ""), 0);
    assert_string_equal(buf_str(&b), "a%00b");
    buf_release(&b);
    struct buf small = BUF_INIT(4);
    assert_int_equal(crawlurl_pct_normalize(&small, "\xff\xff", 2, ""), -1);
    buf_release(&small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_and_normalize),
        cmocka_unit_test(test_page_keys),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_scope),
        cmocka_unit_test(test_pct_normalize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
