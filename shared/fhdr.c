/* ferry's record headers (fhdr.h). */
#include "fhdr.h"

#include <stdio.h>

#include "kafka.h"

static const char *const names[] = {
#define FHDR_NAME(e, n) n,
    FHDR_MAP(FHDR_NAME)
#undef FHDR_NAME
};

const char *fhdr_name(enum fhdr h)
{
    return names[h];
}

int fhdr_add(rd_kafka_headers_t *hs, enum fhdr h, const char *value)
{
    return rd_kafka_header_add(hs, names[h], -1, value, -1) ? -1 : 0;
}

int fhdr_add_ll(rd_kafka_headers_t *hs, enum fhdr h, long long value)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", value);
    return rd_kafka_header_add(hs, names[h], -1, num, n) ? -1 : 0;
}

/* Room for the most any builder's caller adds (a webhook task's four, a
 * retry's five); librdkafka grows the list past it anyway. */
static rd_kafka_headers_t *fhdr_new(void)
{
    return rd_kafka_headers_new(8);
}

rd_kafka_headers_t *fhdr_batch(const char *batch_id, long long index)
{
    rd_kafka_headers_t *hs = fhdr_new();
    if (batch_id)
        fhdr_add(hs, FHDR_BATCH, batch_id);
    if (index >= 0)
        fhdr_add_ll(hs, FHDR_INDEX, index);
    return hs;
}

int fhdr_add_part(rd_kafka_headers_t *hs, size_t part, size_t parts)
{
    char p[48];
    if (parts < 2)
        return 0;
    snprintf(p, sizeof(p), "%zu/%zu", part, parts);
    return fhdr_add(hs, FHDR_PART, p);
}

rd_kafka_headers_t *fhdr_request(const char *batch_id, long long index, const char *fetch)
{
    rd_kafka_headers_t *hs = fhdr_batch(batch_id, index);
    if (fetch)
        fhdr_add(hs, FHDR_FETCH, fetch);
    fhdr_add(hs, FHDR_ATTEMPT, "1");
    return hs;
}

rd_kafka_headers_t *fhdr_dead(const char *origin, const char *why)
{
    rd_kafka_headers_t *hs = fhdr_new();
    fhdr_add(hs, FHDR_ORIGIN, origin);
    fhdr_add(hs, FHDR_LAST_ERROR, why);
    return hs;
}

const char *fhdr_get(const rd_kafka_message_t *msg, enum fhdr h, char *buf, size_t size)
{
    return kafka_header(msg, names[h], buf, size);
}
