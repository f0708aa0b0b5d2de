/* xspec: what a rule found, turned into typed JSON values (xspec_int.h). */
#include <ctype.h>
#include <libxml/HTMLtree.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xspec_int.h"

/* Regexes look at most this much of a value (text is capped anyway; this
 * bounds the matcher's work on a hostile page). */
#define REGEX_INPUT_MAX (64 * 1024)

static int skipped_element(const xmlChar *name)
{
    static const char *const skip[] = {"script", "style", "noscript", "template", NULL};
    for (size_t i = 0; skip[i]; i++)
        if (xmlStrcmp(name, (const xmlChar *)skip[i]) == 0)
            return 1;
    return 0;
}

/* Elements whose edges separate words ("<li>a</li><li>b</li>" is "a b"). */
static int breaks_words(const xmlChar *name)
{
    static const char *const blocks[] = {
        "br",     "p",     "div",  "li",   "ul",      "ol",      "td",         "th",
        "tr",     "table", "h1",   "h2",   "h3",      "h4",      "h5",         "h6",
        "option", "dd",    "dt",   "dl",   "section", "article", "header",     "footer",
        "nav",    "aside", "main", "form", "address", "figure",  "figcaption", "blockquote",
        "pre",    "hr",    "img",  NULL};
    for (size_t i = 0; blocks[i]; i++)
        if (xmlStrcmp(name, (const xmlChar *)blocks[i]) == 0)
            return 1;
    return 0;
}

/* Appends s to out with white space (ASCII, no-break and narrow no-break
 * spaces) collapsed; *space carries a pending separator between calls. */
static void add_collapsed(struct buf *out, const char *s, int *space)
{
    while (*s && out->len < XSPEC_MAX_TEXT) {
        unsigned char c = (unsigned char)*s;
        size_t ws = 0;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
            ws = 1;
        else if (c == 0xc2 && (unsigned char)s[1] == 0xa0)
            ws = 2;
        else if (c == 0xe2 && (unsigned char)s[1] == 0x80 && (unsigned char)s[2] == 0xaf)
            ws = 3;
        if (ws) {
            *space = 1;
            s += ws;
            continue;
        }
        if (*space && out->len)
            buf_addc(out, ' ');
        *space = 0;
        /* The run up to the next byte that may start white space (or the
         * end), by table: this loop sees every byte of every text. */
        static const unsigned char stop[256] = {
            [0] = 1,    [' '] = 1,  ['\t'] = 1, ['\n'] = 1, ['\r'] = 1,
            ['\f'] = 1, ['\v'] = 1, [0xc2] = 1, [0xe2] = 1};
        size_t n = 0;
        while (!stop[(unsigned char)s[n]])
            n++;
        if (!n)
            n = 1;
        if (out->len + n > XSPEC_MAX_TEXT) {
            /* Keep what fits, ending on a whole UTF-8 character. */
            n = XSPEC_MAX_TEXT - out->len;
            while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
                n--;
            buf_add(out, s, n);
            break;
        }
        buf_add(out, s, n);
        s += n;
    }
}

void xvalue_text(xmlNodePtr node, struct buf *out)
{
    int space = 0;
    if (node->type != XML_ELEMENT_NODE && node->type != XML_DOCUMENT_NODE &&
        node->type != XML_HTML_DOCUMENT_NODE) {
        xmlChar *c = xmlNodeGetContent(node);
        if (c)
            add_collapsed(out, (const char *)c, &space);
        xmlFree(c);
        return;
    }
    /* Iterative walk: a hostile page nests as deep as the parser allows. */
    xmlNodePtr n = node->children;
    while (n && out->len < XSPEC_MAX_TEXT) {
        int descend = 0;
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            if (n->content)
                add_collapsed(out, (const char *)n->content, &space);
        } else if (n->type == XML_ELEMENT_NODE && !skipped_element(n->name)) {
            if (breaks_words(n->name))
                space = 1;
            descend = n->children != NULL;
        }
        if (descend) {
            n = n->children;
            continue;
        }
        while (n != node && !n->next) {
            n = n->parent;
            if (n != node && n->type == XML_ELEMENT_NODE && breaks_words(n->name))
                space = 1;
        }
        if (n == node)
            break;
        n = n->next;
    }
}

void xvalue_html(xmlDocPtr doc, xmlNodePtr node, struct buf *out)
{
    if (node->type != XML_ELEMENT_NODE) {
        xvalue_text(node, out);
        return;
    }
    xmlBufferPtr b = xmlBufferCreate();
    if (!b)
        abort();
    for (xmlNodePtr c = node->children; c; c = c->next) {
        htmlNodeDump(b, doc, c);
        if (xmlBufferLength(b) > XSPEC_MAX_HTML)
            break;
    }
    size_t n = (size_t)xmlBufferLength(b);
    if (n > XSPEC_MAX_HTML)
        n = XSPEC_MAX_HTML;
    const char *s = (const char *)xmlBufferContent(b);
    /* Trim, and never cut a UTF-8 sequence in half. */
    while (n && (s[n - 1] & 0xc0) == 0x80 && n == XSPEC_MAX_HTML)
        n--;
    size_t a = 0;
    while (a < n && isspace((unsigned char)s[a]))
        a++;
    while (n > a && isspace((unsigned char)s[n - 1]))
        n--;
    buf_add(out, s + a, n - a);
    xmlBufferFree(b);
}

/* A NUL-terminated prefix of s no longer than REGEX_INPUT_MAX (s itself
 * when short enough; else a copy in *tmp to free); *len its length. */
static const char *regex_input(const char *s, char **tmp, size_t *len)
{
    *tmp = NULL;
    *len = strlen(s);
    if (*len <= REGEX_INPUT_MAX)
        return s;
    *tmp = strndup(s, REGEX_INPUT_MAX);
    if (!*tmp)
        abort();
    *len = REGEX_INPUT_MAX;
    return *tmp;
}

/* The group to keep from a match: the given one, or the first that took
 * part (alternatives each with their own group). -1 when it did not. */
static int kept_group(const struct xregex *re, const regmatch_t *m)
{
    if (re->group >= 0)
        return m[re->group].rm_so >= 0 ? re->group : -1;
    for (size_t g = 1; g <= re->re.re_nsub && g < 10; g++)
        if (m[g].rm_so >= 0)
            return (int)g;
    return 0;
}

/* The leftmost match of re in s[from..len) (offsets in m from s): 0, or
 * REG_NOMATCH. A match can only start where the regex's literal prefix
 * occurs (an anchored one: at the start), so the engine starts there, or
 * does not run (matches found are the same). */
static int regex_find(const struct xregex *re, const char *s, size_t len, size_t from,
                      regmatch_t m[10])
{
    if (re->anchored) {
        /* ^ without REG_NEWLINE: only at the start, after that text */
        if (from > 0 || len < re->prefix_len || memcmp(s, re->prefix, re->prefix_len) != 0)
            return REG_NOMATCH;
    } else if (re->prefix_len) {
        const char *p = memmem(s + from, len - from, re->prefix, re->prefix_len);
        if (!p)
            return REG_NOMATCH;
        from = (size_t)(p - s);
    }
    m[0].rm_so = (regoff_t)from;
    m[0].rm_eo = (regoff_t)len;
    return regexec(&re->re, s, 10, m, REG_STARTEND);
}

char *xvalue_regex(const struct xregex *re, const char *s)
{
    char *out;
    if (!re->set) {
        out = strdup(s);
        if (!out)
            abort();
        return out;
    }
    char *tmp;
    size_t len;
    const char *in = regex_input(s, &tmp, &len);
    regmatch_t m[10];
    out = NULL;
    int g;
    if (regex_find(re, in, len, 0, m) == 0 && (g = kept_group(re, m)) >= 0) {
        out = strndup(in + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
        if (!out)
            abort();
    }
    free(tmp);
    return out;
}

void xvalue_regex_all(const struct xregex *re, const char *s, json_t *arr)
{
    char *tmp;
    size_t len, from = 0;
    const char *in = regex_input(s, &tmp, &len);
    regmatch_t m[10];
    while (json_array_size(arr) < XSPEC_MAX_ALL && from < len &&
           regex_find(re, in, len, from, m) == 0) {
        int g = kept_group(re, m);
        if (g >= 0 && m[g].rm_eo > m[g].rm_so)
            json_array_append_new(arr,
                                  json_stringn(in + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so)));
        /* an empty match moves on one byte */
        from = m[0].rm_eo > m[0].rm_so ? (size_t)m[0].rm_eo : (size_t)m[0].rm_so + 1;
    }
    free(tmp);
}

/* A JSON number: an integer when the value is one (1299, not 1299.0). */
static json_t *number_value(double v)
{
    if (!isfinite(v))
        return NULL;
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

/* Collapsed, trimmed copy of s: attribute values and regex captures keep
 * their raw spacing until typed. */
static json_t *string_value(const char *s)
{
    struct buf b = BUF_INIT(XSPEC_MAX_TEXT);
    int space = 0;
    add_collapsed(&b, s, &space);
    json_t *v = b.len ? json_stringn(b.ptr, b.len) : NULL; /* NULL for invalid UTF-8 too */
    buf_release(&b);
    return v;
}

json_t *xvalue_typed(enum xtype type, const char *text, struct xpage *pg)
{
    double d;
    switch (type) {
    case XT_STRING:
    case XT_BOOLEAN: return string_value(text);
    case XT_HTML: return *text ? json_string(text) : NULL;
    case XT_NUMBER: return price_number(text, xpage_locale(pg), 1, &d) ? NULL : number_value(d);
    case XT_INTEGER:
        if (price_number(text, xpage_locale(pg), 1, &d) || !isfinite(d) ||
            fabs(d) >= 9007199254740992.0)
            return NULL;
        return json_integer((json_int_t)d);
    case XT_PRICE: {
        char cur[4];
        if (price_parse(text, xpage_locale(pg), &d, cur))
            return NULL;
        json_t *v = number_value(d);
        if (!v)
            return NULL;
        return json_pack("{s:o,s:o}", "value", v, "currency",
                         cur[0] ? json_string(cur) : json_null());
    }
    case XT_URL: {
        char *abs = xpage_absolute(pg, text);
        json_t *v = abs ? json_string(abs) : NULL;
        free(abs);
        return v;
    }
    }
    return NULL;
}

static const char *member_str(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_array(v))
        v = json_array_get(v, 0);
    if (json_is_object(v))
        v = json_object_get(v, "name");
    return json_string_value(v);
}

/* PostalAddress as one line: "1 Main St, Springfield, IL 62701, US". */
static json_t *address_line(const json_t *o)
{
    struct buf b = BUF_INIT(4096);
    const char *street = member_str(o, "streetAddress"), *city = member_str(o, "addressLocality"),
               *region = member_str(o, "addressRegion"), *zip = member_str(o, "postalCode"),
               *country = member_str(o, "addressCountry");
    const char *parts[] = {street, city, NULL, country};
    char rz[512];
    snprintf(rz, sizeof(rz), "%s%s%s", region ? region : "", region && zip ? " " : "",
             zip ? zip : "");
    parts[2] = rz[0] ? rz : NULL;
    for (size_t i = 0; i < 4; i++) {
        if (!parts[i] || !*parts[i])
            continue;
        if (b.len)
            buf_adds(&b, ", ");
        buf_adds(&b, parts[i]);
    }
    json_t *v = b.len ? string_value(buf_str(&b)) : NULL;
    buf_release(&b);
    return v;
}

json_t *xvalue_from_json(enum xtype type, const json_t *v, struct xpage *pg)
{
    if (json_is_string(v))
        return xvalue_typed(type, json_string_value(v), pg);
    if (json_is_number(v)) {
        double d = json_number_value(v);
        switch (type) {
        case XT_NUMBER: return number_value(d);
        case XT_INTEGER: /* as from text; a page's 1e300 is no integer (nor convertible) */
            return fabs(d) < 9007199254740992.0 ? json_integer((json_int_t)d) : NULL;
        case XT_PRICE: {
            json_t *n = number_value(d);
            return n ? json_pack("{s:o,s:n}", "value", n, "currency") : NULL;
        }
        case XT_BOOLEAN: return json_boolean(d != 0);
        default: {
            char s[64];
            snprintf(s, sizeof(s), "%.15g", d);
            return json_string(s);
        }
        }
    }
    if (json_is_boolean(v))
        return type == XT_BOOLEAN || type == XT_STRING ? json_copy((json_t *)v) : NULL;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            json_t *r = xvalue_from_json(type, e, pg);
            if (r)
                return r;
        }
        return NULL;
    }
    if (!json_is_object(v))
        return NULL;
    if (type == XT_PRICE) {
        const json_t *p = json_object_get(v, "price");
        if (!p)
            p = json_object_get(v, "lowPrice");
        if (!p)
            p = json_object_get(v, "value");
        if (!p) /* an offers array or an AggregateOffer's offers */
            return xvalue_from_json(type, json_object_get(v, "offers"), pg);
        json_t *r = xvalue_from_json(XT_PRICE, p, pg);
        const char *cur = json_string_value(json_object_get(v, "priceCurrency"));
        if (!cur)
            cur = json_string_value(json_object_get(v, "currency"));
        if (r && cur && strlen(cur) == 3)
            json_object_set_new(r, "currency", json_string(cur));
        return r;
    }
    if (type == XT_URL) {
        static const char *const keys[] = {"url", "contentUrl", "@id", NULL};
        for (size_t i = 0; keys[i]; i++) {
            json_t *r = json_object_get(v, keys[i])
                            ? xvalue_from_json(XT_URL, json_object_get(v, keys[i]), pg)
                            : NULL;
            if (r)
                return r;
        }
        return NULL;
    }
    if (json_object_get(v, "streetAddress") || json_object_get(v, "addressLocality"))
        return type == XT_STRING ? address_line(v) : NULL;
    static const char *const keys[] = {"name", "@value", "text", "ratingValue", "value", NULL};
    for (size_t i = 0; keys[i]; i++)
        if (json_object_get(v, keys[i]))
            return xvalue_from_json(type, json_object_get(v, keys[i]), pg);
    return NULL;
}
