/*
 * api — one HTTP request to ferry's API through libcurl's easy interface,
 * and the answer read into a capped buffer and parsed as JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "cli.h"
#include "jx.h"

/* The largest answer read: a results page of 1,000 items with large pages
 * inline can be big, but an endless body from a wrong URL must stop. */
#define ANSWER_MAX   ((size_t)1 << 30)
#define ANSWER_DEPTH 64

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    /* A short count makes curl stop with CURLE_WRITE_ERROR. */
    return buf_add(b, data, size * n) ? 0 : size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct api_answer *ans = arg;
    static const char name[] = "idempotent-replayed:";
    size_t len = size * n;
    if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        const char *v = data + sizeof(name) - 1;
        while (*v == ' ')
            v++;
        ans->idempotent_replayed = strncasecmp(v, "true", 4) == 0;
    }
    return len;
}

/* base + path, without doubling the slash between them; a full URL (a
 * `next` link another server built) is taken as it is. */
static char *join_url(const char *base, const char *path)
{
    struct buf u = BUF_INIT(BUF_NO_MAX);
    if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0) {
        buf_adds(&u, path);
    } else {
        size_t n = strlen(base);
        while (n && base[n - 1] == '/')
            n--;
        buf_add(&u, base, n);
        buf_adds(&u, path);
    }
    return buf_detach(&u, NULL);
}

int api_request(const struct cli *c, const char *method, const char *path, const char *body,
                size_t body_len, const char *extra_header, struct api_answer *ans)
{
    struct curl_slist *hdrs = NULL;
    char auth[1100], ua[64];
    char *url = join_url(c->url, path);
    int code = EXIT_SERVER;

    memset(ans, 0, sizeof(*ans));
    buf_init(&ans->body, ANSWER_MAX);
    CURL *h = curl_easy_init();
    if (!h || !url) {
        snprintf(ans->error, sizeof(ans->error), "out of memory");
        goto out;
    }
    snprintf(ua, sizeof(ua), "ferry-cli/%s", FERRY_VERSION);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if (c->api_key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %.1000s", c->api_key);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (body)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (extra_header)
        hdrs = curl_slist_append(hdrs, extra_header);
    /* No "Expect: 100-continue" round trip before a large submit body. */
    hdrs = curl_slist_append(hdrs, "Expect:");

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, ua);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms < 10000 ? c->timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &ans->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, ans);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }

    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        snprintf(ans->error, sizeof(ans->error), "%s: %s", url,
                 rc == CURLE_WRITE_ERROR ? "the answer is larger than 1 GiB"
                                         : curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ans->status);
    if (ans->body.len)
        ans->json = jx_parse(ans->body.ptr, ans->body.len, ANSWER_DEPTH, NULL, 0);
    if (ans->status >= 200 && ans->status < 300)
        code = ans->json ? EXIT_OK : EXIT_SERVER;
    else if (ans->status >= 400 && ans->status < 500)
        code = EXIT_API;
    if (code == EXIT_SERVER && ans->status >= 200 && ans->status < 300)
        snprintf(ans->error, sizeof(ans->error), "%s: HTTP %ld with an answer that is not JSON",
                 url, ans->status);
out:
    curl_slist_free_all(hdrs);
    if (h)
        curl_easy_cleanup(h);
    free(url);
    return code;
}

int api_report(const struct cli *c, int code, const struct api_answer *ans)
{
    if (ans->status == 0 || (ans->error[0] && ans->status < 300))
        return cli_fail(c, code, "%s", ans->error);
    const json_t *err = json_object_get(ans->json, "error");
    if (!json_is_object(err)) {
        /* Not ferry's error format: a proxy, a wrong URL. Show its start. */
        int n = ans->body.len > 200 ? 200 : (int)ans->body.len;
        return cli_fail(c, code, "HTTP %ld: %.*s", ans->status, n, buf_str(&ans->body));
    }
    if (c->json) {
        /* Scripts get the API's error document as it came, on stdout. */
        cli_print_json(ans->json);
    }
    const json_t *details = json_object_get(err, "details");
    char *d = details && !json_is_null(details) ? jx_dump(details, NULL) : NULL;
    cli_fail(c, code, "HTTP %ld %s: %s%s%s", ans->status, jx_str(err, "code", "error"),
             jx_str(err, "message", ""), d ? " " : "", d ? d : "");
    free(d);
    return code;
}

void api_answer_release(struct api_answer *ans)
{
    buf_release(&ans->body);
    json_decref(ans->json);
    ans->json = NULL;
}
