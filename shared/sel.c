#include "sel.h"

#include <ctype.h>
#include <libxml/globals.h>
#include <libxml/xmlerror.h>
#include <libxml/xpathInternals.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How deeply :not() and :has() may nest: each level multiplies the work per
 * node, and no real rule needs more. */
#define MAX_NEST 3
/* The XPath text a selector may grow to (each :nth-* or attribute test adds
 * a few dozen bytes). */
#define XPATH_MAX (64 * 1024)

struct css {
    const char *s;   /* the whole selector */
    size_t pos;      /* next byte */
    struct buf *out; /* XPath being written */
    int nest;
    char *errstr;
    size_t errstr_size;
    int failed;
    int doc_form; /* writing the form evaluated from the document node */
    /* What the compound being written starts its scan from (doc_form):
     * its first id or class, and where its name test ends in out. */
    struct buf lead_id, lead_class;
    size_t nametest_end;
};

static int fail(struct css *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct css *c, const char *fmt, ...)
{
    if (c->failed)
        return -1;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(c->errstr, c->errstr_size, "position %zu: %s", c->pos + 1, msg);
    c->failed = 1;
    return -1;
}

static int out(struct css *c, const char *s)
{
    if (buf_adds(c->out, s))
        return fail(c, "selector too complex");
    return 0;
}

static int outf(struct css *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int outf(struct css *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *tmp = malloc((size_t)n + 1);
    if (!tmp)
        abort();
    va_start(ap, fmt);
    vsnprintf(tmp, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = out(c, tmp);
    free(tmp);
    return rc;
}

static char peek(const struct css *c)
{
    return c->s[c->pos];
}

static int skip_ws(struct css *c)
{
    size_t start = c->pos;
    while (strchr(" \t\n\r\f", peek(c)) && peek(c))
        c->pos++;
    return c->pos > start;
}

/* ------------------------------------------------------------ lexing */

static int is_name_start(unsigned char ch)
{
    return isalpha(ch) || ch == '_' || ch >= 0x80;
}

static int is_name_char(unsigned char ch)
{
    return isalnum(ch) || ch == '_' || ch == '-' || ch >= 0x80;
}

static void put_utf8(struct buf *b, unsigned long cp)
{
    char u[4];
    size_t n;
    /* XPath literals hold XML characters only. */
    if (cp < 0x20 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
        cp == 0xffff)
        cp = 0xfffd;
    if (cp < 0x80)
        u[0] = (char)cp, n = 1;
    else if (cp < 0x800)
        u[0] = (char)(0xc0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xe0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
        u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    else
        u[0] = (char)(0xf0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    buf_add(b, u, n);
}

/* A CSS escape after the backslash: 1-6 hex digits and one optional space,
 * or any other character taken literally. */
static int read_escape(struct css *c, struct buf *into)
{
    c->pos++; /* the backslash */
    char ch = peek(c);
    if (!ch || ch == '\n')
        return fail(c, "dangling backslash");
    if (isxdigit((unsigned char)ch)) {
        unsigned long cp = 0;
        for (int i = 0; i < 6 && isxdigit((unsigned char)peek(c)); i++, c->pos++) {
            char h = peek(c);
            cp = cp * 16 +
                 (unsigned long)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
        }
        if (peek(c) == ' ')
            c->pos++;
        put_utf8(into, cp);
        return 0;
    }
    buf_addc(into, ch);
    c->pos++;
    return 0;
}

/* An identifier (with escapes) into `into`; -1 (and an error) when none is
 * here. `lower` folds ASCII to lower case (element and attribute names). */
static int read_ident(struct css *c, struct buf *into, int lower, const char *what)
{
    size_t start = c->pos;
    if (peek(c) == '-')
        c->pos++;
    unsigned char ch = (unsigned char)peek(c);
    if (!(is_name_start(ch) || ch == '\\' || (ch == '-' && c->pos > start))) {
        c->pos = start;
        return fail(c, "expected %s", what);
    }
    if (c->pos > start)
        buf_addc(into, '-');
    while ((ch = (unsigned char)peek(c)) != 0) {
        if (ch == '\\') {
            if (read_escape(c, into))
                return -1;
        } else if (is_name_char(ch)) {
            buf_addc(into, (char)(lower ? tolower(ch) : ch));
            c->pos++;
        } else {
            break;
        }
    }
    if (into->len == 0)
        return fail(c, "expected %s", what);
    return 0;
}

/* A quoted string ('...' or "..."), escapes resolved. */
static int read_string(struct css *c, struct buf *into)
{
    char q = peek(c);
    size_t start = c->pos;
    c->pos++;
    for (;;) {
        char ch = peek(c);
        if (!ch) {
            c->pos = start;
            return fail(c, "unterminated string");
        }
        if (ch == q) {
            c->pos++;
            return 0;
        }
        if (ch == '\\') {
            if (c->s[c->pos + 1] == '\n') {
                c->pos += 2;
                continue;
            }
            if (read_escape(c, into))
                return -1;
            continue;
        }
        buf_addc(into, ch);
        c->pos++;
    }
}

/* ------------------------------------------------------------ XPath output */

/* Writes s as an XPath 1.0 literal. XPath has no escapes: a string with both
 * quote kinds becomes concat() of pieces. */
static int out_literal(struct css *c, const char *s)
{
    if (!strchr(s, '\'')) {
        return out(c, "'") || out(c, s) || out(c, "'");
    }
    if (!strchr(s, '"'))
        return out(c, "\"") || out(c, s) || out(c, "\"");
    if (out(c, "concat("))
        return -1;
    const char *p = s;
    int first = 1;
    while (*p) {
        size_t n = strcspn(p, "'");
        if (!first && out(c, ","))
            return -1;
        first = 0;
        if (n) {
            struct buf piece = BUF_INIT(XPATH_MAX);
            buf_add(&piece, p, n);
            int rc = out(c, "'") || out(c, buf_str(&piece)) || out(c, "'");
            buf_release(&piece);
            if (rc)
                return -1;
            p += n;
        } else {
            if (out(c, "\"'\""))
                return -1;
            p++;
        }
    }
    return out(c, ")");
}

/* XPath names are QNames: a CSS identifier that is not one is matched by
 * comparing local-name() instead. */
static int xpath_name_ok(const char *s)
{
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

/* Writes the value of attribute `name` as an XPath expression. */
static int out_attr(struct css *c, const char *name)
{
    if (xpath_name_ok(name))
        return outf(c, "@%s", name);
    return out(c, "@*[local-name()=") || out_literal(c, name) || out(c, "]");
}

/* [contains(concat(' ', HAYSTACK, ' '), ' word ')]: a whitespace-separated
 * word of an attribute (class, ~=). */
static int out_class(struct css *c, const char *haystack, const char *word)
{
    struct buf w = BUF_INIT(SEL_MAX_LEN + 2);
    buf_addc(&w, ' ');
    buf_adds(&w, word);
    buf_addc(&w, ' ');
    int rc = outf(c, "[contains(concat(' ',%s,' '),", haystack) || out_literal(c, buf_str(&w)) ||
             out(c, ")]");
    buf_release(&w);
    return rc;
}

/* Characters (not bytes) of UTF-8 text, as XPath's string-length counts. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

#define LOWER_ABC "translate(%s,'ABCDEFGHIJKLMNOPQRSTUVWXYZ','abcdefghijklmnopqrstuvwxyz')"

/* ------------------------------------------------------------ the parser */

static int compile_complex_list(struct css *c, int relative, char close);

/* [attr op value flags] after the '['. */
static int attribute_test(struct css *c)
{
    struct buf name = BUF_INIT(SEL_MAX_LEN), value = BUF_INIT(SEL_MAX_LEN),
               attr = BUF_INIT(XPATH_MAX), folded = BUF_INIT(XPATH_MAX);
    int rc = -1;
    skip_ws(c);
    if (read_ident(c, &name, 1, "an attribute name"))
        goto out;
    skip_ws(c);
    char op[3] = {0};
    char ch = peek(c);
    if (ch == ']') {
        c->pos++;
        rc = out(c, "[") || out_attr(c, buf_str(&name)) || out(c, "]");
        goto out;
    }
    if (ch == '=') {
        op[0] = '=';
        c->pos++;
    } else if (ch && strchr("~^$*|", ch) && c->s[c->pos + 1] == '=') {
        op[0] = ch, op[1] = '=';
        c->pos += 2;
    } else {
        fail(c, "expected '=', '~=', '^=', '$=', '*=', '|=' or ']'");
        goto out;
    }
    skip_ws(c);
    ch = peek(c);
    if (ch == '"' || ch == '\'') {
        if (read_string(c, &value))
            goto out;
    } else if (read_ident(c, &value, 0, "a value (an identifier or a quoted string)")) {
        goto out;
    }
    skip_ws(c);
    int nocase = 0;
    if (peek(c) == 'i' || peek(c) == 'I' || peek(c) == 's' || peek(c) == 'S') {
        nocase = tolower((unsigned char)peek(c)) == 'i';
        c->pos++;
        skip_ws(c);
    }
    if (peek(c) != ']') {
        fail(c, "expected ']'");
        goto out;
    }
    c->pos++;

    /* The attribute (folded for ` i`) and the value to compare with. */
    struct buf *save = c->out;
    c->out = &attr;
    if (out_attr(c, buf_str(&name))) {
        c->out = save;
        goto out;
    }
    c->out = save;
    const char *a = buf_str(&attr);
    if (nocase) {
        buf_addf(&folded, LOWER_ABC, a);
        a = buf_str(&folded);
        for (size_t i = 0; i < value.len; i++)
            value.ptr[i] = (char)tolower((unsigned char)value.ptr[i]);
    }
    const char *v = buf_str(&value);
    /* Selectors Level 3: ~= with an empty value or one with whitespace, and
     * ^= $= *= with an empty value, match nothing. */
    int never =
        (op[0] != '=' && op[0] != '|' && !v[0]) || (op[0] == '~' && strpbrk(v, " \t\n\r\f"));
    if (never) {
        rc = out(c, "[false()]");
        goto out;
    }
    switch (op[0]) {
    case '=': rc = outf(c, "[%s=", a) || out_literal(c, v) || out(c, "]"); break;
    case '~': {
        struct buf hay = BUF_INIT(XPATH_MAX);
        buf_addf(&hay, "normalize-space(%s)", a);
        rc = out_class(c, buf_str(&hay), v);
        buf_release(&hay);
        break;
    }
    case '^': rc = outf(c, "[starts-with(%s,", a) || out_literal(c, v) || out(c, ")]"); break;
    case '$':
        rc = outf(c, "[substring(%s,string-length(%s)-%zu)=", a, a, utf8_chars(v) - 1) ||
             out_literal(c, v) || out(c, "]");
        break;
    case '*': rc = outf(c, "[contains(%s,", a) || out_literal(c, v) || out(c, ")]"); break;
    case '|':
        rc = outf(c, "[%s=", a) || out_literal(c, v) || outf(c, " or starts-with(%s,", a) ||
             out(c, "concat(") || out_literal(c, v) || out(c, ",'-'))]");
        break;
    }
out:
    buf_release(&name);
    buf_release(&value);
    buf_release(&attr);
    buf_release(&folded);
    return rc ? -1 : 0;
}

/* an+b inside :nth-*(...); odd, even, 3, -n+3, 2n + 1. */
static int parse_nth(struct css *c, long *a, long *b)
{
    skip_ws(c);
    const char *p = c->s + c->pos;
    if (strncasecmp(p, "odd", 3) == 0 && !is_name_char((unsigned char)p[3])) {
        *a = 2, *b = 1, c->pos += 3;
        return 0;
    }
    if (strncasecmp(p, "even", 4) == 0 && !is_name_char((unsigned char)p[4])) {
        *a = 2, *b = 0, c->pos += 4;
        return 0;
    }
    int sign = 1;
    if (peek(c) == '+' || peek(c) == '-')
        sign = peek(c) == '-' ? -1 : 1, c->pos++;
    long num = -1;
    if (isdigit((unsigned char)peek(c))) {
        num = 0;
        while (isdigit((unsigned char)peek(c))) {
            if (num > 100000)
                return fail(c, "number too large");
            num = num * 10 + (peek(c) - '0');
            c->pos++;
        }
    }
    if (peek(c) == 'n' || peek(c) == 'N') {
        c->pos++;
        *a = sign * (num < 0 ? 1 : num);
        skip_ws(c);
        *b = 0;
        if (peek(c) == '+' || peek(c) == '-') {
            int s2 = peek(c) == '-' ? -1 : 1;
            c->pos++;
            skip_ws(c);
            if (!isdigit((unsigned char)peek(c)))
                return fail(c, "expected a number after the sign");
            long n2 = 0;
            while (isdigit((unsigned char)peek(c))) {
                if (n2 > 100000)
                    return fail(c, "number too large");
                n2 = n2 * 10 + (peek(c) - '0');
                c->pos++;
            }
            *b = s2 * n2;
        }
        return 0;
    }
    if (num < 0)
        return fail(c, "expected an+b, odd or even");
    *a = 0, *b = sign * num;
    return 0;
}

/* The predicate for position an+b among the siblings on `axis`
 * (preceding-sibling:: counts from the start, following-sibling:: from the
 * end), over siblings matching `test` (* or an element name). */
static int nth_predicate(struct css *c, long a, long b, const char *axis, const char *test)
{
    struct buf cb = BUF_INIT(XPATH_MAX);
    buf_addf(&cb, "count(%s::%s)", axis, test);
    const char *cnt = buf_str(&cb);
    int rc;
    /* The element is the p-th, p = count + 1; it matches when p = a*k + b
     * for some k >= 0. */
    if (a == 0)
        rc = b < 1 ? out(c, "[false()]") : outf(c, "[%s=%ld]", cnt, b - 1);
    else if (a > 0 && b <= 1) /* every k >= 0 gives p >= 1: only the step matters */
        rc = outf(c, "[(%s+%ld) mod %ld=0]", cnt, 1 - b, a);
    else if (a > 0)
        rc = outf(c, "[%s>=%ld and (%s-%ld) mod %ld=0]", cnt, b - 1, cnt, b - 1, a);
    else
        rc = outf(c, "[%ld-%s>=0 and (%ld-%s) mod %ld=0]", b - 1, cnt, b - 1, cnt, -a);
    buf_release(&cb);
    return rc;
}

/* A pseudo-class after the ':'. `type` is the compound's element name or
 * NULL for any. */
static int pseudo(struct css *c, const char *type)
{
    struct buf name = BUF_INIT(64);
    int rc = -1;
    size_t at = c->pos;
    if (peek(c) == ':') {
        fail(c, "pseudo-elements (::) select no element");
        goto out;
    }
    if (read_ident(c, &name, 1, "a pseudo-class name"))
        goto out;
    const char *n = buf_str(&name);
    int fn = peek(c) == '(';
    if (fn)
        c->pos++;
    int of_type = strstr(n, "of-type") != NULL;
    const char *test = of_type ? type : "*";
    if (of_type && !type) {
        c->pos = at;
        fail(c, ":%s needs an element name before it", n);
        goto out;
    }
    if (!fn && (strcmp(n, "first-child") == 0 || strcmp(n, "first-of-type") == 0)) {
        rc = outf(c, "[not(preceding-sibling::%s)]", test);
    } else if (!fn && (strcmp(n, "last-child") == 0 || strcmp(n, "last-of-type") == 0)) {
        rc = outf(c, "[not(following-sibling::%s)]", test);
    } else if (!fn && (strcmp(n, "only-child") == 0 || strcmp(n, "only-of-type") == 0)) {
        rc = outf(c, "[not(preceding-sibling::%s) and not(following-sibling::%s)]", test, test);
    } else if (!fn && strcmp(n, "empty") == 0) {
        rc = out(c, "[not(*) and not(text())]");
    } else if (!fn && strcmp(n, "root") == 0) {
        rc = out(c, "[not(parent::*)]");
    } else if (!fn && (strcmp(n, "checked") == 0 || strcmp(n, "disabled") == 0 ||
                       strcmp(n, "selected") == 0)) {
        rc = outf(c, "[@%s]", n);
    } else if (fn && (strcmp(n, "nth-child") == 0 || strcmp(n, "nth-of-type") == 0 ||
                      strcmp(n, "nth-last-child") == 0 || strcmp(n, "nth-last-of-type") == 0)) {
        long a = 0, b = 0;
        if (parse_nth(c, &a, &b))
            goto out;
        skip_ws(c);
        if (peek(c) != ')') {
            fail(c, "expected ')'");
            goto out;
        }
        c->pos++;
        rc = nth_predicate(c, a, b, strstr(n, "last") ? "following-sibling" : "preceding-sibling",
                           test);
    } else if (fn && (strcmp(n, "not") == 0 || strcmp(n, "has") == 0)) {
        if (c->nest >= MAX_NEST) {
            fail(c, ":not() and :has() nest at most %d deep", MAX_NEST);
            goto out;
        }
        int has = n[0] == 'h';
        /* The compounds inside are not where this one starts its scan. */
        struct buf lead_id = c->lead_id, lead_class = c->lead_class;
        size_t nametest_end = c->nametest_end;
        c->lead_id = (struct buf)BUF_INIT(SEL_MAX_LEN);
        c->lead_class = (struct buf)BUF_INIT(SEL_MAX_LEN);
        c->nest++;
        rc = out(c, has ? "[" : "[not(") || compile_complex_list(c, has ? 1 : 2, ')') ||
             out(c, has ? "]" : ")]");
        c->nest--;
        buf_release(&c->lead_id);
        buf_release(&c->lead_class);
        c->lead_id = lead_id, c->lead_class = lead_class, c->nametest_end = nametest_end;
    } else if (fn && strcmp(n, "contains") == 0) {
        struct buf text = BUF_INIT(SEL_MAX_LEN);
        skip_ws(c);
        if (peek(c) == '"' || peek(c) == '\'')
            rc = read_string(c, &text);
        else
            rc = read_ident(c, &text, 0, "a quoted string");
        skip_ws(c);
        if (!rc && peek(c) != ')')
            rc = fail(c, "expected ')'");
        if (!rc) {
            c->pos++;
            rc = out(c, "[contains(string(.),") || out_literal(c, buf_str(&text)) || out(c, ")]");
        }
        buf_release(&text);
    } else {
        c->pos = at;
        fail(c, "unsupported pseudo-class ':%s%s'", n, fn ? "()" : "");
    }
out:
    buf_release(&name);
    return rc ? -1 : 0;
}

/* A compound selector: an optional type then #id .class [attr] :pseudo.
 * The step's axis has been written; this writes the name test and the
 * predicates. */
static int compound(struct css *c)
{
    struct buf type = BUF_INIT(SEL_MAX_LEN);
    int rc = -1, parts = 0;
    size_t start = c->pos;
    char ch = peek(c);
    if (ch == '*') {
        c->pos++;
        parts++;
        if (out(c, "*"))
            goto out;
    } else if (is_name_start((unsigned char)ch) || ch == '\\' ||
               (ch == '-' && is_name_start((unsigned char)c->s[c->pos + 1]))) {
        if (read_ident(c, &type, 1, "an element name"))
            goto out;
        parts++;
        if (c->s[c->pos] == '|') {
            fail(c, "namespaces are not supported");
            goto out;
        }
        if (xpath_name_ok(buf_str(&type))) {
            if (out(c, buf_str(&type)))
                goto out;
        } else if (out(c, "*[local-name()=") || out_literal(c, buf_str(&type)) || out(c, "]")) {
            goto out;
        }
    } else if (out(c, "*")) {
        goto out;
    }
    const char *t = type.len && xpath_name_ok(buf_str(&type)) ? buf_str(&type) : NULL;
    c->nametest_end = c->out->len;
    buf_reset(&c->lead_id);
    buf_reset(&c->lead_class);
    for (;;) {
        ch = peek(c);
        if (ch == '#' || ch == '.') {
            struct buf id = BUF_INIT(SEL_MAX_LEN);
            c->pos++;
            int r = read_ident(c, &id, 0, ch == '#' ? "an id after '#'" : "a class after '.'");
            if (!r) {
                if (ch == '#')
                    r = out(c, "[@id=") || out_literal(c, buf_str(&id)) || out(c, "]");
                else
                    r = out(c, "[ferry-has-class(") || out_literal(c, buf_str(&id)) || out(c, ")]");
                struct buf *lead = ch == '#' ? &c->lead_id : &c->lead_class;
                if (!r && !lead->len)
                    buf_adds(lead, buf_str(&id));
            }
            buf_release(&id);
            if (r)
                goto out;
        } else if (ch == '[') {
            c->pos++;
            if (attribute_test(c))
                goto out;
        } else if (ch == ':') {
            c->pos++;
            if (pseudo(c, t))
                goto out;
        } else {
            break;
        }
        parts++;
    }
    if (!parts) {
        c->pos = start;
        fail(c, ch ? "unexpected '%c'" : "expected a selector", ch);
        goto out;
    }
    rc = 0;
out:
    buf_release(&type);
    return rc;
}

/* From the document, the first compound of a selector with an id or a
 * class starts from an index instead of scanning every element: id() (the
 * document's id table, as getElementById: the first element with that id)
 * or ferry-class-index() (one walk per page, shared by every rule). Its own
 * tests stay as predicates. Rewrites what compound() wrote after `mark`. */
static int lead_step(struct css *c, size_t mark, size_t test_start)
{
    if (!c->lead_id.len && !c->lead_class.len)
        return 0;
    struct buf test = BUF_INIT(XPATH_MAX), preds = BUF_INIT(XPATH_MAX);
    buf_add(&test, c->out->ptr + test_start, c->nametest_end - test_start);
    buf_add(&preds, c->out->ptr + c->nametest_end, c->out->len - c->nametest_end);
    buf_truncate(c->out, mark);
    int rc = c->lead_id.len
                 ? out(c, "id(") || out_literal(c, buf_str(&c->lead_id))
                 : out(c, "ferry-class-index(") || out_literal(c, buf_str(&c->lead_class));
    rc = rc || out(c, ")");
    if (!rc && strcmp(buf_str(&test), "*") != 0)
        rc = out(c, "[self::") || out(c, buf_str(&test)) || out(c, "]");
    rc = rc || out(c, buf_str(&preds));
    buf_release(&test);
    buf_release(&preds);
    return rc;
}

/* One complex selector: compound (combinator compound)*. `mode` 0: from the
 * context node (descendants, or a leading combinator); 1: inside :has(),
 * the same, relative to the tested element; 2: inside :not(), one compound
 * tested on the element itself. Stops before ',' or `close`. */
static int complex_sel(struct css *c, int mode, char close)
{
    skip_ws(c);
    if (mode == 2) {
        if (out(c, "self::") || compound(c))
            return -1;
        skip_ws(c);
        return 0;
    }
    char comb = ' ';
    if (peek(c) == '>' || peek(c) == '+' || peek(c) == '~') {
        comb = peek(c);
        c->pos++;
        skip_ws(c);
    }
    for (int first = 1;; first = 0) {
        size_t mark = c->out->len;
        switch (comb) {
        case ' ': out(c, "descendant::"); break;
        case '>': out(c, "child::"); break;
        case '~': out(c, "following-sibling::"); break;
        case '+': out(c, "following-sibling::*[1]/self::"); break;
        }
        size_t test_start = c->out->len;
        if (compound(c))
            return -1;
        if (first && comb == ' ' && mode == 0 && c->doc_form && lead_step(c, mark, test_start))
            return -1;
        int ws = skip_ws(c);
        char ch = peek(c);
        if (!ch || ch == ',' || ch == close)
            return 0;
        if (ch == '>' || ch == '+' || ch == '~') {
            comb = ch;
            c->pos++;
            skip_ws(c);
            if (!peek(c) || peek(c) == ',' || peek(c) == close)
                return fail(c, "expected a selector after '%c'", comb);
        } else if (ws) {
            comb = ' ';
        } else {
            return fail(c, "unexpected '%c'", ch);
        }
        if (out(c, "/"))
            return -1;
    }
}

/* complex (',' complex)* up to the end or `close` (consumed). */
static int compile_complex_list(struct css *c, int mode, char close)
{
    for (int first = 1;; first = 0) {
        if (!first && out(c, mode == 2 ? " or " : "|"))
            return -1;
        if (complex_sel(c, mode, close))
            return -1;
        char ch = peek(c);
        if (ch == ',') {
            c->pos++;
            continue;
        }
        if (close && ch == close) {
            c->pos++;
            return 0;
        }
        if (!close && !ch)
            return 0;
        return fail(c, close ? "expected ')'" : "unexpected '%c'", ch);
    }
}

/* Bytes of the UTF-8 sequence at s, 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (s[0] >= 0xf8)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* XPath takes XML characters only: say where a bad byte is rather than
 * let the translation or libxml2 fail later. */
static int check_chars(struct css *c)
{
    for (size_t i = 0; c->s[i];) {
        const unsigned char *u = (const unsigned char *)c->s + i;
        size_t n = utf8_len(u);
        if (!n) {
            c->pos = i;
            return fail(c, "invalid UTF-8");
        }
        if (*u < 0x20 && !strchr("\t\n\r", *u)) {
            c->pos = i;
            return fail(c, "control character");
        }
        i += n;
    }
    return 0;
}

static int css_run(struct css *c)
{
    if (strlen(c->s) > SEL_MAX_LEN) {
        snprintf(c->errstr, c->errstr_size, "selector longer than %d bytes", SEL_MAX_LEN);
        return -1;
    }
    if (check_chars(c))
        return -1;
    skip_ws(c);
    if (!peek(c))
        return fail(c, "empty selector");
    return compile_complex_list(c, 0, 0);
}

static int css_to_xpath(const char *css, int doc_form, struct buf *outb, char *errstr,
                        size_t errstr_size)
{
    struct css c = {.s = css,
                    .out = outb,
                    .errstr = errstr,
                    .errstr_size = errstr_size,
                    .doc_form = doc_form,
                    .lead_id = BUF_INIT(SEL_MAX_LEN),
                    .lead_class = BUF_INIT(SEL_MAX_LEN)};
    int rc = css_run(&c);
    buf_release(&c.lead_id);
    buf_release(&c.lead_class);
    return rc;
}

int sel_css_to_xpath(const char *css, struct buf *outb, char *errstr, size_t errstr_size)
{
    return css_to_xpath(css, 0, outb, errstr, errstr_size);
}

/* ------------------------------------------------------------ libxml2 */

struct xerr {
    int seen;
    int pos; /* 0-based offset in the compiled text */
    char msg[160];
};

static void capture_error(void *ctx, xmlErrorPtr e)
{
    struct xerr *x = ctx;
    if (x->seen || !e)
        return;
    x->seen = 1;
    x->pos = e->domain == XML_FROM_XPATH ? e->int1 : -1;
    size_t n = e->message ? strlen(e->message) : 0;
    while (n && (e->message[n - 1] == '\n' || e->message[n - 1] == ' '))
        n--;
    snprintf(x->msg, sizeof(x->msg), "%.*s", (int)n, e->message ? e->message : "");
}

static void ignore_error(void *ctx, xmlErrorPtr e)
{
    (void)ctx, (void)e;
}

/* libxml2's handler is per thread; so is what it replaced. Calls nest. */
static _Thread_local xmlStructuredErrorFunc saved_handler;
static _Thread_local void *saved_ctx;
static _Thread_local xmlGenericErrorFunc saved_generic;
static _Thread_local void *saved_generic_ctx;
static _Thread_local int quiet_depth;

/* XPath evaluation reports some errors ("function not found") through the
 * generic handler, not the structured one. */
static void ignore_generic(void *ctx, const char *msg, ...)
{
    (void)ctx, (void)msg;
}

void sel_quiet_begin(void)
{
    if (quiet_depth++ == 0) {
        saved_handler = xmlStructuredError;
        saved_ctx = xmlStructuredErrorContext;
        saved_generic = xmlGenericError;
        saved_generic_ctx = xmlGenericErrorContext;
        xmlSetStructuredErrorFunc(NULL, ignore_error);
        xmlSetGenericErrorFunc(NULL, ignore_generic);
    }
}

void sel_quiet_end(void)
{
    if (quiet_depth > 0 && --quiet_depth == 0) {
        xmlSetStructuredErrorFunc(saved_ctx, saved_handler);
        xmlSetGenericErrorFunc(saved_generic_ctx, saved_generic);
    }
}

struct sel *sel_compile(const char *text, char *errstr, size_t errstr_size)
{
    struct buf x = BUF_INIT(XPATH_MAX);
    struct sel *s = NULL;
    size_t offset = 0; /* where the compiled text starts in `text` */
    int is_xpath = strncmp(text, "xpath:", 6) == 0;
    if (is_xpath) {
        offset = 6;
        while (text[offset] == ' ')
            offset++;
        if (!text[offset]) {
            snprintf(errstr, errstr_size, "position %zu: empty XPath", offset + 1);
            goto out;
        }
        if (strlen(text) > SEL_MAX_LEN) {
            snprintf(errstr, errstr_size, "selector longer than %d bytes", SEL_MAX_LEN);
            goto out;
        }
        struct css c = {.s = text, .errstr = errstr, .errstr_size = errstr_size};
        if (check_chars(&c))
            goto out;
        buf_adds(&x, text + offset);
    } else if (sel_css_to_xpath(text, &x, errstr, errstr_size)) {
        goto out;
    }
    struct xerr xe = {0};
    xmlStructuredErrorFunc prev = xmlStructuredError;
    void *prev_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(&xe, capture_error);
    xmlXPathCompExprPtr comp = xmlXPathCompile((const xmlChar *)buf_str(&x));
    xmlSetStructuredErrorFunc(prev_ctx, prev);
    if (!comp) {
        size_t len = strlen(text);
        size_t pos = xe.pos >= 0 ? offset + (size_t)xe.pos + 1 : len + 1;
        if (pos > len + 1)
            pos = len + 1;
        if (is_xpath)
            snprintf(errstr, errstr_size, "position %zu: %s", pos,
                     xe.msg[0] ? xe.msg : "invalid XPath");
        else /* our own translation did not compile: say so rather than blame the rule */
            snprintf(errstr, errstr_size, "selector not supported (%s in %s)",
                     xe.msg[0] ? xe.msg : "invalid XPath", buf_str(&x));
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->comp = comp;
    s->xpath = buf_detach(&x, NULL);
    if (!is_xpath) {
        /* The form for rules evaluated from the document, when it differs. */
        struct buf d = BUF_INIT(XPATH_MAX);
        char e[64];
        if (css_to_xpath(text, 1, &d, e, sizeof(e)) == 0 && strcmp(buf_str(&d), s->xpath) != 0) {
            xmlSetStructuredErrorFunc(&xe, capture_error);
            s->comp_doc = xmlXPathCompile((const xmlChar *)buf_str(&d));
            xmlSetStructuredErrorFunc(prev_ctx, prev);
        }
        buf_release(&d);
    }
out:
    buf_release(&x);
    return s;
}

void sel_free(struct sel *s)
{
    if (!s)
        return;
    xmlXPathFreeCompExpr(s->comp);
    if (s->comp_doc)
        xmlXPathFreeCompExpr(s->comp_doc);
    free(s->xpath);
    free(s);
}

xmlXPathObjectPtr sel_eval(const struct sel *s, xmlXPathContextPtr ctx, xmlNodePtr node)
{
    ctx->node = node;
    int from_doc =
        node && (node->type == XML_HTML_DOCUMENT_NODE || node->type == XML_DOCUMENT_NODE);
    return xmlXPathCompiledEval(from_doc && s->comp_doc ? s->comp_doc : s->comp, ctx);
}

/* ------------------------------------------------------------ contexts */

/* The class index of one document: each class token to the elements that
 * carry it, in document order. Built by one walk on first use. */
struct class_entry {
    char *token;
    xmlNodePtr *nodes;
    size_t n, cap;
};

struct sel_index {
    int built;
    struct class_entry *tab; /* open addressing, size a power of two */
    size_t size, used;
};

static uint64_t token_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

static struct class_entry *index_slot(struct sel_index *ix, const char *tok, size_t n, int add)
{
    if (add && (ix->used + 1) * 4 > ix->size * 3) {
        size_t old = ix->size;
        struct class_entry *prev = ix->tab;
        ix->size = old ? old * 2 : 256;
        ix->tab = calloc(ix->size, sizeof(*ix->tab));
        if (!ix->tab)
            abort();
        for (size_t i = 0; i < old; i++) {
            if (!prev[i].token)
                continue;
            size_t k = token_hash(prev[i].token, strlen(prev[i].token)) & (ix->size - 1);
            while (ix->tab[k].token)
                k = (k + 1) & (ix->size - 1);
            ix->tab[k] = prev[i];
        }
        free(prev);
    }
    if (!ix->size)
        return NULL;
    size_t k = token_hash(tok, n) & (ix->size - 1);
    while (ix->tab[k].token) {
        if (strncmp(ix->tab[k].token, tok, n) == 0 && ix->tab[k].token[n] == '\0')
            return &ix->tab[k];
        k = (k + 1) & (ix->size - 1);
    }
    if (!add)
        return NULL;
    ix->tab[k].token = strndup(tok, n);
    if (!ix->tab[k].token)
        abort();
    ix->used++;
    return &ix->tab[k];
}

static const char *class_attr(xmlNodePtr n)
{
    for (xmlAttrPtr a = n->properties; a; a = a->next)
        if (a->name[0] == 'c' && strcmp((const char *)a->name, "class") == 0)
            return a->children && a->children->content ? (const char *)a->children->content : "";
    return NULL;
}

static const char class_ws[] = " \t\n\r\f";

static void index_build(struct sel_index *ix, xmlDocPtr doc)
{
    ix->built = 1;
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL, n = root;
    while (n) {
        if (n->type == XML_ELEMENT_NODE) {
            const char *cl = n->properties ? class_attr(n) : NULL;
            while (cl && *cl) {
                cl += strspn(cl, class_ws);
                size_t len = strcspn(cl, class_ws);
                if (!len)
                    break;
                struct class_entry *e = index_slot(ix, cl, len, 1);
                /* An element listing a class twice is indexed once. */
                if (!e->n || e->nodes[e->n - 1] != n) {
                    if (e->n == e->cap) {
                        e->cap = e->cap ? e->cap * 2 : 4;
                        e->nodes = realloc(e->nodes, e->cap * sizeof(*e->nodes));
                        if (!e->nodes)
                            abort();
                    }
                    e->nodes[e->n++] = n;
                }
                cl += len;
            }
        }
        n = sel_walk_next(n, root, n->type == XML_ELEMENT_NODE);
    }
}

xmlNodePtr sel_walk_next(xmlNodePtr n, xmlNodePtr root, int descend)
{
    if (descend && n->children)
        return n->children;
    while (n != root && !n->next)
        n = n->parent;
    return n == root ? NULL : n->next;
}

/* ferry-class-index('c'): every element with class c, from the index. */
static void fn_class_index(xmlXPathParserContextPtr ctxt, int nargs)
{
    if (nargs != 1) {
        xmlXPathErr(ctxt, XPATH_INVALID_ARITY);
        return;
    }
    xmlChar *tok = xmlXPathPopString(ctxt);
    struct sel_index *ix = ctxt->context->userData;
    xmlNodeSetPtr set = xmlXPathNodeSetCreate(NULL);
    if (ix && tok) {
        if (!ix->built)
            index_build(ix, ctxt->context->doc);
        struct class_entry *e = index_slot(ix, (const char *)tok, strlen((const char *)tok), 0);
        for (size_t i = 0; e && i < e->n; i++)
            xmlXPathNodeSetAddUnique(set, e->nodes[i]);
    }
    xmlFree(tok);
    valuePush(ctxt, xmlXPathWrapNodeSet(set));
}

/* ferry-has-class('c'): whether the context element has class c, without
 * the string building of contains(concat(' ', normalize-space(@class), ' '),
 * ' c ') on every element scanned. */
static void fn_has_class(xmlXPathParserContextPtr ctxt, int nargs)
{
    if (nargs != 1) {
        xmlXPathErr(ctxt, XPATH_INVALID_ARITY);
        return;
    }
    xmlXPathObjectPtr arg = valuePop(ctxt);
    xmlNodePtr n = ctxt->context->node;
    int hit = 0;
    const char *want = arg && arg->type == XPATH_STRING ? (const char *)arg->stringval : NULL;
    const char *cl =
        want && n && n->type == XML_ELEMENT_NODE && n->properties ? class_attr(n) : NULL;
    size_t wl = want ? strlen(want) : 0;
    while (cl && *cl && wl && !hit) {
        cl += strspn(cl, class_ws);
        size_t len = strcspn(cl, class_ws);
        hit = len == wl && memcmp(cl, want, wl) == 0;
        cl += len;
    }
    xmlXPathFreeObject(arg);
    valuePush(ctxt, xmlXPathNewBoolean(hit));
}

xmlXPathContextPtr sel_context_new(xmlDocPtr doc)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    struct sel_index *ix = calloc(1, sizeof(*ix));
    if (!ctx || !ix)
        abort();
    ctx->userData = ix;
    xmlXPathRegisterFunc(ctx, (const xmlChar *)"ferry-has-class", fn_has_class);
    xmlXPathRegisterFunc(ctx, (const xmlChar *)"ferry-class-index", fn_class_index);
    return ctx;
}

void sel_context_free(xmlXPathContextPtr ctx)
{
    if (!ctx)
        return;
    struct sel_index *ix = ctx->userData;
    for (size_t i = 0; ix && i < ix->size; i++) {
        free(ix->tab[i].token);
        free(ix->tab[i].nodes);
    }
    if (ix)
        free(ix->tab);
    free(ix);
    xmlXPathFreeContext(ctx);
}
