/* profile: templates and items (see profile.h); loading is in profile.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "profile.h"

#define URL_MAX (8 * 1024)

/* The value of a parameter as text, "" for none (NULL when undefined). */
static const char *value_text(const json_t *values, const char *name, char *tmp, size_t size)
{
    const json_t *v = json_object_get(values, name);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(tmp, size, "%lld", (long long)json_integer_value(v));
        return tmp;
    }
    return NULL;
}

static void apply_filter(const char *filter, size_t flen, char *s)
{
    for (char *p = s; *p; p++) {
        if (flen == 5 && strncmp(filter, "bcp47", 5) == 0 && *p == '_')
            *p = '-';
        else if (flen == 5 && strncmp(filter, "lower", 5) == 0)
            *p = (char)tolower((unsigned char)*p);
        else if (flen == 5 && strncmp(filter, "upper", 5) == 0)
            *p = (char)toupper((unsigned char)*p);
    }
}

static void add_encoded(struct buf *out, const char *s, int keep_reserved)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-._~", *p) ||
            (keep_reserved && strchr(":/?#[]@!$&'()*+,;=", *p)))
            buf_addc(out, (char)*p);
        else {
            buf_addc(out, '%');
            buf_addc(out, hex[*p >> 4]);
            buf_addc(out, hex[*p & 15]);
        }
    }
}

/* One {expression}: op, then names separated by ',', each with an
 * optional |filter. Returns -1 when strict and a name is undefined. */
static int expand_expr(struct buf *out, const char *e, size_t len, const json_t *values, int strict,
                       int encode)
{
    char op = 0;
    if (len && strchr("+?&/", e[0]))
        op = e[0], e++, len--;
    int first = 1;
    while (len) {
        size_t n = 0;
        while (n < len && e[n] != ',')
            n++;
        size_t nl = 0;
        while (nl < n && e[nl] != '|')
            nl++;
        char name[64], tmp[32], val[PROFILE_MAX_VALUE_LEN + 1];
        snprintf(name, sizeof(name), "%.*s", (int)(nl < 63 ? nl : 63), e);
        const char *v = value_text(values, name, tmp, sizeof(tmp));
        if (!v && strict)
            return -1;
        if (v) {
            snprintf(val, sizeof(val), "%s", v);
            if (nl < n)
                apply_filter(e + nl + 1, n - nl - 1, val);
            if (op == '?' || op == '&') {
                buf_addc(out, first ? op : '&');
                buf_adds(out, name);
                buf_addc(out, '=');
            } else if (op == '/') {
                buf_addc(out, '/');
            } else if (!first) {
                buf_addc(out, ',');
            }
            if (encode)
                add_encoded(out, val, op == '+');
            else
                buf_adds(out, val);
            first = 0;
        }
        e += n, len -= n;
        if (len)
            e++, len--;
    }
    return 0;
}

static char *expand(const char *tpl, const json_t *values, int strict, int encode)
{
    struct buf out = BUF_INIT(URL_MAX);
    for (const char *p = tpl; *p;) {
        const char *open = strchr(p, '{');
        if (!open) {
            buf_adds(&out, p);
            break;
        }
        buf_add(&out, p, (size_t)(open - p));
        const char *close = strchr(open, '}');
        if (!close) {
            buf_adds(&out, open);
            break;
        }
        if (expand_expr(&out, open + 1, (size_t)(close - open - 1), values, strict, encode)) {
            buf_release(&out);
            return NULL;
        }
        p = close + 1;
    }
    char *s = buf_detach(&out, NULL);
    if (!s && !(s = strdup("")))
        abort();
    return s;
}

char *profile_template(const char *tpl, const json_t *values, int strict)
{
    return expand(tpl, values, strict, 1);
}

static int fail(char *errstr, size_t size, const char **field, const char *name, const char *msg)
{
    *field = name;
    snprintf(errstr, size, "%s: %s", name, msg);
    return -1;
}

/* Checks one value against its parameter; the value to keep (new
 * reference) or NULL with errstr. */
static json_t *check_param(const struct profile_param *pp, const json_t *v, char *errstr,
                           size_t size, const char **field)
{
    char msg[300];
    if (pp->integer) {
        long long n;
        char *end;
        if (json_is_integer(v))
            n = json_integer_value(v);
        else if (json_is_string(v) && *json_string_value(v) &&
                 (n = strtoll(json_string_value(v), &end, 10), *end == '\0'))
            ;
        else {
            fail(errstr, size, field, pp->name, "must be an integer");
            return NULL;
        }
        if (n < pp->min || n > pp->max) {
            snprintf(msg, sizeof(msg), "must be between %lld and %lld", pp->min, pp->max);
            fail(errstr, size, field, pp->name, msg);
            return NULL;
        }
        return json_integer(n);
    }
    const char *s = json_string_value(v);
    if (!s) {
        fail(errstr, size, field, pp->name, "must be a string");
        return NULL;
    }
    if (strlen(s) > PROFILE_MAX_VALUE_LEN) {
        fail(errstr, size, field, pp->name, "too long");
        return NULL;
    }
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c < 0x20 || *c == 0x7f) {
            fail(errstr, size, field, pp->name, "control characters are not allowed");
            return NULL;
        }
    if (pp->allowed) {
        size_t i;
        json_t *a;
        int ok = 0;
        json_array_foreach(pp->allowed, i, a) ok |= json_equal(a, (json_t *)v);
        if (!ok) {
            struct buf list = BUF_INIT(sizeof(msg) - 40);
            json_array_foreach(pp->allowed, i, a)
            {
                if (buf_addf(&list, "%s%s", i ? ", " : "", json_string_value(a)))
                    break;
            }
            snprintf(msg, sizeof(msg), "not one of %s", buf_str(&list));
            buf_release(&list);
            fail(errstr, size, field, pp->name, msg);
            return NULL;
        }
    }
    if (pp->has_pattern && regexec(&pp->pattern, s, 0, NULL, 0) != 0) {
        fail(errstr, size, field, pp->name, "does not match the parameter's pattern");
        return NULL;
    }
    return json_incref((json_t *)v);
}

int profile_expand(const struct profile *p, const json_t *item, struct profile_req *out,
                   const char **field, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    *field = "";
    if (!json_is_object(item))
        return fail(errstr, errstr_size, field, "item", "must be an object of parameters");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)item, key, v)
    {
        if (strcmp(key, "url") == 0)
            continue;
        size_t i = 0;
        while (i < p->n_params && strcmp(p->params[i].name, key))
            i++;
        if (i == p->n_params) {
            char msg[400];
            struct buf names = BUF_INIT(300);
            for (size_t k = 0; k < p->n_params; k++)
                if (buf_addf(&names, "%s%s", k ? ", " : "", p->params[k].name))
                    break;
            snprintf(msg, sizeof(msg), "unknown parameter (%s takes %s, or url)", p->name,
                     buf_str(&names));
            buf_release(&names);
            return fail(errstr, errstr_size, field, key, msg);
        }
    }
    out->params = json_object();
    for (size_t i = 0; i < p->n_params; i++) {
        const struct profile_param *pp = &p->params[i];
        const json_t *given = json_object_get(item, pp->name);
        if (!given || json_is_null(given)) {
            if (pp->required) {
                fail(errstr, errstr_size, field, pp->name, "required");
                goto fail;
            }
            if (pp->deflt)
                json_object_set(out->params, pp->name, pp->deflt);
            continue;
        }
        json_t *ok = check_param(pp, given, errstr, errstr_size, field);
        if (!ok)
            goto fail;
        json_object_set_new(out->params, pp->name, ok);
    }
    const json_t *url = json_object_get(item, "url");
    if (url) {
        const char *u = json_string_value(url);
        if (!u || (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) || strlen(u) > URL_MAX) {
            fail(errstr, errstr_size, field, "url", "must be an http(s) URL");
            goto fail;
        }
        out->url = strdup(u);
        if (!out->url)
            abort();
    } else {
        out->url = expand(p->url, out->params, 0, 1);
    }
    out->headers = json_object();
    json_object_foreach(p->headers, key, v)
    {
        char *h = expand(json_string_value(v), out->params, 1, 0);
        if (h && *h)
            json_object_set_new(out->headers, key, json_string(h));
        free(h);
    }
    return 0;
fail:
    profile_req_release(out);
    return -1;
}

void profile_req_release(struct profile_req *r)
{
    free(r->url);
    json_decref(r->headers);
    json_decref(r->params);
    memset(r, 0, sizeof(*r));
}
