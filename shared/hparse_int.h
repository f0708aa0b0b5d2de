/*
 * hparse_int — what the parts of hparse (shared/hparse.h) share:
 * hparse.c (the document and its markup: tags, comments, text, raw text),
 * hparse_tree.c (libxml2's tree construction: the open elements, implied
 * and auto-closed ones, nodes), hparse_text.c (names, references,
 * attribute values, the input check) and hparse_tags.c (libxml2 2.9.14's
 * HTML element knowledge: the tags a start tag closes, end-tag
 * priorities, empty elements).
 *
 * Every function that meets something it does not model calls
 * hparse_decline(), which leaves the parse (longjmp) for libxml2's.
 */
#ifndef FERRY_HPARSE_INT_H
#define FERRY_HPARSE_INT_H

#include <libxml/tree.h>
#include <libxml/valid.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "utf8.h"

/* The HTML 4 elements libxml2 knows, plus listing and xmp (named by its
 * auto-close table). Ids follow this order; TAG_NONE is any other name. */
/* clang-format off */
#define HPARSE_TAGS(X) \
    X(a) X(abbr) X(acronym) X(address) X(applet) X(area) X(b) X(base) X(basefont) X(bdo) \
    X(big) X(blockquote) X(body) X(br) X(button) X(caption) X(center) X(cite) X(code) \
    X(col) X(colgroup) X(dd) X(del) X(dfn) X(dir) X(div) X(dl) X(dt) X(em) X(embed) X(fieldset) \
    X(font) X(form) X(frame) X(frameset) X(h1) X(h2) X(h3) X(h4) X(h5) X(h6) X(head) X(hr) \
    X(html) X(i) X(iframe) X(img) X(input) X(ins) X(isindex) X(kbd) X(label) X(legend) \
    X(li) X(link) X(listing) X(map) X(menu) X(meta) X(noframes) X(noscript) X(object) \
    X(ol) X(optgroup) X(option) X(p) X(param) X(pre) X(q) X(s) X(samp) X(script) X(select) \
    X(small) X(span) X(strike) X(strong) X(style) X(sub) X(sup) X(table) X(tbody) X(td) \
    X(textarea) X(tfoot) X(th) X(thead) X(title) X(tr) X(tt) X(u) X(ul) X(var) X(xmp)
/* clang-format on */

#define HPARSE_TAG_ENUM(n) TAG_##n,
enum hparse_tag { HPARSE_TAGS(HPARSE_TAG_ENUM) TAG_COUNT, TAG_NONE = -1 };

/* libxml2 halts at a nesting of 256 (xmlParserMaxDepth) and keeps what it
 * had: that tree is left to it. */
#define MAX_DEPTH 250
/* HTML_PARSER_BUFFER_SIZE: libxml2 cuts longer names there. */
#define NAME_MAX_LEN 100
/* HTML_PARSER_BIG_BUFFER_SIZE: text reaches the tree in pieces this big. */
#define CHUNK 1000
/* More attributes on one tag: left to libxml2 (its check for repeats is
 * quadratic, and so would ours be). */
#define MAX_ATTS 256

struct open {
    const xmlChar *name;
    int tag;
    xmlNodePtr node;
};

struct att {
    const xmlChar *name;
    size_t off, len; /* of the value in hp.vals */
    int has_value;
};

struct hp {
    const unsigned char *p, *end;
    xmlDocPtr doc;
    struct open *st;
    int nr, cap;
    int html;  /* ctxt->html: 3 once a head was opened, 10 once a body */
    int depth; /* misplaced html/head/body start tags (their end tags are ignored) */
    const xmlChar *names[TAG_COUNT];
    /* The current element's text not yet in the tree: libxml2 merges
     * adjacent text, so it becomes one node when something else comes. */
    unsigned char *text;
    size_t tlen, tcap;
    unsigned char *vals; /* attribute values of the tag being read */
    size_t vlen, vcap;
    size_t vcut;                         /* where the value being read was cut by a NUL */
    struct att *atts;                    /* MAX_ATTS of them */
    unsigned char la_name[NAME_MAX_LEN]; /* the start tag content() looked ahead at */
    size_t la_len;
    int la_tag;
    struct {
        const xmlChar *name;
        size_t len;
    } att_names[64]; /* recent attribute names' dictionary strings */
    xmlValidCtxt vctxt;
    jmp_buf decline;
};

__attribute__((noreturn)) static inline void hparse_decline(struct hp *h)
{
    longjmp(h->decline, 1);
}

static inline int cur(const struct hp *h)
{
    return h->p < h->end ? *h->p : 0;
}

static inline int nxt(const struct hp *h, size_t k)
{
    return (size_t)(h->end - h->p) > k ? h->p[k] : 0;
}

static inline int is_blank(int c)
{
    return c == 0x20 || c == 0x9 || c == 0xA || c == 0xD;
}

static inline int is_letter(int c)
{
    return (unsigned)((c | 0x20) - 'a') < 26;
}

static inline int is_digit(int c)
{
    return (unsigned)(c - '0') < 10;
}

static inline void skip_blanks(struct hp *h)
{
    while (h->p < h->end && is_blank(*h->p))
        h->p++;
}

static inline xmlNodePtr top_node(const struct hp *h)
{
    return h->nr ? h->st[h->nr - 1].node : NULL;
}

static inline int top_tag(const struct hp *h)
{
    return h->nr ? h->st[h->nr - 1].tag : TAG_NONE;
}

static inline const xmlChar *top_name(const struct hp *h)
{
    return h->nr ? h->st[h->nr - 1].name : NULL;
}

/* hparse_tree.c: nodes */
xmlNodePtr hparse_node(struct hp *h, xmlElementType type, const xmlChar *name);
void hparse_append(xmlNodePtr parent, xmlNodePtr n);
xmlChar *hparse_copy(const unsigned char *s, size_t len);
/* the name's dictionary string (tag >= 0: cached per document) */
const xmlChar *hparse_intern(struct hp *h, int tag, const unsigned char *name, size_t len);
const xmlChar *hparse_tag_name(struct hp *h, int tag);

/* hparse_tree.c: libxml2's SAX events and tree rules */
void hparse_characters(struct hp *h, const unsigned char *s, size_t len);
void hparse_flush(struct hp *h);
void hparse_push(struct hp *h, const xmlChar *name, int tag, int nbatts);
void hparse_pop(struct hp *h);
void hparse_auto_close(struct hp *h, int newtag);
void hparse_check_implied(struct hp *h, int newtag);
void hparse_check_paragraph(struct hp *h);
void hparse_close_all(struct hp *h);

/* hparse_text.c */
extern const unsigned char hparse_name_lower[256];
void hparse_grow(unsigned char **b, size_t *cap, size_t need);
/* htmlParseHTMLName at *at (moved past it): the lower-cased name into buf
 * (NAME_MAX_LEN bytes), its length; 0 when there is none. */
size_t hparse_html_name(struct hp *h, const unsigned char **at, unsigned char *buf);
size_t hparse_entity_name(struct hp *h);
unsigned hparse_char_ref(struct hp *h);
unsigned hparse_entity_value(const unsigned char *name, size_t len);
void hparse_att_value(struct hp *h, int stop);
int hparse_plain_utf8(const unsigned char *s, size_t n);

#define TAGF_EMPTY 1u /* no content: closed right after its start tag */

struct hparse_tag_info {
    const char *name;
    unsigned char len, flags;
    unsigned short priority; /* an end tag closes only elements of <= priority */
    uint64_t closed_by[2];   /* bit t: a start tag t closes this element */
};

extern struct hparse_tag_info hparse_tags[TAG_COUNT];

/* Fills hparse_tags (once; thread-safe). */
void hparse_tags_init(void);

/* The id of lower-case name[0..len), or TAG_NONE. */
int hparse_tag_id(const unsigned char *name, size_t len);

static inline int hparse_closes(int newtag, int oldtag)
{
    return newtag >= 0 && oldtag >= 0 &&
           ((hparse_tags[oldtag].closed_by[newtag >> 6] >> (newtag & 63)) & 1);
}

static inline unsigned hparse_priority(int tag)
{
    return tag >= 0 ? hparse_tags[tag].priority : 100;
}

#endif
