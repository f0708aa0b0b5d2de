/*
 * crawllinks — what a crawled page (or a sitemap) hands the frontier: its
 * links, each resolved and normalized once where it was found (crawlurl.h:
 * curl's parser, the one that fetches it), with the seen-set hash of its
 * page key (seen.h), so the frontier drops a link it has seen without
 * parsing it again.
 *
 * The list is a JSON array of strings, one per distinct page, in document
 * order:
 *
 *     ["0f1e2d3c4b5a6978 https://example.com/a", ...]
 *
 * each "<16 lowercase hex digits of the hash> <normalized URL>" (a
 * normalized URL holds no quote, backslash or control byte, so the strings
 * need no escape). Links are <a href> and <area href>, resolved against the
 * page's <base href> (itself resolved against the page's URL) or the page's
 * final URL; links that are not http(s) (mailto:, javascript:, ...), that
 * do not parse, or that are longer than CRAWLURL_MAX are left out, as is
 * the page itself (a bare fragment or an empty href). The list is bounded:
 * at most `max_links` entries and `max_bytes` bytes (links past either are
 * not followed).
 */
#ifndef FERRY_CRAWLLINKS_H
#define FERRY_CRAWLLINKS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crawlurl.h"
#include "seen.h"

/* Links one page passes on at most (a page of more links is cut there). */
#define CRAWLLINKS_MAX 10000

/* Appends the list of an HTML page (UTF-8, len bytes) fetched as page_url
 * to out; `key` is the crawl's seen_key(). Returns the number of links. */
size_t crawllinks_html(const char *html, size_t len, const char *page_url,
                       const uint8_t key[SEEN_KEY_LEN], size_t max_links, size_t max_bytes,
                       struct buf *out);

/* Appends one absolute URL (a sitemap location) as a quoted entry, with a
 * comma before it when `sep`. u is scratch. 0 ok, -1 when the URL is not
 * crawlable (nothing appended). */
int crawllinks_entry(const char *url, const uint8_t key[SEEN_KEY_LEN], int sep, struct crawlurl *u,
                     struct buf *out);

#endif
