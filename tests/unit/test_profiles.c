/* profiles: the built-in profiles on fixture pages (field by field), items
 * checked and expanded, user profile folders loaded or refused by name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/HTMLparser.h>

#include "extract.h"
#include "jx.h"
#include "testfile.h"
#include "profile.h"
#include "tech.h"
#include "xarena.h"

#define FIXTURES "tests/fixtures/extract/"

static struct profiles *ps;

static int setup(void **state)
{
    (void)state;
    char err[300];
    ps = profiles_load(NULL, err, sizeof(err));
    if (!ps)
        fprintf(stderr, "%s\n", err);
    return ps ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    profiles_free(ps);
    return 0;
}

/* Runs a built-in profile on a fixture page as scrape would: one parse
 * into the thread's arena (main installs it), the rules in that arena. */
static json_t *on_fixture(const char *profile, const char *file, const char *url,
                          const struct xpage_header *headers, size_t n_headers,
                          enum xspec_status *st)
{
    const struct profile *p = profiles_get(ps, profile);
    assert_non_null(p);
    char path[256];
    snprintf(path, sizeof(path), FIXTURES "%s", file);
    size_t len;
    char *html = testfile_read(path, &len);
    struct extract ex;
    extract_run(&ex, html, len, "text/html", url, EXTRACT_KEEP_DOC);
    assert_true(ex.arena);
    struct xpage pg;
    xpage_init(&pg, ex.doc, url, headers, n_headers, ex.html, ex.html_len);
    json_t *params = json_pack("{s:s}", "query", "B000000000");
    xarena_enter();
    json_t *out = xspec_eval(p->extract, &pg, params, st);
    xpage_release(&pg);
    xarena_leave();
    json_decref(params);
    extract_release(&ex);
    free(html);
    return out;
}

static void expect(const json_t *obj, const char *key, const char *want)
{
    const json_t *v = json_object_get(obj, key);
    char *got = v ? jx_dump(v, NULL) : strdup("(absent)"); /* the bytes scrape writes */
    if (strcmp(got, want) != 0)
        fail_msg("%s: got %s\n   want %s", key, got, want);
    free(got);
}

/* The documented field names, exactly, in order. */
static void expect_keys(const json_t *obj, const char *const *keys)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (!keys[n] || strcmp(k, keys[n]) != 0)
            fail_msg("field %zu is '%s', want '%s'", n, k, keys[n] ? keys[n] : "(end)");
        n++;
    }
    if (keys[n])
        fail_msg("field '%s' missing", keys[n]);
}

static const char *const product_keys[] = {
    "asin",         "title",  "brand",    "price",      "list_price",  "rating", "ratings_count",
    "availability", "images", "features", "categories", "description", NULL};

static void test_amazon_product_us(void **state)
{
    (void)state;
    enum xspec_status st;
    json_t *o = on_fixture("amazon.product", "amazon_product_us.html",
                           "https://www.amazon.com/dp/B09VPHVT2Z", NULL, 0, &st);
    assert_int_equal(st, XSPEC_OK);
    expect_keys(o, product_keys);
    expect(o, "asin", "\"B09VPHVT2Z\"");
    expect(o, "title",
           "\"Anker Portable Charger, 737 Power Bank (PowerCore 24K) with 140W Output\"");
    expect(o, "brand", "\"Anker\"");
    expect(o, "price", "{\"value\":39.99,\"currency\":\"USD\"}");
    expect(o, "list_price", "{\"value\":59.99,\"currency\":\"USD\"}");
    expect(o, "rating", "4.6");
    expect(o, "ratings_count", "12345");
    expect(o, "availability", "\"In Stock\"");
    expect(o, "images",
           "[\"https://m.media-amazon.com/images/I/61UyQpEJ2dL._AC_SL1500_.jpg\","
           "\"https://m.media-amazon.com/images/I/71xGkXqWZGL._AC_SL1500_.jpg\"]");
    expect(o, "features",
           "[\"The Power of Power: Charge a laptop, phone, and more with 140W of output.\","
           "\"Massive Capacity: 24,000mAh charges an iPhone 13 nearly 5 times.\","
           "\"What You Get: 737 Power Bank, USB-C to USB-C cable, welcome guide.\"]");
    expect(o, "categories",
           "[\"Electronics\",\"Cell Phones & Accessories\",\"Portable Power Banks\"]");
    expect(o, "description",
           "\"Anker 737 Power Bank (PowerCore 24K). Fast charging for laptops & phones.\"");
    json_decref(o);
}

static void test_amazon_product_de_old_layout(void **state)
{
    (void)state;
    enum xspec_status st;
    json_t *o = on_fixture("amazon.product", "amazon_product_de.html",
                           "https://www.amazon.de/dp/B00D8KFWIC", NULL, 0, &st);
    assert_int_equal(st, XSPEC_OK);
    expect_keys(o, product_keys);
    expect(o, "asin", "\"B00D8KFWIC\"");
    expect(o, "brand", "\"Bosch Professional\"");
    expect(o, "price", "{\"value\":1299,\"currency\":\"EUR\"}");
    expect(o, "list_price", "{\"value\":1499,\"currency\":\"EUR\"}");
    expect(o, "rating", "4.7");
    expect(o, "ratings_count", "2345");
    expect(o, "availability", "\"Auf Lager.\"");
    /* No gallery script: the hi-res main image, then the thumbnails. */
    expect(o, "images",
           "[\"https://m.media-amazon.com/images/I/61MAIN._AC_SL1200_.jpg\","
           "\"https://m.media-amazon.com/images/I/41AAA._AC_US40_.jpg\","
           "\"https://m.media-amazon.com/images/I/41BBB._AC_US40_.jpg\"]");
    expect(o, "features", "[\"Kompakt: nur 18 cm lang\",\"Drehmoment: 30 Nm\"]");
    expect(o, "categories", "[\"Baumarkt\",\"Elektrowerkzeuge\",\"Akku-Bohrschrauber\"]");
    expect(o, "description", "\"Der GSR 12V-15 ist der kompakte Bohrschrauber.\"");
    json_decref(o);
}

static void test_amazon_product_jp_book(void **state)
{
    (void)state;
    enum xspec_status st;
    json_t *o = on_fixture("amazon.product", "amazon_product_jp.html",
                           "https://www.amazon.co.jp/dp/4101010013", NULL, 0, &st);
    assert_int_equal(st, XSPEC_OK);
    expect(o, "asin", "\"4101010013\"");
    expect(o, "title",
           "\"\xe5\x90\xbe\xe8\xbc\xa9\xe3\x81\xaf\xe7\x8c\xab\xe3\x81\xa7\xe3\x81\x82"
           "\xe3\x82\x8b (\xe6\x96\xb0\xe6\xbd\xae\xe6\x96\x87\xe5\xba\xab)\"");
    expect(o, "brand", "\"\xe6\x96\xb0\xe6\xbd\xae\xe7\xa4\xbe\"");
    expect(o, "price", "{\"value\":1299,\"currency\":\"JPY\"}");
    expect(o, "list_price", "null");
    expect(o, "rating", "4.3"); /* "5つ星のうち4.3": the rating, not the 5 */
    expect(o, "ratings_count", "1024");
    expect(o, "images", "[\"https://m.media-amazon.com/images/I/51NEKO._SY346_.jpg\"]");
    expect(o, "features", "null");
    json_decref(o);
}

static void test_amazon_captcha_and_empty(void **state)
{
    (void)state;
    enum xspec_status st;
    json_t *o = on_fixture("amazon.product", "amazon_captcha.html",
                           "https://www.amazon.com/dp/B09VPHVT2Z", NULL, 0, &st);
    assert_int_equal(st, XSPEC_CAPTCHA);
    json_decref(o);
    o = on_fixture("amazon.search", "amazon_captcha.html", "https://www.amazon.com/s?k=x", NULL, 0,
                   &st);
    assert_int_equal(st, XSPEC_CAPTCHA);
    json_decref(o);
    /* A page that is not a product page (no title) is empty, not data. */
    o = on_fixture("amazon.product", "company_plain.html", "https://www.amazon.com/dp/X", NULL, 0,
                   &st);
    assert_int_equal(st, XSPEC_EMPTY);
    json_decref(o);
    o = on_fixture("amazon.search", "company_plain.html", "https://www.amazon.com/s?k=x", NULL, 0,
                   &st);
    assert_int_equal(st, XSPEC_EMPTY);
    json_decref(o);
}

static void test_amazon_search(void **state)
{
    (void)state;
    enum xspec_status st;
    json_t *o = on_fixture("amazon.search", "amazon_search.html",
                           "https://www.amazon.com/s?k=usb+c+charger", NULL, 0, &st);
    assert_int_equal(st, XSPEC_OK);
    static const char *const keys[] = {"results", NULL};
    expect_keys(o, keys);
    json_t *r = json_object_get(o, "results");
    assert_int_equal(json_array_size(r), 3); /* widgets without an ASIN are not results */
    static const char *const rkeys[] = {"position", "asin",          "title", "url",       "price",
                                        "rating",   "ratings_count", "image", "sponsored", NULL};
    expect_keys(json_array_get(r, 0), rkeys);
    json_t *a = json_array_get(r, 0), *b = json_array_get(r, 1), *c = json_array_get(r, 2);
    expect(a, "position", "1");
    expect(a, "asin", "\"B0BXQXQ5R1\"");
    expect(a, "title", "\"USB C Charger 65W, GaN Fast Charger Block\"");
    expect(a, "price", "{\"value\":25.99,\"currency\":\"USD\"}"); /* not the struck-out one */
    expect(a, "rating", "4.5");
    expect(a, "ratings_count", "3210");
    expect(a, "sponsored", "true");
    expect(b, "position", "2");
    expect(b, "asin", "\"B08T5QN6S3\"");
    expect(b, "url",
           "\"https://www.amazon.com/Apple-20W-USB-C-Power-Adapter/dp/B08T5QN6S3/"
           "ref=sr_1_2?keywords=usb+c+charger\"");
    expect(b, "price", "{\"value\":19,\"currency\":\"USD\"}");
    expect(b, "ratings_count", "98765");
    expect(b, "image", "\"https://m.media-amazon.com/images/I/51aple.jpg\"");
    expect(b, "sponsored", "false");
    expect(c, "position", "3");
    expect(c, "title", "\"Generic USB C Cable (no offers)\"");
    expect(c, "url", "\"https://www.amazon.com/Generic-Cable/dp/B0C1234567\"");
    expect(c, "price", "null");
    expect(c, "rating", "null");
    expect(c, "sponsored", "false");
    json_decref(o);
}

static const char *const company_keys[] = {"name",   "description", "logo",    "social",
                                           "emails", "phones",      "address", NULL};

static void test_company_jsonld(void **state)
{
    (void)state;
    enum xspec_status st;
    json_t *o = on_fixture("company", "company_jsonld.html", "https://acme.example/", NULL, 0, &st);
    assert_int_equal(st, XSPEC_OK);
    expect_keys(o, company_keys);
    expect(o, "name", "\"Acme Robotics, Inc.\"");
    expect(o, "description", "\"Acme builds industrial robots for small factories.\"");
    expect(o, "logo", "\"https://acme.example/static/logo-512.png\"");
    expect(o, "social",
           "{\"twitter\":\"https://twitter.com/acmerobotics\","
           "\"linkedin\":\"https://www.linkedin.com/company/acme-robotics/\","
           "\"github\":\"https://github.com/acme-robotics\","
           "\"facebook\":\"https://www.facebook.com/acmerobotics\","
           "\"instagram\":\"https://www.instagram.com/acme.robotics/\","
           "\"youtube\":\"https://www.youtube.com/@acmerobotics\"}");
    expect(o, "emails", "[\"hello@acme.example\",\"sales@acme.example\"]");
    expect(o, "phones", "[\"+1-415-555-0100\",\"+1-415-555-0199\"]");
    expect(o, "address", "\"100 Market St, San Francisco, CA 94105, US\"");
    json_decref(o);
}

static void test_company_without_jsonld(void **state)
{
    (void)state;
    enum xspec_status st;
    json_t *o = on_fixture("company", "company_plain.html", "https://mueller-soehne.example/", NULL,
                           0, &st);
    assert_int_equal(st, XSPEC_OK);
    expect_keys(o, company_keys);
    expect(o, "name", "\"M\xc3\xbcller & S\xc3\xb6hne\"");
    expect(o, "description", "\"Pr\xc3\xa4zisionsteile f\xc3\xbcr den Maschinenbau seit 1952.\"");
    expect(o, "logo", "\"https://mueller-soehne.example/assets/img/mueller-logo.png\"");
    expect(o, "social",
           "{\"twitter\":\"https://x.com/muellersoehne\","
           "\"linkedin\":\"https://de.linkedin.com/company/mueller-soehne\","
           "\"github\":null,\"facebook\":null,\"instagram\":null,\"youtube\":null}");
    expect(o, "emails", "[\"info@mueller-soehne.example\",\"vertrieb@mueller-soehne.example\"]");
    expect(o, "phones", "[\"+49 711 123456\"]");
    expect(o, "address",
           "\"Industriestra\xc3\x9f"
           "e 12 70565 Stuttgart Deutschland\"");
    json_decref(o);
}

/* "name version" pairs of a tech result, for compact comparison. */
static void tech_summary(const json_t *o, char *out, size_t size)
{
    out[0] = '\0';
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(o, "technologies"), i, t)
    {
        const char *v = json_string_value(json_object_get(t, "version"));
        size_t n = strlen(out);
        snprintf(out + n, size - n, "%s%s%s%s", n ? ", " : "",
                 json_string_value(json_object_get(t, "name")), v ? " " : "", v ? v : "");
    }
}

static void test_tech(void **state)
{
    (void)state;
    char err[200], got[2000];
    const struct tech_rules *r = tech_builtin(err, sizeof(err));
    assert_non_null(r);
    assert_true(tech_rules_count(r) >= 60);
    enum xspec_status st;
    static const struct xpage_header wp_headers[] = {
        {"Server", "nginx/1.25.3"},
        {"X-Powered-By", "PHP/8.2.13"},
        {"Set-Cookie", "PHPSESSID=abc; path=/"},
        {"Set-Cookie", "__cf_bm=xyz; HttpOnly"},
        {"CF-RAY", "83a1-FRA"},
    };
    json_t *o =
        on_fixture("tech", "tech_wordpress.html", "https://beanleaf.example/", wp_headers, 5, &st);
    tech_summary(o, got, sizeof(got));
    assert_string_equal(got, "WordPress 6.4.2, Yoast SEO, WooCommerce 8.3.1, jQuery 3.7.1, "
                             "Font Awesome 6.5.1, Google Font API, Google Analytics, Stripe 3, "
                             "Google reCAPTCHA, Cloudflare, cdnjs, Nginx 1.25.3, PHP 8.2.13, "
                             "MySQL");
    json_t *wp = json_array_get(json_object_get(o, "technologies"), 0);
    expect(wp, "categories", "[\"CMS\",\"Blogs\"]");
    json_decref(o);
    static const struct xpage_header next_headers[] = {
        {"Server", "Vercel"}, {"X-Powered-By", "Next.js"}, {"x-vercel-id", "fra1::abc"}};
    o = on_fixture("tech", "tech_next.html", "https://launchpad.example/", next_headers, 3, &st);
    tech_summary(o, got, sizeof(got));
    assert_string_equal(got, "Next.js, Segment, Intercom, Sentry 7.91.0, Vercel, React, Node.js");
    json_decref(o);
    o = on_fixture("tech", "tech_angular.html", "https://dash.example/", NULL, 0, &st);
    tech_summary(o, got, sizeof(got));
    assert_string_equal(got, "Angular 17.0.8, Bootstrap 5.3.2, jsDelivr, TypeScript");
    json_decref(o);
}

static void test_expand(void **state)
{
    (void)state;
    const struct profile *p = profiles_get(ps, "amazon.product");
    struct profile_req req;
    const char *field;
    char err[300];
    json_t *item =
        json_pack("{s:s,s:s,s:s}", "query", "B092RCLKHN", "domain", "com", "language", "es_US");
    assert_int_equal(profile_expand(p, item, &req, &field, err, sizeof(err)), 0);
    assert_string_equal(req.url, "https://www.amazon.com/dp/B092RCLKHN?language=es_US");
    assert_string_equal(json_string_value(json_object_get(req.headers, "Accept-Language")),
                        "es-US");
    profile_req_release(&req);
    json_decref(item);
    /* Defaults fill in; a header whose parameter is missing is not sent. */
    item = json_pack("{s:s}", "query", "B09HN3Q81F");
    assert_int_equal(profile_expand(p, item, &req, &field, err, sizeof(err)), 0);
    assert_string_equal(req.url, "https://www.amazon.com/dp/B09HN3Q81F");
    assert_int_equal(json_object_size(req.headers), 0);
    assert_string_equal(json_string_value(json_object_get(req.params, "domain")), "com");
    profile_req_release(&req);
    json_decref(item);
    /* An item's url replaces the template's. */
    item = json_pack("{s:s,s:s,s:s}", "query", "B09HN3Q81F", "domain", "co.uk", "url",
                     "http://127.0.0.1:8000/fixture.html");
    assert_int_equal(profile_expand(p, item, &req, &field, err, sizeof(err)), 0);
    assert_string_equal(req.url, "http://127.0.0.1:8000/fixture.html");
    profile_req_release(&req);
    json_decref(item);
    static const struct {
        const char *profile, *item, *field, *err;
    } bad[] = {
        {"amazon.product", "{}", "query", "query: required"},
        {"amazon.product", "{\"query\":\"short\"}", "query",
         "query: does not match the parameter's pattern"},
        {"amazon.product", "{\"query\":\"B09HN3Q81F\",\"domain\":\"moon\"}", "domain",
         "domain: not one of com, ca, com.mx"},
        {"amazon.product", "{\"query\":\"B09HN3Q81F\",\"colour\":\"red\"}", "colour",
         "colour: unknown parameter (amazon.product takes query, domain, language, or url)"},
        {"amazon.product", "{\"query\":\"B09HN3Q81F\",\"url\":\"ftp://x/\"}", "url",
         "url: must be an http(s) URL"},
        {"amazon.search", "{\"query\":\"ssd\",\"page\":21}", "page",
         "page: must be between 1 and 20"},
        {"amazon.search", "{\"query\":\"ssd\",\"page\":\"two\"}", "page",
         "page: must be an integer"},
        {"amazon.search", "{\"query\":\"a\\r\\nX-Injected: 1\"}", "query",
         "query: control characters are not allowed"},
        {"company", "[]", "item", "item: must be an object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *it = jx_parse(bad[i].item, strlen(bad[i].item), 8, err, sizeof(err));
        assert_non_null(it);
        int rc =
            profile_expand(profiles_get(ps, bad[i].profile), it, &req, &field, err, sizeof(err));
        if (rc == 0 || strcmp(field, bad[i].field) != 0 ||
            strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
            fail_msg("case %zu: rc %d field '%s' err '%s'", i, rc, field, err);
        json_decref(it);
    }
    item = json_pack("{s:s,s:i}", "query", "usb hub & more", "page", 2);
    assert_int_equal(
        profile_expand(profiles_get(ps, "amazon.search"), item, &req, &field, err, sizeof(err)), 0);
    assert_string_equal(req.url, "https://www.amazon.com/s?k=usb%20hub%20%26%20more&page=2");
    profile_req_release(&req);
    json_decref(item);
}

static void test_profiles_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/ferry-profiles-XXXXXX";
    assert_non_null(mkdtemp(dir));
    testfile_write(
        dir, "shop.json",
        "{\"name\":\"shop.item\",\"parameters\":{\"id\":{\"required\":true}},"
        "\"url\":\"https://shop.example/item/{id}\",\"extract\":{\"fields\":{\"t\":\"h1\"}}}");
    /* Replaces the built-in of the same name. */
    testfile_write(dir, "my-company.json",
                   "{\"name\":\"company\",\"parameters\":{\"domain\":{\"required\":true}},"
                   "\"url\":\"https://{domain}/about\",\"extract\":{\"fields\":{\"n\":\"h1\"}}}");
    testfile_write(dir, "extra.rules.json", "not a profile, skipped");
    char err[300];
    struct profiles *mine = profiles_load(dir, err, sizeof(err));
    if (!mine)
        fail_msg("%s", err);
    assert_non_null(profiles_get(mine, "shop.item"));
    assert_non_null(profiles_get(mine, "amazon.product"));
    assert_string_equal(profiles_get(mine, "company")->url, "https://{domain}/about");
    assert_int_equal(profiles_count(mine), 5);
    assert_string_not_equal(profiles_get(mine, "company")->digest,
                            profiles_get(ps, "company")->digest);
    profiles_free(mine);
    static const struct {
        const char *text, *err;
    } bad[] = {
        {"{\"name\":\"x\",", "bad.json: "},
        {"{\"name\":\"x\",\"url\":\"https://a/{nope}\",\"extract\":{\"fields\":{\"t\":\"h1\"}}}",
         "bad.json: url: 'nope' is not a parameter"},
        {"{\"name\":\"x\",\"url\":\"https://a/\",\"extract\":{\"fields\":{\"t\":\"h1[\"}}}",
         "bad.json: extract.fields.t: position 4: expected an attribute name"},
        {"{\"name\":\"Bad Name\",\"url\":\"https://a/\",\"extract\":{\"fields\":{\"t\":\"h1\"}}}",
         "bad.json: name: "},
        {"{\"name\":\"x\",\"parameters\":{\"p\":{\"enum\":[\"a\"],\"default\":\"b\",\"x\":1}},"
         "\"url\":\"https://a/\",\"extract\":{\"fields\":{\"t\":\"h1\"}}}",
         "bad.json: parameters.p: unknown member 'x'"},
        {"{\"name\":\"x\",\"url\":\"https://a/{p|shout}\",\"parameters\":{\"p\":{}},"
         "\"extract\":{\"fields\":{\"t\":\"h1\"}}}",
         "bad.json: url: unknown filter '|shout'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        testfile_write(dir, "bad.json", bad[i].text);
        struct profiles *r = profiles_load(dir, err, sizeof(err));
        char *slash = strstr(err, "/bad.json");
        if (r || !slash || strncmp(slash + 1, bad[i].err, strlen(bad[i].err)) != 0)
            fail_msg("case %zu: got '%s'", i, r ? "(loaded)" : err);
        profiles_free(r);
    }
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    assert_null(profiles_load("/nonexistent/ferry", err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/ferry: No such file"));
}

int main(void)
{
    xarena_install(); /* as scrape runs them */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_amazon_product_us),
        cmocka_unit_test(test_amazon_product_de_old_layout),
        cmocka_unit_test(test_amazon_product_jp_book),
        cmocka_unit_test(test_amazon_captcha_and_empty),
        cmocka_unit_test(test_amazon_search),
        cmocka_unit_test(test_company_jsonld),
        cmocka_unit_test(test_company_without_jsonld),
        cmocka_unit_test(test_tech),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_profiles_dir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
