/*
 * crawlurl — the URLs of a crawl: each link resolved against its page and
 * normalized once (with libcurl's URL parser, the one that will fetch it),
 * the page key that decides which spellings are one page, and the crawl's
 * scope.
 *
 * Normalized URL (what is fetched), from any href:
 *   - resolved against the page's final URL (or its <base href>); leading and
 *     trailing whitespace and embedded tab/CR/LF dropped, as browsers do;
 *   - http and https only (mailto:, javascript:, data:, ftp: ... are refused);
 *   - scheme and host lower-case, a host's trailing dot dropped, an
 *     internationalized host in punycode where libidn2 can convert it;
 *   - the default port (80 for http, 443 for https) dropped;
 *   - user:password@ dropped (a crawl never sends credentials found in links);
 *   - dot segments removed, an empty path written "/";
 *   - percent-encoding normalized (RFC 3986 §6.2.2): an encoded unreserved
 *     character (A-Z a-z 0-9 - . _ ~) decoded, every other %xx in upper case,
 *     bytes outside printable ASCII and the characters RFC 3986 never allows
 *     (space " < > \ ^ ` { | }) encoded, a stray % written %25;
 *   - the fragment dropped, an empty query ("?" with nothing after) dropped.
 *
 * Page key (what the seen set remembers): the normalized URL folded further,
 * so that the spellings sites use interchangeably for one page are fetched
 * once:
 *   - no scheme: http://h/p and https://h/p are one page (sites serve one and
 *     redirect the other);
 *   - a leading "www." of the host dropped: www.h and h are one site;
 *   - a last path segment index.html, index.htm or index.php dropped: /d/ and
 *     /d/index.html are one page (the directory index);
 *   - trailing slashes of the path dropped (not the root's): /d and /d/ are one
 *     page (sites redirect one to the other).
 * Kept apart, because servers do tell them apart: path case (/A vs /a),
 * query order and content (?a=1&b=2 vs ?b=2&a=1, tracking parameters), other
 * index names (default.aspx), repeated inner slashes, different ports.
 * The page fetched is the spelling the crawl found first.
 *
 * Scope (crawlscope): a URL belongs to the crawl when its host is the start
 * URL's (compared without "www.", same port), or a subdomain of it with
 * allow_subdomains, or any host with allow_external; then include_paths (at
 * least one must match, when given) and exclude_paths (none may match) are
 * POSIX extended regexes searched in the URL's path (without the query);
 * `\d` and `\D` are accepted as in JavaScript.
 */
#ifndef FERRY_CRAWLURL_H
#define FERRY_CRAWLURL_H

#include <curl/curl.h>
#include <regex.h>
#include <stddef.h>

#include "buf.h"

/* The longest normalized URL a crawl accepts; longer links are refused. */
#define CRAWLURL_MAX 4096

/* A normalized URL and its page key. `host` and `path` locate parts of
 * url.ptr: the host (lower-case, without port) and the path (without
 * query). Reuse one across calls: each call overwrites it. */
struct crawlurl {
    struct buf url; /* the normalized URL (fetch this) */
    struct buf key; /* the page key (deduplicate on this) */
    size_t host, host_len;
    size_t path, path_len;
    int port; /* explicit non-default port, 0 for the scheme's default */
};

/* A page's URL parsed once, to resolve its many links against. */
struct crawlurl_base {
    CURLU *h;
};

void crawlurl_init(struct crawlurl *u);
void crawlurl_release(struct crawlurl *u);

/* Parses `url` (absolute http or https) as the base of a page's links.
 * 0 ok; -1 with errstr. Release with crawlurl_base_release(). */
int crawlurl_base_init(struct crawlurl_base *b, const char *url, char *errstr, size_t errstr_size);
void crawlurl_base_release(struct crawlurl_base *b);

/* Resolves href (as written in the page) against b, normalizes it and writes
 * the URL and its key into u. 0 ok; -1 when href is not a crawlable URL
 * (another scheme, malformed, too long), with the reason in errstr. */
int crawlurl_resolve(const struct crawlurl_base *b, const char *href, struct crawlurl *u,
                     char *errstr, size_t errstr_size);

/* The same for an absolute URL (a start URL, a sitemap entry). */
int crawlurl_parse(const char *url, struct crawlurl *u, char *errstr, size_t errstr_size);

/* Appends n bytes of s with percent-encoding normalized as described above;
 * the characters in `encode` (may be "") are percent-encoded too. 0 ok, -1
 * past out's cap. Used on paths and queries here and on robots.txt rules. */
int crawlurl_pct_normalize(struct buf *out, const char *s, size_t n, const char *encode);

/* ------------------------------------------------------------------ scope */

#define CRAWLSCOPE_MAX_PATTERNS 32  /* per list */
#define CRAWLSCOPE_PATTERN_MAX  512 /* bytes per regex */

enum crawlscope_verdict {
    CRAWLSCOPE_IN = 0,
    CRAWLSCOPE_OFF_SITE,     /* another host (or port), not allowed */
    CRAWLSCOPE_NOT_INCLUDED, /* include_paths given, none matched */
    CRAWLSCOPE_EXCLUDED,     /* an exclude_paths regex matched */
};

struct crawlscope {
    char *site; /* the start host, lower-case, without "www." */
    int port;
    int allow_subdomains, allow_external;
    regex_t include[CRAWLSCOPE_MAX_PATTERNS];
    size_t n_include;
    regex_t exclude[CRAWLSCOPE_MAX_PATTERNS];
    size_t n_exclude;
};

/* Takes the site from the (normalized) start URL. 0 ok; -1 on no memory. */
int crawlscope_init(struct crawlscope *s, const struct crawlurl *start, int allow_subdomains,
                    int allow_external);

/* Compiles one path regex into the include or exclude list. 0 ok; -1 with
 * errstr (bad regex, too long, too many). */
int crawlscope_include(struct crawlscope *s, const char *re, char *errstr, size_t errstr_size);
int crawlscope_exclude(struct crawlscope *s, const char *re, char *errstr, size_t errstr_size);

/* Whether u belongs to the crawl (CRAWLSCOPE_IN) or why not. */
enum crawlscope_verdict crawlscope_check(const struct crawlscope *s, const struct crawlurl *u);

/* "in", "off_site", "not_included", "excluded". */
const char *crawlscope_verdict_name(enum crawlscope_verdict v);

void crawlscope_release(struct crawlscope *s);

#endif
