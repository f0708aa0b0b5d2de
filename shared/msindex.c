#include "msindex.h"

#include <stdlib.h>
#include <string.h>

static int order(int64_t ms, const char *id, const struct msindex_item *it)
{
    if (ms != it->ms)
        return ms < it->ms ? -1 : 1;
    return strcmp(id, it->id);
}

size_t msindex_lower(const struct msindex *x, int64_t ms, const char *id)
{
    size_t lo = 0, hi = x->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (order(ms, id, &x->v[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int msindex_add(struct msindex *x, int64_t ms, const char *id, void *value)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 16;
        struct msindex_item *v = realloc(x->v, cap * sizeof(*v));
        if (!v)
            return -1;
        x->v = v;
        x->cap = cap;
    }
    /* Items mostly come in time order: the end is the usual place. */
    size_t i = x->n && order(ms, id, &x->v[x->n - 1]) > 0 ? x->n : msindex_lower(x, ms, id);
    memmove(x->v + i + 1, x->v + i, (x->n - i) * sizeof(*x->v));
    x->v[i] = (struct msindex_item){ms, id, value};
    x->n++;
    return 0;
}

void *msindex_del(struct msindex *x, int64_t ms, const char *id)
{
    size_t i = msindex_lower(x, ms, id);
    if (i >= x->n || order(ms, id, &x->v[i]) != 0)
        return NULL;
    void *value = x->v[i].value;
    memmove(x->v + i, x->v + i + 1, (x->n - i - 1) * sizeof(*x->v));
    x->n--;
    return value;
}

void msindex_release(struct msindex *x)
{
    free(x->v);
    *x = (struct msindex)MSINDEX_INIT;
}

int msindex_cursor_parse(const char *c, const char *allowed, int64_t *ms, char *id, size_t id_size)
{
    char *end;
    if (!c || *c < '0' || *c > '9')
        return -1;
    long long v = strtoll(c, &end, 10);
    size_t n = *end == '.' ? strlen(end + 1) : 0;
    if (n == 0 || n >= id_size || strspn(end + 1, allowed) != n)
        return -1;
    *ms = v;
    memcpy(id, end + 1, n + 1);
    return 0;
}
