/* profile: loading and checking profile files (see profile.h). */
#include "profile.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "embedded.h"
#include "jx.h"

#define PROFILE_MAX_BYTES (1 << 20)
#define PROFILE_MAX_FILES 256

struct profiles {
    struct profile **p;
    size_t n;
};

static int failf(char *errstr, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int failf(char *errstr, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, size, fmt, ap);
    va_end(ap);
    return -1;
}

static char *dup_str(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* Profile names: lower-case words joined by dots or dashes. */
static int profile_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 64 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
              *s == '-'))
            return 0;
    return 1;
}

static int param_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 32 || strcmp(s, "url") == 0)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static int compile_param(const char *name, const json_t *v, struct profile_param *pp, char *errstr,
                         size_t size)
{
    pp->name = dup_str(name);
    pp->min = LLONG_MIN, pp->max = LLONG_MAX;
    if (!param_name_ok(name))
        return failf(errstr, size, "parameters.%s: names are 1 to 32 of a-z 0-9 _ (not url)", name);
    if (!json_is_object(v))
        return failf(errstr, size, "parameters.%s: must be an object", name);
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m)
    {
        static const char *const known[] = {"type",    "description", "default",  "enum", "pattern",
                                            "minimum", "maximum",     "required", NULL};
        size_t i = 0;
        while (known[i] && strcmp(known[i], k))
            i++;
        if (!known[i])
            return failf(errstr, size, "parameters.%s: unknown member '%s'", name, k);
    }
    const char *type = json_string_value(json_object_get(v, "type"));
    if (type && strcmp(type, "string") && strcmp(type, "integer"))
        return failf(errstr, size, "parameters.%s.type: string or integer", name);
    pp->integer = type && strcmp(type, "integer") == 0;
    const json_t *req = json_object_get(v, "required");
    if (req && !json_is_boolean(req))
        return failf(errstr, size, "parameters.%s.required: true or false", name);
    pp->required = json_is_true(req);
    const json_t *mn = json_object_get(v, "minimum"), *mx = json_object_get(v, "maximum");
    if ((mn || mx) && !pp->integer)
        return failf(errstr, size, "parameters.%s: minimum/maximum are for integers", name);
    if ((mn && !json_is_integer(mn)) || (mx && !json_is_integer(mx)))
        return failf(errstr, size, "parameters.%s: minimum/maximum must be integers", name);
    if (mn)
        pp->min = json_integer_value(mn);
    if (mx)
        pp->max = json_integer_value(mx);
    const json_t *pat = json_object_get(v, "pattern");
    if (pat) {
        if (!json_is_string(pat) || pp->integer)
            return failf(errstr, size, "parameters.%s.pattern: a regex, for strings", name);
        int rc = regcomp(&pp->pattern, json_string_value(pat), REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char msg[128];
            regerror(rc, &pp->pattern, msg, sizeof(msg));
            return failf(errstr, size, "parameters.%s.pattern: %s", name, msg);
        }
        pp->has_pattern = 1;
    }
    const json_t *en = json_object_get(v, "enum");
    if (en) {
        size_t i;
        json_t *e;
        if (!json_is_array(en) || !json_array_size(en))
            return failf(errstr, size, "parameters.%s.enum: a non-empty array", name);
        json_array_foreach(
            en, i, e) if (pp->integer ? !json_is_integer(e)
                                      : !json_is_string(
                                            e)) return failf(errstr, size,
                                                             "parameters.%s.enum[%zu]: must be a%s",
                                                             name, i,
                                                             pp->integer ? "n integer" : " string");
        pp->allowed = json_incref((json_t *)en);
    }
    const json_t *d = json_object_get(v, "default");
    if (d && !json_is_null(d)) {
        if (pp->required)
            return failf(errstr, size, "parameters.%s: a required parameter has no default", name);
        if (pp->integer ? !json_is_integer(d) : !json_is_string(d))
            return failf(errstr, size, "parameters.%s.default: must be a%s", name,
                         pp->integer ? "n integer" : " string");
        pp->deflt = json_incref((json_t *)d);
    }
    return 0;
}

/* Template expressions must name declared parameters. */
static int check_template(const struct profile *p, const char *where, const char *tpl, char *errstr,
                          size_t size)
{
    for (const char *o = strchr(tpl, '{'); o; o = strchr(o + 1, '{')) {
        const char *c = strchr(o, '}');
        if (!c)
            return failf(errstr, size, "%s: '{' without '}'", where);
        const char *e = o + 1;
        if (*e && strchr("+?&/", *e))
            e++;
        while (e < c) {
            size_t n = strcspn(e, ",|}");
            int known = 0;
            for (size_t i = 0; i < p->n_params; i++)
                known |= strlen(p->params[i].name) == n && strncmp(p->params[i].name, e, n) == 0;
            if (!known)
                return failf(errstr, size, "%s: '%.*s' is not a parameter", where, (int)n, e);
            e += n;
            if (*e == '|') {
                size_t f = strcspn(e + 1, ",}");
                if (!((f == 5 &&
                       (strncmp(e + 1, "bcp47", 5) == 0 || strncmp(e + 1, "lower", 5) == 0 ||
                        strncmp(e + 1, "upper", 5) == 0))))
                    return failf(errstr, size, "%s: unknown filter '|%.*s'", where, (int)f, e + 1);
                e += 1 + f;
            }
            if (*e == ',')
                e++;
        }
    }
    for (const char *c = tpl; *c; c++)
        if ((unsigned char)*c < 0x20)
            return failf(errstr, size, "%s: control characters", where);
    return 0;
}

static void digest_of(const char *data, size_t len, char out[PROFILE_DIGEST_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

struct profile *profile_compile(const json_t *doc, const char *source, char *errstr,
                                size_t errstr_size)
{
    char e[400];
    struct profile *p = calloc(1, sizeof(*p));
    if (!p)
        abort();
    p->source = dup_str(source);
    if (!json_is_object(doc)) {
        failf(e, sizeof(e), "must be a JSON object");
        goto fail;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        if (strcmp(k, "name") && strcmp(k, "description") && strcmp(k, "parameters") &&
            strcmp(k, "url") && strcmp(k, "headers") && strcmp(k, "extract") &&
            strcmp(k, "$schema") && strcmp(k, "$comment")) {
            failf(e, sizeof(e), "unknown member '%s'", k);
            goto fail;
        }
    }
    const char *name = json_string_value(json_object_get(doc, "name"));
    if (!name || !profile_name_ok(name)) {
        failf(e, sizeof(e), "name: lower-case letters, digits, '.', '_' or '-' (1 to 64)");
        goto fail;
    }
    p->name = dup_str(name);
    const json_t *params = json_object_get(doc, "parameters");
    if (params && (!json_is_object(params) || json_object_size(params) > PROFILE_MAX_PARAMS)) {
        failf(e, sizeof(e), "parameters: an object of at most %d parameters", PROFILE_MAX_PARAMS);
        goto fail;
    }
    p->params = calloc(json_object_size(params) + 1, sizeof(*p->params));
    if (!p->params)
        abort();
    json_object_foreach((json_t *)params, k, v)
    {
        if (compile_param(k, v, &p->params[p->n_params++], e, sizeof(e)))
            goto fail;
    }
    const char *url = json_string_value(json_object_get(doc, "url"));
    if (!url || (strncmp(url, "https://", 8) && strncmp(url, "http://", 7))) {
        failf(e, sizeof(e), "url: an http(s) URL template");
        goto fail;
    }
    p->url = dup_str(url);
    if (check_template(p, "url", url, e, sizeof(e)))
        goto fail;
    const json_t *headers = json_object_get(doc, "headers");
    if (headers && !json_is_object(headers)) {
        failf(e, sizeof(e), "headers: an object of name: template");
        goto fail;
    }
    p->headers = headers ? json_incref((json_t *)headers) : json_object();
    json_object_foreach(p->headers, k, v)
    {
        char where[100];
        snprintf(where, sizeof(where), "headers.%.80s", k);
        if (!json_is_string(v) || !*k || strpbrk(k, " :\r\n")) {
            failf(e, sizeof(e), "%s: a header name with a string template", where);
            goto fail;
        }
        if (check_template(p, where, json_string_value(v), e, sizeof(e)))
            goto fail;
    }
    char xe[300];
    p->extract = xspec_compile(json_object_get(doc, "extract"), xe, sizeof(xe));
    if (!p->extract) {
        failf(e, sizeof(e), "extract.%s", xe);
        goto fail;
    }
    p->json = json_incref((json_t *)doc);
    return p;
fail:
    snprintf(errstr, errstr_size, "%s: %s", source, e);
    profile_free(p);
    return NULL;
}

void profile_free(struct profile *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_params; i++) {
        struct profile_param *pp = &p->params[i];
        free(pp->name);
        json_decref(pp->deflt);
        json_decref(pp->allowed);
        if (pp->has_pattern)
            regfree(&pp->pattern);
    }
    free(p->params);
    free(p->name);
    free(p->source);
    free(p->url);
    json_decref(p->headers);
    xspec_free(p->extract);
    json_decref(p->json);
    free(p);
}

/* Parses one file's bytes and adds (or replaces by name) its profile. */
static int add_profile(struct profiles *ps, const char *data, size_t len, const char *source,
                       char *errstr, size_t size)
{
    char e[300];
    json_t *doc = jx_parse(data, len, 32, e, sizeof(e));
    if (!doc)
        return failf(errstr, size, "%s: %s", source, e);
    struct profile *p = profile_compile(doc, source, errstr, size);
    json_decref(doc);
    if (!p)
        return -1;
    digest_of(data, len, p->digest);
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->p[i]->name, p->name) == 0) {
            profile_free(ps->p[i]);
            ps->p[i] = p;
            return 0;
        }
    if (ps->n == PROFILE_MAX_FILES) {
        profile_free(p);
        return failf(errstr, size, "%s: more than %d profiles", source, PROFILE_MAX_FILES);
    }
    ps->p[ps->n++] = p;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_dir(struct profiles *ps, const char *dir, char *errstr, size_t size)
{
    DIR *d = opendir(dir);
    if (!d)
        return failf(errstr, size, "%s: %s", dir, strerror(errno));
    char *names[PROFILE_MAX_FILES];
    size_t n = 0;
    int rc = -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !ends_with(de->d_name, ".json") ||
            ends_with(de->d_name, ".rules.json"))
            continue;
        if (n == PROFILE_MAX_FILES) {
            failf(errstr, size, "%s: more than %d profile files", dir, PROFILE_MAX_FILES);
            goto out;
        }
        names[n++] = dup_str(de->d_name);
    }
    /* Readdir order is arbitrary; errors and overrides should not be. */
    qsort(names, n, sizeof(char *), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            failf(errstr, size, "%s: %s", path, strerror(errno));
            goto out;
        }
        char *data = malloc(PROFILE_MAX_BYTES + 1);
        if (!data)
            abort();
        size_t len = fread(data, 1, PROFILE_MAX_BYTES + 1, f);
        int bad = ferror(f);
        fclose(f);
        if (bad || len > PROFILE_MAX_BYTES) {
            free(data);
            failf(errstr, size, "%s: %s", path, bad ? "read error" : "larger than 1 MiB");
            goto out;
        }
        int r = add_profile(ps, data, len, path, errstr, size);
        free(data);
        if (r)
            goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    closedir(d);
    return rc;
}

struct profiles *profiles_load(const char *dir, char *errstr, size_t errstr_size)
{
    struct profiles *ps = calloc(1, sizeof(*ps));
    if (!ps)
        abort();
    ps->p = calloc(PROFILE_MAX_FILES, sizeof(*ps->p));
    if (!ps->p)
        abort();
    for (size_t i = 0; i < embedded_count; i++) {
        const struct embedded_file *f = &embedded_files[i];
        if (ends_with(f->name, ".rules.json"))
            continue;
        char source[128];
        snprintf(source, sizeof(source), "built-in %s", f->name);
        if (add_profile(ps, f->data, f->len, source, errstr, errstr_size))
            goto fail;
    }
    if (dir && *dir && load_dir(ps, dir, errstr, errstr_size))
        goto fail;
    return ps;
fail:
    profiles_free(ps);
    return NULL;
}

void profiles_free(struct profiles *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->n; i++)
        profile_free(ps->p[i]);
    free(ps->p);
    free(ps);
}

const struct profile *profiles_get(const struct profiles *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->p[i]->name, name) == 0)
            return ps->p[i];
    return NULL;
}

size_t profiles_count(const struct profiles *ps)
{
    return ps->n;
}

const struct profile *profiles_at(const struct profiles *ps, size_t i)
{
    return i < ps->n ? ps->p[i] : NULL;
}
