#include "cloudevents.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "fhdr.h"
#include "ids.h"

/* What identifies one event of a topic (cloudevents.h): the ferry-* headers
 * every producer of the topic sets, or the record's key. */
enum ident {
    ID_CONTENT,      /* key and a hash of the value */
    ID_KEY,          /* the key alone (a batch or file id) */
    ID_ITEM,         /* key, ferry-index (and ferry-part of a split result) */
    ID_ITEM_ATTEMPT, /* key, ferry-index, ferry-attempt */
    ID_DELIVERY,     /* ferry-delivery, ferry-attempt */
    ID_ORIGIN,       /* ferry-origin: the record this one answers or buries */
};

/* Every topic ferry writes. `suffix` follows FERRY_TOPIC_PREFIX; one that
 * ends in '.' stands for each retry tier under it. A message whose header
 * `alt_header` has the value `alt_value` is of type `alt_type` instead.
 * TOPICS.md lists the same types (test_cloudevents checks that every topic
 * of topics.h has a row). */
static const struct ce_row {
    const char *suffix;
    const char *type;
    enum ident ident;
    enum fhdr alt_header; /* read only when alt_value is set */
    const char *alt_value, *alt_type;
} ce_rows[] = {
    {"batches", "dev.ferry.batch.submitted", ID_KEY, FHDR_TYPE, "cancel",
     "dev.ferry.batch.cancelled"},
    {"scrape.requests", "dev.ferry.scrape.request", ID_ITEM_ATTEMPT},
    {"scrape.requests.small", "dev.ferry.scrape.request", ID_ITEM_ATTEMPT},
    {"scrape.retry.", "dev.ferry.scrape.request", ID_ITEM_ATTEMPT},
    {"scrape.results", "dev.ferry.scrape.result", ID_ITEM},
    {"scrape.dlq", "dev.ferry.scrape.deadletter", ID_ORIGIN},
    {"batch.status", "dev.ferry.batch.status", ID_CONTENT},
    {"webhooks", "dev.ferry.webhook.task", ID_DELIVERY},
    {"webhooks.retry.", "dev.ferry.webhook.task", ID_DELIVERY},
    {"webhooks.dlq", "dev.ferry.webhook.dead", ID_DELIVERY},
    /* A redelivery's attempts count from 1 again: only the record itself
     * tells two attempts with one number apart. */
    {"webhooks.attempts", "dev.ferry.webhook.attempt", ID_CONTENT},
    {"aggregate.dlq", "dev.ferry.aggregate.deadletter", ID_ORIGIN},
    {"aggregate.state", "dev.ferry.aggregate.state", ID_CONTENT},
    {"render.requests", "dev.ferry.render.request", ID_ITEM_ATTEMPT},
    {"render.retry.", "dev.ferry.render.request", ID_ITEM_ATTEMPT},
    {"render.dlq", "dev.ferry.render.deadletter", ID_ORIGIN},
    {"files", "dev.ferry.file", ID_KEY},
    /* Cumulative rows: each write of a key is a new state of it. */
    {"usage", "dev.ferry.usage", ID_CONTENT},
    /* A tenant's whole settings in each record; a key's batch. */
    {"tenants", "dev.ferry.tenant", ID_CONTENT},
    {"idempotency", "dev.ferry.idempotency", ID_CONTENT},
    {"schedules", "dev.ferry.schedule", ID_CONTENT},
    {"schedule.state", "dev.ferry.schedule.state", ID_CONTENT},
    {"schedule.changes", "dev.ferry.schedule.change", ID_CONTENT},
    /* A crawl's robots.txt and sitemap chunks; the frontier's changelog. */
    {"crawl.sitefiles", "dev.ferry.crawl.sitefile", ID_CONTENT},
    {"crawl.state", "dev.ferry.crawl.state", ID_CONTENT},
    /* Written by users, not by ferry: the type a producer may give them. */
    {"submit", "dev.ferry.submit.request", ID_CONTENT},
    {"submit.replies", "dev.ferry.submit.accepted", ID_ORIGIN, FHDR_OUTCOME, "rejected",
     "dev.ferry.submit.rejected"},
};

#define CE_TYPE_OTHER "dev.ferry.message"

static char source[160] = "/ferry";
static char prefix[128] = "ferry.";

void ce_init(const char *stage, const char *instance, const char *topic_prefix)
{
    snprintf(source, sizeof(source), "/ferry/%s/%s", stage, instance && *instance ? instance : "-");
    snprintf(prefix, sizeof(prefix), "%s", topic_prefix);
}

const char *ce_source(void)
{
    return source;
}

static const struct ce_row *row_of(const char *topic)
{
    size_t plen = strlen(prefix);
    if (strncmp(topic, prefix, plen) != 0)
        return NULL;
    const char *suffix = topic + plen;
    for (size_t i = 0; i < sizeof(ce_rows) / sizeof(ce_rows[0]); i++) {
        const char *s = ce_rows[i].suffix;
        size_t n = strlen(s);
        if (s[n - 1] == '.' ? strncmp(suffix, s, n) == 0 && suffix[n] : strcmp(suffix, s) == 0)
            return &ce_rows[i];
    }
    return NULL;
}

static const char *type_of_row(const struct ce_row *r, const char *alt_value)
{
    if (!r)
        return CE_TYPE_OTHER;
    if (r->alt_value && alt_value && strcmp(alt_value, r->alt_value) == 0)
        return r->alt_type;
    return r->type;
}

const char *ce_type_of(const char *topic, const char *alt_value)
{
    return type_of_row(row_of(topic), alt_value);
}

/* Header `name` of hdrs as a NUL-terminated string in buf; NULL when absent,
 * empty or too long. */
static const char *header(rd_kafka_headers_t *hdrs, const char *name, char *buf, size_t size)
{
    const void *v;
    size_t n;
    if (rd_kafka_header_get_last(hdrs, name, &v, &n) || !v || n == 0 || n >= size)
        return NULL;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return buf;
}

/* The key as id text: itself when short and printable (ferry's keys: batch,
 * file and delivery ids, tenants), else a hash of it. */
static void key_text(const void *key, size_t len, char *out, size_t size)
{
    static const uint8_t zero[16];
    const unsigned char *k = key;
    int plain = key && len > 0 && len < 256 && len < size;
    for (size_t i = 0; plain && i < len; i++)
        plain = k[i] > 0x20 && k[i] < 0x7f;
    if (plain) {
        memcpy(out, key, len);
        out[len] = '\0';
    } else if (!key || len == 0) {
        snprintf(out, size, "-");
    } else {
        snprintf(out, size, "k%016llx", (unsigned long long)ids_siphash(zero, key, len));
    }
}

/* parts[0..n) joined into out (size bytes, cut to fit): every produce
 * names its event, and snprintf would cost more than the rest of it. */
static void join(char *out, size_t size, const char *const *parts, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(parts[i]);
        if (k > size - 1 - len)
            k = size - 1 - len;
        memcpy(out + len, parts[i], k);
        len += k;
    }
    out[len] = '\0';
}
#define JOIN(out, size, ...)                                                                       \
    join(out, size, (const char *const[]){__VA_ARGS__},                                            \
         sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* The id of a message of row r (NULL: not ferry's topic); `word` is the
 * last word of its type. */
static void make_id(char *out, size_t size, const struct ce_row *r, const char *word,
                    rd_kafka_headers_t *hdrs, const void *key, size_t key_len, const void *value,
                    size_t len)
{
    static const uint8_t zero[16];
    char k[300], index[24], attempt[24], part[48], delivery[64], origin[320];
    key_text(key, key_len, k, sizeof(k));
    switch (r ? r->ident : ID_CONTENT) {
    case ID_KEY: JOIN(out, size, word, ":", k); return;
    case ID_ITEM:
        if (!header(hdrs, fhdr_name(FHDR_INDEX), index, sizeof(index)))
            break;
        if (header(hdrs, fhdr_name(FHDR_PART), part, sizeof(part)))
            JOIN(out, size, word, ":", k, "/", index, "/part", part);
        else
            JOIN(out, size, word, ":", k, "/", index);
        return;
    case ID_ITEM_ATTEMPT:
        if (!header(hdrs, fhdr_name(FHDR_INDEX), index, sizeof(index)))
            break;
        JOIN(out, size, word, ":", k, "/", index, "/",
             header(hdrs, fhdr_name(FHDR_ATTEMPT), attempt, sizeof(attempt)) ? attempt : "1");
        return;
    case ID_DELIVERY:
        if (!header(hdrs, fhdr_name(FHDR_DELIVERY), delivery, sizeof(delivery)))
            break;
        snprintf(out, size, "%s:%s/%s", word, delivery,
                 header(hdrs, fhdr_name(FHDR_ATTEMPT), attempt, sizeof(attempt)) ? attempt : "1");
        return;
    case ID_ORIGIN:
        if (!header(hdrs, fhdr_name(FHDR_ORIGIN), origin, sizeof(origin)))
            break;
        snprintf(out, size, "%s:%s", word, origin);
        return;
    case ID_CONTENT: break;
    }
    /* No identity of its own: the same bytes under the same key are the
     * same event. */
    snprintf(out, size, "%s:%s/%016llx", word, k,
             (unsigned long long)ids_siphash(zero, value ? value : "", value ? len : 0));
}

static const char *const ce_names[] = {"ce_specversion", "ce_type", "ce_source", "ce_id",
                                       "ce_time"};

void ce_remove_headers(rd_kafka_headers_t *hdrs, int content_type)
{
    for (size_t i = 0; i < sizeof(ce_names) / sizeof(ce_names[0]); i++)
        rd_kafka_header_remove(hdrs, ce_names[i]);
    if (content_type)
        rd_kafka_header_remove(hdrs, "content-type");
}

int ce_add_headers(rd_kafka_headers_t *hdrs, const char *topic, const void *key, size_t key_len,
                   const void *value, size_t len, const char *type, const char *id,
                   long long now_ms)
{
    char alt[32], idbuf[512], time[CLK_ISO_LEN];
    const struct ce_row *r = row_of(topic);
    /* One look over the headers: a message produced again (a retry tier's
     * copy) still carries its last attributes, a fresh one has none. */
    const char *name;
    const void *v;
    size_t n;
    int has_ce = 0;
    for (size_t i = 0; !has_ce && rd_kafka_header_get_all(hdrs, i, &name, &v, &n) == 0; i++)
        has_ce = strncmp(name, "ce_", 3) == 0;
    for (size_t i = 0; has_ce && i < sizeof(ce_names) / sizeof(ce_names[0]); i++)
        rd_kafka_header_remove(hdrs, ce_names[i]);
    if (!type)
        type = type_of_row(
            r, r && r->alt_value ? header(hdrs, fhdr_name(r->alt_header), alt, sizeof(alt)) : NULL);
    if (!id) {
        const char *word = strrchr(type, '.');
        make_id(idbuf, sizeof(idbuf), r, word ? word + 1 : type, hdrs, key, key_len, value, len);
        id = idbuf;
    }
    clk_iso8601(now_ms, time);
    int has_ct = rd_kafka_header_get_last(hdrs, "content-type", &v, &n) == 0;
    if (rd_kafka_header_add(hdrs, "ce_specversion", -1, CE_SPECVERSION, -1) ||
        rd_kafka_header_add(hdrs, "ce_type", -1, type, -1) ||
        rd_kafka_header_add(hdrs, "ce_source", -1, source, -1) ||
        rd_kafka_header_add(hdrs, "ce_id", -1, id, -1) ||
        rd_kafka_header_add(hdrs, "ce_time", -1, time, -1) ||
        (!has_ct && rd_kafka_header_add(hdrs, "content-type", -1, "application/json", -1)))
        return -1;
    return !has_ct;
}
