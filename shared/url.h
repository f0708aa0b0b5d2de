/*
 * url — one reading of a URL: curl's own (the curl_url API), done once.
 *
 * Two parsers of the same URL disagree exactly where an attacker looks: a
 * check of ours reading `http://127.0.0.1:28181\@evil.example/x` as
 * 127.0.0.1 while libcurl connects to evil.example. So ingest hands every
 * submitted URL to url_normalize(), keeps curl's normalized text (that is
 * what the scrape request carries and what scrape gives curl), and refuses
 * what curl refuses.
 *
 * Credentials in a URL (user:password@) are refused, not redacted: a URL is
 * echoed in results (`input`, `final_url`), status documents, webhooks,
 * topics and logs, and the request topic would have to carry the password
 * in clear for scrape to use it. A site that needs one takes an
 * Authorization header in `items[].headers` instead.
 *
 * The module is meant to grow the other URL jobs (crawl link normalization:
 * default ports, fragments, host case), each as one function here.
 */
#ifndef FERRY_URL_H
#define FERRY_URL_H

#include <stddef.h>

#define URL_MAX 8192 /* longest URL taken, in bytes */

enum url_flags {
    URL_HTTPS_ONLY = 1, /* http:// refused too (webhook URLs in production) */
};

/* Parses in[0..len) as an absolute http or https URL with curl's URL
 * parser and sets *out to curl's normalized form (malloc'd; free it).
 * Refused, with *why a short phrase for the API's error ("must be an http
 * or https URL"): NUL, whitespace or control bytes, more than URL_MAX
 * bytes, another scheme, no host, credentials, a port outside 1..65535,
 * anything curl itself refuses. 0 ok, -1 refused. */
int url_normalize(const char *in, size_t len, unsigned flags, char **out, const char **why);

/* 1 when in[0..len) is an absolute http(s) URL that curl's parser gives
 * back byte for byte, by a strict grammar that leaves nothing to
 * interpretation (url.c: lower-case names with a letter no IPv4 number
 * holds or a plain dotted quad, no escaped or plain dot segments, fragments,
 * credentials or default ports); 0 says nothing either way. url_normalize
 * takes such a URL without curl, as may any reader of many URLs. */
int url_already_normal(const char *in, size_t len, unsigned flags);

/* url without its user:password@, malloc'd; NULL when it has none (or
 * does not parse): use url as it is then. For URLs ferry did not choose
 * but writes out, such as a redirect's target in a result's final_url. */
char *url_without_credentials(const char *url);

/* The host of a URL as curl reads it (IPv6 literals without brackets),
 * into host (size bytes). 0 ok, -1 none or too long. */
int url_host(const char *url, char *host, size_t size);

/* The origin of an absolute http(s) URL as curl reads it, lower-cased
 * scheme and host with the port always written ("https://example.com:443"):
 * the key a client groups connections and per-host limits by, so
 * https://Example.com/a and https://example.com:443/b share one. With
 * URL_HTTPS_ONLY, http:// is refused. 0 ok, -1 refused with *why (as
 * url_normalize's, or "is too long" when out (size bytes) cannot hold it). */
int url_origin(const char *url, unsigned flags, char *out, size_t size, const char **why);

#endif
