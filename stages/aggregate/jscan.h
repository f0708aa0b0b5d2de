/*
 * jscan — a validating JSON scanner over text: no tree, no allocation.
 *
 * The aggregator reads every result on its hot path but needs only a few
 * top-level members; the rest it copies as written into webhook bodies.
 * jscan walks the text and accepts exactly RFC 8259 JSON (UTF-8 checked,
 * nesting capped), as jansson would, and notes on the way whether the text
 * is already in the form JavaScript's JSON.stringify(JSON.parse(text))
 * writes: no whitespace, the short escapes (\" \\ \b \f \n \r \t) and \u00xx
 * in lower case only for the other control characters, everything else as
 * raw UTF-8, integers only (below 2^53), no member named like an array
 * index ("0", "17": JavaScript puts those first). Text in that form goes
 * into a webhook body as it is; anything else is rewritten (report.h).
 * Duplicate member names are not looked for.
 */
#ifndef FERRY_AGGREGATE_JSCAN_H
#define FERRY_AGGREGATE_JSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "jx.h"

struct jscan {
    const char *p, *end;
    int depth, max_depth;
    unsigned canonical : 1; /* cleared by anything JSON.stringify would write otherwise */
};

void jscan_init(struct jscan *s, const char *buf, size_t len, int max_depth);

/* Skips whitespace. Inline: it runs before every token, and text that is
 * already compact (the usual case) costs one comparison. */
void jscan_ws_run(struct jscan *s);
static inline void jscan_ws(struct jscan *s)
{
    if (s->p < s->end && (unsigned char)*s->p <= ' ')
        jscan_ws_run(s);
}

/* A string at s->p ('"'); moves past it. Sets *plain when it has no
 * escapes (its bytes are its value). 0 ok, -1 not JSON. Inline for the
 * short plain strings most members are (names, ids, statuses); the rest
 * (long, escaped, non-ASCII) goes on in jscan_string_rest. */
int jscan_string_rest(struct jscan *s, const unsigned char *p, int *plain);
static inline int jscan_string(struct jscan *s, int *plain)
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
    return jscan_string_rest(s, p, plain);
}

/* Any value at s->p (after whitespace); moves past it. 0 ok, -1 not JSON. */
int jscan_value(struct jscan *s);

/* 1 when s->p is at c (after whitespace), and moves past it. */
static inline int jscan_eat(struct jscan *s, char c)
{
    jscan_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

/* Notes a member name that JavaScript would order first (an array index). */
void jscan_index_key(struct jscan *s, const char *key, size_t key_len);

/* A member name at s->p ('"') and the ':' after it; *key, *key_len: the
 * name as written, quotes included. 0 ok, -1 not JSON. */
static inline int jscan_key(struct jscan *s, const char **key, size_t *key_len, int *plain)
{
    jscan_ws(s);
    *key = s->p;
    if (s->p >= s->end || *s->p != '"' || jscan_string(s, plain))
        return -1;
    *key_len = (size_t)(s->p - *key);
    if (*key_len > 2 && (*key)[1] >= '0' && (*key)[1] <= '9' && *plain)
        jscan_index_key(s, *key, *key_len);
    return jscan_eat(s, ':') ? 0 : -1;
}

#endif
