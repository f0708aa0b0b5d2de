/*
 * fuzz_sel — libFuzzer target for the selector compiler (shared/sel.h).
 *
 *   make fuzz                 builds it with clang -fsanitize=fuzzer,address
 *                             and runs it for FUZZ_SECONDS (default 60) on
 *                             tests/fuzz/corpus/sel
 *
 * The same function runs in the unit tests (tests/unit/test_sel.c) over the
 * seed corpus and deterministic mutations of it, so `make test` exercises
 * it without clang.
 *
 * Invariants checked beyond "no crash, no leak, no hang":
 *   - an error names a position inside the input (1 .. length + 1);
 *   - CSS we accepted always translates to XPath libxml2 compiles (the
 *     "selector not supported" error would mean our translation is wrong);
 *   - a compiled selector evaluates on a small page (parsed as scrape
 *     parses a page, hparse_read) without failing;
 *   - its indexed form (from the document) selects what the plain form does;
 *   - matched on the tree without XPath (sel_match.c), it selects what
 *     XPath does, from the document and from every element.
 */
#include <libxml/HTMLparser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hparse.h"
#include "sel.h"
#include "sel_int.h"

static const char fuzz_page[] =
    "<html><body><div id=a class='x y'><p>1</p><p lang=en-US>2</p><span>3</span></div>"
    "<ul><li>a</li><li class=x>b</li><li>c</li></ul><a href='/p?q=1' title=\"it's\">l</a>"
    "<div class=x><div id=b class='y x'><p class=x>4</p><div><span lang=en>5</span></div></div>"
    "</div></body></html>";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The nodes of a node-set result (NULL: none). */
static int fuzz_same_nodes(xmlXPathObjectPtr a, xmlXPathObjectPtr b)
{
    int na = a && a->nodesetval ? a->nodesetval->nodeNr : 0;
    int nb = b && b->nodesetval ? b->nodesetval->nodeNr : 0;
    int same = na == nb;
    for (int i = 0; same && i < na; i++)
        same = a->nodesetval->nodeTab[i] == b->nodesetval->nodeTab[i];
    return same;
}

/* A selector matched on the tree selects what its XPath does, from the
 * document and from each element (nested rules). */
static void fuzz_same_as_xpath(const struct sel *s, xmlXPathContextPtr ctx, const char *text)
{
    xmlNodePtr root = (xmlNodePtr)ctx->doc;
    for (xmlNodePtr n = root; n; n = sel_walk_next(n, root, n->type != XML_ATTRIBUTE_NODE)) {
        if (n != root && n->type != XML_ELEMENT_NODE)
            continue;
        xmlXPathObjectPtr native;
        if (sel_match_eval(s->match, n, &native) != 0)
            continue; /* given back to XPath */
        ctx->opCount = 0;
        xmlXPathObjectPtr xp = sel_eval_xpath(s, ctx, n);
        if (xp && ctx->opCount < ctx->opLimit && !fuzz_same_nodes(native, xp)) {
            fprintf(stderr, "CSS '%s' from <%s>: matched on the tree differs from %s\n", text,
                    n == root ? "document" : (const char *)n->name, s->xpath);
            abort();
        }
        xmlXPathFreeObject(xp);
        xmlXPathFreeObject(native);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static htmlDocPtr doc;
    static xmlXPathContextPtr ctx;
    if (!doc) {
        doc = hparse_read(fuzz_page, sizeof(fuzz_page) - 1, "http://f/");
        ctx = sel_context_new(doc);
    }
    if (size > SEL_MAX_LEN + 16)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    size_t len = strlen(text); /* an embedded NUL ends the selector */
    char err[256] = "";
    sel_quiet_begin();
    struct sel *s = sel_compile(text, err, sizeof(err));
    if (s) {
        ctx->opLimit = 100000;
        ctx->opCount = 0;
        xmlXPathObjectPtr r = sel_eval(s, ctx, (xmlNodePtr)doc);
        /* The only evaluation failure allowed is the operation budget, or
         * an xpath: rule calling something unknown (checked at runtime). */
        if (!r && strncmp(text, "xpath:", 6) != 0 && ctx->opCount < ctx->opLimit) {
            fprintf(stderr, "CSS '%s' -> '%s' failed to evaluate\n", text, s->xpath);
            abort();
        }
        /* The indexed form from the document matches what the plain one
         * does (the page has no duplicate ids). */
        if (r && s->comp_doc && r->type == XPATH_NODESET) {
            ctx->opCount = 0;
            ctx->node = (xmlNodePtr)doc;
            xmlXPathObjectPtr plain = xmlXPathCompiledEval(s->comp, ctx);
            int na = r->nodesetval ? r->nodesetval->nodeNr : 0;
            int nb = plain && plain->nodesetval ? plain->nodesetval->nodeNr : 0;
            int same = plain != NULL && na == nb;
            for (int i = 0; same && i < na; i++)
                same = r->nodesetval->nodeTab[i] == plain->nodesetval->nodeTab[i];
            if (!same && ctx->opCount < ctx->opLimit) {
                fprintf(stderr, "CSS '%s': %d nodes indexed, %d plain (%s)\n", text, na, nb,
                        s->xpath);
                abort();
            }
            xmlXPathFreeObject(plain);
        }
        xmlXPathFreeObject(r);
        if (s->match)
            fuzz_same_as_xpath(s, ctx, text);
        sel_free(s);
    } else {
        unsigned long pos = 0;
        if (strncmp(err, "selector not supported", 22) == 0) {
            fprintf(stderr, "CSS '%s': %s\n", text, err);
            abort();
        }
        if (sscanf(err, "position %lu:", &pos) == 1 && (pos < 1 || pos > len + 1)) {
            fprintf(stderr, "'%s': position out of range: %s\n", text, err);
            abort();
        }
    }
    sel_quiet_end();
    free(text);
    return 0;
}
