/*
 * ssrf — refuse outbound connections to addresses a user-supplied URL must
 * never reach: loopback, private (RFC 1918), link-local (169.254/16, where
 * the cloud metadata service lives), CGNAT, multicast and reserved ranges,
 * and their IPv6 counterparts (also IPv4 embedded in IPv6: mapped,
 * compatible, NAT64, 6to4).
 *
 * The check runs on the address libcurl is about to connect to, inside its
 * open-socket callback: after DNS resolution, for the very socket it uses,
 * on every redirect hop. A name that resolves to a public address for the
 * check and to 127.0.0.1 for the connection (DNS rebinding) cannot slip
 * through, because there is no second resolution.
 *
 * Used by scrape (fetched URLs) and deliver (webhook URLs).
 */
#ifndef FERRY_SSRF_H
#define FERRY_SSRF_H

#include <curl/curl.h>
#include <sys/socket.h>

struct ssrf_guard {
    int allow_private; /* 1: check nothing (FERRY_ALLOW_PRIVATE_NETWORKS=1) */
    int blocked;       /* set to 1 by the guard when it refused an address */
    char why[128];     /* "127.0.0.1 is loopback" when blocked */
    /* Optional (NULL = none): exact targets allowed although their address
     * is refused, e.g. an internal service an operator means to scrape. */
    const struct ssrf_allow *allow;
};

#define SSRF_ALLOW_MAX 16

/* Exceptions: "ip" (any port) or "ip:port" / "[ipv6]:port", comma-separated. */
struct ssrf_allow {
    size_t n;
    struct {
        struct sockaddr_storage addr;
        int port; /* 0: any */
    } e[SSRF_ALLOW_MAX];
};

/* Parses an exception list (NULL or "" = none). 0 ok, -1 with errstr. */
int ssrf_allow_parse(const char *list, struct ssrf_allow *out, char *errstr, size_t errstr_size);

/* A cfg check for exception lists (see cfg.h). */
int ssrf_check_allow(const char *value, char *errstr, size_t errstr_size);

/* 1 when sa (AF_INET or AF_INET6) is in a refused range, or of any other
 * family; 0 when it is a public unicast address. */
int ssrf_addr_blocked(const struct sockaddr *sa);

/* Like ssrf_addr_blocked, and names the range ("loopback", "private",
 * "link-local", ...) in *range (a static string) when blocked. */
int ssrf_addr_classify(const struct sockaddr *sa, const char **range);

/* The guard's verdict on one address about to be connected to: 0 allowed
 * (public, g->allow_private, or an exception of g->allow), -1 refused, with
 * g->blocked = 1 and g->why ("127.0.0.1 is loopback"). For connections
 * ferry opens itself (render's proxy); curl transfers use ssrf_curl_guard. */
int ssrf_guard_check(struct ssrf_guard *g, const struct sockaddr *sa);

/* Whether a URL's host (as url_host() gives it) is refused as a target
 * before anything connects (ingest, at submit): an IP literal by its range,
 * "localhost" and names under ".localhost" as loopback, any other name by
 * the addresses it resolves to within timeout_ms (refused when every one
 * is). A name that does not resolve in time is allowed: the connect-time
 * guard (ssrf_curl_guard) still runs on every connection. 1 refused, with
 * why ("127.0.0.1 is loopback"); 0 allowed. */
int ssrf_host_refused(const char *host, int timeout_ms, char *why, size_t why_size);

/* Installs CURLOPT_OPENSOCKETFUNCTION and CURLOPT_OPENSOCKETDATA on easy so
 * that every connection the transfer opens is checked (see above). A refused
 * address makes libcurl fail the transfer with CURLE_COULDNT_CONNECT and sets
 * g->blocked = 1 and g->why. Resets g->blocked and g->why. g must outlive
 * the transfer. With g->allow_private the socket is opened unchecked. */
void ssrf_curl_guard(CURL *easy, struct ssrf_guard *g);

#endif
