/* xspec: compiling a spec (see xspec.h); evaluation is in xspec_eval.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xspec_int.h"

#define REGEX_MAX_LEN 1024
#define NAME_MAX_LEN  64

struct cctx {
    char *errstr;
    size_t errstr_size;
};

static int err(struct cctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int err(struct cctx *c, const char *path, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(c->errstr, c->errstr_size, "%s: %s", path, msg);
    return -1;
}

#define PATH_LEN 256

/* base + suffix into out, cut at PATH_LEN (a path in an error message). */
static void pathcat(char *out, const char *base, const char *suffix)
{
    size_t a = strnlen(base, PATH_LEN - 1), b = strnlen(suffix, PATH_LEN - 1 - a);
    memmove(out, base, a);
    memcpy(out + a, suffix, b);
    out[a + b] = '\0';
}

static char *dup_str(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static void *zalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

/* Field names: what a JSON consumer can use as an identifier. */
static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > NAME_MAX_LEN)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* The literal every match of ERE p starts with (into re->prefix): the
 * leading characters (after a ^) up to the first operator, less one a
 * quantifier makes optional. None with an alternation anywhere. */
static void regex_prefix(const char *p, struct xregex *re)
{
    static const char ops[] = ".[]()*+?{}|^$\\";
    re->prefix_len = 0;
    for (const char *q = p; *q; q++)
        if (*q == '\\' && q[1])
            q++;
        else if (*q == '|')
            return;
    size_t n = 0;
    const char *q = p;
    re->anchored = *q == '^';
    q += re->anchored;
    while (*q) {
        const char *from = q, *next;
        size_t len = 1;
        unsigned char c0 = (unsigned char)q[0];
        if (q[0] == '\\' && q[1] && strchr(ops, q[1]))
            from = q + 1, next = q + 2; /* an escaped operator is itself */
        else if (c0 < 0x80 && !strchr(ops, q[0]))
            next = q + 1;
        else if (c0 >= 0xc2 && c0 <= 0xf4 &&
                 (len = c0 >= 0xf0   ? 4
                        : c0 >= 0xe0 ? 3
                                     : 2) &&
                 memchr(q, '\0', len) == NULL) /* a UTF-8 character, kept whole */
            next = q + len;
        else
            break;
        /* Optional or counted (whatever a quantifier takes of a multibyte
         * character): not part of every match. */
        if (*next == '*' || *next == '?' || *next == '{' || n + len >= sizeof(re->prefix))
            break;
        memcpy(re->prefix + n, from, len);
        n += len;
        q = next;
        if (*q == '+')
            break;
    }
    re->prefix[n] = '\0';
    re->prefix_len = n;
}

static int compile_regex(struct cctx *c, const char *path, const json_t *pattern,
                         const json_t *group, struct xregex *out)
{
    const char *p = json_string_value(pattern);
    if (!p || !*p)
        return err(c, path, "must be a non-empty string");
    if (strlen(p) > REGEX_MAX_LEN)
        return err(c, path, "longer than %d bytes", REGEX_MAX_LEN);
    int flags = REG_EXTENDED;
    if (strncmp(p, "(?i)", 4) == 0)
        flags |= REG_ICASE, p += 4;
    /* Back-references make matching exponential on hostile text. */
    for (const char *q = p; *q; q++)
        if (q[0] == '\\' && q[1] >= '1' && q[1] <= '9')
            return err(c, path, "back-references are not supported");
    int rc = regcomp(&out->re, p, flags);
    if (rc) {
        char msg[128];
        regerror(rc, &out->re, msg, sizeof(msg));
        return err(c, path, "invalid regex: %s", msg);
    }
    out->set = 1;
    out->group = out->re.re_nsub ? -1 : 0; /* -1: the first group that matched */
    if (!(flags & REG_ICASE))
        regex_prefix(p, out);
    if (group) {
        if (!json_is_integer(group) || json_integer_value(group) < 0 ||
            (size_t)json_integer_value(group) > out->re.re_nsub) {
            regfree(&out->re);
            out->set = 0;
            return err(c, path, "group must be 0..%zu", out->re.re_nsub);
        }
        out->group = (int)json_integer_value(group);
    }
    return 0;
}

static const char *const type_names[] = {"string", "number", "integer", "price",
                                         "url",    "html",   "boolean"};

static int compile_spec_level(struct cctx *c, const char *path, const json_t *fields,
                              const json_t *post, int depth, struct xspec *x);

static int compile_selectors(struct cctx *c, const char *path, const json_t *v, struct xfield *f)
{
    char p[PATH_LEN], e[200];
    if (json_is_string(v)) {
        f->sels = zalloc(1, sizeof(*f->sels));
        f->sels[0] = sel_compile(json_string_value(v), e, sizeof(e));
        if (!f->sels[0])
            return err(c, path, "%s", e);
        f->n_sels = 1;
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 16)
        return err(c, path, "must be a selector or an array of 1 to 16 selectors");
    f->sels = zalloc(json_array_size(v), sizeof(*f->sels));
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s)
    {
        char idx[32];
        snprintf(idx, sizeof(idx), "[%zu]", i);
        pathcat(p, path, idx);
        if (!json_is_string(s))
            return err(c, p, "must be a string");
        f->sels[i] = sel_compile(json_string_value(s), e, sizeof(e));
        if (!f->sels[i])
            return err(c, p, "%s", e);
        f->n_sels = i + 1;
    }
    return 0;
}

/* "Organization|Corporation.address.streetAddress" */
static int compile_jsonld(struct cctx *c, const char *path, const json_t *v, struct xfield *f)
{
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > 256)
        return err(c, path, "must be \"Type.path\" (Type may be A|B or *)");
    size_t tl = strcspn(s, ".");
    char *types = strndup(s, tl);
    if (!types)
        abort();
    f->ld_types = zalloc(17, sizeof(char *));
    for (char *save = NULL, *t = strtok_r(types, "|", &save); t; t = strtok_r(NULL, "|", &save)) {
        if (f->n_ld_types == 16 || !*t) {
            free(types);
            return err(c, path, "at most 16 types");
        }
        f->ld_types[f->n_ld_types++] = dup_str(t);
    }
    free(types);
    if (!f->n_ld_types)
        return err(c, path, "no type before the path");
    f->ld_path = zalloc(17, sizeof(char *));
    const char *p = s + tl;
    while (*p == '.') {
        p++;
        size_t n = strcspn(p, ".");
        if (!n || f->n_ld_path == 16)
            return err(c, path, "empty or too long path");
        f->ld_path[f->n_ld_path++] = strndup(p, n);
        p += n;
    }
    return 0;
}

static int compile_field(struct cctx *c, const char *path, const char *name, const json_t *v,
                         int depth, struct xfield *f)
{
    char p[PATH_LEN];
    f->name = dup_str(name);
    if (json_is_string(v)) {
        f->source = XS_SELECTOR;
        return compile_selectors(c, path, v, f);
    }
    if (!json_is_object(v))
        return err(c, path, "must be a selector or an object");
    static const char *const known[] = {"selector", "attr",     "all",  "type",   "regex",
                                        "group",    "fields",   "post", "jsonld", "header",
                                        "detect",   "position", NULL};
    const char *key;
    json_t *m;
    json_object_foreach((json_t *)v, key, m)
    {
        size_t k = 0;
        while (known[k] && strcmp(known[k], key) != 0)
            k++;
        if (!known[k])
            return err(c, path, "unknown member '%s'", key);
    }
    const json_t *sel = json_object_get(v, "selector"), *ld = json_object_get(v, "jsonld"),
                 *hdr = json_object_get(v, "header"), *det = json_object_get(v, "detect"),
                 *pos = json_object_get(v, "position"), *sub = json_object_get(v, "fields");
    int sources = !!sel + !!ld + !!hdr + !!det + !!pos;
    if (sources > 1)
        return err(c, path, "one of selector, jsonld, header, detect, position");
    if (!sources && !sub)
        return err(c, path, "needs a selector (or jsonld, header, detect, position, fields)");
    if (sub && (ld || hdr || det || pos))
        return err(c, path, "fields go with a selector or alone");
    const json_t *type = json_object_get(v, "type");
    if (type) {
        size_t t = 0;
        const char *ts = json_string_value(type);
        while (ts && t < sizeof(type_names) / sizeof(type_names[0]) && strcmp(ts, type_names[t]))
            t++;
        if (!ts || t == sizeof(type_names) / sizeof(type_names[0]))
            return err(c, path,
                       "type must be string, number, integer, price, url, html or boolean");
        if (sub)
            return err(c, path, "a field with nested fields has no type");
        f->type = (enum xtype)t;
    }
    const json_t *all = json_object_get(v, "all");
    if (all && !json_is_boolean(all))
        return err(c, path, "all must be true or false");
    f->all = json_is_true(all);
    const json_t *attr = json_object_get(v, "attr");
    if (attr) {
        if (!json_is_string(attr) || !name_ok(json_string_value(attr)) || !sel)
            return err(c, path, "attr must be an attribute name, with a selector");
        f->attr = dup_str(json_string_value(attr));
    }
    if (json_object_get(v, "group") && !json_object_get(v, "regex"))
        return err(c, path, "group goes with regex");
    if (json_object_get(v, "regex")) {
        pathcat(p, path, ".regex");
        if (compile_regex(c, p, json_object_get(v, "regex"), json_object_get(v, "group"), &f->re))
            return -1;
    }
    if (json_object_get(v, "post") && !sub)
        return err(c, path, "post goes with fields");
    if (sel) {
        f->source = XS_SELECTOR;
        pathcat(p, path, ".selector");
        if (compile_selectors(c, p, sel, f))
            return -1;
    } else if (ld) {
        f->source = XS_JSONLD;
        pathcat(p, path, ".jsonld");
        if (compile_jsonld(c, p, ld, f))
            return -1;
    } else if (hdr) {
        f->source = XS_HEADER;
        if (!json_is_string(hdr) || !name_ok(json_string_value(hdr)))
            return err(c, path, "header must be a header name");
        f->header = dup_str(json_string_value(hdr));
    } else if (det) {
        char e[200];
        f->source = XS_DETECT;
        if (!json_is_string(det) || strcmp(json_string_value(det), "technologies") != 0)
            return err(c, path, "detect must be \"technologies\"");
        f->rules = tech_builtin(e, sizeof(e));
        if (!f->rules)
            return err(c, path, "%s", e);
    } else if (pos) {
        f->source = XS_POSITION;
        if (!json_is_true(pos))
            return err(c, path, "position must be true");
        if (depth == 0)
            return err(c, path, "position is for fields nested in an \"all\" field");
    } else {
        f->source = XS_SELF;
    }
    if (sub) {
        if (depth + 1 >= XSPEC_MAX_DEPTH)
            return err(c, path, "fields nest at most %d deep", XSPEC_MAX_DEPTH);
        f->sub = zalloc(1, sizeof(*f->sub));
        pathcat(p, path, ".fields");
        if (compile_spec_level(c, p, sub, json_object_get(v, "post"), depth + 1, f->sub))
            return -1;
    }
    return 0;
}

static int compile_names(struct cctx *c, const char *path, const json_t *v, int params_ok,
                         struct xpost *s)
{
    if (!json_is_array(v) || !json_array_size(v) || json_array_size(v) > XSPEC_MAX_FIELDS)
        return err(c, path, "must be a non-empty array of field names");
    s->names = zalloc(json_array_size(v), sizeof(char *));
    size_t i;
    json_t *n;
    json_array_foreach(v, i, n)
    {
        const char *str = json_string_value(n);
        if (!str || !name_ok(str + (params_ok && str[0] == '$')))
            return err(c, path, "item %zu is not a field name%s", i, params_ok ? " or $param" : "");
        s->names[s->n_names++] = dup_str(str);
    }
    return 0;
}

static int compile_post(struct cctx *c, const char *path, const json_t *v, struct xpost *s)
{
    char p[PATH_LEN];
    if (!json_is_object(v))
        return err(c, path, "must be an object");
    const json_t *into = json_object_get(v, "into");
    if (into && (!json_is_string(into) || !name_ok(json_string_value(into))))
        return err(c, path, "into must be a field name");
    const char *key;
    json_t *m;
    json_object_foreach((json_t *)v, key, m)
    {
        if (strcmp(key, "first") && strcmp(key, "union") && strcmp(key, "drop") &&
            strcmp(key, "regex") && strcmp(key, "from") && strcmp(key, "into") &&
            strcmp(key, "group"))
            return err(c, path, "unknown member '%s'", key);
    }
    if (json_object_get(v, "first") || json_object_get(v, "union")) {
        int first = json_object_get(v, "first") != NULL;
        s->op = first ? XP_FIRST : XP_UNION;
        pathcat(p, path, first ? ".first" : ".union");
        if (compile_names(c, p, json_object_get(v, first ? "first" : "union"), first, s))
            return -1;
        if (!into)
            return err(c, path, "needs into");
    } else if (json_object_get(v, "drop")) {
        s->op = XP_DROP;
        pathcat(p, path, ".drop");
        if (compile_names(c, p, json_object_get(v, "drop"), 0, s))
            return -1;
    } else if (json_object_get(v, "regex")) {
        s->op = XP_REGEX;
        const char *from = json_string_value(json_object_get(v, "from"));
        if (!from || !name_ok(from))
            return err(c, path, "regex needs from (a field name)");
        s->names = zalloc(1, sizeof(char *));
        s->names[0] = dup_str(from);
        s->n_names = 1;
        pathcat(p, path, ".regex");
        if (compile_regex(c, p, json_object_get(v, "regex"), json_object_get(v, "group"), &s->re))
            return -1;
    } else {
        return err(c, path, "must be one of first, union, regex, drop");
    }
    s->into = dup_str(into ? json_string_value(into) : s->names[0]);
    return 0;
}

static int compile_spec_level(struct cctx *c, const char *path, const json_t *fields,
                              const json_t *post, int depth, struct xspec *x)
{
    char p[PATH_LEN];
    if (!json_is_object(fields) || !json_object_size(fields))
        return err(c, path, "must be an object of fields");
    if (json_object_size(fields) > XSPEC_MAX_FIELDS)
        return err(c, path, "more than %d fields", XSPEC_MAX_FIELDS);
    x->fields = zalloc(json_object_size(fields), sizeof(*x->fields));
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)fields, name, v)
    {
        pathcat(p, path, ".");
        pathcat(p, p, name);
        if (!name_ok(name))
            return err(c, p, "field names are 1 to %d letters, digits, '_' or '-'", NAME_MAX_LEN);
        /* Counted before compiling, so a half-compiled field is freed too. */
        struct xfield *f = &x->fields[x->n_fields++];
        if (compile_field(c, p, name, v, depth, f))
            return -1;
    }
    if (post) {
        const char *pp = strrchr(path, '.');
        size_t keep = pp ? (size_t)(pp - path + 1) : 0;
        memcpy(p, path, keep);
        p[keep] = '\0';
        pathcat(p, p, "post");
        if (!json_is_array(post) || json_array_size(post) > XSPEC_MAX_FIELDS)
            return err(c, p, "must be an array of at most %d steps", XSPEC_MAX_FIELDS);
        x->post = zalloc(json_array_size(post), sizeof(*x->post));
        size_t i;
        json_array_foreach(post, i, v)
        {
            char ip[PATH_LEN], idx[32];
            snprintf(idx, sizeof(idx), "[%zu]", i);
            pathcat(ip, p, idx);
            if (compile_post(c, ip, v, &x->post[x->n_post++]))
                return -1;
        }
    }
    return 0;
}

static void free_level(struct xspec *x);

static void free_field(struct xfield *f)
{
    free(f->name);
    for (size_t i = 0; i < f->n_sels; i++)
        sel_free(f->sels[i]);
    free(f->sels);
    free(f->attr);
    if (f->re.set)
        regfree(&f->re.re);
    for (size_t i = 0; i < f->n_ld_types; i++)
        free(f->ld_types[i]);
    free(f->ld_types);
    for (size_t i = 0; i < f->n_ld_path; i++)
        free(f->ld_path[i]);
    free(f->ld_path);
    free(f->header);
    if (f->sub) {
        free_level(f->sub);
        free(f->sub);
    }
}

static void free_level(struct xspec *x)
{
    for (size_t i = 0; i < x->n_fields; i++)
        free_field(&x->fields[i]);
    free(x->fields);
    for (size_t i = 0; i < x->n_post; i++) {
        for (size_t k = 0; k < x->post[i].n_names; k++)
            free(x->post[i].names[k]);
        free(x->post[i].names);
        free(x->post[i].into);
        if (x->post[i].re.set)
            regfree(&x->post[i].re.re);
    }
    free(x->post);
    for (size_t i = 0; i < x->n_required; i++)
        free(x->required[i]);
    free(x->required);
    for (size_t i = 0; i < x->n_captcha; i++)
        sel_free(x->captcha[i]);
    free(x->captcha);
}

void xspec_free(struct xspec *x)
{
    if (!x)
        return;
    free_level(x);
    free(x);
}

struct xspec *xspec_compile(const json_t *spec, char *errstr, size_t errstr_size)
{
    struct cctx c = {errstr, errstr_size};
    struct xspec *x = zalloc(1, sizeof(*x));
    if (!json_is_object(spec)) {
        err(&c, "extract", "must be an object with \"fields\"");
        goto fail;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)spec, key, v)
    {
        if (strcmp(key, "fields") && strcmp(key, "post") && strcmp(key, "required") &&
            strcmp(key, "captcha")) {
            err(&c, "extract", "unknown member '%s'", key);
            goto fail;
        }
    }
    if (compile_spec_level(&c, "fields", json_object_get(spec, "fields"),
                           json_object_get(spec, "post"), 0, x))
        goto fail;
    const json_t *req = json_object_get(spec, "required");
    if (req) {
        struct xpost tmp = {0};
        if (compile_names(&c, "required", req, 0, &tmp)) {
            for (size_t i = 0; i < tmp.n_names; i++)
                free(tmp.names[i]);
            free(tmp.names);
            goto fail;
        }
        x->required = tmp.names;
        x->n_required = tmp.n_names;
    }
    const json_t *cap = json_object_get(spec, "captcha");
    if (cap) {
        struct xfield tmp = {0};
        if (compile_selectors(&c, "captcha", cap, &tmp)) {
            free_field(&tmp);
            goto fail;
        }
        x->captcha = tmp.sels;
        x->n_captcha = tmp.n_sels;
    }
    return x;
fail:
    xspec_free(x);
    return NULL;
}
