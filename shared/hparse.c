/* hparse: HTML into libxml2's tree without libxml2's parser (see hparse.h).
 * The functions mirror HTMLparser.c's (2.9.14) by name and order, so that
 * each rule can be checked against it: content() is
 * htmlParseContentInternal, start_tag() htmlParseStartTag, and so on. */
#include "hparse.h"
#include "hparse_int.h"

#include <libxml/HTMLtree.h>
#include <libxml/uri.h>
#include <libxml/valid.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* htmlParseStartTag at '<' + letter. 1 when the tag was discarded. */
static int start_tag(struct hp *h)
{
    /* the name content() looked ahead at */
    size_t nl = h->la_len;
    int tag = h->la_tag;
    h->p += 1 + nl;
    const xmlChar *name = hparse_intern(h, tag, h->la_name, nl);
    int discard = 0;
    hparse_auto_close(h, tag);
    hparse_check_implied(h, tag);
    if (h->nr > 0 && tag == TAG_html)
        discard = 1, h->depth++;
    if (h->nr != 1 && tag == TAG_head)
        discard = 1, h->depth++;
    if (tag == TAG_body)
        for (int i = 0; i < h->nr; i++)
            if (h->st[i].tag == TAG_body)
                discard = 1, h->depth++;
    int nbatts = 0;
    h->vlen = 0;
    skip_blanks(h);
    for (int c; (c = cur(h)) != 0 && c != '>' && !(c == '/' && nxt(h, 1) == '>');) {
        unsigned char ab[NAME_MAX_LEN];
        size_t al = hparse_html_name(h, &h->p, ab);
        if (!al) {
            /* a bogus attribute: skipped to a blank or the tag's end */
            while ((c = cur(h)) != 0 && !is_blank(c) && c != '>' && !(c == '/' && nxt(h, 1) == '>'))
                h->p++;
            skip_blanks(h);
            continue;
        }
        if (al == 6 && !memcmp(ab, "xml:id", 6))
            hparse_decline(h);
        struct att a = {hparse_intern(h, TAG_NONE, ab, al), 0, 0, 0};
        skip_blanks(h);
        if (cur(h) == '=') {
            h->p++;
            skip_blanks(h);
            a.off = h->vlen;
            a.has_value = 1;
            h->vcut = SIZE_MAX;
            c = cur(h);
            if (c == '"' || c == '\'') {
                h->p++;
                hparse_att_value(h, c);
                if (cur(h) == c)
                    h->p++;
            } else {
                hparse_att_value(h, 0);
            }
            a.len = (h->vcut < h->vlen ? h->vcut : h->vlen) - a.off;
        }
        int dup = 0;
        for (int i = 0; i < nbatts && !dup; i++)
            dup = h->atts[i].name == a.name;
        if (!dup) {
            if (nbatts == MAX_ATTS)
                hparse_decline(h);
            h->atts[nbatts++] = a;
        }
        skip_blanks(h);
    }
    if (!discard)
        hparse_push(h, name, tag, nbatts);
    return discard;
}

/* htmlParseElementInternal */
static void element(struct hp *h)
{
    start_tag(h);
    if (!h->nr) {
        if (cur(h) == '>')
            h->p++;
        return;
    }
    /* the current element, which a discarded tag leaves as it was */
    int tag = top_tag(h);
    if (cur(h) == '/' && nxt(h, 1) == '>') {
        h->p += 2;
        hparse_pop(h);
        return;
    }
    if (cur(h) != '>') {
        hparse_pop(h); /* the input ended inside the tag */
        hparse_close_all(h);
        return;
    }
    h->p++;
    if (tag >= 0 && (hparse_tags[tag].flags & TAGF_EMPTY))
        hparse_pop(h);
}

/* htmlParseEndTag at "</": 1 when the current element was closed. */
static int end_tag(struct hp *h)
{
    unsigned char nb[NAME_MAX_LEN];
    h->p += 2;
    size_t nl = hparse_html_name(h, &h->p, nb);
    if (!nl)
        return 0;
    skip_blanks(h);
    if (cur(h) != '>') {
        const unsigned char *gt = memchr(h->p, '>', (size_t)(h->end - h->p));
        h->p = gt ? gt : h->end;
    }
    if (cur(h) == '>')
        h->p++;
    int tag = hparse_tag_id(nb, nl);
    if (h->depth > 0 && (tag == TAG_html || tag == TAG_body || tag == TAG_head)) {
        h->depth--;
        return 0;
    }
    const xmlChar *name =
        tag >= 0 ? hparse_tag_name(h, tag) : xmlDictExists(h->doc->dict, nb, (int)nl);
    int i;
    for (i = h->nr - 1; i >= 0; i--)
        if (h->st[i].name == name)
            break;
    if (i < 0)
        return 0;
    /* htmlAutoCloseOnClose: only past elements of no higher priority */
    unsigned prio = hparse_priority(tag);
    for (i = h->nr - 1; i >= 0; i--) {
        if (h->st[i].name == name)
            break;
        if (hparse_priority(h->st[i].tag) > prio)
            return 0;
    }
    while (top_name(h) != name)
        hparse_pop(h);
    hparse_pop(h);
    return 1;
}

/* htmlParseScript: raw text up to "</" and the element's name. */
static void script(struct hp *h)
{
    const xmlChar *name = top_name(h);
    size_t nl = strlen((const char *)name);
    const unsigned char *s = h->p;
    for (;;) {
        s = memchr(s, '<', (size_t)(h->end - s));
        if (!s) {
            s = h->end;
            break;
        }
        if (s + 1 < h->end && s[1] == '/' && (size_t)(h->end - s - 2) >= nl &&
            !xmlStrncasecmp(name, s + 2, (int)nl))
            break;
        s++;
    }
    if (s == h->p)
        return;
    /* xmlSAX2CDataBlock: CDATA sections, merged like text */
    hparse_flush(h);
    xmlNodePtr parent = top_node(h), last = parent->last;
    if (last && last->type == XML_CDATA_SECTION_NODE) {
        xmlTextConcat(last, h->p, (int)(s - h->p));
    } else {
        xmlNodePtr n = xmlNewCDataBlock(h->doc, h->p, (int)(s - h->p));
        if (!n)
            abort();
        hparse_append(parent, n);
    }
    h->p = s;
}

/* htmlParseComment at "<!--": ends at the first "-->" or "--!>"; one that
 * never ends takes the rest of the input with it. */
static void comment(struct hp *h)
{
    const unsigned char *s = h->p + 4, *e = s;
    size_t skip = 0;
    for (;; e++) {
        e = memchr(e, '-', (size_t)(h->end - e));
        if (!e || e + 2 >= h->end) {
            h->p = h->end;
            return;
        }
        if (e[1] == '-' && e[2] == '>') {
            skip = 3;
            break;
        }
        if (e[1] == '-' && e[2] == '!' && e + 3 < h->end && e[3] == '>') {
            skip = 4;
            break;
        }
    }
    hparse_flush(h);
    xmlChar *text = hparse_copy(s, (size_t)(e - s));
    xmlNodePtr n = xmlNewDocComment(h->doc, text);
    xmlFree(text);
    if (!n)
        abort();
    hparse_append(h->nr ? top_node(h) : (xmlNodePtr)h->doc, n);
    h->p = e + skip;
}

/* htmlParseReference at '&' */
static void reference(struct hp *h)
{
    unsigned char out[8];
    if (nxt(h, 1) == '#') {
        unsigned c = hparse_char_ref(h);
        if (!c)
            return;
        hparse_check_paragraph(h);
        hparse_characters(h, out, utf8_put(out, c));
        return;
    }
    h->p++;
    size_t n = hparse_entity_name(h);
    const unsigned char *name = h->p;
    unsigned v = n && nxt(h, n) == ';' ? hparse_entity_value(name, n) : 0;
    hparse_check_paragraph(h);
    if (v) {
        hparse_characters(h, out, utf8_put(out, v));
        h->p += n + 1;
        return;
    }
    hparse_characters(h, (const unsigned char *)"&", 1);
    hparse_characters(h, name, n);
    h->p += n;
}

/* htmlParseCharData: text up to '<' or '&'. It reaches the tree in pieces
 * of CHUNK bytes; a piece that is not all blanks followed by '<' (or the
 * end) may first open a p (areBlanks, htmlCheckParagraph). */
static void char_data(struct hp *h)
{
    const unsigned char *s = h->p;
    while (s < h->end && *s != '<' && *s != '&')
        s++;
    int t = top_tag(h);
    if (!h->nr || t == TAG_html || t == TAG_head) {
        int blank = 0;
        size_t len = (size_t)(s - h->p);
        const unsigned char *first = h->p + (len < CHUNK ? len : CHUNK);
        while (first < s && (*first & 0xC0) == 0x80)
            first++;
        if (first == s && (s == h->end || *s == '<')) {
            blank = 1;
            for (const unsigned char *q = h->p; q < s && blank; q++)
                blank = is_blank(*q);
        }
        if (!blank)
            hparse_check_paragraph(h);
    }
    hparse_characters(h, h->p, (size_t)(s - h->p));
    h->p = s;
}

static int at_doctype(const struct hp *h)
{
    static const char word[] = "<!DOCTYPE";
    for (size_t i = 0; i < 9; i++) {
        int c = nxt(h, i);
        if ((i >= 2 ? (c & ~0x20) : c) != word[i])
            return 0;
    }
    return 1;
}

static int at_comment(const struct hp *h)
{
    return cur(h) == '<' && nxt(h, 1) == '!' && nxt(h, 2) == '-' && nxt(h, 3) == '-';
}

/* htmlParseContentInternal */
static void content(struct hp *h)
{
    const xmlChar *current = top_name(h);
    int depth = h->nr;
    for (;;) {
        int c = cur(h), c1 = nxt(h, 1);
        if (c == '<' && c1 == '/') {
            if (end_tag(h) && (current || h->nr == 0)) {
                current = top_name(h);
                depth = h->nr;
            }
            continue;
        }
        if (c == '<' && (is_letter(c1) || c1 == '_' || c1 == ':')) {
            if (!is_letter(c1))
                hparse_decline(h);
            /* htmlParseHTMLName_nonInvasive: the look-ahead name, which is
             * the start tag's too, as names with '.' (where the two part)
             * and ':' (whose prefix xmlSplitQName drops) are declined */
            const unsigned char *p = h->p + 1;
            h->la_len = hparse_html_name(h, &p, h->la_name);
            if (memchr(h->la_name, ':', h->la_len) || memchr(h->la_name, '.', h->la_len))
                hparse_decline(h);
            int tag = h->la_tag = hparse_tag_id(h->la_name, h->la_len);
            if (h->nr && hparse_closes(tag, top_tag(h))) {
                hparse_auto_close(h, tag);
                continue;
            }
        }
        if (h->nr > 0 && depth >= h->nr && current != top_name(h)) {
            if (!cur(h))
                hparse_close_all(h);
            current = top_name(h);
            depth = h->nr;
            continue;
        }
        int t = current ? top_tag(h) : TAG_NONE;
        if (c && current && current == top_name(h) && (t == TAG_script || t == TAG_style)) {
            script(h);
            continue;
        }
        if (c && current && (current == h->names[TAG_script] || current == h->names[TAG_style]))
            hparse_decline(h); /* raw text of an element not on top: not modelled */
        if (c == '<' && c1 == '!' && at_doctype(h))
            hparse_decline(h); /* a DOCTYPE inside the document */
        if (at_comment(h)) {
            comment(h);
        } else if (c == '<' && c1 == '?') {
            hparse_decline(h); /* processing instructions */
        } else if (c == '<' && is_letter(c1)) {
            element(h);
            current = top_name(h);
            depth = h->nr;
        } else if (c == '<') {
            hparse_characters(h, h->p, 1);
            h->p++;
        } else if (c == '&') {
            reference(h);
        } else if (!c) {
            hparse_close_all(h);
            break;
        } else {
            char_data(h);
        }
    }
}

static int pubid_char(int c)
{
    return is_letter(c) || is_digit(c) || (c && strchr(" \r\n-'()+,./:=?;!*#@$_%", c));
}

/* A quoted DOCTYPE literal of plain characters (its span), or decline. */
static void literal(struct hp *h, const unsigned char **s, size_t *n)
{
    int q = cur(h);
    if (q != '"' && q != '\'')
        hparse_decline(h);
    *s = ++h->p;
    while (h->p < h->end && *h->p != q) {
        if (!pubid_char(*h->p))
            hparse_decline(h);
        h->p++;
    }
    if (h->p == h->end)
        hparse_decline(h);
    *n = (size_t)(h->p++ - *s);
}

/* htmlParseDocTypeDecl, for the common forms only. */
static void doctype(struct hp *h)
{
    const unsigned char *name, *pub = NULL, *sys = NULL;
    size_t name_n, pub_n = 0, sys_n = 0;
    h->p += 9;
    skip_blanks(h);
    name = h->p;
    if (!(name_n = hparse_entity_name(h)))
        hparse_decline(h);
    h->p += name_n;
    skip_blanks(h);
    int public = h->end - h->p >= 6 && !strncasecmp((const char *)h->p, "PUBLIC", 6);
    if (public || (h->end - h->p >= 6 && !strncasecmp((const char *)h->p, "SYSTEM", 6))) {
        h->p += 6;
        skip_blanks(h);
        if (public) {
            literal(h, &pub, &pub_n);
            skip_blanks(h);
            if (cur(h) == '"' || cur(h) == '\'')
                literal(h, &sys, &sys_n);
        } else {
            literal(h, &sys, &sys_n);
        }
        skip_blanks(h);
    }
    if (cur(h) != '>')
        hparse_decline(h);
    h->p++;
    xmlChar *n = hparse_copy(name, name_n), *p = pub ? hparse_copy(pub, pub_n) : NULL,
            *s = sys ? hparse_copy(sys, sys_n) : NULL;
    if (!xmlCreateIntSubset(h->doc, n, p, s))
        abort();
    xmlFree(n);
    xmlFree(p);
    xmlFree(s);
}

/* Comments and blanks before the root (PIs are declined). */
static void misc(struct hp *h)
{
    for (;;) {
        if (at_comment(h))
            comment(h);
        else if (cur(h) == '<' && nxt(h, 1) == '?')
            hparse_decline(h);
        else
            return;
        skip_blanks(h);
    }
}

/* htmlParseDocument */
static void document(struct hp *h)
{
    skip_blanks(h);
    if (!cur(h))
        hparse_decline(h);
    misc(h);
    if (at_doctype(h))
        doctype(h);
    skip_blanks(h);
    misc(h);
    content(h);
    if (!xmlGetIntSubset(h->doc) &&
        !xmlCreateIntSubset(h->doc, BAD_CAST "html",
                            BAD_CAST "-//W3C//DTD HTML 4.0 Transitional//EN",
                            BAD_CAST "http://www.w3.org/TR/REC-html40/loose.dtd"))
        abort();
}

static void quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

htmlDocPtr hparse_fast(const char *html, size_t len, const char *url)
{
    if (!html || len == 0 || len > INT32_MAX ||
        !hparse_plain_utf8((const unsigned char *)html, len))
        return NULL;
    hparse_tags_init();
    /* h is set field by field: the attribute table stays uninitialised */
    struct hp h;
    h.p = (const unsigned char *)html;
    h.end = h.p + len;
    h.st = NULL;
    h.nr = h.cap = h.html = h.depth = 0;
    memset(h.names, 0, sizeof(h.names));
    memset(h.att_names, 0, sizeof(h.att_names));
    h.text = h.vals = NULL;
    h.tlen = h.tcap = h.vlen = h.vcap = 0;
    h.atts = malloc(MAX_ATTS * sizeof(*h.atts));
    memset(&h.vctxt, 0, sizeof(h.vctxt));
    h.vctxt.error = quiet;
    h.vctxt.warning = quiet;
    htmlDocPtr doc = h.doc = htmlNewDocNoDtD(NULL, NULL);
    if (!h.atts || !doc || !(doc->dict = xmlDictCreate()))
        abort();
    doc->properties = XML_DOC_HTML;
    /* what htmlCtxtUseOptions keeps of HPARSE_OPTIONS in ctxt->options */
    doc->parseFlags = HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_COMPACT;
    if (url && !(doc->URL = xmlPathToURI((const xmlChar *)url)))
        abort();
    if (setjmp(h.decline) == 0) {
        document(&h);
        doc->encoding = xmlStrdup(BAD_CAST "UTF-8");
        doc->charset = XML_CHAR_ENCODING_UTF8;
    } else {
        xmlFreeDoc(doc);
        doc = NULL;
    }
    free(h.st);
    free(h.text);
    free(h.vals);
    free(h.atts);
    return doc;
}

htmlDocPtr hparse_libxml2(const char *html, size_t len, const char *url)
{
    if (len > INT32_MAX)
        len = INT32_MAX;
    return htmlReadMemory(html, (int)len, url, "UTF-8", HPARSE_OPTIONS);
}

htmlDocPtr hparse_read(const char *html, size_t len, const char *url)
{
    htmlDocPtr doc = hparse_fast(html, len, url);
    if (!doc)
        doc = hparse_libxml2(html, len, url);
    if (!doc && !(doc = htmlNewDocNoDtD(NULL, NULL)))
        abort();
    return doc;
}
