#include "tech.h"

#include <ctype.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "embedded.h"
#include "jx.h"
#include "sel.h"

#define MAX_TECHS        1000
#define MAX_EVIDENCE     32  /* of one kind, per technology */
#define PAGE_MAX_SOURCES 500 /* script/link/meta values looked at per page */

/* One regex test, on a named value (header, meta) or on a list. */
struct probe {
    char *key; /* header or meta name; NULL for lists */
    regex_t re;
    int version; /* the regex has a group holding the version */
};

struct dom_probe {
    struct sel *sel;
    char *attr; /* its value is the version when it looks like one */
};

struct tech {
    char *name;
    json_t *categories;
    struct probe *headers, *cookies, *meta, *scripts, *links;
    size_t n_headers, n_cookies, n_meta, n_scripts, n_links;
    char **html;
    size_t n_html;
    struct dom_probe *dom;
    size_t n_dom;
    char **implies;
    size_t n_implies;
};

struct tech_rules {
    struct tech *t;
    size_t n;
};

struct cerr {
    char *errstr;
    size_t size;
};

static int fail(struct cerr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct cerr *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->errstr, e->size, fmt, ap);
    va_end(ap);
    return -1;
}

static void *zalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

static int compile_probe(struct cerr *e, const char *where, const char *key, const json_t *pat,
                         struct probe *p)
{
    const char *s = json_string_value(pat);
    if (!s || strlen(s) > 512)
        return fail(e, "%s: must be a regex string", where);
    int rc = regcomp(&p->re, s, REG_EXTENDED | REG_ICASE);
    if (rc) {
        char msg[128];
        regerror(rc, &p->re, msg, sizeof(msg));
        return fail(e, "%s: invalid regex: %s", where, msg);
    }
    p->version = p->re.re_nsub > 0;
    if (key) {
        p->key = strdup(key);
        if (!p->key)
            abort();
    }
    return 0;
}

/* A list (array of patterns) or a map (name -> pattern) of probes. */
static int compile_probes(struct cerr *e, const char *where, const json_t *v, int keyed,
                          struct probe **out, size_t *n)
{
    char w[300];
    if (!v)
        return 0;
    size_t count = keyed ? json_object_size(v) : json_array_size(v);
    if ((keyed && !json_is_object(v)) || (!keyed && !json_is_array(v)) || count > MAX_EVIDENCE)
        return fail(e, "%s: must be %s (at most %d)", where,
                    keyed ? "an object of name: regex" : "an array of regexes", MAX_EVIDENCE);
    *out = zalloc(count, sizeof(**out));
    if (keyed) {
        const char *k;
        json_t *p;
        json_object_foreach((json_t *)v, k, p)
        {
            snprintf(w, sizeof(w), "%s.%s", where, k);
            if (compile_probe(e, w, k, p, &(*out)[*n]))
                return -1;
            (*n)++;
        }
    } else {
        size_t i;
        json_t *p;
        json_array_foreach(v, i, p)
        {
            snprintf(w, sizeof(w), "%s[%zu]", where, i);
            if (compile_probe(e, w, NULL, p, &(*out)[*n]))
                return -1;
            (*n)++;
        }
    }
    return 0;
}

static int string_list(struct cerr *e, const char *where, const json_t *v, char ***out, size_t *n)
{
    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > MAX_EVIDENCE)
        return fail(e, "%s: must be an array of strings", where);
    *out = zalloc(json_array_size(v), sizeof(char *));
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s)
    {
        if (!json_is_string(s) || !json_string_length(s))
            return fail(e, "%s[%zu]: must be a non-empty string", where, i);
        (*out)[(*n)++] = strdup(json_string_value(s));
    }
    return 0;
}

static int compile_tech(struct cerr *e, size_t idx, const json_t *v, struct tech *t)
{
    char w[300];
    const char *name = json_string_value(json_object_get(v, "name"));
    if (!json_is_object(v) || !name || !*name)
        return fail(e, "technologies[%zu]: needs a name", idx);
    t->name = strdup(name);
    static const char *const known[] = {"name", "categories", "headers", "cookies",
                                        "meta", "scripts",    "links",   "html",
                                        "dom",  "implies",    "website", NULL};
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k))
            i++;
        if (!known[i])
            return fail(e, "technologies[%zu] (%s): unknown member '%s'", idx, name, k);
    }
    const json_t *cats = json_object_get(v, "categories");
    if (!json_is_array(cats) || !json_array_size(cats))
        return fail(e, "technologies[%zu] (%s).categories: must be a non-empty array", idx, name);
    t->categories = json_incref((json_t *)cats);
#define WHERE(kind) (snprintf(w, sizeof(w), "technologies[%zu] (%s).%s", idx, name, kind), w)
    if (compile_probes(e, WHERE("headers"), json_object_get(v, "headers"), 1, &t->headers,
                       &t->n_headers) ||
        compile_probes(e, WHERE("cookies"), json_object_get(v, "cookies"), 0, &t->cookies,
                       &t->n_cookies) ||
        compile_probes(e, WHERE("meta"), json_object_get(v, "meta"), 1, &t->meta, &t->n_meta) ||
        compile_probes(e, WHERE("scripts"), json_object_get(v, "scripts"), 0, &t->scripts,
                       &t->n_scripts) ||
        compile_probes(e, WHERE("links"), json_object_get(v, "links"), 0, &t->links, &t->n_links) ||
        string_list(e, WHERE("html"), json_object_get(v, "html"), &t->html, &t->n_html) ||
        string_list(e, WHERE("implies"), json_object_get(v, "implies"), &t->implies, &t->n_implies))
        return -1;
    const json_t *dom = json_object_get(v, "dom");
    if (dom) {
        if (!json_is_array(dom) || json_array_size(dom) > MAX_EVIDENCE)
            return fail(e, "%s: must be an array of {selector, attr}", WHERE("dom"));
        t->dom = zalloc(json_array_size(dom), sizeof(*t->dom));
        size_t i;
        json_t *d;
        json_array_foreach(dom, i, d)
        {
            char se[200];
            const char *s = json_string_value(json_object_get(d, "selector"));
            const char *a = json_string_value(json_object_get(d, "attr"));
            struct dom_probe *p = &t->dom[t->n_dom];
            if (!s)
                return fail(e, "%s[%zu]: needs a selector", WHERE("dom"), i);
            p->sel = sel_compile(s, se, sizeof(se));
            if (!p->sel)
                return fail(e, "%s[%zu].selector: %s", WHERE("dom"), i, se);
            p->attr = a ? strdup(a) : NULL;
            t->n_dom++;
        }
    }
#undef WHERE
    return 0;
}

static void free_probes(struct probe *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        regfree(&p[i].re);
        free(p[i].key);
    }
    free(p);
}

void tech_rules_free(struct tech_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        struct tech *t = &r->t[i];
        free(t->name);
        json_decref(t->categories);
        free_probes(t->headers, t->n_headers);
        free_probes(t->cookies, t->n_cookies);
        free_probes(t->meta, t->n_meta);
        free_probes(t->scripts, t->n_scripts);
        free_probes(t->links, t->n_links);
        for (size_t k = 0; k < t->n_html; k++)
            free(t->html[k]);
        free(t->html);
        for (size_t k = 0; k < t->n_dom; k++) {
            sel_free(t->dom[k].sel);
            free(t->dom[k].attr);
        }
        free(t->dom);
        for (size_t k = 0; k < t->n_implies; k++)
            free(t->implies[k]);
        free(t->implies);
    }
    free(r->t);
    free(r);
}

struct tech_rules *tech_rules_compile(const json_t *doc, char *errstr, size_t errstr_size)
{
    struct cerr e = {errstr, errstr_size};
    const json_t *list = json_object_get(doc, "technologies");
    if (!json_is_array(list) || json_array_size(list) > MAX_TECHS) {
        fail(&e, "technologies: must be an array of at most %d rules", MAX_TECHS);
        return NULL;
    }
    struct tech_rules *r = zalloc(1, sizeof(*r));
    r->t = zalloc(json_array_size(list), sizeof(*r->t));
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        r->n++;
        if (compile_tech(&e, i, v, &r->t[i]))
            goto fail;
    }
    /* Every implied technology must have a rule of its own. */
    for (i = 0; i < r->n; i++)
        for (size_t k = 0; k < r->t[i].n_implies; k++) {
            size_t j = 0;
            while (j < r->n && strcmp(r->t[j].name, r->t[i].implies[k]))
                j++;
            if (j == r->n) {
                fail(&e, "technologies[%zu] (%s).implies: no rule named '%s'", i, r->t[i].name,
                     r->t[i].implies[k]);
                goto fail;
            }
        }
    return r;
fail:
    tech_rules_free(r);
    return NULL;
}

size_t tech_rules_count(const struct tech_rules *r)
{
    return r->n;
}

static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;
static struct tech_rules *builtin;
static char builtin_err[256];

static void builtin_load(void)
{
    const struct embedded_file *f = embedded_find("tech.rules.json");
    if (!f) {
        snprintf(builtin_err, sizeof(builtin_err), "tech.rules.json is not built in");
        return;
    }
    char e[200];
    json_t *doc = jx_parse(f->data, f->len, 16, e, sizeof(e));
    if (!doc) {
        snprintf(builtin_err, sizeof(builtin_err), "tech.rules.json: %s", e);
        return;
    }
    builtin = tech_rules_compile(doc, e, sizeof(e));
    if (!builtin)
        snprintf(builtin_err, sizeof(builtin_err), "tech.rules.json: %s", e);
    json_decref(doc);
}

const struct tech_rules *tech_builtin(char *errstr, size_t errstr_size)
{
    pthread_once(&builtin_once, builtin_load);
    if (!builtin)
        snprintf(errstr, errstr_size, "%s", builtin_err);
    return builtin;
}

/* ------------------------------------------------------------ detection */

/* What rules look at, gathered in one walk of the document. */
struct sources {
    json_t *scripts; /* src values */
    json_t *links;   /* href values */
    json_t *meta;    /* [name, content] pairs, names lower case */
};

static const char *attr_of(xmlNodePtr n, const char *name)
{
    for (xmlAttrPtr a = n->properties; a; a = a->next)
        if (xmlStrcmp(a->name, (const xmlChar *)name) == 0)
            return a->children && a->children->content ? (const char *)a->children->content : "";
    return NULL;
}

static void add_str(json_t *arr, const char *s)
{
    json_t *v = s && *s && json_array_size(arr) < PAGE_MAX_SOURCES ? json_string(s) : NULL;
    if (v)
        json_array_append_new(arr, v);
}

static void gather(xmlDocPtr doc, struct sources *s)
{
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL, n = root;
    while (n) {
        if (n->type == XML_ELEMENT_NODE) {
            if (xmlStrcmp(n->name, (const xmlChar *)"script") == 0)
                add_str(s->scripts, attr_of(n, "src"));
            else if (xmlStrcmp(n->name, (const xmlChar *)"link") == 0)
                add_str(s->links, attr_of(n, "href"));
            else if (xmlStrcmp(n->name, (const xmlChar *)"meta") == 0) {
                const char *name = attr_of(n, "name");
                if (!name)
                    name = attr_of(n, "property");
                const char *content = attr_of(n, "content");
                if (name && content && json_array_size(s->meta) < PAGE_MAX_SOURCES) {
                    char low[64];
                    size_t i = 0;
                    for (; name[i] && i + 1 < sizeof(low); i++)
                        low[i] = (char)tolower((unsigned char)name[i]);
                    low[i] = '\0';
                    json_t *pair = json_pack("[s,s]", low, content);
                    if (pair)
                        json_array_append_new(s->meta, pair);
                }
            }
        }
        n = sel_walk_next(n, root, n->type == XML_ELEMENT_NODE);
    }
}

/* Runs p on s; 1 on a match, with the version (the first group that
 * caught something starting with a digit: "(analytics|ga)" is no version)
 * written to ver unless one is there already. */
static int probe_match(const struct probe *p, const char *s, char *ver, size_t ver_size)
{
    regmatch_t m[10];
    if (strlen(s) > 4096 || regexec(&p->re, s, 10, m, 0) != 0)
        return 0;
    for (size_t g = 1; p->version && !ver[0] && g <= p->re.re_nsub && g < 10; g++) {
        size_t n = (size_t)(m[g].rm_eo - m[g].rm_so);
        if (m[g].rm_so < 0 || !n || n >= ver_size || !isdigit((unsigned char)s[m[g].rm_so]))
            continue;
        memcpy(ver, s + m[g].rm_so, n);
        ver[n] = '\0';
    }
    return 1;
}

static int probe_list(const struct probe *p, size_t n, const json_t *values, char *ver, size_t vs)
{
    int hit = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i;
        json_t *v;
        json_array_foreach(values, i, v) if (probe_match(&p[k], json_string_value(v), ver, vs))
        {
            hit = 1;
            if (!p[k].version || ver[0])
                break;
        }
    }
    return hit;
}

static int detect_one(const struct tech *t, struct xpage *pg, const struct sources *src, char *ver,
                      size_t vs)
{
    int hit = 0;
    for (size_t k = 0; k < t->n_headers; k++) {
        const char *h;
        for (size_t i = 0; (h = xpage_header(pg, t->headers[k].key, i)) != NULL; i++)
            hit |= probe_match(&t->headers[k], h, ver, vs);
    }
    if (t->n_cookies)
        hit |= probe_list(t->cookies, t->n_cookies, xpage_cookies(pg), ver, vs);
    for (size_t k = 0; k < t->n_meta; k++) {
        size_t i;
        json_t *pair;
        json_array_foreach(src->meta, i, pair)
        {
            if (strcasecmp(json_string_value(json_array_get(pair, 0)), t->meta[k].key) == 0)
                hit |=
                    probe_match(&t->meta[k], json_string_value(json_array_get(pair, 1)), ver, vs);
        }
    }
    if (t->n_scripts)
        hit |= probe_list(t->scripts, t->n_scripts, src->scripts, ver, vs);
    if (t->n_links)
        hit |= probe_list(t->links, t->n_links, src->links, ver, vs);
    for (size_t k = 0; k < t->n_html && !hit; k++)
        hit = memmem(pg->body, pg->body_len, t->html[k], strlen(t->html[k])) != NULL;
    for (size_t k = 0; k < t->n_dom; k++) {
        xmlXPathObjectPtr r = xpage_select(pg, t->dom[k].sel, (xmlNodePtr)pg->doc);
        if (r && r->type == XPATH_NODESET && r->nodesetval && r->nodesetval->nodeNr) {
            hit = 1;
            xmlNodePtr n = r->nodesetval->nodeTab[0];
            const char *a =
                t->dom[k].attr && n->type == XML_ELEMENT_NODE ? attr_of(n, t->dom[k].attr) : NULL;
            if (a && isdigit((unsigned char)a[0]) && !ver[0] && strlen(a) < vs)
                snprintf(ver, vs, "%s", a);
        }
        xmlXPathFreeObject(r);
    }
    return hit;
}

static int listed(const json_t *out, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(out, i, v) if (strcmp(json_string_value(json_object_get(v, "name")), name) ==
                                      0) return 1;
    return 0;
}

json_t *tech_detect(const struct tech_rules *r, struct xpage *pg)
{
    struct sources src = {json_array(), json_array(), json_array()};
    gather(pg->doc, &src);
    json_t *out = json_array();
    sel_quiet_begin();
    for (size_t i = 0; i < r->n; i++) {
        char ver[64] = "";
        if (!detect_one(&r->t[i], pg, &src, ver, sizeof(ver)))
            continue;
        json_array_append_new(out, json_pack("{s:s,s:O,s:o}", "name", r->t[i].name, "categories",
                                             r->t[i].categories, "version",
                                             ver[0] ? json_string(ver) : json_null()));
    }
    sel_quiet_end();
    /* Implied technologies (a Shopify store runs on Ruby on Rails ...),
     * transitively: the list grows while it is walked. */
    for (size_t i = 0; i < json_array_size(out); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(out, i), "name"));
        for (size_t k = 0; k < r->n; k++) {
            if (strcmp(r->t[k].name, name))
                continue;
            for (size_t m = 0; m < r->t[k].n_implies; m++) {
                const char *imp = r->t[k].implies[m];
                for (size_t j = 0; j < r->n; j++)
                    if (strcmp(r->t[j].name, imp) == 0 && !listed(out, imp))
                        json_array_append_new(out,
                                              json_pack("{s:s,s:O,s:n}", "name", imp, "categories",
                                                        r->t[j].categories, "version"));
            }
        }
    }
    json_decref(src.scripts);
    json_decref(src.links);
    json_decref(src.meta);
    return out;
}
