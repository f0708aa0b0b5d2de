/*
 * extract_run — runs a profile's (or a spec file's) extraction rules on a
 * saved page, as scrape would, and prints {"status", "data"}.
 *
 *   extract_run PROFILE PAGE.html URL [HEADER: VALUE ...]
 *   extract_run --spec SPEC.json PAGE.html URL [HEADER: VALUE ...]
 *   extract_run --bench ROUNDS PROFILE PAGE.html...
 *
 * Profiles are the built-in ones plus FERRY_PROFILES_DIR. For writing and
 * checking rules against real pages, and for the tests.
 *
 * --bench: the CPU cost per page of an endpoint item's extraction, as
 * scrape does it: extract_run() with no format but the kept document (the
 * parse, into the thread's arena as scrape installs it), then
 * xrules_apply() (the rules, the data's JSON), then the release. Every page
 * is run ROUNDS times in turn; prints the CPU time per page of the parse
 * (with the release) and of the rules (CLOCK_PROCESS_CPUTIME_ID). Under
 * callgrind, `--toggle-collect=bench_*` counts the instructions of a page
 * (bench_parse_one, bench_apply_one, bench_release_one; tests/bench/
 * bench_extract.sh does it on the Amazon product fixtures).
 * FERRY_NO_ARENA=1 leaves libxml2's allocator alone. Exits 1 when a page
 * gives no data.
 */
#include <libxml/HTMLparser.h>
#include <libxml/HTMLtree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extract.h"
#include "hparse.h"
#include "jx.h"
#include "profile.h"
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
    char *buf = malloc((size_t)n + 1);
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

/* extract_run --bench ROUNDS PROFILE PAGE.html...: argv from ROUNDS on. */
static int bench_main(int argc, char **argv)
{
    if (argc < 3 || atoi(argv[0]) < 1) {
        fprintf(stderr, "usage: extract_run --bench ROUNDS PROFILE PAGE.html...\n");
        return 2;
    }
    int rounds = atoi(argv[0]), npages = argc - 2, rc = 0;
    if (!getenv("FERRY_NO_ARENA"))
        xarena_install(); /* as scrape does */
    char err[300];
    struct xrules *xr = xrules_new(NULL, err, sizeof(err));
    if (!xr) {
        fprintf(stderr, "extract_run: %s\n", err);
        return 1;
    }
    json_t *req = json_pack("{s:{s:s}}", "endpoint", "name", argv[1]);
    struct xrules_use use;
    if (xrules_resolve(xr, req, &use, err, sizeof(err)) || !use.spec) {
        fprintf(stderr, "extract_run: %s\n", use.spec ? err : "no such profile");
        return 1;
    }
    char **html = calloc((size_t)npages, sizeof(*html));
    size_t *len = calloc((size_t)npages, sizeof(*len)), bytes = 0;
    for (int i = 0; i < npages; i++) {
        if (!(html[i] = slurp(argv[2 + i], &len[i]))) {
            fprintf(stderr, "extract_run: cannot read %s\n", argv[2 + i]);
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

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0)
        return bench_main(argc - 2, argv + 2);
    if (argc < 4 || (strcmp(argv[1], "--spec") == 0 && argc < 5)) {
        fprintf(stderr,
                "usage: extract_run PROFILE|--spec SPEC.json PAGE.html URL [HEADER: VALUE ...]\n"
                "       extract_run --bench ROUNDS PROFILE PAGE.html...\n");
        return 2;
    }
    int spec_mode = strcmp(argv[1], "--spec") == 0;
    const char *page_path = argv[spec_mode ? 3 : 2], *url = argv[spec_mode ? 4 : 3];
    int first_header = spec_mode ? 5 : 4;
    char err[400];
    struct profiles *ps = NULL;
    struct xspec *own = NULL;
    const struct xspec *x;
    if (spec_mode) {
        size_t n;
        char *text = slurp(argv[2], &n);
        json_t *spec = text ? jx_parse(text, n, 32, err, sizeof(err)) : NULL;
        free(text);
        own = spec ? xspec_compile(spec, err, sizeof(err)) : NULL;
        json_decref(spec);
        if (!own) {
            fprintf(stderr, "extract_run: %s: %s\n", argv[2], text ? err : "cannot read");
            return 1;
        }
        x = own;
    } else {
        ps = profiles_load(getenv("FERRY_PROFILES_DIR"), err, sizeof(err));
        if (!ps) {
            fprintf(stderr, "extract_run: %s\n", err);
            return 1;
        }
        const struct profile *p = profiles_get(ps, argv[1]);
        if (!p) {
            fprintf(stderr, "extract_run: no profile named %s\n", argv[1]);
            return 1;
        }
        x = p->extract;
    }
    size_t len;
    char *html = slurp(page_path, &len);
    if (!html) {
        fprintf(stderr, "extract_run: cannot read %s\n", page_path);
        return 1;
    }
    struct xpage_header headers[64];
    size_t nh = 0;
    for (int i = first_header; i < argc && nh < 64; i++) {
        char *colon = strchr(argv[i], ':');
        if (!colon)
            continue;
        *colon = '\0';
        headers[nh].name = argv[i];
        headers[nh].value = colon + 1 + strspn(colon + 1, " ");
        nh++;
    }
    htmlDocPtr doc = hparse_read(html, len, url);
    struct xpage pg;
    xpage_init(&pg, doc, url, headers, nh, html, len);
    enum xspec_status st;
    json_t *data = xspec_eval(x, &pg, NULL, &st);
    static const char *const words[] = {"ok", "empty", "captcha"};
    json_t *out = json_pack("{s:s,s:o}", "status", words[st], "data", data);
    char *s = jx_dump(out, NULL);
    puts(s);
    free(s);
    json_decref(out);
    xpage_release(&pg);
    xmlFreeDoc(doc);
    free(html);
    xspec_free(own);
    profiles_free(ps);
    return 0;
}
