/*
 * crawl_opts — the options of POST /v1/crawl (DESIGN.md, "Crawl").
 *
 *   url               the start page (required): http or https, normalized
 *                     as the crawl normalizes every link (crawlurl.h)
 *   limit             pages the crawl accepts at most: 1..FERRY_MAX_ITEMS (1000)
 *   max_depth         link hops from the start page: 0..CRAWL_MAX_DEPTH (10)
 *   include_paths     regexes on the path; when given, one must match
 *   exclude_paths     regexes on the path; none may match
 *                     (each at most CRAWLSCOPE_MAX_PATTERNS, compiled here
 *                     so a bad one is a 422, not a failed crawl)
 *   allow_subdomains  follow links to subdomains of the start host (false)
 *   allow_external    follow links to any host (false)
 *   sitemap           "include" (default), "skip" or "only"
 *   robots            obey robots.txt (true)
 *
 * The rest of a crawl body (formats, extract, render, options, webhook_*,
 * metadata) is a submit's and is checked as one (submission.h). Errors name
 * the field as the API answers them.
 */
#ifndef INGEST_CRAWL_OPTS_H
#define INGEST_CRAWL_OPTS_H

#include <jansson.h>

#include "submission.h"

#define CRAWL_LIMIT_DEFAULT 1000
#define CRAWL_DEPTH_DEFAULT 10
#define CRAWL_MAX_DEPTH     10000

/* 1 when `name` is a member only a crawl body has. */
int crawl_opts_member(const char *name);

/* Checks the crawl options of `root` (a crawl body whose `url` was already
 * read by url.h). 0 ok with *out a new object of every option, normalized
 * and with its default ("url" in the crawl's normalized form); -1 with err. */
int crawl_opts_check(const json_t *root, long long max_items, json_t **out,
                     struct submission_err *err);

#endif
