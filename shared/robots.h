/*
 * robots — robots.txt as RFC 9309 defines it, for one crawler's product
 * token ("ferry").
 *
 * Parsing (§2.1, §2.2): lines split on CR, LF or CRLF; a UTF-8 byte order
 * mark (whole or cut short) skipped; `#` starts a comment; names are
 * case-insensitive ("user-agent", "allow", "disallow", plus "crawl-delay" and
 * "sitemap"; a missing colon before a single-word value is tolerated, as are
 * the misspellings "useragent", "user agent", "dissallow", "dissalow",
 * "disalow", "diasllow", "disallaw"). A group is one or more user-agent lines
 * followed by rules; blank lines and other records (sitemap, unknown lines)
 * neither end a group nor start one. Rules before any user-agent line are
 * ignored.
 *
 * Which group applies (§2.2.1): the product token of a user-agent value is its
 * leading run of [A-Za-z_-] (so "ferry/1.0" and "ferry crawler" name ferry),
 * compared without case. Every group naming our token is combined into one;
 * if none does, every "*" group is combined; if neither exists, nothing is
 * disallowed. A group that names us but holds no rule allows everything.
 *
 * Matching (§2.2.2, §2.2.3): rules match a prefix of the URL's path and query
 * (the part robots_allowed() is given), byte for byte and case-sensitively,
 * `*` standing for any run of characters and a final `$` for the end. Both
 * sides are percent-encoding-normalized first (crawlurl_pct_normalize: octets
 * outside printable ASCII encoded, an encoded unreserved character decoded,
 * hex digits upper-case), and a literal `*` or `$` in the path is compared as
 * %2A / %24, so a rule can name them only encoded. The most specific
 * matching rule wins: the one whose pattern has the most octets; on a tie,
 * Allow wins. An empty rule value matches nothing. /robots.txt is always
 * allowed. As Google does, `Allow: /d/index.html` also allows `/d/` (the
 * page it names is the directory's index), which matters because the crawl
 * treats them as one page (crawlurl.h).
 *
 * Crawl-delay (not in RFC 9309, widely obeyed): the value (seconds, may be
 * fractional) of the applicable group; with several, the largest.
 * Sitemap lines are collected wherever they stand (at most
 * ROBOTS_MAX_SITEMAPS).
 *
 * Limits (§2.5): only the first ROBOTS_MAX_BYTES (500 KiB, the least the RFC
 * allows) are parsed, a line past ROBOTS_LINE_MAX bytes is cut there, and at
 * most ROBOTS_MAX_RULES rules of the applicable group are kept.
 *
 * Fetch outcome (§2.3.1): robots_fetched() maps an HTTP answer to rules:
 * 2xx: the body is parsed; 4xx (robots.txt "unavailable"): everything is
 * allowed, except 429, which asks us to slow down and is treated as 5xx;
 * 5xx, no answer at all (status 0: DNS, connect, timeout) and a chain of
 * more than five redirects (a 3xx status left at the end): everything is
 * disallowed ("unreachable", complete disallow as §2.3.1.4 requires) and
 * robots_reason() says why.
 */
#ifndef FERRY_ROBOTS_H
#define FERRY_ROBOTS_H

#include <stddef.h>

#include "buf.h"

#define ROBOTS_MAX_BYTES     (500 * 1024)
#define ROBOTS_LINE_MAX      (2083 * 8) /* Google's cut: 8 times the longest IE URL */
#define ROBOTS_MAX_RULES     8192
#define ROBOTS_MAX_SITEMAPS  64
#define ROBOTS_MAX_DELAY_MS  (24LL * 3600 * 1000)
#define ROBOTS_MAX_REDIRECTS 5

/* The product token ferry's crawler obeys robots.txt groups for. */
#define ROBOTS_PRODUCT "ferry"

struct robots;

/* Parses a robots.txt body for product token `product`. Never fails except
 * on allocation (NULL). The result is immutable and may be shared. */
struct robots *robots_parse(const char *text, size_t len, const char *product);

/* The outcome of fetching /robots.txt: `status` the final HTTP status (0 when
 * no answer came), body and len its content (ignored unless 2xx). */
struct robots *robots_fetched(long status, const char *body, size_t len, const char *product);

/* Everything allowed / everything disallowed (with a reason for results). */
struct robots *robots_allow_all(void);
struct robots *robots_disallow_all(const char *reason);

void robots_free(struct robots *r);

/* 1 when the URL whose path (and "?query", no fragment) is `path` may be
 * fetched, 0 when a rule disallows it. An empty path is "/". */
int robots_allowed(const struct robots *r, const char *path);

/* Why robots_allowed() refuses everything ("robots.txt unreachable: HTTP
 * 503"), or NULL when the rules came from a robots.txt body. */
const char *robots_reason(const struct robots *r);

/* The HTTP status the rules were made from (robots_fetched), 200 for
 * robots_parse and robots_allow_all, 0 for robots_disallow_all. */
long robots_status(const struct robots *r);

/* The Crawl-delay of the applicable group in milliseconds, -1 when none. */
long long robots_crawl_delay_ms(const struct robots *r);

/* The Sitemap: URLs, as written, in file order. */
size_t robots_sitemap_count(const struct robots *r);
const char *robots_sitemap(const struct robots *r, size_t i);

/* Appends a robots.txt that parses back (for the same product) to the same
 * decisions and crawl delay: the applicable rules only, normalized, and the
 * sitemap lines. What a crawl stores to restore a host after a crash:
 * robots_fetched(robots_status(r), dump) rebuilds r. 0 ok, -1 past out's cap. */
int robots_dump(const struct robots *r, const char *product, struct buf *out);

#endif
