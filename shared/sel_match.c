/* sel: the common selectors matched on the tree directly, without XPath.
 *
 * Most rules are chains of simple compounds: `#id .class span`,
 * `tr.po-brand > td:last-child`, `[data-hook='x']`. Evaluated through
 * libxml2's XPath, every element scanned costs a predicate evaluation
 * (objects made, pushed, compared, freed); here it is a few string
 * compares. A selector is planned here when it uses only:
 *
 *   type  *  #id  .class  [a]  [a=v]  [a^=v]  [a$=v]  [a*=v]
 *   :first-child  :last-child  :contains(text)
 *   :not(compound of those without pseudo-classes)
 *   descendant (space) and child (>) combinators, groups (a, b)
 *
 * ASCII identifiers without escapes, values quoted or identifiers. Anything
 * else (or a match past MATCH_BUDGET steps) is left to the XPath
 * translation, which gives the same nodes (test_sel and the fuzz target
 * compare the two). The plan is made from the selector's syntax tree
 * (sel_css.c), the one the XPath is written from. */
#include <libxml/tree.h>
#include <libxml/valid.h>
#include <libxml/xpathInternals.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sel_int.h"

/* Ancestor steps one evaluation may take before it gives the selector back
 * to XPath (a hostile page nesting thousands of elements deep). */
#define MATCH_BUDGET 200000
#define MAX_PARTS    16

/* The strings are the syntax tree's (sel_int.h), borrowed. */
struct attr_test {
    const char *name;
    const char *value; /* NULL: presence */
    char op;           /* '=' equal, '^' starts with, '$' ends with, '*' contains */
};

struct compound {
    const char *tag; /* NULL: any element */
    const char *id;  /* NULL: none */
    const char *cls[MAX_PARTS];
    int n_cls;
    struct attr_test attrs[MAX_PARTS];
    int n_attrs;
    int first_child, last_child;
    const char *contains; /* :contains(text): in the element's text */
    struct compound *nots[MAX_PARTS];
    int n_nots;
};

struct complex {
    struct compound *c[MAX_PARTS];
    char comb[MAX_PARTS]; /* comb[i]: between c[i-1] and c[i], ' ' or '>' */
    int n;
};

struct sel_match {
    struct complex alts[MAX_PARTS];
    int n;
};

/* ------------------------------------------------------------ planning */

static void compound_free(struct compound *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n_nots; i++)
        compound_free(c->nots[i]);
    free(c);
}

/* The plan of one compound of the tree, or NULL when it is outside the
 * subset. `inner`: inside :not(), where no pseudo-class is taken. */
static struct compound *plan_compound(const struct css_compound *k, int inner)
{
    if (k->type && !k->plain)
        return NULL;
    struct compound *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->tag = k->type;
    for (int i = 0; i < k->n; i++) {
        const struct css_part *p = &k->parts[i];
        if (!p->plain)
            goto fail;
        if (p->kind == '#') {
            if (c->id) /* a second id: rare, left to XPath */
                goto fail;
            c->id = p->name;
        } else if (p->kind == '.') {
            if (c->n_cls == MAX_PARTS)
                goto fail;
            c->cls[c->n_cls++] = p->name;
        } else if (p->kind == '[') {
            if (c->n_attrs == MAX_PARTS || p->nocase || (p->op && !strchr("=^$*", p->op)))
                goto fail;
            c->attrs[c->n_attrs++] = (struct attr_test){p->name, p->op ? p->value : NULL, p->op};
        } else if (inner) {
            goto fail;
        } else if (p->ps == CSS_FIRST && !p->of_type) {
            c->first_child = 1;
        } else if (p->ps == CSS_LAST && !p->of_type) {
            c->last_child = 1;
        } else if (p->ps == CSS_CONTAINS && !c->contains) {
            c->contains = p->value;
        } else if (p->ps == CSS_NOT) {
            /* :not(a, b) is :not(a):not(b). */
            for (int a = 0; a < p->sub->n; a++) {
                struct compound *n =
                    c->n_nots < MAX_PARTS ? plan_compound(&p->sub->alts[a].c[0], 1) : NULL;
                if (!n)
                    goto fail;
                c->nots[c->n_nots++] = n;
            }
        } else {
            goto fail;
        }
    }
    return c;
fail:
    compound_free(c);
    return NULL;
}

void sel_match_free(struct sel_match *m)
{
    if (!m)
        return;
    for (int a = 0; a < m->n; a++)
        for (int i = 0; i < m->alts[a].n; i++)
            compound_free(m->alts[a].c[i]);
    free(m);
}

struct sel_match *sel_match_plan(const struct css_list *l)
{
    if (l->n > MAX_PARTS)
        return NULL;
    struct sel_match *m = calloc(1, sizeof(*m));
    if (!m)
        abort();
    for (int a = 0; a < l->n; a++) {
        const struct css_complex *cx = &l->alts[a];
        struct complex *x = &m->alts[m->n++];
        if (cx->n > MAX_PARTS)
            goto fail;
        for (int i = 0; i < cx->n; i++) {
            const struct css_compound *k = &cx->c[i];
            /* Descendant and child combinators only, none leading. */
            if (k->comb != ' ' && (k->comb != '>' || i == 0))
                goto fail;
            if (!(x->c[x->n] = plan_compound(k, 0)))
                goto fail;
            x->comb[x->n++] = k->comb;
        }
    }
    return m;
fail:
    sel_match_free(m);
    return NULL;
}

/* ------------------------------------------------------------ matching */

/* The value of attribute `name` of element e (one text child: no copy;
 * else in *own, xmlFree it), or NULL when e has none. */
static const char *attr_value(xmlNodePtr e, const char *name, xmlChar **own)
{
    for (xmlAttrPtr a = e->properties; a; a = a->next) {
        if (strcmp((const char *)a->name, name) != 0 || a->ns)
            continue;
        xmlNodePtr t = a->children;
        if (!t)
            return "";
        if (!t->next && t->type == XML_TEXT_NODE)
            return t->content ? (const char *)t->content : "";
        *own = xmlNodeListGetString(e->doc, t, 1);
        return *own ? (const char *)*own : "";
    }
    return NULL;
}

/* [name], [name=want] or another operator; as the XPath translation, an
 * empty value never matches ^= $= *=. */
static int attr_test(xmlNodePtr e, const char *name, char op, const char *want)
{
    xmlChar *own = NULL;
    const char *v = attr_value(e, name, &own);
    int hit = v != NULL;
    size_t vl = v ? strlen(v) : 0, wl = want ? strlen(want) : 0;
    if (hit && want) {
        switch (op) {
        case '^': hit = wl && strncmp(v, want, wl) == 0; break;
        case '$': hit = wl && vl >= wl && memcmp(v + vl - wl, want, wl) == 0; break;
        case '*': hit = wl && strstr(v, want) != NULL; break;
        default: hit = strcmp(v, want) == 0;
        }
    }
    xmlFree(own);
    return hit;
}

static int is_element(xmlNodePtr n)
{
    return n && n->type == XML_ELEMENT_NODE;
}

static int matches(const struct compound *c, xmlNodePtr e)
{
    if (c->tag && strcmp((const char *)e->name, c->tag) != 0)
        return 0;
    if (c->id && !attr_test(e, "id", '=', c->id))
        return 0;
    for (int i = 0; i < c->n_cls; i++)
        if (!sel_has_class(e, c->cls[i]))
            return 0;
    for (int i = 0; i < c->n_attrs; i++)
        if (!attr_test(e, c->attrs[i].name, c->attrs[i].op, c->attrs[i].value))
            return 0;
    if (c->first_child)
        for (xmlNodePtr s = e->prev; s; s = s->prev)
            if (is_element(s))
                return 0;
    if (c->last_child)
        for (xmlNodePtr s = e->next; s; s = s->next)
            if (is_element(s))
                return 0;
    for (int i = 0; i < c->n_nots; i++)
        if (matches(c->nots[i], e))
            return 0;
    if (c->contains) {
        xmlChar *text = xmlNodeGetContent(e); /* XPath's string(.) */
        int hit = text && strstr((const char *)text, c->contains);
        xmlFree(text);
        return hit;
    }
    return 1;
}

struct walk {
    const struct complex *x;
    xmlNodePtr root; /* the context node (or, `lead`, the element compound 0 is) */
    int lead;
    long budget;
};

/* Whether e is compound i of the chain, with compounds 0..i-1 on its
 * ancestors as the combinators say, inside the root. -1: out of budget. */
static int chain(struct walk *w, int i, xmlNodePtr e)
{
    if (i == 0)
        return w->lead ? e == w->root : matches(w->x->c[0], e);
    if ((w->lead && e == w->root) || !matches(w->x->c[i], e))
        return 0;
    for (xmlNodePtr p = e->parent; is_element(p); p = p->parent) {
        if (!w->lead && p == w->root)
            return 0;
        if (--w->budget < 0)
            return -1;
        int r = chain(w, i - 1, p);
        if (r)
            return r;
        if (w->x->comb[i] == '>' || p == w->root)
            return 0;
    }
    return 0;
}

/* The first element with that id, as XPath's id() finds it. */
static xmlNodePtr by_id(xmlDocPtr doc, const char *id)
{
    xmlAttrPtr a = doc ? xmlGetID(doc, (const xmlChar *)id) : NULL;
    if (!a)
        return NULL;
    if (a->type == XML_ATTRIBUTE_NODE)
        return a->parent;
    return a->type == XML_ELEMENT_NODE ? (xmlNodePtr)a : NULL;
}

/* A document's elements by name, in document order: built on the first
 * whole-document match a thread makes on a page (one walk), so a rule
 * ending in `span` or `link[rel=x]` looks at those elements only. One per
 * thread, for the latest document; a document is known by its address and
 * a stamp in its _private (a new document at a reused address has none). */
struct tag_list {
    const xmlChar *name;
    xmlNodePtr *nodes;
    size_t n, cap;
};

struct tag_index {
    xmlDocPtr doc;
    void *stamp;
    uintptr_t builds;
    struct tag_list *tab; /* open addressing, a power of two */
    size_t size, used;
};

static pthread_key_t index_key;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;
static _Thread_local struct tag_index *t_index;

static void index_free(void *p)
{
    struct tag_index *ix = p;
    for (size_t i = 0; i < ix->size; i++)
        free(ix->tab[i].nodes);
    free(ix->tab);
    free(ix);
}

static void index_key_init(void)
{
    pthread_key_create(&index_key, index_free);
}

static size_t name_hash(const xmlChar *s)
{
    size_t h = 5381;
    while (*s)
        h = h * 33 + *s++;
    return h;
}

static struct tag_list *index_slot(struct tag_index *ix, const xmlChar *name)
{
    size_t k = name_hash(name) & (ix->size - 1);
    while (ix->tab[k].name && strcmp((const char *)ix->tab[k].name, (const char *)name) != 0)
        k = (k + 1) & (ix->size - 1);
    return &ix->tab[k];
}

static void index_add(struct tag_index *ix, xmlNodePtr e)
{
    if ((ix->used + 1) * 2 > ix->size) {
        struct tag_list *old = ix->tab;
        size_t n = ix->size;
        ix->size = n ? n * 2 : 64;
        if (!(ix->tab = calloc(ix->size, sizeof(*ix->tab))))
            abort();
        for (size_t i = 0; i < n; i++)
            if (old[i].name)
                *index_slot(ix, old[i].name) = old[i];
        free(old);
    }
    struct tag_list *l = index_slot(ix, e->name);
    if (!l->name)
        l->name = e->name, ix->used++;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        if (!(l->nodes = realloc(l->nodes, l->cap * sizeof(*l->nodes))))
            abort();
    }
    l->nodes[l->n++] = e;
}

/* The elements named `name` of doc (the index built when doc is not the
 * one indexed), or NULL when there are none. */
static const struct tag_list *by_name(xmlDocPtr doc, const char *name)
{
    struct tag_index *ix = t_index;
    if (!ix) {
        pthread_once(&index_once, index_key_init);
        if (!(ix = t_index = calloc(1, sizeof(*ix))))
            abort();
        pthread_setspecific(index_key, ix);
    }
    if (ix->doc != doc || !ix->stamp || doc->_private != ix->stamp) {
        for (size_t i = 0; i < ix->size; i++) {
            free(ix->tab[i].nodes);
            ix->tab[i] = (struct tag_list){0};
        }
        ix->used = 0;
        ix->doc = doc;
        ix->stamp = (void *)(++ix->builds * 2 + 1); /* odd: never a real pointer */
        doc->_private = ix->stamp;
        xmlNodePtr root = (xmlNodePtr)doc;
        for (xmlNodePtr n = sel_walk_next(root, root, 1); n;
             n = sel_walk_next(n, root, is_element(n)))
            if (is_element(n) && n->name)
                index_add(ix, n);
    }
    if (!ix->size)
        return NULL;
    const struct tag_list *l = index_slot(ix, (const xmlChar *)name);
    return l->name ? l : NULL;
}

/* One complex selector's matches under node into set. -1: out of budget. */
static int eval_complex(const struct complex *x, xmlDocPtr doc, xmlNodePtr node, xmlNodeSetPtr set)
{
    struct walk w = {.x = x, .root = node, .budget = MATCH_BUDGET};
    int from_doc = node->type == XML_HTML_DOCUMENT_NODE || node->type == XML_DOCUMENT_NODE;
    if (from_doc && x->c[0]->id) {
        /* From the document, an id in the first compound: that element. */
        xmlNodePtr e = by_id(doc, x->c[0]->id);
        if (!is_element(e) || !matches(x->c[0], e))
            return 0;
        if (x->n == 1)
            return xmlXPathNodeSetAddUnique(set, e) < 0 ? -1 : 0;
        w.root = e;
        w.lead = 1;
    } else if (from_doc && doc && x->c[x->n - 1]->tag) {
        /* From the document, the last compound names its element: those
         * elements only, in document order. */
        const struct tag_list *l = by_name(doc, x->c[x->n - 1]->tag);
        for (size_t i = 0; l && i < l->n; i++) {
            int r = chain(&w, x->n - 1, l->nodes[i]);
            if (r < 0 || (r && xmlXPathNodeSetAddUnique(set, l->nodes[i]) < 0))
                return -1;
        }
        return 0;
    }
    for (xmlNodePtr n = sel_walk_next(w.root, w.root, 1); n;
         n = sel_walk_next(n, w.root, is_element(n))) {
        if (!is_element(n))
            continue;
        int r = chain(&w, x->n - 1, n);
        if (r < 0)
            return -1;
        if (r && xmlXPathNodeSetAddUnique(set, n) < 0)
            return -1;
    }
    return 0;
}

int sel_match_eval(const struct sel_match *m, xmlNodePtr node, xmlXPathObjectPtr *out)
{
    if (!node)
        return -1;
    xmlDocPtr doc = node->doc;
    xmlNodeSetPtr set = xmlXPathNodeSetCreate(NULL);
    if (!set)
        return -1;
    for (int a = 0; a < m->n; a++) {
        xmlNodeSetPtr part = m->n == 1 ? set : xmlXPathNodeSetCreate(NULL);
        if (!part || eval_complex(&m->alts[a], doc, node, part) < 0) {
            if (part != set)
                xmlXPathFreeNodeSet(part);
            xmlXPathFreeNodeSet(set);
            return -1;
        }
        if (part != set) {
            set = xmlXPathNodeSetMerge(set, part); /* a union: each node once */
            xmlXPathFreeNodeSet(part);
        }
    }
    if (m->n > 1)
        xmlXPathNodeSetSort(set); /* document order, as XPath's | gives */
    *out = xmlXPathWrapNodeSet(set);
    return *out ? 0 : -1;
}
