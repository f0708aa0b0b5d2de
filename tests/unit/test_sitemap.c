/* sitemap: urlset, sitemapindex, text, gzip, limits, broken and hostile
 * documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "buf.h"
#include "sitemap.h"

/* What the callback saw: the locations joined by "|", and their kinds. */
struct seen_locs {
    struct buf all;
    enum sitemap_kind kind;
    size_t n;
    size_t stop_after; /* 0: never stop */
};

static int on_loc(void *arg, enum sitemap_kind kind, const char *loc, size_t len)
{
    struct seen_locs *s = arg;
    assert_int_equal(strlen(loc), len);
    if (s->n++)
        buf_addc(&s->all, '|');
    buf_adds(&s->all, loc);
    s->kind = kind;
    return s->stop_after && s->n >= s->stop_after;
}

static int parse(const void *data, size_t len, const struct sitemap_limits *lim,
                 struct seen_locs *s, struct sitemap_stats *st, char *err, size_t err_size)
{
    memset(s, 0, sizeof(*s));
    buf_init(&s->all, BUF_NO_MAX);
    err[0] = '\0';
    return sitemap_parse(data, len, lim, on_loc, s, st, err, err_size);
}

/* gzip of data (one member). */
static unsigned char *gzip(const void *data, size_t len, size_t *out_len)
{
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, len) + 64;
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static const char urlset[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\"\n"
    "        xmlns:image=\"http://www.google.com/schemas/sitemap-image/1.1\">\n"
    "  <url><loc>https://example.com/</loc><lastmod>2024-01-01</lastmod></url>\n"
    "  <url>\n    <loc>\n      https://example.com/a?x=1&amp;y=2\n    </loc>\n"
    "    <image:image><image:loc>https://example.com/img.png</image:loc></image:image>\n"
    "  </url>\n"
    "  <url><loc><![CDATA[https://example.com/b]]></loc></url>\n"
    "  <url><loc/></url>\n"
    "  <url><changefreq>daily</changefreq></url>\n"
    "  <url><loc>https://example.com/c</loc></url>\n"
    "</urlset>\n";

static void test_urlset(void **state)
{
    (void)state;
    struct seen_locs s;
    struct sitemap_stats st;
    char err[256];
    assert_int_equal(parse(urlset, strlen(urlset), NULL, &s, &st, err, sizeof(err)), 0);
    assert_string_equal(buf_str(&s.all), "https://example.com/|https://example.com/a?x=1&y=2|"
                                         "https://example.com/b|https://example.com/c");
    assert_int_equal(st.kind, SITEMAP_URLSET);
    assert_int_equal(s.kind, SITEMAP_URLSET);
    assert_int_equal(st.locs, 4);
    assert_int_equal(st.gzip, 0);
    assert_int_equal(st.truncated, 0);
    assert_int_equal(st.bytes, strlen(urlset));
    buf_release(&s.all);
}

static void test_index_and_no_namespace(void **state)
{
    (void)state;
    static const char idx[] = "<sitemapindex>"
                              "<sitemap><loc>https://example.com/s1.xml.gz</loc></sitemap>"
                              "<sitemap><loc>https://example.com/s2.xml</loc>"
                              "<lastmod>2024-01-01</lastmod></sitemap>"
                              "<url><loc>https://example.com/not-a-sitemap</loc></url>"
                              "</sitemapindex>";
    struct seen_locs s;
    struct sitemap_stats st;
    char err[256];
    assert_int_equal(parse(idx, strlen(idx), NULL, &s, &st, err, sizeof(err)), 0);
    assert_string_equal(buf_str(&s.all),
                        "https://example.com/s1.xml.gz|https://example.com/s2.xml");
    assert_int_equal(st.kind, SITEMAP_INDEX);
    assert_string_equal(sitemap_kind_name(st.kind), "sitemapindex");
    buf_release(&s.all);
}

static void test_gzip(void **state)
{
    (void)state;
    size_t zlen;
    unsigned char *z = gzip(urlset, strlen(urlset), &zlen);
    struct seen_locs s;
    struct sitemap_stats st;
    char err[256];
    assert_int_equal(parse(z, zlen, NULL, &s, &st, err, sizeof(err)), 0);
    assert_int_equal(st.gzip, 1);
    assert_int_equal(st.locs, 4);
    assert_int_equal(st.bytes, strlen(urlset));
    buf_release(&s.all);

    /* two members in a row are one file */
    static const char part1[] = "https://example.com/1\nhttps://exam";
    static const char part2[] = "ple.com/2\n";
    size_t l1, l2;
    unsigned char *z1 = gzip(part1, strlen(part1), &l1), *z2 = gzip(part2, strlen(part2), &l2);
    unsigned char *both = malloc(l1 + l2);
    memcpy(both, z1, l1);
    memcpy(both + l1, z2, l2);
    assert_int_equal(parse(both, l1 + l2, NULL, &s, &st, err, sizeof(err)), 0);
    assert_string_equal(buf_str(&s.all), "https://example.com/1|https://example.com/2");
    buf_release(&s.all);

    /* cut short, or corrupt: an error, after what could be read */
    assert_int_equal(parse(z, zlen / 2, NULL, &s, &st, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "gzip"));
    buf_release(&s.all);
    z[zlen / 2] ^= 0x55;
    z[zlen / 2 + 1] ^= 0x55;
    assert_int_equal(parse(z, zlen, NULL, &s, &st, err, sizeof(err)), -1);
    buf_release(&s.all);
    free(z);
    free(z1);
    free(z2);
    free(both);
}

static void test_text(void **state)
{
    (void)state;
    static const char txt[] = "\xEF\xBB\xBFhttps://example.com/a\r\n\r\n  https://example.com/b  \n"
                              "https://example.com/c";
    struct seen_locs s;
    struct sitemap_stats st;
    char err[256];
    assert_int_equal(parse(txt, strlen(txt), NULL, &s, &st, err, sizeof(err)), 0);
    assert_string_equal(buf_str(&s.all),
                        "https://example.com/a|https://example.com/b|https://example.com/c");
    assert_int_equal(st.kind, SITEMAP_TEXT);
    buf_release(&s.all);
}

/* A big urlset of n entries. */
static char *big_urlset(size_t n, size_t *len)
{
    struct buf b = BUF_INIT(BUF_NO_MAX);
    buf_adds(&b, "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    for (size_t i = 0; i < n; i++)
        buf_addf(&b, "<url><loc>https://example.com/p/%zu</loc></url>\n", i);
    buf_adds(&b, "</urlset>\n");
    return buf_detach(&b, len);
}

static void test_limits(void **state)
{
    (void)state;
    size_t len;
    char *doc = big_urlset(60000, &len);
    struct seen_locs s;
    struct sitemap_stats st;
    char err[256];

    /* the protocol's 50,000 by default */
    assert_int_equal(parse(doc, len, NULL, &s, &st, err, sizeof(err)), 0);
    assert_int_equal(st.locs, SITEMAP_MAX_LOCS);
    assert_int_equal(s.n, SITEMAP_MAX_LOCS);
    assert_int_equal(st.truncated, 1);
    buf_release(&s.all);

    struct sitemap_limits lim = {.max_locs = 10};
    assert_int_equal(parse(doc, len, &lim, &s, &st, err, sizeof(err)), 0);
    assert_int_equal(s.n, 10);
    assert_int_equal(st.truncated, 1);
    buf_release(&s.all);

    /* the byte limit cuts the document: what came before stands */
    lim = (struct sitemap_limits){.max_bytes = 100000};
    assert_int_equal(parse(doc, len, &lim, &s, &st, err, sizeof(err)), 0);
    assert_int_equal(st.truncated, 1);
    assert_true(st.bytes <= 100000);
    assert_true(s.n > 1000 && s.n < 3000);
    buf_release(&s.all);

    /* the callback may stop the reading */
    memset(&s, 0, sizeof(s));
    buf_init(&s.all, BUF_NO_MAX);
    s.stop_after = 3;
    assert_int_equal(sitemap_parse(doc, len, NULL, on_loc, &s, &st, err, sizeof(err)), 0);
    assert_int_equal(s.n, 3);
    buf_release(&s.all);
    free(doc);

    /* a gzip bomb: 64 MB of empty entries in a few hundred KB stops at the cap */
    size_t bomb_len = 64u << 20;
    char *bomb = malloc(bomb_len);
    memset(bomb, ' ', bomb_len);
    memcpy(bomb, "<urlset>", 8);
    for (size_t i = 8; i + 11 <= bomb_len; i += 11)
        memcpy(bomb + i, "<url></url>", 11);
    size_t zlen;
    unsigned char *z = gzip(bomb, bomb_len, &zlen);
    free(bomb);
    assert_true(zlen < 512u << 10);
    assert_int_equal(parse(z, zlen, NULL, &s, &st, err, sizeof(err)), 0);
    assert_int_equal(st.truncated, 1);
    assert_int_equal(st.bytes, SITEMAP_MAX_BYTES);
    buf_release(&s.all);
    free(z);

    /* a location longer than SITEMAP_LOC_MAX is skipped, the next one read */
    struct buf b = BUF_INIT(BUF_NO_MAX);
    buf_adds(&b, "<urlset><url><loc>https://example.com/");
    for (int i = 0; i < SITEMAP_LOC_MAX; i++)
        buf_addc(&b, 'a');
    buf_adds(&b, "</loc></url><url><loc>https://example.com/ok</loc></url></urlset>");
    assert_int_equal(parse(b.ptr, b.len, NULL, &s, &st, err, sizeof(err)), 0);
    assert_string_equal(buf_str(&s.all), "https://example.com/ok");
    buf_release(&s.all);
    buf_release(&b);
}

static void test_broken_and_hostile(void **state)
{
    (void)state;
    struct seen_locs s;
    struct sitemap_stats st;
    char err[256];

    static const char html[] = "<!DOCTYPE html><html><body>Not found</body></html>";
    assert_int_equal(parse(html, strlen(html), NULL, &s, &st, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a sitemap"));
    buf_release(&s.all);

    /* broken after two entries: an error, and the two stand */
    static const char cut[] = "<urlset><url><loc>https://example.com/1</loc></url>"
                              "<url><loc>https://example.com/2</loc></url><url><loc>https://ex";
    assert_int_equal(parse(cut, strlen(cut), NULL, &s, &st, err, sizeof(err)), -1);
    assert_int_equal(s.n, 2);
    assert_true(err[0] != '\0');
    buf_release(&s.all);

    /* an external entity is never read */
    static const char xxe[] = "<?xml version=\"1.0\"?>\n"
                              "<!DOCTYPE urlset [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n"
                              "<urlset><url><loc>https://example.com/&xxe;</loc></url>"
                              "<url><loc>https://example.com/after</loc></url></urlset>";
    assert_int_equal(parse(xxe, strlen(xxe), NULL, &s, &st, err, sizeof(err)), 0);
    assert_string_equal(buf_str(&s.all), "https://example.com/after");
    buf_release(&s.all);

    /* nested entities (billion laughs): refused, nothing expanded */
    static const char laughs[] =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE urlset [\n"
        "<!ENTITY a \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">\n"
        "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
        "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n"
        "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">\n"
        "<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">\n"
        "<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">\n"
        "<!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">\n"
        "]>\n<urlset><url><loc>https://example.com/&g;</loc></url></urlset>";
    assert_int_equal(parse(laughs, strlen(laughs), NULL, &s, &st, err, sizeof(err)), -1);
    assert_int_equal(s.n, 0);
    buf_release(&s.all);

    /* empty body: no locations, no crash */
    assert_int_equal(parse("", 0, NULL, &s, &st, err, sizeof(err)), 0);
    assert_int_equal(s.n, 0);
    buf_release(&s.all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urlset), cmocka_unit_test(test_index_and_no_namespace),
        cmocka_unit_test(test_gzip),   cmocka_unit_test(test_text),
        cmocka_unit_test(test_limits), cmocka_unit_test(test_broken_and_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
