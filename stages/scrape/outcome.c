#include "outcome.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set(struct outcome *o, enum status status, int transient, const char *fmt,
                const char *a)
{
    o->status = status;
    o->transient = transient;
    snprintf(o->error, sizeof(o->error), fmt, a);
}

void outcome_classify(struct outcome *o, CURLcode rc, long http_status, int blocked,
                      const char *blocked_why, int too_large, const char *curl_msg)
{
    const char *msg = curl_msg && curl_msg[0] ? curl_msg : curl_easy_strerror(rc);
    if (blocked) {
        set(o, STATUS_BLOCKED, 0, "refused target: %s",
            blocked_why ? blocked_why : "private address");
        return;
    }
    if (too_large) {
        set(o, STATUS_TOO_LARGE, 0, "%s", "body larger than max_bytes");
        return;
    }
    switch (rc) {
    case CURLE_OK: break;
    case CURLE_OPERATION_TIMEDOUT: set(o, STATUS_TIMEOUT, 1, "%s", msg); return;
    case CURLE_COULDNT_RESOLVE_HOST: set(o, STATUS_DNS, 0, "%s", msg); return;
    case CURLE_COULDNT_CONNECT: set(o, STATUS_CONNECT, 0, "%s", msg); return;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: set(o, STATUS_CONNECT, 1, "connection reset: %s", msg); return;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED: set(o, STATUS_TLS, 0, "%s", msg); return;
    case CURLE_FILESIZE_EXCEEDED:
        set(o, STATUS_TOO_LARGE, 0, "%s", "body larger than max_bytes");
        return;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        /* After a redirect, an unsupported protocol is a Location to a
         * refused scheme (file:, gopher:): the target is refused. */
        if (rc == CURLE_UNSUPPORTED_PROTOCOL && http_status >= 300 && http_status < 400)
            set(o, STATUS_BLOCKED, 0, "redirect to a refused scheme: %s", msg);
        else
            set(o, STATUS_INVALID_URL, 0, "%s", msg);
        return;
    case CURLE_TOO_MANY_REDIRECTS:
        o->status = STATUS_HTTP_ERROR;
        o->transient = 0;
        snprintf(o->error, sizeof(o->error), "too many redirects (last status %ld)", http_status);
        return;
    case CURLE_BAD_CONTENT_ENCODING:
        set(o, STATUS_HTTP_ERROR, 0, "undecodable body: %s", msg);
        return;
    default: set(o, STATUS_CONNECT, 0, "%s", msg); return;
    }
    if (http_status == 404 || http_status == 410) {
        o->status = STATUS_NOT_FOUND;
        o->transient = 0;
        snprintf(o->error, sizeof(o->error), "http %ld", http_status);
        return;
    }
    if (http_status >= 400) {
        o->status = STATUS_HTTP_ERROR;
        o->transient =
            http_status == 429 || http_status == 502 || http_status == 503 || http_status == 504;
        snprintf(o->error, sizeof(o->error), "http %ld", http_status);
        return;
    }
    o->status = STATUS_OK;
    o->transient = 0;
    o->error[0] = '\0';
}
