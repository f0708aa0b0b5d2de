/* hparse_tree: libxml2 2.9.14's HTML tree construction (HTMLparser.c's
 * htmlAutoClose, htmlCheckImplied, htmlCheckParagraph, htmlnamePush/Pop
 * and SAX2.c's element, attribute and text handlers), see hparse_int.h. */
#include "hparse_int.h"

#include <libxml/HTMLparser.h>
#include <libxml/HTMLtree.h>
#include <libxml/parserInternals.h>
#include <stdlib.h>
#include <string.h>

xmlNodePtr hparse_node(struct hp *h, xmlElementType type, const xmlChar *name)
{
    xmlNodePtr n = xmlMalloc(sizeof(*n));
    if (!n)
        abort();
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->name = name;
    n->doc = h->doc;
    return n;
}

void hparse_append(xmlNodePtr parent, xmlNodePtr n)
{
    n->parent = parent;
    if (parent->last) {
        parent->last->next = n;
        n->prev = parent->last;
    } else {
        parent->children = n;
    }
    parent->last = n;
}

xmlChar *hparse_copy(const unsigned char *s, size_t len)
{
    xmlChar *c = xmlMalloc(len + 1);
    if (!c)
        abort();
    memcpy(c, s, len);
    c[len] = 0;
    return c;
}

/* Pending text becomes a text node of the current element (xmlSAX2Text:
 * short texts live in the node itself, as HTML_PARSE_COMPACT has it). */
void hparse_flush(struct hp *h)
{
    if (!h->tlen)
        return;
    xmlNodePtr n = hparse_node(h, XML_TEXT_NODE, xmlStringText);
    if (h->tlen < 2 * sizeof(void *)) {
        n->content = (xmlChar *)&n->properties;
        memcpy(n->content, h->text, h->tlen);
        n->content[h->tlen] = 0;
    } else {
        n->content = hparse_copy(h->text, h->tlen);
    }
    hparse_append(top_node(h), n);
    h->tlen = 0;
}

/* SAX hparse_characters(): text without an open element is dropped. */
void hparse_characters(struct hp *h, const unsigned char *s, size_t len)
{
    if (!h->nr || !len)
        return;
    hparse_grow(&h->text, &h->tcap, h->tlen + len);
    memcpy(h->text + h->tlen, s, len);
    h->tlen += len;
}

const xmlChar *hparse_intern(struct hp *h, int tag, const unsigned char *name, size_t len)
{
    if (tag >= 0) {
        if (!h->names[tag])
            h->names[tag] = xmlDictLookup(h->doc->dict, name, (int)len);
        return h->names[tag];
    }
    /* attribute names repeat: a small cache in front of the dictionary */
    unsigned slot = (name[0] * 31u + name[len - 1] + (unsigned)len * 7u) & 63;
    if (h->att_names[slot].len == len && !memcmp(h->att_names[slot].name, name, len))
        return h->att_names[slot].name;
    const xmlChar *n = xmlDictLookup(h->doc->dict, name, (int)len);
    if (!n)
        abort();
    h->att_names[slot].name = n;
    h->att_names[slot].len = len;
    return n;
}

const xmlChar *hparse_tag_name(struct hp *h, int tag)
{
    return hparse_intern(h, tag, (const unsigned char *)hparse_tags[tag].name,
                         hparse_tags[tag].len);
}

static void add_atts(struct hp *h, xmlNodePtr el, int nbatts)
{
    xmlAttrPtr prev = NULL;
    for (int i = 0; i < nbatts; i++) {
        const struct att *a = &h->atts[i];
        xmlAttrPtr at = xmlMalloc(sizeof(*at));
        if (!at)
            abort();
        memset(at, 0, sizeof(*at));
        at->type = XML_ATTRIBUTE_NODE;
        at->name = a->name;
        at->parent = el;
        at->doc = h->doc;
        const xmlChar *value = NULL;
        size_t vlen = 0;
        if (a->has_value) {
            value = h->vals + a->off;
            vlen = a->len;
        } else if (htmlIsBooleanAttr(a->name)) {
            value = a->name;
            vlen = strlen((const char *)a->name);
        }
        if (value) {
            xmlNodePtr t = hparse_node(h, XML_TEXT_NODE, xmlStringText);
            t->content = hparse_copy(value, vlen);
            t->parent = (xmlNodePtr)at;
            at->children = at->last = t;
        }
        if (prev) {
            prev->next = at;
            at->prev = prev;
        } else {
            el->properties = at;
        }
        prev = at;
        /* xmlSAX2AttributeInternal: an HTML document's IDs (id, and name on <a>) */
        const xmlChar *an = a->name;
        int is_id = (an[0] == 'i' && an[1] == 'd' && !an[2]) ||
                    (!strcmp((const char *)an, "name") && !strcmp((const char *)el->name, "a"));
        if (value && is_id)
            xmlAddID(&h->vctxt, h->doc, at->children->content, at);
    }
}

/* htmlnamePush + SAX startElement (xmlSAX2StartElement). */
void hparse_push(struct hp *h, const xmlChar *name, int tag, int nbatts)
{
    if (tag == TAG_head && h->html < 3)
        h->html = 3;
    if (tag == TAG_body && h->html < 10)
        h->html = 10;
    if (h->nr >= MAX_DEPTH)
        hparse_decline(h);
    hparse_flush(h);
    xmlNodePtr n = hparse_node(h, XML_ELEMENT_NODE, name);
    xmlNodePtr parent = top_node(h);
    if (!h->doc->children)
        hparse_append((xmlNodePtr)h->doc, n);
    else if (parent)
        hparse_append(parent, n);
    else if (h->doc->children->type == XML_ELEMENT_NODE)
        hparse_append(h->doc->children, n);
    else
        hparse_append((xmlNodePtr)h->doc, n);
    if (h->nr == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 32;
        struct open *ns = realloc(h->st, (size_t)h->cap * sizeof(*ns));
        if (!ns)
            abort();
        h->st = ns;
    }
    h->st[h->nr++] = (struct open){name, tag, n};
    if (nbatts)
        add_atts(h, n, nbatts);
}

/* SAX endElement + htmlnamePop. */
void hparse_pop(struct hp *h)
{
    hparse_flush(h);
    h->nr--;
}

/* htmlAutoClose: the open elements newtag's start closes. */
void hparse_auto_close(struct hp *h, int newtag)
{
    while (h->nr && hparse_closes(newtag, top_tag(h)))
        hparse_pop(h);
}

/* htmlCheckImplied */
void hparse_check_implied(struct hp *h, int newtag)
{
    if (newtag == TAG_html)
        return;
    if (h->nr <= 0)
        hparse_push(h, hparse_tag_name(h, TAG_html), TAG_html, 0);
    if (newtag == TAG_body || newtag == TAG_head)
        return;
    if (h->nr <= 1 && (newtag == TAG_script || newtag == TAG_style || newtag == TAG_meta ||
                       newtag == TAG_link || newtag == TAG_title || newtag == TAG_base)) {
        if (h->html >= 3)
            return;
        hparse_push(h, hparse_tag_name(h, TAG_head), TAG_head, 0);
    } else if (newtag != TAG_noframes && newtag != TAG_frame && newtag != TAG_frameset) {
        if (h->html >= 10)
            return;
        for (int i = 0; i < h->nr; i++)
            if (h->st[i].tag == TAG_body || h->st[i].tag == TAG_head)
                return;
        hparse_push(h, hparse_tag_name(h, TAG_body), TAG_body, 0);
    }
}

/* htmlCheckParagraph: text straight in html or head (or in nothing)
 * opens a p first. */
void hparse_check_paragraph(struct hp *h)
{
    int t = top_tag(h);
    if (h->nr && t != TAG_html && t != TAG_head)
        return;
    hparse_auto_close(h, TAG_p);
    hparse_check_implied(h, TAG_p);
    hparse_push(h, hparse_tag_name(h, TAG_p), TAG_p, 0);
}

void hparse_close_all(struct hp *h)
{
    while (h->nr)
        hparse_pop(h);
}
