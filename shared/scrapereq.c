/* A scrape request's members (scrapereq.h). */
#include "scrapereq.h"

#include "jx.h"
#include "schema.h"

void scrapereq_begin(struct buf *w, const struct scrapereq *r)
{
    buf_addf(w, "{\"" SCHEMA_VERSION_KEY "\":%d,\"batch_id\":\"%s\",\"tenant\":", SCHEMA_REQUESTS,
             r->batch_id);
    jx_add_strz(w, r->tenant);
    if (r->fetch)
        buf_addf(w, ",\"fetch\":\"%s\",\"url\":", r->fetch);
    else
        buf_addf(w, ",\"index\":%lld,\"url\":", r->index);
    jx_add_strz(w, r->url);
    if (r->crawl_page) {
        buf_addf(w, ",\"depth\":%d,\"found_on\":", r->depth);
        if (r->found_on >= 0)
            buf_addf(w, "%lld", r->found_on);
        else
            buf_adds(w, "null");
        buf_addf(w, ",\"frontier\":%s", r->frontier ? "true" : "false");
    }
    buf_adds(w, ",\"headers\":");
    buf_adds(w, r->headers ? r->headers : "{}");
    if (r->track_key) {
        buf_addf(w, ",\"track\":{\"key\":\"%s\",\"previous\":", r->track_key);
        if (r->track_previous && r->track_previous[0])
            buf_addf(w, "\"%s\"}", r->track_previous);
        else
            buf_adds(w, "null}");
    }
}
