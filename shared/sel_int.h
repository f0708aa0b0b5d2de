/*
 * sel_int — the CSS selector's syntax tree and the helpers of the modules
 * that make and read it: the grammar (sel_css.c) parses a selector once
 * into a tree; the XPath writer (sel_xpath.c, with sel_lex.c's lexing and
 * output helpers) writes both XPath forms from it, and sel_match.c plans
 * the match on the libxml2 tree from it. sel.c compiles and keeps it with
 * the compiled selector. Not for other modules: they use sel.h.
 *
 * Every helper returns 0, or -1 after css_fail() recorded the first error
 * ("position N: why"); later failures keep the first. Each node keeps the
 * position the reading had reached where its XPath is written, so an error
 * found while writing ("selector too complex") names a place in the text.
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

/* ---- the syntax tree ---- */

enum css_pseudo {
    CSS_FIRST,    /* :first-child, :first-of-type */
    CSS_LAST,     /* :last-child, :last-of-type */
    CSS_ONLY,     /* :only-child, :only-of-type */
    CSS_EMPTY,    /* :empty */
    CSS_ROOT,     /* :root */
    CSS_FLAG,     /* :checked :disabled :selected: the attribute of that name */
    CSS_NTH,      /* :nth-child() :nth-of-type() and their -last- forms */
    CSS_NOT,      /* :not(compound, ...) */
    CSS_HAS,      /* :has(relative selector, ...) */
    CSS_CONTAINS, /* :contains(text) */
};

struct css_list;

/* One `#id`, `.class`, `[attr]` or `:pseudo` of a compound. */
struct css_part {
    char kind;            /* '#', '.', '[' or ':' */
    char op;              /* '[': 0 (presence) or '=' '~' '^' '$' '*' '|' */
    char nocase;          /* '[': the ` i` flag */
    char plain;           /* names and value written without escapes, names in ASCII */
    char of_type, last;   /* ':' its -of-type and -last- forms */
    enum css_pseudo ps;   /* ':' */
    long a, b;            /* CSS_NTH: an+b */
    char *name;           /* the id, the class, the attribute (lower case), the pseudo-class */
    char *value;          /* '[': the value (NULL: presence); CSS_CONTAINS: the text */
    struct css_list *sub; /* CSS_NOT, CSS_HAS */
    size_t pos;           /* where its XPath is written */
    size_t end;           /* CSS_NOT, CSS_HAS: where the closing of the list is */
};

/* An optional type, then its parts; `comb` joins it to the compound before
 * (for the first of a complex: its leading combinator, ' ' when none). */
struct css_compound {
    char comb;  /* ' ', '>', '+' or '~' */
    char star;  /* written `*` */
    char plain; /* the type written without escapes, in ASCII */
    char *type; /* the element name, lower case; NULL: any */
    struct css_part *parts;
    int n;
    size_t start;    /* where its axis is written */
    size_t type_end; /* where its name test is written */
    size_t end;      /* after its last part */
};

struct css_complex {
    struct css_compound *c;
    int n;
    size_t sep; /* where the `|` (or ` or `) before it is written */
};

/* A selector list: the whole selector, or the argument of :not() / :has(). */
struct css_list {
    struct css_complex *alts;
    int n;
};

/* ---- reading ---- */

struct css {
    const char *s;   /* the whole selector */
    size_t pos;      /* next byte */
    struct buf *out; /* XPath being written (sel_xpath.c) */
    int nest;
    char *errstr;
    size_t errstr_size;
    int failed;
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

/* sel_css.c: the tree of a whole selector, or NULL with errstr. */
struct css_list *css_parse(const char *css, char *errstr, size_t errstr_size);
void css_list_free(struct css_list *l);

/* sel_xpath.c: the XPath of a parsed selector into outb; doc_form writes
 * the form evaluated from the document node (an id or class lead step).
 * `css` is the text it was parsed from (for error positions). */
int css_write_xpath(const struct css_list *l, const char *css, int doc_form, struct buf *outb,
                    char *errstr, size_t errstr_size);

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

/* sel_match.c: the selectors matched on the tree without XPath. A plan
 * (borrowing the tree's strings: free it first), or NULL when the selector
 * is outside what it matches (XPath then). */
struct sel_match *sel_match_plan(const struct css_list *l);
void sel_match_free(struct sel_match *m);
/* 0 with *out (a node set, the nodes XPath would give, in document order);
 * -1 when it gives the selector back to XPath. */
int sel_match_eval(const struct sel_match *m, xmlNodePtr node, xmlXPathObjectPtr *out);

#endif
