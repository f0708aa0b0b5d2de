/*
 * url_origin: the key deliver groups webhook connections and per-host
 * limits by, read by curl's parser like every other URL ferry handles;
 * url_without_credentials: what a result shows of a redirect's target.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <stdio.h>

#include "url.h"

static void test_origin(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        unsigned flags;
        const char *origin; /* NULL: refused */
        const char *why;
    } cases[] = {
        {"https://example.com/hook", URL_HTTPS_ONLY, "https://example.com:443", NULL},
        {"https://Example.COM:443/a?b#c", URL_HTTPS_ONLY, "https://example.com:443", NULL},
        {"HTTP://127.0.0.1:8080/x", 0, "http://127.0.0.1:8080", NULL},
        {"http://[::1]/x", 0, "http://[::1]:80", NULL},
        /* curl's reading, not a naive split on '@' */
        {"http://u:p@example.com:81/x", 0, "http://example.com:81", NULL},
        {"http://example.com/x", URL_HTTPS_ONLY, NULL, "must be an https URL"},
        {"ftp://example.com/x", 0, NULL, "must be an http or https URL"},
        {"ftp://example.com/x", URL_HTTPS_ONLY, NULL, "must be an https URL"},
        {"example.com/x", 0, NULL, "must be an http or https URL"},
        {"https://", 0, NULL, "has no valid host"},
        {"https://example.com:99999/", 0, NULL, "has a port outside 1..65535"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64] = "";
        const char *why = NULL;
        int rc = url_origin(cases[i].url, cases[i].flags, out, sizeof(out), &why);
        if (cases[i].origin) {
            assert_int_equal(rc, 0);
            assert_string_equal(out, cases[i].origin);
        } else {
            assert_int_equal(rc, -1);
            assert_string_equal(why, cases[i].why);
        }
    }
    char small[16];
    const char *why = NULL;
    assert_int_equal(url_origin("https://a-long-host.example/", 0, small, sizeof(small), &why), -1);
    assert_string_equal(why, "is too long");
}

/* A redirect's target as a result shows it: user, password and login
 * options taken out; a URL without any is used as it is (NULL). */
static void test_without_credentials(void **state)
{
    (void)state;
    char *u = url_without_credentials("https://user:secret@example.com/a?b=1");
    assert_non_null(u);
    assert_string_equal(u, "https://example.com/a?b=1");
    free(u);
    u = url_without_credentials("http://user@example.com:8080/");
    assert_non_null(u);
    assert_string_equal(u, "http://example.com:8080/");
    free(u);
    assert_null(url_without_credentials("https://example.com/a?mail=x%40y.z"));
    assert_null(url_without_credentials("https://example.com/p/1"));
    /* An '@' past the authority is no login: nothing to take out. */
    assert_null(url_without_credentials("https://example.com/u/@name"));
}

/* curl's own normalized form of u, or NULL when it refuses it. */
static char *curl_form(const char *u)
{
    CURLU *h = curl_url();
    char *out = NULL, *copy = NULL;
    if (curl_url_set(h, CURLUPART_URL, u, 0) == CURLUE_OK &&
        curl_url_get(h, CURLUPART_URL, &out, 0) == CURLUE_OK)
        copy = strdup(out);
    curl_free(out);
    curl_url_cleanup(h);
    return copy;
}

/* url_normalize takes URLs already in curl's form without asking curl:
 * whatever it accepts must be exactly curl's form of it, over URLs built
 * from the parts where readers disagree (case, IPv4 spellings, ports, dot
 * segments, escapes, fragments, credentials). */
static void test_normalize_agrees_with_curl(void **state)
{
    (void)state;
    static const char *const schemes[] = {"http://", "https://", "HTTP://", "Https://", "ftp://"};
    static const char *const hosts[] = {"example.com",
                                        "a.b.c",
                                        "127.0.0.1",
                                        "127.1",
                                        "0x7f.0.0.1",
                                        "0177.0.0.1",
                                        "1.2.3.4.5",
                                        "256.1.1.1",
                                        "01.2.3.4",
                                        "cafe.de",
                                        "EXAMPLE.com",
                                        "ex_ample.com",
                                        "a..b",
                                        ".a.com",
                                        "a.com.",
                                        "-a.com",
                                        "[::1]",
                                        "1.2.3",
                                        "999999999",
                                        "localhost",
                                        "u:p@h.com",
                                        "h.com@evil",
                                        "xn--bcher-kva.example",
                                        "10.0.0.255",
                                        "0.0.0.0",
                                        "x1",
                                        "a-b.example",
                                        "1e3.example",
                                        ""};
    static const char *const ports[] = {"",       ":8080",  ":80", ":443", ":0",  ":00080",
                                        ":65535", ":65536", ":",   ":1",   ":8a", ":99999"};
    static const char *const paths[] = {
        "",     "/",      "/a/b",       "/a/./b", "/a/../b",   "/.",       "/..",    "/...",
        "//x",  "/a%20b", "/~u/(x)*!$", "/a;b=c", "/a@b:c",    "/%2e%2e/", "/a\\b",  "/caf\xc3\xa9",
        "/a/.", "/a/..",  "/.a/b.",     "/A/B",   "/a%2Bb%7e", "/%2E%2e",  "/%2E/x", "/a%2"};
    static const char *const queries[] = {"",     "?",    "?q=1", "?a=b&c=d", "?x?y",      "?a/b",
                                          "?%41", "?a=.", "?a'b", "?a[b]",    "?q=%2b%2B", "?%4"};
    static const char *const frags[] = {"", "", "#frag", "#"};
#define N_OF(a) (sizeof(a) / sizeof(a[0]))
    unsigned seed = 7;
    int fast_like = 0;
    for (int i = 0; i < 40000; i++) {
        char u[256];
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 4;
        snprintf(u, sizeof(u), "%s%s%s%s%s%s", schemes[r % N_OF(schemes)],
                 hosts[(r / 5) % N_OF(hosts)], ports[(r / 150) % N_OF(ports)],
                 paths[(r / 1800) % N_OF(paths)], queries[(r / 36000) % N_OF(queries)],
                 frags[(r / 360000) % N_OF(frags)]);
        char *norm = NULL;
        const char *why;
        if (url_normalize(u, strlen(u), 0, &norm, &why) == 0) {
            char *c = curl_form(u);
            assert_non_null(c);
            if (strcmp(c, norm) != 0)
                fail_msg("%s: url_normalize %s, curl %s", u, norm, c);
            fast_like += strcmp(u, norm) == 0;
            free(c);
        }
        free(norm);
    }
    /* The generator reaches URLs that are already normal, and others. */
    assert_true(fast_like > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_without_credentials),
        cmocka_unit_test(test_normalize_agrees_with_curl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
