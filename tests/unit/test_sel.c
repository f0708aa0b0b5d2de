/* sel: CSS selectors match what a browser would match; errors name the
 * position; the fuzz target runs over its seeds and mutations of them. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <libxml/HTMLparser.h>

#include "../fuzz/fuzz_sel.c"
#include "sel.h"
#include "sel_int.h"
#include "testfile.h"

static const char page[] =
    "<html><body>"
    "<div id=top class='box  main'>"
    "  <p id=p1 class=intro>Hello</p>"
    "  <p id=p2 lang=en-GB data-x=\"a b c\">World</p>"
    "  <span id=s1></span>"
    "  <section id=sec><p id=p3 title=\"it's &quot;q&quot;\">deep</p></section>"
    "</div>"
    "<ul id=list><li id=l1>one</li><li id=l2 class=odd>two</li><li id=l3>three</li>"
    "<li id=l4>four</li><li id=l5>five</li></ul>"
    "<a id=a1 href='https://x.example/file.PDF'>pdf</a>"
    "<a id=a2 href='mailto:me@x.example'>mail</a>"
    "<ol id=one><li id=only>x</li></ol>"
    "</body></html>";

static htmlDocPtr doc;

static int setup(void **state)
{
    (void)state;
    doc = hparse_read(page, strlen(page), "http://t/");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    xmlFreeDoc(doc);
    return 0;
}

/* The ids of the elements a selector matches, space-separated, in
 * document order. */
static void ids_of(const char *selector, char *out, size_t size)
{
    char err[256];
    struct sel *s = sel_compile(selector, err, sizeof(err));
    if (!s)
        fail_msg("'%s' did not compile: %s", selector, err);
    xmlXPathContextPtr ctx = sel_context_new(doc);
    xmlXPathObjectPtr r = sel_eval(s, ctx, (xmlNodePtr)doc);
    assert_non_null(r);
    out[0] = '\0';
    for (int i = 0; r->nodesetval && i < r->nodesetval->nodeNr; i++) {
        xmlChar *id = xmlGetProp(r->nodesetval->nodeTab[i], (const xmlChar *)"id");
        size_t n = strlen(out);
        snprintf(out + n, size - n, "%s%s", n ? " " : "", id ? (const char *)id : "?");
        xmlFree(id);
    }
    xmlXPathFreeObject(r);
    sel_context_free(ctx);
    sel_free(s);
}

static void test_matches(void **state)
{
    (void)state;
    static const struct {
        const char *sel, *ids;
    } cases[] = {
        {"p", "p1 p2 p3"},
        {"#top > p", "p1 p2"},
        {"#top p", "p1 p2 p3"},
        {"div.box.main > section p", "p3"},
        {".box", "top"},
        {".bo", ""},
        {"P", "p1 p2 p3"}, /* HTML element names ignore case */
        {"[lang]", "p2"},
        {"[lang|=en]", "p2"},
        {"[data-x~=b]", "p2"},
        {"[data-x~='a b']", ""},
        {"a[href^='mailto:']", "a2"},
        {"a[href$='.pdf']", ""},
        {"a[href$='.pdf' i]", "a1"},
        {"a[href*=x\\.example]", "a1 a2"},
        {"[title=\"it's \\\"q\\\"\"]", "p3"},
        {"li:first-child", "l1 only"},
        {"li:last-child", "l5 only"},
        {"li:only-child", "only"},
        {"#list li:nth-child(2)", "l2"},
        {"#list li:nth-child(odd)", "l1 l3 l5"},
        {"#list li:nth-child(2n)", "l2 l4"},
        {"#list li:nth-child(-n+2)", "l1 l2"},
        {"#list li:nth-child(n+4)", "l4 l5"},
        {"#list li:nth-child(3n + 1)", "l1 l4"},
        {"#list li:nth-last-child(1)", "l5"},
        {"#top p:nth-of-type(2)", "p2"},
        {"#top > p:last-of-type", "p2"},
        {"#list li:not(.odd):not(:first-child)", "l3 l4 l5"},
        {"li:not(#l1, #l2)", "l3 l4 l5 only"},
        {"ul:has(> li.odd)", "list"},
        {"div:has(section p)", "top"},
        {"li:contains('fou')", "l4"},
        {"#l1 + li", "l2"},
        {"#l2 ~ li", "l3 l4 l5"},
        {"span:empty", "s1"},
        {"#list, #top, #a1", "top list a1"}, /* document order, not rule order */
        {"p, #top p", "p1 p2 p3"},           /* each node once */
        {"xpath://li[@class='odd']", "l2"},
        {"ul > #l3", "l3"},
        {"#\\6c 1", "l1"}, /* a CSS escape: \6c is 'l' */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char got[256];
        ids_of(cases[i].sel, got, sizeof(got));
        if (strcmp(got, cases[i].ids) != 0)
            fail_msg("'%s': got [%s], want [%s]", cases[i].sel, got, cases[i].ids);
    }
}

static void test_errors_name_position(void **state)
{
    (void)state;
    static const struct {
        const char *sel, *err;
    } cases[] = {
        {"", "position 1: empty selector"},
        {"div[", "position 5: expected an attribute name"},
        {"div[x", "position 6: expected '=', '~=', '^=', '$=', '*=', '|=' or ']'"},
        {"a[href='x]", "position 8: unterminated string"},
        {"a:hover", "position 3: unsupported pseudo-class ':hover'"},
        {"p >", "position 4: expected a selector after '>'"},
        {"p,", "position 3: expected a selector"},
        {"p::before", "position 3: pseudo-elements (::) select no element"},
        {":nth-of-type(2)", "position 2: :nth-of-type needs an element name before it"},
        {"li:nth-child(x)", "position 14: expected an+b, odd or even"},
        {"div!", "position 4: unexpected '!'"},
        {"ns|p", "position 3: namespaces are not supported"},
        {"xpath://p[", "position 11: "},
        {"xpath:", "position 7: empty XPath"},
        {"p:not(:not(:not(:not(a))))", "position 22: :not() and :has() nest at most 3 deep"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        struct sel *s = sel_compile(cases[i].sel, err, sizeof(err));
        if (s)
            fail_msg("'%s' compiled to %s", cases[i].sel, s->xpath);
        if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
            fail_msg("'%s': got '%s', want '%s'", cases[i].sel, err, cases[i].err);
    }
    char big[SEL_MAX_LEN + 10];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char err[256];
    assert_null(sel_compile(big, err, sizeof(err)));
    assert_non_null(strstr(err, "longer than"));
}

static void test_xpath_values(void **state)
{
    (void)state;
    char err[256];
    struct sel *s = sel_compile("xpath:count(//li)", err, sizeof(err));
    assert_non_null(s);
    xmlXPathContextPtr ctx = sel_context_new(doc);
    xmlXPathObjectPtr r = sel_eval(s, ctx, (xmlNodePtr)doc);
    assert_int_equal(r->type, XPATH_NUMBER);
    assert_true(r->floatval == 6.0);
    xmlXPathFreeObject(r);
    sel_free(s);
    /* An unknown function compiles and fails at evaluation (quietly). */
    s = sel_compile("xpath:nosuch(//li)", err, sizeof(err));
    assert_non_null(s);
    sel_quiet_begin();
    assert_null(sel_eval(s, ctx, (xmlNodePtr)doc));
    sel_quiet_end();
    sel_free(s);
    sel_context_free(ctx);
}

/* Relative selectors: from a matched element, `span` searches its
 * descendants and `> li` its children. */
static void test_relative(void **state)
{
    (void)state;
    char err[256];
    struct sel *s = sel_compile("> li.odd", err, sizeof(err));
    assert_non_null(s);
    xmlXPathContextPtr ctx = sel_context_new(doc);
    xmlXPathObjectPtr list = xmlXPathEvalExpression((const xmlChar *)"//ul", ctx);
    xmlXPathObjectPtr r = sel_eval(s, ctx, list->nodesetval->nodeTab[0]);
    assert_int_equal(r->nodesetval->nodeNr, 1);
    xmlXPathFreeObject(r);
    xmlXPathFreeObject(list);
    sel_context_free(ctx);
    sel_free(s);
}

/* Every selector the built-in profiles use (and some that stress the
 * rules: duplicate ids, an <a name> registered before the id, nesting of
 * the same element, :not, child chains) selects the same nodes matched on
 * the tree as through XPath, on the fixture pages and from every element. */
static void collect_selectors(const json_t *v, char (*out)[512], size_t *n, size_t max)
{
    size_t i;
    const char *k;
    json_t *e;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e) collect_selectors(e, out, n, max);
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, e)
        {
            if ((strcmp(k, "selector") == 0 || strcmp(k, "captcha") == 0) && json_is_string(e) &&
                *n < max)
                snprintf(out[(*n)++], 512, "%s", json_string_value(e));
            else if ((strcmp(k, "selector") == 0 || strcmp(k, "captcha") == 0) && json_is_array(e))
                json_array_foreach(e, i, v) if (json_is_string(v) && *n < max)
                    snprintf(out[(*n)++], 512, "%s", json_string_value(v));
            collect_selectors(e, out, n, max);
        }
    }
}

static void test_tree_matches_xpath(void **state)
{
    (void)state;
    static char sels[600][512];
    static const char *const extra[] = {"#dup",
                                        "div#dup",
                                        "#dup span",
                                        "#top p",
                                        "div div",
                                        "div > div > p",
                                        "div p span",
                                        "li:not(.odd)",
                                        "li:not(#l1):last-child",
                                        "ul > li:first-child",
                                        "[lang]",
                                        "p[lang=en-GB]",
                                        "a[name]",
                                        "#a1, #dup, p",
                                        ".box .intro",
                                        "* > p",
                                        "section > *",
                                        "div.box.main > section p",
                                        "#sec p, #top > p",
                                        "#top > section > p",
                                        "P.INTRO",
                                        "#list li:not(.odd):not(:first-child)",
                                        "[data-x='a b c']",
                                        "div:not(.box) p",
                                        "a[href^='mailto:']",
                                        "a[href$='.PDF']",
                                        "a[href*=example]",
                                        "[title*='']",
                                        "[id^=l]",
                                        "p:contains('deep')",
                                        "li:contains('o')",
                                        "p:not(.intro):contains('')",
                                        "div:contains('again') span",
                                        "[id$=up]"};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
        snprintf(sels[n++], 512, "%s", extra[i]);
    static const char *const profiles[] = {"amazon.product", "amazon.search", "company"};
    for (size_t i = 0; i < 3; i++) {
        char path[256], err[256];
        snprintf(path, sizeof(path), "shared/profiles/%s.json", profiles[i]);
        json_error_t je;
        json_t *p = json_load_file(path, 0, &je);
        if (!p)
            fail_msg("%s: %s", path, je.text);
        collect_selectors(p, sels, &n, 600);
        json_decref(p);
        (void)err;
    }
    static const char *const pages[] = {NULL,
                                        "amazon_product_us.html",
                                        "amazon_product_de.html",
                                        "amazon_product_jp.html",
                                        "amazon_search.html",
                                        "amazon_captcha.html",
                                        "company_jsonld.html",
                                        "company_plain.html"};
    static const char tricky[] =
        "<html><body><a name=dup>named first</a><div id=dup><span>1</span>"
        "<div><div><p><span lang=en>2</span></p></div></div></div><p id=dup>again</p>"
        "<div id=top class='box main'><p class=intro id=p1>x</p><section id=sec>"
        "<p>y</p></section></div><ul id=list><li id=l1>a</li><li class=odd>b</li>"
        "<li>c</li></ul></body></html>";
    size_t planned = 0, compared = 0;
    for (size_t pi = 0; pi < sizeof(pages) / sizeof(pages[0]); pi++) {
        char path[256];
        htmlDocPtr d;
        if (pages[pi]) {
            size_t len;
            snprintf(path, sizeof(path), "tests/fixtures/extract/%s", pages[pi]);
            char *html = testfile_read(path, &len);
            d = hparse_read(html, len, NULL);
            free(html);
        } else {
            d = hparse_read(tricky, strlen(tricky), "http://t/");
        }
        xmlXPathContextPtr ctx = sel_context_new(d);
        for (size_t i = 0; i < n; i++) {
            char err[256];
            struct sel *s = sel_compile(sels[i], err, sizeof(err));
            if (!s)
                fail_msg("'%s' did not compile: %s", sels[i], err);
            if (!s->match) {
                sel_free(s);
                continue;
            }
            planned += pi == 0;
            xmlNodePtr root = (xmlNodePtr)d;
            for (xmlNodePtr e = root; e; e = sel_walk_next(e, root, 1)) {
                if (e != root && e->type != XML_ELEMENT_NODE)
                    continue;
                xmlXPathObjectPtr a, b = sel_eval_xpath(s, ctx, e);
                assert_int_equal(sel_match_eval(s->match, e, &a), 0);
                assert_non_null(b);
                int na = a->nodesetval ? a->nodesetval->nodeNr : 0;
                int nb = b->nodesetval ? b->nodesetval->nodeNr : 0;
                int same = na == nb;
                for (int k = 0; same && k < na; k++)
                    same = a->nodesetval->nodeTab[k] == b->nodesetval->nodeTab[k];
                if (!same)
                    fail_msg("'%s' on %s from <%s>: %d nodes on the tree, %d by XPath (%s)",
                             sels[i], pages[pi] ? pages[pi] : "the tricky page",
                             e == root ? "document" : (const char *)e->name, na, nb, s->xpath);
                compared++;
                xmlXPathFreeObject(a);
                xmlXPathFreeObject(b);
            }
            sel_free(s);
        }
        sel_context_free(ctx);
        xmlFreeDoc(d);
    }
    /* Most rules take the direct path (else this test compares nothing). */
    assert_true(planned * 10 >= n * 8);
    assert_true(compared > 10000);
}

/* The fuzz target over its seed corpus, then 30,000 deterministic
 * mutations of the seeds (bytes CSS cares about inserted, replaced,
 * dropped, chunks doubled). */
static void test_fuzz_corpus(void **state)
{
    (void)state;
    char seeds[64][256];
    size_t n = 0;
    DIR *d = opendir("tests/fuzz/corpus/sel");
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 64) {
        if (de->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof(path), "tests/fuzz/corpus/sel/%s", de->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t len = fread(seeds[n], 1, sizeof(seeds[n]) - 1, f);
        fclose(f);
        seeds[n][len] = '\0';
        LLVMFuzzerTestOneInput((const uint8_t *)seeds[n], len);
        n++;
    }
    closedir(d);
    assert_true(n >= 10);
    static const char alphabet[] = "[]()'\"\\:.#>+~*,=^$|! -_n0123456789aZ\n\xc3\xa9\x80";
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (int iter = 0; iter < 30000; iter++) {
        char buf[600];
        const char *seed = seeds[iter % n];
        size_t len = strlen(seed);
        memcpy(buf, seed, len + 1);
        for (int k = 0; k < 1 + iter % 4; k++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t pos = len ? (size_t)(rng >> 8) % (len + 1) : 0;
            char c = alphabet[(rng >> 40) % (sizeof(alphabet) - 1)];
            switch ((rng >> 56) % 4) {
            case 0: /* insert */
                if (len + 1 < sizeof(buf) - 1) {
                    memmove(buf + pos + 1, buf + pos, len - pos + 1);
                    buf[pos] = c;
                    len++;
                }
                break;
            case 1: /* replace */
                if (pos < len)
                    buf[pos] = c;
                break;
            case 2: /* drop */
                if (pos < len) {
                    memmove(buf + pos, buf + pos + 1, len - pos);
                    len--;
                }
                break;
            case 3: /* double the tail */
                if (2 * len - pos < sizeof(buf) - 1) {
                    memcpy(buf + len, buf + pos, len - pos);
                    len += len - pos;
                    buf[len] = '\0';
                }
                break;
            }
        }
        LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_errors_name_position),
        cmocka_unit_test(test_xpath_values),
        cmocka_unit_test(test_relative),
        cmocka_unit_test(test_tree_matches_xpath),
        cmocka_unit_test(test_fuzz_corpus),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
