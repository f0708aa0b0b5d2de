/*
 * extract — turns a fetched body into the formats an item asked for.
 *
 *   html      the body decoded to UTF-8 (charset from the HTTP header, a BOM,
 *             or <meta charset>, in that order; undeclared non-UTF-8 bytes
 *             and a false "utf-8" claim are read as windows-1252)
 *   text      readable text: scripts, styles and navigation chrome dropped,
 *             blocks separated by blank lines
 *   markdown  headings, paragraphs, links, lists, code, tables, quotes
 *   links     absolute http(s) URLs of <a href>, fragment removed, deduplicated
 *   metadata  title, description, canonical, language, author, keywords,
 *             Open Graph (og:*), Twitter cards, JSON-LD blocks
 *
 * Parsed with libxml2's HTML parser (recovering, no network). Non-HTML text
 * (text/plain, JSON, XML, CSS, JS) is returned as-is, decoded, in html, text
 * and markdown. Anything else is binary: returned whole as base64.
 */
#ifndef FERRY_EXTRACT_H
#define FERRY_EXTRACT_H

#include <jansson.h>
#include <libxml/tree.h>
#include <stddef.h>

#include "buf.h"
#include "words.h"

/* The mask of FORMAT_BIT()s (shared/words.h) of a request's "formats" array
 * (absent: html; an endpoint's requests carry [] and ask for none). Unknown
 * names are ignored (ingest refuses them with a 422). */
unsigned extract_formats(const json_t *formats);

/* Beside the formats: parse the document (whatever the formats need) and
 * keep it in ex->doc, for the extraction rules to run on the same tree. */
#define EXTRACT_KEEP_DOC (1u << 30)

struct extract {
    int binary;       /* body is in base64, nothing else */
    const char *html; /* decoded body; points into the input or conv */
    size_t html_len;
    struct buf conv; /* the body converted to UTF-8, when it was not */
    struct buf text, markdown, base64;
    json_t *links;    /* array, when asked */
    json_t *metadata; /* object, when asked */
    char charset[40]; /* what the body was decoded from */
    xmlDocPtr doc;    /* with EXTRACT_KEEP_DOC: the parsed text (NULL for a binary body) */
    int arena;        /* the tree is in this thread's arena (xarena.h), held until release */
};

/* Fills ex (zeroed by the call) from a body, with the formats' bits (and
 * EXTRACT_KEEP_DOC). `base_url` resolves relative
 * links (the final URL after redirects). The body must outlive ex (html may
 * point into it). */
void extract_run(struct extract *ex, const char *body, size_t len, const char *content_type,
                 const char *base_url, unsigned formats);
void extract_release(struct extract *ex);

/* The charset a body should be decoded from (lower case, e.g. "utf-8",
 * "windows-1252", "shift_jis"), by the rules above. */
void extract_charset(const char *content_type, const char *body, size_t len, int is_html, char *out,
                     size_t size);

/* 1 when the content type (or, when absent, the body) is HTML / text. */
int extract_is_html(const char *content_type, const char *body, size_t len);
int extract_is_text(const char *content_type, const char *body, size_t len);

#endif
