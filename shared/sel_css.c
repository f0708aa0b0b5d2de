/* sel: the CSS selector grammar, translated to XPath 1.0 as it is read
 * (see sel.h for what is understood, sel_int.h for the translator's state). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sel_int.h"

static int compile_complex_list(struct css *c, int mode, char close);

/* [attr op value flags] after the '['. */
static int attribute_test(struct css *c)
{
    struct buf name = BUF_INIT(SEL_MAX_LEN), value = BUF_INIT(SEL_MAX_LEN),
               attr = BUF_INIT(XPATH_MAX), folded = BUF_INIT(XPATH_MAX);
    int rc = -1;
    css_skip_ws(c);
    if (css_read_ident(c, &name, 1, "an attribute name"))
        goto out;
    css_skip_ws(c);
    char op[3] = {0};
    char ch = css_peek(c);
    if (ch == ']') {
        c->pos++;
        rc = css_out(c, "[") || css_out_attr(c, buf_str(&name)) || css_out(c, "]");
        goto out;
    }
    if (ch == '=') {
        op[0] = '=';
        c->pos++;
    } else if (ch && strchr("~^$*|", ch) && c->s[c->pos + 1] == '=') {
        op[0] = ch, op[1] = '=';
        c->pos += 2;
    } else {
        css_fail(c, "expected '=', '~=', '^=', '$=', '*=', '|=' or ']'");
        goto out;
    }
    css_skip_ws(c);
    ch = css_peek(c);
    if (ch == '"' || ch == '\'') {
        if (css_read_string(c, &value))
            goto out;
    } else if (css_read_ident(c, &value, 0, "a value (an identifier or a quoted string)")) {
        goto out;
    }
    css_skip_ws(c);
    int nocase = 0;
    if (css_peek(c) == 'i' || css_peek(c) == 'I' || css_peek(c) == 's' || css_peek(c) == 'S') {
        nocase = tolower((unsigned char)css_peek(c)) == 'i';
        c->pos++;
        css_skip_ws(c);
    }
    if (css_peek(c) != ']') {
        css_fail(c, "expected ']'");
        goto out;
    }
    c->pos++;

    /* The attribute (folded for ` i`) and the value to compare with. */
    struct buf *save = c->out;
    c->out = &attr;
    if (css_out_attr(c, buf_str(&name))) {
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
        rc = css_out(c, "[false()]");
        goto out;
    }
    switch (op[0]) {
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
    buf_release(&name);
    buf_release(&value);
    buf_release(&attr);
    buf_release(&folded);
    return rc ? -1 : 0;
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

/* A pseudo-class after the ':'. `type` is the compound's element name or
 * NULL for any. */
static int pseudo(struct css *c, const char *type)
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
    int of_type = strstr(n, "of-type") != NULL;
    const char *test = of_type ? type : "*";
    if (of_type && !type) {
        c->pos = at;
        css_fail(c, ":%s needs an element name before it", n);
        goto out;
    }
    if (!fn && (strcmp(n, "first-child") == 0 || strcmp(n, "first-of-type") == 0)) {
        rc = css_outf(c, "[not(preceding-sibling::%s)]", test);
    } else if (!fn && (strcmp(n, "last-child") == 0 || strcmp(n, "last-of-type") == 0)) {
        rc = css_outf(c, "[not(following-sibling::%s)]", test);
    } else if (!fn && (strcmp(n, "only-child") == 0 || strcmp(n, "only-of-type") == 0)) {
        rc = css_outf(c, "[not(preceding-sibling::%s) and not(following-sibling::%s)]", test, test);
    } else if (!fn && strcmp(n, "empty") == 0) {
        rc = css_out(c, "[not(*) and not(text())]");
    } else if (!fn && strcmp(n, "root") == 0) {
        rc = css_out(c, "[not(parent::*)]");
    } else if (!fn && (strcmp(n, "checked") == 0 || strcmp(n, "disabled") == 0 ||
                       strcmp(n, "selected") == 0)) {
        rc = css_outf(c, "[@%s]", n);
    } else if (fn && (strcmp(n, "nth-child") == 0 || strcmp(n, "nth-of-type") == 0 ||
                      strcmp(n, "nth-last-child") == 0 || strcmp(n, "nth-last-of-type") == 0)) {
        long a = 0, b = 0;
        if (parse_nth(c, &a, &b))
            goto out;
        css_skip_ws(c);
        if (css_peek(c) != ')') {
            css_fail(c, "expected ')'");
            goto out;
        }
        c->pos++;
        rc = nth_predicate(c, a, b, strstr(n, "last") ? "following-sibling" : "preceding-sibling",
                           test);
    } else if (fn && (strcmp(n, "not") == 0 || strcmp(n, "has") == 0)) {
        if (c->nest >= MAX_NEST) {
            css_fail(c, ":not() and :has() nest at most %d deep", MAX_NEST);
            goto out;
        }
        int has = n[0] == 'h';
        /* The compounds inside are not where this one starts its scan. */
        struct buf lead_id = c->lead_id, lead_class = c->lead_class;
        size_t nametest_end = c->nametest_end;
        c->lead_id = (struct buf)BUF_INIT(SEL_MAX_LEN);
        c->lead_class = (struct buf)BUF_INIT(SEL_MAX_LEN);
        c->nest++;
        rc = css_out(c, has ? "[" : "[not(") || compile_complex_list(c, has ? 1 : 2, ')') ||
             css_out(c, has ? "]" : ")]");
        c->nest--;
        buf_release(&c->lead_id);
        buf_release(&c->lead_class);
        c->lead_id = lead_id, c->lead_class = lead_class, c->nametest_end = nametest_end;
    } else if (fn && strcmp(n, "contains") == 0) {
        struct buf text = BUF_INIT(SEL_MAX_LEN);
        css_skip_ws(c);
        if (css_peek(c) == '"' || css_peek(c) == '\'')
            rc = css_read_string(c, &text);
        else
            rc = css_read_ident(c, &text, 0, "a quoted string");
        css_skip_ws(c);
        if (!rc && css_peek(c) != ')')
            rc = css_fail(c, "expected ')'");
        if (!rc) {
            c->pos++;
            rc = css_out(c, "[contains(string(.),") || css_out_literal(c, buf_str(&text)) ||
                 css_out(c, ")]");
        }
        buf_release(&text);
    } else {
        c->pos = at;
        css_fail(c, "unsupported pseudo-class ':%s%s'", n, fn ? "()" : "");
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
    char ch = css_peek(c);
    if (ch == '*') {
        c->pos++;
        parts++;
        if (css_out(c, "*"))
            goto out;
    } else if (css_is_name_start((unsigned char)ch) || ch == '\\' ||
               (ch == '-' && css_is_name_start((unsigned char)c->s[c->pos + 1]))) {
        if (css_read_ident(c, &type, 1, "an element name"))
            goto out;
        parts++;
        if (c->s[c->pos] == '|') {
            css_fail(c, "namespaces are not supported");
            goto out;
        }
        if (css_xpath_name_ok(buf_str(&type))) {
            if (css_out(c, buf_str(&type)))
                goto out;
        } else if (css_out(c, "*[local-name()=") || css_out_literal(c, buf_str(&type)) ||
                   css_out(c, "]")) {
            goto out;
        }
    } else if (css_out(c, "*")) {
        goto out;
    }
    const char *t = type.len && css_xpath_name_ok(buf_str(&type)) ? buf_str(&type) : NULL;
    c->nametest_end = c->out->len;
    buf_reset(&c->lead_id);
    buf_reset(&c->lead_class);
    for (;;) {
        ch = css_peek(c);
        if (ch == '#' || ch == '.') {
            struct buf id = BUF_INIT(SEL_MAX_LEN);
            c->pos++;
            int r = css_read_ident(c, &id, 0, ch == '#' ? "an id after '#'" : "a class after '.'");
            if (!r) {
                if (ch == '#')
                    r = css_out(c, "[@id=") || css_out_literal(c, buf_str(&id)) || css_out(c, "]");
                else
                    r = css_out(c, "[ferry-has-class(") || css_out_literal(c, buf_str(&id)) ||
                        css_out(c, ")]");
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
        css_fail(c, ch ? "unexpected '%c'" : "expected a selector", ch);
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
                 ? css_out(c, "id(") || css_out_literal(c, buf_str(&c->lead_id))
                 : css_out(c, "ferry-class-index(") || css_out_literal(c, buf_str(&c->lead_class));
    rc = rc || css_out(c, ")");
    if (!rc && strcmp(buf_str(&test), "*") != 0)
        rc = css_out(c, "[self::") || css_out(c, buf_str(&test)) || css_out(c, "]");
    rc = rc || css_out(c, buf_str(&preds));
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
    css_skip_ws(c);
    if (mode == 2) {
        if (css_out(c, "self::") || compound(c))
            return -1;
        css_skip_ws(c);
        return 0;
    }
    char comb = ' ';
    if (css_peek(c) == '>' || css_peek(c) == '+' || css_peek(c) == '~') {
        comb = css_peek(c);
        c->pos++;
        css_skip_ws(c);
    }
    for (int first = 1;; first = 0) {
        size_t mark = c->out->len;
        switch (comb) {
        case ' ': css_out(c, "descendant::"); break;
        case '>': css_out(c, "child::"); break;
        case '~': css_out(c, "following-sibling::"); break;
        case '+': css_out(c, "following-sibling::*[1]/self::"); break;
        }
        size_t test_start = c->out->len;
        if (compound(c))
            return -1;
        if (first && comb == ' ' && mode == 0 && c->doc_form && lead_step(c, mark, test_start))
            return -1;
        int ws = css_skip_ws(c);
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
        if (css_out(c, "/"))
            return -1;
    }
}

/* complex (',' complex)* up to the end or `close` (consumed). */
static int compile_complex_list(struct css *c, int mode, char close)
{
    for (int first = 1;; first = 0) {
        if (!first && css_out(c, mode == 2 ? " or " : "|"))
            return -1;
        if (complex_sel(c, mode, close))
            return -1;
        char ch = css_peek(c);
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
        return css_fail(c, close ? "expected ')'" : "unexpected '%c'", ch);
    }
}

/* Bytes of the UTF-8 sequence at s, 0 when invalid. */

static int css_run(struct css *c)
{
    if (strlen(c->s) > SEL_MAX_LEN) {
        snprintf(c->errstr, c->errstr_size, "selector longer than %d bytes", SEL_MAX_LEN);
        return -1;
    }
    if (css_check_chars(c))
        return -1;
    css_skip_ws(c);
    if (!css_peek(c))
        return css_fail(c, "empty selector");
    return compile_complex_list(c, 0, 0);
}

int css_to_xpath(const char *css, int doc_form, struct buf *outb, char *errstr, size_t errstr_size)
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
