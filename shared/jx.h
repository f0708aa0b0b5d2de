/*
 * jx — small helpers over jansson for network-fed JSON, and ferry's one
 * JSON writer.
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
#include <stdint.h>

#include "buf.h"

/* Parses len bytes (NUL bytes inside strings are rejected by jansson unless
 * JSON_ALLOW_NUL). Rejects nesting deeper than max_depth. Returns a new
 * reference or NULL with errstr ("line 1 column 7: ..."). Tries
 * jx_read_plain first; what that gives up on, jansson reads. */
json_t *jx_parse(const char *buf, size_t len, int max_depth, char *errstr, size_t errstr_size);

/* The same value jansson (JSON_REJECT_DUPLICATES) reads from buf, for an
 * object or array of ASCII strings with short escapes (no \u), integers of
 * at most 18 digits, true/false/null, no duplicate keys, nested at most
 * max_depth deep; NULL for anything else, valid or not (jx_read.c). About
 * a tenth of jansson's instructions. */
json_t *jx_read_plain(const char *buf, size_t len, int max_depth);

/* ----------------------------------------------------------- scanning
 *
 * jx_scan — ferry's one JSON scanner: a pull scanner over text that builds
 * no tree. Two kinds of reader share its state:
 *
 * Typed readers, for a stage that maps a record it knows into a struct
 * (scrape's requests), where jansson values would cost more than the work
 * they feed. They read the plain subset jx_read_plain reads, member by
 * member; every call returns -1 at anything outside the subset or
 * malformed; the caller then gives the whole input to jx_parse, whose value
 * or error is the answer. Duplicate keys are the caller's to notice.
 * Strings are unescaped into `arena`, which the caller provides with len +
 * 1 bytes (every string fits where its literal was) and frees: each string
 * read stays there, NUL-terminated.
 *
 *     jx_scan_init(&s, buf, len, arena, 16);
 *     if (jx_scan_enter(&s, '{')) goto slow;
 *     while ((more = jx_scan_member(&s, &key)) > 0)
 *         ... one jx_scan_str/int/bool/null, or enter a container, per key
 *     if (more < 0 || jx_scan_end(&s)) goto slow;
 *
 * Validating readers (jx_scan_skip and the inline ones below it), for a
 * reader that needs a few members of a large record and copies the rest as
 * written (the aggregator's results): they accept exactly RFC 8259 JSON
 * (UTF-8 checked, nesting capped), as jansson would, give spans of the text
 * and allocate nothing (arena may be NULL). On the way they note whether
 * the text is already in the form JavaScript's JSON.stringify(JSON.parse(
 * text)) writes (see "writing" below: no whitespace, the short escapes and
 * \u00xx in lower case only for the other control characters, everything
 * else as raw UTF-8, integers only (below 2^53), no member named like an
 * array index ("0", "17": JavaScript puts those first)): `canonical`.
 * Duplicate member names are not looked for.
 */
struct jx_scan {
    const char *p, *end;
    char *arena;            /* where the next string goes (typed readers) */
    int depth, max_depth;   /* containers open now, and at most */
    int first;              /* no member or element read yet in the current container */
    unsigned canonical : 1; /* cleared by anything JSON.stringify would write otherwise */
};
/* Inline: the aggregator starts a scan several times per result. */
static inline void jx_scan_init(struct jx_scan *s, const char *buf, size_t len, char *arena,
                                int max_depth)
{
    *s = (struct jx_scan){
        .p = buf, .end = buf + len, .arena = arena, .max_depth = max_depth, .canonical = 1};
}
/* The next byte past whitespace, 0 at the end: which reader comes next. */
int jx_scan_peek(struct jx_scan *s);
/* Past the container's `open` ('{' or '['). */
int jx_scan_enter(struct jx_scan *s, char open);
/* 1 with the next member's key (past its colon: read its value next), 0
 * past the closing brace. */
int jx_scan_member(struct jx_scan *s, const char **key);
/* 1 when another element follows (read it next), 0 past the bracket. */
int jx_scan_element(struct jx_scan *s);
int jx_scan_str(struct jx_scan *s, const char **out, size_t *len);
int jx_scan_int(struct jx_scan *s, long long *out);
int jx_scan_bool(struct jx_scan *s, int *out);
/* 1 past a null, 0 (nothing read) at anything else. */
int jx_scan_null(struct jx_scan *s);
/* 0 when only whitespace is left. */
int jx_scan_end(struct jx_scan *s);

/* Any value at s->p (after whitespace), validated; moves past it. 0 ok,
 * -1 not JSON. */
int jx_scan_skip(struct jx_scan *s);

/* Skips whitespace. Inline: it runs before every token, and text that is
 * already compact (the usual case) costs one comparison. */
void jx_scan_ws_run(struct jx_scan *s);
static inline void jx_scan_ws(struct jx_scan *s)
{
    if (s->p < s->end && (unsigned char)*s->p <= ' ')
        jx_scan_ws_run(s);
}

/* 1 for the bytes a JSON string holds as they are, in JSON.stringify's form
 * too: printable ASCII (DEL included) but '"' and '\\'. */
extern const unsigned char jx_plain[256];

/* A string at s->p ('"'), validated; moves past it. Sets *plain when it
 * has no escapes (its bytes are its value). 0 ok, -1 not JSON. Inline for
 * the short plain strings most members are (names, ids, statuses); the
 * rest (long, escaped, non-ASCII) goes on in jx_scan_skip_str_rest. */
int jx_scan_skip_str_rest(struct jx_scan *s, const unsigned char *p, int *plain);
static inline int jx_scan_skip_str(struct jx_scan *s, int *plain)
{
    const unsigned char *p = (const unsigned char *)s->p + 1, *end = (const unsigned char *)s->end;
    const unsigned char *stop = end - p > 24 ? p + 24 : end;
    while (p < stop && jx_plain[*p])
        p++;
    if (p < end && *p == '"') {
        *plain = 1;
        s->p = (const char *)p + 1;
        return 0;
    }
    return jx_scan_skip_str_rest(s, p, plain);
}

/* 1 when s->p is at c (after whitespace), and moves past it. */
static inline int jx_scan_eat(struct jx_scan *s, char c)
{
    jx_scan_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

/* Notes a member name that JavaScript would order first (an array index). */
void jx_scan_index_key(struct jx_scan *s, const char *key, size_t key_len);

/* A member name at s->p ('"'), validated, and the ':' after it; *key,
 * *key_len: the name as written, quotes included; *plain: it has no
 * escapes. 0 ok, -1 not JSON. */
static inline int jx_scan_key(struct jx_scan *s, const char **key, size_t *key_len, int *plain)
{
    jx_scan_ws(s);
    *key = s->p;
    if (s->p >= s->end || *s->p != '"' || jx_scan_skip_str(s, plain))
        return -1;
    *key_len = (size_t)(s->p - *key);
    if (*key_len > 2 && (*key)[1] >= '0' && (*key)[1] <= '9' && *plain)
        jx_scan_index_key(s, *key, *key_len);
    return jx_scan_eat(s, ':') ? 0 : -1;
}

/* The deepest nesting of arrays/objects in buf, strings skipped; stops
 * counting (and returns limit+1) once past limit. */
int jx_depth(const char *buf, size_t len, int limit);

/* The string value of top-level member `key` of the object in buf, found
 * by a scan that builds nothing and stops at that member: for one field of
 * records far larger than it (a result's status, ahead of its page). The
 * scan trusts buf to be JSON (it does not validate what it skips); a value
 * holding escapes is not returned. Copies it into out (NUL-terminated);
 * 0, or -1 when absent, not a string, escaped or longer than size-1. */
int jx_peek_str(const char *buf, size_t len, const char *key, char *out, size_t size);

/* A new JSON string of epoch ms as clk_iso8601() writes it, or null for
 * ms <= 0 (a time not set yet). */
json_t *jx_time(int64_t ms);

/* obj[key] as a string / integer / bool, or the fallback when absent or of
 * another type. Strings are borrowed from obj. */
const char *jx_str(const json_t *obj, const char *key, const char *fallback);
long long jx_int(const json_t *obj, const char *key, long long fallback);
int jx_bool(const json_t *obj, const char *key, int fallback);

/* A whole number in [min, max] into *out: a JSON integer, or a number
 * without a fractional part (30000.0 is an integer to JSON Schema and to
 * JavaScript). 1 yes, 0 not (a real beyond long long, 1e300, is out of
 * range, never converted: that conversion is undefined). */
int jx_whole(const json_t *v, long long min, long long max, long long *out);

/* ---------------------------------------------------------------- writing
 *
 * Everything ferry writes as JSON is byte for byte what JavaScript's
 * JSON.stringify(JSON.parse(text)) writes for it, so a receiver that parses
 * a webhook body and serializes it again before checking the HMAC (seed
 * 002's snippet) gets the same bytes:
 *
 *   - compact: no whitespace;
 *   - strings: `\"`, `\\`, `\b \f \n \r \t`, other bytes below 0x20 as
 *     `\u00xx` (lower-case hex); `/`, non-ASCII, U+2028/2029 as they are;
 *     invalid UTF-8 becomes U+FFFD as a browser decodes it (WHATWG: one per
 *     maximal subpart), so any bytes (scraped text) make valid JSON; bytes
 *     that encode a UTF-16 surrogate (ED A0..BF xx, how a JavaScript string's
 *     lone surrogate is stored as bytes) are written as JSON.stringify
 *     writes a lone surrogate, `\udxxx`, and a high one followed by a low
 *     one as the character they encode;
 *   - numbers as Number#toString prints them: integers without ".0", the
 *     shortest digits that read back for other doubles (2/3 is
 *     0.6666666666666666), exponent form from 1e21 up and below 1e-6
 *     (1e+21, 1e-7); -0 as 0; NaN and infinities as null; integers past
 *     2^53 as the double JavaScript would hold;
 *   - object members in JavaScript's order: keys that are array indexes
 *     (canonical decimal integers 0 .. 2^32-2) first, ascending; then the
 *     rest in insertion order.
 *
 * Every appender returns 0, or -1 when the buffer's cap was passed (buf.h:
 * the buffer is then released and empty).
 */

/* Appends v (NULL: null). */
int jx_add(struct buf *b, const json_t *v);

/* Appends s[0..len) as a quoted JSON string; jx_add_strz: "s", or null when
 * s is NULL. */
int jx_add_str(struct buf *b, const char *s, size_t len);
int jx_add_strz(struct buf *b, const char *s);

/* Appends the inside of the string literal only (no quotes), for writers
 * that cut a long escaped string into slices. */
int jx_add_str_content(struct buf *b, const char *s, size_t len);

/* The length of the longest prefix of s[0..len) of jx_plain bytes, eight
 * at a time (for readers and writers of long strings). */
size_t jx_plain_run(const char *s, size_t len);

/* Appends a number. */
int jx_add_int(struct buf *b, long long v);
int jx_add_real(struct buf *b, double v);

/* v as Number#toString writes it, NUL-terminated; returns the length. */
#define JX_NUMBER_MAX 40
size_t jx_number(char out[JX_NUMBER_MAX], double v);

/* jx_add() into a new string the caller frees, length in *len if non-NULL. */
char *jx_dump(const json_t *value, size_t *len);

#endif
