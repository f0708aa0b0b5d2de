/* hparse_text: names, character and entity references, attribute values
 * and the input check, as libxml2 2.9.14's HTML parser reads them (see
 * hparse_int.h). */
#include "hparse_int.h"

#include <libxml/HTMLparser.h>
#include <libxml/chvalid.h>
#include <libxml/entities.h>
#include <stdlib.h>
#include <string.h>

/* htmlParseHTMLName's characters, lower-cased; 0 for any other byte. */
#define NAME_BYTE(c)                                                                               \
    (((c) >= 'A' && (c) <= 'Z') ? (c) + 0x20                                                       \
     : (((c) >= 'a' && (c) <= 'z') || ((c) >= '0' && (c) <= '9') || (c) == ':' || (c) == '-' ||    \
        (c) == '_' || (c) == '.')                                                                  \
         ? (c)                                                                                     \
         : 0)
#define NAME_ROW(b)                                                                                \
    NAME_BYTE(b), NAME_BYTE(b + 1), NAME_BYTE(b + 2), NAME_BYTE(b + 3), NAME_BYTE(b + 4),          \
        NAME_BYTE(b + 5), NAME_BYTE(b + 6), NAME_BYTE(b + 7)
const unsigned char hparse_name_lower[256] = {
    NAME_ROW(0),  NAME_ROW(8),   NAME_ROW(16),  NAME_ROW(24),  NAME_ROW(32), NAME_ROW(40),
    NAME_ROW(48), NAME_ROW(56),  NAME_ROW(64),  NAME_ROW(72),  NAME_ROW(80), NAME_ROW(88),
    NAME_ROW(96), NAME_ROW(104), NAME_ROW(112), NAME_ROW(120),
};

void hparse_grow(unsigned char **b, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    unsigned char *nb = realloc(*b, n);
    if (!nb)
        abort();
    *b = nb;
    *cap = n;
}

/* htmlParseHTMLName: [A-Za-z_:.][A-Za-z0-9:_.-]*, lower-cased, into buf.
 * 0 when there is none. Names libxml2 would cut or split are declined. */
size_t hparse_html_name(struct hp *h, const unsigned char **at, unsigned char *buf)
{
    const unsigned char *p = *at, *end = h->end;
    int c = p < end ? *p : 0;
    if (!is_letter(c) && c != '_' && c != ':' && c != '.')
        return 0;
    size_t i = 0;
    if ((size_t)(end - p) > NAME_MAX_LEN - 1)
        end = p + NAME_MAX_LEN - 1;
    while (p < end && hparse_name_lower[*p])
        buf[i++] = hparse_name_lower[*p++];
    if (p == end && p < h->end && hparse_name_lower[*p])
        hparse_decline(h); /* libxml2 cuts a name this long */
    *at = p;
    return i;
}

static unsigned utf8_get(const unsigned char *s, size_t *len)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *len = 1;
        return c;
    }
    size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    unsigned v = c & (0x7F >> k);
    for (size_t j = 1; j < k; j++)
        v = (v << 6) | (s[j] & 0x3F);
    *len = k;
    return v;
}

/* htmlParseNameComplex: names with other than ASCII (the input is valid
 * UTF-8 here); 0 when none. */
static size_t entity_name_complex(struct hp *h)
{
    const unsigned char *s = h->p;
    for (int first = 1, count = 0; s < h->end; first = 0) {
        /* past 100 characters libxml2 grows its input and may read the
         * name from the wrong place */
        if (++count > 90)
            hparse_decline(h);
        size_t l;
        unsigned c = utf8_get(s, &l);
        int letter = xmlIsBaseChar(c) || xmlIsIdeographic(c);
        if (first ? !(letter || c == '_' || c == ':')
                  : !(letter || xmlIsDigit(c) || c == '.' || c == '-' || c == '_' || c == ':' ||
                      xmlIsCombining(c) || xmlIsExtender(c)))
            break;
        s += l;
    }
    return (size_t)(s - h->p);
}

/* htmlParseName (entity names): case kept; 0 when none (libxml2's NULL). */
size_t hparse_entity_name(struct hp *h)
{
    const unsigned char *s = h->p;
    int c = cur(h);
    if (c >= 0x80)
        return entity_name_complex(h);
    if (!is_letter(c) && c != '_' && c != ':')
        return 0;
    while (s < h->end &&
           (is_letter(*s) || is_digit(*s) || *s == '_' || *s == '-' || *s == ':' || *s == '.'))
        s++;
    if (s == h->end)
        return 0;
    if (*s >= 0x80)
        return entity_name_complex(h);
    return (size_t)(s - h->p);
}

static int is_xml_char(unsigned c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* htmlParseCharRef, at "&#": the character, or 0 (libxml2's "invalid"). */
unsigned hparse_char_ref(struct hp *h)
{
    unsigned val = 0;
    int hex = nxt(h, 2) == 'x' || nxt(h, 2) == 'X';
    h->p += hex ? 3 : 2;
    for (int c; (c = cur(h)) != ';'; h->p++) {
        unsigned d;
        if (is_digit(c))
            d = (unsigned)(c - '0');
        else if (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (unsigned)((c | 0x20) - 'a' + 10);
        else
            break;
        if (val < 0x110000)
            val = val * (hex ? 16 : 10) + d;
    }
    if (cur(h) == ';')
        h->p++;
    return is_xml_char(val) ? val : 0;
}

/* An entity's value by name ("amp;" and friends first: htmlEntityLookup
 * walks its whole table). 0 when unknown. */
unsigned hparse_entity_value(const unsigned char *name, size_t len)
{
    switch (len) {
    case 2:
        if (name[1] == 't' && (name[0] == 'l' || name[0] == 'g'))
            return name[0] == 'l' ? '<' : '>';
        break;
    case 3:
        if (!memcmp(name, "amp", 3))
            return '&';
        break;
    case 4:
        if (!memcmp(name, "quot", 4))
            return '"';
        if (!memcmp(name, "nbsp", 4))
            return 0xA0;
        break;
    }
    char nm[NAME_MAX_LEN + 1];
    if (len > NAME_MAX_LEN)
        return 0;
    memcpy(nm, name, len);
    nm[len] = 0;
    const htmlEntityDesc *e = htmlEntityLookup((const xmlChar *)nm);
    return e ? e->value : 0;
}

/* htmlParseHTMLAttribute: a value up to stop (0: a blank or '>'), with
 * references resolved, appended to h->vals. */
/* Where a value ends or has a reference: a quote's next match, or for an
 * unquoted one (stop 0) a blank or '>'. */
static const unsigned char *value_end(const struct hp *h, int stop)
{
    const unsigned char *s = h->p;
    if (stop) {
        const unsigned char *q = memchr(s, stop, (size_t)(h->end - s));
        if (!q)
            q = h->end;
        const unsigned char *a = memchr(s, '&', (size_t)(q - s));
        return a ? a : q;
    }
    while (s < h->end && *s != '&' && *s != '>' && !is_blank(*s))
        s++;
    return s;
}

void hparse_att_value(struct hp *h, int stop)
{
    for (;;) {
        const unsigned char *s = value_end(h, stop);
        hparse_grow(&h->vals, &h->vcap, h->vlen + (size_t)(s - h->p) + 8);
        memcpy(h->vals + h->vlen, h->p, (size_t)(s - h->p));
        h->vlen += (size_t)(s - h->p);
        h->p = s;
        if (s == h->end || *s != '&')
            return;
        if (nxt(h, 1) == '#') {
            unsigned c = hparse_char_ref(h);
            /* libxml2 writes a NUL for an invalid one: the value ends there */
            if (!c && h->vcut > h->vlen)
                h->vcut = h->vlen;
            h->vlen += utf8_put(h->vals + h->vlen, c);
            continue;
        }
        h->p++;
        size_t n = hparse_entity_name(h);
        const unsigned char *name = h->p;
        unsigned v = n && nxt(h, n) == ';' ? hparse_entity_value(name, n) : 0;
        hparse_grow(&h->vals, &h->vcap, h->vlen + n + 8);
        if (v) {
            h->vlen += utf8_put(h->vals + h->vlen, v);
            h->p += n + 1;
        } else {
            h->vals[h->vlen++] = '&';
            memcpy(h->vals + h->vlen, name, n);
            h->vlen += n;
            h->p += n;
        }
    }
}

/* What htmlCurrentChar takes as it is: UTF-8 of XML characters, no NUL, no
 * byte-order mark. Anything else it reports, drops or re-decodes. */
int hparse_plain_utf8(const unsigned char *s, size_t n)
{
    if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
        return 0;
    for (size_t i = 0; i < n;) {
        /* eight ASCII bytes at a time, none below 0x20 (then one by one) */
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            const uint64_t high = 0x8080808080808080ull;
            if (!(w & high) && !((w - 0x2020202020202020ull) & ~w & high)) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != 0x9 && c != 0xA && c != 0xD)
                return 0;
            i++;
            continue;
        }
        size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (c < 0xC2 || c > 0xF4 || n - i < k)
            return 0;
        unsigned v = c & (0x7F >> k);
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            v = (v << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 3 && v < 0x800) || (k == 4 && v < 0x10000) || !is_xml_char(v))
            return 0;
        i += k;
    }
    return 1;
}
