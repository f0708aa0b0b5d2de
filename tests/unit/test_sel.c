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
#include <libxml/HTMLparser.h>

#include "../fuzz/fuzz_sel.c"
#include "sel.h"

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
    doc = htmlReadMemory(page, (int)strlen(page), "http://t/", "UTF-8",
                         HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING);
    return doc ? 0 : -1;
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
        cmocka_unit_test(test_matches),      cmocka_unit_test(test_errors_name_position),
        cmocka_unit_test(test_xpath_values), cmocka_unit_test(test_relative),
        cmocka_unit_test(test_fuzz_corpus),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
