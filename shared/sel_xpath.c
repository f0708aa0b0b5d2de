/* sel: the XPath 1.0 written from a selector's syntax tree (sel_css.c reads
 * it; sel_lex.c has the literal and name helpers). */
#include <ctype.h>
#include <string.h>

#include "sel_int.h"

static int write_list(struct css *c, const struct css_list *l, int mode, int doc_form);

/* [attr op value flags]. */
static int write_attr(struct css *c, const struct css_part *p)
{
    c->pos = p->pos;
    if (!p->op)
        return css_out(c, "[") || css_out_attr(c, p->name) || css_out(c, "]");
    struct buf value = BUF_INIT(SEL_MAX_LEN), attr = BUF_INIT(XPATH_MAX),
               folded = BUF_INIT(XPATH_MAX);
    int rc = -1;
    /* The attribute (folded for ` i`) and the value to compare with. */
    struct buf *save = c->out;
    c->out = &attr;
    if (css_out_attr(c, p->name)) {
        c->out = save;
        goto out;
    }
    c->out = save;
    const char *a = buf_str(&attr);
    buf_adds(&value, p->value);
    if (p->nocase) {
        buf_addf(&folded, LOWER_ABC, a);
        a = buf_str(&folded);
        for (size_t i = 0; i < value.len; i++)
            value.ptr[i] = (char)tolower((unsigned char)value.ptr[i]);
    }
    const char *v = buf_str(&value);
    /* Selectors Level 3: ~= with an empty value or one with whitespace, and
     * ^= $= *= with an empty value, match nothing. */
    int never =
        (p->op != '=' && p->op != '|' && !v[0]) || (p->op == '~' && strpbrk(v, " \t\n\r\f"));
    if (never) {
        rc = css_out(c, "[false()]");
        goto out;
    }
    switch (p->op) {
    case '=': rc = css_outf(c, "[%s=", a) || css_out_literal(c, v) || css_out(c, "]"); break;
    case '~': {
        struct buf hay = BUF_INIT(XPATH_MAX);
        buf_addf(&hay, "normalize-space(%s)", a);
        rc = css_out_class(c, buf_str(&hay), v);
        buf_release(&hay);
        break;
    }
    case '^':
        rc = css_outf(c, "[starts-with(%s,", a) || css_out_literal(c, v) || css_out(c, ")]");
        break;
    case '$':
        rc = css_outf(c, "[substring(%s,string-length(%s)-%zu)=", a, a, css_utf8_chars(v) - 1) ||
             css_out_literal(c, v) || css_out(c, "]");
        break;
    case '*':
        rc = css_outf(c, "[contains(%s,", a) || css_out_literal(c, v) || css_out(c, ")]");
        break;
    case '|':
        rc = css_outf(c, "[%s=", a) || css_out_literal(c, v) ||
             css_outf(c, " or starts-with(%s,", a) || css_out(c, "concat(") ||
             css_out_literal(c, v) || css_out(c, ",'-'))]");
        break;
    }
out:
    buf_release(&value);
    buf_release(&attr);
    buf_release(&folded);
    return rc ? -1 : 0;
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
        rc = b < 1 ? css_out(c, "[false()]") : css_outf(c, "[%s=%ld]", cnt, b - 1);
    else if (a > 0 && b <= 1) /* every k >= 0 gives p >= 1: only the step matters */
        rc = css_outf(c, "[(%s+%ld) mod %ld=0]", cnt, 1 - b, a);
    else if (a > 0)
        rc = css_outf(c, "[%s>=%ld and (%s-%ld) mod %ld=0]", cnt, b - 1, cnt, b - 1, a);
    else
        rc = css_outf(c, "[%ld-%s>=0 and (%ld-%s) mod %ld=0]", b - 1, cnt, b - 1, cnt, -a);
    buf_release(&cb);
    return rc;
}

/* A pseudo-class; `type` is the compound's element name (the -of-type
 * forms have one: the grammar checked). */
static int write_pseudo(struct css *c, const struct css_part *p, const char *type)
{
    const char *test = p->of_type ? type : "*";
    int has = p->ps == CSS_HAS;
    c->pos = p->pos;
    switch (p->ps) {
    case CSS_FIRST: return css_outf(c, "[not(preceding-sibling::%s)]", test);
    case CSS_LAST: return css_outf(c, "[not(following-sibling::%s)]", test);
    case CSS_ONLY:
        return css_outf(c, "[not(preceding-sibling::%s) and not(following-sibling::%s)]", test,
                        test);
    case CSS_EMPTY: return css_out(c, "[not(*) and not(text())]");
    case CSS_ROOT: return css_out(c, "[not(parent::*)]");
    case CSS_FLAG: return css_outf(c, "[@%s]", p->name);
    case CSS_NTH:
        return nth_predicate(c, p->a, p->b, p->last ? "following-sibling" : "preceding-sibling",
                             test);
    case CSS_NOT:
    case CSS_HAS:
        if (css_out(c, has ? "[" : "[not(") || write_list(c, p->sub, has ? 1 : 2, 0))
            return -1;
        c->pos = p->end;
        return css_out(c, has ? "]" : ")]");
    case CSS_CONTAINS:
        return css_out(c, "[contains(string(.),") || css_out_literal(c, p->value) ||
               css_out(c, ")]");
    }
    return -1;
}

/* A compound's name test and predicates (its axis is written); where the
 * name test ends in out goes to *nametest_end. */
static int write_compound(struct css *c, const struct css_compound *k, size_t *nametest_end)
{
    c->pos = k->type_end;
    if (!k->type) {
        if (css_out(c, "*"))
            return -1;
    } else if (css_xpath_name_ok(k->type)) {
        if (css_out(c, k->type))
            return -1;
    } else if (css_out(c, "*[local-name()=") || css_out_literal(c, k->type) || css_out(c, "]")) {
        return -1;
    }
    *nametest_end = c->out->len;
    const char *typed = k->type && css_xpath_name_ok(k->type) ? k->type : NULL;
    for (int i = 0; i < k->n; i++) {
        const struct css_part *p = &k->parts[i];
        int r;
        c->pos = p->pos;
        if (p->kind == '#')
            r = css_out(c, "[@id=") || css_out_literal(c, p->name) || css_out(c, "]");
        else if (p->kind == '.')
            r = css_out(c, "[ferry-has-class(") || css_out_literal(c, p->name) || css_out(c, ")]");
        else if (p->kind == '[')
            r = write_attr(c, p);
        else
            r = write_pseudo(c, p, typed);
        if (r)
            return -1;
    }
    return 0;
}

/* The compound's first id, else its first class; NULL when it has none. */
static const struct css_part *lead_part(const struct css_compound *k)
{
    const struct css_part *cls = NULL;
    for (int i = 0; i < k->n; i++) {
        if (k->parts[i].kind == '#')
            return &k->parts[i];
        if (k->parts[i].kind == '.' && !cls)
            cls = &k->parts[i];
    }
    return cls;
}

/* From the document, the first compound of a selector with an id or a
 * class starts from an index instead of scanning every element: id() (the
 * document's id table, as getElementById: the first element with that id)
 * or ferry-class-index() (one walk per page, shared by every rule). Its own
 * tests stay as predicates. Rewrites what write_compound() wrote after
 * `mark`. */
static int lead_step(struct css *c, const struct css_compound *k, size_t mark, size_t test_start,
                     size_t nametest_end)
{
    const struct css_part *lead = lead_part(k);
    if (!lead)
        return 0;
    c->pos = k->end;
    struct buf test = BUF_INIT(XPATH_MAX), preds = BUF_INIT(XPATH_MAX);
    buf_add(&test, c->out->ptr + test_start, nametest_end - test_start);
    buf_add(&preds, c->out->ptr + nametest_end, c->out->len - nametest_end);
    buf_truncate(c->out, mark);
    int rc = css_out(c, lead->kind == '#' ? "id(" : "ferry-class-index(") ||
             css_out_literal(c, lead->name) || css_out(c, ")");
    if (!rc && strcmp(buf_str(&test), "*") != 0)
        rc = css_out(c, "[self::") || css_out(c, buf_str(&test)) || css_out(c, "]");
    rc = rc || css_out(c, buf_str(&preds));
    buf_release(&test);
    buf_release(&preds);
    return rc;
}

/* One complex selector as location steps. `mode` 0: from the context node;
 * 1: inside :has(), relative to the tested element; 2: inside :not(), its
 * one compound tested on the element itself. */
static int write_complex(struct css *c, const struct css_complex *x, int mode, int doc_form)
{
    size_t nametest_end;
    if (mode == 2) {
        c->pos = x->c[0].start;
        return css_out(c, "self::") || write_compound(c, &x->c[0], &nametest_end);
    }
    for (int i = 0; i < x->n; i++) {
        const struct css_compound *k = &x->c[i];
        c->pos = k->start;
        if (i > 0 && css_out(c, "/"))
            return -1;
        size_t mark = c->out->len;
        switch (k->comb) {
        case ' ': css_out(c, "descendant::"); break;
        case '>': css_out(c, "child::"); break;
        case '~': css_out(c, "following-sibling::"); break;
        case '+': css_out(c, "following-sibling::*[1]/self::"); break;
        }
        size_t test_start = c->out->len;
        if (write_compound(c, k, &nametest_end))
            return -1;
        if (i == 0 && k->comb == ' ' && mode == 0 && doc_form &&
            lead_step(c, k, mark, test_start, nametest_end))
            return -1;
    }
    return 0;
}

/* The alternatives of a list: a union (`|`), or inside :not() a
 * disjunction of tests on the element (` or `). */
static int write_list(struct css *c, const struct css_list *l, int mode, int doc_form)
{
    for (int a = 0; a < l->n; a++) {
        c->pos = l->alts[a].sep;
        if (a > 0 && css_out(c, mode == 2 ? " or " : "|"))
            return -1;
        if (write_complex(c, &l->alts[a], mode, doc_form))
            return -1;
    }
    return 0;
}

int css_write_xpath(const struct css_list *l, const char *css, int doc_form, struct buf *outb,
                    char *errstr, size_t errstr_size)
{
    struct css c = {.s = css, .out = outb, .errstr = errstr, .errstr_size = errstr_size};
    return write_list(&c, l, 0, doc_form);
}
