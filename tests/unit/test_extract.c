/* extract and result (shared/): charset detection, formats on small
 * documents, and result splitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "extract.h"
#include "result.h"

static void test_charset(void **state)
{
    (void)state;
    static const struct {
        const char *ct, *body;
        int html;
        const char *want;
    } t[] = {
        {"text/html; charset=UTF-8", "<p>x</p>", 1, "utf-8"},
        {"text/html; charset=\"Shift_JIS\"", "<p>x</p>", 1, "shift_jis"},
        {"text/html; charset=iso-8859-1", "<p>x</p>", 1, "windows-1252"},
        {"text/html", "<meta charset=\"koi8-r\"><p>x</p>", 1, "koi8-r"},
        {"text/html",
         "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\">", 1,
         "windows-1251"},
        {"text/plain", "<meta charset=\"koi8-r\">", 0, "utf-8"}, /* meta only for HTML */
        {NULL, "\xef\xbb\xbf<p>bom</p>", 1, "utf-8"},
        {"text/html", "caf\xc3\xa9", 1, "utf-8"},
        {"text/html", "caf\xe9", 1, "windows-1252"},                     /* undeclared, not UTF-8 */
        {"text/html; charset=utf-8", "caf\xe9", 1, "windows-1252"},      /* false UTF-8 claim */
        {"text/html", "<meta charset=utf-8>caf\xe9", 1, "windows-1252"}, /* same, from meta */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char out[40];
        extract_charset(t[i].ct, t[i].body, strlen(t[i].body), t[i].html, out, sizeof(out));
        if (strcmp(out, t[i].want) != 0)
            fail_msg("case %zu: %s, want %s", i, out, t[i].want);
    }
}

static void test_formats_small(void **state)
{
    (void)state;
    static const struct {
        const char *html;
        const char *text, *markdown;
    } t[] = {
        {"<h2>T</h2><p>a <b>b</b>\n  c</p><script>x()</script>", "T\n\na b c", "## T\n\na **b** c"},
        {"<ul><li>one</li><li>two<ol><li>x</li></ol></li></ul>", "- one\n- two\n  1. x",
         "- one\n- two\n  1. x"},
        {"<table><tr><th>a</th><th>b|c</th></tr><tr><td>1</td><td>2</td></tr></table>",
         "a\tb|c\n1\t2", "| a | b\\|c |\n| --- | --- |\n| 1 | 2 |"},
        {"<nav><a href=/x>menu</a></nav><p>body <code>k=v</code></p>", "body k=v", "body `k=v`"},
        {"<pre>  keep\n   spaces</pre>", "  keep\n   spaces", "```\n  keep\n   spaces\n```"},
        {"<blockquote><p>q1</p><p>q2</p></blockquote>", "q1\n\nq2", "> q1\n> \n> q2"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct extract ex;
        extract_run(&ex, t[i].html, strlen(t[i].html), "text/html", "http://e.com/d/",
                    FORMAT_BIT(FORMAT_TEXT) | FORMAT_BIT(FORMAT_MARKDOWN));
        if (strcmp(ex.text.ptr, t[i].text) != 0)
            fail_msg("case %zu text: [%s]", i, ex.text.ptr);
        if (strcmp(ex.markdown.ptr, t[i].markdown) != 0)
            fail_msg("case %zu markdown: [%s]", i, ex.markdown.ptr);
        extract_release(&ex);
    }
}

static void test_links(void **state)
{
    (void)state;
    const char *html = "<a href='a'>1</a><a href='/a#x'>2</a><a href='http://o.org/'>3</a>"
                       "<a href='mailto:x@y'>4</a><a href='javascript:f()'>5</a>"
                       "<a href=' ../b?q=1 '>6</a><a>7</a><a href='/d/a'>8</a>";
    struct extract ex;
    extract_run(&ex, html, strlen(html), "text/html", "http://e.com/d/p.html",
                FORMAT_BIT(FORMAT_LINKS));
    char *s = json_dumps(ex.links, JSON_COMPACT);
    assert_string_equal(s, "[\"http://e.com/d/a\",\"http://e.com/a\",\"http://o.org/\","
                           "\"http://e.com/b?q=1\"]");
    free(s);
    extract_release(&ex);
}

static void test_binary(void **state)
{
    (void)state;
    const char png[] = "\x89PNG\r\n\x1a\n\0\0";
    struct extract ex;
    extract_run(&ex, png, sizeof(png) - 1, "image/png", "http://e.com/", FORMAT_BIT(FORMAT_HTML));
    assert_int_equal(ex.binary, 1);
    assert_string_equal(ex.base64.ptr, "iVBORw0KGgoAAA==");
    extract_release(&ex);
}

/* A result larger than a message splits into parts that each fit, parse,
 * and concatenate back to the exact data. */
static void test_result_split(void **state)
{
    (void)state;
    struct buf body = BUF_INIT(BUF_NO_MAX);
    for (int i = 0; i < 4000; i++)
        buf_addf(&body, "<p>line %d \"quoted\" caf\xc3\xa9 \xe2\x82\xac \x01</p>\n", i);
    struct extract ex;
    extract_run(&ex, body.ptr, body.len, "text/html; charset=utf-8", "http://e.com/",
                FORMAT_BIT(FORMAT_HTML) | FORMAT_BIT(FORMAT_TEXT) | FORMAT_BIT(FORMAT_LINKS));
    struct result_meta m = {.batch_id = "bat_1",
                            .tenant = "t",
                            .input = "http://e.com/",
                            .index = 7,
                            .status = STATUS_OK,
                            .http_status = 200,
                            .attempts = 1,
                            .fetched_at_ms = 1794000000000LL};
    for (size_t max = 20000; max <= 1000000; max *= 7) {
        struct result_part *parts;
        size_t n = result_build(
            &m, &ex, FORMAT_BIT(FORMAT_HTML) | FORMAT_BIT(FORMAT_TEXT) | FORMAT_BIT(FORMAT_LINKS),
            max, &parts);
        struct buf html = BUF_INIT(BUF_NO_MAX), text = BUF_INIT(BUF_NO_MAX);
        int links_seen = 0;
        for (size_t i = 0; i < n; i++) {
            if (parts[i].len > max)
                fail_msg("max %zu: part %zu is %zu bytes", max, i + 1, parts[i].len);
            json_error_t err;
            json_t *v = json_loadb(parts[i].buf, parts[i].len, 0, &err);
            if (!v)
                fail_msg("max %zu: part %zu not JSON: %s", max, i + 1, err.text);
            assert_int_equal(json_integer_value(json_object_get(v, "index")), 7);
            assert_int_equal(json_integer_value(json_object_get(v, "credits_charged")), 1);
            if (n > 1) {
                assert_int_equal(json_integer_value(json_object_get(v, "part")), (json_int_t)i + 1);
                assert_int_equal(json_integer_value(json_object_get(v, "parts")), (json_int_t)n);
            }
            json_t *d = json_object_get(v, "data");
            const char *h = json_string_value(json_object_get(d, "html"));
            const char *t = json_string_value(json_object_get(d, "text"));
            if (h)
                buf_add(&html, h, json_string_length(json_object_get(d, "html")));
            if (t)
                buf_add(&text, t, json_string_length(json_object_get(d, "text")));
            links_seen += json_object_get(d, "links") != NULL;
            json_decref(v);
            free(parts[i].buf);
        }
        free(parts);
        if (max < body.len)
            assert_true(n > 1);
        assert_int_equal(links_seen, 1);
        /* The escaped \x01 comes back as the byte. */
        assert_int_equal(html.len, body.len);
        assert_memory_equal(html.ptr, body.ptr, body.len);
        assert_int_equal(text.len, ex.text.len);
        assert_memory_equal(text.ptr, ex.text.ptr, text.len);
        buf_release(&html);
        buf_release(&text);
    }
    extract_release(&ex);
    buf_release(&body);
}

int main(void)
{
    xmlInitParser();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_charset),      cmocka_unit_test(test_formats_small),
        cmocka_unit_test(test_links),        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_result_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
