/*
 * buf — one growable byte buffer with a size cap, for every network-fed or
 * generated string (bodies, JSON results, captured responses, escapes).
 *
 * The cap is set when the buffer is made and enforced inside it, so no
 * writer can forget it (curl's dynbuf):
 *
 *     struct buf body = BUF_INIT(10 << 20);      // at most 10 MiB
 *     if (buf_add(&body, data, n)) { ...too large: body is already released... }
 *
 * An append that would take the length past `max` frees the storage, leaves
 * the buffer empty and returns -1; the caller reports "too large" and stops
 * writing. Allocation failure aborts: a stage out of memory can do nothing
 * useful, and every caller would otherwise need a path it never tests.
 *
 * The content is always NUL-terminated (`len` excludes the NUL) once
 * anything was added; buf_str() is "" for an empty buffer.
 *
 * Ownership: the buffer owns `ptr` until buf_detach() hands it to the caller
 * (free(3) it) or buf_release() frees it. A buffer is not thread-safe.
 */
#ifndef FERRY_BUF_H
#define FERRY_BUF_H

#include <stddef.h>

struct buf {
    char *ptr;
    size_t len;   /* bytes used, excluding the NUL */
    size_t alloc; /* bytes allocated */
    size_t max;   /* the cap on len */
};

/* No cap worth the name: for text ferry builds itself from bounded parts. */
#define BUF_NO_MAX ((size_t)-1 / 2)

#define BUF_INIT(max_len)                                                                          \
    {                                                                                              \
        NULL, 0, 0, (max_len)                                                                      \
    }

/* Starts an empty buffer whose length may not pass max_len. */
void buf_init(struct buf *b, size_t max_len);

/* Appends; 0 ok, -1 when the result would pass the cap (then the buffer is
 * released and empty). */
int buf_add(struct buf *b, const void *data, size_t len);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Makes room for `extra` more bytes without changing the content (one
 * allocation up front when the final size is known). -1 past the cap (the
 * buffer is left as it was). */
int buf_reserve(struct buf *b, size_t extra);

/* Drops the last len - new_len bytes (new_len <= len). */
void buf_truncate(struct buf *b, size_t new_len);

/* Empties the buffer and keeps its memory for reuse. */
void buf_reset(struct buf *b);

/* The content, or "" when nothing was added. */
const char *buf_str(const struct buf *b);

/* Hands the storage to the caller (free(3) it; NULL when empty) with its
 * length in *len if non-NULL, and leaves the buffer empty with the same cap. */
char *buf_detach(struct buf *b, size_t *len);

/* Frees the storage; the buffer is empty and usable again, same cap. */
void buf_release(struct buf *b);

#endif
