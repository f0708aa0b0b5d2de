/*
 * extract_bench — CPU cost of extraction rules on 50 KB pages (issue 12:
 * a 10-field spec under 150 µs of CPU per page).
 *
 *   extract_bench [PAGES] [ROUNDS]
 *
 * Generates PAGES distinct product pages of about 50 KB (head with metas
 * and scripts, navigation, a gallery, bullets, reviews, footer: the shape
 * of a real shop page), compiles one 10-field spec once, then parses and
 * evaluates every page ROUNDS times. Prints parse and evaluate CPU time per
 * page separately (scrape parses a page once for every format asked; the
 * rules run on that document), from CLOCK_PROCESS_CPUTIME_ID.
 *
 * Under callgrind, `--toggle-collect=bench_eval_one` counts the
 * instructions of evaluation alone (tests/bench/bench_extract.sh does it).
 */
#include <libxml/HTMLparser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "hparse.h"
#include "jx.h"
#include "xspec.h"

static const char spec_text[] =
    "{\"fields\":{"
    "\"title\":\"#productTitle\","
    "\"brand\":{\"selector\":\"#bylineInfo\",\"regex\":\"^Brand: (.+)$\"},"
    "\"price\":{\"selector\":[\"#corePrice .a-price .a-offscreen\",\"#priceblock_ourprice\"],"
    "\"type\":\"price\"},"
    "\"list_price\":{\"selector\":\".basisPrice .a-offscreen\",\"type\":\"price\"},"
    "\"rating\":{\"selector\":\"#acrPopover\",\"attr\":\"title\",\"type\":\"number\"},"
    "\"ratings_count\":{\"selector\":\"#acrCustomerReviewText\",\"type\":\"integer\"},"
    "\"availability\":\"#availability span\","
    "\"images\":{\"selector\":\"#altImages li.item img\",\"attr\":\"src\",\"type\":\"url\","
    "\"all\":true},"
    "\"features\":{\"selector\":\"#feature-bullets li span.a-list-item\",\"all\":true},"
    "\"categories\":{\"selector\":\"#breadcrumbs li:not(.divider) a\",\"all\":true}}}";

static void page(struct buf *b, int n)
{
    buf_addf(b,
             "<!doctype html><html lang=en-us><head><meta charset=utf-8>"
             "<title>Product %d</title>",
             n);
    for (int i = 0; i < 30; i++)
        buf_addf(b, "<meta name='m%d' content='value %d of page %d'>", i, i, n);
    for (int i = 0; i < 12; i++)
        buf_addf(b, "<link rel=stylesheet href='/static/css/c%d.css?v=%d'>", i, n);
    buf_adds(b, "<script>var config = {\"a\":1,\"b\":[1,2,3],\"c\":\"");
    for (int i = 0; i < 40; i++)
        buf_adds(b, "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod ");
    buf_adds(b, "\"};</script></head><body><div id=nav><ul>");
    for (int i = 0; i < 60; i++)
        buf_addf(b, "<li class='nav-item n%d'><a href='/c/%d'>Category %d</a></li>", i, i, i);
    buf_adds(b, "</ul></div><div id=breadcrumbs><ul>");
    for (int i = 0; i < 4; i++)
        buf_addf(b, "<li><a href='/b/%d'>Level %d</a></li><li class=divider>›</li>", i, i);
    buf_addf(b, "</ul></div><div id=main><div id=leftCol><div id=altImages><ul>");
    for (int i = 0; i < 8; i++)
        buf_addf(b,
                 "<li class='item imageThumbnail'><span><img src='/images/I/%d-%d._AC_US40_.jpg'>"
                 "</span></li>",
                 n, i);
    buf_addf(b,
             "</ul></div></div><div id=centerCol><h1 id=title><span id=productTitle>  "
             "Product number %d with a long descriptive title  </span></h1>"
             "<a id=bylineInfo href='/brand'>Brand: Maker %d</a>"
             "<span id=acrPopover title='4.%d out of 5 stars'></span>"
             "<span id=acrCustomerReviewText>%d,%03d ratings</span>"
             "<div id=corePrice><span class=a-price><span class=a-offscreen>$%d.99</span>"
             "</span></div><div class=basisPrice><span class=a-offscreen>$%d.99</span></div>"
             "<div id=availability><span> In Stock </span></div><div id=feature-bullets><ul>",
             n, n % 50, n % 10, 1 + n % 90, n % 1000, 10 + n % 500, 20 + n % 500);
    for (int i = 0; i < 6; i++)
        buf_addf(b,
                 "<li><span class=a-list-item> Feature %d of product %d: it does a useful "
                 "thing well </span></li>",
                 i, n);
    buf_adds(b, "</ul></div></div></div><div id=reviews>");
    while (b->len < 47 * 1024)
        buf_addf(b,
                 "<div class=review><div class=head><span class=stars>5</span><a href='/r/%zu'>"
                 "Great</a></div><p class=body>Works as described, would buy again. Shipping "
                 "was quick and the packaging was fine.</p></div>",
                 b->len);
    buf_adds(b, "</div><footer><ul>");
    for (int i = 0; i < 30; i++)
        buf_addf(b, "<li><a href='/f/%d'>Footer link %d</a></li>", i, i);
    buf_adds(b, "</ul></footer></body></html>");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Not static: callgrind's --toggle-collect names it. */
json_t *bench_eval_one(const struct xspec *x, struct xpage *pg);
__attribute__((noinline)) json_t *bench_eval_one(const struct xspec *x, struct xpage *pg)
{
    enum xspec_status st;
    return xspec_eval(x, pg, NULL, &st);
}

int main(int argc, char **argv)
{
    int pages = argc > 1 ? atoi(argv[1]) : 50;
    int rounds = argc > 2 ? atoi(argv[2]) : 20;
    if (pages < 1 || rounds < 1) {
        fprintf(stderr, "usage: extract_bench [PAGES] [ROUNDS]\n");
        return 2;
    }
    char err[300];
    json_t *spec = jx_parse(spec_text, sizeof(spec_text) - 1, 16, err, sizeof(err));
    struct xspec *x = spec ? xspec_compile(spec, err, sizeof(err)) : NULL;
    if (!x) {
        fprintf(stderr, "extract_bench: %s\n", err);
        return 1;
    }
    struct buf *html = calloc((size_t)pages, sizeof(*html));
    size_t bytes = 0;
    for (int i = 0; i < pages; i++) {
        buf_init(&html[i], BUF_NO_MAX);
        page(&html[i], i);
        bytes += html[i].len;
    }
    int fast = 0; /* pages the fast parser takes itself (hparse.h) */
    for (int i = 0; i < pages; i++) {
        htmlDocPtr d = hparse_fast(html[i].ptr, html[i].len, "https://shop.example/p");
        fast += d != NULL;
        if (d)
            xmlFreeDoc(d);
    }
    double parse_s = 0, eval_s = 0;
    size_t values = 0;
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < pages; i++) {
            double t0 = now();
            htmlDocPtr doc = hparse_read(html[i].ptr, html[i].len, "https://shop.example/p");
            double t1 = now();
            struct xpage pg;
            xpage_init(&pg, doc, "https://shop.example/p", NULL, 0, html[i].ptr, html[i].len);
            json_t *out = bench_eval_one(x, &pg);
            xpage_release(&pg);
            double t2 = now();
            const char *k;
            json_t *v;
            json_object_foreach(out, k, v) values += !json_is_null(v);
            json_decref(out);
            xmlFreeDoc(doc);
            parse_s += t1 - t0, eval_s += t2 - t1;
        }
    double n = (double)pages * rounds;
    printf("extract: 10-field spec, %d pages of %.1f KB on average, %d rounds; %d of the pages "
           "parsed by the fast path (shared/hparse.h)\n",
           pages, (double)bytes / pages / 1024, rounds, fast);
    printf("extract: evaluate %.1f us CPU/page (target < 150), parse %.1f us/page, "
           "%.1f of 10 fields found per page\n",
           eval_s / n * 1e6, parse_s / n * 1e6, (double)values / n);
    for (int i = 0; i < pages; i++)
        buf_release(&html[i]);
    free(html);
    xspec_free(x);
    json_decref(spec);
    return values == (size_t)n * 10 ? 0 : 1;
}
