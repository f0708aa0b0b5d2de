/*
 * extract_int — what the parts of extract (shared/extract.h) share:
 * extract.c (the entry points and text/markdown), extract_charset.c
 * (content types, charsets, decoding), extract_meta.c (links, metadata).
 */
#ifndef FERRY_EXTRACT_INT_H
#define FERRY_EXTRACT_INT_H

#include <jansson.h>
#include <libxml/tree.h>
#include <stddef.h>

#include "buf.h"

#define NAME_IS(n, s) (xmlStrcmp((n)->name, (const xmlChar *)(s)) == 0)

/* Converts body from charset to UTF-8 into out; invalid input bytes become
 * U+FFFD. -1 when iconv does not know the charset. */
int extract_to_utf8(const char *charset, const char *body, size_t len, struct buf *out);

/* The absolute http(s) URLs of a document's <a>/<area> hrefs against base,
 * fragments removed, deduplicated, in document order (a new array). */
json_t *extract_links(xmlDocPtr doc, const xmlChar *base);

/* The metadata object of a document (title, description, canonical,
 * language, open_graph, twitter, json_ld, ...): a new object. */
json_t *extract_metadata(xmlDocPtr doc, const xmlChar *base);

/* n's text with whitespace runs collapsed to one space, trimmed at the end
 * (malloc'd, never NULL). */
char *extract_collapsed_text(xmlNodePtr n);

#endif
