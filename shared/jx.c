#include "jx.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"

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

static size_t skip_ws(const char *b, size_t i, size_t len)
{
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    return i;
}

/* From the opening quote at i to just past the closing one (len if none). */
static size_t skip_string(const char *b, size_t i, size_t len)
{
    for (i++; i < len; i++) {
        if (b[i] == '\\')
            i++;
        else if (b[i] == '"')
            return i + 1;
    }
    return len;
}

/* From the value at i to just past it. */
static size_t skip_value(const char *b, size_t i, size_t len)
{
    if (i < len && b[i] == '"')
        return skip_string(b, i, len);
    if (i < len && (b[i] == '{' || b[i] == '[')) {
        int depth = 0;
        while (i < len) {
            if (b[i] == '"') {
                i = skip_string(b, i, len);
                continue;
            }
            if (b[i] == '{' || b[i] == '[')
                depth++;
            else if ((b[i] == '}' || b[i] == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return len;
    }
    while (i < len && b[i] != ',' && b[i] != '}' && b[i] != ']')
        i++;
    return i;
}

int jx_peek_str(const char *b, size_t len, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key), i = skip_ws(b, 0, len);
    if (i >= len || b[i] != '{')
        return -1;
    for (i = skip_ws(b, i + 1, len); i < len && b[i] == '"';) {
        size_t k0 = i + 1, k1 = skip_string(b, i, len);
        i = skip_ws(b, k1, len);
        if (i >= len || b[i] != ':' || k1 < k0 + 1)
            return -1;
        i = skip_ws(b, i + 1, len);
        if (k1 - 1 - k0 == klen && memcmp(b + k0, key, klen) == 0) {
            size_t end = i < len && b[i] == '"' ? skip_string(b, i, len) : 0;
            if (end < i + 2 || b[end - 1] != '"' || end - i - 2 >= size ||
                memchr(b + i + 1, '\\', end - i - 2))
                return -1;
            memcpy(out, b + i + 1, end - i - 2);
            out[end - i - 2] = '\0';
            return 0;
        }
        i = skip_ws(b, skip_value(b, i, len), len);
        if (i >= len || b[i] != ',')
            return -1;
        i = skip_ws(b, i + 1, len);
    }
    return -1;
}

json_t *jx_parse(const char *buf, size_t len, int max_depth, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *quick = jx_read_plain(buf, len, max_depth);
    if (quick)
        return quick;
    if (jx_depth(buf, len, max_depth) > max_depth) {
        snprintf(errstr, errstr_size, "JSON nested deeper than %d levels", max_depth);
        return NULL;
    }
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        snprintf(errstr, errstr_size, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    return root;
}

json_t *jx_time(int64_t ms)
{
    char at[CLK_ISO_LEN];
    if (ms <= 0)
        return json_null();
    clk_iso8601(ms, at);
    return json_string(at);
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

int jx_whole(const json_t *v, long long min, long long max, long long *out)
{
    double d = json_is_real(v) ? json_real_value(v) : 0;
    if (json_is_integer(v))
        *out = json_integer_value(v);
    else if (json_is_real(v) && d >= -9e18 && d <= 9e18 && d == (double)(long long)d)
        *out = (long long)d;
    else
        return 0;
    return *out >= min && *out <= max;
}

int jx_bool(const json_t *obj, const char *key, int fallback)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : fallback;
}
