/*
 * filerec — a record of the files topic (screenshots): how render writes
 * it and how ingest finds it again (GET /v1/files/{file_id}).
 *
 *   key        the file id, "fil_" + the ULID layout of ids.h: it carries
 *              its creation time
 *   value      the file's bytes
 *   timestamp  the id's time, exactly (CreateTime, set by the writer)
 *   headers    content-type, ferry-tenant, ferry-batch, ferry-index,
 *              ferry-expires-ms (the id's time + FERRY_FILES_RETENTION)
 *
 * The id's time is thus the record's timestamp, and a reader finds the
 * record with Kafka's time index on the key's partition, then reads on
 * until the key. How far on: a writer gives up on a record it could not
 * deliver within FILEREC_DELIVERY_MS (its producer's message.timeout.ms),
 * and writers' clocks differ by at most FILEREC_SKEW_MS, so a record is in
 * its partition before any record stamped FILEREC_WINDOW_MS after its id's
 * time.
 */
#ifndef FERRY_FILEREC_H
#define FERRY_FILEREC_H

#include <stdint.h>

#define FILEREC_ID_LEN      31 /* "fil_" + 26 + NUL */
#define FILEREC_DELIVERY_MS 30000
#define FILEREC_SKEW_MS     10000
#define FILEREC_WINDOW_MS   (FILEREC_DELIVERY_MS + FILEREC_SKEW_MS)

/* A new file id and its time (epoch ms, the record's timestamp). 0 ok, -1
 * when the kernel had no randomness. */
int filerec_id_new(char out[FILEREC_ID_LEN], int64_t *born_ms);

/* The Content-Type a file is served with, from its content-type header:
 * the image types ferry writes as they are, anything else as bytes. */
const char *filerec_content_type(const char *header);

#endif
