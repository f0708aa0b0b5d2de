/* jx's writer against JavaScript itself: every case is generated here,
 * handed to node, and our bytes must equal what JSON.stringify writes
 * (numbers, strings of any bytes, lone surrogates, key order, nesting,
 * random documents). Also the writer's cap and the appenders' shapes. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "jx.h"

/* The oracle: one case per line, hex in and hex out. `double`: the 8 bytes
 * of a double, written as JSON.stringify writes a number; `bytes`: any
 * bytes, decoded as a browser does, written as a string; `json`: a JSON
 * text, JSON.stringify(JSON.parse(text)). */
static const char oracle_js[] = "const fs = require('fs');"
                                "const [mode, file] = process.argv.slice(1);"
                                "const dec = new TextDecoder('utf-8', {ignoreBOM: true});"
                                "const out = [];"
                                "for (const line of fs.readFileSync(file, 'latin1').split('\\n')) {"
                                "  if (!line) continue;"
                                "  const b = Buffer.from(line.slice(1), 'hex');"
                                "  const r = mode === 'double' ? JSON.stringify(b.readDoubleLE(0))"
                                "          : mode === 'bytes' ? JSON.stringify(dec.decode(b))"
                                "          : JSON.stringify(JSON.parse(b.toString('utf8')));"
                                "  out.push(Buffer.from(r, 'utf8').toString('hex'));"
                                "}"
                                "fs.writeFileSync(file + '.out', out.join('\\n') + '\\n');";

/* A list of byte strings. */
struct cases {
    struct buf *v;
    size_t n, cap;
};

static void cases_add(struct cases *c, const void *data, size_t len)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->v = realloc(c->v, c->cap * sizeof(*c->v));
        assert_non_null(c->v);
    }
    buf_init(&c->v[c->n], BUF_NO_MAX);
    assert_int_equal(buf_add(&c->v[c->n], data, len), 0);
    c->n++;
}

static void cases_free(struct cases *c)
{
    for (size_t i = 0; i < c->n; i++)
        buf_release(&c->v[i]);
    free(c->v);
    *c = (struct cases){0};
}

/* "x" and the hex digits: an empty case is a line too. */
static void hex_line(FILE *f, const char *s, size_t len)
{
    fputc('x', f);
    for (size_t i = 0; i < len; i++)
        fprintf(f, "%02x", (unsigned char)s[i]);
    fputc('\n', f);
}

/* Runs the oracle over the inputs; returns what JavaScript wrote for each. */
static struct cases oracle(const char *mode, const struct cases *in)
{
    char path[] = "/tmp/ferry-jx-XXXXXX", script[] = "/tmp/ferry-jx-js-XXXXXX", cmd[512],
         out_path[64];
    int fd = mkstemp(path), sfd = mkstemp(script);
    assert_true(fd >= 0 && sfd >= 0);
    FILE *f = fdopen(fd, "w");
    for (size_t i = 0; i < in->n; i++)
        hex_line(f, in->v[i].ptr ? in->v[i].ptr : "", in->v[i].len);
    fclose(f);

    FILE *js = fdopen(sfd, "w");
    fputs(oracle_js, js);
    fclose(js);
    snprintf(cmd, sizeof(cmd), "node -e \"$(cat %s)\" %s %s", script, mode, path);
    int rc = system(cmd);
    unlink(script);
    if (rc != 0)
        fail_msg("node failed (is nodejs installed? compose/deps.sh installs it)");

    struct cases out = {0};
    snprintf(out_path, sizeof(out_path), "%s.out", path);
    f = fopen(out_path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        size_t n = (size_t)got - (line[got - 1] == '\n');
        char *bytes = malloc(n / 2 + 1);
        for (size_t i = 0; i < n / 2; i++) {
            unsigned x;
            sscanf(line + 2 * i, "%2x", &x);
            bytes[i] = (char)x;
        }
        cases_add(&out, bytes, n / 2);
        free(bytes);
    }
    free(line);
    fclose(f);
    unlink(path);
    unlink(out_path);
    assert_int_equal(out.n, in->n);
    return out;
}

static void expect_same(const char *what, const struct cases *in, const struct cases *ours,
                        const struct cases *js)
{
    size_t bad = 0;
    for (size_t i = 0; i < in->n; i++) {
        if (ours->v[i].len == js->v[i].len &&
            memcmp(buf_str(&ours->v[i]), buf_str(&js->v[i]), js->v[i].len) == 0)
            continue;
        if (bad++ < 5)
            print_error("%s case %zu:\n  ours: %.300s\n  js:   %.300s\n", what, i,
                        buf_str(&ours->v[i]), buf_str(&js->v[i]));
    }
    if (bad)
        fail_msg("%s: %zu of %zu cases differ from JavaScript", what, bad, in->n);
}

/* xorshift64*: the same hostile cases on every run. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dULL;
}

/* ------------------------------------------------------------ numbers */

static void add_double(struct cases *c, double v)
{
    cases_add(c, &v, sizeof(v)); /* little-endian, as the oracle reads it */
}

static void test_numbers_as_javascript_prints_them(void **state)
{
    (void)state;
    struct cases in = {0}, ours = {0};
    static const double fixed[] = {0.0,
                                   -0.0,
                                   1.0,
                                   -1.0,
                                   0.1,
                                   0.2 + 0.1,
                                   2.0 / 3.0,
                                   0.667,
                                   100.0,
                                   123456789.0,
                                   1e20,
                                   1e21,
                                   1.5e21,
                                   1e22,
                                   9007199254740992.0,
                                   9007199254740994.0,
                                   1152921504606846976.0,
                                   1e-6,
                                   1.5e-6,
                                   1e-7,
                                   1.2345e-7,
                                   0.000001234,
                                   5e-324,
                                   2.2250738585072014e-308,
                                   DBL_MAX,
                                   -DBL_MAX,
                                   1.7976931348623157e308,
                                   4.35,
                                   0.5,
                                   1234567.891,
                                   NAN,
                                   INFINITY,
                                   -INFINITY};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        add_double(&in, fixed[i]);
    /* Powers of two and their neighbours: where rounding intervals are
     * lopsided. */
    for (int e = -1074; e <= 1023; e += 7) {
        double p = ldexp(1.0, e);
        add_double(&in, p);
        add_double(&in, nextafter(p, 0));
        add_double(&in, nextafter(p, INFINITY));
    }
    /* Any bit pattern, and decimals with few digits at every scale. */
    for (int i = 0; i < 4000; i++) {
        uint64_t bits = rnd();
        double v;
        memcpy(&v, &bits, sizeof(v));
        add_double(&in, v);
        add_double(&in, (double)(rnd() % 100000) * pow(10, (double)(int)(rnd() % 60) - 30));
        /* prices and ratings, up to 2^31 with up to seven decimals (the
         * writer's printf-free path and its edges) */
        double d = (double)(rnd() % 10000000000ull) / pow(10, (double)(rnd() % 8));
        add_double(&in, rnd() % 2 ? d : -d);
        add_double(&in, 2147483648.0 - (double)(rnd() % 1000) / 64.0);
    }
    for (size_t i = 0; i < in.n; i++) {
        double v;
        memcpy(&v, in.v[i].ptr, sizeof(v));
        char s[JX_NUMBER_MAX];
        size_t len = jx_number(s, v);
        assert_int_equal(strlen(s), len);
        cases_add(&ours, s, len);
    }
    struct cases js = oracle("double", &in);
    expect_same("double", &in, &ours, &js);
    cases_free(&in), cases_free(&ours), cases_free(&js);

    /* Integers: exact up to 2^53, then the double JavaScript holds. */
    static const long long ints[] = {0,
                                     -1,
                                     42,
                                     9007199254740991LL,
                                     9007199254740992LL,
                                     9007199254740993LL,
                                     -9007199254740993LL,
                                     123456789012345678LL,
                                     9223372036854775807LL,
                                     -9223372036854775807LL - 1};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        char t[32];
        struct buf b = BUF_INIT(BUF_NO_MAX);
        cases_add(&in, t, (size_t)snprintf(t, sizeof(t), "%lld", ints[i]));
        assert_int_equal(jx_add_int(&b, ints[i]), 0);
        cases_add(&ours, buf_str(&b), b.len);
        buf_release(&b);
    }
    js = oracle("json", &in);
    expect_same("integer", &in, &ours, &js);
    cases_free(&in), cases_free(&ours), cases_free(&js);
}

/* ------------------------------------------------------------ strings */

static void test_strings_of_any_bytes(void **state)
{
    (void)state;
    struct cases in = {0}, ours = {0};
    static const char *const fixed[] = {
        "",
        "plain ascii text, long enough for the eight-byte path",
        "quote \" backslash \\ slash / tab \t newline \n cr \r bs \b ff \f",
        "\x01\x02\x1f\x7f del and controls",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 emoji",
        "line sep \xe2\x80\xa8 para sep \xe2\x80\xa9",
        "\xef\xbb\xbf starts with a BOM",
        "lone continuation \x80 and \xbf",
        "overlong \xc0\xaf \xe0\x80\xaf \xf0\x80\x80\xaf",
        "truncated \xe2\x82",
        "truncated at end \xf0\x9f\x98",
        "past U+10FFFF \xf4\x90\x80\x80 and \xf5\x80",
        "\xfe\xff bytes never in UTF-8",
        "\xe2\x28\xa1 bad second byte",
        "<p class=\"x\">scraped &amp; \"quoted\"\r\n\ttext</p><script>a<b&&c</script>",
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        cases_add(&in, fixed[i], strlen(fixed[i]));
    static const char nul[] = "nul \0 inside";
    cases_add(&in, nul, sizeof(nul) - 1);
    /* Each special at every offset of a plain run: the eight-bytes-at-a-time
     * path must stop at it wherever it falls. */
    static const char *const specials[] = {"\"",   "\\",       "\n",           "\x01",
                                           "\x1f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                           "\xff", "\xc3",     "\x7f",         "\b"};
    for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++)
        for (size_t pos = 0; pos < 20; pos++) {
            char s[64];
            memset(s, 'a', sizeof(s));
            memcpy(s + pos, specials[k], strlen(specials[k]));
            cases_add(&in, s, 24 + pos % 5);
        }
    /* Plain strings on both sides of the one-copy path's 256 bytes. */
    static char plain[260];
    memset(plain, 'p', sizeof(plain));
    for (size_t n = 254; n <= 258; n++)
        cases_add(&in, plain, n);
    /* Random bytes, biased to the interesting ones. */
    static const unsigned char pool[] = {'a',  ' ',  '"',  '\\', '/',  0,    1,    0x1f, '\n',
                                         0x7f, 0x80, 0xbf, 0xc2, 0xc3, 0xa9, 0xdf, 0xe0, 0xe2,
                                         0xef, 0xf0, 0xf4, 0x9f, 0x98, 0xf8, 0xff};
    for (int i = 0; i < 3000; i++) {
        unsigned char s[64];
        size_t n = rnd() % sizeof(s);
        for (size_t k = 0; k < n; k++)
            s[k] = rnd() % 3 ? pool[rnd() % sizeof(pool)] : (unsigned char)rnd();
        /* Surrogates (ED A0..BF) are the WTF-8 case, tested below. */
        for (size_t k = 0; k + 1 < n; k++)
            if (s[k] == 0xed && s[k + 1] >= 0xa0 && s[k + 1] <= 0xbf)
                s[k] = 'x';
        cases_add(&in, s, n);
    }
    for (size_t i = 0; i < in.n; i++) {
        struct buf b = BUF_INIT(BUF_NO_MAX);
        assert_int_equal(jx_add_str(&b, in.v[i].ptr ? in.v[i].ptr : "", in.v[i].len), 0);
        cases_add(&ours, buf_str(&b), b.len);
        buf_release(&b);
    }
    struct cases js = oracle("bytes", &in);
    expect_same("string", &in, &ours, &js);
    cases_free(&in), cases_free(&ours), cases_free(&js);
}

/* A lone surrogate of a JavaScript string, stored as bytes (ED A0..BF xx),
 * is written as JSON.stringify writes it; a pair as its character. */
static void test_surrogates(void **state)
{
    (void)state;
    static const struct {
        const char *bytes, *js_text;
    } t[] = {
        {"\xed\xa0\x80", "\"\\ud800\""},
        {"a\xed\xbf\xbfz", "\"a\\udfffz\""},
        {"\xed\xa0\xbd\xed\xb8\x80", "\"\\ud83d\\ude00\""},
        {"\xed\xb8\x80\xed\xa0\xbd", "\"\\ude00\\ud83d\""},
        {"\xed\xa0\xbd\xed\xa0\xbd", "\"\\ud83d\\ud83d\""},
        {"\xed\xa0\xbdx\xed\xb8\x80", "\"\\ud83dx\\ude00\""},
        {"\xed\x9f\xbf", "\"\\ud7ff\""},
    };
    struct cases in = {0}, ours = {0};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct buf b = BUF_INIT(BUF_NO_MAX);
        cases_add(&in, t[i].js_text, strlen(t[i].js_text));
        assert_int_equal(jx_add_str(&b, t[i].bytes, strlen(t[i].bytes)), 0);
        cases_add(&ours, buf_str(&b), b.len);
        buf_release(&b);
    }
    struct cases js = oracle("json", &in);
    expect_same("surrogate", &in, &ours, &js);
    cases_free(&in), cases_free(&ours), cases_free(&js);
}

/* ------------------------------------------------------------ documents */

static void rand_string(struct buf *b)
{
    static const char *const pieces[] = {"a",        "key",          "\\\"",
                                         "\\\\",     "\\/",          "\\n",
                                         "\\t",      "\\u0001",      "\\u001F",
                                         "\\u00e9",  "\\u2028",      "\\uD83D\\uDE00",
                                         "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                         " ",        "<p>",          "&amp;"};
    buf_addc(b, '"');
    for (int n = (int)(rnd() % 6); n > 0; n--)
        buf_adds(b, pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))]);
    buf_addc(b, '"');
}

static void rand_key(struct buf *b)
{
    static const char *const keys[] = {
        "\"0\"",         "\"1\"",          "\"2\"",          "\"10\"",
        "\"9\"",         "\"007\"",        "\"-1\"",         "\"1.5\"",
        "\"1e3\"",       "\"4294967294\"", "\"4294967295\"", "\"99999999999\"",
        "\"__proto__\"", "\"b\"",          "\"a\"",          "\" 1\"",
        "\"\""};
    if (rnd() % 3)
        buf_adds(b, keys[rnd() % (sizeof(keys) / sizeof(keys[0]))]);
    else
        rand_string(b);
}

static void rand_number(struct buf *b)
{
    switch (rnd() % 8) {
    case 0: buf_addf(b, "%lld", (long long)(rnd() % 2000) - 1000); break;
    case 1: buf_addf(b, "%lld", (long long)(rnd() >> 1) * (rnd() % 2 ? 1 : -1)); break;
    case 2: buf_addf(b, "%d.%d", (int)(rnd() % 100), (int)(rnd() % 1000)); break;
    case 3: buf_addf(b, "%de%d", (int)(rnd() % 1000), (int)(rnd() % 40) - 20); break;
    case 4:
        buf_addf(b, "%d.%dE+%d", (int)(rnd() % 10), (int)(rnd() % 100), (int)(rnd() % 300));
        break;
    case 5: buf_adds(b, rnd() % 2 ? "-0" : "-0.0"); break;
    case 6: buf_addf(b, "%.17g", (double)rnd() / (double)rnd()); break;
    default: buf_addf(b, "%d.0", (int)(rnd() % 10)); break;
    }
}

static void rand_value(struct buf *b, int depth)
{
    unsigned kind = depth > 5 ? (unsigned)(rnd() % 4) : (unsigned)(rnd() % 6);
    switch (kind) {
    case 0: rand_string(b); break;
    case 1: rand_number(b); break;
    case 2: buf_adds(b, rnd() % 3 == 0 ? "null" : rnd() % 2 ? "true" : "false"); break;
    case 3: rand_number(b); break;
    case 4:
        buf_adds(b, "[ ");
        for (int n = (int)(rnd() % 5), i = 0; i < n; i++) {
            if (i)
                buf_adds(b, " , ");
            rand_value(b, depth + 1);
        }
        buf_addc(b, ']');
        break;
    default:
        buf_addc(b, '{');
        for (int n = (int)(rnd() % 7), i = 0; i < n; i++) {
            if (i)
                buf_addc(b, ',');
            rand_key(b);
            buf_adds(b, " :\t");
            rand_value(b, depth + 1);
        }
        buf_addc(b, '}');
    }
}

static void test_documents_as_javascript_writes_them(void **state)
{
    (void)state;
    struct cases in = {0}, ours = {0};
    static const char *const fixed[] = {
        "{\"progress\":1.0,\"total\":3,\"ratio\":0.6666666666666666,\"big\":1e21,\"small\":1e-7}",
        "{\"b\":1,\"2\":2,\"a\":3,\"1\":4,\"01\":5,\"4294967294\":6,\"4294967295\":7,\"-1\":8,"
        "\"1.5\":9,\"0\":10}",
        "{\"a\":1,\"b\":2,\"a\":3}",
        "[\"\\u0000\\u0001\\b\\f\\n\\r\\t\\u001f\\\"\\\\\\/\\u007f\\u0080\\u2028\\u2029\"]",
        "{\"text\":\"<html>\\r\\n<p class=\\\"a\\\">caf\\u00e9 \xe2\x82\xac</p>\\t</html>\"}",
        "[[],{},[{}],{\"\":[]}]",
        "-0",
        "\"just a string\"",
        "[1E2,1e+2,0.1e1,-0.0,5e-324,1.7976931348623157e308,123456789012345678]",
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        cases_add(&in, fixed[i], strlen(fixed[i]));
    /* Deep nesting, arrays and objects. */
    struct buf deep = BUF_INIT(BUF_NO_MAX);
    for (int i = 0; i < 1000; i++)
        buf_adds(&deep, i % 2 ? "[" : "{\"3\":1,\"k\":");
    buf_adds(&deep, "0.5");
    for (int i = 999; i >= 0; i--)
        buf_adds(&deep, i % 2 ? "]" : "}");
    cases_add(&in, deep.ptr, deep.len);
    buf_release(&deep);
    for (int i = 0; i < 1500; i++) {
        struct buf b = BUF_INIT(BUF_NO_MAX);
        rand_value(&b, rnd() % 2 ? 4 : 0);
        cases_add(&in, b.ptr, b.len);
        buf_release(&b);
    }
    for (size_t i = 0; i < in.n; i++) {
        json_error_t err;
        json_t *v = json_loadb(in.v[i].ptr, in.v[i].len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (!v)
            fail_msg("case %zu does not parse: %s: %.200s", i, err.text, in.v[i].ptr);
        size_t len;
        char *s = jx_dump(v, &len);
        cases_add(&ours, s, len);
        free(s);
        json_decref(v);
    }
    struct cases js = oracle("json", &in);
    expect_same("document", &in, &ours, &js);
    cases_free(&in), cases_free(&ours), cases_free(&js);
}

/* ------------------------------------------------------------ the appenders */

static void test_appenders_and_cap(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(BUF_NO_MAX);
    assert_int_equal(jx_add_strz(&b, NULL), 0);
    assert_int_equal(buf_addc(&b, ','), 0);
    assert_int_equal(jx_add_strz(&b, "a\"b"), 0);
    assert_int_equal(buf_addc(&b, ','), 0);
    assert_int_equal(jx_add_str_content(&b, "x\ny", 3), 0);
    assert_int_equal(buf_addc(&b, ','), 0);
    assert_int_equal(jx_add_real(&b, 1.0), 0);
    assert_int_equal(buf_addc(&b, ','), 0);
    assert_int_equal(jx_add(&b, NULL), 0);
    assert_string_equal(buf_str(&b), "null,\"a\\\"b\",x\\ny,1,null");
    buf_release(&b);

    /* Past the cap the buffer is released and the writer says so. */
    struct buf small = BUF_INIT(16);
    json_t *v = json_pack("{s:s}", "k", "a value longer than sixteen bytes");
    assert_int_equal(jx_add(&small, v), -1);
    assert_int_equal(small.len, 0);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_as_javascript_prints_them),
        cmocka_unit_test(test_strings_of_any_bytes),
        cmocka_unit_test(test_surrogates),
        cmocka_unit_test(test_documents_as_javascript_writes_them),
        cmocka_unit_test(test_appenders_and_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
