/*
 * tech — technologies a page was built with, from a rules file.
 *
 * The built-in rules (shared/profiles/tech.rules.json, compiled into the
 * binaries) name each technology with its categories and the evidence that
 * gives it away, each evidence a POSIX extended regex (case-insensitive)
 * whose first group that catches something starting with a digit is the
 * version:
 *
 *   {"name": "WordPress", "categories": ["CMS"],
 *    "headers": {"x-powered-by": "..."},   response header values
 *    "cookies": ["^wordpress_"],           names of cookies set
 *    "meta": {"generator": "WordPress ([0-9.]+)"},   <meta name=... content>
 *    "scripts": ["/wp-includes/"],         <script src>
 *    "links": ["/wp-content/"],            <link href>
 *    "html": ["<div id=\"wpadminbar\""],   literal text in the page (cheap)
 *    "dom": [{"selector": "[ng-version]", "attr": "ng-version"}],
 *    "implies": ["PHP"]}
 *
 * Results list each technology found once, in rule order, with the first
 * version seen (null when none was visible); implied technologies follow
 * without a version.
 */
#ifndef FERRY_TECH_H
#define FERRY_TECH_H

#include <jansson.h>
#include <stddef.h>

#include "xpage.h"

struct tech_rules;

/* Compiles a rules document ({"technologies": [...]}). NULL with errstr
 * naming the rule ("technologies[3] (jQuery).scripts[0]: ..."). */
struct tech_rules *tech_rules_compile(const json_t *doc, char *errstr, size_t errstr_size);
void tech_rules_free(struct tech_rules *r);

/* The built-in rules, compiled on first use and kept; NULL (errstr) only if
 * the embedded file is broken. Thread-safe. */
const struct tech_rules *tech_builtin(char *errstr, size_t errstr_size);

/* Number of technologies in a rule set. */
size_t tech_rules_count(const struct tech_rules *r);

/* [{"name", "categories": [...], "version"}] for the page (new reference). */
json_t *tech_detect(const struct tech_rules *r, struct xpage *pg);

#endif
