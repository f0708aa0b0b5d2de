/*
 * jx — small helpers over jansson for network-fed JSON.
 *
 * jansson's own parser has a fixed nesting limit of 2048; ferry caps depth
 * lower, before parsing (a hostile 100,000-level body costs one linear scan,
 * not a deep parse). Getters return borrowed references or plain values and
 * never steal; the caller keeps ownership of everything passed in.
 */
#ifndef FERRY_JX_H
#define FERRY_JX_H

#include <jansson.h>
#include <stddef.h>

/* Parses len bytes (NUL bytes inside strings are rejected by jansson unless
 * JSON_ALLOW_NUL). Rejects nesting deeper than max_depth. Returns a new
 * reference or NULL with errstr ("line 1 column 7: ..."). */
json_t *jx_parse(const char *buf, size_t len, int max_depth, char *errstr, size_t errstr_size);

/* The deepest nesting of arrays/objects in buf, strings skipped; stops
 * counting (and returns limit+1) once past limit. */
int jx_depth(const char *buf, size_t len, int limit);

/* obj[key] as a string / integer / bool, or the fallback when absent or of
 * another type. Strings are borrowed from obj. */
const char *jx_str(const json_t *obj, const char *key, const char *fallback);
long long jx_int(const json_t *obj, const char *key, long long fallback);
int jx_bool(const json_t *obj, const char *key, int fallback);

/* Compact serialization (no spaces, keys in insertion order). Returns a
 * malloc'd string the caller frees, length in *len if non-NULL. */
char *jx_dump(const json_t *value, size_t *len);

#endif
