/*
 * hparse_diff — whether hparse's fast tree is libxml2's tree, node by node,
 * for the differential test (tests/unit/test_hparse.c) and the fuzz target
 * (tests/fuzz/fuzz_hparse.c).
 */
#ifndef FERRY_HPARSE_DIFF_H
#define FERRY_HPARSE_DIFF_H

#include <libxml/tree.h>
#include <stddef.h>

/* 0 when the trees match (types, names, contents, attributes and their
 * IDs, document fields, serialisation); else 1 with the first difference
 * described in why. */
int hparse_diff(xmlDocPtr fast, xmlDocPtr want, char *why, size_t why_len);

/* Parses html both ways and compares: 0 same, 1 different (why says how),
 * -1 the fast path declined. */
int hparse_diff_html(const char *html, size_t len, char *why, size_t why_len);

#endif
