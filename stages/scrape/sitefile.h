/*
 * sitefile — scrape's answer to a crawl frontier's request for a site file
 * (a request with `fetch`: robots or sitemap; aggregate's frontier.h): what
 * it read goes to crawl.sitefiles, keyed by the batch id like a result (so
 * the aggregator instance that owns the crawl reads it), never to
 * scrape.results (a site file is not one of the crawl's pages).
 *
 * robots.txt: one record, the text as fetched (at most ROBOTS_MAX_BYTES,
 * less when the message would not fit) with its HTTP status (null when
 * nothing answered); the frontier applies RFC 9309's rules for the status.
 *
 *     {"batch_id", "fetch": "robots", "input", "http_status", "robots"}
 *
 * A sitemap: its locations, read here (sitemap.h: XML or text, gzip too)
 * and each normalized with its seen-set hash as a page's links are
 * (crawllinks.h), in chunks that fit a message:
 *
 *     {"batch_id", "fetch": "sitemap", "input", "http_status", "status",
 *      "kind": "urlset"|"index", "locs": [...], "chunk": n, "chunks": N}
 *
 * `status` is "ok" when the sitemap was read, else the reason it was not
 * ("http_error", "not_found", "invalid": no locations follow).
 */
#ifndef FERRY_SCRAPE_SITEFILE_H
#define FERRY_SCRAPE_SITEFILE_H

#include "emit.h"

/* Answers it (a site file's request; takes ownership of it): body (len
 * bytes, NULL when there is none) as fetched with HTTP status `http_status`
 * (0: nothing answered). */
void sitefile_emit(struct emit *em, struct item *it, long http_status, const char *body,
                   size_t len);

#endif
