/* sel: compiling selectors with libxml2, evaluating them, and the XPath
 * contexts they run in (the CSS translation is sel_css.c and sel_lex.c). */
#include "sel.h"

#include <libxml/globals.h>
#include <libxml/xmlerror.h>
#include <libxml/xpathInternals.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sel_int.h"

struct xerr {
    int seen;
    int pos; /* 0-based offset in the compiled text */
    char msg[160];
};

static void capture_error(void *ctx, xmlErrorPtr e)
{
    struct xerr *x = ctx;
    if (x->seen || !e)
        return;
    x->seen = 1;
    x->pos = e->domain == XML_FROM_XPATH ? e->int1 : -1;
    size_t n = e->message ? strlen(e->message) : 0;
    while (n && (e->message[n - 1] == '\n' || e->message[n - 1] == ' '))
        n--;
    snprintf(x->msg, sizeof(x->msg), "%.*s", (int)n, e->message ? e->message : "");
}

static void ignore_error(void *ctx, xmlErrorPtr e)
{
    (void)ctx, (void)e;
}

/* libxml2's handler is per thread; so is what it replaced. Calls nest. */
static _Thread_local xmlStructuredErrorFunc saved_handler;
static _Thread_local void *saved_ctx;
static _Thread_local xmlGenericErrorFunc saved_generic;
static _Thread_local void *saved_generic_ctx;
static _Thread_local int quiet_depth;

/* XPath evaluation reports some errors ("function not found") through the
 * generic handler, not the structured one. */
static void ignore_generic(void *ctx, const char *msg, ...)
{
    (void)ctx, (void)msg;
}

void sel_quiet_begin(void)
{
    if (quiet_depth++ == 0) {
        saved_handler = xmlStructuredError;
        saved_ctx = xmlStructuredErrorContext;
        saved_generic = xmlGenericError;
        saved_generic_ctx = xmlGenericErrorContext;
        xmlSetStructuredErrorFunc(NULL, ignore_error);
        xmlSetGenericErrorFunc(NULL, ignore_generic);
    }
}

void sel_quiet_end(void)
{
    if (quiet_depth > 0 && --quiet_depth == 0) {
        xmlSetStructuredErrorFunc(saved_ctx, saved_handler);
        xmlSetGenericErrorFunc(saved_generic_ctx, saved_generic);
    }
}

struct sel *sel_compile(const char *text, char *errstr, size_t errstr_size)
{
    struct buf x = BUF_INIT(XPATH_MAX);
    struct sel *s = NULL;
    struct css_list *tree = NULL;
    size_t offset = 0; /* where the compiled text starts in `text` */
    int is_xpath = strncmp(text, "xpath:", 6) == 0;
    if (is_xpath) {
        offset = 6;
        while (text[offset] == ' ')
            offset++;
        if (!text[offset]) {
            snprintf(errstr, errstr_size, "position %zu: empty XPath", offset + 1);
            goto out;
        }
        if (strlen(text) > SEL_MAX_LEN) {
            snprintf(errstr, errstr_size, "selector longer than %d bytes", SEL_MAX_LEN);
            goto out;
        }
        struct css c = {.s = text, .errstr = errstr, .errstr_size = errstr_size};
        if (css_check_chars(&c))
            goto out;
        buf_adds(&x, text + offset);
    } else if (!(tree = css_parse(text, errstr, errstr_size)) ||
               css_write_xpath(tree, text, 0, &x, errstr, errstr_size)) {
        goto out;
    }
    struct xerr xe = {0};
    xmlStructuredErrorFunc prev = xmlStructuredError;
    void *prev_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(&xe, capture_error);
    xmlXPathCompExprPtr comp = xmlXPathCompile((const xmlChar *)buf_str(&x));
    xmlSetStructuredErrorFunc(prev_ctx, prev);
    if (!comp) {
        size_t len = strlen(text);
        size_t pos = xe.pos >= 0 ? offset + (size_t)xe.pos + 1 : len + 1;
        if (pos > len + 1)
            pos = len + 1;
        if (is_xpath)
            snprintf(errstr, errstr_size, "position %zu: %s", pos,
                     xe.msg[0] ? xe.msg : "invalid XPath");
        else /* our own translation did not compile: say so rather than blame the rule */
            snprintf(errstr, errstr_size, "selector not supported (%s in %s)",
                     xe.msg[0] ? xe.msg : "invalid XPath", buf_str(&x));
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->comp = comp;
    s->xpath = buf_detach(&x, NULL);
    if (tree) {
        /* The form for rules evaluated from the document, when it differs. */
        struct buf d = BUF_INIT(XPATH_MAX);
        char e[64];
        if (css_write_xpath(tree, text, 1, &d, e, sizeof(e)) == 0 &&
            strcmp(buf_str(&d), s->xpath) != 0) {
            xmlSetStructuredErrorFunc(&xe, capture_error);
            s->comp_doc = xmlXPathCompile((const xmlChar *)buf_str(&d));
            xmlSetStructuredErrorFunc(prev_ctx, prev);
        }
        buf_release(&d);
        /* The tree stays with the selector: the match plan reads its strings. */
        s->match = sel_match_plan(tree);
        s->css = tree;
        tree = NULL;
    }
out:
    css_list_free(tree);
    buf_release(&x);
    return s;
}

void sel_free(struct sel *s)
{
    if (!s)
        return;
    xmlXPathFreeCompExpr(s->comp);
    if (s->comp_doc)
        xmlXPathFreeCompExpr(s->comp_doc);
    sel_match_free(s->match);
    css_list_free(s->css);
    free(s->xpath);
    free(s);
}

xmlXPathObjectPtr sel_eval(const struct sel *s, xmlXPathContextPtr ctx, xmlNodePtr node)
{
    xmlXPathObjectPtr r;
    if (sel_eval_direct(s, node, &r) == 0)
        return r;
    return sel_eval_xpath(s, ctx, node);
}

int sel_eval_direct(const struct sel *s, xmlNodePtr node, xmlXPathObjectPtr *out)
{
    return s->match ? sel_match_eval(s->match, node, out) : -1;
}

xmlXPathObjectPtr sel_eval_xpath(const struct sel *s, xmlXPathContextPtr ctx, xmlNodePtr node)
{
    ctx->node = node;
    int from_doc =
        node && (node->type == XML_HTML_DOCUMENT_NODE || node->type == XML_DOCUMENT_NODE);
    return xmlXPathCompiledEval(from_doc && s->comp_doc ? s->comp_doc : s->comp, ctx);
}

/* ------------------------------------------------------------ contexts */

/* The class index of one document: each class token to the elements that
 * carry it, in document order. Built by one walk on first use. */
struct class_entry {
    char *token;
    xmlNodePtr *nodes;
    size_t n, cap;
};

struct sel_index {
    int built;
    struct class_entry *tab; /* open addressing, size a power of two */
    size_t size, used;
};

static uint64_t token_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

static struct class_entry *index_slot(struct sel_index *ix, const char *tok, size_t n, int add)
{
    if (add && (ix->used + 1) * 4 > ix->size * 3) {
        size_t old = ix->size;
        struct class_entry *prev = ix->tab;
        ix->size = old ? old * 2 : 256;
        ix->tab = calloc(ix->size, sizeof(*ix->tab));
        if (!ix->tab)
            abort();
        for (size_t i = 0; i < old; i++) {
            if (!prev[i].token)
                continue;
            size_t k = token_hash(prev[i].token, strlen(prev[i].token)) & (ix->size - 1);
            while (ix->tab[k].token)
                k = (k + 1) & (ix->size - 1);
            ix->tab[k] = prev[i];
        }
        free(prev);
    }
    if (!ix->size)
        return NULL;
    size_t k = token_hash(tok, n) & (ix->size - 1);
    while (ix->tab[k].token) {
        if (strncmp(ix->tab[k].token, tok, n) == 0 && ix->tab[k].token[n] == '\0')
            return &ix->tab[k];
        k = (k + 1) & (ix->size - 1);
    }
    if (!add)
        return NULL;
    ix->tab[k].token = strndup(tok, n);
    if (!ix->tab[k].token)
        abort();
    ix->used++;
    return &ix->tab[k];
}

static const char *class_attr(xmlNodePtr n)
{
    for (xmlAttrPtr a = n->properties; a; a = a->next)
        if (a->name[0] == 'c' && strcmp((const char *)a->name, "class") == 0)
            return a->children && a->children->content ? (const char *)a->children->content : "";
    return NULL;
}

static const char class_ws[] = " \t\n\r\f";

static void index_build(struct sel_index *ix, xmlDocPtr doc)
{
    ix->built = 1;
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL, n = root;
    while (n) {
        if (n->type == XML_ELEMENT_NODE) {
            const char *cl = n->properties ? class_attr(n) : NULL;
            while (cl && *cl) {
                cl += strspn(cl, class_ws);
                size_t len = strcspn(cl, class_ws);
                if (!len)
                    break;
                struct class_entry *e = index_slot(ix, cl, len, 1);
                /* An element listing a class twice is indexed once. */
                if (!e->n || e->nodes[e->n - 1] != n) {
                    if (e->n == e->cap) {
                        e->cap = e->cap ? e->cap * 2 : 4;
                        e->nodes = realloc(e->nodes, e->cap * sizeof(*e->nodes));
                        if (!e->nodes)
                            abort();
                    }
                    e->nodes[e->n++] = n;
                }
                cl += len;
            }
        }
        n = sel_walk_next(n, root, n->type == XML_ELEMENT_NODE);
    }
}

xmlNodePtr sel_walk_next(xmlNodePtr n, xmlNodePtr root, int descend)
{
    if (descend && n->children)
        return n->children;
    while (n != root && !n->next)
        n = n->parent;
    return n == root ? NULL : n->next;
}

/* ferry-class-index('c'): every element with class c, from the index. */
static void fn_class_index(xmlXPathParserContextPtr ctxt, int nargs)
{
    if (nargs != 1) {
        xmlXPathErr(ctxt, XPATH_INVALID_ARITY);
        return;
    }
    xmlChar *tok = xmlXPathPopString(ctxt);
    struct sel_index *ix = ctxt->context->userData;
    xmlNodeSetPtr set = xmlXPathNodeSetCreate(NULL);
    if (ix && tok) {
        if (!ix->built)
            index_build(ix, ctxt->context->doc);
        struct class_entry *e = index_slot(ix, (const char *)tok, strlen((const char *)tok), 0);
        for (size_t i = 0; e && i < e->n; i++)
            xmlXPathNodeSetAddUnique(set, e->nodes[i]);
    }
    xmlFree(tok);
    valuePush(ctxt, xmlXPathWrapNodeSet(set));
}

int sel_has_class(xmlNodePtr e, const char *want)
{
    const char *cl = e->properties ? class_attr(e) : NULL;
    size_t wl = strlen(want);
    int hit = 0;
    while (cl && *cl && wl && !hit) {
        cl += strspn(cl, class_ws);
        size_t len = strcspn(cl, class_ws);
        hit = len == wl && memcmp(cl, want, wl) == 0;
        cl += len;
    }
    return hit;
}

/* ferry-has-class('c'): whether the context element has class c, without
 * the string building of contains(concat(' ', normalize-space(@class), ' '),
 * ' c ') on every element scanned. */
static void fn_has_class(xmlXPathParserContextPtr ctxt, int nargs)
{
    if (nargs != 1) {
        xmlXPathErr(ctxt, XPATH_INVALID_ARITY);
        return;
    }
    xmlXPathObjectPtr arg = valuePop(ctxt);
    xmlNodePtr n = ctxt->context->node;
    const char *want = arg && arg->type == XPATH_STRING ? (const char *)arg->stringval : NULL;
    int hit = want && n && n->type == XML_ELEMENT_NODE && sel_has_class(n, want);
    xmlXPathFreeObject(arg);
    valuePush(ctxt, xmlXPathNewBoolean(hit));
}

xmlXPathContextPtr sel_context_new(xmlDocPtr doc)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    struct sel_index *ix = calloc(1, sizeof(*ix));
    if (!ctx || !ix)
        abort();
    ctx->userData = ix;
    xmlXPathRegisterFunc(ctx, (const xmlChar *)"ferry-has-class", fn_has_class);
    xmlXPathRegisterFunc(ctx, (const xmlChar *)"ferry-class-index", fn_class_index);
    return ctx;
}

void sel_context_free(xmlXPathContextPtr ctx)
{
    if (!ctx)
        return;
    struct sel_index *ix = ctx->userData;
    for (size_t i = 0; ix && i < ix->size; i++) {
        free(ix->tab[i].token);
        free(ix->tab[i].nodes);
    }
    if (ix)
        free(ix->tab);
    free(ix);
    xmlXPathFreeContext(ctx);
}
