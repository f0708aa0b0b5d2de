/* The links and metadata formats of an HTML document (shared/extract.h). */
#include <ctype.h>
#include <libxml/uri.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "extract_int.h"
#include "jx.h"

#define JSONLD_MAX_DEPTH 64

static void walk_elements(xmlNodePtr n, void (*fn)(xmlNodePtr, void *), void *arg)
{
    for (xmlNodePtr c = n; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        fn(c, arg);
        walk_elements(c->children, fn, arg);
    }
}

struct links_ctx {
    const xmlChar *base;
    json_t *seen; /* object used as a set */
    json_t *out;
};

static void link_visit(xmlNodePtr n, void *arg)
{
    struct links_ctx *lc = arg;
    if (!(NAME_IS(n, "a") || NAME_IS(n, "area")))
        return;
    xmlChar *href = xmlGetProp(n, (const xmlChar *)"href");
    if (!href)
        return;
    /* HTML allows whitespace around a URL; URI parsing does not. */
    xmlChar *h = href;
    while (isspace(*h))
        h++;
    size_t hl = strlen((const char *)h);
    while (hl && isspace(h[hl - 1]))
        h[--hl] = '\0';
    xmlChar *abs = xmlBuildURI(h, lc->base);
    if (abs && (xmlStrncasecmp(abs, (const xmlChar *)"http://", 7) == 0 ||
                xmlStrncasecmp(abs, (const xmlChar *)"https://", 8) == 0)) {
        char *hash = strchr((char *)abs, '#');
        if (hash)
            *hash = '\0';
        if (!json_object_get(lc->seen, (const char *)abs)) {
            json_object_set_new(lc->seen, (const char *)abs, json_true());
            json_array_append_new(lc->out, json_string((const char *)abs));
        }
    }
    xmlFree(abs);
    xmlFree(href);
}

json_t *extract_links(xmlDocPtr doc, const xmlChar *base)
{
    struct links_ctx lc = {base, json_object(), json_array()};
    walk_elements(xmlDocGetRootElement(doc), link_visit, &lc);
    json_decref(lc.seen);
    return lc.out;
}

struct meta_ctx {
    const xmlChar *base;
    json_t *md, *og, *twitter, *jsonld;
};

static json_t *str_or_null(const char *s)
{
    json_t *v = s ? json_string(s) : NULL;
    return v ? v : json_null(); /* json_string refuses invalid UTF-8 */
}

static void meta_visit(xmlNodePtr n, void *arg)
{
    struct meta_ctx *mc = arg;
    if (NAME_IS(n, "title")) {
        if (json_is_null(json_object_get(mc->md, "title"))) {
            char *t = extract_collapsed_text(n);
            json_object_set_new(mc->md, "title", str_or_null(t));
            free(t);
        }
    } else if (NAME_IS(n, "html")) {
        xmlChar *lang = xmlGetProp(n, (const xmlChar *)"lang");
        if (lang)
            json_object_set_new(mc->md, "language", str_or_null((const char *)lang));
        xmlFree(lang);
    } else if (NAME_IS(n, "meta")) {
        xmlChar *name = xmlGetProp(n, (const xmlChar *)"name");
        xmlChar *prop = xmlGetProp(n, (const xmlChar *)"property");
        xmlChar *content = xmlGetProp(n, (const xmlChar *)"content");
        const char *key = prop ? (const char *)prop : (const char *)name;
        if (key && content) {
            if (strncasecmp(key, "og:", 3) == 0)
                json_object_set_new(mc->og, key + 3, str_or_null((const char *)content));
            else if (strncasecmp(key, "twitter:", 8) == 0)
                json_object_set_new(mc->twitter, key + 8, str_or_null((const char *)content));
            else if (strcasecmp(key, "description") == 0 || strcasecmp(key, "author") == 0 ||
                     strcasecmp(key, "keywords") == 0 || strcasecmp(key, "robots") == 0)
                json_object_set_new(mc->md, key, str_or_null((const char *)content));
        }
        xmlFree(name);
        xmlFree(prop);
        xmlFree(content);
    } else if (NAME_IS(n, "link")) {
        xmlChar *rel = xmlGetProp(n, (const xmlChar *)"rel");
        if (rel && strcasecmp((const char *)rel, "canonical") == 0) {
            xmlChar *href = xmlGetProp(n, (const xmlChar *)"href");
            xmlChar *abs = href ? xmlBuildURI(href, mc->base) : NULL;
            json_object_set_new(mc->md, "canonical", str_or_null((const char *)abs));
            xmlFree(abs);
            xmlFree(href);
        }
        xmlFree(rel);
    } else if (NAME_IS(n, "script")) {
        xmlChar *type = xmlGetProp(n, (const xmlChar *)"type");
        if (type && strcasecmp((const char *)type, "application/ld+json") == 0) {
            xmlChar *body = xmlNodeGetContent(n);
            char err[128];
            json_t *v = body ? jx_parse((const char *)body, strlen((const char *)body),
                                        JSONLD_MAX_DEPTH, err, sizeof(err))
                             : NULL;
            if (v)
                json_array_append_new(mc->jsonld, v);
            xmlFree(body);
        }
        xmlFree(type);
    }
}

json_t *extract_metadata(xmlDocPtr doc, const xmlChar *base)
{
    struct meta_ctx mc = {base, json_object(), json_object(), json_object(), json_array()};
    json_object_set_new(mc.md, "title", json_null());
    json_object_set_new(mc.md, "description", json_null());
    json_object_set_new(mc.md, "canonical", json_null());
    json_object_set_new(mc.md, "language", json_null());
    walk_elements(xmlDocGetRootElement(doc), meta_visit, &mc);
    if (json_is_null(json_object_get(mc.md, "title")) && json_object_get(mc.og, "title"))
        json_object_set(mc.md, "title", json_object_get(mc.og, "title"));
    json_object_set_new(mc.md, "open_graph", mc.og);
    json_object_set_new(mc.md, "twitter", mc.twitter);
    json_object_set_new(mc.md, "json_ld", mc.jsonld);
    return mc.md;
}
