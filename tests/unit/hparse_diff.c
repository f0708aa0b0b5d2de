/* hparse_diff: the fast tree against libxml2's (see hparse_diff.h). */
#include "hparse_diff.h"

#include <libxml/HTMLtree.h>
#include <libxml/valid.h>
#include <stdio.h>
#include <string.h>

#include "hparse.h"

static int same_str(const xmlChar *a, const xmlChar *b)
{
    return (!a && !b) || (a && b && strcmp((const char *)a, (const char *)b) == 0);
}

#define DIFF(...)                                                                                  \
    do {                                                                                           \
        snprintf(why, why_len, __VA_ARGS__);                                                       \
        return 1;                                                                                  \
    } while (0)

static const char *str(const xmlChar *s)
{
    return s ? (const char *)s : "(null)";
}

static int diff_nodes(xmlNodePtr a, xmlNodePtr b, xmlNodePtr parent, char *why, size_t why_len);

static const char *where(xmlNodePtr parent)
{
    return parent->type == XML_HTML_DOCUMENT_NODE ? "doc" : str(parent->name);
}

static int diff_atts(xmlNodePtr a, xmlNodePtr b, char *why, size_t why_len)
{
    xmlAttrPtr x = a->properties, y = b->properties;
    for (; x && y; x = x->next, y = y->next) {
        if (!same_str(x->name, y->name) || x->atype != y->atype || x->ns != y->ns)
            DIFF("<%s> attribute %s (type %d) vs %s (type %d)", str(b->name), str(x->name),
                 x->atype, str(y->name), y->atype);
        if (x->parent != a || (x->next && x->next->prev != x))
            DIFF("<%s> attribute %s badly linked", str(b->name), str(x->name));
        if (diff_nodes(x->children, y->children, (xmlNodePtr)x, why, why_len))
            return 1;
        if (x->atype == XML_ATTRIBUTE_ID && xmlGetID(a->doc, x->children->content) != x)
            DIFF("id %s not found by xmlGetID", str(x->children->content));
    }
    if (x || y)
        DIFF("<%s> attributes: %s vs %s", str(b->name), x ? str(x->name) : "end",
             y ? str(y->name) : "end");
    return 0;
}

static int diff_nodes(xmlNodePtr a, xmlNodePtr b, xmlNodePtr parent, char *why, size_t why_len)
{
    xmlNodePtr prev = NULL;
    for (; a && b; prev = a, a = a->next, b = b->next) {
        if (a->type != b->type || !same_str(a->name, b->name))
            DIFF("in <%s>: node %d %s vs %d %s", where(parent), a->type, str(a->name), b->type,
                 str(b->name));
        if (a->parent != parent || a->prev != prev || a->doc != parent->doc)
            DIFF("node %s badly linked", str(a->name));
        if (a->type == XML_DTD_NODE) {
            xmlDtdPtr x = (xmlDtdPtr)a, y = (xmlDtdPtr)b;
            if (!same_str(x->ExternalID, y->ExternalID) || !same_str(x->SystemID, y->SystemID))
                DIFF("DOCTYPE %s %s vs %s %s", str(x->ExternalID), str(x->SystemID),
                     str(y->ExternalID), str(y->SystemID));
            continue;
        }
        if (!same_str(a->content, b->content))
            DIFF("in <%s>: text \"%.80s\" vs \"%.80s\"", where(parent), str(a->content),
                 str(b->content));
        if (a->type == XML_ELEMENT_NODE) {
            if (a->ns || a->nsDef)
                DIFF("<%s> has a namespace", str(a->name));
            if (diff_atts(a, b, why, why_len))
                return 1;
        }
        if (a->type == XML_ELEMENT_NODE || a->type == XML_ATTRIBUTE_NODE) {
            if (diff_nodes(a->children, b->children, a, why, why_len))
                return 1;
            xmlNodePtr l = a->children;
            while (l && l->next)
                l = l->next;
            if (a->last != l)
                DIFF("<%s> last child wrong", str(a->name));
        }
    }
    if (a || b)
        DIFF("in <%s>: %s %s vs %s %s", where(parent), a ? "node" : "end", a ? str(a->name) : "",
             b ? "node" : "end", b ? str(b->name) : "");
    return 0;
}

int hparse_diff(xmlDocPtr fast, xmlDocPtr want, char *why, size_t why_len)
{
    if (!want)
        DIFF("libxml2 gave no document");
    if (fast->type != want->type || !same_str(fast->URL, want->URL) ||
        !same_str(fast->encoding, want->encoding) || fast->charset != want->charset ||
        fast->properties != want->properties || fast->parseFlags != want->parseFlags)
        DIFF("document fields: URL %s/%s encoding %s/%s flags %d/%d", str(fast->URL),
             str(want->URL), str(fast->encoding), str(want->encoding), fast->parseFlags,
             want->parseFlags);
    if ((fast->intSubset == NULL) != (want->intSubset == NULL))
        DIFF("intSubset");
    if (diff_nodes(fast->children, want->children, (xmlNodePtr)fast, why, why_len))
        return 1;
    xmlNodePtr l = fast->children;
    while (l && l->next)
        l = l->next;
    if (fast->last != l)
        DIFF("document's last child wrong");
    xmlChar *x = NULL, *y = NULL;
    int nx = 0, ny = 0;
    htmlDocDumpMemory(fast, &x, &nx);
    htmlDocDumpMemory(want, &y, &ny);
    int same = nx == ny && (nx == 0 || memcmp(x, y, (size_t)nx) == 0);
    xmlFree(x);
    xmlFree(y);
    if (!same)
        DIFF("serialisations differ (%d vs %d bytes)", nx, ny);
    return 0;
}

int hparse_diff_html(const char *html, size_t len, char *why, size_t why_len)
{
    const char *url = "https://shop.example/p/1?q=a b";
    xmlDocPtr fast = hparse_fast(html, len, url);
    if (!fast)
        return -1;
    xmlDocPtr want = hparse_libxml2(html, len, url);
    int r = hparse_diff(fast, want, why, why_len);
    xmlFreeDoc(fast);
    if (want)
        xmlFreeDoc(want);
    return r;
}
