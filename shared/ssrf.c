#include "ssrf.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <strings.h>
#include <time.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One refused IPv4 range: network (host order), prefix length, name. */
struct v4_range {
    uint32_t net;
    int bits;
    const char *name;
};

#define V4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

static const struct v4_range v4_blocked[] = {
    {V4(0, 0, 0, 0), 8, "this-network"},       {V4(10, 0, 0, 0), 8, "private"},
    {V4(100, 64, 0, 0), 10, "cgnat"},          {V4(127, 0, 0, 0), 8, "loopback"},
    {V4(169, 254, 0, 0), 16, "link-local"},    {V4(172, 16, 0, 0), 12, "private"},
    {V4(192, 0, 0, 0), 24, "reserved"},        {V4(192, 0, 2, 0), 24, "documentation"},
    {V4(192, 88, 99, 0), 24, "reserved"},      {V4(192, 168, 0, 0), 16, "private"},
    {V4(198, 18, 0, 0), 15, "benchmarking"},   {V4(198, 51, 100, 0), 24, "documentation"},
    {V4(203, 0, 113, 0), 24, "documentation"}, {V4(224, 0, 0, 0), 4, "multicast"},
    {V4(240, 0, 0, 0), 4, "reserved"}, /* 255.255.255.255 included */
};

static const char *v4_classify(uint32_t a)
{
    for (size_t i = 0; i < sizeof(v4_blocked) / sizeof(v4_blocked[0]); i++) {
        uint32_t mask = 0xffffffffu << (32 - v4_blocked[i].bits);
        if ((a & mask) == v4_blocked[i].net)
            return v4_blocked[i].name;
    }
    return NULL;
}

static uint32_t v4_at(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static const char *v6_classify(const uint8_t a[16])
{
    static const uint8_t zero[16];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};

    if (memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1))
        return a[15] ? "loopback" : "unspecified";
    /* IPv4 carried inside IPv6 is judged as the IPv4 address it reaches:
     * mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d. */
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, zero, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return v4_classify(v4_at(a + 12));
    if (a[0] == 0x20 && a[1] == 0x02) /* 6to4 2002:a.b.c.d::/48 */
        return v4_classify(v4_at(a + 2));
    if ((a[0] & 0xfe) == 0xfc)
        return "unique-local";
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return "link-local";
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
        return "site-local";
    if (a[0] == 0xff)
        return "multicast";
    if (a[0] == 0x01 && a[1] == 0 && a[2] == 0 && a[3] == 0 && a[4] == 0 && a[5] == 0 &&
        a[6] == 0 && a[7] == 0)
        return "discard"; /* 100::/64 */
    if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
        return "documentation";
    return NULL;
}

int ssrf_addr_classify(const struct sockaddr *sa, const char **range)
{
    const char *r;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        r = v4_classify(ntohl(in->sin_addr.s_addr));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        r = v6_classify(in6->sin6_addr.s6_addr);
    } else {
        r = "non-ip";
    }
    if (range)
        *range = r;
    return r != NULL;
}

int ssrf_addr_blocked(const struct sockaddr *sa)
{
    return ssrf_addr_classify(sa, NULL);
}

static int allowed(const struct ssrf_allow *al, const struct sockaddr *sa)
{
    for (size_t i = 0; al && i < al->n; i++) {
        const struct sockaddr *x = (const struct sockaddr *)&al->e[i].addr;
        if (x->sa_family != sa->sa_family)
            continue;
        int port;
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *a = (const void *)sa, *b = (const void *)x;
            if (a->sin_addr.s_addr != b->sin_addr.s_addr)
                continue;
            port = ntohs(a->sin_port);
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const void *)sa, *b = (const void *)x;
            if (memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) != 0)
                continue;
            port = ntohs(a->sin6_port);
        } else {
            continue;
        }
        if (al->e[i].port == 0 || al->e[i].port == port)
            return 1;
    }
    return 0;
}

int ssrf_allow_parse(const char *list, struct ssrf_allow *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    const char *p = list ? list : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[80], host[80];
        if (len == 0 || len >= sizeof(item) || out->n == SSRF_ALLOW_MAX)
            goto bad;
        memcpy(item, p, len);
        item[len] = '\0';
        long port = 0;
        const char *colon = strrchr(item, ':');
        if (item[0] == '[') {
            const char *close = strchr(item, ']');
            if (!close || (size_t)(close - item - 1) >= sizeof(host))
                goto bad;
            memcpy(host, item + 1, (size_t)(close - item - 1));
            host[close - item - 1] = '\0';
            colon = close[1] == ':' ? close + 1 : NULL;
            if (close[1] && !colon)
                goto bad;
        } else if (colon && strchr(item, ':') == colon) {
            memcpy(host, item, (size_t)(colon - item));
            host[colon - item] = '\0';
        } else {
            snprintf(host, sizeof(host), "%s", item);
            colon = NULL;
        }
        if (colon) {
            char *e;
            port = strtol(colon + 1, &e, 10);
            if (*e || port < 1 || port > 65535)
                goto bad;
        }
        struct sockaddr_storage *ss = &out->e[out->n].addr;
        if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1)
            ss->ss_family = AF_INET;
        else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1)
            ss->ss_family = AF_INET6;
        else
            goto bad;
        out->e[out->n++].port = (int)port;
        p += len;
        if (*p == ',')
            p++;
        continue;
    bad:
        snprintf(errstr, errstr_size, "not a list of ip or ip:port (at \"%.*s\")", (int)len, p);
        return -1;
    }
    return 0;
}

int ssrf_check_allow(const char *value, char *errstr, size_t errstr_size)
{
    struct ssrf_allow al;
    return ssrf_allow_parse(value, &al, errstr, errstr_size);
}

int ssrf_guard_check(struct ssrf_guard *g, const struct sockaddr *sa)
{
    const char *range;
    if (g->allow_private || !ssrf_addr_classify(sa, &range) || allowed(g->allow, sa))
        return 0;
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, host, sizeof(host));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, host, sizeof(host));
    g->blocked = 1;
    snprintf(g->why, sizeof(g->why), "%s is %s", host, range);
    return -1;
}

static curl_socket_t open_checked(void *clientp, curlsocktype purpose,
                                  struct curl_sockaddr *address)
{
    (void)purpose;
    if (ssrf_guard_check(clientp, &address->addr))
        return CURL_SOCKET_BAD;
    return socket(address->family, address->socktype, address->protocol);
}

void ssrf_curl_guard(CURL *easy, struct ssrf_guard *g)
{
    g->blocked = 0;
    g->why[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_checked);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, g);
}

/* A name lookup that may outlive the request that started it: freed by
 * whichever of the two lets go last. */
struct lookup {
    struct gaicb cb;
    struct addrinfo hints;
    atomic_int refs;
    char name[];
};

static void lookup_release(struct lookup *lk)
{
    if (atomic_fetch_sub(&lk->refs, 1) != 1)
        return;
    if (lk->cb.ar_result)
        freeaddrinfo(lk->cb.ar_result);
    free(lk);
}

static void lookup_done(union sigval v)
{
    lookup_release(v.sival_ptr);
}

static int literal_refused(const char *host, char *why, size_t why_size)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    const char *range;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    else
        return -1; /* not a literal */
    if (!ssrf_addr_classify((struct sockaddr *)&ss, &range))
        return 0;
    snprintf(why, why_size, "%s is %s", host, range);
    return 1;
}

int ssrf_host_refused(const char *host, int timeout_ms, char *why, size_t why_size)
{
    int rc = literal_refused(host, why, why_size);
    if (rc >= 0)
        return rc;
    size_t n = strlen(host);
    if (strcasecmp(host, "localhost") == 0 ||
        (n > 10 && strcasecmp(host + n - 10, ".localhost") == 0)) {
        snprintf(why, why_size, "%s is loopback", host);
        return 1;
    }
    /* Resolve with a deadline: getaddrinfo alone could hold the request for
     * the resolver's whole retry schedule. */
    struct lookup *lk = calloc(1, sizeof(*lk) + n + 1);
    if (!lk)
        return 0;
    memcpy(lk->name, host, n + 1);
    lk->hints.ai_socktype = SOCK_STREAM;
    lk->cb.ar_name = lk->name;
    lk->cb.ar_request = &lk->hints;
    atomic_init(&lk->refs, 2);
    struct gaicb *list[1] = {&lk->cb};
    struct sigevent done = {.sigev_notify = SIGEV_THREAD,
                            .sigev_notify_function = lookup_done,
                            .sigev_value.sival_ptr = lk};
    if (getaddrinfo_a(GAI_NOWAIT, list, 1, &done)) {
        free(lk);
        return 0;
    }
    struct timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000L};
    gai_suspend((const struct gaicb *const *)list, 1, &ts);
    if (gai_error(&lk->cb) != 0 || !lk->cb.ar_result) {
        lookup_release(lk); /* still running, or failed: the connect-time guard decides */
        return 0;
    }
    rc = 1;
    const char *range = "";
    for (struct addrinfo *ai = lk->cb.ar_result; ai; ai = ai->ai_next)
        if (!ssrf_addr_classify(ai->ai_addr, &range))
            rc = 0;
    if (rc)
        snprintf(why, why_size, "%s resolves only to %s addresses", host, range);
    lookup_release(lk);
    return rc;
}
