/* hparse_tags: libxml2 2.9.14's HTML element tables, as hparse needs them
 * (see hparse_int.h). The data is libxml2's (HTMLparser.c: htmlStartClose,
 * htmlEndPriority; empty elements from htmlTagLookup). */
#include "hparse_int.h"

#include <libxml/HTMLparser.h>
#include <pthread.h>
#include <string.h>

#define HPARSE_TAG_ROW(n) {#n, sizeof(#n) - 1, 0, 100, {0, 0}},
struct hparse_tag_info hparse_tags[TAG_COUNT] = {HPARSE_TAGS(HPARSE_TAG_ROW)};

/* htmlStartClose: an open element (first) is closed by these start tags. */
static const struct {
    const char *open, *closers;
} start_close[] = {
    {"a", "a fieldset table td th"},
    {"address", "dd dl dt form li ul"},
    {"b", "center p td th"},
    {"big", "p"},
    {"caption", "col colgroup tbody tfoot thead tr"},
    {"col", "col colgroup tbody tfoot thead tr"},
    {"colgroup", "colgroup tbody tfoot thead tr"},
    {"dd", "dt"},
    {"dir", "dd dl dt form ul"},
    {"dl", "form li"},
    {"dt", "dd dl"},
    {"font", "center td th"},
    {"form", "form"},
    {"h1", "fieldset form li p table"},
    {"h2", "fieldset form li p table"},
    {"h3", "fieldset form li p table"},
    {"h4", "fieldset form li p table"},
    {"h5", "fieldset form li p table"},
    {"h6", "fieldset form li p table"},
    {"head",
     "a abbr acronym address b bdo big blockquote body br center cite code dd dfn dir div dl dt em "
     "fieldset font form frameset h1 h2 h3 h4 h5 h6 hr i iframe img kbd li listing map menu ol p "
     "pre q s samp small span strike strong sub sup table tt u ul var xmp"},
    {"hr", "form"},
    {"i", "center p td th"},
    {"legend", "fieldset"},
    {"li", "li"},
    {"link", "body frameset"},
    {"listing", "dd dl dt fieldset form li table ul"},
    {"menu", "dd dl dt form ul"},
    {"ol", "form ul"},
    {"option", "optgroup option"},
    {"p",
     "address blockquote body caption center col colgroup dd dir div dl dt fieldset form frameset "
     "h1 h2 h3 h4 h5 h6 head hr li listing menu ol p pre table tbody td tfoot th title tr ul xmp"},
    {"pre", "dd dl dt fieldset form li table ul"},
    {"s", "p"},
    {"script", "noscript"},
    {"small", "p"},
    {"span", "td th"},
    {"strike", "p"},
    {"style", "body frameset"},
    {"tbody", "tbody tfoot"},
    {"td", "tbody td tfoot th tr"},
    {"tfoot", "tbody"},
    {"th", "tbody td tfoot th tr"},
    {"thead", "tbody tfoot"},
    {"title", "body frameset"},
    {"tr", "tbody tfoot tr"},
    {"tt", "p"},
    {"u", "p td th"},
    {"ul", "address form menu ol pre"},
    {"xmp", "dd dl dt fieldset form li table ul"},
};

static const struct {
    const char *name;
    unsigned short priority;
} end_priority[] = {
    {"div", 150},   {"td", 160},    {"th", 160},   {"tr", 170},   {"thead", 180}, {"tbody", 180},
    {"tfoot", 180}, {"table", 190}, {"head", 200}, {"body", 200}, {"html", 220},
};

#define SLOTS 512
static signed char slots[SLOTS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static unsigned slot_of(const unsigned char *name, size_t len)
{
    unsigned h = (unsigned)len * 131u;
    for (size_t i = 0; i < len; i++)
        h = h * 33u + name[i];
    return h & (SLOTS - 1);
}

int hparse_tag_id(const unsigned char *name, size_t len)
{
    if (len == 0 || len > 10)
        return TAG_NONE;
    for (unsigned s = slot_of(name, len);; s = (s + 1) & (SLOTS - 1)) {
        int t = slots[s];
        if (t < 0)
            return TAG_NONE;
        if (hparse_tags[t].len == len && memcmp(hparse_tags[t].name, name, len) == 0)
            return t;
    }
}

static int id_of(const char *name)
{
    return hparse_tag_id((const unsigned char *)name, strlen(name));
}

static void tags_fill(void)
{
    memset(slots, -1, sizeof(slots));
    for (int t = 0; t < TAG_COUNT; t++) {
        unsigned s = slot_of((const unsigned char *)hparse_tags[t].name, hparse_tags[t].len);
        while (slots[s] >= 0)
            s = (s + 1) & (SLOTS - 1);
        slots[s] = (signed char)t;
        const htmlElemDesc *d = htmlTagLookup((const xmlChar *)hparse_tags[t].name);
        if (d && d->empty)
            hparse_tags[t].flags |= TAGF_EMPTY;
    }
    for (size_t i = 0; i < sizeof(start_close) / sizeof(start_close[0]); i++) {
        int open = id_of(start_close[i].open);
        for (const char *c = start_close[i].closers; *c;) {
            size_t n = strcspn(c, " ");
            int t = hparse_tag_id((const unsigned char *)c, n);
            hparse_tags[open].closed_by[t >> 6] |= 1ull << (t & 63);
            c += n + (c[n] == ' ');
        }
    }
    for (size_t i = 0; i < sizeof(end_priority) / sizeof(end_priority[0]); i++)
        hparse_tags[id_of(end_priority[i].name)].priority = end_priority[i].priority;
}

void hparse_tags_init(void)
{
    pthread_once(&once, tags_fill);
}
