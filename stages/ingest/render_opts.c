#include "render_opts.h"

#include <stdio.h>
#include <string.h>

#include "jx.h"

#define SELECTOR_MAX 1000
#define SIDE_MIN     100
#define SIDE_MAX     8192

static int bad(struct submission_err *err, const char *field, const char *why)
{
    memset(err, 0, sizeof(*err));
    err->status = 422;
    err->index = -1;
    snprintf(err->code, sizeof(err->code), "invalid_field");
    snprintf(err->field, sizeof(err->field), "%s", field);
    snprintf(err->message, sizeof(err->message), "%s: %s", field, why);
    return -1;
}

static int check_wait_for(const json_t *w, json_t *out, struct submission_err *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(w) || !json_object_size(w))
        return bad(err, "wait_for", "must be an object with a selector, ms, or both");
    json_t *norm = json_object();
    json_object_foreach((json_t *)w, k, v)
    {
        long long ms;
        if (strcmp(k, "selector") == 0) {
            if (!json_is_string(v) || !json_string_length(v) ||
                json_string_length(v) > SELECTOR_MAX) {
                json_decref(norm);
                return bad(err, "wait_for.selector",
                           "must be a CSS selector of 1 to 1000 characters");
            }
            json_object_set(norm, "selector", v);
        } else if (strcmp(k, "ms") == 0) {
            /* Capped by the item's timeout in the render stage. */
            if (!jx_whole(v, 0, 300000, &ms)) {
                json_decref(norm);
                return bad(err, "wait_for.ms", "must be an integer from 0 to 300000");
            }
            json_object_set_new(norm, "ms", json_integer(ms));
        } else {
            char field[64];
            snprintf(field, sizeof(field), "wait_for.%.40s", k);
            json_decref(norm);
            return bad(err, field, "unknown field (selector, ms)");
        }
    }
    json_object_set_new(out, "wait_for", norm);
    return 0;
}

static int check_screenshot(const json_t *s, json_t *out, struct submission_err *err)
{
    const char *k;
    json_t *v;
    int full_page = 0;
    long long width = 1280, height = 800, quality = -1;
    const char *type = "png";
    if (!json_is_object(s))
        return bad(err, "screenshot", "must be an object");
    json_object_foreach((json_t *)s, k, v)
    {
        char field[64];
        snprintf(field, sizeof(field), "screenshot.%.40s", k);
        if (strcmp(k, "full_page") == 0) {
            if (!json_is_boolean(v))
                return bad(err, field, "must be true or false");
            full_page = json_is_true(v);
        } else if (strcmp(k, "width") == 0 || strcmp(k, "height") == 0) {
            if (!jx_whole(v, SIDE_MIN, SIDE_MAX, k[0] == 'w' ? &width : &height))
                return bad(err, field, "must be an integer from 100 to 8192 (pixels)");
        } else if (strcmp(k, "type") == 0) {
            if (!json_is_string(v) ||
                (strcmp(json_string_value(v), "png") && strcmp(json_string_value(v), "jpeg")))
                return bad(err, field, "must be png or jpeg");
            type = json_string_value(v);
        } else if (strcmp(k, "quality") == 0) {
            if (!jx_whole(v, 0, 100, &quality))
                return bad(err, field, "must be an integer from 0 to 100");
        } else {
            return bad(err, field, "unknown field (full_page, width, height, type, quality)");
        }
    }
    if (quality >= 0 && strcmp(type, "jpeg") != 0)
        return bad(err, "screenshot.quality", "applies to type jpeg only");
    json_t *norm = json_pack("{s:b,s:I,s:I,s:s}", "full_page", full_page, "width",
                             (json_int_t)width, "height", (json_int_t)height, "type", type);
    if (quality >= 0)
        json_object_set_new(norm, "quality", json_integer(quality));
    json_object_set_new(out, "screenshot", norm);
    return 0;
}

int render_opts_check(const json_t *root, const json_t *formats, const json_t *options,
                      json_t **members, struct submission_err *err)
{
    const json_t *render = json_object_get(root, "render");
    const json_t *wait = json_object_get(root, "wait_for");
    const json_t *shot = json_object_get(root, "screenshot");
    const json_t *ads = json_object_get(root, "block_ads");
    size_t i;
    json_t *f;
    int shot_format = 0;
    *members = NULL;
    json_array_foreach(formats, i, f)
    {
        shot_format |= strcmp(json_string_value(f), "screenshot") == 0;
    }
    if (render && !json_is_null(render) && !json_is_boolean(render))
        return bad(err, "render", "must be true or false");
    if (ads && !json_is_null(ads) && !json_is_boolean(ads))
        return bad(err, "block_ads", "must be true or false");
    int rendered = json_is_true(render) || shot_format || (shot && !json_is_null(shot));
    if (!rendered) {
        if (wait && !json_is_null(wait))
            return bad(err, "wait_for", "applies to rendered pages: set render: true");
        if (json_is_true(ads))
            return bad(err, "block_ads", "applies to rendered pages: set render: true");
        return 0;
    }
    json_t *out = json_pack("{s:b}", "render", 1);
    int rc = 0;
    (void)options;
    if (wait && !json_is_null(wait))
        rc = check_wait_for(wait, out, err);
    if (!rc && shot && !json_is_null(shot)) {
        rc = check_screenshot(shot, out, err);
    } else if (!rc && shot_format) {
        json_t *defaults = json_object();
        rc = check_screenshot(defaults, out, err);
        json_decref(defaults);
    }
    if (rc) {
        json_decref(out);
        return -1;
    }
    json_object_set_new(out, "block_ads", json_boolean(json_is_true(ads)));
    *members = out;
    return 0;
}
