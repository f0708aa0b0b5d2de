/*
 * xspec_int — the compiled form of a spec, shared by its compiler
 * (xspec.c) and its evaluator (xspec_eval.c, xspec_value.c). Not for other
 * modules: they use xspec.h.
 */
#ifndef FERRY_XSPEC_INT_H
#define FERRY_XSPEC_INT_H

#include <libxml/tree.h>
#include <regex.h>

#include "buf.h"
#include "sel.h"
#include "tech.h"
#include "xspec.h"

enum xtype { XT_STRING, XT_NUMBER, XT_INTEGER, XT_PRICE, XT_URL, XT_HTML, XT_BOOLEAN };

enum xsource {
    XS_SELECTOR, /* selectors on the document */
    XS_SELF,     /* nested fields on the context element itself */
    XS_JSONLD,   /* JSON-LD objects of given types, then a path */
    XS_HEADER,   /* a response header */
    XS_DETECT,   /* the technology rules */
    XS_POSITION, /* the 1-based index in the enclosing list */
};

/* A compiled regex with the capture group to keep. */
struct xregex {
    int set;
    regex_t re;
    int group;
    /* Text every match starts with (the pattern's leading literal, when it
     * has no alternation and is case-sensitive): a memmem() finds where a
     * match can start before the regex engine runs. Empty: none. */
    char prefix[32];
    size_t prefix_len;
    int anchored; /* the pattern starts with ^: the prefix is the text's start */
};

struct xfield {
    char *name;
    enum xsource source;
    enum xtype type;
    int all;
    struct sel **sels; /* alternatives, tried in order */
    size_t n_sels;
    char *attr;
    struct xregex re;
    char **ld_types; /* "*" matches any */
    size_t n_ld_types;
    char **ld_path;
    size_t n_ld_path;
    char *header;
    const struct tech_rules *rules;
    struct xspec *sub; /* nested fields */
};

enum xpost_op { XP_FIRST, XP_REGEX, XP_UNION, XP_DROP };

struct xpost {
    enum xpost_op op;
    char **names; /* first/union/drop: fields or $params; regex: the source field */
    size_t n_names;
    char *into;
    struct xregex re;
};

struct xspec {
    struct xfield *fields;
    size_t n_fields;
    struct xpost *post;
    size_t n_post;
    char **required;
    size_t n_required;
    struct sel **captcha;
    size_t n_captcha;
};

/* xspec_value.c: turning what a rule found into a typed JSON value. */

/* The collapsed, trimmed text of a node (elements: their descendants' text,
 * script and style skipped; attributes and text nodes: their content),
 * appended to out (capped at XSPEC_MAX_TEXT). */
void xvalue_text(xmlNodePtr node, struct buf *out);

/* The inner HTML of an element (capped at XSPEC_MAX_HTML). */
void xvalue_html(xmlDocPtr doc, xmlNodePtr node, struct buf *out);

/* Applies re to s: the capture as a new malloc'd string, or NULL when it
 * does not match. Without a regex, a copy of s. */
char *xvalue_regex(const struct xregex *re, const char *s);

/* Every match of re in s (the capture of each), appended to arr as strings. */
void xvalue_regex_all(const struct xregex *re, const char *s, json_t *arr);

/* Text typed as `type` (string, number, integer, price, url, html), or NULL
 * when it yields nothing (empty, no number, no URL). */
json_t *xvalue_typed(enum xtype type, const char *text, struct xpage *pg);

/* A JSON-LD value typed as `type`: strings as text, objects by their
 * meaning (Offer to a price, PostalAddress to one line, ImageObject to its
 * url, others by name). NULL when it yields nothing. */
json_t *xvalue_from_json(enum xtype type, const json_t *v, struct xpage *pg);

#endif
