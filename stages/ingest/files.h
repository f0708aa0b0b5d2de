/*
 * files — files (screenshots) read back from the files topic for
 * GET /v1/files/{file_id}.
 *
 * A file is one record of ferry.files (shared/filerec.h): its id carries
 * its creation time, which is also the record's timestamp, so a lookup
 * needs no index of its own:
 *
 *   - the partition is the key's (murmur2, as every ferry producer
 *     partitions);
 *   - Kafka's time index gives the first offset of that partition stamped
 *     at or after the id's time (ListOffsets);
 *   - a reader reads on from there until the key, the end of the
 *     partition, or a record stamped FILEREC_WINDOW_MS after the id's time
 *     (past it, the file cannot be there).
 *
 * An id older than the retention is not looked for at all. A record found
 * is checked against the caller's tenant (another tenant's file is not
 * found, exactly like an unknown one) and its expiry, then kept, not
 * copied: the answer's body points into the record, which is freed once
 * the answer has been written. The readers fetch about 1 MiB at a time and
 * queue no more, so a lookup holds one record batch, not a backlog of other
 * files; the bytes held by answers still being written are capped, and a
 * download past the cap is refused (busy) rather than queued in memory.
 */
#ifndef INGEST_FILES_H
#define INGEST_FILES_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "reader.h"

struct files_conf {
    const char *topic;      /* the files topic */
    long long retention_ms; /* FERRY_FILES_RETENTION */
    long long max_sending;  /* bytes of files held by answers in flight */
    int timeout_ms;         /* one lookup, start to end */
};

struct files;

/* Takes nothing: rp (its own readers, see reader_pool_new) and conf's
 * strings must outlive the result. */
struct files *files_new(struct reader_pool *rp, const struct files_conf *conf);

/* After every file handed out was released. NULL is fine. */
void files_free(struct files *f);

/* A file found: its bytes stay valid until files_release(). */
struct file {
    struct files *owner;
    rd_kafka_message_t *msg; /* owned: the record the bytes live in */
    const void *data;
    size_t len;
    char content_type[64];
    int64_t expires_ms; /* epoch ms */
};

enum files_rc {
    FILES_OK,
    FILES_NOT_FOUND, /* unknown, expired, or another tenant's */
    FILES_BUSY,      /* too many bytes on their way to clients already */
    FILES_ERROR,     /* Kafka did not answer in time (errstr) */
};

/* Looks up file `id` for `tenant`. FILES_OK: *out is a new file (release
 * it with files_release). */
enum files_rc files_get(struct files *f, const char *id, const char *tenant, struct file **out,
                        char *errstr, size_t errstr_size);

/* Frees the record and gives its bytes back to the cap. Takes a struct
 * file * as void *, so it can be an httpd_reply_borrow release. */
void files_release(void *file);

#endif
