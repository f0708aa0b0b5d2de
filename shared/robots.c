#include "robots.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crawlurl.h"

enum robots_kind { ROBOTS_RULES, ROBOTS_ALLOW_EVERYTHING, ROBOTS_DISALLOW_EVERYTHING };

/* One Allow or Disallow rule; its pattern lives in the set's arena,
 * normalized, without the final `$` (that is `anchored`). */
struct rule {
    size_t off, len;
    size_t prio; /* octets of the normalized pattern as written, `$` included */
    size_t lit;  /* length of the literal prefix before the first `*` */
    unsigned allow : 1, anchored : 1, derived : 1;
};

/* The rules of one kind of group (ours, or "*"), gathered while parsing. */
struct ruleset {
    struct rule *v;
    size_t n, alloc;
    struct buf arena;
    long long delay_ms; /* -1: none */
};

struct robots {
    enum robots_kind kind;
    long status;
    char reason[96];
    struct ruleset rules;
    char **sitemaps;
    size_t n_sitemaps;
};

static void ruleset_init(struct ruleset *s)
{
    memset(s, 0, sizeof(*s));
    buf_init(&s->arena, BUF_NO_MAX);
    s->delay_ms = -1;
}

static void ruleset_release(struct ruleset *s)
{
    free(s->v);
    buf_release(&s->arena);
    memset(s, 0, sizeof(*s));
}

static struct robots *robots_new(enum robots_kind kind, long status)
{
    struct robots *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->kind = kind;
    r->status = status;
    ruleset_init(&r->rules);
    return r;
}

void robots_free(struct robots *r)
{
    if (!r)
        return;
    ruleset_release(&r->rules);
    for (size_t i = 0; i < r->n_sitemaps; i++)
        free(r->sitemaps[i]);
    free(r->sitemaps);
    free(r);
}

/* Adds a rule with pattern p (n bytes, as written in the file) to s. */
static int ruleset_add(struct ruleset *s, int allow, const char *p, size_t n, int derived)
{
    if (n == 0 || s->n >= ROBOTS_MAX_RULES)
        return 0; /* an empty value matches nothing */
    if (s->n == s->alloc) {
        size_t na = s->alloc ? 2 * s->alloc : 16;
        struct rule *v = realloc(s->v, na * sizeof(*v));
        if (!v)
            return -1;
        s->v = v;
        s->alloc = na;
    }
    int anchored = p[n - 1] == '$';
    struct rule *r = &s->v[s->n];
    r->off = s->arena.len;
    /* A `$` before the end is an ordinary character, compared encoded. */
    if (crawlurl_pct_normalize(&s->arena, p, n - (size_t)anchored, "$"))
        return -1;
    r->len = s->arena.len - r->off;
    r->prio = r->len + (size_t)anchored;
    const char *star = memchr(s->arena.ptr + r->off, '*', r->len);
    r->lit = star ? (size_t)(star - (s->arena.ptr + r->off)) : r->len;
    r->allow = allow ? 1 : 0;
    r->anchored = anchored ? 1 : 0;
    r->derived = derived ? 1 : 0;
    s->n++;

    /* Google's reading, which matches how the crawl folds pages: allowing a
     * directory's index.html allows the directory itself. */
    if (allow && !derived) {
        const char *slash = memrchr(p, '/', n);
        if (slash && (size_t)(p + n - slash) >= 11 && memcmp(slash, "/index.html", 11) == 0) {
            size_t dlen = (size_t)(slash - p) + 1;
            char *dir = malloc(dlen + 1);
            if (!dir)
                return -1;
            memcpy(dir, p, dlen);
            dir[dlen] = '$';
            int rc = ruleset_add(s, 1, dir, dlen + 1, 1);
            free(dir);
            return rc;
        }
    }
    return 0;
}

/* Crawl-delay: seconds, fractions allowed; anything else is ignored. */
static void ruleset_delay(struct ruleset *s, const char *v, size_t n)
{
    char tmp[32];
    if (n == 0 || n >= sizeof(tmp))
        return;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    char *end;
    double secs = strtod(tmp, &end);
    if (end == tmp || *end || !(secs >= 0) || !isfinite(secs))
        return;
    long long ms = secs * 1000.0 > (double)ROBOTS_MAX_DELAY_MS ? ROBOTS_MAX_DELAY_MS
                                                               : (long long)llround(secs * 1000.0);
    if (ms > s->delay_ms)
        s->delay_ms = ms;
}

enum directive {
    DIR_UNKNOWN,
    DIR_USER_AGENT,
    DIR_ALLOW,
    DIR_DISALLOW,
    DIR_CRAWL_DELAY,
    DIR_SITEMAP,
};

/* Names and the misspellings that are common enough to honour. */
static const struct {
    const char *name;
    enum directive d;
} directives[] = {
    {"user-agent", DIR_USER_AGENT},   {"useragent", DIR_USER_AGENT},
    {"user agent", DIR_USER_AGENT},   {"allow", DIR_ALLOW},
    {"disallow", DIR_DISALLOW},       {"dissallow", DIR_DISALLOW},
    {"dissalow", DIR_DISALLOW},       {"disalow", DIR_DISALLOW},
    {"diasllow", DIR_DISALLOW},       {"disallaw", DIR_DISALLOW},
    {"crawl-delay", DIR_CRAWL_DELAY}, {"sitemap", DIR_SITEMAP},
    {"site-map", DIR_SITEMAP},
};

static enum directive directive_of(const char *k, size_t n)
{
    for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++)
        if (strlen(directives[i].name) == n && strncasecmp(directives[i].name, k, n) == 0)
            return directives[i].d;
    return DIR_UNKNOWN;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_blank(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_blank((*s)[*n - 1]))
        (*n)--;
}

/* Splits "name: value" (or "name value" with a one-word value). 0 when the
 * line is neither. */
static int split_line(const char *l, size_t n, const char **k, size_t *kn, const char **v,
                      size_t *vn)
{
    const char *colon = memchr(l, ':', n);
    if (colon) {
        *k = l;
        *kn = (size_t)(colon - l);
        *v = colon + 1;
        *vn = n - *kn - 1;
    } else {
        size_t i = 0;
        while (i < n && !is_blank(l[i]))
            i++;
        if (i == n)
            return 0;
        *k = l;
        *kn = i;
        *v = l + i;
        *vn = n - i;
        trim(v, vn);
        for (size_t j = 0; j < *vn; j++)
            if (is_blank((*v)[j]))
                return 0;
    }
    trim(k, kn);
    trim(v, vn);
    return *kn > 0;
}

/* The group state while reading lines. */
struct parse {
    const char *product;
    size_t product_len;
    struct ruleset ours, star; /* groups naming our token / "*" */
    int seen_ours, seen_star;  /* some user-agent line named it */
    int in_agents;             /* the last directive was a user-agent line */
    int cur_ours, cur_star;    /* the current group applies to ours / "*" */
    struct robots *r;
};

static int add_sitemap(struct robots *r, const char *v, size_t n)
{
    if (n == 0 || n > CRAWLURL_MAX || r->n_sitemaps >= ROBOTS_MAX_SITEMAPS)
        return 0;
    if (r->n_sitemaps % 8 == 0) {
        char **s = realloc(r->sitemaps, (r->n_sitemaps + 8) * sizeof(*s));
        if (!s)
            return -1;
        r->sitemaps = s;
    }
    if (!(r->sitemaps[r->n_sitemaps] = strndup(v, n)))
        return -1;
    r->n_sitemaps++;
    return 0;
}

static void user_agent(struct parse *ps, const char *v, size_t n)
{
    if (!ps->in_agents) {
        ps->in_agents = 1;
        ps->cur_ours = ps->cur_star = 0;
    }
    if (n >= 1 && v[0] == '*' && (n == 1 || is_blank(v[1]))) {
        ps->cur_star = ps->seen_star = 1;
        return;
    }
    size_t t = 0;
    while (t < n && (isalpha((unsigned char)v[t]) || v[t] == '-' || v[t] == '_'))
        t++;
    if (t && t == ps->product_len && strncasecmp(v, ps->product, t) == 0)
        ps->cur_ours = ps->seen_ours = 1;
}

static int parse_line(struct parse *ps, const char *l, size_t n)
{
    const char *hash = memchr(l, '#', n);
    if (hash)
        n = (size_t)(hash - l);
    trim(&l, &n);
    const char *k, *v;
    size_t kn, vn;
    if (n == 0 || !split_line(l, n, &k, &kn, &v, &vn))
        return 0;
    enum directive d = directive_of(k, kn);
    switch (d) {
    case DIR_USER_AGENT: user_agent(ps, v, vn); return 0;
    case DIR_SITEMAP: return add_sitemap(ps->r, v, vn);
    case DIR_UNKNOWN: return 0;
    case DIR_ALLOW:
    case DIR_DISALLOW:
    case DIR_CRAWL_DELAY: break;
    }
    ps->in_agents = 0;
    struct ruleset *sets[2] = {ps->cur_ours ? &ps->ours : NULL, ps->cur_star ? &ps->star : NULL};
    for (int i = 0; i < 2; i++) {
        if (!sets[i])
            continue;
        if (d == DIR_CRAWL_DELAY)
            ruleset_delay(sets[i], v, vn);
        else if (ruleset_add(sets[i], d == DIR_ALLOW, v, vn, 0))
            return -1;
    }
    return 0;
}

struct robots *robots_parse(const char *text, size_t len, const char *product)
{
    struct robots *r = robots_new(ROBOTS_RULES, 200);
    if (!r)
        return NULL;
    struct parse ps = {.product = product, .product_len = strlen(product), .r = r};
    ruleset_init(&ps.ours);
    ruleset_init(&ps.star);

    if (len > ROBOTS_MAX_BYTES) {
        /* Parse up to the last whole line within the limit: half a rule
         * could allow what the whole one disallows. */
        len = ROBOTS_MAX_BYTES;
        while (len && text[len - 1] != '\n' && text[len - 1] != '\r')
            len--;
    }
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    size_t i = 0;
    while (i < 3 && i < len && (unsigned char)text[i] == bom[i])
        i++;
    while (i < len) {
        size_t start = i;
        while (i < len && text[i] != '\n' && text[i] != '\r')
            i++;
        size_t n = i - start;
        if (n > ROBOTS_LINE_MAX - 1)
            n = ROBOTS_LINE_MAX - 1;
        if (parse_line(&ps, text + start, n))
            goto fail;
        /* One line break: CR, LF or CRLF. */
        if (i < len && text[i] == '\r' && ++i < len && text[i] == '\n')
            i++;
        else if (i < len && text[i] == '\n')
            i++;
    }
    /* Our group if any line named us (even with no rules), else "*". */
    ruleset_release(&r->rules);
    if (ps.seen_ours) {
        r->rules = ps.ours;
        ruleset_release(&ps.star);
    } else {
        r->rules = ps.star;
        ruleset_release(&ps.ours);
    }
    return r;
fail:
    ruleset_release(&ps.ours);
    ruleset_release(&ps.star);
    robots_free(r);
    return NULL;
}

struct robots *robots_allow_all(void)
{
    return robots_new(ROBOTS_ALLOW_EVERYTHING, 200);
}

struct robots *robots_disallow_all(const char *reason)
{
    struct robots *r = robots_new(ROBOTS_DISALLOW_EVERYTHING, 0);
    if (r)
        snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "disallowed");
    return r;
}

struct robots *robots_fetched(long status, const char *body, size_t len, const char *product)
{
    struct robots *r;
    if (status >= 200 && status < 300) {
        r = robots_parse(body ? body : "", body ? len : 0, product);
    } else if (status >= 400 && status < 500 && status != 429) {
        r = robots_allow_all();
    } else {
        char why[96];
        if (status == 0)
            snprintf(why, sizeof(why), "robots.txt unreachable: no answer");
        else if (status >= 300 && status < 400)
            snprintf(why, sizeof(why), "robots.txt unreachable: more than %d redirects",
                     ROBOTS_MAX_REDIRECTS);
        else
            snprintf(why, sizeof(why), "robots.txt unreachable: HTTP %ld", status);
        r = robots_disallow_all(why);
    }
    if (r)
        r->status = status;
    return r;
}

/* Whether pattern p (n bytes, `*` = any run) matches a prefix of s (the
 * whole of s when anchored). The classic backtrack-to-the-last-star walk:
 * linear for patterns with one star, O(n * m) at worst. */
static int pattern_match(const char *p, size_t pn, int anchored, const char *s, size_t sn)
{
    size_t i = 0, j = 0, star = SIZE_MAX, mark = 0;
    while (i < sn) {
        if (j < pn && p[j] == '*') {
            star = j++;
            mark = i;
        } else if (j == pn && !anchored) {
            return 1;
        } else if (j < pn && p[j] == s[i]) {
            i++;
            j++;
        } else if (star != SIZE_MAX) {
            j = star + 1;
            i = ++mark;
        } else {
            return 0;
        }
    }
    while (j < pn && p[j] == '*')
        j++;
    return j == pn;
}

int robots_allowed(const struct robots *r, const char *path)
{
    if (r->kind != ROBOTS_RULES)
        return r->kind == ROBOTS_ALLOW_EVERYTHING;
    const struct ruleset *s = &r->rules;
    if (s->n == 0)
        return 1;
    struct buf norm = BUF_INIT(BUF_NO_MAX);
    if (!path[0])
        path = "/";
    /* A literal * or $ in the URL can only be named encoded by a rule. */
    if (crawlurl_pct_normalize(&norm, path, strlen(path), "*$"))
        return 1;
    const char *p = buf_str(&norm);
    size_t pn = norm.len;
    size_t plen = strcspn(p, "?");
    int allowed = 1;
    if (plen == 11 && memcmp(p, "/robots.txt", 11) == 0)
        goto out;

    long best_allow = -1, best_disallow = -1;
    for (size_t i = 0; i < s->n; i++) {
        const struct rule *ru = &s->v[i];
        long *best = ru->allow ? &best_allow : &best_disallow;
        if ((long)ru->prio <= *best)
            continue;
        const char *pat = s->arena.ptr + ru->off;
        if (ru->lit > pn || memcmp(pat, p, ru->lit) != 0)
            continue;
        if (ru->lit == ru->len ? (!ru->anchored || pn == ru->len)
                               : pattern_match(pat, ru->len, ru->anchored, p, pn))
            *best = (long)ru->prio;
    }
    allowed = best_disallow <= best_allow;
out:
    buf_release(&norm);
    return allowed;
}

const char *robots_reason(const struct robots *r)
{
    return r->kind == ROBOTS_DISALLOW_EVERYTHING ? r->reason : NULL;
}

long robots_status(const struct robots *r)
{
    return r->status;
}

long long robots_crawl_delay_ms(const struct robots *r)
{
    return r->rules.delay_ms;
}

size_t robots_sitemap_count(const struct robots *r)
{
    return r->n_sitemaps;
}

const char *robots_sitemap(const struct robots *r, size_t i)
{
    return i < r->n_sitemaps ? r->sitemaps[i] : NULL;
}

int robots_dump(const struct robots *r, const char *product, struct buf *out)
{
    if (r->kind == ROBOTS_DISALLOW_EVERYTHING)
        return buf_adds(out, "user-agent: *\ndisallow: /\n");
    if (buf_addf(out, "user-agent: %s\n", product))
        return -1;
    const struct ruleset *s = &r->rules;
    for (size_t i = 0; i < s->n; i++) {
        const struct rule *ru = &s->v[i];
        if (ru->derived)
            continue;
        if (buf_addf(out, "%s: %.*s%s\n", ru->allow ? "allow" : "disallow", (int)ru->len,
                     s->arena.ptr + ru->off, ru->anchored ? "$" : ""))
            return -1;
    }
    if (s->delay_ms >= 0 &&
        buf_addf(out, "crawl-delay: %lld.%03lld\n", s->delay_ms / 1000, s->delay_ms % 1000))
        return -1;
    for (size_t i = 0; i < r->n_sitemaps; i++)
        if (buf_addf(out, "sitemap: %s\n", r->sitemaps[i]))
            return -1;
    return 0;
}
