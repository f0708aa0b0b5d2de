/*
 * extract_run — runs a profile's (or a spec file's) extraction rules on a
 * saved page, as scrape would, and prints {"status", "data"}.
 *
 *   extract_run PROFILE PAGE.html URL [HEADER: VALUE ...]
 *   extract_run --spec SPEC.json PAGE.html URL [HEADER: VALUE ...]
 *
 * Profiles are the built-in ones plus FERRY_PROFILES_DIR. For writing and
 * checking rules against real pages, and for the tests.
 */
#include <libxml/HTMLparser.h>
#include <libxml/HTMLtree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jx.h"
#include "profile.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = buf ? fread(buf, 1, (size_t)n, f) : 0;
    if (buf)
        buf[*len] = '\0';
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "--spec") == 0 && argc < 5)) {
        fprintf(stderr,
                "usage: extract_run PROFILE|--spec SPEC.json PAGE.html URL [HEADER: VALUE ...]\n");
        return 2;
    }
    int spec_mode = strcmp(argv[1], "--spec") == 0;
    const char *page_path = argv[spec_mode ? 3 : 2], *url = argv[spec_mode ? 4 : 3];
    int first_header = spec_mode ? 5 : 4;
    char err[400];
    struct profiles *ps = NULL;
    struct xspec *own = NULL;
    const struct xspec *x;
    if (spec_mode) {
        size_t n;
        char *text = slurp(argv[2], &n);
        json_t *spec = text ? jx_parse(text, n, 32, err, sizeof(err)) : NULL;
        free(text);
        own = spec ? xspec_compile(spec, err, sizeof(err)) : NULL;
        json_decref(spec);
        if (!own) {
            fprintf(stderr, "extract_run: %s: %s\n", argv[2], text ? err : "cannot read");
            return 1;
        }
        x = own;
    } else {
        ps = profiles_load(getenv("FERRY_PROFILES_DIR"), err, sizeof(err));
        if (!ps) {
            fprintf(stderr, "extract_run: %s\n", err);
            return 1;
        }
        const struct profile *p = profiles_get(ps, argv[1]);
        if (!p) {
            fprintf(stderr, "extract_run: no profile named %s\n", argv[1]);
            return 1;
        }
        x = p->extract;
    }
    size_t len;
    char *html = slurp(page_path, &len);
    if (!html) {
        fprintf(stderr, "extract_run: cannot read %s\n", page_path);
        return 1;
    }
    struct xpage_header headers[64];
    size_t nh = 0;
    for (int i = first_header; i < argc && nh < 64; i++) {
        char *colon = strchr(argv[i], ':');
        if (!colon)
            continue;
        *colon = '\0';
        headers[nh].name = argv[i];
        headers[nh].value = colon + 1 + strspn(colon + 1, " ");
        nh++;
    }
    htmlDocPtr doc = htmlReadMemory(html, (int)len, url, "UTF-8",
                                    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                        HTML_PARSE_NONET | HTML_PARSE_COMPACT);
    if (!doc)
        doc = htmlNewDocNoDtD(NULL, NULL);
    struct xpage pg;
    xpage_init(&pg, doc, url, headers, nh, html, len);
    enum xspec_status st;
    json_t *data = xspec_eval(x, &pg, NULL, &st);
    static const char *const words[] = {"ok", "empty", "captcha"};
    json_t *out = json_pack("{s:s,s:o}", "status", words[st], "data", data);
    char *s = jx_dump(out, NULL);
    puts(s);
    free(s);
    json_decref(out);
    xpage_release(&pg);
    xmlFreeDoc(doc);
    free(html);
    xspec_free(own);
    profiles_free(ps);
    return 0;
}
