/*
 * hparse — the one way ferry parses an HTML page into a libxml2 tree.
 *
 *     htmlDocPtr doc = hparse_read(html, len, url);   // never NULL
 *     ... xmlFreeDoc(doc);
 *
 * hparse_read gives the tree htmlReadMemory(html, len, url, "UTF-8",
 * HPARSE_OPTIONS) gives (libxml2 2.9.14, Debian 12's), built by a tokenizer
 * of our own: libxml2's HTML parser spends about 170 instructions a byte of
 * a page, tree and its release included, ours about 65 (README,
 * performance). The tree builder reproduces libxml2's HTML tree
 * construction (implied html/head/body, the start tags that close open
 * elements, end-tag priorities, implied paragraphs, empty elements,
 * script/style raw text, IDs registered for xmlGetID). On anything it does
 * not model exactly (invalid UTF-8, control characters, processing
 * instructions, prefixed or over-long names, nesting past 250 where
 * libxml2 stops at 256, ...) the fast path declines and the page goes to
 * htmlReadMemory, so the tree is the same either way.
 * tests/unit/test_hparse compares the two trees node by node on every
 * fixture page and a generated corpus; tests/fuzz/fuzz_hparse on random
 * input.
 *
 * What differs from libxml2's own tree, and no reader of it looks at:
 * names and short texts come from a per-document dictionary (doc->dict)
 * instead of separate mallocs, and nodes carry no line numbers.
 *
 * Allocation goes through xmlMalloc, so a held xarena (xarena.h) serves it.
 */
#ifndef FERRY_HPARSE_H
#define FERRY_HPARSE_H

#include <libxml/HTMLparser.h>
#include <stddef.h>

#define HPARSE_OPTIONS                                                                             \
    (HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET |           \
     HTML_PARSE_COMPACT)

/* The document of html (UTF-8, len bytes) with base url (may be NULL):
 * the fast path, or htmlReadMemory when it declines; an empty document
 * when both fail (never NULL). Aborts only when out of memory. */
htmlDocPtr hparse_read(const char *html, size_t len, const char *url);

/* The fast path alone: NULL when it declines. For tests and benches. */
htmlDocPtr hparse_fast(const char *html, size_t len, const char *url);

/* libxml2's parser alone (htmlReadMemory with HPARSE_OPTIONS); may be NULL. */
htmlDocPtr hparse_libxml2(const char *html, size_t len, const char *url);

#endif
