/*
 * xspec — extraction rules ("extract" in a submit, a profile's "extract"):
 * compiled once per batch, evaluated per page into a JSON object.
 *
 *   {"fields": {
 *      "title":  "h1",                                     CSS or "xpath:..."
 *      "price":  {"selector": ".price", "type": "price"},
 *      "images": {"selector": "img", "attr": "src", "type": "url", "all": true},
 *      "offer":  {"selector": ["#a .p", "#b .p"]},        alternatives, in order
 *      "sku":    {"selector": "#sku", "regex": "SKU: (\\w+)"},
 *      "items":  {"selector": "li.item", "all": true,      nested: one object per
 *                 "fields": {"n": {"position": true},      match; position is the
 *                            "name": "> a"}},              1-based index
 *      "org":    {"jsonld": "Organization|Corporation.name"},
 *      "server": {"header": "server"},
 *      "tech":   {"detect": "technologies"}},
 *    "post": [{"first": ["asin", "$query"], "into": "asin"},
 *             {"regex": "/dp/([A-Z0-9]{10})", "from": "canonical", "into": "asin"},
 *             {"union": ["a", "b"], "into": "c"}, {"drop": ["a", "b"]}],
 *    "required": ["title"],
 *    "captcha": ["form[action*='validateCaptcha']"]}
 *
 * A field's value: the attribute `attr`, else the element's text (white
 * space collapsed, trimmed; script and style skipped), else for type html
 * its inner HTML; then `regex` (POSIX extended; "(?i)" in front ignores
 * case) keeps the capture `group` (default: the first group that took part
 * in the match, or the whole match without groups); then the type: string, number, integer (K/M
 * suffixes read), price ({"value", "currency"}), url (absolute http(s) against the final URL and
 * <base href>), html, boolean (whether anything matched: never null). Without `all` the value is
 * the first match that yields one (so a list of alternatives or a group falls through empty
 * elements); with `all`, an array of every value. Nothing found is null.
 *
 * Page outcomes beside the data: XSPEC_CAPTCHA when a `captcha` selector
 * matches, XSPEC_EMPTY when the document has no content or a `required`
 * field (as evaluated, before post steps) is null or false.
 *
 * Ownership: a compiled spec is immutable and owns everything in it;
 * xspec_eval() returns a new reference.
 */
#ifndef FERRY_XSPEC_H
#define FERRY_XSPEC_H

#include <jansson.h>
#include <stddef.h>

#include "xpage.h"

/* Limits on a spec (they bound the work per page). */
#define XSPEC_MAX_FIELDS 100  /* per level */
#define XSPEC_MAX_DEPTH  4    /* nesting of "fields" */
#define XSPEC_MAX_ALL    1000 /* values kept for one "all" field */
#define XSPEC_MAX_TEXT   (256 * 1024)
#define XSPEC_MAX_HTML   (1024 * 1024)

enum xspec_status {
    XSPEC_OK = 0,
    XSPEC_EMPTY,   /* no content, or a required field is null */
    XSPEC_CAPTCHA, /* a bot check instead of the page */
};

struct xspec;

/* Compiles a spec. On error returns NULL and errstr names the member:
 * "fields.price.selector: position 7: expected ']'". */
struct xspec *xspec_compile(const json_t *spec, char *errstr, size_t errstr_size);
void xspec_free(struct xspec *x);

/* Evaluates the spec on a page. `params` (may be NULL) is what "$name" in
 * post steps reads (a profile item's parameters). Returns the data object
 * (a new reference, never NULL) and the page outcome in *status. */
json_t *xspec_eval(const struct xspec *x, struct xpage *pg, const json_t *params,
                   enum xspec_status *status);

#endif
