/*
 * xpage — one fetched page as extraction rules see it: the parsed document,
 * the final URL, the response headers and the decoded body, with what
 * several rules ask for computed once and kept (base URL, language, JSON-LD
 * blocks, cookie names, an XPath context with an operation budget).
 *
 *     struct xpage pg;
 *     xpage_init(&pg, doc, final_url, headers, n_headers, html, html_len);
 *     json_t *data = xspec_eval(spec, &pg, &status);
 *     xpage_release(&pg);
 *
 * Ownership: the page borrows doc, url, headers and body (they must outlive
 * it); what it computes it owns until xpage_release(). Not thread-safe: one
 * page per thread.
 */
#ifndef FERRY_XPAGE_H
#define FERRY_XPAGE_H

#include <curl/curl.h>
#include <jansson.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stddef.h>

#include "price.h"
#include "sel.h"

/* XPath operations one page may cost across all its rules (about 7 ms of
 * CPU per million): bounds a rule that counts every element for every element of a big
 * page. A real 10-field spec on a 50 KB page costs a few thousand. */
#define XPAGE_OP_LIMIT 20000000UL

struct xpage_header {
    const char *name; /* any case */
    const char *value;
};

struct xpage {
    /* Borrowed inputs. */
    xmlDocPtr doc;
    const char *url;
    const struct xpage_header *headers;
    size_t n_headers;
    const char *body; /* the decoded HTML (technology rules scan it) */
    size_t body_len;

    /* Computed on first use. */
    xmlXPathContextPtr xpath;
    int have_lang, have_jsonld, have_cookies, have_base;
    struct price_locale locale;
    json_t *jsonld;  /* array of parsed ld+json blocks */
    json_t *cookies; /* array of cookie names from Set-Cookie */
    CURLU *base;     /* <base href> or url, for absolute URLs */
};

void xpage_init(struct xpage *pg, xmlDocPtr doc, const char *url,
                const struct xpage_header *headers, size_t n_headers, const char *body,
                size_t body_len);
void xpage_release(struct xpage *pg);

/* The XPath context (operation budget XPAGE_OP_LIMIT for the whole page). */
xmlXPathContextPtr xpage_xpath(struct xpage *pg);

/* What selector s selects from node (the document, or an element of it):
 * matched on the tree when it can be, else through the XPath context
 * (made on the first rule that needs it). As sel_eval(). */
xmlXPathObjectPtr xpage_select(struct xpage *pg, const struct sel *s, xmlNodePtr node);

/* Number conventions from <html lang>, Content-Language or og:locale. */
const struct price_locale *xpage_locale(struct xpage *pg);

/* The parsed JSON-LD blocks (borrowed; an empty array when none). */
const json_t *xpage_jsonld(struct xpage *pg);

/* The i-th value of response header `name` (case-insensitive), or NULL. */
const char *xpage_header(const struct xpage *pg, const char *name, size_t i);

/* Names of the cookies the response set (borrowed array of strings). */
const json_t *xpage_cookies(struct xpage *pg);

/* `ref` made absolute against the page's base; a malloc'd http(s) URL, or
 * NULL when ref is empty, unparsable or of another scheme (javascript:,
 * mailto:, data:). */
char *xpage_absolute(struct xpage *pg, const char *ref);

#endif
