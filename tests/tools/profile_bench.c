/*
 * profile_bench — CPU cost per page of an endpoint item's extraction, as
 * scrape does it: extract_run() with no format but the kept document (the
 * parse), then xrules_apply() (the profile's rules, the data's JSON).
 *
 *   profile_bench PROFILE ROUNDS PAGE.html...
 *
 * Every page is run ROUNDS times in turn. Prints the CPU time per page for
 * the parse (with the release of the tree) and for the rules apart
 * (CLOCK_PROCESS_CPUTIME_ID). Under callgrind, `--toggle-collect=bench_*`
 * counts the instructions of a page (bench_parse_one, bench_apply_one,
 * bench_release_one: tests/bench/bench_extract.sh does it on the Amazon
 * product fixtures). FERRY_NO_ARENA=1 leaves libxml2's allocator alone
 * (scrape installs xarena.h's).
 * Exits 1 when a page gives no data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extract.h"
#include "xarena.h"
#include "xrules.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    *len = buf ? fread(buf, 1, (size_t)n, f) : 0;
    if (buf)
        buf[*len] = '\0';
    fclose(f);
    return buf;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not static: callgrind's --toggle-collect names them. */
void bench_parse_one(struct extract *ex, const char *html, size_t len, const char *url);
char *bench_apply_one(const struct xrules_use *use, const struct extract *ex, const char *url,
                      enum status *st);
void bench_release_one(struct extract *ex, char *data);

__attribute__((noinline)) void bench_parse_one(struct extract *ex, const char *html, size_t len,
                                               const char *url)
{
    extract_run(ex, html, len, "text/html; charset=utf-8", url, EXTRACT_KEEP_DOC);
}

__attribute__((noinline)) char *bench_apply_one(const struct xrules_use *use,
                                                const struct extract *ex, const char *url,
                                                enum status *st)
{
    const struct xrules_page page = {
        .doc = ex->doc, .url = url, .body = ex->html, .body_len = ex->html_len};
    size_t len;
    char error[160];
    return xrules_apply(use, &page, &len, st, error, sizeof(error));
}

__attribute__((noinline)) void bench_release_one(struct extract *ex, char *data)
{
    free(data);
    extract_release(ex);
}

int main(int argc, char **argv)
{
    if (argc < 4 || atoi(argv[2]) < 1) {
        fprintf(stderr, "usage: profile_bench PROFILE ROUNDS PAGE.html...\n");
        return 2;
    }
    int rounds = atoi(argv[2]), npages = argc - 3, rc = 0;
    if (!getenv("FERRY_NO_ARENA"))
        xarena_install(); /* as scrape does */
    char err[300];
    struct xrules *xr = xrules_new(NULL, err, sizeof(err));
    if (!xr) {
        fprintf(stderr, "profile_bench: %s\n", err);
        return 1;
    }
    json_t *req = json_pack("{s:{s:s}}", "endpoint", "name", argv[1]);
    struct xrules_use use;
    if (xrules_resolve(xr, req, &use, err, sizeof(err)) || !use.spec) {
        fprintf(stderr, "profile_bench: %s\n", use.spec ? err : "no such profile");
        return 1;
    }
    char **html = calloc((size_t)npages, sizeof(*html));
    size_t *len = calloc((size_t)npages, sizeof(*len)), bytes = 0;
    for (int i = 0; i < npages; i++) {
        if (!(html[i] = slurp(argv[3 + i], &len[i]))) {
            fprintf(stderr, "profile_bench: cannot read %s\n", argv[3 + i]);
            return 1;
        }
        bytes += len[i];
    }
    const char *url = "https://www.amazon.com/dp/B09VPHVT2Z";
    double parse_s = 0, apply_s = 0;
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < npages; i++) {
            struct extract ex;
            enum status st;
            double t0 = now();
            bench_parse_one(&ex, html[i], len[i], url);
            double t1 = now();
            char *data = bench_apply_one(&use, &ex, url, &st);
            double t2 = now();
            if (!data || st != STATUS_OK)
                rc = 1;
            bench_release_one(&ex, data);
            parse_s += now() - t2 + t1 - t0, apply_s += t2 - t1;
        }
    double n = (double)rounds * npages;
    printf("profile %s: %d pages of %.1f KB on average, %d rounds: parse %.1f us CPU/page, "
           "rules %.1f us/page\n",
           argv[1], npages, (double)bytes / npages / 1024, rounds, parse_s / n * 1e6,
           apply_s / n * 1e6);
    for (int i = 0; i < npages; i++)
        free(html[i]);
    free(html);
    free(len);
    xrules_use_release(xr, &use);
    json_decref(req);
    xrules_free(xr);
    return rc;
}
