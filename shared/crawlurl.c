#include "crawlurl.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Directory index names that are one page with their directory. One line
 * each; matched exactly (paths are case-sensitive). */
#define CRAWLURL_INDEX_NAMES(X)                                                                    \
    X("index.html")                                                                                \
    X("index.htm")                                                                                 \
    X("index.php")

#define AS_STRING(s) s,
static const char *const index_names[] = {CRAWLURL_INDEX_NAMES(AS_STRING)};
#undef AS_STRING

static const char hexdigits[] = "0123456789ABCDEF";

static int is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static int add_pct(struct buf *out, unsigned char c)
{
    char e[3] = {'%', hexdigits[c >> 4], hexdigits[c & 15]};
    return buf_add(out, e, 3);
}

int crawlurl_pct_normalize(struct buf *out, const char *s, size_t n, const char *encode)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc, hi = -1, lo = -1;
        if (c == '%' && i + 2 < n) {
            hi = OPENSSL_hexchar2int((unsigned char)s[i + 1]);
            lo = OPENSSL_hexchar2int((unsigned char)s[i + 2]);
        }
        if (hi >= 0 && lo >= 0) {
            unsigned char v = (unsigned char)(hi * 16 + lo);
            rc = is_unreserved(v) ? buf_addc(out, (char)v) : add_pct(out, v);
            i += 2;
        } else if (c == '%' || c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c) ||
                   strchr(encode, c)) {
            rc = add_pct(out, c);
        } else {
            rc = buf_addc(out, (char)c);
        }
        if (rc)
            return -1;
    }
    return 0;
}

void crawlurl_init(struct crawlurl *u)
{
    memset(u, 0, sizeof(*u));
    buf_init(&u->url, CRAWLURL_MAX);
    buf_init(&u->key, CRAWLURL_MAX);
}

void crawlurl_release(struct crawlurl *u)
{
    buf_release(&u->url);
    buf_release(&u->key);
}

/* Leading "www." dropped, when something is left. */
static void host_fold(const char *host, size_t len, const char **out, size_t *out_len)
{
    if (len > 4 && strncmp(host, "www.", 4) == 0) {
        host += 4;
        len -= 4;
    }
    *out = host;
    *out_len = len;
}

/* The key: host without "www.", port, path without index name or trailing
 * slashes, query; from the spans of the normalized URL. */
static int build_key(struct crawlurl *u)
{
    const char *url = u->url.ptr;
    const char *host;
    size_t host_len;
    host_fold(url + u->host, u->host_len, &host, &host_len);

    size_t plen = u->path_len;
    const char *path = url + u->path;
    const char *slash = memrchr(path, '/', plen);
    size_t last = slash ? (size_t)(slash - path) + 1 : 0;
    for (size_t i = 0; i < sizeof(index_names) / sizeof(index_names[0]); i++)
        if (plen - last == strlen(index_names[i]) &&
            memcmp(path + last, index_names[i], plen - last) == 0) {
            plen = last;
            break;
        }
    while (plen > 1 && path[plen - 1] == '/')
        plen--;

    buf_reset(&u->key);
    if (buf_add(&u->key, host, host_len))
        return -1;
    if (u->port && buf_addf(&u->key, ":%d", u->port))
        return -1;
    if (buf_add(&u->key, path, plen))
        return -1;
    const char *rest = path + u->path_len; /* "?query" or "" */
    return buf_adds(&u->key, rest);
}

/* Reads the parts of a parsed URL back into u, normalized. */
static int from_handle(CURLU *h, struct crawlurl *u, char *errstr, size_t errstr_size)
{
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
    int rc = -1;

    if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        snprintf(errstr, errstr_size, "not an http or https URL");
        goto out;
    }
    int https = strcasecmp(scheme, "https") == 0;
    if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
        snprintf(errstr, errstr_size, "URL without a host");
        goto out;
    }
    for (const unsigned char *p = (const unsigned char *)host; *p; p++)
        if (*p >= 0x80) {
            /* The ASCII form, so that both spellings of a name are one host. */
            char *puny = NULL;
            if (curl_url_get(h, CURLUPART_HOST, &puny, CURLU_PUNYCODE) == CURLUE_OK) {
                curl_free(host);
                host = puny;
            }
            break;
        }
    size_t hl = strlen(host);
    while (hl > 1 && host[hl - 1] == '.')
        hl--;
    u->port = 0;
    if (curl_url_get(h, CURLUPART_PORT, &port, 0) == CURLUE_OK) {
        long p = strtol(port, NULL, 10);
        if (p != (https ? 443 : 80))
            u->port = (int)p;
    }
    if (curl_url_get(h, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        path = NULL;
    if (curl_url_get(h, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
        query = NULL;

    struct buf *b = &u->url;
    buf_reset(b);
    if (buf_adds(b, https ? "https://" : "http://"))
        goto too_long;
    u->host = b->len;
    for (size_t i = 0; i < hl; i++)
        if (buf_addc(b, (char)tolower((unsigned char)host[i])))
            goto too_long;
    u->host_len = hl;
    if (u->port && buf_addf(b, ":%d", u->port))
        goto too_long;
    u->path = b->len;
    if (!path || !path[0]) {
        if (buf_addc(b, '/'))
            goto too_long;
    } else if (crawlurl_pct_normalize(b, path, strlen(path), "")) {
        goto too_long;
    }
    u->path_len = b->len - u->path;
    if (query && query[0]) {
        if (buf_addc(b, '?') || crawlurl_pct_normalize(b, query, strlen(query), ""))
            goto too_long;
    }
    if (build_key(u))
        goto too_long;
    rc = 0;
    goto out;
too_long:
    snprintf(errstr, errstr_size, "URL longer than %d bytes", CRAWLURL_MAX);
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    return rc;
}

/* Copies href without the surrounding whitespace and control bytes and
 * without embedded tab, CR and LF, as browsers read an href; an inner space
 * becomes %20 there too (libcurl would write "+" in a query). NULL when it
 * is longer than a crawl accepts. */
static char *href_clean(const char *href)
{
    size_t n = strlen(href);
    while (n && (unsigned char)href[n - 1] <= 0x20)
        n--;
    while (n && (unsigned char)*href <= 0x20) {
        href++;
        n--;
    }
    if (n > CRAWLURL_MAX)
        return NULL;
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (href[i] == ' ') {
            memcpy(o, "%20", 3);
            o += 3;
        } else if (href[i] != '\t' && href[i] != '\r' && href[i] != '\n') {
            *o++ = href[i];
        }
    }
    *o = '\0';
    return out;
}

/* The scheme an href names ("mailto" in "mailto:x"), or none. */
static int href_scheme_ok(const char *href, char *errstr, size_t errstr_size)
{
    const char *p = href;
    if (!isalpha((unsigned char)*p))
        return 1;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    if (*p != ':')
        return 1; /* a relative reference */
    size_t n = (size_t)(p - href);
    if ((n == 4 && strncasecmp(href, "http", 4) == 0) ||
        (n == 5 && strncasecmp(href, "https", 5) == 0))
        return 1;
    snprintf(errstr, errstr_size, "scheme %.*s is not crawled", (int)(n > 32 ? 32 : n), href);
    return 0;
}

static int set_url(CURLU *h, const char *url, char *errstr, size_t errstr_size)
{
    CURLUcode rc = curl_url_set(h, CURLUPART_URL, url, CURLU_ALLOW_SPACE);
    if (rc != CURLUE_OK) {
        snprintf(errstr, errstr_size, "malformed URL: %s", curl_url_strerror(rc));
        return -1;
    }
    return 0;
}

int crawlurl_base_init(struct crawlurl_base *b, const char *url, char *errstr, size_t errstr_size)
{
    b->h = NULL;
    char *clean = href_clean(url);
    if (!clean) {
        snprintf(errstr, errstr_size, "URL longer than %d bytes", CRAWLURL_MAX);
        return -1;
    }
    int rc = -1;
    if (!href_scheme_ok(clean, errstr, errstr_size))
        goto out;
    b->h = curl_url();
    if (!b->h || set_url(b->h, clean, errstr, errstr_size))
        goto out;
    char *scheme = NULL;
    if (curl_url_get(b->h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
        snprintf(errstr, errstr_size, "not an http or https URL");
        curl_free(scheme);
        goto out;
    }
    curl_free(scheme);
    rc = 0;
out:
    free(clean);
    if (rc) {
        curl_url_cleanup(b->h);
        b->h = NULL;
    }
    return rc;
}

void crawlurl_base_release(struct crawlurl_base *b)
{
    curl_url_cleanup(b->h);
    b->h = NULL;
}

int crawlurl_resolve(const struct crawlurl_base *b, const char *href, struct crawlurl *u,
                     char *errstr, size_t errstr_size)
{
    char *clean = href_clean(href);
    if (!clean) {
        snprintf(errstr, errstr_size, "URL longer than %d bytes", CRAWLURL_MAX);
        return -1;
    }
    int rc = -1;
    CURLU *h = NULL;
    if (!href_scheme_ok(clean, errstr, errstr_size))
        goto out;
    h = curl_url_dup(b->h);
    if (!h) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    /* An empty reference (or a bare fragment) is the page itself (RFC 3986
     * §5.2.2); libcurl would resolve "" to the base's directory. */
    if (clean[0] && clean[0] != '#' && set_url(h, clean, errstr, errstr_size))
        goto out;
    rc = from_handle(h, u, errstr, errstr_size);
out:
    curl_url_cleanup(h);
    free(clean);
    return rc;
}

int crawlurl_parse(const char *url, struct crawlurl *u, char *errstr, size_t errstr_size)
{
    struct crawlurl_base b;
    if (crawlurl_base_init(&b, url, errstr, errstr_size))
        return -1;
    int rc = from_handle(b.h, u, errstr, errstr_size);
    crawlurl_base_release(&b);
    return rc;
}

/* ------------------------------------------------------------------ scope */

int crawlscope_init(struct crawlscope *s, const struct crawlurl *start, int allow_subdomains,
                    int allow_external)
{
    memset(s, 0, sizeof(*s));
    const char *host;
    size_t len;
    host_fold(start->url.ptr + start->host, start->host_len, &host, &len);
    s->site = strndup(host, len);
    if (!s->site)
        return -1;
    s->port = start->port;
    s->allow_subdomains = allow_subdomains;
    s->allow_external = allow_external;
    return 0;
}

/* JavaScript's \d and \D, which users write in path patterns, as POSIX
 * bracket expressions (outside brackets; inside, POSIX reads \ literally). */
static int translate_re(const char *re, struct buf *out)
{
    int in_bracket = 0;
    for (const char *p = re; *p; p++) {
        if (in_bracket) {
            if (*p == ']' && p[-1] != '[' && !(p[-1] == '^' && p[-2] == '['))
                in_bracket = 0;
        } else if (*p == '[') {
            in_bracket = 1;
        } else if (*p == '\\' && (p[1] == 'd' || p[1] == 'D')) {
            if (buf_adds(out, p[1] == 'd' ? "[0-9]" : "[^0-9]"))
                return -1;
            p++;
            continue;
        } else if (*p == '\\' && p[1]) {
            if (buf_add(out, p, 2))
                return -1;
            p++;
            continue;
        }
        if (buf_addc(out, *p))
            return -1;
    }
    return 0;
}

static int scope_add(regex_t *list, size_t *n, const char *re, char *errstr, size_t errstr_size)
{
    if (*n >= CRAWLSCOPE_MAX_PATTERNS) {
        snprintf(errstr, errstr_size, "more than %d patterns", CRAWLSCOPE_MAX_PATTERNS);
        return -1;
    }
    if (strlen(re) > CRAWLSCOPE_PATTERN_MAX) {
        snprintf(errstr, errstr_size, "pattern longer than %d bytes", CRAWLSCOPE_PATTERN_MAX);
        return -1;
    }
    struct buf t = BUF_INIT(4 * CRAWLSCOPE_PATTERN_MAX);
    if (translate_re(re, &t) || buf_addc(&t, '\0')) {
        snprintf(errstr, errstr_size, "pattern too long");
        return -1;
    }
    int rc = regcomp(&list[*n], t.ptr, REG_EXTENDED | REG_NOSUB);
    buf_release(&t);
    if (rc != 0) {
        char why[128];
        regerror(rc, &list[*n], why, sizeof(why));
        regfree(&list[*n]);
        snprintf(errstr, errstr_size, "invalid regex: %s", why);
        return -1;
    }
    (*n)++;
    return 0;
}

int crawlscope_include(struct crawlscope *s, const char *re, char *errstr, size_t errstr_size)
{
    return scope_add(s->include, &s->n_include, re, errstr, errstr_size);
}

int crawlscope_exclude(struct crawlscope *s, const char *re, char *errstr, size_t errstr_size)
{
    return scope_add(s->exclude, &s->n_exclude, re, errstr, errstr_size);
}

static int host_in_scope(const struct crawlscope *s, const struct crawlurl *u)
{
    if (s->allow_external)
        return 1;
    if (u->port != s->port)
        return 0;
    const char *host;
    size_t len, site_len = strlen(s->site);
    host_fold(u->url.ptr + u->host, u->host_len, &host, &len);
    if (len == site_len && memcmp(host, s->site, len) == 0)
        return 1;
    return s->allow_subdomains && len > site_len + 1 &&
           memcmp(host + len - site_len, s->site, site_len) == 0 && host[len - site_len - 1] == '.';
}

enum crawlscope_verdict crawlscope_check(const struct crawlscope *s, const struct crawlurl *u)
{
    if (!host_in_scope(s, u))
        return CRAWLSCOPE_OFF_SITE;
    if (!s->n_include && !s->n_exclude)
        return CRAWLSCOPE_IN;
    char path[CRAWLURL_MAX + 1];
    memcpy(path, u->url.ptr + u->path, u->path_len);
    path[u->path_len] = '\0';
    for (size_t i = 0; i < s->n_exclude; i++)
        if (regexec(&s->exclude[i], path, 0, NULL, 0) == 0)
            return CRAWLSCOPE_EXCLUDED;
    if (!s->n_include)
        return CRAWLSCOPE_IN;
    for (size_t i = 0; i < s->n_include; i++)
        if (regexec(&s->include[i], path, 0, NULL, 0) == 0)
            return CRAWLSCOPE_IN;
    return CRAWLSCOPE_NOT_INCLUDED;
}

const char *crawlscope_verdict_name(enum crawlscope_verdict v)
{
    switch (v) {
    case CRAWLSCOPE_IN: return "in";
    case CRAWLSCOPE_OFF_SITE: return "off_site";
    case CRAWLSCOPE_NOT_INCLUDED: return "not_included";
    case CRAWLSCOPE_EXCLUDED: return "excluded";
    }
    return "?";
}

void crawlscope_release(struct crawlscope *s)
{
    for (size_t i = 0; i < s->n_include; i++)
        regfree(&s->include[i]);
    for (size_t i = 0; i < s->n_exclude; i++)
        regfree(&s->exclude[i]);
    free(s->site);
    memset(s, 0, sizeof(*s));
}
