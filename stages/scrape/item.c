#include "item.h"

#include <stddef.h>
#include <stdlib.h>

/* The job's release: its last message is acknowledged. */
static void item_release(struct job *j)
{
    item_free((struct item *)((char *)j - offsetof(struct item, job)));
}

struct item *item_new(struct job_sink *sink, const rd_kafka_message_t *msg, struct offtrack *ot)
{
    struct item *it = calloc(1, sizeof(*it));
    if (!it)
        abort();
    job_start(sink, &it->job, msg, ot);
    it->job.release = item_release;
    it->depth = -1;
    it->found_on = -1;
    return it;
}

void item_free(struct item *it)
{
    if (!it)
        return;
    job_finish(&it->job);
    if (it->xr)
        xrules_use_release(it->xr, &it->rules);
    json_decref(it->req);
    free(it->strs);
    curl_slist_free_all(it->headers);
    buf_release(&it->x.body);
    free(it);
}
