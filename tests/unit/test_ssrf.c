/* ssrf: the address table, and the guard inside a real libcurl transfer. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ssrf.h"

struct addr_case {
    const char *ip;
    int blocked;
};

static const struct addr_case cases[] = {
    /* IPv4 */
    {"127.0.0.1", 1},
    {"127.255.255.254", 1},
    {"10.0.0.1", 1},
    {"10.255.255.255", 1},
    {"172.16.0.1", 1},
    {"172.31.255.255", 1},
    {"172.15.255.255", 0},
    {"172.32.0.0", 0},
    {"192.168.1.1", 1},
    {"192.169.0.1", 0},
    {"169.254.169.254", 1}, /* cloud metadata */
    {"169.254.0.1", 1},
    {"100.64.0.1", 1},
    {"100.127.255.255", 1},
    {"100.63.255.255", 0},
    {"100.128.0.0", 0},
    {"0.0.0.0", 1},
    {"0.1.2.3", 1},
    {"224.0.0.1", 1},
    {"239.255.255.250", 1},
    {"240.0.0.1", 1},
    {"255.255.255.255", 1},
    {"198.18.0.1", 1},
    {"192.0.2.10", 1},
    {"8.8.8.8", 0},
    {"93.184.216.34", 0},
    {"1.1.1.1", 0},
    {"11.0.0.1", 0},
    /* IPv6 */
    {"::1", 1},
    {"::", 1},
    {"fc00::1", 1},
    {"fd12:3456:789a::1", 1},
    {"fe80::1", 1},
    {"febf::1", 1},
    {"fec0::1", 1},
    {"ff02::1", 1},
    {"::ffff:127.0.0.1", 1},
    {"::ffff:10.1.2.3", 1},
    {"::ffff:169.254.169.254", 1},
    {"::ffff:8.8.8.8", 0},
    {"::127.0.0.1", 1},
    {"64:ff9b::7f00:1", 1},
    {"64:ff9b::808:808", 0},
    {"2002:7f00:1::", 1},
    {"2002:808:808::", 0},
    {"2001:db8::1", 1},
    {"2606:4700:4700::1111", 0},
    {"2a00:1450:4001:80b::200e", 0},
};

static void test_addr_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        if (strchr(cases[i].ip, ':')) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            a->sin6_family = AF_INET6;
            assert_int_equal(inet_pton(AF_INET6, cases[i].ip, &a->sin6_addr), 1);
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            a->sin_family = AF_INET;
            assert_int_equal(inet_pton(AF_INET, cases[i].ip, &a->sin_addr), 1);
        }
        int got = ssrf_addr_blocked((struct sockaddr *)&ss);
        if (got != cases[i].blocked)
            fail_msg("%s: blocked=%d, want %d", cases[i].ip, got, cases[i].blocked);
    }
}

static void test_other_family_blocked(void **state)
{
    (void)state;
    struct sockaddr sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNIX;
    assert_int_equal(ssrf_addr_blocked(&sa), 1);
}

/* A listening socket on 127.0.0.1 (never accepted: the connect succeeds in
 * the kernel backlog, which is all the unguarded case needs to show). */
static int listen_local(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    return fd;
}

struct curl_case {
    const char *host;
    int allow_private;
    int want_blocked;
};

static void test_curl_guard(void **state)
{
    (void)state;
    static const struct curl_case cc[] = {
        {"127.0.0.1", 0, 1},          {"localhost", 0, 1}, /* a DNS name resolving to loopback */
        {"[::ffff:127.0.0.1]", 0, 1}, {"127.0.0.1", 1, 0}, {"localhost", 1, 0},
    };
    int port;
    int fd = listen_local(&port);
    for (size_t i = 0; i < sizeof(cc) / sizeof(cc[0]); i++) {
        char url[128];
        snprintf(url, sizeof(url), "http://%s:%d/", cc[i].host, port);
        CURL *e = curl_easy_init();
        struct ssrf_guard g = {.allow_private = cc[i].allow_private};
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 300L);
        ssrf_curl_guard(e, &g);
        CURLcode rc = curl_easy_perform(e);
        curl_easy_cleanup(e);
        if (cc[i].want_blocked) {
            if (rc != CURLE_COULDNT_CONNECT || !g.blocked)
                fail_msg("%s: rc=%d blocked=%d, want refused", url, rc, g.blocked);
            assert_non_null(strstr(g.why, "loopback"));
        } else {
            /* Connected: the listener never answers, so the transfer times out. */
            if (rc != CURLE_OPERATION_TIMEDOUT || g.blocked)
                fail_msg("%s: rc=%d blocked=%d, want a connection", url, rc, g.blocked);
        }
    }
    close(fd);
}

static void test_allow_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int ok;
        size_t n;
    } t[] = {
        {"", 1, 0},
        {"127.0.0.1", 1, 1},
        {"127.0.0.1:8080,10.0.0.5", 1, 2},
        {"[::1]:443,fd00::1", 1, 2},
        {"localhost:80", 0, 0},
        {"127.0.0.1:0", 0, 0},
        {"127.0.0.1:99999", 0, 0},
        {"127.0.0.1,,", 0, 0},
        {"[::1]x", 0, 0},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct ssrf_allow al;
        char err[128];
        int rc = ssrf_allow_parse(t[i].text, &al, err, sizeof(err));
        if ((rc == 0) != t[i].ok || (rc == 0 && al.n != t[i].n))
            fail_msg("%s: rc=%d n=%zu", t[i].text, rc, al.n);
    }
}

/* An exception lets exactly its ip:port through; another port stays refused. */
static void test_curl_allow_exception(void **state)
{
    (void)state;
    int port;
    int fd = listen_local(&port);
    char list[64], url[128];
    struct ssrf_allow al;
    char err[128];
    snprintf(list, sizeof(list), "127.0.0.1:%d", port);
    assert_int_equal(ssrf_allow_parse(list, &al, err, sizeof(err)), 0);
    for (int other = 0; other < 2; other++) {
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/", other ? port + 1 : port);
        CURL *e = curl_easy_init();
        struct ssrf_guard g = {.allow = &al};
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 300L);
        ssrf_curl_guard(e, &g);
        CURLcode rc = curl_easy_perform(e);
        curl_easy_cleanup(e);
        assert_int_equal(g.blocked, other);
        assert_int_equal(rc, other ? CURLE_COULDNT_CONNECT : CURLE_OPERATION_TIMEDOUT);
    }
    close(fd);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_table),           cmocka_unit_test(test_other_family_blocked),
        cmocka_unit_test(test_curl_guard),           cmocka_unit_test(test_allow_parse),
        cmocka_unit_test(test_curl_allow_exception),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
