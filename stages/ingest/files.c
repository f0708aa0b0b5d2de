#include "files.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fhdr.h"
#include "filerec.h"
#include "ids.h"
#include "kafka.h"
#include "metrics.h"

struct files {
    struct reader_pool *rp;
    struct files_conf conf;
    atomic_int partitions; /* of the files topic, learnt at the first lookup; 0 unknown */
    atomic_llong sending;  /* bytes of files held by answers in flight */
    struct metric *m_bytes, *m_busy;
};

struct files *files_new(struct reader_pool *rp, const struct files_conf *conf)
{
    struct files *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->rp = rp;
    f->conf = *conf;
    f->m_bytes = metric_counter("ferry_ingest_file_bytes_total", "Bytes of files served", "");
    f->m_busy = metric_counter("ferry_ingest_files_busy_total",
                               "Downloads refused because too many bytes were on their way", "");
    return f;
}

void files_free(struct files *f)
{
    free(f);
}

/* One lookup in progress: what it looks for and what it found. */
struct hunt {
    const char *id;
    size_t id_len;
    int64_t stop_after_ms; /* a record stamped later ends the hunt */
    rd_kafka_message_t *found;
};

static int on_record(void *arg, const rd_kafka_message_t *m)
{
    struct hunt *h = arg;
    if (m->key_len == h->id_len && memcmp(m->key, h->id, h->id_len) == 0) {
        h->found = (rd_kafka_message_t *)m;
        return SCAN_KEEP;
    }
    rd_kafka_timestamp_type_t type;
    int64_t ts = rd_kafka_message_timestamp(m, &type);
    return ts > h->stop_after_ms ? SCAN_STOP : SCAN_NEXT;
}

static int64_t header_ms(const rd_kafka_message_t *m, const char *name)
{
    char buf[32], *end;
    if (!kafka_header(m, name, buf, sizeof(buf)))
        return -1;
    long long v = strtoll(buf, &end, 10);
    return *end || end == buf ? -1 : v;
}

/* The partition the id's record went to; -1 with errstr. */
static int partition_of(struct files *f, const char *id, char *errstr, size_t errstr_size)
{
    int n = atomic_load(&f->partitions);
    if (n <= 0) {
        n = reader_partitions(f->rp, f->conf.topic, f->conf.timeout_ms, errstr, errstr_size);
        if (n <= 0)
            return -1;
        atomic_store(&f->partitions, n);
    }
    return kafka_murmur2_partition(id, strlen(id), n);
}

enum files_rc files_get(struct files *f, const char *id, const char *tenant, struct file **out,
                        char *errstr, size_t errstr_size)
{
    *out = NULL;
    int64_t born = ids_time_ms("fil", id), now = clk_now_ms();
    if (born < 0 || now > born + f->conf.retention_ms)
        return FILES_NOT_FOUND; /* not an id of ours, or expired whatever the record says */
    int partition = partition_of(f, id, errstr, errstr_size);
    if (partition < 0)
        return FILES_ERROR;
    int64_t from;
    if (reader_offset_at(f->rp, f->conf.topic, partition, born, f->conf.timeout_ms, &from, errstr,
                         errstr_size))
        return FILES_ERROR;
    if (from < 0)
        return FILES_NOT_FOUND; /* nothing that recent in the partition */

    struct hunt h = {.id = id, .id_len = strlen(id), .stop_after_ms = born + FILEREC_WINDOW_MS};
    int64_t next;
    if (reader_scan(f->rp, f->conf.topic, partition, from, -1, f->conf.timeout_ms, on_record, &h,
                    &next, errstr, errstr_size)) {
        if (h.found)
            rd_kafka_message_destroy(h.found);
        return FILES_ERROR;
    }
    if (!h.found)
        return FILES_NOT_FOUND;

    char owner[256], ctype[64];
    int64_t expires = header_ms(h.found, fhdr_name(FHDR_EXPIRES_MS));
    if (!fhdr_get(h.found, FHDR_TENANT, owner, sizeof(owner)) || strcmp(owner, tenant) != 0 ||
        expires < 0 || clk_now_ms() >= expires || !h.found->payload) {
        rd_kafka_message_destroy(h.found);
        return FILES_NOT_FOUND;
    }
    long long len = (long long)h.found->len;
    if (atomic_fetch_add(&f->sending, len) + len > f->conf.max_sending) {
        atomic_fetch_sub(&f->sending, len);
        rd_kafka_message_destroy(h.found);
        metric_inc(f->m_busy, 1);
        return FILES_BUSY;
    }
    struct file *file = calloc(1, sizeof(*file));
    if (!file) {
        atomic_fetch_sub(&f->sending, len);
        rd_kafka_message_destroy(h.found);
        snprintf(errstr, errstr_size, "out of memory");
        return FILES_ERROR;
    }
    file->owner = f;
    file->msg = h.found;
    file->data = h.found->payload;
    file->len = h.found->len;
    file->expires_ms = expires;
    snprintf(file->content_type, sizeof(file->content_type), "%s",
             filerec_content_type(kafka_header(h.found, "content-type", ctype, sizeof(ctype))));
    metric_inc(f->m_bytes, len);
    *out = file;
    return FILES_OK;
}

void files_release(void *arg)
{
    struct file *file = arg;
    if (!file)
        return;
    atomic_fetch_sub(&file->owner->sending, (long long)file->len);
    rd_kafka_message_destroy(file->msg);
    free(file);
}
