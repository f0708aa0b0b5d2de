#include "extract.h"

#include <ctype.h>
#include <libxml/HTMLparser.h>
#include <libxml/HTMLtree.h>
#include <libxml/uri.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "extract_int.h"
#include "hparse.h"
#include "xarena.h"

unsigned extract_formats(const json_t *formats)
{
    unsigned mask = 0;
    size_t i;
    json_t *v;
    if (json_is_array(formats)) {
        json_array_foreach(formats, i, v)
        {
            enum format f = json_is_string(v)
                                ? format_parse(json_string_value(v), json_string_length(v))
                                : FORMAT_UNKNOWN;
            if (f != FORMAT_UNKNOWN)
                mask |= FORMAT_BIT(f);
        }
    }
    return json_is_array(formats) ? mask : FORMAT_BIT(FORMAT_HTML);
}

/* ------------------------------------------------------------ DOM walking */

static const char *attr(xmlNodePtr n, const char *name, xmlChar **owned)
{
    *owned = xmlGetProp(n, (const xmlChar *)name);
    return (const char *)*owned;
}

static int in_list(const xmlChar *name, const char *const *list)
{
    for (; *list; list++)
        if (xmlStrcmp(name, (const xmlChar *)*list) == 0)
            return 1;
    return 0;
}

static const char *const never_content[] = {"script", "style",  "noscript", "template",
                                            "svg",    "iframe", "object",   "canvas",
                                            "head",   "select", "button",   NULL};
static const char *const chrome[] = {"nav", "aside", "footer", "form", "dialog", NULL};
static const char *const block_tags[] = {
    "p",       "div",     "section", "article", "main",   "figure",  "figcaption",
    "address", "dl",      "dt",      "dd",      "body",   "html",    "fieldset",
    "details", "summary", "center",  "header",  "hgroup", "caption", NULL};

/* Drops the page's navigation chrome: nav/aside/footer/forms, ARIA
 * navigation landmarks, and a <header> that is the site's banner (not one
 * inside an article). */
/* An attribute's value without a copy (the text child libxml2 keeps). */
static const char *attr_raw(xmlNodePtr n, const char *name)
{
    for (xmlAttrPtr a = n->properties; a; a = a->next)
        if (xmlStrcmp(a->name, (const xmlChar *)name) == 0)
            return a->children && a->children->type == XML_TEXT_NODE
                       ? (const char *)a->children->content
                       : "";
    return NULL;
}

static int is_chrome(xmlNodePtr n)
{
    if (in_list(n->name, never_content) || in_list(n->name, chrome))
        return 1;
    if (n->properties) {
        const char *role = attr_raw(n, "role");
        if (role && (strcmp(role, "navigation") == 0 || strcmp(role, "banner") == 0 ||
                     strcmp(role, "contentinfo") == 0 || strcmp(role, "search") == 0))
            return 1;
        const char *hidden = attr_raw(n, "aria-hidden");
        if (hidden && strcmp(hidden, "true") == 0)
            return 1;
    }
    if (NAME_IS(n, "header")) {
        for (xmlNodePtr p = n->parent; p && p->type == XML_ELEMENT_NODE; p = p->parent)
            if (NAME_IS(p, "article") || NAME_IS(p, "main") || NAME_IS(p, "section"))
                return 0;
        return 1;
    }
    return 0;
}

struct render {
    struct buf *out;
    int markdown; /* 0: plain text */
    int pre;      /* inside <pre>: keep whitespace */
    int list_depth;
    int space; /* a collapsed space is pending */
    const xmlChar *base;
};

static char last_char(const struct render *r)
{
    return r->out->len ? r->out->ptr[r->out->len - 1] : '\n';
}

static void trim_spaces(struct render *r)
{
    while (r->out->len &&
           (r->out->ptr[r->out->len - 1] == ' ' || r->out->ptr[r->out->len - 1] == '\t'))
        r->out->ptr[--r->out->len] = '\0';
}

/* Ends the current block: at most one blank line between blocks. */
static void block_break(struct render *r)
{
    trim_spaces(r);
    r->space = 0;
    if (!r->out->len)
        return;
    if (last_char(r) != '\n')
        buf_addc(r->out, '\n');
    if (r->out->len < 2 || r->out->ptr[r->out->len - 2] != '\n')
        buf_addc(r->out, '\n');
}

static void line_break(struct render *r)
{
    trim_spaces(r);
    r->space = 0;
    if (r->out->len && last_char(r) != '\n')
        buf_addc(r->out, '\n');
}

static void emit(struct render *r, const char *s, size_t n)
{
    if (r->space) {
        char c = last_char(r);
        if (c != '\n' && c != ' ')
            buf_addc(r->out, ' ');
        r->space = 0;
    }
    buf_add(r->out, s, n);
}

/* Appends text with whitespace runs collapsed to one space (kept pending
 * until more text follows, so blocks end clean). One pass, one grow. */
static void emit_text(struct render *r, const char *s)
{
    if (r->pre) {
        buf_adds(r->out, s);
        return;
    }
    static const char ws[] = " \n\t\r\f\v";
    size_t len = strlen(s);
    buf_reserve(r->out, len + 1);
    struct buf *o = r->out;
    while (*s) {
        size_t n = strspn(s, ws);
        if (n) {
            s += n;
            r->space = 1;
            continue;
        }
        if (r->space) {
            char c = o->len ? o->ptr[o->len - 1] : '\n';
            if (c != '\n' && c != ' ')
                o->ptr[o->len++] = ' ';
            r->space = 0;
        }
        n = strcspn(s, ws);
        memcpy(o->ptr + o->len, s, n);
        o->len += n;
        s += n;
    }
    o->ptr[o->len] = '\0';
}

static void render_children(struct render *r, xmlNodePtr n);

/* An absolute URL for href against the base, or NULL (caller xmlFree). */
static xmlChar *absolute(const struct render *r, const char *href)
{
    if (!href)
        return NULL;
    while (isspace((unsigned char)*href))
        href++;
    size_t n = strlen(href);
    while (n && isspace((unsigned char)href[n - 1]))
        n--;
    xmlChar *trimmed = xmlStrndup((const xmlChar *)href, (int)n);
    xmlChar *abs = xmlBuildURI(trimmed, r->base);
    xmlFree(trimmed);
    return abs;
}

/* Renders n's content inline into a fresh buffer (for tables, link text). */
static void render_inline(struct render *r, xmlNodePtr n, struct buf *into)
{
    struct render sub = *r;
    sub.out = into;
    sub.space = 0;
    render_children(&sub, n);
    /* A table cell or link text is one line. */
    for (size_t i = 0; i < into->len; i++)
        if (into->ptr[i] == '\n')
            into->ptr[i] = ' ';
    while (into->len && into->ptr[into->len - 1] == ' ')
        into->ptr[--into->len] = '\0';
}

static void render_table(struct render *r, xmlNodePtr table)
{
    /* Rows in document order, through thead/tbody/tfoot. */
    xmlNodePtr rows[1024];
    size_t n_rows = 0;
    for (xmlNodePtr c = table->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (NAME_IS(c, "tr") && n_rows < 1024)
            rows[n_rows++] = c;
        else if (NAME_IS(c, "thead") || NAME_IS(c, "tbody") || NAME_IS(c, "tfoot"))
            for (xmlNodePtr t = c->children; t; t = t->next)
                if (t->type == XML_ELEMENT_NODE && NAME_IS(t, "tr") && n_rows < 1024)
                    rows[n_rows++] = t;
    }
    block_break(r);
    for (xmlNodePtr c = table->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && NAME_IS(c, "caption")) {
            render_children(r, c);
            block_break(r);
        }
    size_t cols = 0;
    for (size_t i = 0; i < n_rows; i++) {
        size_t k = 0;
        if (r->markdown)
            buf_addc(r->out, '|');
        for (xmlNodePtr c = rows[i]->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE || !(NAME_IS(c, "td") || NAME_IS(c, "th")))
                continue;
            struct buf cell = BUF_INIT(BUF_NO_MAX);
            render_inline(r, c, &cell);
            if (r->markdown) {
                buf_addc(r->out, ' ');
                for (size_t j = 0; j < cell.len; j++) {
                    if (cell.ptr[j] == '|')
                        buf_addc(r->out, '\\');
                    buf_addc(r->out, cell.ptr[j]);
                }
                buf_adds(r->out, " |");
            } else {
                if (k)
                    buf_addc(r->out, '\t');
                if (cell.len)
                    buf_add(r->out, cell.ptr, cell.len);
            }
            buf_release(&cell);
            k++;
        }
        if (i == 0)
            cols = k;
        buf_addc(r->out, '\n');
        if (i == 0 && r->markdown) {
            buf_addc(r->out, '|');
            for (size_t j = 0; j < cols; j++)
                buf_adds(r->out, " --- |");
            buf_addc(r->out, '\n');
        }
    }
    block_break(r);
}

static void render_element(struct render *r, xmlNodePtr n)
{
    const xmlChar *name = n->name;
    xmlChar *owned = NULL;
    if (is_chrome(n))
        return;
    if (name[0] == 'h' && name[1] >= '1' && name[1] <= '6' && !name[2]) {
        block_break(r);
        if (r->markdown) {
            for (int i = 0; i < name[1] - '0'; i++)
                buf_addc(r->out, '#');
            buf_addc(r->out, ' ');
        }
        render_children(r, n);
        block_break(r);
    } else if (NAME_IS(n, "br")) {
        line_break(r);
    } else if (NAME_IS(n, "hr")) {
        block_break(r);
        if (r->markdown)
            buf_adds(r->out, "---");
        block_break(r);
    } else if (NAME_IS(n, "ul") || NAME_IS(n, "ol")) {
        if (r->list_depth == 0)
            block_break(r);
        else
            line_break(r);
        int ordered = NAME_IS(n, "ol"), k = 1;
        r->list_depth++;
        for (xmlNodePtr c = n->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE || !NAME_IS(c, "li"))
                continue;
            line_break(r);
            for (int i = 1; i < r->list_depth; i++)
                buf_adds(r->out, "  ");
            if (r->markdown || ordered)
                buf_addf(r->out, ordered ? "%d. " : "- ", k++);
            else
                buf_adds(r->out, "- ");
            render_children(r, c);
        }
        r->list_depth--;
        if (r->list_depth == 0)
            block_break(r);
        else
            line_break(r);
    } else if (NAME_IS(n, "pre")) {
        block_break(r);
        if (r->markdown)
            buf_adds(r->out, "```\n");
        int was = r->pre;
        r->pre = 1;
        size_t start = r->out->len;
        render_children(r, n);
        r->pre = was;
        if (r->markdown) {
            if (r->out->len > start && last_char(r) != '\n')
                buf_addc(r->out, '\n');
            buf_adds(r->out, "```");
        }
        block_break(r);
    } else if (NAME_IS(n, "code") && !r->pre) {
        if (r->markdown)
            emit(r, "`", 1);
        render_children(r, n);
        if (r->markdown)
            buf_addc(r->out, '`');
    } else if (NAME_IS(n, "a")) {
        xmlChar *abs = r->markdown ? absolute(r, attr(n, "href", &owned)) : NULL;
        if (abs && (xmlStrncasecmp(abs, (const xmlChar *)"http", 4) == 0)) {
            struct buf label = BUF_INIT(BUF_NO_MAX);
            render_inline(r, n, &label);
            if (label.len) {
                emit(r, "[", 1);
                buf_add(r->out, label.ptr, label.len);
                buf_adds(r->out, "](");
                buf_adds(r->out, (const char *)abs);
                buf_addc(r->out, ')');
            }
            buf_release(&label);
        } else {
            render_children(r, n);
        }
        xmlFree(abs);
    } else if (r->markdown &&
               (NAME_IS(n, "strong") || NAME_IS(n, "b") || NAME_IS(n, "em") || NAME_IS(n, "i"))) {
        const char *mark = (NAME_IS(n, "strong") || NAME_IS(n, "b")) ? "**" : "_";
        struct buf inner = BUF_INIT(BUF_NO_MAX);
        render_inline(r, n, &inner);
        if (inner.len) {
            emit(r, mark, strlen(mark));
            buf_add(r->out, inner.ptr, inner.len);
            buf_adds(r->out, mark);
        }
        buf_release(&inner);
    } else if (NAME_IS(n, "img")) {
        if (r->markdown) {
            xmlChar *alt_owned;
            const char *alt = attr(n, "alt", &alt_owned);
            xmlChar *abs = absolute(r, attr(n, "src", &owned));
            if (abs) {
                emit(r, "![", 2);
                buf_adds(r->out, alt ? alt : "");
                buf_adds(r->out, "](");
                buf_adds(r->out, (const char *)abs);
                buf_addc(r->out, ')');
            }
            xmlFree(abs);
            xmlFree(alt_owned);
        }
    } else if (NAME_IS(n, "table")) {
        render_table(r, n);
    } else if (NAME_IS(n, "blockquote")) {
        block_break(r);
        if (r->markdown) {
            struct buf inner = BUF_INIT(BUF_NO_MAX);
            struct render sub = *r;
            sub.out = &inner;
            sub.space = 0;
            render_children(&sub, n);
            while (inner.len &&
                   (inner.ptr[inner.len - 1] == '\n' || inner.ptr[inner.len - 1] == ' '))
                inner.ptr[--inner.len] = '\0';
            buf_adds(r->out, "> ");
            for (size_t i = 0; i < inner.len; i++) {
                buf_addc(r->out, inner.ptr[i]);
                if (inner.ptr[i] == '\n')
                    buf_adds(r->out, "> ");
            }
            buf_release(&inner);
        } else {
            render_children(r, n);
        }
        block_break(r);
    } else if (NAME_IS(n, "li") || NAME_IS(n, "tr")) {
        line_break(r);
        render_children(r, n);
        line_break(r);
    } else if (in_list(name, block_tags)) {
        block_break(r);
        render_children(r, n);
        block_break(r);
    } else {
        render_children(r, n);
    }
    xmlFree(owned);
}

static void render_children(struct render *r, xmlNodePtr n)
{
    for (xmlNodePtr c = n->children; c; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE)
            emit_text(r, (const char *)c->content);
        else if (c->type == XML_ELEMENT_NODE)
            render_element(r, c);
    }
}

static void render(xmlDocPtr doc, const xmlChar *base, int markdown, struct buf *out)
{
    struct render r = {.out = out, .markdown = markdown, .base = base};
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (root)
        render_element(&r, root);
    /* Trim trailing whitespace; no leading blank lines. */
    while (out->len && isspace((unsigned char)out->ptr[out->len - 1]))
        out->ptr[--out->len] = '\0';
    buf_reserve(out, 0); /* "" rather than NULL when nothing was rendered */
}

char *extract_collapsed_text(xmlNodePtr n)
{
    xmlChar *t = xmlNodeGetContent(n);
    struct buf sb = BUF_INIT(BUF_NO_MAX);
    struct render r = {.out = &sb};
    emit_text(&r, t ? (const char *)t : "");
    xmlFree(t);
    buf_reserve(&sb, 0); /* "" rather than NULL when empty */
    return buf_detach(&sb, NULL);
}

/* <base href> overrides the document's URL for relative links. */
static xmlChar *document_base(xmlDocPtr doc, const char *url)
{
    xmlChar *base = NULL;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    for (xmlNodePtr h = root ? root->children : NULL; h; h = h->next) {
        if (h->type != XML_ELEMENT_NODE || !NAME_IS(h, "head"))
            continue;
        for (xmlNodePtr c = h->children; c; c = c->next)
            if (c->type == XML_ELEMENT_NODE && NAME_IS(c, "base")) {
                xmlChar *href = xmlGetProp(c, (const xmlChar *)"href");
                if (href)
                    base = xmlBuildURI(href, (const xmlChar *)url);
                xmlFree(href);
                if (base)
                    return base;
            }
    }
    return xmlStrdup((const xmlChar *)(url ? url : ""));
}

/* ------------------------------------------------------------ entry points */

static void base64_of(const char *body, size_t len, struct buf *out)
{
    size_t n = 4 * ((len + 2) / 3);
    buf_reserve(out, n);
    int w = EVP_EncodeBlock((unsigned char *)out->ptr + out->len, (const unsigned char *)body,
                            (int)len);
    out->len += (size_t)w;
    out->ptr[out->len] = '\0';
}

void extract_run(struct extract *ex, const char *body, size_t len, const char *content_type,
                 const char *base_url, unsigned formats)
{
    memset(ex, 0, sizeof(*ex));
    /* Generated from a body that is capped already: no cap of their own. */
    buf_init(&ex->conv, BUF_NO_MAX);
    buf_init(&ex->text, BUF_NO_MAX);
    buf_init(&ex->markdown, BUF_NO_MAX);
    buf_init(&ex->base64, BUF_NO_MAX);
    if (!extract_is_text(content_type, body, len)) {
        ex->binary = 1;
        if (formats & ~EXTRACT_KEEP_DOC)
            base64_of(body, len, &ex->base64);
        return;
    }
    int html = extract_is_html(content_type, body, len);
    extract_charset(content_type, body, len, html, ex->charset, sizeof(ex->charset));
    ex->html = body;
    ex->html_len = len;
    if (strcmp(ex->charset, "utf-8") != 0 &&
        extract_to_utf8(ex->charset, body, len, &ex->conv) == 0) {
        ex->html = buf_str(&ex->conv);
        ex->html_len = ex->conv.len;
    }
    /* A UTF-8 BOM is an encoding marker, not content. */
    if (ex->html_len >= 3 && memcmp(ex->html, "\xef\xbb\xbf", 3) == 0)
        ex->html += 3, ex->html_len -= 3;

    if (!html) {
        /* Rules read text as the HTML parser makes a page of it. */
        if (formats & EXTRACT_KEEP_DOC)
            ex->doc = hparse_read(ex->html, ex->html_len, base_url);
        if (formats & FORMAT_BIT(FORMAT_TEXT))
            buf_add(&ex->text, ex->html, ex->html_len);
        if (formats & FORMAT_BIT(FORMAT_MARKDOWN))
            buf_add(&ex->markdown, ex->html, ex->html_len);
        if (formats & FORMAT_BIT(FORMAT_LINKS))
            ex->links = json_array();
        if (formats & FORMAT_BIT(FORMAT_METADATA))
            ex->metadata = json_object();
        return;
    }
    if (!(formats & (FORMAT_BIT(FORMAT_TEXT) | FORMAT_BIT(FORMAT_MARKDOWN) |
                     FORMAT_BIT(FORMAT_LINKS) | FORMAT_BIT(FORMAT_METADATA) | EXTRACT_KEEP_DOC)))
        return;
    /* One parse serves every format and the rules (none of them changes
     * the tree). The tree and what the formats allocate on the way come
     * from this thread's arena; the tree is dropped whole. */
    ex->arena = xarena_hold();
    xarena_enter();
    htmlDocPtr doc = hparse_read(ex->html, ex->html_len, base_url);
    xmlChar *base = document_base(doc, base_url);
    if (formats & FORMAT_BIT(FORMAT_TEXT))
        render(doc, base, 0, &ex->text);
    if (formats & FORMAT_BIT(FORMAT_MARKDOWN))
        render(doc, base, 1, &ex->markdown);
    if (formats & FORMAT_BIT(FORMAT_LINKS))
        ex->links = extract_links(doc, base);
    if (formats & FORMAT_BIT(FORMAT_METADATA))
        ex->metadata = extract_metadata(doc, base);
    xmlFree(base);
    if (formats & EXTRACT_KEEP_DOC)
        ex->doc = doc;
    else
        xmlFreeDoc(doc);
    xarena_leave();
    if (!ex->doc && ex->arena) {
        xarena_release();
        ex->arena = 0;
    }
}

void extract_release(struct extract *ex)
{
    buf_release(&ex->conv);
    buf_release(&ex->text);
    buf_release(&ex->markdown);
    buf_release(&ex->base64);
    json_decref(ex->links);
    json_decref(ex->metadata);
    if (ex->doc) {
        xarena_enter();
        xmlFreeDoc(ex->doc);
        xarena_leave();
    }
    if (ex->arena)
        xarena_release();
    memset(ex, 0, sizeof(*ex));
}
