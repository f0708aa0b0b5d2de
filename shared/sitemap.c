#include "sitemap.h"

#include <libxml/xmlreader.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"

/* The uncompressed byte stream, read in chunks: straight from the body, or
 * through inflate. Stops (with `over`) at the byte limit. */
struct src {
    const unsigned char *data;
    size_t len, pos;
    int gzip, z_open, z_done;
    z_stream z;
    size_t produced, max;
    int over;   /* the byte limit cut the stream */
    int broken; /* the gzip stream is corrupt or cut short */
    /* The first chunk, read ahead to tell XML from text. */
    char head[1024];
    size_t head_len, head_pos;
};

static int src_open(struct src *s, const void *data, size_t len, size_t max)
{
    memset(s, 0, sizeof(*s));
    s->data = data;
    s->len = len;
    s->max = max;
    s->gzip = len >= 2 && s->data[0] == 0x1f && s->data[1] == 0x8b;
    if (s->gzip) {
        if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
            return -1;
        s->z_open = 1;
        s->z.next_in = (unsigned char *)s->data;
        s->z.avail_in = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
    }
    return 0;
}

static void src_close(struct src *s)
{
    if (s->z_open)
        inflateEnd(&s->z);
    s->z_open = 0;
}

/* Up to cap uncompressed bytes into out; 0 at the end (or the limit), -1 when
 * the gzip stream is broken. */
static long src_pull(struct src *s, char *out, size_t cap)
{
    if (s->produced >= s->max) {
        if (s->gzip ? !s->z_done : s->pos < s->len)
            s->over = 1;
        return 0;
    }
    if (cap > s->max - s->produced)
        cap = s->max - s->produced;
    size_t n = 0;
    if (!s->gzip) {
        n = s->len - s->pos < cap ? s->len - s->pos : cap;
        memcpy(out, s->data + s->pos, n);
        s->pos += n;
    } else {
        while (n == 0 && !s->z_done) {
            s->z.next_out = (unsigned char *)out;
            s->z.avail_out = (uInt)cap;
            int rc = inflate(&s->z, Z_NO_FLUSH);
            n = cap - s->z.avail_out;
            if (rc == Z_STREAM_END) {
                /* Several gzip members in a row are one file (RFC 1952). */
                if (s->z.avail_in >= 2 && s->z.next_in[0] == 0x1f && s->z.next_in[1] == 0x8b)
                    inflateReset(&s->z);
                else
                    s->z_done = 1;
            } else if (rc != Z_OK && !(rc == Z_BUF_ERROR && n > 0)) {
                s->broken = 1;
                return -1;
            } else if (rc == Z_OK && n == 0 && s->z.avail_in == 0) {
                s->broken = 1; /* cut short: input ended inside the stream */
                return -1;
            }
        }
    }
    s->produced += n;
    return (long)n;
}

/* The read-ahead head first, then the stream. */
static long src_read(struct src *s, char *out, size_t cap)
{
    if (s->head_pos < s->head_len) {
        size_t n = s->head_len - s->head_pos < cap ? s->head_len - s->head_pos : cap;
        memcpy(out, s->head + s->head_pos, n);
        s->head_pos += n;
        return (long)n;
    }
    return src_pull(s, out, cap);
}

static int xml_read(void *ctx, char *buffer, int len)
{
    long n = src_read(ctx, buffer, (size_t)len);
    return n < 0 ? -1 : (int)n;
}

static int xml_close(void *ctx)
{
    (void)ctx;
    return 0;
}

struct walk {
    sitemap_loc_fn fn;
    void *arg;
    size_t max_locs;
    struct sitemap_stats st;
    int stopped; /* fn asked to stop, or the location limit was reached */
    char xml_error[160];
};

/* Reports one location (trimmed); sets w->stopped when done. */
static void report(struct walk *w, const char *loc, size_t len)
{
    while (len && (unsigned char)*loc <= 0x20) {
        loc++;
        len--;
    }
    while (len && (unsigned char)loc[len - 1] <= 0x20)
        len--;
    if (len == 0 || len > SITEMAP_LOC_MAX)
        return;
    if (w->st.locs >= w->max_locs) {
        w->st.truncated = 1;
        w->stopped = 1;
        return;
    }
    char tmp[SITEMAP_LOC_MAX + 1];
    memcpy(tmp, loc, len);
    tmp[len] = '\0';
    w->st.locs++;
    if (w->fn(w->arg, w->st.kind, tmp, len))
        w->stopped = 1;
}

static void xml_error(void *arg, xmlErrorPtr err)
{
    struct walk *w = arg;
    if (!w->xml_error[0] && err && err->message) {
        snprintf(w->xml_error, sizeof(w->xml_error), "line %d: %s", err->line, err->message);
        size_t n = strlen(w->xml_error);
        if (n && w->xml_error[n - 1] == '\n')
            w->xml_error[n - 1] = '\0';
    }
}

static int walk_xml(struct walk *w, struct src *s, char *errstr, size_t errstr_size)
{
    /* No DTD loading, no network, no entity substitution: a sitemap needs
     * none of them, and each is a way in for a hostile document. */
    xmlTextReaderPtr rd = xmlReaderForIO(xml_read, xml_close, s, NULL, NULL,
                                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                             XML_PARSE_NOCDATA);
    if (!rd) {
        snprintf(errstr, errstr_size, "cannot start the XML reader");
        return -1;
    }
    xmlTextReaderSetStructuredErrorHandler(rd, xml_error, w);
    struct buf loc = BUF_INIT(SITEMAP_LOC_MAX);
    int rc = 0, in_loc = 0, loc_too_long = 0, parent_ok = 0, ret = 0;
    /* loc_too_long: the current <loc> is skipped (too long, or unreadable) */
    while (!w->stopped && (ret = xmlTextReaderRead(rd)) == 1) {
        int type = xmlTextReaderNodeType(rd);
        int depth = xmlTextReaderDepth(rd);
        const char *name = (const char *)xmlTextReaderConstLocalName(rd);
        if (type == XML_READER_TYPE_ELEMENT) {
            if (depth == 0) {
                if (name && strcmp(name, "urlset") == 0) {
                    w->st.kind = SITEMAP_URLSET;
                } else if (name && strcmp(name, "sitemapindex") == 0) {
                    w->st.kind = SITEMAP_INDEX;
                } else {
                    snprintf(errstr, errstr_size, "not a sitemap: the root element is <%.40s>",
                             name ? name : "?");
                    rc = -1;
                    break;
                }
            } else if (depth == 1) {
                parent_ok =
                    name && strcmp(name, w->st.kind == SITEMAP_URLSET ? "url" : "sitemap") == 0;
            } else if (depth == 2 && parent_ok && name && strcmp(name, "loc") == 0 &&
                       !xmlTextReaderIsEmptyElement(rd)) {
                in_loc = 1;
                loc_too_long = 0;
                buf_reset(&loc);
            }
        } else if (in_loc && (type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA ||
                              type == XML_READER_TYPE_WHITESPACE ||
                              type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE)) {
            const char *v = (const char *)xmlTextReaderConstValue(rd);
            if (v && !loc_too_long && buf_adds(&loc, v))
                loc_too_long = 1; /* the buffer released itself; skip this <loc> */
        } else if (in_loc && type == XML_READER_TYPE_ENTITY_REFERENCE) {
            loc_too_long = 1; /* entities stay unexpanded: this <loc> is unreadable */
        } else if (in_loc && type == XML_READER_TYPE_END_ELEMENT && depth == 2) {
            in_loc = 0;
            if (!loc_too_long)
                report(w, buf_str(&loc), loc.len);
        }
    }
    if (rc == 0 && !w->stopped && ret != 0) {
        if (s->over) {
            w->st.truncated = 1; /* the byte limit cut the document */
        } else {
            snprintf(errstr, errstr_size, "%s",
                     s->broken ? "broken gzip stream"
                               : (w->xml_error[0] ? w->xml_error : "malformed XML"));
            rc = -1;
        }
    }
    if (rc == 0 && w->st.kind == SITEMAP_UNKNOWN && !s->over) {
        snprintf(errstr, errstr_size, "not a sitemap: no root element");
        rc = -1;
    }
    buf_release(&loc);
    xmlFreeTextReader(rd);
    return rc;
}

static int walk_text(struct walk *w, struct src *s, char *errstr, size_t errstr_size)
{
    struct buf line = BUF_INIT(SITEMAP_LOC_MAX);
    char chunk[16384];
    int skipping = 0; /* inside a line longer than a location may be */
    long n;
    while (!w->stopped && (n = src_read(s, chunk, sizeof(chunk))) > 0) {
        for (long i = 0; i < n && !w->stopped; i++) {
            if (chunk[i] == '\n' || chunk[i] == '\r') {
                if (!skipping)
                    report(w, buf_str(&line), line.len);
                skipping = 0;
                buf_reset(&line);
            } else if (!skipping && buf_addc(&line, chunk[i])) {
                skipping = 1;
            }
        }
    }
    if (!w->stopped && !skipping)
        report(w, buf_str(&line), line.len);
    buf_release(&line);
    if (s->broken) {
        snprintf(errstr, errstr_size, "broken gzip stream");
        return -1;
    }
    if (s->over)
        w->st.truncated = 1;
    return 0;
}

int sitemap_parse(const void *data, size_t len, const struct sitemap_limits *lim, sitemap_loc_fn fn,
                  void *arg, struct sitemap_stats *st, char *errstr, size_t errstr_size)
{
    struct walk w = {.fn = fn, .arg = arg};
    w.max_locs = lim && lim->max_locs ? lim->max_locs : SITEMAP_MAX_LOCS;
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : SITEMAP_MAX_BYTES;
    struct src s;
    int rc = -1;
    if (src_open(&s, data, len, max_bytes)) {
        snprintf(errstr, errstr_size, "cannot start inflate");
        goto out;
    }
    w.st.gzip = s.gzip;
    /* XML or text? The first non-blank character after a byte order mark. */
    long n = src_pull(&s, s.head, sizeof(s.head));
    if (n < 0) {
        snprintf(errstr, errstr_size, "broken gzip stream");
        goto out;
    }
    s.head_len = (size_t)n;
    size_t i = 0;
    if (s.head_len >= 3 && memcmp(s.head, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < s.head_len && (unsigned char)s.head[i] <= 0x20)
        i++;
    if (i < s.head_len && s.head[i] == '<') {
        rc = walk_xml(&w, &s, errstr, errstr_size);
    } else {
        w.st.kind = SITEMAP_TEXT;
        s.head_pos = i;
        rc = walk_text(&w, &s, errstr, errstr_size);
    }
out:
    w.st.bytes = s.produced;
    src_close(&s);
    if (st)
        *st = w.st;
    return rc;
}

const char *sitemap_kind_name(enum sitemap_kind k)
{
    switch (k) {
    case SITEMAP_UNKNOWN: return "unknown";
    case SITEMAP_URLSET: return "urlset";
    case SITEMAP_INDEX: return "sitemapindex";
    case SITEMAP_TEXT: return "text";
    }
    return "?";
}
