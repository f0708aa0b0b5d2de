/*
 * scrapereq — writes a scrape request (schemas/scrape.requests.schema.json,
 * render.requests.schema.json): the one writer ingest (a batch's items) and
 * aggregate's frontier (a crawl's pages and site files) both call, so the
 * members every request shares are spelled and ordered once.
 *
 * A request is written in three steps into the caller's buffer:
 *
 *     scrapereq_begin(&w, &r);     // {"schema_version":..,"batch_id":..,...,"headers":{..}
 *     ...members of the caller's own (each starting with ','), e.g. "extract"
 *     buf_adds(&w, tail);          // ,"formats":..,"options":..} : closes the object
 *
 * The tail is the batch's members every one of its requests carries (its
 * formats, options and rendering options), made once per batch or crawl.
 */
#ifndef FERRY_SCRAPEREQ_H
#define FERRY_SCRAPEREQ_H

#include "buf.h"

struct scrapereq {
    const char *batch_id; /* an id (ids.h): written as is */
    const char *tenant;
    long long index;   /* the item's position; ignored for a site file */
    const char *fetch; /* a crawl's site file, "robots" or "sitemap" (instead
                        * of index); NULL: an item */
    const char *url;
    const char *headers; /* the item's headers object as JSON text; NULL: {} */
    /* A tracked item (a schedule's run with track_changes): its change key
     * and the content hash of its last result ("": null). NULL: untracked. */
    const char *track_key, *track_previous;
    /* A crawl's page (crawl_page set): its depth, the page that linked it
     * (-1: null) and whether the frontier wants its links back. */
    int crawl_page;
    int depth;
    long long found_on;
    int frontier;
};

/* Appends the request's opening brace and shared members to w, in the
 * order the topics have always carried: schema_version, batch_id, tenant,
 * index (or fetch), url, a crawl page's depth, found_on and frontier, then
 * headers and track. The caller appends its own members and then the tail
 * that closes the object. */
void scrapereq_begin(struct buf *w, const struct scrapereq *r);

#endif
