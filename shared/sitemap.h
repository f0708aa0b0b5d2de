/*
 * sitemap — the URLs a sitemap lists (sitemaps.org protocol 0.9).
 *
 * Reads a <urlset> (each <url><loc>), a <sitemapindex> (each
 * <sitemap><loc>: more sitemaps to fetch), or a text sitemap (one URL per
 * line), gzip-compressed or not (recognized by its magic bytes, whatever the
 * Content-Type said). The XML goes through libxml2's streaming reader and
 * the gzip through zlib's inflate, chunk by chunk, so a 50 MB sitemap is
 * never held uncompressed; only the compressed body is in memory.
 *
 * Bounded: at most `max_bytes` of uncompressed content are read (the
 * protocol's own limit is 50 MB, which also stops a gzip bomb) and at most
 * `max_locs` locations are reported (the protocol's is 50,000); past either,
 * reading stops and stats.truncated is set. A <loc> longer than
 * SITEMAP_LOC_MAX is skipped. <loc> elements of extensions (image:loc,
 * video:...) are not locations: only a <loc> directly inside <url> or
 * <sitemap> counts. The reader loads no DTD, touches no network and
 * substitutes no entity.
 *
 * Locations are reported as written (trimmed); resolving them and deciding
 * whether they are in the crawl's scope is the caller's (crawlurl.h). Which
 * sitemaps to fetch (/sitemap.xml, robots.txt's Sitemap: lines, the entries
 * of an index, one level deep) is the crawl's policy, not this module's.
 */
#ifndef FERRY_SITEMAP_H
#define FERRY_SITEMAP_H

#include <stddef.h>

#define SITEMAP_MAX_BYTES (50 * 1024 * 1024) /* uncompressed, per the protocol */
#define SITEMAP_MAX_LOCS  50000
#define SITEMAP_LOC_MAX   4096

enum sitemap_kind {
    SITEMAP_UNKNOWN = 0, /* nothing recognizable (yet) */
    SITEMAP_URLSET,      /* locations are pages */
    SITEMAP_INDEX,       /* locations are sitemaps */
    SITEMAP_TEXT,        /* one page URL per line */
};

/* Called once per location, in document order; loc is NUL-terminated and
 * valid only during the call. Return 0 to go on, non-zero to stop reading
 * (sitemap_parse then returns 0: the caller chose to stop). */
typedef int (*sitemap_loc_fn)(void *arg, enum sitemap_kind kind, const char *loc, size_t len);

struct sitemap_limits {
    size_t max_bytes; /* 0: SITEMAP_MAX_BYTES */
    size_t max_locs;  /* 0: SITEMAP_MAX_LOCS */
};

struct sitemap_stats {
    enum sitemap_kind kind;
    size_t locs;   /* reported */
    size_t bytes;  /* uncompressed bytes read */
    int gzip;      /* the body was gzip */
    int truncated; /* a limit stopped the reading */
};

/* Reads the sitemap in data (len bytes, possibly gzip) and calls fn for each
 * location. 0 ok (possibly truncated: see stats); -1 when the document is
 * broken (bad gzip, XML error, not a sitemap), with errstr; locations reported
 * before the error stand. lim and st may be NULL. */
int sitemap_parse(const void *data, size_t len, const struct sitemap_limits *lim, sitemap_loc_fn fn,
                  void *arg, struct sitemap_stats *st, char *errstr, size_t errstr_size);

const char *sitemap_kind_name(enum sitemap_kind k);

#endif
