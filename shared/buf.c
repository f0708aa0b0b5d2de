#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max_len)
{
    *b = (struct buf)BUF_INIT(max_len);
}

int buf_reserve(struct buf *b, size_t extra)
{
    if (extra > b->max - b->len)
        return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->alloc)
        return 0;
    size_t alloc = b->alloc ? b->alloc : 64;
    while (alloc < need)
        alloc = alloc > (size_t)-1 / 4 ? need : alloc * 2;
    /* Never allocate much past what the cap can use. */
    if (alloc > b->max + 1 && need <= b->max + 1)
        alloc = b->max + 1;
    char *p = realloc(b->ptr, alloc);
    if (!p)
        abort();
    b->ptr = p;
    b->alloc = alloc;
    b->ptr[b->len] = '\0';
    return 0;
}

int buf_add(struct buf *b, const void *data, size_t len)
{
    if (buf_reserve(b, len)) {
        buf_release(b);
        return -1;
    }
    memcpy(b->ptr + b->len, data, len);
    b->len += len;
    b->ptr[b->len] = '\0';
    return 0;
}

int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
    return buf_add(b, &c, 1);
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return 0; /* an encoding error adds nothing */
    if ((size_t)n < sizeof(small))
        return buf_add(b, small, (size_t)n);
    if (buf_reserve(b, (size_t)n)) {
        buf_release(b);
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_truncate(struct buf *b, size_t new_len)
{
    if (new_len < b->len) {
        b->len = new_len;
        b->ptr[new_len] = '\0';
    }
}

void buf_reset(struct buf *b)
{
    buf_truncate(b, 0);
}

const char *buf_str(const struct buf *b)
{
    return b->ptr ? b->ptr : "";
}

char *buf_detach(struct buf *b, size_t *len)
{
    char *p = b->ptr;
    if (len)
        *len = b->len;
    b->ptr = NULL;
    b->len = b->alloc = 0;
    return p;
}

void buf_release(struct buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->alloc = 0;
}
