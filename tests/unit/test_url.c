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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_without_credentials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
