/*
 * fuzz_httpd — libFuzzer target for the request reader (shared/httpd_parse.h):
 * the bytes a client sends, as head, then chunked body, then query escapes.
 *
 *   make fuzz    builds it with clang -fsanitize=fuzzer,address and runs it
 *                for FUZZ_SECONDS on tests/fuzz/corpus/httpd
 *
 * Invariants beyond "no crash, no leak, no hang":
 *   - a scan resumed byte by byte ends where one scan over all bytes ends;
 *   - a parsed head's strings lie inside the head and hold no control byte
 *     but tab; a refusal is one of the statuses httpd answers;
 *   - the chunked reader never consumes more than it was given, and the
 *     body it produced never passes its cap;
 *   - a decoded escape string is never longer than its input, and holds no
 *     NUL unless the input had one raw (targets never do: the head refuses
 *     control bytes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpd_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_head(const char *h, size_t len, const struct httpd_head *head)
{
    const char *strs[2 + 2 * HTTPD_MAX_HEADERS];
    size_t n = 0;
    strs[n++] = head->method;
    strs[n++] = head->target;
    for (size_t i = 0; i < head->n_headers; i++) {
        strs[n++] = head->h[i].name;
        strs[n++] = head->h[i].value;
    }
    for (size_t i = 0; i < n; i++) {
        if (strs[i] < h || strs[i] >= h + len)
            abort();
        for (const char *p = strs[i]; *p; p++)
            if ((unsigned char)*p < 0x20 && *p != '\t')
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t scanned = 0, step = 0;
    long end = httpd_head_scan(in, size, &scanned, 4096);
    long resumed = 0;
    for (size_t n = 1; n <= size && resumed == 0; n++)
        resumed = httpd_head_scan(in, n, &step, 4096);
    if (end != resumed && !(end == 0 && resumed == 0))
        abort();
    if (end > 0) {
        char *h = malloc((size_t)end + 1);
        memcpy(h, in, (size_t)end);
        h[end] = '\0';
        struct httpd_head head;
        const char *why;
        int st = httpd_head_parse(h, (size_t)end, &head, &why);
        if (st == 0)
            check_head(h, (size_t)end, &head);
        else if (st != 400 && st != 417 && st != 431 && st != 501 && st != 505)
            abort();
        free(h);
        /* The rest as a chunked body under a small cap. */
        struct httpd_chunked c = {0};
        struct buf body = BUF_INIT(256);
        long used = httpd_chunked_feed(&c, in + end, size - (size_t)end, &body);
        if (used > (long)(size - (size_t)end) || body.len > 256)
            abort();
        buf_release(&body);
    }
    char *out = malloc(size + 1);
    long n = httpd_pct_decode(in, size, out, 1);
    if (n > (long)size || (n >= 0 && !memchr(in, 0, size) && memchr(out, 0, (size_t)n)))
        abort();
    free(out);
    return 0;
}
