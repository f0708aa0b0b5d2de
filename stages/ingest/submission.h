/*
 * submission — a submit body, validated, and the Kafka messages it becomes:
 * what ingest knows of a batch before it exists (aggregate's `struct batch`
 * is the batch as it runs).
 *
 * submission_parse() takes the raw body of POST /v1/batch (or
 * /v1/scrape/async, `single`), checks every field and item, and on success
 * holds what the submit transaction writes: the batch record, one request
 * per item and the initial `queued` status document. It never touches Kafka
 * or HTTP, so it is unit-tested on its own.
 *
 * Every URL (items and webhook) is read once, by curl's own parser
 * (url.h), and replaced by curl's normalized text: that text is what the
 * scrape request carries and what scrape hands curl, so no check here can
 * read a URL differently from the fetch. A webhook URL whose host is
 * loopback, private or link-local is refused here (422) unless
 * FERRY_ALLOW_PRIVATE_NETWORKS is set, rather than becoming a dead
 * delivery later.
 *
 * Items are numbered `urls` first, then `items`: index i < n_urls is
 * urls[i]. Errors name the field and the item index the way the API
 * answers them (DESIGN.md): {"field": "urls[3]", "index": 3}.
 */
#ifndef INGEST_SUBMISSION_H
#define INGEST_SUBMISSION_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "changes.h"
#include "clock.h"
#include "ids.h"
#include "profile.h"
#include "secretbox.h"
#include "xrules.h"

#define SUBMISSION_TENANT_MAX     64
#define SUBMISSION_MAX_PAGE_BYTES (1LL << 30) /* the largest options.max_bytes */
#define SUBMISSION_MAX_DEPTH      20

struct submission_limits {
    long long max_items;       /* FERRY_MAX_ITEMS */
    int allow_http_webhook;    /* FERRY_WEBHOOK_ALLOW_HTTP */
    int allow_private_webhook; /* FERRY_ALLOW_PRIVATE_NETWORKS */
    long long max_page_bytes;  /* upper bound of options.max_bytes */
    int resolve_timeout_ms;    /* for the webhook host's addresses; 0: literals only */
    int schedule_template;     /* a schedule's template: webhook_events may name schedule.run */
    const struct profiles *profiles; /* what "endpoint" may name; NULL: none */
};

/* What the API answers when the body is refused. */
struct submission_err {
    int status;    /* 400 or 422 */
    char code[32]; /* "invalid_json", "invalid_field", ... */
    char message[512];
    char field[96]; /* "" when the body as a whole is wrong */
    long index;     /* item index, -1 when not about an item */
};

/* Fills err for a 422 invalid_field about `field` (of item `index`, -1
 * when not about an item). Returns -1. */
int submission_bad_field(struct submission_err *err, const char *field, long index,
                         const char *why);

/* What a body submits (submission_parse's `kind`). */
enum submission_kind {
    SUBMISSION_BATCH = 0,  /* POST /v1/batch: urls and items */
    SUBMISSION_SINGLE = 1, /* POST /v1/scrape/async: url (and headers), a batch of one */
    SUBMISSION_CRAWL = 2,  /* POST /v1/crawl: url and the crawl's options (crawl_opts.h) */
};

struct submission {
    char id[IDS_BATCH_LEN];
    char tenant[SUBMISSION_TENANT_MAX];
    char created_at[CLK_ISO_LEN];
    int64_t created_ms;
    json_t *root;         /* the parsed body, URLs normalized in place; owned */
    json_t *urls, *items; /* borrowed from root; may be NULL */
    size_t n_urls, total;
    json_t *formats, *options, *metadata, *events; /* owned, normalized */
    json_t *render;          /* owned: the rendering members of every request (render_opts.h); NULL:
                                the batch is scraped, not rendered */
    const char *webhook_url; /* borrowed from root; NULL: no webhook */
    char *secret;            /* owned, wiped on release; NULL without webhook */
    int secret_generated;    /* the 202 answer shows it (once) */
    char *request_tail;      /* ,"formats":...,"options":...} of every request */
    int tenant_secret;       /* no secret of its own: signed with the tenant's (secret NULL) */
    json_t *invalid;         /* owned; ignore_invalid_urls: the skipped entries (else NULL) */
    char retry_of[IDS_BATCH_LEN]; /* POST /v1/batch/{id}/retry: the source batch; "" */
    char *idem_key;               /* owned: key of the idempotency record (idem.h); NULL: none */
    char *idem_record;            /* owned: that record, written in the same transaction */
    /* A run of a schedule (schedule.h): set by the caller after parsing. */
    char schedule_id[IDS_BATCH_LEN]; /* "": not a run */
    char scheduled_for[CLK_ISO_LEN]; /* the slot (run now: the request's time) */
    struct submission_track *track;  /* owned, one per item; NULL: untracked */

    /* Extraction (submission_rules.c): a user's spec, known to scrape by its
     * hash (the spec itself rides once, in the batch record); or a profile,
     * whose items were checked against its parameters and expanded. */
    json_t *extract; /* owned; NULL: none */
    char extract_hash[XRULES_HASH_LEN];
    const struct profile *profile; /* "endpoint"; NULL: none */
    json_t *expanded;              /* owned: per item {url, headers, params} */
    json_t *crawl; /* owned: a crawl's options (crawl_opts.h) and the request every page of it
                      becomes ("request"); NULL for a batch. Item 0 is its start URL; the
                      aggregator's frontier writes the requests, ingest none. */
};

/* An item of a run that tracks changes (changes.h): its request carries
 * `track` {key, previous}. */
struct submission_track {
    char key[CHANGES_KEY_MAX];
    char previous[CHANGES_HASH_LEN]; /* "": no earlier result */
};

/* Parses and validates `body` of a submit of `kind` (enum submission_kind);
 * fills b (new id, created_at now). 0 ok, -1 with err filled. b needs
 * submission_release() either way. */
int submission_parse(struct submission *b, const char *body, size_t len, int kind,
                     const char *tenant, const struct submission_limits *lim,
                     struct submission_err *err);

/* submission_rules.c: checks "extract" and "endpoint" (before the items:
 * an endpoint's items are its parameters, not URLs). 0, or -1 with err. */
int submission_rules(struct submission *b, int single, const struct submission_limits *lim,
                     struct submission_err *err);
/* The request members item `index` gets from them (",\"extract\":{...}" or
 * ",\"input\":{...},\"endpoint\":{...}"), appended to w. -1 out of memory. */
int submission_rules_request(const struct submission *b, size_t index, struct buf *w);
/* What the tenant's webhook settings (tenant.h) add to a parsed submit
 * (DESIGN.md, "Tenant webhook settings"). */
struct submission_tenant {
    const char *webhook_url; /* the tenant's default webhook; NULL: none */
    const json_t *events;    /* its events */
    int has_secret;          /* the tenant has a webhook secret */
};

/* A batch without webhook_url gets the tenant's default webhook, resolved
 * now (so aggregate knows which events to emit and the status shows where
 * they go; a later change of the default applies to later batches). A
 * batch with a webhook but no webhook_secret of its own is signed with the
 * tenant's secret when it has one (no secret is generated, tenant_secret
 * set); else with a generated one. 0, or -1 with err. */
int submission_apply_tenant(struct submission *b, const struct submission_tenant *t,
                            struct submission_err *err);

/* The checks a submit's webhook_url gets, for any field holding a webhook
 * URL (`field` names it in the error): https unless allowed, a public host
 * unless allowed; normalized in place. 0, or -1 with err. */
int submission_webhook_url(json_t *url, const struct submission_limits *lim, const char *field,
                           struct submission_err *err);

/* The event list of `events` (NULL or null: the default events, or
 * schedule.run for a schedule's template) as a new array, or NULL with err
 * naming `field`. schedule.run only in a schedule's template. */
json_t *submission_webhook_events(const json_t *events, const char *field, int schedule_template,
                                  struct submission_err *err);

/* The item's URL and headers (NULL when none; borrowed). */
const char *submission_item(const struct submission *b, size_t index, const json_t **headers);

/* The scrape request of item `index` as JSON, written into *buf (grown with
 * realloc; *cap its size). Returns the length, or -1 when out of memory. */
long submission_request_json(const struct submission *b, size_t index, char **buf, size_t *cap);

/* The batch record (ferry-type: batch) with the sealed secret (NULL when
 * the batch has no webhook or is signed with its tenant's secret);
 * malloc'd. */
char *submission_record_json(const struct submission *b, const char *secret_enc);

/* The initial `queued` status document (with tenant), every member of the
 * batch.status schema present (a crawl's with `discovered`); malloc'd. */
char *submission_status_json(const struct submission *b);

/* The 202 answer (with invalid_urls when ignore_invalid_urls was set, and
 * retry_of); malloc'd. */
char *submission_accepted_json(const struct submission *b);

void submission_release(struct submission *b);

#endif
