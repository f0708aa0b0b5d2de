#include "results.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jx.h"

/* ------------------------------------------------------------ lists */

void results_add(struct results *l, long long index, char *text, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        if (!l->v)
            abort();
    }
    l->v[l->n++] = (struct result_text){index, text, len};
    l->bytes += len;
}

void results_clear(struct results *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].text);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int by_index(const void *a, const void *b)
{
    long long x = ((const struct result_text *)a)->index,
              y = ((const struct result_text *)b)->index;
    return (x > y) - (x < y);
}

size_t results_joined_len(const struct results *l)
{
    return l->bytes + (l->n ? l->n - 1 : 0) + 2;
}

char *results_join(struct results *l, size_t *len)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), by_index);
    char *out = malloc(results_joined_len(l) + 1), *p = out;
    if (!out)
        abort();
    *p++ = '[';
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, l->v[i].text, l->v[i].len);
        p += l->v[i].len;
    }
    *p++ = ']';
    *p = '\0';
    *len = (size_t)(p - out);
    return out;
}

/* ------------------------------------------------------------ merging parts */

/* One member of the merged data object. */
struct field {
    const char *key; /* the quoted name, as written */
    size_t key_len;
    int is_string;
    struct buf value; /* strings: the content between the quotes, concatenated */
    const char *raw;  /* others: the value as part 1 (or the first part) has it */
    size_t raw_len;
};

struct fields {
    struct field *v;
    size_t n, cap;
};

static struct field *field_of(struct fields *f, const char *key, size_t key_len, int is_string)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].key_len == key_len && memcmp(f->v[i].key, key, key_len) == 0 &&
            f->v[i].is_string == is_string)
            return &f->v[i];
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->v = realloc(f->v, f->cap * sizeof(*f->v));
        if (!f->v)
            abort();
    }
    struct field *x = &f->v[f->n++];
    *x = (struct field){key, key_len, is_string, BUF_INIT(BUF_NO_MAX), NULL, 0};
    return x;
}

/* Finds the top-level member "data" of a result text: the span of its
 * value. 0 found, -1 not there (or not JSON). */
static int find_data(const char *text, size_t len, const char **value, size_t *value_len)
{
    struct jx_scan s;
    int plain;
    jx_scan_init(&s, text, len, NULL, 64);
    if (!jx_scan_eat(&s, '{') || jx_scan_eat(&s, '}'))
        return -1;
    for (;;) {
        const char *key;
        size_t key_len;
        if (jx_scan_key(&s, &key, &key_len, &plain))
            return -1;
        int is_data = key_len == 6 && memcmp(key, "\"data\"", 6) == 0;
        jx_scan_ws(&s);
        const char *v = s.p;
        if (jx_scan_skip(&s))
            return -1;
        if (is_data) {
            *value = v;
            *value_len = (size_t)(s.p - v);
            return 0;
        }
        if (!jx_scan_eat(&s, ','))
            return -1;
    }
}

/* Adds the members of one part's data object to f. */
static void merge_data(struct fields *f, const char *obj, size_t len)
{
    struct jx_scan s;
    int plain;
    jx_scan_init(&s, obj, len, NULL, 64);
    if (!jx_scan_eat(&s, '{') || jx_scan_eat(&s, '}'))
        return; /* null, or empty */
    for (;;) {
        const char *key;
        size_t key_len;
        if (jx_scan_key(&s, &key, &key_len, &plain))
            return;
        jx_scan_ws(&s);
        const char *v = s.p;
        if (jx_scan_skip(&s))
            return;
        struct field *x = field_of(f, key, key_len, *v == '"');
        if (x->is_string)
            buf_add(&x->value, v + 1, (size_t)(s.p - v) - 2);
        else if (!x->raw)
            x->raw = v, x->raw_len = (size_t)(s.p - v);
        if (!jx_scan_eat(&s, ','))
            return;
    }
}

char *results_merge(char *const *texts, const size_t *lens, int n, size_t *len)
{
    struct fields f = {0};
    struct buf out = BUF_INIT(BUF_NO_MAX);
    const char *data;
    size_t data_len;
    if (find_data(texts[0], lens[0], &data, &data_len)) {
        buf_add(&out, texts[0], lens[0]);
        return buf_detach(&out, len);
    }
    for (int p = 0; p < n; p++) {
        const char *d;
        size_t d_len;
        if (find_data(texts[p], lens[p], &d, &d_len) == 0)
            merge_data(&f, d, d_len);
    }
    buf_add(&out, texts[0], (size_t)(data - texts[0]));
    if (f.n == 0) {
        buf_add(&out, data, data_len);
    } else {
        /* The strings first, then links and metadata: the order a result
         * written whole has. */
        const char *sep = "{";
        for (int strings = 1; strings >= 0; strings--)
            for (size_t i = 0; i < f.n; i++) {
                struct field *x = &f.v[i];
                if (x->is_string != strings)
                    continue;
                buf_adds(&out, sep);
                buf_add(&out, x->key, x->key_len);
                buf_addc(&out, ':');
                if (strings) {
                    buf_addc(&out, '"');
                    buf_add(&out, buf_str(&x->value), x->value.len);
                    buf_addc(&out, '"');
                } else {
                    buf_add(&out, x->raw, x->raw_len);
                }
                sep = ",";
            }
        buf_addc(&out, '}');
    }
    const char *rest = data + data_len;
    buf_add(&out, rest, lens[0] - (size_t)(rest - texts[0]));
    for (size_t i = 0; i < f.n; i++)
        buf_release(&f.v[i].value);
    free(f.v);
    return buf_detach(&out, len);
}

/* ------------------------------------------------------------ assembly */

/* The parts of one attempt of one item seen so far. */
struct assembling {
    long long index;
    uint64_t attempt;
    int parts, got, canonical;
    char **texts; /* by part - 1; NULL while missing */
    size_t *lens;
};

static void assembling_free(struct assembling *x)
{
    for (int p = 0; p < x->parts; p++)
        free(x->texts[p]);
    free(x->texts);
    free(x->lens);
}

char *assembly_add(struct assembly *a, struct record *r, size_t *len, int *canonical)
{
    const struct tally_in *in = &r->in;
    if (in->parts == 0) {
        char *text = r->text;
        *len = r->text_len;
        *canonical = r->canonical;
        r->text = NULL;
        return text;
    }
    struct assembling *x = NULL;
    for (size_t i = 0; i < a->n && !x; i++)
        if (a->v[i].index == in->index && a->v[i].attempt == in->attempt &&
            a->v[i].parts == in->parts)
            x = &a->v[i];
    if (!x) {
        if (a->n == a->cap) {
            a->cap = a->cap ? a->cap * 2 : 4;
            a->v = realloc(a->v, a->cap * sizeof(*a->v));
            if (!a->v)
                abort();
        }
        x = &a->v[a->n++];
        *x = (struct assembling){in->index,
                                 in->attempt,
                                 in->parts,
                                 0,
                                 1,
                                 calloc((size_t)in->parts, sizeof(char *)),
                                 calloc((size_t)in->parts, sizeof(size_t))};
        if (!x->texts || !x->lens)
            abort();
    }
    if (x->texts[in->part - 1])
        return NULL; /* a part seen twice */
    x->texts[in->part - 1] = r->text;
    x->lens[in->part - 1] = r->text_len;
    x->canonical &= r->canonical;
    r->text = NULL;
    if (++x->got < x->parts)
        return NULL;
    char *whole = results_merge(x->texts, x->lens, x->parts, len);
    *canonical = x->canonical;
    /* Done with this item: every attempt of it goes. */
    long long index = x->index;
    for (size_t i = a->n; i-- > 0;)
        if (a->v[i].index == index) {
            assembling_free(&a->v[i]);
            a->v[i] = a->v[--a->n];
        }
    return whole;
}

void assembly_release(struct assembly *a)
{
    for (size_t i = 0; i < a->n; i++)
        assembling_free(&a->v[i]);
    free(a->v);
    memset(a, 0, sizeof(*a));
}
