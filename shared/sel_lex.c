/* sel: lexing of the CSS grammar and the output helpers of the XPath writer
 * (see sel_int.h). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sel_int.h"
#include "utf8.h"

int css_fail(struct css *c, const char *fmt, ...)
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

int css_out(struct css *c, const char *s)
{
    if (buf_adds(c->out, s))
        return css_fail(c, "selector too complex");
    return 0;
}

int css_outf(struct css *c, const char *fmt, ...)
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
    int rc = css_out(c, tmp);
    free(tmp);
    return rc;
}

int css_skip_ws(struct css *c)
{
    size_t start = c->pos;
    while (strchr(" \t\n\r\f", css_peek(c)) && css_peek(c))
        c->pos++;
    return c->pos > start;
}

/* ------------------------------------------------------------ lexing */

static void put_utf8(struct buf *b, unsigned long cp)
{
    unsigned char u[UTF8_MAX];
    /* XPath literals hold XML characters only. */
    if (cp < 0x20 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
        cp == 0xffff)
        cp = 0xfffd;
    buf_add(b, u, utf8_put(u, cp));
}

/* A CSS escape after the backslash: 1-6 hex digits and one optional space,
 * or any other character taken literally. */
int css_read_escape(struct css *c, struct buf *into)
{
    c->pos++; /* the backslash */
    char ch = css_peek(c);
    if (!ch || ch == '\n')
        return css_fail(c, "dangling backslash");
    if (isxdigit((unsigned char)ch)) {
        unsigned long cp = 0;
        for (int i = 0; i < 6 && isxdigit((unsigned char)css_peek(c)); i++, c->pos++) {
            char h = css_peek(c);
            cp = cp * 16 +
                 (unsigned long)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
        }
        if (css_peek(c) == ' ')
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
int css_read_ident(struct css *c, struct buf *into, int lower, const char *what)
{
    size_t start = c->pos;
    if (css_peek(c) == '-')
        c->pos++;
    unsigned char ch = (unsigned char)css_peek(c);
    if (!(css_is_name_start(ch) || ch == '\\' || (ch == '-' && c->pos > start))) {
        c->pos = start;
        return css_fail(c, "expected %s", what);
    }
    if (c->pos > start)
        buf_addc(into, '-');
    while ((ch = (unsigned char)css_peek(c)) != 0) {
        if (ch == '\\') {
            if (css_read_escape(c, into))
                return -1;
        } else if (css_is_name_char(ch)) {
            buf_addc(into, (char)(lower ? tolower(ch) : ch));
            c->pos++;
        } else {
            break;
        }
    }
    if (into->len == 0)
        return css_fail(c, "expected %s", what);
    return 0;
}

/* A quoted string ('...' or "..."), escapes resolved. */
int css_read_string(struct css *c, struct buf *into)
{
    char q = css_peek(c);
    size_t start = c->pos;
    c->pos++;
    for (;;) {
        char ch = css_peek(c);
        if (!ch) {
            c->pos = start;
            return css_fail(c, "unterminated string");
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
            if (css_read_escape(c, into))
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
int css_out_literal(struct css *c, const char *s)
{
    if (!strchr(s, '\'')) {
        return css_out(c, "'") || css_out(c, s) || css_out(c, "'");
    }
    if (!strchr(s, '"'))
        return css_out(c, "\"") || css_out(c, s) || css_out(c, "\"");
    if (css_out(c, "concat("))
        return -1;
    const char *p = s;
    int first = 1;
    while (*p) {
        size_t n = strcspn(p, "'");
        if (!first && css_out(c, ","))
            return -1;
        first = 0;
        if (n) {
            struct buf piece = BUF_INIT(XPATH_MAX);
            buf_add(&piece, p, n);
            int rc = css_out(c, "'") || css_out(c, buf_str(&piece)) || css_out(c, "'");
            buf_release(&piece);
            if (rc)
                return -1;
            p += n;
        } else {
            if (css_out(c, "\"'\""))
                return -1;
            p++;
        }
    }
    return css_out(c, ")");
}

/* XPath names are QNames: a CSS identifier that is not one is matched by
 * comparing local-name() instead. */
int css_xpath_name_ok(const char *s)
{
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

/* Writes the value of attribute `name` as an XPath expression. */
int css_out_attr(struct css *c, const char *name)
{
    if (css_xpath_name_ok(name))
        return css_outf(c, "@%s", name);
    return css_out(c, "@*[local-name()=") || css_out_literal(c, name) || css_out(c, "]");
}

/* [contains(concat(' ', HAYSTACK, ' '), ' word ')]: a whitespace-separated
 * word of an attribute (class, ~=). */
int css_out_class(struct css *c, const char *haystack, const char *word)
{
    struct buf w = BUF_INIT(SEL_MAX_LEN + 2);
    buf_addc(&w, ' ');
    buf_adds(&w, word);
    buf_addc(&w, ' ');
    int rc = css_outf(c, "[contains(concat(' ',%s,' '),", haystack) ||
             css_out_literal(c, buf_str(&w)) || css_out(c, ")]");
    buf_release(&w);
    return rc;
}

/* Characters (not bytes) of UTF-8 text, as XPath's string-length counts. */
size_t css_utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

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
int css_check_chars(struct css *c)
{
    for (size_t i = 0; c->s[i];) {
        const unsigned char *u = (const unsigned char *)c->s + i;
        size_t n = utf8_len(u);
        if (!n) {
            c->pos = i;
            return css_fail(c, "invalid UTF-8");
        }
        if (*u < 0x20 && !strchr("\t\n\r", *u)) {
            c->pos = i;
            return css_fail(c, "control character");
        }
        i += n;
    }
    return 0;
}
