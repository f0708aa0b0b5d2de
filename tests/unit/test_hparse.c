/* hparse: the fast parser's tree is libxml2's, node by node, on every
 * fixture page, on hand-written hard cases and on a generated corpus; it
 * takes the fixture pages itself (no fallback); hostile input (deep
 * nesting, huge attributes and text, unclosed tags) is handled in linear
 * time, by declining where libxml2's tree is not modelled. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libxml/HTMLtree.h>

#include "buf.h"
#include "hparse.h"
#include "hparse_diff.h"
#include "testfile.h"

static int check(const char *html, size_t len, const char *label)
{
    char why[512];
    int r = hparse_diff_html(html, len, why, sizeof(why));
    if (r == 1) {
        fprintf(stderr, "%s: %s\n--- input (%zu bytes) ---\n%.*s\n---\n", label, why, len,
                (int)(len > 2000 ? 2000 : len), html);
        fail();
    }
    return r;
}

static void walk_fixtures(const char *dir, int *files, int *declined)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (e->d_type == DT_DIR) {
            walk_fixtures(path, files, declined);
            continue;
        }
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || (strcmp(dot, ".html") && strcmp(dot, ".htm")))
            continue;
        size_t len;
        char *html = testfile_read(path, &len);
        (*files)++;
        if (check(html, len, path) < 0) {
            fprintf(stderr, "declined: %s\n", path);
            (*declined)++;
        }
        free(html);
    }
    closedir(d);
}

/* Every fixture page: the same tree, and none declined. */
static void test_fixtures(void **state)
{
    (void)state;
    int files = 0, declined = 0;
    walk_fixtures("tests/fixtures", &files, &declined);
    assert_true(files >= 10);
    assert_int_equal(declined, 0);
}

static const char *const cases[] = {
    "<p>a<p>b",
    "<html><head><title>t</title></head><body><p>x</body></html>",
    "<!DOCTYPE html><html><body>x</body></html>",
    "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">"
    "<html> <body> <p>a</p> </body> </html>",
    "<!-- c --> <!DOCTYPE html> <!--d--><html>x",
    "text only",
    "  \n <b>bold</b> tail",
    "<title>t</title><p>after",
    "<html> x <head> y </head> z",
    "<head><meta charset=utf-8><link rel=x href=y><script>var a = '</div>'; if (a<b) {}</script>"
    "<style>p{}</style></head><body>",
    "<script>x</scriptx>y</script>z",
    "<script><noscript>a</noscript></script>",
    "<style><body>b</style>",
    "<div><table><tr><td>1<td>2<tr><td>3</table></div>",
    "<ul><li>a<li>b</ul><ol><li>c</ol>",
    "<dl><dt>a<dd>b<dt>c</dl>",
    "<select><option>a<option>b<optgroup><option>c</select>",
    "<div><span>a</div>b</span>c",
    "<table><td>x</div></td></table>",
    "<div><p>a</div><p>b</td>c",
    "<a href=x>1<a href=y>2</a>",
    "<form><form>x</form></form>",
    "<b><p>x</p></b>",
    "<h1>a<h2>b</h1>c",
    "<p>a<table>b</table>",
    "<br/><hr><img src=a.png alt=\"x\"/><input checked disabled value=v>",
    "<div/>x<span/>y",
    "<p id=a>1</p><p id=a>2</p><a name=n>3</a><div name=m>4</div>",
    "<a href=\"a?b=1&amp;c=2&d=3&#38;&#x26;&copy;&bogus;&amp\">x</a>",
    "<p>&amp; &lt;&gt; &quot; &nbsp;&copy;&euro;&apos; &bogus; &amp &#65;&#x42;&#0;&#xD800; &#; & "
    "&# ;&",
    "<p>a&b;c &1 &_x; &a-b.c;",
    "<p a=1 A=2 b='x' c=\"y\" d=z/ e f= g>x",
    "<p \"q\" =x @y=1 class=a>t",
    "<p>a</ p>b</>c</3>d</p x y>e",
    "<P CLASS=X><B>up</B></P><DIV>Mixed</dIv>",
    "<html><body><body class=x><html lang=y><head>z</head></body></html>",
    "</body></html>x",
    "<p>a</p></body></html><p>after</p>",
    "<html><body>x</body></html><!-- end -->",
    "<!---->a<!--->b-->c<!-- a -- b -->d<!--x--!>e",
    "<p>unterminated <!-- comment",
    "<p>a <b",
    "<p>a <b c=\"d",
    "<p>a <b c",
    "<div x=1",
    "<!x>a<!DOCTYPE",
    "a < b > c <",
    "<p>\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80</p><a title=\"\xc3\xa9\">x</a>",
    "<p>line\r\nbreak</p>\r\n<div\r\nid=x>y</div>",
    "<frameset><frame src=a></frameset>",
    "<noframes>x</noframes>",
    "<textarea><b>x</b></textarea><title><b>y</b></title>",
    "<pre>\n x</pre><listing>a</listing><xmp><b></xmp>",
    "<center><font>a<center>b</center></font></center>",
    "<colgroup><col><col></colgroup><caption>c<tr>",
    "<address><ul><li>x</address>",
    "<custom-el data-x=1>x</custom-el><my_el>y</my_el>",
    "<head></head>  \n  <p>x",
    "<html>\n<!-- c -->\n<head>\n</head>\n<body>\n</body>\n</html>\n",
    "<body>\n<!-- c -->\n<div>\n</div>\n</body>",
    "<div>  <!-- c -->  <span> </span>  </div>",
    "<iframe src=x>y</iframe><object>z</object><embed src=a>",
    "<meta http-equiv=Content-Type content='text/html; charset=iso-8859-1'><p>\xc3\xa9",
    "<p>x</p>\n",
    "<p>x</p>\n  ",
    "<p>x</p>&amp;",
    /* test_xspec's hostile pages, with and without their invalid bytes */
    "<html><head><meta charset=shift_jis></head><body><p id=x>caf\xe9 \xff\xfe\xc3</p></div>"
    "</span><table><tr><td>1<td>2</body><p>\xed\xa0\x80 surrogate</p><![CDATA[ x ]]><!-- <p> -->",
    "<html><head><meta charset=shift_jis></head><body><p id=x>caf\xc3\xa9 </p></div></span>"
    "<table><tr><td>1<td>2</body><p>surrogate</p><![CDATA[ x ]]><!-- <p> -->",
    "<html><head><script type=application/ld+json>{\"@type\":\"Product\",\"weight\":1e300}"
    "</script></head><body></body></html>",
};

static void test_cases(void **state)
{
    (void)state;
    int declined = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char label[32];
        snprintf(label, sizeof(label), "case %zu", i);
        if (check(cases[i], strlen(cases[i]), label) < 0)
            declined++;
    }
    /* most of them are the fast path's own */
    assert_true(declined < 7);
}

/* ------------------------------------------------------------ generated */

static uint64_t rng = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *pick(const char *const *v, size_t n)
{
    return v[rnd((unsigned)n)];
}
#define PICK(v) pick(v, sizeof(v) / sizeof(v[0]))

static const char *const tags[] = {
    "html",    "head",     "body",   "title",  "meta",     "link",     "script",   "style",
    "div",     "p",        "span",   "a",      "b",        "i",        "ul",       "ol",
    "li",      "table",    "tr",     "td",     "th",       "tbody",    "thead",    "tfoot",
    "form",    "input",    "br",     "img",    "hr",       "h1",       "h2",       "dl",
    "dt",      "dd",       "select", "option", "pre",      "noscript", "iframe",   "textarea",
    "center",  "font",     "x-el",   "DIV",    "Span",     "caption",  "col",      "colgroup",
    "address", "fieldset", "legend", "base",   "frameset", "frame",    "noframes", "em",
    "strong",  "small",    "button", "label",  "section",  "nav"};
static const char *const attnames[] = {"id",     "class", "href",  "src", "name",  "checked",
                                       "data-x", "style", "title", "ID",  "value", "alt"};
static const char *const values[] = {"x",     "a b",        "a&amp;b",  "1&2",
                                     "&#65;", "&copy;x",    "\xc3\xa9", "",
                                     "a'b",   "/p?q=1&r=2", "&bogus;",  "&#1;"};
static const char *const texts[] = {"word",
                                    " ",
                                    "\n",
                                    "  \n\t ",
                                    "a b c",
                                    "&amp;",
                                    "&lt;",
                                    "&nbsp;",
                                    "&copy;",
                                    "&bogus;",
                                    "&amp",
                                    "&#65;",
                                    "&#x1F600;",
                                    "&#0;",
                                    "& ",
                                    "&#",
                                    "\xc3\xa9",
                                    "\xe6\x97\xa5",
                                    "<",
                                    "<!x>",
                                    "<!-- c -->",
                                    "<!---->",
                                    "<!-- a -- b --!>",
                                    "\r\n",
                                    "x>y",
                                    "</>",
                                    "</ p>",
                                    "&#xD800;",
                                    "&\xc3\xa9",
                                    "&a\xe6\x97\xa5;",
                                    "a&b\xe6\x97\xa5",
                                    "&a-b.c;",
                                    "&1;"};
/* What the fast path declines: rare, so that most documents are compared. */
static const char *const rare[] = {"<?pi?>",           "<_x>",         "<a:b>", "\x01",
                                   "<p title='&#0;'>", "<!DOCTYPE x>", "\xc3",  "<a xml:id=x>"};

static void gen_tag(struct buf *b)
{
    const char *t = PICK(tags);
    buf_addf(b, "<%s", t);
    int n = (int)rnd(4);
    for (int i = 0; i < n; i++) {
        const char *a = PICK(attnames);
        switch (rnd(5)) {
        case 0: buf_addf(b, " %s", a); break;
        case 1: buf_addf(b, " %s=%s", a, rnd(2) ? "v" : "v/w"); break;
        case 2: buf_addf(b, " %s='%s'", a, PICK(values)); break;
        default: buf_addf(b, " %s=\"%s\"", a, PICK(values));
        }
    }
    buf_adds(b, rnd(8) ? ">" : "/>");
    if (!strcmp(t, "script") || !strcmp(t, "style")) {
        static const char *const raw[] = {"a<b", "x</div>y", "", "</scr", "<!-- -->", "\n"};
        buf_addf(b, "%s%s", PICK(raw), rnd(4) ? "</" : "");
        if (b->ptr[b->len - 1] == '/')
            buf_addf(b, "%s>", t);
    }
}

static void gen_doc(struct buf *b)
{
    b->len = 0;
    static const char *const starts[] = {"",
                                         "",
                                         "<!DOCTYPE html>",
                                         "<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 4.01//EN\">",
                                         "<!-- head -->\n",
                                         "  ",
                                         "<html>",
                                         "<!DOCTYPE html>\n<html lang=en>\n<head>"};
    buf_adds(b, PICK(starts));
    int n = 1 + (int)rnd(40);
    for (int i = 0; i < n; i++) {
        if (rnd(300) == 0) {
            buf_adds(b, PICK(rare));
            continue;
        }
        switch (rnd(7)) {
        case 0:
        case 1: gen_tag(b); break;
        case 2: buf_addf(b, "</%s>", PICK(tags)); break;
        case 3:
            if (rnd(20) == 0) { /* a long run, past libxml2's 1000-byte pieces */
                int k = 990 + (int)rnd(30);
                for (int j = 0; j < k; j++)
                    buf_addc(b, rnd(3) ? ' ' : (rnd(2) ? 'x' : '\n'));
                break;
            }
            /* fall through */
        default: buf_adds(b, PICK(texts));
        }
    }
    if (rnd(4) == 0)
        buf_adds(b, "</body></html>\n");
}

static void test_generated(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, BUF_NO_MAX);
    int declined = 0, total = 20000;
    for (int i = 0; i < total; i++) {
        gen_doc(&b);
        char label[32];
        snprintf(label, sizeof(label), "generated %d", i);
        if (check(b.ptr, b.len, label) < 0)
            declined++;
    }
    fprintf(stderr, "generated: %d documents, %d declined\n", total, declined);
    assert_true(declined < total / 2);
    buf_release(&b);
}

/* ------------------------------------------------------------ hostile */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void hostile(const char *label, struct buf *b)
{
    double t0 = now();
    htmlDocPtr doc = hparse_fast(b->ptr, b->len, "http://x/");
    double dt = now() - t0;
    fprintf(stderr, "%s: %zu bytes, %s, %.1f ms\n", label, b->len, doc ? "parsed" : "declined",
            dt * 1e3);
    if (doc) {
        char why[512];
        htmlDocPtr want = hparse_libxml2(b->ptr, b->len, "http://x/");
        if (hparse_diff(doc, want, why, sizeof(why))) {
            fprintf(stderr, "%s: %s\n", label, why);
            fail();
        }
        xmlFreeDoc(want);
        xmlFreeDoc(doc);
    }
    /* linear: a few MB take well under a second even under load */
    assert_true(dt < 2.0);
    htmlDocPtr any = hparse_read(b->ptr, b->len, "http://x/");
    assert_non_null(any);
    xmlFreeDoc(any);
}

static void test_hostile(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, BUF_NO_MAX);
    for (int i = 0; i < 100000; i++)
        buf_adds(&b, "<div>");
    hostile("100k nested divs", &b);
    b.len = 0;
    buf_adds(&b, "<p a=\"");
    for (int i = 0; i < 1000000; i++)
        buf_addc(&b, 'x');
    buf_adds(&b, "\">y</p>");
    hostile("1 MB attribute", &b);
    b.len = 0;
    for (int i = 0; i < 200000; i++)
        buf_adds(&b, "<p><b><i>x");
    hostile("200k unclosed tags", &b);
    b.len = 0;
    buf_adds(&b, "<p");
    for (int i = 0; i < 100000; i++)
        buf_addf(&b, " a%d=1", i);
    buf_adds(&b, ">");
    hostile("100k attributes", &b);
    b.len = 0;
    buf_adds(&b, "<script>");
    for (int i = 0; i < 200000; i++)
        buf_adds(&b, "</scrip");
    hostile("script of near end tags", &b);
    b.len = 0;
    for (int i = 0; i < 200000; i++)
        buf_adds(&b, "<!-- -");
    hostile("unclosed comments", &b);
    b.len = 0;
    for (int i = 0; i < 300000; i++)
        buf_adds(&b, "</div>");
    hostile("300k stray end tags", &b);
    b.len = 0;
    buf_adds(&b, "<html><body><a title='");
    for (int i = 0; i < (4 << 20); i++)
        buf_addc(&b, 'x');
    buf_adds(&b, "'>a</a>");
    for (int i = 0; i < 20000; i++)
        buf_addf(&b, "<div>%d</div>", i);
    buf_adds(&b, "</body></html>");
    hostile("4 MB attribute and 20,000 siblings", &b);
    b.len = 0;
    buf_adds(&b, "<p>\xff\xfe bad utf-8");
    hostile("invalid UTF-8", &b);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_generated),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
