/*
 * sbuf — a growable byte buffer for scrape's hot paths (bodies, JSON
 * results). Always NUL-terminated; `len` excludes the NUL. Allocation
 * failure aborts (a stage out of memory cannot do anything useful).
 */
#ifndef FERRY_SCRAPE_SBUF_H
#define FERRY_SCRAPE_SBUF_H

#include <stddef.h>

struct sbuf {
    char *buf;
    size_t len, cap;
};

#define SBUF_INIT                                                                                  \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void sbuf_grow(struct sbuf *sb, size_t extra);
void sbuf_add(struct sbuf *sb, const void *data, size_t len);
void sbuf_adds(struct sbuf *sb, const char *s);
void sbuf_addc(struct sbuf *sb, char c);
void sbuf_addf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the buffer to the caller (free()), leaving sb empty. */
char *sbuf_detach(struct sbuf *sb, size_t *len);
void sbuf_release(struct sbuf *sb);

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
size_t utf8_seq_len(const unsigned char *s, size_t avail);

#endif
