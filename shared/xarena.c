/* xarena: a per-thread bump arena behind libxml2's allocator (see xarena.h). */
#include "xarena.h"

#include <libxml/xmlerror.h>
#include <libxml/xmlmemory.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* 256 KiB doubling to 32 MiB: XARENA_MAX_BYTES in all. */
#define MAX_CHUNKS 9
/* Each block starts with its size (for realloc), keeping 16-byte alignment. */
#define HDR 16

struct chunk {
    char *base;
    size_t size;
};

struct arena {
    struct chunk chunks[MAX_CHUNKS];
    int n;       /* chunks mapped (never unmapped before the thread ends, so a
                    late xmlFree of an old block still finds it here) */
    int cur;     /* the chunk being filled */
    size_t used; /* bytes of it */
    char *last;  /* the latest block, which realloc may grow in place */
    size_t total;
    int holds, active;
};

static _Thread_local struct arena *t_arena;
static pthread_key_t arena_key;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int installed;

static int owns(const struct arena *a, const void *p)
{
    for (int i = 0; i < a->n; i++)
        if ((const char *)p >= a->chunks[i].base &&
            (const char *)p < a->chunks[i].base + a->chunks[i].size)
            return 1;
    return 0;
}

static size_t block_size(const void *p)
{
    return *(const size_t *)((const char *)p - HDR);
}

/* A block of n bytes, or NULL when the arena is full (the caller mallocs). */
static void *bump(struct arena *a, size_t n)
{
    size_t need = ((n + 15) & ~(size_t)15) + HDR;
    while (a->cur < a->n && a->used + need > a->chunks[a->cur].size)
        a->cur++, a->used = 0;
    if (a->cur == a->n) {
        size_t size = a->n ? a->chunks[a->n - 1].size * 2 : XARENA_FIRST_BYTES;
        while (size < need)
            size *= 2;
        if (a->n == MAX_CHUNKS || a->total + size > XARENA_MAX_BYTES)
            return NULL;
        void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        a->chunks[a->n].base = m;
        a->chunks[a->n].size = size;
        a->n++;
        a->total += size;
        a->used = 0;
    }
    char *b = a->chunks[a->cur].base + a->used;
    a->used += need;
    *(size_t *)b = need - HDR;
    a->last = b + HDR;
    return b + HDR;
}

static int arena_on(const struct arena *a)
{
    return a && a->active > 0 && a->holds > 0;
}

static void *arena_malloc(size_t n)
{
    struct arena *a = t_arena;
    void *p = arena_on(a) ? bump(a, n) : NULL;
    return p ? p : malloc(n);
}

static void arena_free(void *p)
{
    struct arena *a = t_arena;
    if (p && !(a && a->n && owns(a, p)))
        free(p);
}

static void *arena_realloc(void *p, size_t n)
{
    struct arena *a = t_arena;
    if (!p)
        return arena_malloc(n);
    if (!(a && a->n && owns(a, p)))
        return realloc(p, n);
    size_t old = block_size(p);
    if (n <= old)
        return p;
    /* The latest block grows in place when its chunk has room. */
    size_t grow = ((n + 15) & ~(size_t)15) - old;
    if (p == a->last && arena_on(a) && a->used + grow <= a->chunks[a->cur].size) {
        a->used += grow;
        *(size_t *)((char *)p - HDR) = old + grow;
        return p;
    }
    void *q = arena_malloc(n);
    if (q)
        memcpy(q, p, old);
    return q;
}

static char *arena_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *q = arena_malloc(n);
    if (q)
        memcpy(q, s, n);
    return q;
}

static void arena_destroy(void *p)
{
    struct arena *a = p;
    for (int i = 0; i < a->n; i++)
        munmap(a->chunks[i].base, a->chunks[i].size);
    free(a);
}

static void install(void)
{
    if (pthread_key_create(&arena_key, arena_destroy) != 0)
        return;
    xmlInitParser(); /* its globals come from malloc, before any arena */
    if (xmlMemSetup(arena_free, arena_malloc, arena_realloc, arena_strdup) == 0)
        installed = 1;
}

void xarena_install(void)
{
    pthread_once(&install_once, install);
}

int xarena_hold(void)
{
    if (!installed)
        return 0;
    struct arena *a = t_arena;
    if (!a) {
        if (!(a = calloc(1, sizeof(*a))))
            abort();
        t_arena = a;
        pthread_setspecific(arena_key, a);
    }
    a->holds++;
    return 1;
}

void xarena_release(void)
{
    struct arena *a = t_arena;
    if (!installed)
        return;
    if (!a || a->holds <= 0) {
        /* A hold taken on another thread: its tree's blocks are not this
         * thread's, and freeing them here would hand them to free(). */
        fputs("xarena: released on a thread that holds no arena\n", stderr);
        abort();
    }
    if (--a->holds > 0)
        return;
    /* The thread's last libxml2 error keeps copies of its strings: drop
     * them while they are still readable. */
    xmlResetLastError();
    /* Blocks past the first chunk go back to the kernel; the mappings
     * stay, so a stray xmlFree of an old block still lands here. */
    for (int i = 1; i <= a->cur && i < a->n; i++)
        madvise(a->chunks[i].base, a->chunks[i].size, MADV_DONTNEED);
    a->cur = 0;
    a->used = 0;
    a->last = NULL;
}

void xarena_enter(void)
{
    struct arena *a = t_arena;
    if (a && a->holds > 0)
        a->active++;
}

void xarena_leave(void)
{
    struct arena *a = t_arena;
    if (a && a->active > 0)
        a->active--;
}
