#include "jx.h"

#include <stdio.h>
#include <string.h>

int jx_depth(const char *buf, size_t len, int limit)
{
    int depth = 0, max = 0, in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max && (max = depth) > limit)
                return limit + 1;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return max;
}

json_t *jx_parse(const char *buf, size_t len, int max_depth, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    if (jx_depth(buf, len, max_depth) > max_depth) {
        snprintf(errstr, errstr_size, "JSON nested deeper than %d levels", max_depth);
        return NULL;
    }
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        snprintf(errstr, errstr_size, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    return root;
}

const char *jx_str(const json_t *obj, const char *key, const char *fallback)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : fallback;
}

long long jx_int(const json_t *obj, const char *key, long long fallback)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : fallback;
}

int jx_bool(const json_t *obj, const char *key, int fallback)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : fallback;
}
