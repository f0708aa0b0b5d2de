/*
 * crawl_mech_bench — figures for the crawl's per-link mechanisms, no broker:
 *
 *   seen N        N page keys into a seen set: table bytes, RSS growth,
 *                 adds and lookups per second, and the collision odds
 *   links N       N links resolved against their page and normalized
 *                 (crawlurl_resolve), per second
 *   robots N      N paths checked against a 200-rule robots.txt, per second
 *   page FILE N   the links of one HTML page (FILE, as fetched from
 *                 http://localhost/p/1) taken N times as scrape takes them
 *                 for the frontier (crawllinks_html): microseconds a page
 *
 * Prints one `key=value` line per figure. Used by tests/bench/bench_crawl.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crawllinks.h"
#include "crawlurl.h"
#include "robots.h"
#include "seen.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static int bench_seen(size_t n)
{
    struct seen s;
    if (seen_init(&s, "bat_01JD5Y3K0000000000000000", n))
        return 1;
    long rss0 = rss_kb();
    char key[128];
    double t0 = now();
    size_t dup = 0;
    for (size_t i = 0; i < n; i++) {
        int len =
            snprintf(key, sizeof(key), "www.example.com/section-%zu/article/%zu-title", i % 113, i);
        int rc = seen_add(&s, seen_hash(&s, key, (size_t)len));
        if (rc == 0)
            dup++; /* a collision: two keys, one hash */
        if (rc < 0)
            return 1;
        if (i % 1000 == 999)
            seen_journal_clear(&s); /* one changelog chunk per transaction */
    }
    double t1 = now();
    seen_journal_clear(&s);
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        int len =
            snprintf(key, sizeof(key), "www.example.com/section-%zu/article/%zu-title", i % 113, i);
        hits += (size_t)seen_has(&s, seen_hash(&s, key, (size_t)len));
    }
    double t2 = now();
    long rss1 = rss_kb();
    double nn = (double)n;
    printf("seen_pages=%zu\n", n);
    printf("seen_table_bytes=%zu\n", seen_memory(&s));
    printf("seen_bytes_per_page=%.1f\n", (double)seen_memory(&s) / nn);
    printf("seen_rss_growth_kb=%ld\n", rss1 - rss0);
    printf("seen_adds_per_s=%.0f\n", nn / (t1 - t0));
    printf("seen_lookups_per_s=%.0f\n", nn / (t2 - t1));
    printf("seen_found=%zu\n", hits);
    printf("seen_collisions_observed=%zu\n", dup);
    /* about n^2 / 2^65 expected collisions over the whole crawl */
    printf("seen_collision_odds_per_crawl=%.3g\n", nn * nn / 36893488147419103232.0);
    seen_release(&s);
    return hits == n ? 0 : 1;
}

static int bench_links(size_t n)
{
    static const char *hrefs[] = {"/about/",
                                  "../news/2024/01/story.html#comments",
                                  "https://www.example.com/shop?id=7",
                                  "contact.html",
                                  "//cdn.example.net/app.js",
                                  "mailto:team@example.com",
                                  "?page=3",
                                  "/caf%c3%a9/menu",
                                  "  /spaced link  "};
    size_t nh = sizeof(hrefs) / sizeof(hrefs[0]);
    struct crawlurl_base base;
    struct crawlurl u;
    char err[128];
    crawlurl_init(&u);
    if (crawlurl_base_init(&base, "https://www.example.com/blog/2024/post.html", err, sizeof(err)))
        return 1;
    size_t ok = 0;
    double t0 = now();
    for (size_t i = 0; i < n; i++)
        ok += crawlurl_resolve(&base, hrefs[i % nh], &u, err, sizeof(err)) == 0;
    double t1 = now();
    printf("links_resolved=%zu\n", ok);
    printf("links_per_s=%.0f\n", (double)n / (t1 - t0));
    crawlurl_base_release(&base);
    crawlurl_release(&u);
    return 0;
}

static int bench_robots(size_t n)
{
    struct buf txt = BUF_INIT(BUF_NO_MAX);
    buf_adds(&txt, "User-agent: *\nDisallow: /\n\nUser-agent: ferry\n");
    for (int i = 0; i < 100; i++)
        buf_addf(&txt, "Disallow: /private-%d/\nAllow: /*/public-%d$\n", i, i);
    struct robots *r = robots_parse(txt.ptr, txt.len, ROBOTS_PRODUCT);
    char path[128];
    size_t allowed = 0;
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/private-%zu/a/b/public-%zu?x=%zu", i % 150, i % 120, i);
        allowed += (size_t)robots_allowed(r, path);
    }
    double t1 = now();
    printf("robots_rules=200\n");
    printf("robots_allowed=%zu\n", allowed);
    printf("robots_checks_per_s=%.0f\n", (double)n / (t1 - t0));
    robots_free(r);
    buf_release(&txt);
    return 0;
}

static int bench_page(const char *path, size_t n)
{
    struct buf html = BUF_INIT(BUF_NO_MAX), out = BUF_INIT(BUF_NO_MAX);
    char chunk[65536];
    size_t got, links = 0;
    uint8_t key[SEEN_KEY_LEN];
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_add(&html, chunk, got);
    fclose(f);
    seen_key("bat_01M816TZ7MSG7GBE1TYYCV6RYZ", key);
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        buf_reset(&out);
        links = crawllinks_html(html.ptr, html.len, "http://localhost/p/1", key, CRAWLLINKS_MAX,
                                1 << 20, &out);
    }
    double t1 = now();
    printf("page_bytes=%zu\n", html.len);
    printf("page_links=%zu\n", links);
    printf("page_us=%.1f\n", (t1 - t0) * 1e6 / (double)(n ? n : 1));
    buf_release(&html);
    buf_release(&out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: crawl_mech_bench seen|links|robots N | page FILE N\n");
        return argc == 2 ? 0 : 2;
    }
    size_t n = strtoull(argv[2], NULL, 10);
    if (!strcmp(argv[1], "seen"))
        return bench_seen(n);
    if (!strcmp(argv[1], "links"))
        return bench_links(n);
    if (!strcmp(argv[1], "robots"))
        return bench_robots(n);
    if (!strcmp(argv[1], "page") && argc > 3)
        return bench_page(argv[2], strtoull(argv[3], NULL, 10));
    fprintf(stderr, "crawl_mech_bench: unknown mode %s\n", argv[1]);
    return 2;
}
