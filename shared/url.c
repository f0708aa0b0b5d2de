#include "url.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What an API caller reads for each of curl's refusals. */
static const char *why_of(CURLUcode rc)
{
    switch (rc) {
    case CURLUE_BAD_PORT_NUMBER: return "has a port outside 1..65535";
    case CURLUE_NO_HOST:
    case CURLUE_BAD_HOSTNAME: return "has no valid host";
    case CURLUE_BAD_SCHEME:
    case CURLUE_UNSUPPORTED_SCHEME: return "must be an http or https URL";
    case CURLUE_OUT_OF_MEMORY: return "could not be parsed (out of memory)";
    default: return "is not a URL that curl can fetch";
    }
}

static int has_part(CURLU *u, CURLUPart part)
{
    char *v = NULL;
    int has = curl_url_get(u, part, &v, 0) == CURLUE_OK && v && *v;
    curl_free(v);
    return has;
}

/* Bytes a path or query keeps as they are in curl's form (RFC 3986
 * unreserved and sub-delims, ':' '@' '/'; '?' in the query): no '%', no
 * '\\', no '#', nothing curl would encode or read otherwise. */
static int plain_pq(unsigned char c, int query)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-._~!$&'()*+,;=:@/", c) != NULL || (query && c == '?');
}

/* The length of a plain byte or percent-escape of a path (query: 1) at
 * p, or 0 for anything else. curl keeps an escape %HH as it is written
 * (either case) except that it may read %2e as a dot. */
static size_t plain_pq_at(const char *p, const char *end, int query)
{
    if (plain_pq((unsigned char)*p, query))
        return 1;
    if (*p != '%' || end - p < 3 || !isxdigit((unsigned char)p[1]) ||
        !isxdigit((unsigned char)p[2]) || (p[1] == '2' && (p[2] == 'e' || p[2] == 'E')))
        return 0;
    return 3;
}

/* A dotted quad of decimal octets, none with a leading zero. */
static int plain_ipv4(const char *h, size_t n)
{
    int parts = 0;
    for (size_t i = 0; i < n; parts++) {
        size_t d = 0;
        unsigned v = 0;
        while (i + d < n && h[i + d] >= '0' && h[i + d] <= '9' && d < 4)
            v = v * 10 + (unsigned)(h[i + d++] - '0');
        if (d == 0 || d > 3 || v > 255 || (d > 1 && h[i] == '0'))
            return 0;
        i += d;
        if (i < n && (h[i++] != '.' || i == n))
            return 0;
    }
    return parts == 4;
}

/* 1 when `in` is already what curl's parser gives back for it, byte for
 * byte, in a form that leaves nothing to interpretation:
 *   http[s]://host[:port]/path[?query]
 * with a lower-case scheme; a host of lower-case names (letters, digits,
 * '-', no empty label) with a letter no IPv4 number can hold (g-z but x),
 * or a plain dotted quad; a port 1..65535 without leading zeros that is
 * not the scheme's default; a path with no "." or ".." segment; a
 * non-empty query; path and query of plain_pq bytes and %HH escapes
 * but %2e. Everything else (upper case, an escaped dot, IPv6, IDN, default ports, dot segments,
 * fragments, credentials) is curl's to read. test_url checks the claim
 * against curl over generated URLs. */
int url_already_normal(const char *in, size_t len, unsigned flags)
{
    const char *p = in, *end = in + len;
    int https = len > 8 && memcmp(in, "https://", 8) == 0;
    if (https)
        p += 8;
    else if (len > 7 && memcmp(in, "http://", 7) == 0 && !(flags & URL_HTTPS_ONLY))
        p += 7;
    else
        return 0;
    const char *host = p;
    int name_letter = 0;
    while (p < end && *p != ':' && *p != '/') {
        char c = *p;
        if (c >= 'g' && c <= 'z' && c != 'x')
            name_letter = 1;
        else if (!((c >= 'a' && c <= 'f') || c == 'x' || (c >= '0' && c <= '9') || c == '-' ||
                   c == '.'))
            return 0;
        if (c == '.' && (p == host || p[-1] == '.'))
            return 0;
        p++;
    }
    size_t hn = (size_t)(p - host);
    if (hn == 0 || host[hn - 1] == '.' || host[hn - 1] == '-' || host[0] == '-')
        return 0;
    if (!name_letter && !plain_ipv4(host, hn))
        return 0;
    if (p < end && *p == ':') {
        const char *d = ++p;
        unsigned long port = 0;
        while (p < end && *p >= '0' && *p <= '9' && p - d < 6)
            port = port * 10 + (unsigned long)(*p++ - '0');
        if (p == d || *d == '0' || port > 65535 || port == (https ? 443UL : 80UL))
            return 0;
    }
    if (p == end || *p != '/')
        return 0;
    /* The path, segment by segment. */
    while (p < end && *p != '?') {
        const char *seg = ++p; /* past '/' */
        for (size_t n; p < end && *p != '/' && *p != '?'; p += n)
            if (!(n = plain_pq_at(p, end, 0)))
                return 0;
        size_t sn = (size_t)(p - seg);
        if ((sn == 1 && seg[0] == '.') || (sn == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
    }
    if (p < end) { /* '?' */
        if (++p == end)
            return 0;
        for (size_t n; p < end; p += n)
            if (!(n = plain_pq_at(p, end, 1)))
                return 0;
    }
    return 1;
}

int url_normalize(const char *in, size_t len, unsigned flags, char **out, const char **why)
{
    char *text = NULL, *scheme = NULL, *norm = NULL;
    CURLU *u = NULL;
    int rc = -1;
    *out = NULL;
    if (len == 0) {
        *why = "is empty";
        return -1;
    }
    if (len > URL_MAX) {
        *why = "is longer than 8192 bytes";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == 0) {
            *why = "contains a NUL byte";
            return -1;
        }
        if (c <= 0x20 || c == 0x7f) {
            *why = "contains whitespace or control characters";
            return -1;
        }
    }
    /* Most submitted URLs are already in curl's form: curl's parser costs
     * some 16,000 instructions a URL, a third of a submit's work. */
    if (len <= URL_MAX && url_already_normal(in, len, flags)) {
        if (!(*out = strndup(in, len))) {
            *why = "could not be parsed (out of memory)";
            return -1;
        }
        return 0;
    }
    if (!(text = strndup(in, len)) || !(u = curl_url())) {
        *why = "could not be parsed (out of memory)";
        goto out;
    }
    /* No scheme guessing, no default scheme: "example.com/x" is refused
     * rather than read as http. */
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, text, 0);
    if (uc) {
        *why = why_of(uc);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
        (strcasecmp(scheme, "http") && strcasecmp(scheme, "https"))) {
        *why = flags & URL_HTTPS_ONLY ? "must be an https URL" : "must be an http or https URL";
        goto out;
    }
    if ((flags & URL_HTTPS_ONLY) && strcasecmp(scheme, "https") != 0) {
        *why = "must be an https URL";
        goto out;
    }
    if (!has_part(u, CURLUPART_HOST)) {
        *why = "has no host";
        goto out;
    }
    if (has_part(u, CURLUPART_USER) || has_part(u, CURLUPART_PASSWORD) ||
        has_part(u, CURLUPART_OPTIONS)) {
        *why = "must not contain credentials (user:password@); send an Authorization header "
               "in items[].headers instead";
        goto out;
    }
    char *port = NULL;
    int port_zero = curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port &&
                    strspn(port, "0") == strlen(port);
    curl_free(port);
    if (port_zero) {
        *why = "has a port outside 1..65535";
        goto out;
    }
    if ((uc = curl_url_get(u, CURLUPART_URL, &norm, 0))) {
        *why = why_of(uc);
        goto out;
    }
    if (strlen(norm) > URL_MAX) {
        *why = "is longer than 8192 bytes";
        goto out;
    }
    if (!(*out = strdup(norm))) {
        *why = "could not be parsed (out of memory)";
        goto out;
    }
    rc = 0;
out:
    curl_free(norm);
    curl_free(scheme);
    curl_url_cleanup(u);
    free(text);
    return rc;
}

int url_host(const char *url, char *host, size_t size)
{
    CURLU *u = curl_url();
    char *h = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK) {
        const char *p = h;
        size_t n = strlen(h);
        if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
            p++;
            n -= 2;
        }
        if (n > 0 && n < size) {
            memcpy(host, p, n);
            host[n] = '\0';
            rc = 0;
        }
    }
    curl_free(h);
    curl_url_cleanup(u);
    return rc;
}

char *url_without_credentials(const char *url)
{
    /* Credentials (and login options) stand before an '@': without one
     * there is nothing to take out, and curl's parse (6.7k instructions,
     * once for every result scrape writes) is not needed. */
    if (!strchr(url, '@'))
        return NULL;
    CURLU *u = curl_url();
    char *norm = NULL, *out = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        (has_part(u, CURLUPART_USER) || has_part(u, CURLUPART_PASSWORD) ||
         has_part(u, CURLUPART_OPTIONS)) &&
        curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &norm, 0) == CURLUE_OK)
        out = strdup(norm);
    curl_free(norm);
    curl_url_cleanup(u);
    return out;
}

int url_origin(const char *url, unsigned flags, char *out, size_t size, const char **why)
{
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;
    CURLU *u = curl_url();
    CURLUcode uc = u ? curl_url_set(u, CURLUPART_URL, url, 0) : CURLUE_OUT_OF_MEMORY;
    if (!uc)
        uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (!uc)
        uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (!uc)
        uc = curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    if (uc) {
        *why = why_of(uc);
        goto out;
    }
    /* curl lower-cases the scheme; the host keeps the case it was given. */
    for (char *c = host; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    if (strcmp(scheme, "https") != 0 && ((flags & URL_HTTPS_ONLY) || strcmp(scheme, "http"))) {
        *why = flags & URL_HTTPS_ONLY ? "must be an https URL" : "must be an http or https URL";
        goto out;
    }
    if ((size_t)snprintf(out, size, "%s://%s:%s", scheme, host, port) >= size) {
        *why = "is too long";
        goto out;
    }
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}
