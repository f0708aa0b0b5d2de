#include "result.h"

#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "clock.h"
#include "jx.h"
#include "schema.h"

/* Room kept in each part for "part"/"parts", the data keys and braces. */
#define PART_SLACK 256
/* A slice smaller than this is not worth a key of its own in a part. */
#define MIN_SLICE 64

/* The data strings that may be split: three formats, or a binary body. */
enum { F_HTML, F_TEXT, F_MARKDOWN, F_BASE64, F__N };

static const enum format field_format[F_BASE64] = {FORMAT_HTML, FORMAT_TEXT, FORMAT_MARKDOWN};

static const char *field_key(int f)
{
    return f == F_BASE64 ? "base64" : format_name(field_format[f]);
}

/* The tracking members of a tracked item (changes.h), or "": the verdict
 * against the request's `previous`, over the requested formats' data in a
 * fixed order (links and metadata as jx writes them). */
static void track_members(const struct result_meta *m, const struct extract *ex, unsigned formats,
                          struct buf *out)
{
    size_t id_len;
    const char *input, *key = json_string_value(json_object_get(m->track, "key"));
    if (!key || changes_key_split(key, strlen(key), &id_len, &input))
        return;
    buf_adds(out, ",\"change\":");
    if ((!ex && !m->data_json) || m->status != STATUS_OK) {
        /* Nothing fetched, nothing compared: the previous hash stands. */
        buf_adds(out, "null,\"change_key\":");
        jx_add_strz(out, key);
        buf_adds(out, ",\"content_hash\":null");
        return;
    }
    struct changes_hasher h;
    char hash[CHANGES_HASH_LEN];
    changes_hasher_init(&h);
    /* Extracted data counts as the formats do: an endpoint's object is
     * all of its data, a user's rules are data.extract beside them. */
    if (m->data_json)
        changes_hasher_add(&h, "data", m->data_json, strlen(m->data_json));
    if (m->extract_json)
        changes_hasher_add(&h, "extract", m->extract_json, strlen(m->extract_json));
    if (ex && ex->binary) {
        changes_hasher_add(&h, "base64", buf_str(&ex->base64), ex->base64.len);
    } else if (ex) {
        if (formats & FORMAT_BIT(FORMAT_HTML))
            changes_hasher_add(&h, "html", ex->html ? ex->html : "", ex->html_len);
        if (formats & FORMAT_BIT(FORMAT_TEXT))
            changes_hasher_add(&h, "text", buf_str(&ex->text), ex->text.len);
        if (formats & FORMAT_BIT(FORMAT_MARKDOWN))
            changes_hasher_add(&h, "markdown", buf_str(&ex->markdown), ex->markdown.len);
        const json_t *j[2] = {formats & FORMAT_BIT(FORMAT_LINKS) ? ex->links : NULL,
                              formats & FORMAT_BIT(FORMAT_METADATA) ? ex->metadata : NULL};
        for (int i = 0; i < 2; i++)
            if (j[i]) {
                size_t len;
                char *text = jx_dump(j[i], &len);
                changes_hasher_add(&h, i ? "metadata" : "links", text ? text : "", len);
                free(text);
            }
    }
    if (m->hash_extra)
        changes_hasher_add(&h, "screenshot", m->hash_extra, m->hash_extra_len);
    changes_hasher_final(&h, hash);
    const char *prev = json_string_value(json_object_get(m->track, "previous"));
    if (prev && !changes_hash_valid(prev, strlen(prev)))
        prev = NULL;
    buf_addf(out, "\"%s\",\"change_key\":", change_name(changes_verdict(prev, hash)));
    jx_add_strz(out, key);
    buf_addf(out, ",\"content_hash\":\"%s\"", hash);
}

/* A literal, its length known at compile time. */
#define ADD_LIT(b, s) buf_add((b), (s), sizeof(s) - 1)

/* The item's members, written member by member (every result goes through
 * here: no format strings). */
static void add_head(struct buf *sb, const struct result_meta *m, const struct buf *track)
{
    char at[CLK_ISO_LEN];
    clk_iso8601(m->fetched_at_ms, at);
    ADD_LIT(sb, "{\"" SCHEMA_VERSION_KEY "\":");
    jx_add_int(sb, SCHEMA_RESULTS);
    ADD_LIT(sb, ",\"batch_id\":");
    jx_add_strz(sb, m->batch_id);
    ADD_LIT(sb, ",\"tenant\":");
    jx_add_strz(sb, m->tenant);
    ADD_LIT(sb, ",\"index\":");
    jx_add_int(sb, m->index);
    ADD_LIT(sb, ",\"input\":");
    if (m->input_json)
        buf_adds(sb, m->input_json);
    else
        jx_add_strz(sb, m->input);
    ADD_LIT(sb, ",\"status\":");
    jx_add_strz(sb, status_name(m->status));
    ADD_LIT(sb, ",\"http_status\":");
    if (m->http_status)
        jx_add_int(sb, m->http_status);
    else
        ADD_LIT(sb, "null");
    ADD_LIT(sb, ",\"final_url\":");
    jx_add_strz(sb, m->final_url);
    ADD_LIT(sb, ",\"content_type\":");
    jx_add_strz(sb, m->content_type);
    ADD_LIT(sb, ",\"duration_ms\":");
    jx_add_int(sb, m->duration_ms);
    ADD_LIT(sb, ",\"attempts\":");
    jx_add_int(sb, m->attempts);
    ADD_LIT(sb, ",\"fetched_at\":");
    jx_add_strz(sb, at);
    ADD_LIT(sb, ",\"error\":");
    jx_add_strz(sb, m->error);
    /* Only successful items are charged: one credit for a fetched page,
     * more for a rendered one (credits_ok). */
    ADD_LIT(sb, ",\"credits_charged\":");
    jx_add_int(
        sb, status_counts(m->status) == STATUS_SUCCEEDED ? (m->credits_ok ? m->credits_ok : 1) : 0);
    if (track->len)
        buf_add(sb, track->ptr, track->len);
    if (m->crawl_page) {
        ADD_LIT(sb, ",\"depth\":");
        jx_add_int(sb, m->depth);
        ADD_LIT(sb, ",\"found_on\":");
        if (m->found_on >= 0)
            jx_add_int(sb, m->found_on);
        else
            ADD_LIT(sb, "null");
    }
}

/* The frontier's links (a crawl's page), a member before data. */
static void add_frontier(struct buf *sb, const struct result_meta *m)
{
    if (!m->frontier)
        return;
    ADD_LIT(sb, ",\"frontier\":");
    buf_add(sb, m->frontier, m->frontier_len);
}

/* The longest prefix of esc[off..] of at most room bytes that does not cut
 * an escape sequence or a UTF-8 character (esc is valid escaped JSON). */
static size_t safe_cut(const char *esc, size_t len, size_t off, size_t room)
{
    if (len - off <= room)
        return len - off;
    size_t i = off, lim = off + room;
    while (i < lim) {
        unsigned char c = (unsigned char)esc[i];
        size_t tok = 1;
        if (c == '\\')
            tok = esc[i + 1] == 'u' ? 6 : 2;
        else if (c >= 0xf0)
            tok = 4;
        else if (c >= 0xe0)
            tok = 3;
        else if (c >= 0xc0)
            tok = 2;
        if (i + tok > lim)
            break;
        i += tok;
    }
    return i - off;
}

struct slice {
    int field;
    size_t off, len;
    size_t part;
};

/* The common case, in one pass: a result that cannot exceed max_bytes even
 * if every byte were escaped to six. */
static int build_direct(const struct result_meta *m, const struct buf *track,
                        const struct extract *ex, unsigned formats, size_t max_bytes,
                        struct result_part **parts)
{
    size_t raw = 1024 + (m->data_extra ? strlen(m->data_extra) : 0) +
                 (m->data_json ? strlen(m->data_json) : 0) +
                 (m->extract_json ? strlen(m->extract_json) : 0) + m->frontier_len;
    char *links = NULL, *meta = NULL;
    size_t links_len = 0, meta_len = 0;
    if (ex) {
        raw += ex->binary ? ex->base64.len : 0;
        raw += !ex->binary && (formats & FORMAT_BIT(FORMAT_HTML)) ? ex->html_len : 0;
        raw += !ex->binary && (formats & FORMAT_BIT(FORMAT_TEXT)) ? ex->text.len : 0;
        raw += !ex->binary && (formats & FORMAT_BIT(FORMAT_MARKDOWN)) ? ex->markdown.len : 0;
        if (raw * 6 > max_bytes)
            return 0;
        if (!ex->binary && (formats & FORMAT_BIT(FORMAT_LINKS)) && ex->links)
            links = jx_dump(ex->links, &links_len);
        if (!ex->binary && (formats & FORMAT_BIT(FORMAT_METADATA)) && ex->metadata)
            meta = jx_dump(ex->metadata, &meta_len);
        if (raw * 6 + links_len + meta_len > max_bytes) {
            free(links);
            free(meta);
            return 0;
        }
    }
    struct buf sb = BUF_INIT(BUF_NO_MAX);
    buf_reserve(&sb, raw + raw / 16 + links_len + meta_len + 512);
    add_head(&sb, m, track);
    add_frontier(&sb, m);
    if (!ex) {
        buf_adds(&sb, ",\"data\":");
        buf_adds(&sb, m->data_json ? m->data_json : "null");
        buf_addc(&sb, '}');
    } else if (ex->binary) {
        buf_adds(&sb, ",\"data\":{\"base64\":\"");
        buf_add(&sb, buf_str(&ex->base64), ex->base64.len);
        buf_adds(&sb, "\"}}");
    } else {
        const char *sep = "";
        buf_adds(&sb, ",\"data\":{");
        for (size_t i = 0; i < 3; i++) {
            if (!(formats & FORMAT_BIT(field_format[i])))
                continue;
            const char *v = i == 0   ? ex->html
                            : i == 1 ? buf_str(&ex->text)
                                     : buf_str(&ex->markdown);
            size_t n = i == 0 ? ex->html_len : i == 1 ? ex->text.len : ex->markdown.len;
            buf_adds(&sb, sep);
            buf_addc(&sb, '"');
            buf_adds(&sb, field_key((int)i));
            ADD_LIT(&sb, "\":\"");
            jx_add_str_content(&sb, v ? v : "", n);
            buf_addc(&sb, '"');
            sep = ",";
        }
        if (links) {
            buf_addf(&sb, "%s\"links\":", sep);
            buf_add(&sb, links, links_len);
            sep = ",";
        }
        if (meta) {
            buf_addf(&sb, "%s\"metadata\":", sep);
            buf_add(&sb, meta, meta_len);
            sep = ",";
        }
        if (m->data_extra) {
            buf_addf(&sb, "%s%s", sep, m->data_extra);
            sep = ",";
        }
        if (m->extract_json) {
            buf_addf(&sb, "%s\"extract\":", sep);
            buf_adds(&sb, m->extract_json);
        }
        buf_adds(&sb, "}}");
    }
    free(links);
    free(meta);
    *parts = calloc(1, sizeof(**parts));
    if (!*parts)
        abort();
    (*parts)[0].buf = buf_detach(&sb, &(*parts)[0].len);
    return 1;
}

size_t result_build(const struct result_meta *m, const struct extract *ex, unsigned formats,
                    size_t max_bytes, struct result_part **parts)
{
    struct buf track = BUF_INIT(BUF_NO_MAX);
    if (m->track)
        track_members(m, ex, formats, &track);
    if (build_direct(m, &track, ex, formats, max_bytes, parts)) {
        buf_release(&track);
        return 1;
    }

    struct buf head = BUF_INIT(BUF_NO_MAX);
    struct buf esc[F__N] = {BUF_INIT(BUF_NO_MAX), BUF_INIT(BUF_NO_MAX), BUF_INIT(BUF_NO_MAX),
                            BUF_INIT(BUF_NO_MAX)};
    int has[F__N] = {0};
    char *links = NULL, *meta = NULL;
    size_t links_len = 0, meta_len = 0;

    add_head(&head, m, &track);
    buf_release(&track);
    if (ex) {
        if (ex->binary) {
            jx_add_str_content(&esc[F_BASE64], buf_str(&ex->base64), ex->base64.len);
            has[F_BASE64] = 1;
        } else {
            if (formats & FORMAT_BIT(FORMAT_HTML))
                jx_add_str_content(&esc[F_HTML], ex->html ? ex->html : "", ex->html_len),
                    has[F_HTML] = 1;
            if (formats & FORMAT_BIT(FORMAT_TEXT))
                jx_add_str_content(&esc[F_TEXT], buf_str(&ex->text), ex->text.len), has[F_TEXT] = 1;
            if (formats & FORMAT_BIT(FORMAT_MARKDOWN))
                jx_add_str_content(&esc[F_MARKDOWN], buf_str(&ex->markdown), ex->markdown.len),
                    has[F_MARKDOWN] = 1;
            if ((formats & FORMAT_BIT(FORMAT_LINKS)) && ex->links)
                links = jx_dump(ex->links, &links_len);
            if ((formats & FORMAT_BIT(FORMAT_METADATA)) && ex->metadata)
                meta = jx_dump(ex->metadata, &meta_len);
        }
    }

    size_t extra_len = (m->data_extra ? strlen(m->data_extra) + 1 : 0) +
                       (m->extract_json ? strlen(m->extract_json) + 12 : 0) +
                       (m->frontier ? m->frontier_len + 16 : 0); /* they ride in part 1 */
    size_t total = head.len + 32 + links_len + meta_len + extra_len + 32;
    for (int f = 0; f < F__N; f++)
        total += has[f] ? esc[f].len + 16 : 0;

    /* Cut the strings into slices, part by part. */
    struct slice *sl = NULL;
    size_t n_sl = 0, cap_sl = 0, n_parts = 1;
    size_t budget = max_bytes > head.len + PART_SLACK + MIN_SLICE
                        ? max_bytes - head.len - PART_SLACK
                        : MIN_SLICE;
    if (total > max_bytes) {
        size_t used = links_len + meta_len + extra_len + 32;
        for (int f = 0; f < F__N; f++) {
            if (!has[f])
                continue;
            size_t off = 0;
            do {
                size_t key = strlen(field_key(f)) + 6;
                if (used + key + MIN_SLICE > budget && used > 0) {
                    n_parts++;
                    used = 0;
                }
                size_t room = budget > used + key ? budget - used - key : MIN_SLICE;
                size_t n = safe_cut(esc[f].ptr ? esc[f].ptr : "", esc[f].len, off, room);
                if (n_sl == cap_sl) {
                    cap_sl = cap_sl ? cap_sl * 2 : 16;
                    sl = realloc(sl, cap_sl * sizeof(*sl));
                    if (!sl)
                        abort();
                }
                sl[n_sl++] = (struct slice){f, off, n, n_parts};
                off += n;
                used += key + n;
            } while (off < esc[f].len);
        }
    } else {
        for (int f = 0; f < F__N; f++)
            if (has[f]) {
                if (n_sl == cap_sl) {
                    cap_sl = cap_sl ? cap_sl * 2 : 8;
                    sl = realloc(sl, cap_sl * sizeof(*sl));
                    if (!sl)
                        abort();
                }
                sl[n_sl++] = (struct slice){f, 0, esc[f].len, 1};
            }
    }

    struct result_part *out = calloc(n_parts, sizeof(*out));
    if (!out)
        abort();
    for (size_t p = 1; p <= n_parts; p++) {
        struct buf sb = BUF_INIT(BUF_NO_MAX);
        buf_reserve(&sb, n_parts == 1 ? total : max_bytes);
        buf_add(&sb, head.ptr, head.len);
        if (n_parts > 1)
            buf_addf(&sb, ",\"part\":%zu,\"parts\":%zu", p, n_parts);
        if (p == 1)
            add_frontier(&sb, m);
        if (!ex) {
            buf_adds(&sb, ",\"data\":");
            buf_adds(&sb, m->data_json ? m->data_json : "null");
            buf_addc(&sb, '}');
        } else {
            buf_adds(&sb, ",\"data\":{");
            int first = 1;
            for (size_t i = 0; i < n_sl; i++) {
                if (sl[i].part != p)
                    continue;
                buf_addf(&sb, "%s\"%s\":\"", first ? "" : ",", field_key(sl[i].field));
                buf_add(&sb, esc[sl[i].field].ptr + sl[i].off, sl[i].len);
                buf_addc(&sb, '"');
                first = 0;
            }
            if (p == 1 && links) {
                buf_addf(&sb, "%s\"links\":", first ? "" : ",");
                buf_add(&sb, links, links_len);
                first = 0;
            }
            if (p == 1 && meta) {
                buf_addf(&sb, "%s\"metadata\":", first ? "" : ",");
                buf_add(&sb, meta, meta_len);
                first = 0;
            }
            if (p == 1 && m->data_extra) {
                buf_addf(&sb, "%s%s", first ? "" : ",", m->data_extra);
                first = 0;
            }
            if (p == 1 && m->extract_json) {
                buf_addf(&sb, "%s\"extract\":", first ? "" : ",");
                buf_adds(&sb, m->extract_json);
            }
            buf_adds(&sb, "}}");
        }
        out[p - 1].buf = buf_detach(&sb, &out[p - 1].len);
    }

    free(sl);
    free(links);
    free(meta);
    buf_release(&head);
    for (int f = 0; f < F__N; f++)
        buf_release(&esc[f]);
    *parts = out;
    return n_parts;
}
