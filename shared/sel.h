/*
 * sel — selectors for extraction rules: CSS compiled to XPath 1.0 once, or
 * `xpath:...` checked with libxml2's compiler, then evaluated per page.
 *
 * CSS understood (what scraping rules use; HTML semantics, so element and
 * attribute names are matched lower case as libxml2's HTML parser stores
 * them):
 *
 *   type  *  #id  .class
 *   [a]  [a=v]  [a~=v]  [a^=v]  [a$=v]  [a*=v]  [a|=v]   (v an ident or a
 *        quoted string; a trailing ` i` compares ASCII case-insensitively)
 *   descendant (space), child (>), next sibling (+), later sibling (~)
 *   :first-child :last-child :only-child :nth-child(an+b) :nth-last-child()
 *   :first-of-type :last-of-type :nth-of-type() :nth-last-of-type() (these
 *        need an element name), :empty :root
 *   :not(compound, ...)  :has(relative selector, ...)  :contains("text")
 *   groups: a, b   (results in document order, each node once)
 *
 * A selector is evaluated from a context node: the document for top-level
 * fields, a matched element for nested ones, so `span` finds descendants of
 * the context and `> span` its children. `xpath:EXPR` is any XPath 1.0
 * expression, evaluated with the same context node; an expression that
 * yields a string, number or boolean gives that value.
 *
 * Errors name the byte position (1-based) in the selector text:
 * "position 7: expected ']'".
 *
 * Ownership: a struct sel owns its XPath text, compiled expressions, syntax
 * tree and match plan; sel_free() releases them. A compiled selector is
 * read-only during evaluation, so one compiled rule serves every page of a
 * batch.
 *
 * A document's _private is sel's: matching on the tree (sel_eval,
 * sel_eval_direct) keeps one index of the elements by name per thread, for
 * the latest document it matched on, and stamps that document's _private
 * so that a new document at a reused address is known as new. Nothing else
 * may set or read xmlDoc._private of a document selectors run on: a module
 * that builds libxml2 trees (a parser of its own included) leaves it NULL.
 * The stamp is an odd number, never a pointer; xmlFreeDoc ignores it.
 */
#ifndef FERRY_SEL_H
#define FERRY_SEL_H

#include <libxml/xpath.h>
#include <stddef.h>

#include "buf.h"

/* Longest selector text accepted (a rule, not a program). */
#define SEL_MAX_LEN 4096

struct sel {
    char *xpath; /* the XPath 1.0 text evaluated from an element */
    xmlXPathCompExprPtr comp;
    /* From the document node, a selector whose first compound has an id or
     * a class starts from an index (id(), ferry-class-index()) instead of
     * scanning every element; NULL when that form is the same. */
    xmlXPathCompExprPtr comp_doc;
    /* The common selectors (ids, classes, attributes, descendant and child
     * chains) matched on the tree directly: same nodes, no XPath machinery.
     * NULL for the others. */
    struct sel_match *match;
    /* The CSS's syntax tree, read once: both XPath forms and the match plan
     * were made from it. NULL for `xpath:`. */
    struct css_list *css;
};

/* Compiles a CSS selector, or `xpath:` followed by an XPath expression.
 * Returns NULL with errstr on a malformed selector. */
struct sel *sel_compile(const char *text, char *errstr, size_t errstr_size);
void sel_free(struct sel *s);

/* Translates CSS alone (no libxml2 compile), appending the XPath to out.
 * 0 ok, -1 with errstr. */
int sel_css_to_xpath(const char *css, struct buf *out, char *errstr, size_t errstr_size);

/* An XPath context for one document, with the functions compiled
 * selectors call (ferry-has-class(), ferry-class-index()) and the page's
 * class index (built on first use). Every sel_eval() needs one of these.
 * Free it with sel_context_free(), before the document. */
xmlXPathContextPtr sel_context_new(xmlDocPtr doc);
void sel_context_free(xmlXPathContextPtr ctx);

/* Evaluates s with `node` as the context node (its document must be
 * ctx->doc; ctx from sel_context_new()). Returns a new XPath object
 * (xmlXPathFreeObject it) or NULL when evaluation failed (an unknown
 * function, the operation limit of ctx). "#id" from the document selects
 * the first element with that id, as getElementById() does. */
xmlXPathObjectPtr sel_eval(const struct sel *s, xmlXPathContextPtr ctx, xmlNodePtr node);

/* sel_eval in its two halves, for callers that make the XPath context only
 * when a rule needs it: sel_eval_direct() matches on the tree (0 with *out,
 * the same nodes), or returns -1 when s needs XPath (an `xpath:` rule, CSS
 * outside sel_match.c's subset, a match past its step budget); then
 * sel_eval_xpath() evaluates it. */
int sel_eval_direct(const struct sel *s, xmlNodePtr node, xmlXPathObjectPtr *out);
xmlXPathObjectPtr sel_eval_xpath(const struct sel *s, xmlXPathContextPtr ctx, xmlNodePtr node);

/* The node after n in document order within root's subtree (start with
 * root itself): into n's children when `descend`, else past them; NULL at
 * the end. Iterative, since a hostile page nests as deep as the parser
 * allows: every walk over a document goes through here. */
xmlNodePtr sel_walk_next(xmlNodePtr n, xmlNodePtr root, int descend);

/* Silences libxml2's error printing for the calling thread while a page is
 * evaluated (hostile pages and rules would otherwise flood stderr). Calls
 * nest; the last sel_quiet_end() restores the previous handler. */
void sel_quiet_begin(void);
void sel_quiet_end(void);

#endif
