#include "navfail.h"

#include <string.h>

static const struct {
    const char *prefix, *status;
    int transient;
} map[] = {
    {"net::ERR_NAME_NOT_RESOLVED", "dns", 0},
    {"net::ERR_NAME_RESOLUTION_FAILED", "dns", 0},
    {"net::ERR_CONNECTION_REFUSED", "connect", 0},
    {"net::ERR_ADDRESS_UNREACHABLE", "connect", 0},
    {"net::ERR_CONNECTION_RESET", "connect", 1},
    {"net::ERR_CONNECTION_CLOSED", "connect", 1},
    {"net::ERR_EMPTY_RESPONSE", "connect", 1},
    {"net::ERR_TIMED_OUT", "timeout", 1},
    {"net::ERR_CONNECTION_TIMED_OUT", "timeout", 1},
    {"net::ERR_CERT_", "tls", 0},
    {"net::ERR_SSL_", "tls", 0},
    {"net::ERR_BAD_SSL_", "tls", 0},
    {"net::ERR_TOO_MANY_REDIRECTS", "http_error", 0},
    {"net::ERR_INVALID_URL", "invalid_url", 0},
    {"net::ERR_UNSAFE_PORT", "blocked", 0},
    {"net::ERR_UNSAFE_REDIRECT", "blocked", 0},
    {"net::ERR_BLOCKED_BY_", "blocked", 0},
    {"net::ERR_DISALLOWED_URL_SCHEME", "blocked", 0},
    {"net::ERR_UNKNOWN_URL_SCHEME", "blocked", 0},
};

const char *navfail_status(const char *text, int *transient)
{
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strncmp(text, map[i].prefix, strlen(map[i].prefix)) == 0) {
            *transient = map[i].transient;
            return map[i].status;
        }
    *transient = 0;
    return "connect";
}
