/*
 * sel_int — the CSS-to-XPath translator's state and its writing helpers,
 * shared by the grammar (sel_css.c), the lexing and output helpers
 * (sel_lex.c) and the libxml2 side (sel.c). Not for other modules: they use
 * sel.h.
 *
 * The translator reads the selector once, left to right, and writes the
 * XPath as it goes. Every helper returns 0, or -1 after css_fail() recorded
 * the first error ("position N: why"); later failures keep the first.
 */
#ifndef FERRY_SEL_INT_H
#define FERRY_SEL_INT_H

#include <stddef.h>

#include "buf.h"
#include "sel.h"

/* How deeply :not() and :has() may nest: each level multiplies the work per
 * node, and no real rule needs more. */
#define MAX_NEST 3
/* The XPath text a selector may grow to (each :nth-* or attribute test adds
 * a few dozen bytes). */
#define XPATH_MAX (64 * 1024)

#define LOWER_ABC "translate(%s,'ABCDEFGHIJKLMNOPQRSTUVWXYZ','abcdefghijklmnopqrstuvwxyz')"

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

static inline int css_is_name_start(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch >= 0x80;
}

static inline int css_is_name_char(unsigned char ch)
{
    return css_is_name_start(ch) || (ch >= '0' && ch <= '9') || ch == '-';
}

static inline char css_peek(const struct css *c)
{
    return c->s[c->pos];
}

/* sel_css.c: the translation of a whole selector into outb; doc_form writes
 * the form evaluated from the document node (an id or class lead step). */
int css_to_xpath(const char *css, int doc_form, struct buf *outb, char *errstr, size_t errstr_size);

/* sel_lex.c: errors, output, lexing. */
int css_fail(struct css *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int css_out(struct css *c, const char *s);
int css_outf(struct css *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Skips white space; 1 when there was some. */
int css_skip_ws(struct css *c);
/* A CSS escape after the backslash (c->pos on it). */
int css_read_escape(struct css *c, struct buf *into);
/* An identifier (with escapes) into `into`; `lower` folds ASCII case (element
 * and attribute names); `what` names it in the error when none is here. */
int css_read_ident(struct css *c, struct buf *into, int lower, const char *what);
/* A quoted string ('...' or "..."), escapes resolved. */
int css_read_string(struct css *c, struct buf *into);
/* s as an XPath 1.0 literal (concat() of pieces when it has both quotes). */
int css_out_literal(struct css *c, const char *s);
/* 1 when s is a name XPath can write as is (else local-name() compares). */
int css_xpath_name_ok(const char *s);
/* The value of attribute `name` as an XPath expression. */
int css_out_attr(struct css *c, const char *name);
/* A predicate: `word` is a whitespace-separated word of HAYSTACK. */
int css_out_class(struct css *c, const char *haystack, const char *word);
/* Characters (not bytes) of UTF-8 text, as XPath's string-length counts. */
size_t css_utf8_chars(const char *s);
/* Every byte valid UTF-8 and no control character (XPath takes XML
 * characters only); the error names the first bad byte. */
int css_check_chars(struct css *c);

/* sel.c: whether element e's class attribute lists class `want` (words
 * split at HTML white space), as ferry-has-class() and sel_match.c read it. */
int sel_has_class(xmlNodePtr e, const char *want);

/* sel_match.c: the selectors matched on the tree without XPath. A plan,
 * or NULL when the selector is outside what it matches (XPath then). */
struct sel_match *sel_match_plan(const char *css);
void sel_match_free(struct sel_match *m);
/* 0 with *out (a node set, the nodes XPath would give, in document order);
 * -1 when it gives the selector back to XPath. */
int sel_match_eval(const struct sel_match *m, xmlNodePtr node, xmlXPathObjectPtr *out);

#endif
