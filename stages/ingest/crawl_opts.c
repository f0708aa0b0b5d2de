#include "crawl_opts.h"

#include <stdio.h>
#include <string.h>

#include "crawlurl.h"
#include "jx.h"

static const char *const members[] = {
    "limit",   "max_depth",        "include_paths",  "exclude_paths",
    "sitemap", "allow_subdomains", "allow_external", "robots",
};

int crawl_opts_member(const char *name)
{
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
        if (strcmp(name, members[i]) == 0)
            return 1;
    return 0;
}

static int bad(struct submission_err *err, const char *field, const char *why)
{
    return submission_bad_field(err, field, -1, why);
}

/* A whole number in [min, max] (30.0 counts, as JSON Schema says), or the
 * default when absent or null. */
static int whole(const json_t *root, const char *name, long long min, long long max, long long def,
                 long long *out, struct submission_err *err)
{
    const json_t *v = json_object_get(root, name);
    char why[96];
    *out = def;
    if (!v || json_is_null(v))
        return 0;
    if (jx_whole(v, min, max, out))
        return 0;
    snprintf(why, sizeof(why), "must be an integer from %lld to %lld", min, max);
    return bad(err, name, why);
}

static int boolean(const json_t *root, const char *name, int def, int *out,
                   struct submission_err *err)
{
    const json_t *v = json_object_get(root, name);
    *out = def;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return bad(err, name, "must be true or false");
    *out = json_is_true(v);
    return 0;
}

/* Compiles each regex of the list into scope (so a bad one is refused
 * here) and returns the list as given. */
static int patterns(const json_t *root, const char *name, struct crawlscope *scope, json_t **out,
                    struct submission_err *err)
{
    const json_t *v = json_object_get(root, name), *re;
    size_t i;
    *out = json_array();
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return bad(err, name, "must be an array of regular expressions");
    json_array_foreach(v, i, re)
    {
        char field[48], why[300];
        snprintf(field, sizeof(field), "%s[%zu]", name, i);
        if (!json_is_string(re) || strlen(json_string_value(re)) != json_string_length(re))
            return bad(err, field, "must be a string");
        int rc = strcmp(name, "include_paths") == 0
                     ? crawlscope_include(scope, json_string_value(re), why, sizeof(why))
                     : crawlscope_exclude(scope, json_string_value(re), why, sizeof(why));
        if (rc)
            return bad(err, field, why);
        json_array_append(*out, (json_t *)re);
    }
    return 0;
}

int crawl_opts_check(const json_t *root, long long max_items, json_t **out,
                     struct submission_err *err)
{
    struct crawlurl start;
    struct crawlscope scope;
    char why[200];
    long long limit, depth;
    int subdomains, external, robots;
    json_t *inc = NULL, *exc = NULL;
    int rc = -1, scoped = 0;

    *out = NULL;
    crawlurl_init(&start);
    if (crawlurl_parse(jx_str(root, "url", ""), &start, why, sizeof(why))) {
        bad(err, "url", why);
        goto out;
    }
    if (whole(root, "limit", 1, max_items,
              CRAWL_LIMIT_DEFAULT < max_items ? CRAWL_LIMIT_DEFAULT : max_items, &limit, err) ||
        whole(root, "max_depth", 0, CRAWL_MAX_DEPTH, CRAWL_DEPTH_DEFAULT, &depth, err) ||
        boolean(root, "allow_subdomains", 0, &subdomains, err) ||
        boolean(root, "allow_external", 0, &external, err) ||
        boolean(root, "robots", 1, &robots, err))
        goto out;
    const json_t *sm = json_object_get(root, "sitemap");
    const char *sitemap = "include";
    if (sm && !json_is_null(sm)) {
        sitemap = json_string_value(sm);
        if (!sitemap ||
            (strcmp(sitemap, "include") && strcmp(sitemap, "skip") && strcmp(sitemap, "only"))) {
            bad(err, "sitemap", "must be \"include\", \"skip\" or \"only\"");
            goto out;
        }
    }
    if (crawlscope_init(&scope, &start, subdomains, external)) {
        bad(err, "url", "out of memory");
        goto out;
    }
    scoped = 1;
    if (patterns(root, "include_paths", &scope, &inc, err) ||
        patterns(root, "exclude_paths", &scope, &exc, err))
        goto out;
    *out = json_pack("{s:s, s:I, s:I, s:O, s:O, s:b, s:b, s:s, s:b}", "url", start.url.ptr, "limit",
                     (json_int_t)limit, "max_depth", (json_int_t)depth, "include_paths", inc,
                     "exclude_paths", exc, "allow_subdomains", subdomains, "allow_external",
                     external, "sitemap", sitemap, "robots", robots);
    rc = *out ? 0 : bad(err, "url", "out of memory");
out:
    json_decref(inc);
    json_decref(exc);
    if (scoped)
        crawlscope_release(&scope);
    crawlurl_release(&start);
    return rc;
}
