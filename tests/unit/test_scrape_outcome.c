/* scrape's error taxonomy: a transfer's outcome as a result status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "outcome.h"

static void test_outcome(void **state)
{
    (void)state;
    static const struct {
        CURLcode rc;
        long http;
        int blocked, too_large;
        const char *status;
        int transient;
    } t[] = {
        {CURLE_OK, 200, 0, 0, "ok", 0},
        {CURLE_OK, 304, 0, 0, "ok", 0},
        {CURLE_OK, 404, 0, 0, "not_found", 0},
        {CURLE_OK, 410, 0, 0, "not_found", 0},
        {CURLE_OK, 400, 0, 0, "http_error", 0},
        {CURLE_OK, 429, 0, 0, "http_error", 1},
        {CURLE_OK, 500, 0, 0, "http_error", 0},
        {CURLE_OK, 502, 0, 0, "http_error", 1},
        {CURLE_OK, 503, 0, 0, "http_error", 1},
        {CURLE_OK, 504, 0, 0, "http_error", 1},
        {CURLE_OPERATION_TIMEDOUT, 0, 0, 0, "timeout", 1},
        {CURLE_COULDNT_RESOLVE_HOST, 0, 0, 0, "dns", 0},
        {CURLE_COULDNT_CONNECT, 0, 0, 0, "connect", 0},
        {CURLE_COULDNT_CONNECT, 0, 1, 0, "blocked", 0},
        {CURLE_RECV_ERROR, 0, 0, 0, "connect", 1},
        {CURLE_GOT_NOTHING, 0, 0, 0, "connect", 1},
        {CURLE_PARTIAL_FILE, 200, 0, 0, "connect", 1},
        {CURLE_SSL_CONNECT_ERROR, 0, 0, 0, "tls", 0},
        {CURLE_PEER_FAILED_VERIFICATION, 0, 0, 0, "tls", 0},
        {CURLE_WRITE_ERROR, 200, 0, 1, "too_large", 0},
        {CURLE_FILESIZE_EXCEEDED, 200, 0, 0, "too_large", 0},
        {CURLE_URL_MALFORMAT, 0, 0, 0, "invalid_url", 0},
        {CURLE_UNSUPPORTED_PROTOCOL, 0, 0, 0, "invalid_url", 0},
        {CURLE_UNSUPPORTED_PROTOCOL, 302, 0, 0, "blocked", 0},
        {CURLE_TOO_MANY_REDIRECTS, 302, 0, 0, "http_error", 0},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct outcome o;
        outcome_classify(&o, t[i].rc, t[i].http, t[i].blocked, "127.0.0.1 is loopback",
                         t[i].too_large, "");
        if (strcmp(status_name(o.status), t[i].status) != 0 || o.transient != t[i].transient)
            fail_msg("case %zu: %s/%d, want %s/%d", i, status_name(o.status), o.transient,
                     t[i].status, t[i].transient);
        /* words.h's "retried" column says what the taxonomy does. */
        enum status_retried r = status_retried(o.status);
        if ((r == STATUS_NEVER && o.transient) || (r == STATUS_ALWAYS && !o.transient))
            fail_msg("case %zu: %s transient=%d against words.h", i, status_name(o.status),
                     o.transient);
        if (o.status != STATUS_OK && !o.error[0])
            fail_msg("case %zu: no error text", i);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcome),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
