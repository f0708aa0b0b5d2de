#include "ssrf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* One refused IPv4 range: network (host order), prefix length, name. */
struct v4_range {
    uint32_t net;
    int bits;
    const char *name;
};

#define V4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))

static const struct v4_range v4_blocked[] = {
    {V4(0, 0, 0, 0), 8, "this-network"},
    {V4(10, 0, 0, 0), 8, "private"},
    {V4(100, 64, 0, 0), 10, "cgnat"},
    {V4(127, 0, 0, 0), 8, "loopback"},
    {V4(169, 254, 0, 0), 16, "link-local"},
    {V4(172, 16, 0, 0), 12, "private"},
    {V4(192, 0, 0, 0), 24, "reserved"},
    {V4(192, 0, 2, 0), 24, "documentation"},
    {V4(192, 88, 99, 0), 24, "reserved"},
    {V4(192, 168, 0, 0), 16, "private"},
    {V4(198, 18, 0, 0), 15, "benchmarking"},
    {V4(198, 51, 100, 0), 24, "documentation"},
    {V4(203, 0, 113, 0), 24, "documentation"},
    {V4(224, 0, 0, 0), 4, "multicast"},
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

static curl_socket_t open_checked(void *clientp, curlsocktype purpose,
                                  struct curl_sockaddr *address)
{
    struct ssrf_guard *g = clientp;
    const char *range;
    (void)purpose;
    if (!g->allow_private && ssrf_addr_classify(&address->addr, &range)) {
        char host[INET6_ADDRSTRLEN] = "?";
        if (address->family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&address->addr)->sin_addr, host,
                      sizeof(host));
        else if (address->family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&address->addr)->sin6_addr, host,
                      sizeof(host));
        g->blocked = 1;
        snprintf(g->why, sizeof(g->why), "%s is %s", host, range);
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype, address->protocol);
}

void ssrf_curl_guard(CURL *easy, struct ssrf_guard *g)
{
    g->blocked = 0;
    g->why[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_checked);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, g);
}
