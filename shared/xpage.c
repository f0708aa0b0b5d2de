#include "xpage.h"

#include <ctype.h>
#include <libxml/xpathInternals.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jx.h"
#include "sel.h"
#include "url.h"

/* JSON-LD blocks are page content: cap what one may cost. */
#define JSONLD_MAX_BYTES  (1 << 20)
#define JSONLD_MAX_DEPTH  32
#define JSONLD_MAX_BLOCKS 32

void xpage_init(struct xpage *pg, xmlDocPtr doc, const char *url,
                const struct xpage_header *headers, size_t n_headers, const char *body,
                size_t body_len)
{
    memset(pg, 0, sizeof(*pg));
    pg->doc = doc;
    pg->url = url ? url : "";
    pg->headers = headers;
    pg->n_headers = n_headers;
    pg->body = body ? body : "";
    pg->body_len = body ? body_len : 0;
}

void xpage_release(struct xpage *pg)
{
    sel_context_free(pg->xpath);
    json_decref(pg->jsonld);
    json_decref(pg->cookies);
    if (pg->base)
        curl_url_cleanup(pg->base);
    memset(pg, 0, sizeof(*pg));
}

xmlXPathContextPtr xpage_xpath(struct xpage *pg)
{
    if (!pg->xpath) {
        pg->xpath = sel_context_new(pg->doc);
        pg->xpath->opLimit = XPAGE_OP_LIMIT;
    }
    return pg->xpath;
}

xmlXPathObjectPtr xpage_select(struct xpage *pg, const struct sel *s, xmlNodePtr node)
{
    xmlXPathObjectPtr r;
    if (sel_eval_direct(s, node, &r) == 0)
        return r;
    return sel_eval_xpath(s, xpage_xpath(pg), node);
}

const char *xpage_header(const struct xpage *pg, const char *name, size_t i)
{
    for (size_t k = 0; k < pg->n_headers; k++)
        if (strcasecmp(pg->headers[k].name, name) == 0 && i-- == 0)
            return pg->headers[k].value;
    return NULL;
}

/* The elements named `name`, in document order. */
static void each_element(xmlDocPtr doc, const char *name, void (*fn)(xmlNodePtr, void *), void *arg)
{
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNodePtr n = root;
    for (; n; n = sel_walk_next(n, root, n->type == XML_ELEMENT_NODE))
        if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)name) == 0)
            fn(n, arg);
}

static const char *attr_value(xmlNodePtr n, const char *name)
{
    for (xmlAttrPtr a = n->properties; a; a = a->next)
        if (xmlStrcmp(a->name, (const xmlChar *)name) == 0)
            return a->children && a->children->content ? (const char *)a->children->content : "";
    return NULL;
}

struct meta_lang {
    const char *lang;
};

static void meta_lang_visit(xmlNodePtr n, void *arg)
{
    struct meta_lang *ml = arg;
    if (ml->lang)
        return;
    const char *prop = attr_value(n, "property");
    const char *equiv = attr_value(n, "http-equiv");
    if ((prop && strcasecmp(prop, "og:locale") == 0) ||
        (equiv && strcasecmp(equiv, "content-language") == 0))
        ml->lang = attr_value(n, "content");
}

const struct price_locale *xpage_locale(struct xpage *pg)
{
    if (pg->have_lang)
        return &pg->locale;
    pg->have_lang = 1;
    const char *lang = NULL;
    xmlNodePtr root = pg->doc ? xmlDocGetRootElement(pg->doc) : NULL;
    if (root)
        lang = attr_value(root, "lang");
    if (!lang || !*lang)
        lang = xpage_header(pg, "content-language", 0);
    if (!lang || !*lang) {
        struct meta_lang ml = {NULL};
        each_element(pg->doc, "meta", meta_lang_visit, &ml);
        lang = ml.lang;
    }
    price_locale(lang, &pg->locale);
    return &pg->locale;
}

static void jsonld_visit(xmlNodePtr n, void *arg)
{
    json_t *out = arg;
    const char *type = attr_value(n, "type");
    if (!type || strcasecmp(type, "application/ld+json") != 0 ||
        json_array_size(out) >= JSONLD_MAX_BLOCKS)
        return;
    xmlChar *text = xmlNodeGetContent(n);
    size_t len = text ? strlen((const char *)text) : 0;
    char err[128];
    json_t *v = len && len <= JSONLD_MAX_BYTES
                    ? jx_parse((const char *)text, len, JSONLD_MAX_DEPTH, err, sizeof(err))
                    : NULL;
    if (v)
        json_array_append_new(out, v);
    xmlFree(text);
}

const json_t *xpage_jsonld(struct xpage *pg)
{
    if (!pg->have_jsonld) {
        pg->have_jsonld = 1;
        pg->jsonld = json_array();
        each_element(pg->doc, "script", jsonld_visit, pg->jsonld);
    }
    return pg->jsonld;
}

const json_t *xpage_cookies(struct xpage *pg)
{
    if (!pg->have_cookies) {
        pg->have_cookies = 1;
        pg->cookies = json_array();
        const char *sc;
        for (size_t i = 0; (sc = xpage_header(pg, "set-cookie", i)) != NULL; i++) {
            while (*sc == ' ')
                sc++;
            size_t n = strcspn(sc, "=;");
            while (n && sc[n - 1] == ' ')
                n--;
            if (n && n < 256)
                json_array_append_new(pg->cookies, json_stringn(sc, n));
        }
    }
    return pg->cookies;
}

struct base_find {
    const char *href;
};

static void base_visit(xmlNodePtr n, void *arg)
{
    struct base_find *bf = arg;
    if (!bf->href)
        bf->href = attr_value(n, "href");
}

/* Trimmed copy of ref (HTML allows spaces around URLs; URL parsers do
 * not), or NULL when empty. */
static char *trimmed(const char *ref)
{
    while (*ref && isspace((unsigned char)*ref))
        ref++;
    size_t n = strlen(ref);
    while (n && isspace((unsigned char)ref[n - 1]))
        n--;
    if (!n)
        return NULL;
    char *t = strndup(ref, n);
    if (!t)
        abort();
    return t;
}

static int http_scheme(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

char *xpage_absolute(struct xpage *pg, const char *ref)
{
    char *t = trimmed(ref);
    if (!t || url_already_normal(t, strlen(t), 0))
        return t;
    if (!pg->have_base) {
        pg->have_base = 1;
        pg->base = curl_url();
        if (!pg->base)
            abort();
        if (curl_url_set(pg->base, CURLUPART_URL, pg->url, 0) != CURLUE_OK) {
            curl_url_cleanup(pg->base);
            pg->base = NULL;
        } else {
            struct base_find bf = {NULL};
            each_element(pg->doc, "base", base_visit, &bf);
            char *b_t = bf.href ? trimmed(bf.href) : NULL;
            if (b_t) {
                CURLU *b = curl_url_dup(pg->base);
                if (b && curl_url_set(b, CURLUPART_URL, b_t, 0) == CURLUE_OK) {
                    curl_url_cleanup(pg->base);
                    pg->base = b;
                } else if (b) {
                    curl_url_cleanup(b);
                }
            }
            free(b_t);
        }
    }
    char *result = NULL;
    CURLU *u = pg->base ? curl_url_dup(pg->base) : curl_url();
    if (!u)
        abort();
    if (curl_url_set(u, CURLUPART_URL, t, 0) == CURLUE_OK) {
        char *s = NULL;
        if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK && http_scheme(s)) {
            result = strdup(s);
            if (!result)
                abort();
        }
        curl_free(s);
    }
    curl_url_cleanup(u);
    free(t);
    return result;
}
