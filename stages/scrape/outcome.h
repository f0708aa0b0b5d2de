/*
 * outcome — the error taxonomy: one finished transfer → one status code
 * (the words are shared/words.h's STATUS_MAP).
 *
 *   ok            2xx (and any other non-error status: 1xx/3xx not followed)
 *   timeout       the per-item deadline passed (transient)
 *   dns           the name did not resolve
 *   connect       refused or unreachable; a reset or an empty reply (transient)
 *   tls           handshake or certificate failure
 *   http_error    status >= 400 (429, 502, 503, 504 transient), too many redirects,
 *                 a body that cannot be decoded
 *   not_found     status 404 or 410
 *   too_large     the body passed the item's max_bytes
 *   blocked       the SSRF guard refused the address (or a non-http(s) redirect)
 *   invalid_url   the URL cannot be parsed or is not http(s)
 */
#ifndef FERRY_SCRAPE_OUTCOME_H
#define FERRY_SCRAPE_OUTCOME_H

#include <curl/curl.h>
#include <stddef.h>

#include "words.h"

struct outcome {
    enum status status;
    int transient;   /* worth another attempt later */
    char error[160]; /* human-readable; "" when ok */
};

/* `http_status` 0 when no response arrived; `blocked`/`too_large` from the
 * guard and the body cap; `curl_msg` curl's error buffer (may be ""). */
void outcome_classify(struct outcome *o, CURLcode rc, long http_status, int blocked,
                      const char *blocked_why, int too_large, const char *curl_msg);

#endif
