#include "item.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item *item_new(const rd_kafka_message_t *msg, struct offtrack *ot)
{
    struct item *it = calloc(1, sizeof(*it));
    if (!it)
        abort();
    it->ot = ot;
    it->src_topic = strdup(rd_kafka_topic_name(msg->rkt));
    it->partition = msg->partition;
    it->offset = msg->offset;
    it->value = malloc(msg->len + 1);
    if (!it->src_topic || !it->value)
        abort();
    if (msg->len)
        memcpy(it->value, msg->payload, msg->len);
    it->value[msg->len] = '\0';
    it->value_len = msg->len;
    snprintf(it->origin, sizeof(it->origin), "%s/%d/%lld", it->src_topic, (int)msg->partition,
             (long long)msg->offset);
    return it;
}

void item_free(struct item *it)
{
    if (!it)
        return;
    free(it->src_topic);
    free(it->value);
    json_decref(it->req);
    curl_slist_free_all(it->headers);
    buf_release(&it->x.body);
    free(it);
}
