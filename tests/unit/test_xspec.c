/* xspec: extraction rules give typed values a user would expect, null for
 * nothing, clear statuses for captcha and empty pages, named errors for bad
 * rules, and survive hostile HTML. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/HTMLparser.h>
#include <libxml/HTMLtree.h>

#include "hparse.h"
#include "jx.h"
#include "xspec.h"

/* The page's tree as scrape parses it (never NULL). */
static htmlDocPtr parse(const char *html, size_t len)
{
    return hparse_read(html, len, "https://shop.example/p/1");
}

/* Evaluates spec (JSON text) on html; returns the data, status in *st. */
static json_t *run(const char *spec_text, const char *html, const json_t *params,
                   enum xspec_status *st)
{
    char err[300];
    json_t *spec = jx_parse(spec_text, strlen(spec_text), 32, err, sizeof(err));
    if (!spec)
        fail_msg("bad test spec: %s", err);
    struct xspec *x = xspec_compile(spec, err, sizeof(err));
    if (!x)
        fail_msg("spec did not compile: %s", err);
    htmlDocPtr doc = parse(html, strlen(html));
    static const struct xpage_header headers[] = {
        {"Server", "nginx/1.25"}, {"X-Thing", "one"}, {"x-thing", "two"}};
    struct xpage pg;
    xpage_init(&pg, doc, "https://shop.example/p/1", headers, 3, html, strlen(html));
    enum xspec_status dummy;
    json_t *out = xspec_eval(x, &pg, params, st ? st : &dummy);
    xpage_release(&pg);
    xmlFreeDoc(doc);
    xspec_free(x);
    json_decref(spec);
    return out;
}

/* The JSON text of obj[key] (compact, keys in order). */
static char *dump(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return strdup("(absent)");
    return jx_dump(v, NULL); /* what scrape writes: JSON.stringify's bytes */
}

#define ASSERT_FIELD(obj, key, want)                                                               \
    do {                                                                                           \
        char *got_ = dump((obj), (key));                                                           \
        if (strcmp(got_, (want)) != 0)                                                             \
            fail_msg("%s: got %s, want %s", (key), got_, (want));                                  \
        free(got_);                                                                                \
    } while (0)

static const char shop[] =
    "<html lang=de-DE><head><title> Shop </title><base href='/base/'>"
    "<script type='application/ld+json'>{\"@context\":\"https://schema.org\",\"@graph\":["
    "{\"@type\":\"Product\",\"name\":\"LD "
    "name\",\"offers\":{\"@type\":\"Offer\",\"price\":\"19.90\","
    "\"priceCurrency\":\"EUR\"}},{\"@type\":[\"Organization\"],\"name\":\"Org\","
    "\"address\":{\"@type\":\"PostalAddress\",\"streetAddress\":\"Hauptstr. 1\","
    "\"postalCode\":\"10115\",\"addressLocality\":\"Berlin\",\"addressCountry\":\"DE\"}}]}</script>"
    "</head><body>"
    "<h1>  Blue\n\t  Widget  </h1>"
    "<span class=price></span><span class=price>1.299,00&nbsp;\xe2\x82\xac</span>"
    "<div id=stock data-n='1.234'>Nur noch 7 auf Lager</div>"
    "<p id=desc>Hello <b>bold</b> <script>var x=1;</script>world</p>"
    "<a class=more href='../next?p=2'>next</a><a class=more href='javascript:void(0)'>js</a>"
    "<a class=more href='https://cdn.example/x.png'>abs</a>"
    "<ul id=items><li data-sku=A1><a href='/a'>Alpha</a> <i>9,99 \xe2\x82\xac</i></li>"
    "<li data-sku=B2><a href='/b'>Beta</a></li><li data-sku=C3><a href='/c'>Gamma</a>"
    " <i>1,50 \xe2\x82\xac</i></li></ul>"
    "<div class=ad>Gesponsert</div>"
    "</body></html>";

static void test_types(void **state)
{
    (void)state;
    json_t *o = run("{\"fields\":{"
                    "\"title\":\"h1\","
                    "\"price\":{\"selector\":\".price\",\"type\":\"price\"},"
                    "\"stock\":{\"selector\":\"#stock\",\"type\":\"integer\"},"
                    "\"n\":{\"selector\":\"#stock\",\"attr\":\"data-n\",\"type\":\"number\"},"
                    "\"desc\":\"#desc\","
                    "\"desc_html\":{\"selector\":\"#desc\",\"type\":\"html\"},"
                    "\"next\":{\"selector\":\"a.more\",\"attr\":\"href\",\"type\":\"url\"},"
                    "\"links\":{\"selector\":\"a.more\",\"attr\":\"href\",\"type\":\"url\","
                    "\"all\":true},"
                    "\"ad\":{\"selector\":\".ad\",\"type\":\"boolean\"},"
                    "\"gone\":{\"selector\":\".nothing\",\"type\":\"boolean\"},"
                    "\"missing\":\".nothing\","
                    "\"missing_all\":{\"selector\":\".nothing\",\"all\":true},"
                    "\"count\":{\"selector\":\"xpath:count(//li)\",\"type\":\"integer\"},"
                    "\"server\":{\"header\":\"server\",\"regex\":\"/([0-9.]+)\"},"
                    "\"things\":{\"header\":\"x-thing\",\"all\":true}}}",
                    shop, NULL, NULL);
    ASSERT_FIELD(o, "title", "\"Blue Widget\"");
    /* The first .price is empty: the rule falls through to the next one. */
    ASSERT_FIELD(o, "price", "{\"value\":1299,\"currency\":\"EUR\"}");
    ASSERT_FIELD(o, "stock", "7");
    ASSERT_FIELD(o, "n", "1234"); /* a German page: '.' groups thousands */
    ASSERT_FIELD(o, "desc", "\"Hello bold world\"");
    ASSERT_FIELD(o, "desc_html", "\"Hello <b>bold</b> <script>var x=1;</script>world\"");
    ASSERT_FIELD(o, "next", "\"https://shop.example/next?p=2\""); /* against <base href> */
    ASSERT_FIELD(o, "links", "[\"https://shop.example/next?p=2\",\"https://cdn.example/x.png\"]");
    ASSERT_FIELD(o, "ad", "true");
    ASSERT_FIELD(o, "gone", "false");
    ASSERT_FIELD(o, "missing", "null");
    ASSERT_FIELD(o, "missing_all", "null");
    ASSERT_FIELD(o, "count", "3");
    ASSERT_FIELD(o, "server", "\"1.25\"");
    ASSERT_FIELD(o, "things", "[\"one\",\"two\"]");
    json_decref(o);
}

static void test_nested_and_regex(void **state)
{
    (void)state;
    json_t *o =
        run("{\"fields\":{"
            "\"items\":{\"selector\":\"#items > li\",\"all\":true,\"fields\":{"
            "  \"n\":{\"position\":true},"
            "  \"sku\":{\"selector\":\"xpath:.\",\"attr\":\"data-sku\"},"
            "  \"name\":\"> a\","
            "  \"url\":{\"selector\":\"a\",\"attr\":\"href\",\"type\":\"url\"},"
            "  \"price\":{\"selector\":\"i\",\"type\":\"price\"}}},"
            "\"first\":{\"selector\":\"#items li\",\"fields\":{\"name\":\"a\"}},"
            "\"num\":{\"selector\":\"#stock\",\"regex\":\"(?i)NUR NOCH ([0-9]+)\","
            "\"type\":\"integer\"},"
            "\"word\":{\"selector\":\"#stock\",\"regex\":\"([a-z]+) ([a-z]+)\",\"group\":2},"
            "\"nomatch\":{\"selector\":\"#stock\",\"regex\":\"^xyz\"},"
            "\"words\":{\"selector\":\"#stock\",\"all\":true,\"regex\":\"[A-Za-z]+\"}}}",
            shop, NULL, NULL);
    ASSERT_FIELD(o, "items",
                 "[{\"n\":1,\"sku\":\"A1\",\"name\":\"Alpha\",\"url\":\"https://shop.example/a\","
                 "\"price\":{\"value\":9.99,\"currency\":\"EUR\"}},"
                 "{\"n\":2,\"sku\":\"B2\",\"name\":\"Beta\",\"url\":\"https://shop.example/b\","
                 "\"price\":null},"
                 "{\"n\":3,\"sku\":\"C3\",\"name\":\"Gamma\",\"url\":\"https://shop.example/c\","
                 "\"price\":{\"value\":1.5,\"currency\":\"EUR\"}}]");
    ASSERT_FIELD(o, "first", "{\"name\":\"Alpha\"}");
    ASSERT_FIELD(o, "num", "7");
    ASSERT_FIELD(o, "word", "\"noch\"");
    ASSERT_FIELD(o, "nomatch", "null");
    ASSERT_FIELD(o, "words", "[\"Nur\",\"noch\",\"auf\",\"Lager\"]");
    json_decref(o);
}

/* Regexes that start with literal text (found with memmem before the
 * regex engine runs): every match is still found, including where the
 * literal is optional, escaped, or one of several alternatives. */
static void test_regex_literal_start(void **state)
{
    (void)state;
    const char *html = "<html><body><script id=s>var d = [{\"hiRes\":\"https://i/1.jpg\"},"
                       "{\"hiRes\":null},{\"hiRes\":\"https://i/2.jpg\"}, \"hiRes\":\"\"];"
                       " cost $12 or $7; colour color colr</script><p id=t>ab ac abc</p><p "
                       "id=j>5つ星のうち 4.3 うち5 うちの5</p></body></html>";
    json_t *o = run("{\"fields\":{"
                    "\"img\":{\"selector\":\"#s\",\"all\":true,"
                    "\"regex\":\"\\\"hiRes\\\":\\\"([^\\\"]+)\\\"\"},"
                    "\"first\":{\"selector\":\"#s\",\"regex\":\"hiRes\\\":\\\"([^\\\"]+)\"},"
                    "\"dollars\":{\"selector\":\"#s\",\"all\":true,\"regex\":\"\\\\$([0-9]+)\"},"
                    "\"col\":{\"selector\":\"#s\",\"all\":true,\"regex\":\"colou?r\"},"
                    "\"alt\":{\"selector\":\"#t\",\"all\":true,\"regex\":\"abc|ac\"},"
                    "\"opt\":{\"selector\":\"#t\",\"all\":true,\"regex\":\"ab*c\"},"
                    "\"none\":{\"selector\":\"#t\",\"regex\":\"abd\"},"
                    "\"start\":{\"selector\":\"#t\",\"regex\":\"^ab (a.)\"},"
                    "\"notstart\":{\"selector\":\"#t\",\"regex\":\"^ac\"},"
                    "\"startall\":{\"selector\":\"#t\",\"all\":true,\"regex\":\"^a.\"},"
                    "\"ja\":{\"selector\":\"#j\",\"regex\":\"のうち *([0-9.]+)\"},"
                    "\"jaopt\":{\"selector\":\"#j\",\"all\":true,\"regex\":\"うちの?5\"}}}",
                    html, NULL, NULL);
    ASSERT_FIELD(o, "img", "[\"https://i/1.jpg\",\"https://i/2.jpg\"]");
    ASSERT_FIELD(o, "first", "\"https://i/1.jpg\"");
    ASSERT_FIELD(o, "dollars", "[\"12\",\"7\"]");
    ASSERT_FIELD(o, "col", "[\"colour\",\"color\"]");
    ASSERT_FIELD(o, "alt", "[\"ac\",\"abc\"]");
    ASSERT_FIELD(o, "opt", "[\"ac\",\"abc\"]");
    ASSERT_FIELD(o, "none", "null");
    ASSERT_FIELD(o, "start", "\"ac\"");
    ASSERT_FIELD(o, "notstart", "null");
    ASSERT_FIELD(o, "startall", "[\"ab\"]");
    ASSERT_FIELD(o, "ja", "\"4.3\"");
    /* The regex engine reads bytes: ? takes the last byte of の. */
    ASSERT_FIELD(o, "jaopt", "[\"うちの5\"]");
    json_decref(o);
}

/* Absolute URLs taken as they are (without the URL parser) are exactly
 * what the parser gives back; the others still go through it. */
static void test_absolute_urls(void **state)
{
    (void)state;
    static const char *const urls[] = {
        "https://m.media-amazon.com/images/I/61UyQpEJ2dL._AC_SL1500_.jpg",
        "http://shop.example/a/b?x=1&y=%2Fz",
        "https://shop.example/p/../q",
        "https://shop.example/./q",
        "https://SHOP.example/q",
        "HTTPS://shop.example/q",
        "https://shop.example:443/q",
        "https://shop.example:8080/q",
        "https://user@shop.example/q",
        "https://shop.example",
        "https://shop.example/q?",
        "https://shop.example/q#frag",
        "https://shop.example/a b",
        "https://shop.example/caf\xc3\xa9",
        "https://127.0.0.1/q",
        "https://0x7f.1/q",
        "https://a.0x7f/q",
        "https://shop.example1/q",
        "https://shop.example./q",
        "https://shop.example/a//b;c=d,e@f:g!$'()*+~",
        "https://shop.example/%zz",
        "https://shop.example/%2b%2B",
        "  https://shop.example/trim  ",
        "//cdn.example/x.js",
        "/rel/path?q=1",
        "mailto:me@shop.example",
    };
    const char *html = "<html><body><p>x</p></body></html>";
    htmlDocPtr doc = parse(html, strlen(html));
    struct xpage pg;
    xpage_init(&pg, doc, "https://shop.example/p/1", NULL, 0, html, strlen(html));
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        char *got = xpage_absolute(&pg, urls[i]);
        /* What the parser makes of it against the page's URL. */
        char *want = NULL, *s = NULL, *t = strdup(urls[i] + strspn(urls[i], " "));
        for (size_t n = strlen(t); n && t[n - 1] == ' '; n--)
            t[n - 1] = '\0';
        CURLU *u = curl_url();
        if (curl_url_set(u, CURLUPART_URL, "https://shop.example/p/1", 0) == CURLUE_OK &&
            curl_url_set(u, CURLUPART_URL, t, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK && strncmp(s, "http", 4) == 0)
            want = strdup(s);
        curl_free(s);
        curl_url_cleanup(u);
        free(t);
        if (!(got == want || (got && want && strcmp(got, want) == 0)))
            fail_msg("'%s': got %s, the parser gives %s", urls[i], got ? got : "NULL",
                     want ? want : "NULL");
        free(got);
        free(want);
    }
    xpage_release(&pg);
    xmlFreeDoc(doc);
}

static void test_jsonld_and_post(void **state)
{
    (void)state;
    json_t *params = json_pack("{s:s}", "query", "Q-1");
    json_t *o =
        run("{\"fields\":{"
            "\"name\":{\"jsonld\":\"Product.name\"},"
            "\"offer\":{\"jsonld\":\"Product.offers\",\"type\":\"price\"},"
            "\"org\":{\"jsonld\":\"Organization|Corporation.name\"},"
            "\"address\":{\"jsonld\":\"Organization.address\"},"
            "\"any\":{\"jsonld\":\"*.name\",\"all\":true},"
            "\"none\":{\"jsonld\":\"Event.name\"},"
            "\"a\":\".nothing\",\"b\":\"h1\",\"c\":{\"selector\":\"#items a\",\"all\":true}},"
            "\"post\":[{\"first\":[\"a\",\"$query\"],\"into\":\"q\"},"
            "{\"first\":[\"a\",\"b\"],\"into\":\"ab\"},"
            "{\"regex\":\"^([A-Z])\",\"from\":\"c\",\"into\":\"initials\"},"
            "{\"union\":[\"c\",\"b\",\"a\",\"c\"],\"into\":\"u\"},"
            "{\"drop\":[\"a\",\"c\"]}]}",
            shop, params, NULL);
    ASSERT_FIELD(o, "name", "\"LD name\"");
    ASSERT_FIELD(o, "offer", "{\"value\":19.9,\"currency\":\"EUR\"}");
    ASSERT_FIELD(o, "org", "\"Org\"");
    ASSERT_FIELD(o, "address", "\"Hauptstr. 1, Berlin, 10115, DE\"");
    ASSERT_FIELD(o, "any", "[\"LD name\",\"Org\"]");
    ASSERT_FIELD(o, "none", "null");
    ASSERT_FIELD(o, "q", "\"Q-1\"");
    ASSERT_FIELD(o, "ab", "\"Blue Widget\"");
    ASSERT_FIELD(o, "initials", "[\"A\",\"B\",\"G\"]");
    ASSERT_FIELD(o, "u", "[\"Alpha\",\"Beta\",\"Gamma\",\"Blue Widget\"]");
    ASSERT_FIELD(o, "a", "(absent)");
    ASSERT_FIELD(o, "c", "(absent)");
    json_decref(o);
    json_decref(params);
}

static void test_statuses(void **state)
{
    (void)state;
    enum xspec_status st;
    const char *spec =
        "{\"fields\":{\"t\":\"h1\",\"_p\":{\"selector\":\"h1\",\"type\":\"boolean\"}},"
        "\"post\":[{\"drop\":[\"_p\"]}],\"required\":[\"_p\"],"
        "\"captcha\":[\"form[action*=validateCaptcha]\"]}";
    json_t *o = run(spec, shop, NULL, &st);
    assert_int_equal(st, XSPEC_OK);
    ASSERT_FIELD(o, "_p", "(absent)"); /* required is checked before post steps */
    json_decref(o);
    o = run(spec, "<html><body><p>no heading</p></body></html>", NULL, &st);
    assert_int_equal(st, XSPEC_EMPTY);
    json_decref(o);
    o = run(spec, "", NULL, &st);
    assert_int_equal(st, XSPEC_EMPTY);
    json_decref(o);
    o = run("{\"fields\":{\"t\":\"title\"}}", "<html><head><title>x</title></head><body> </body>",
            NULL, &st);
    assert_int_equal(st, XSPEC_EMPTY); /* nothing shown: a title alone is not content */
    json_decref(o);
    o = run(spec, "<html><body><h1>Robot?</h1><form action='/errors/validateCaptcha'></form>", NULL,
            &st);
    assert_int_equal(st, XSPEC_CAPTCHA);
    json_decref(o);
}

static void test_compile_errors(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *err;
    } cases[] = {
        {"[]", "extract: must be an object"},
        {"{\"fields\":{}}", "fields: must be an object of fields"},
        {"{\"fields\":{\"p\":\"div[\"}}", "fields.p: position 5: expected an attribute name"},
        {"{\"fields\":{\"p\":{\"selector\":[\"h1\",\"a:hover\"]}}}",
         "fields.p.selector[1]: position 3: unsupported pseudo-class ':hover'"},
        {"{\"fields\":{\"p\":{\"selector\":\"h1\",\"type\":\"money\"}}}", "fields.p: type must be"},
        {"{\"fields\":{\"p\":{\"selctor\":\"h1\"}}}", "fields.p: unknown member 'selctor'"},
        {"{\"fields\":{\"p\":{\"selector\":\"h1\",\"regex\":\"(\"}}}",
         "fields.p.regex: invalid regex"},
        {"{\"fields\":{\"p\":{\"selector\":\"h1\",\"regex\":\"(a)\\\\1\"}}}",
         "fields.p.regex: back-references are not supported"},
        {"{\"fields\":{\"p\":{\"selector\":\"h1\",\"regex\":\"(a)\",\"group\":2}}}",
         "fields.p.regex: group must be 0..1"},
        {"{\"fields\":{\"bad name\":\"h1\"}}", "fields.bad name: field names are"},
        {"{\"fields\":{\"p\":{\"selector\":\"h1\",\"jsonld\":\"X.y\"}}}", "fields.p: one of"},
        {"{\"fields\":{\"p\":{\"position\":true}}}", "fields.p: position is for fields nested"},
        {"{\"fields\":{\"p\":{\"selector\":\"ul\",\"fields\":{\"q\":{\"selector\":\"li\","
         "\"fields\":{\"r\":\"x\"}}}}}}",
         ""},
        {"{\"fields\":{\"a\":{\"fields\":{\"b\":{\"fields\":{\"c\":{\"fields\":{\"d\":"
         "{\"fields\":{\"e\":\"x\"}}}}}}}}}}",
         "fields.a.fields.b.fields.c.fields.d: fields nest at most 4 deep"},
        {"{\"fields\":{\"p\":\"h1\"},\"post\":[{\"first\":[\"p\"]}]}", "post[0]: needs into"},
        {"{\"fields\":{\"p\":\"h1\"},\"post\":[{\"sum\":[\"p\"]}]}",
         "post[0]: unknown member 'sum'"},
        {"{\"fields\":{\"p\":\"h1\"},\"required\":[\"no such\"]}", "required: item 0 is not"},
        {"{\"fields\":{\"p\":\"h1\"},\"captcha\":[\"[\"]}", "captcha[0]: position 2"},
        {"{\"fields\":{\"p\":{\"detect\":\"magic\"}}}", "fields.p: detect must be"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[300] = "";
        json_t *spec = jx_parse(cases[i].spec, strlen(cases[i].spec), 32, err, sizeof(err));
        assert_non_null(spec);
        struct xspec *x = xspec_compile(spec, err, sizeof(err));
        if (!cases[i].err[0]) {
            if (!x)
                fail_msg("case %zu should compile: %s", i, err);
        } else if (x || strncmp(err, cases[i].err, strlen(cases[i].err)) != 0) {
            fail_msg("case %zu: got '%s', want '%s...'", i, x ? "(compiled)" : err, cases[i].err);
        }
        xspec_free(x);
        json_decref(spec);
    }
}

/* Hostile pages: no crash, no hang, sane values. The XPath operation
 * budget bounds a quadratic rule on a huge page. */
static void test_hostile_html(void **state)
{
    (void)state;
    /* The operation budget is the page's: once a rule spent it, later
     * selector rules find nothing, so the cheap ones come first here. */
    const char *spec = "{\"fields\":{\"a\":{\"selector\":\"a\",\"attr\":\"title\"},"
                       "\"t\":\"div div div span\",\"all\":{\"selector\":\"div\","
                       "\"all\":true,\"type\":\"integer\"},\"h\":{\"selector\":\"body\","
                       "\"type\":\"html\"},\"deep\":\"xpath://*[count(ancestor::*) > 200]\","
                       "\"quad\":{\"selector\":\"xpath:count(//*[count(//*) > 1])\","
                       "\"type\":\"integer\"}}}";
    enum xspec_status st;
    /* 100,000 nested divs, never closed. */
    size_t n = 100000;
    char *deep = malloc(n * 5 + 64);
    strcpy(deep, "<html><body>");
    for (size_t i = 0; i < n; i++)
        memcpy(deep + 12 + i * 5, "<div>", 5);
    strcpy(deep + 12 + n * 5, "<span>x</span>");
    json_t *o = run(spec, deep, NULL, &st);
    assert_non_null(o);
    json_decref(o);
    free(deep);
    /* A 4 MB attribute and 20,000 siblings. */
    size_t big = 4 << 20;
    char *page = malloc(big + 20000 * 20 + 200);
    char *p = page + sprintf(page, "<html><body><a title='");
    memset(p, 'x', big);
    p += big;
    p += sprintf(p, "'>a</a>");
    for (int i = 0; i < 20000; i++)
        p += sprintf(p, "<div>%d</div>", i);
    strcpy(p, "</body></html>");
    o = run(spec, page, NULL, &st);
    assert_int_equal(json_string_length(json_object_get(o, "a")), 256 * 1024); /* capped */
    assert_int_equal(json_array_size(json_object_get(o, "all")), XSPEC_MAX_ALL);
    assert_true(json_is_null(json_object_get(o, "quad"))); /* over the operation budget */
    json_decref(o);
    free(page);
    /* Invalid UTF-8, NULs, a lying meta charset, unclosed and stray tags. */
    static const char junk[] = "<html><head><meta charset=shift_jis></head><body><p id=x>caf\xe9 "
                               "\xff\xfe\xc3</p></div></span><table><tr><td>1<td>2</body>"
                               "<p>\xed\xa0\x80 surrogate</p><![CDATA[ x ]]><!-- <p> -->";
    o = run("{\"fields\":{\"p\":\"p\",\"all\":{\"selector\":\"td\",\"all\":true}}}", junk, NULL,
            &st);
    const char *s = json_string_value(json_object_get(o, "p"));
    assert_true(s == NULL || strlen(s) > 0); /* valid UTF-8 or null, never garbage */
    ASSERT_FIELD(o, "all", "[\"1\",\"2\"]");
    json_decref(o);
    /* A JSON-LD number no integer holds: null (converting it is undefined). */
    static const char ld[] = "<html><head><script type=application/ld+json>{\"@type\":"
                             "\"Product\",\"weight\":1e300,\"size\":-1e19,\"n\":12.0}"
                             "</script></head><body></body></html>";
    o = run("{\"fields\":{\"w\":{\"jsonld\":\"Product.weight\",\"type\":\"integer\"},"
            "\"s\":{\"jsonld\":\"Product.size\",\"type\":\"integer\"},"
            "\"n\":{\"jsonld\":\"Product.n\",\"type\":\"integer\"}}}",
            ld, NULL, &st);
    ASSERT_FIELD(o, "w", "null");
    ASSERT_FIELD(o, "s", "null");
    ASSERT_FIELD(o, "n", "12");
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_nested_and_regex),
        cmocka_unit_test(test_regex_literal_start),
        cmocka_unit_test(test_absolute_urls),
        cmocka_unit_test(test_jsonld_and_post),
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_hostile_html),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
