/* sel: the CSS selector grammar, read once into a syntax tree (see sel.h for
 * what is understood, sel_int.h for the tree). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sel_int.h"

static struct css_list *complex_list(struct css *c, int mode, char close);

/* Room for one more element of an array of n (capacity 4, then doubling). */
static void *grow(void *arr, int n, size_t size)
{
    if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
        return arr;
    void *p = realloc(arr, (size_t)(n ? n * 2 : 4) * size);
    if (!p)
        abort();
    return p;
}

static char *detach(struct buf *b)
{
    char *s = strdup(buf_str(b));
    if (!s)
        abort();
    buf_release(b);
    return s;
}

/* 1 when s[from..to) was read without escapes and is ASCII. */
static int plain_ascii(const char *s, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (s[i] == '\\' || (unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

/* [attr op value flags] after the '[', into p. */
static int attribute_test(struct css *c, struct css_part *p)
{
    struct buf name = BUF_INIT(SEL_MAX_LEN), value = BUF_INIT(SEL_MAX_LEN);
    int rc = -1;
    css_skip_ws(c);
    size_t at = c->pos;
    if (css_read_ident(c, &name, 1, "an attribute name"))
        goto out;
    p->plain = (char)plain_ascii(c->s, at, c->pos);
    css_skip_ws(c);
    char ch = css_peek(c);
    if (ch == ']') {
        c->pos++;
        rc = 0;
        goto out;
    }
    if (ch == '=') {
        p->op = '=';
        c->pos++;
    } else if (ch && strchr("~^$*|", ch) && c->s[c->pos + 1] == '=') {
        p->op = ch;
        c->pos += 2;
    } else {
        css_fail(c, "expected '=', '~=', '^=', '$=', '*=', '|=' or ']'");
        goto out;
    }
    css_skip_ws(c);
    ch = css_peek(c);
    at = c->pos;
    if (ch == '"' || ch == '\'') {
        if (css_read_string(c, &value))
            goto out;
        /* Quoted: any characters but escapes and line breaks. */
        for (size_t i = at + 1; i + 1 < c->pos; i++)
            if (c->s[i] == '\\' || c->s[i] == '\n')
                p->plain = 0;
    } else if (css_read_ident(c, &value, 0, "a value (an identifier or a quoted string)")) {
        goto out;
    } else if (!plain_ascii(c->s, at, c->pos)) {
        p->plain = 0;
    }
    css_skip_ws(c);
    if (css_peek(c) == 'i' || css_peek(c) == 'I' || css_peek(c) == 's' || css_peek(c) == 'S') {
        p->nocase = tolower((unsigned char)css_peek(c)) == 'i';
        c->pos++;
        css_skip_ws(c);
    }
    if (css_peek(c) != ']') {
        css_fail(c, "expected ']'");
        goto out;
    }
    c->pos++;
    p->value = detach(&value);
    rc = 0;
out:
    p->name = detach(&name);
    buf_release(&value);
    return rc;
}

/* an+b inside :nth-*(...); odd, even, 3, -n+3, 2n + 1. */
static int parse_nth(struct css *c, long *a, long *b)
{
    css_skip_ws(c);
    const char *p = c->s + c->pos;
    if (strncasecmp(p, "odd", 3) == 0 && !css_is_name_char((unsigned char)p[3])) {
        *a = 2, *b = 1, c->pos += 3;
        return 0;
    }
    if (strncasecmp(p, "even", 4) == 0 && !css_is_name_char((unsigned char)p[4])) {
        *a = 2, *b = 0, c->pos += 4;
        return 0;
    }
    int sign = 1;
    if (css_peek(c) == '+' || css_peek(c) == '-')
        sign = css_peek(c) == '-' ? -1 : 1, c->pos++;
    long num = -1;
    if (isdigit((unsigned char)css_peek(c))) {
        num = 0;
        while (isdigit((unsigned char)css_peek(c))) {
            if (num > 100000)
                return css_fail(c, "number too large");
            num = num * 10 + (css_peek(c) - '0');
            c->pos++;
        }
    }
    if (css_peek(c) == 'n' || css_peek(c) == 'N') {
        c->pos++;
        *a = sign * (num < 0 ? 1 : num);
        css_skip_ws(c);
        *b = 0;
        if (css_peek(c) == '+' || css_peek(c) == '-') {
            int s2 = css_peek(c) == '-' ? -1 : 1;
            c->pos++;
            css_skip_ws(c);
            if (!isdigit((unsigned char)css_peek(c)))
                return css_fail(c, "expected a number after the sign");
            long n2 = 0;
            while (isdigit((unsigned char)css_peek(c))) {
                if (n2 > 100000)
                    return css_fail(c, "number too large");
                n2 = n2 * 10 + (css_peek(c) - '0');
                c->pos++;
            }
            *b = s2 * n2;
        }
        return 0;
    }
    if (num < 0)
        return css_fail(c, "expected an+b, odd or even");
    *a = 0, *b = sign * num;
    return 0;
}

/* ')' closing a pseudo-class's argument (after white space). */
static int close_paren(struct css *c)
{
    css_skip_ws(c);
    if (css_peek(c) != ')')
        return css_fail(c, "expected ')'");
    c->pos++;
    return 0;
}

/* A pseudo-class after the ':', into p. `typed`: the compound names an
 * element the XPath can test (the -of-type forms need one). */
static int pseudo(struct css *c, struct css_part *p, int typed)
{
    struct buf name = BUF_INIT(64);
    int rc = -1;
    size_t at = c->pos;
    if (css_peek(c) == ':') {
        css_fail(c, "pseudo-elements (::) select no element");
        goto out;
    }
    if (css_read_ident(c, &name, 1, "a pseudo-class name"))
        goto out;
    const char *n = buf_str(&name);
    int fn = css_peek(c) == '(';
    if (fn)
        c->pos++;
    p->of_type = strstr(n, "of-type") != NULL;
    p->last = strstr(n, "last") != NULL;
    if (p->of_type && !typed) {
        c->pos = at;
        css_fail(c, ":%s needs an element name before it", n);
        goto out;
    }
    rc = 0;
    if (!fn && (strcmp(n, "first-child") == 0 || strcmp(n, "first-of-type") == 0)) {
        p->ps = CSS_FIRST;
    } else if (!fn && (strcmp(n, "last-child") == 0 || strcmp(n, "last-of-type") == 0)) {
        p->ps = CSS_LAST;
    } else if (!fn && (strcmp(n, "only-child") == 0 || strcmp(n, "only-of-type") == 0)) {
        p->ps = CSS_ONLY;
    } else if (!fn && strcmp(n, "empty") == 0) {
        p->ps = CSS_EMPTY;
    } else if (!fn && strcmp(n, "root") == 0) {
        p->ps = CSS_ROOT;
    } else if (!fn && (strcmp(n, "checked") == 0 || strcmp(n, "disabled") == 0 ||
                       strcmp(n, "selected") == 0)) {
        p->ps = CSS_FLAG;
    } else if (fn && (strcmp(n, "nth-child") == 0 || strcmp(n, "nth-of-type") == 0 ||
                      strcmp(n, "nth-last-child") == 0 || strcmp(n, "nth-last-of-type") == 0)) {
        p->ps = CSS_NTH;
        rc = parse_nth(c, &p->a, &p->b) || close_paren(c);
    } else if (fn && (strcmp(n, "not") == 0 || strcmp(n, "has") == 0)) {
        if (c->nest >= MAX_NEST) {
            rc = css_fail(c, ":not() and :has() nest at most %d deep", MAX_NEST);
            goto out;
        }
        p->ps = n[0] == 'h' ? CSS_HAS : CSS_NOT;
        p->pos = c->pos; /* the list's opening is written after the '(' */
        c->nest++;
        p->sub = complex_list(c, p->ps == CSS_HAS ? 1 : 2, ')');
        c->nest--;
        rc = p->sub ? 0 : -1;
    } else if (fn && strcmp(n, "contains") == 0) {
        struct buf text = BUF_INIT(SEL_MAX_LEN);
        css_skip_ws(c);
        if (css_peek(c) == '"' || css_peek(c) == '\'')
            rc = css_read_string(c, &text);
        else
            rc = css_read_ident(c, &text, 0, "a quoted string");
        rc = rc || close_paren(c);
        p->ps = CSS_CONTAINS;
        p->value = detach(&text);
    } else {
        c->pos = at;
        rc = css_fail(c, "unsupported pseudo-class ':%s%s'", n, fn ? "()" : "");
    }
out:
    p->name = detach(&name);
    return rc ? -1 : 0;
}

static void compound_release(struct css_compound *k)
{
    for (int i = 0; i < k->n; i++) {
        free(k->parts[i].name);
        free(k->parts[i].value);
        css_list_free(k->parts[i].sub);
    }
    free(k->parts);
    free(k->type);
}

/* A compound selector: an optional type then #id .class [attr] :pseudo. */
static int compound(struct css *c, struct css_compound *k)
{
    int parts = 0;
    size_t start = c->pos;
    char ch = css_peek(c);
    k->start = start;
    if (ch == '*') {
        c->pos++;
        parts++;
        k->star = 1;
    } else if (css_is_name_start((unsigned char)ch) || ch == '\\' ||
               (ch == '-' && css_is_name_start((unsigned char)c->s[c->pos + 1]))) {
        struct buf type = BUF_INIT(SEL_MAX_LEN);
        int r = css_read_ident(c, &type, 1, "an element name");
        k->type = detach(&type);
        k->plain = (char)plain_ascii(c->s, start, c->pos);
        if (r)
            return -1;
        parts++;
        if (c->s[c->pos] == '|')
            return css_fail(c, "namespaces are not supported");
    }
    k->type_end = c->pos;
    int typed = k->type && css_xpath_name_ok(k->type);
    for (;;) {
        ch = css_peek(c);
        if (!(ch == '#' || ch == '.' || ch == '[' || ch == ':'))
            break;
        k->parts = grow(k->parts, k->n, sizeof(*k->parts));
        struct css_part *p = &k->parts[k->n++];
        *p = (struct css_part){.kind = ch, .plain = 1};
        size_t at = ++c->pos;
        if (ch == '#' || ch == '.') {
            struct buf id = BUF_INIT(SEL_MAX_LEN);
            int r = css_read_ident(c, &id, 0, ch == '#' ? "an id after '#'" : "a class after '.'");
            p->name = detach(&id);
            p->plain = (char)plain_ascii(c->s, at, c->pos);
            if (r)
                return -1;
        } else if (ch == '[' ? attribute_test(c, p) : pseudo(c, p, typed)) {
            return -1;
        } else if (ch == ':' && !p->sub) {
            for (size_t i = at; i < c->pos; i++)
                p->plain &= c->s[i] != '\\';
        }
        if (!p->sub)
            p->pos = c->pos;
        p->end = c->pos;
        parts++;
    }
    if (!parts) {
        c->pos = start;
        return css_fail(c, ch ? "unexpected '%c'" : "expected a selector", ch);
    }
    k->end = c->pos;
    return 0;
}

/* One complex selector: compound (combinator compound)*. `mode` 0: from the
 * context node (descendants, or a leading combinator); 1: inside :has(),
 * the same, relative to the tested element; 2: inside :not(), one compound
 * tested on the element itself. Stops before ',' or `close`. */
static int complex_sel(struct css *c, struct css_complex *x, int mode, char close)
{
    css_skip_ws(c);
    char comb = ' ';
    if (mode != 2 && (css_peek(c) == '>' || css_peek(c) == '+' || css_peek(c) == '~')) {
        comb = css_peek(c);
        c->pos++;
        css_skip_ws(c);
    }
    for (;;) {
        x->c = grow(x->c, x->n, sizeof(*x->c));
        struct css_compound *k = &x->c[x->n++];
        *k = (struct css_compound){.comb = comb};
        if (compound(c, k))
            return -1;
        int ws = css_skip_ws(c);
        if (mode == 2)
            return 0;
        char ch = css_peek(c);
        if (!ch || ch == ',' || ch == close)
            return 0;
        if (ch == '>' || ch == '+' || ch == '~') {
            comb = ch;
            c->pos++;
            css_skip_ws(c);
            if (!css_peek(c) || css_peek(c) == ',' || css_peek(c) == close)
                return css_fail(c, "expected a selector after '%c'", comb);
        } else if (ws) {
            comb = ' ';
        } else {
            return css_fail(c, "unexpected '%c'", ch);
        }
    }
}

void css_list_free(struct css_list *l)
{
    if (!l)
        return;
    for (int a = 0; a < l->n; a++) {
        for (int i = 0; i < l->alts[a].n; i++)
            compound_release(&l->alts[a].c[i]);
        free(l->alts[a].c);
    }
    free(l->alts);
    free(l);
}

/* complex (',' complex)* up to the end or `close` (consumed). */
static struct css_list *complex_list(struct css *c, int mode, char close)
{
    struct css_list *l = calloc(1, sizeof(*l));
    if (!l)
        abort();
    for (;;) {
        l->alts = grow(l->alts, l->n, sizeof(*l->alts));
        struct css_complex *x = &l->alts[l->n++];
        *x = (struct css_complex){.sep = c->pos};
        if (complex_sel(c, x, mode, close))
            break;
        char ch = css_peek(c);
        if (ch == ',') {
            c->pos++;
            continue;
        }
        if (close && ch == close) {
            c->pos++;
            return l;
        }
        if (!close && !ch)
            return l;
        css_fail(c, close ? "expected ')'" : "unexpected '%c'", ch);
        break;
    }
    css_list_free(l);
    return NULL;
}

struct css_list *css_parse(const char *css, char *errstr, size_t errstr_size)
{
    struct css c = {.s = css, .errstr = errstr, .errstr_size = errstr_size};
    if (strlen(css) > SEL_MAX_LEN) {
        snprintf(errstr, errstr_size, "selector longer than %d bytes", SEL_MAX_LEN);
        return NULL;
    }
    if (css_check_chars(&c))
        return NULL;
    css_skip_ws(&c);
    if (!css_peek(&c)) {
        css_fail(&c, "empty selector");
        return NULL;
    }
    return complex_list(&c, 0, 0);
}

int sel_css_to_xpath(const char *css, struct buf *outb, char *errstr, size_t errstr_size)
{
    struct css_list *l = css_parse(css, errstr, errstr_size);
    int rc = l ? css_write_xpath(l, css, 0, outb, errstr, errstr_size) : -1;
    css_list_free(l);
    return rc;
}
