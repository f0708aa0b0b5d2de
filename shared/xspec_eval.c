/* xspec: evaluating a compiled spec on one page (see xspec.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xspec_int.h"

/* JSON-LD objects looked at per page (nested objects included). */
#define JSONLD_MAX_OBJECTS 2000

static json_t *eval_level(const struct xspec *x, struct xpage *pg, xmlNodePtr node,
                          const json_t *params);

/* Where one field's values go: the first only, or all of them. */
struct sink {
    int all;
    json_t *first; /* single: the value found */
    json_t *list;  /* all: the values */
};

/* Takes ownership of v. 1 when the field has what it needs. */
static int sink_put(struct sink *s, json_t *v)
{
    if (!v)
        return 0;
    if (!s->all) {
        s->first = v;
        return 1;
    }
    if (json_array_size(s->list) < XSPEC_MAX_ALL)
        json_array_append_new(s->list, v);
    else
        json_decref(v);
    return json_array_size(s->list) >= XSPEC_MAX_ALL;
}

/* One raw string (a node's text, an attribute, a header value) through the
 * field's regex and type into the sink. */
static int put_text(const struct xfield *f, struct xpage *pg, const char *raw, struct sink *s)
{
    if (f->all && f->re.set) {
        /* Every match in the text: "all emails in the footer". */
        json_t *found = json_array();
        xvalue_regex_all(&f->re, raw, found);
        size_t i;
        json_t *e;
        int full = 0;
        json_array_foreach(found, i, e) full =
            sink_put(s, xvalue_typed(f->type, json_string_value(e), pg));
        json_decref(found);
        return full;
    }
    char *cap = xvalue_regex(&f->re, raw);
    if (!cap)
        return 0;
    int full = sink_put(s, xvalue_typed(f->type, cap, pg));
    free(cap);
    return full;
}

static const char *node_attr(xmlNodePtr n, const char *name)
{
    if (n->type != XML_ELEMENT_NODE)
        return NULL;
    for (xmlAttrPtr a = n->properties; a; a = a->next)
        if (xmlStrcasecmp(a->name, (const xmlChar *)name) == 0)
            return a->children && a->children->content ? (const char *)a->children->content : "";
    return NULL;
}

static int put_node(const struct xfield *f, struct xpage *pg, xmlNodePtr n, struct sink *s)
{
    if (f->attr) {
        const char *v = node_attr(n, f->attr);
        return v ? put_text(f, pg, v, s) : 0;
    }
    struct buf b = BUF_INIT(XSPEC_MAX_HTML);
    if (f->type == XT_HTML)
        xvalue_html(pg->doc, n, &b);
    else
        xvalue_text(n, &b);
    int full = put_text(f, pg, buf_str(&b), s);
    buf_release(&b);
    return full;
}

static void set_positions(const struct xspec *sub, json_t *obj, size_t pos)
{
    for (size_t i = 0; i < sub->n_fields; i++)
        if (sub->fields[i].source == XS_POSITION)
            json_object_set_new(obj, sub->fields[i].name, json_integer((json_int_t)pos));
}

/* Selector alternatives in order; the first that yields a value wins. */
static void from_selectors(const struct xfield *f, struct xpage *pg, xmlNodePtr node,
                           const json_t *params, struct sink *s)
{
    for (size_t k = 0; k < f->n_sels; k++) {
        xmlXPathObjectPtr r = xpage_select(pg, f->sels[k], node);
        if (!r)
            continue;
        int full = 0;
        if (r->type == XPATH_NODESET && r->nodesetval) {
            for (int i = 0; i < r->nodesetval->nodeNr && !full; i++) {
                xmlNodePtr n = r->nodesetval->nodeTab[i];
                if (f->sub) {
                    json_t *o = eval_level(f->sub, pg, n, params);
                    if (s->all)
                        set_positions(f->sub, o, json_array_size(s->list) + 1);
                    full = sink_put(s, o);
                } else if (f->type == XT_BOOLEAN) {
                    /* Presence: the match, or a regex matching its text. */
                    json_t *v = NULL;
                    struct sink one = {0};
                    if (put_node(f, pg, n, &one) || !f->re.set)
                        v = json_true();
                    json_decref(one.first);
                    full = sink_put(s, v);
                } else {
                    full = put_node(f, pg, n, s);
                }
            }
        } else if (r->type == XPATH_STRING && r->stringval) {
            put_text(f, pg, (const char *)r->stringval, s);
        } else if (r->type == XPATH_NUMBER || r->type == XPATH_BOOLEAN) {
            xmlChar *str = xmlXPathCastToString(r);
            if (r->type == XPATH_BOOLEAN && f->type == XT_BOOLEAN)
                sink_put(s, r->boolval ? json_true() : NULL);
            else if (str)
                put_text(f, pg, (const char *)str, s);
            xmlFree(str);
        }
        xmlXPathFreeObject(r);
        if (s->first || json_array_size(s->list))
            return;
    }
}

static int type_matches(const struct xfield *f, const json_t *t)
{
    if (json_is_array(t)) {
        size_t i;
        json_t *e;
        json_array_foreach(t, i, e) if (type_matches(f, e)) return 1;
        return 0;
    }
    const char *s = json_string_value(t);
    if (!s)
        return 0;
    /* "http://schema.org/Product", "schema:Product" */
    const char *slash = strrchr(s, '/');
    if (slash)
        s = slash + 1;
    else if (strncmp(s, "schema:", 7) == 0)
        s += 7;
    for (size_t i = 0; i < f->n_ld_types; i++)
        if (strcmp(f->ld_types[i], "*") == 0 || strcmp(f->ld_types[i], s) == 0)
            return 1;
    return 0;
}

/* Follows the path from v, putting each leaf value (arrays flattened). */
static int ld_follow(const struct xfield *f, struct xpage *pg, const json_t *v, size_t step,
                     struct sink *s)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) if (ld_follow(f, pg, e, step, s)) return 1;
        return 0;
    }
    if (step < f->n_ld_path)
        return json_is_object(v)
                   ? ld_follow(f, pg, json_object_get(v, f->ld_path[step]), step + 1, s)
                   : 0;
    if (!v || json_is_null(v))
        return 0;
    if (f->re.set && json_is_string(v)) {
        char *cap = xvalue_regex(&f->re, json_string_value(v));
        int full = cap ? sink_put(s, xvalue_typed(f->type, cap, pg)) : 0;
        free(cap);
        return full;
    }
    return sink_put(s, xvalue_from_json(f->type, v, pg));
}

/* Every object of the wanted types, anywhere in the blocks (@graph,
 * nested publisher/brand objects), in document order. */
static int ld_search(const struct xfield *f, struct xpage *pg, const json_t *v, size_t *budget,
                     struct sink *s)
{
    if (!*budget)
        return 1;
    (*budget)--;
    size_t i;
    const char *k;
    json_t *e;
    if (json_is_array(v)) {
        json_array_foreach(v, i, e) if (ld_search(f, pg, e, budget, s)) return 1;
        return 0;
    }
    if (!json_is_object(v))
        return 0;
    if (type_matches(f, json_object_get(v, "@type")) && ld_follow(f, pg, v, 0, s))
        return 1;
    json_object_foreach((json_t *)v, k, e)
    {
        if ((json_is_object(e) || json_is_array(e)) && ld_search(f, pg, e, budget, s))
            return 1;
    }
    return 0;
}

static json_t *eval_field(const struct xfield *f, struct xpage *pg, xmlNodePtr node,
                          const json_t *params)
{
    struct sink s = {.all = f->all, .list = f->all ? json_array() : NULL};
    switch (f->source) {
    case XS_SELECTOR: from_selectors(f, pg, node, params, &s); break;
    case XS_SELF: sink_put(&s, eval_level(f->sub, pg, node, params)); break;
    case XS_JSONLD: {
        size_t budget = JSONLD_MAX_OBJECTS;
        ld_search(f, pg, xpage_jsonld(pg), &budget, &s);
        break;
    }
    case XS_HEADER: {
        const char *h;
        for (size_t i = 0; (h = xpage_header(pg, f->header, i)) != NULL; i++)
            if (put_text(f, pg, h, &s))
                break;
        break;
    }
    case XS_DETECT: sink_put(&s, tech_detect(f->rules, pg)); break;
    case XS_POSITION: break; /* set by the enclosing list */
    }
    if (f->type == XT_BOOLEAN && f->source != XS_POSITION) {
        int found = s.first || json_array_size(s.list);
        json_decref(s.first);
        json_decref(s.list);
        return json_boolean(found);
    }
    if (s.all) {
        if (json_array_size(s.list))
            return s.list;
        json_decref(s.list);
        return json_null();
    }
    return s.first ? s.first : json_null();
}

/* ------------------------------------------------------------ post steps */

static const json_t *operand(const json_t *obj, const json_t *params, const char *name)
{
    if (name[0] == '$') {
        const json_t *v = json_object_get(params, name + 1);
        return json_is_string(v) || json_is_number(v) ? v : NULL;
    }
    return json_object_get(obj, name);
}

static void union_add(json_t *out, const json_t *v)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) union_add(out, e);
        return;
    }
    if (!v || json_is_null(v) || json_array_size(out) >= XSPEC_MAX_ALL)
        return;
    size_t i;
    json_t *e;
    json_array_foreach(out, i, e) if (json_equal(e, (json_t *)v)) return;
    json_array_append(out, (json_t *)v);
}

static json_t *regex_value(const struct xpost *p, const json_t *v)
{
    if (json_is_string(v)) {
        char *cap = xvalue_regex(&p->re, json_string_value(v));
        json_t *r = cap && *cap ? json_string(cap) : NULL;
        free(cap);
        return r ? r : json_null();
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            json_t *r = regex_value(p, e);
            if (!json_is_null(r))
                union_add(out, r);
            json_decref(r);
        }
        if (json_array_size(out))
            return out;
        json_decref(out);
    }
    return json_null();
}

static void run_post(const struct xpost *p, json_t *obj, const json_t *params)
{
    json_t *v = NULL;
    switch (p->op) {
    case XP_FIRST:
        for (size_t i = 0; i < p->n_names && !v; i++) {
            const json_t *o = operand(obj, params, p->names[i]);
            if (o && !json_is_null(o))
                v = json_incref((json_t *)o); /* shared: no post step changes a value */
        }
        json_object_set_new(obj, p->into, v ? v : json_null());
        break;
    case XP_UNION:
        v = json_array();
        for (size_t i = 0; i < p->n_names; i++)
            union_add(v, json_object_get(obj, p->names[i]));
        if (!json_array_size(v)) {
            json_decref(v);
            v = json_null();
        }
        json_object_set_new(obj, p->into, v);
        break;
    case XP_REGEX:
        json_object_set_new(obj, p->into, regex_value(p, json_object_get(obj, p->names[0])));
        break;
    case XP_DROP:
        for (size_t i = 0; i < p->n_names; i++)
            json_object_del(obj, p->names[i]);
        break;
    }
}

static json_t *eval_fields(const struct xspec *x, struct xpage *pg, xmlNodePtr node,
                           const json_t *params)
{
    json_t *obj = json_object();
    for (size_t i = 0; i < x->n_fields; i++)
        json_object_set_new(obj, x->fields[i].name, eval_field(&x->fields[i], pg, node, params));
    return obj;
}

static void eval_post(const struct xspec *x, json_t *obj, const json_t *params)
{
    for (size_t i = 0; i < x->n_post; i++)
        run_post(&x->post[i], obj, params);
}

static json_t *eval_level(const struct xspec *x, struct xpage *pg, xmlNodePtr node,
                          const json_t *params)
{
    json_t *obj = eval_fields(x, pg, node, params);
    eval_post(x, obj, params);
    return obj;
}

/* Whether the page shows anything: a non-blank text outside <head>,
 * scripts and styles, or an image. Stops at the first. */
static int has_content(xmlDocPtr doc)
{
    static const char *const hidden[] = {"head", "script", "style", "noscript", "template", NULL};
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNodePtr n = root;
    while (n) {
        int descend = 0;
        if (n->type == XML_TEXT_NODE && n->content) {
            for (const xmlChar *c = n->content; *c; c++)
                if (!strchr(" \t\r\n\f", *c))
                    return 1;
        } else if (n->type == XML_ELEMENT_NODE) {
            size_t i = 0;
            while (hidden[i] && xmlStrcmp(n->name, (const xmlChar *)hidden[i]))
                i++;
            if (xmlStrcmp(n->name, (const xmlChar *)"img") == 0)
                return 1;
            descend = !hidden[i];
        }
        n = sel_walk_next(n, root, descend);
    }
    return 0;
}

json_t *xspec_eval(const struct xspec *x, struct xpage *pg, const json_t *params,
                   enum xspec_status *status)
{
    *status = XSPEC_OK;
    sel_quiet_begin();
    xmlNodePtr top = (xmlNodePtr)pg->doc;
    for (size_t i = 0; i < x->n_captcha; i++) {
        xmlXPathObjectPtr r = xpage_select(pg, x->captcha[i], top);
        int hit = r && ((r->type == XPATH_NODESET && r->nodesetval && r->nodesetval->nodeNr) ||
                        (r->type == XPATH_BOOLEAN && r->boolval));
        xmlXPathFreeObject(r);
        if (hit) {
            *status = XSPEC_CAPTCHA;
            sel_quiet_end();
            return json_object();
        }
    }
    json_t *obj = eval_fields(x, pg, top, params);
    sel_quiet_end();
    if (!has_content(pg->doc))
        *status = XSPEC_EMPTY;
    /* Required fields are checked before post steps, which may fill a
     * field from a parameter or drop the helper that was required. */
    for (size_t i = 0; i < x->n_required && *status == XSPEC_OK; i++) {
        const json_t *v = json_object_get(obj, x->required[i]);
        if (!v || json_is_null(v) || json_is_false(v))
            *status = XSPEC_EMPTY;
    }
    eval_post(x, obj, params);
    return obj;
}
