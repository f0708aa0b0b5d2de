/*
 * profile — endpoint profiles ("endpoint": "amazon.product"): a name,
 * parameters with defaults and allowed values, a URL template, header
 * templates and an extract spec, in one JSON file
 * (schemas/profile.schema.json).
 *
 * The built-in profiles are compiled into every binary (shared/embedded.h);
 * FERRY_PROFILES_DIR adds the *.json files of a folder (*.rules.json
 * excepted), and a file there may replace a built-in profile of the same
 * name (a fix to a page layout without a new release). Every stage that
 * reads profiles loads the same set at start and refuses to start on a bad
 * file, naming it and the reason.
 *
 * Templates (RFC 6570 level 3 subset): {var} percent-encodes the value,
 * {+var} keeps reserved characters, {/var} a path segment, {?a,b} and
 * {&a,b} query parameters (left out while undefined). A filter may follow
 * the name: {language|bcp47} (es_US -> es-US), |lower, |upper. A header
 * whose template names an undefined parameter is not sent.
 *
 * Each profile has a digest (16 hex digits of the SHA-256 of its file), so
 * two stages can tell whether they run the same version of it.
 *
 * Ownership: the registry owns its profiles; profile pointers stay valid
 * until profiles_free().
 */
#ifndef FERRY_PROFILE_H
#define FERRY_PROFILE_H

#include <jansson.h>
#include <regex.h>
#include <stddef.h>

#include "xspec.h"

#define PROFILE_MAX_PARAMS    32
#define PROFILE_MAX_VALUE_LEN 2048
#define PROFILE_DIGEST_LEN    17

struct profile_param {
    char *name;
    int integer;     /* type "integer" (else string) */
    json_t *deflt;   /* NULL: none */
    json_t *allowed; /* enum, NULL: any */
    regex_t pattern;
    int has_pattern;
    long long min, max;
    int required;
};

struct profile {
    char *name;
    char *source; /* "built-in amazon.product.json" or the file's path */
    char digest[PROFILE_DIGEST_LEN];
    struct profile_param *params;
    size_t n_params;
    char *url;       /* template */
    json_t *headers; /* name -> template */
    struct xspec *extract;
    json_t *json; /* the whole file, as loaded */
};

/* What one item of a profile batch fetches. */
struct profile_req {
    char *url;       /* the expanded template, or the item's own "url" */
    json_t *headers; /* object name -> value, expanded (new reference) */
    json_t *params;  /* the item's parameters with defaults filled in */
};

struct profiles;

/* Loads the built-ins, then dir (NULL or "": none). NULL with errstr
 * "FILE: reason" on the first bad file. */
struct profiles *profiles_load(const char *dir, char *errstr, size_t errstr_size);
void profiles_free(struct profiles *ps);

const struct profile *profiles_get(const struct profiles *ps, const char *name);
size_t profiles_count(const struct profiles *ps);
const struct profile *profiles_at(const struct profiles *ps, size_t i);

/* Parses and checks one profile document (`source` names it in errors).
 * NULL with errstr. */
struct profile *profile_compile(const json_t *doc, const char *source, char *errstr,
                                size_t errstr_size);
void profile_free(struct profile *p);

/* Checks an item against the parameters and expands the templates. An item
 * may carry "url" (fetched instead of the template's). 0 ok; -1 with
 * errstr naming the member ("query: required", "domain: not one of com,
 * co.uk, ...") and *field set to the member's name (borrowed, static or
 * from the item). */
int profile_expand(const struct profile *p, const json_t *item, struct profile_req *out,
                   const char **field, char *errstr, size_t errstr_size);
void profile_req_release(struct profile_req *r);

/* Expands one template with parameter values (exposed for tests). A
 * malloc'd string, or NULL when `strict` and a named parameter is
 * undefined. */
char *profile_template(const char *tpl, const json_t *values, int strict);

#endif
