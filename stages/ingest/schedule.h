/*
 * schedule — one schedule's definition (DESIGN.md, "Schedules"): the body of
 * POST or PATCH /v1/schedules checked and made into the record of the
 * `schedules` topic (and read back from it), and the document the API
 * answers. Pure: no Kafka, no HTTP, so it is unit-tested on its own.
 *
 *     {"name", "cron", "timezone" (IANA, default UTC), "batch": {submit body}
 *      or "crawl": {crawl body}, "catch_up": "one"|"none" (one), "paused"
 *      (false), "track_changes" (false)}
 *
 * cron and timezone are checked here (422 naming the field: "cron: hour:
 * 24 is out of range 0-23"); the template by the submit's own parser
 * (submission.h), its errors named under "batch." (batch.urls[2]), so a
 * schedule is refused exactly when a submit of its template would be.
 *
 * The webhook secret of the template never sits in a record in the clear:
 * it is taken out of the template and kept sealed to the schedule id
 * (secretbox.h); each run re-seals it to its batch id. A template with a
 * webhook_url and no webhook_secret gets a generated one, shown once in the
 * 201 answer (webhook_signature_secret), as a submit shows its own. Without
 * webhook_events, a template's runs send schedule.run only.
 *
 * `since`: slots at or before it never run and are never caught up. It is
 * the creation time, moved to the moment of a change of cron or timezone
 * and of a resume, so the slots of an old expression or of a pause are
 * neither run late nor caught up (agenda.h).
 */
#ifndef INGEST_SCHEDULE_H
#define INGEST_SCHEDULE_H

#include <jansson.h>
#include <stdint.h>

#include "agenda.h"
#include "secretbox.h"
#include "submission.h"

#define SCHED_ID_LEN   31 /* "sch_" + 26 + NUL */
#define SCHED_NAME_MAX 200

enum sched_kind { SCHED_KIND_BATCH, SCHED_KIND_CRAWL };

struct sched {
    char id[SCHED_ID_LEN];
    char tenant[SUBMISSION_TENANT_MAX];
    char *name; /* owned; NULL: none */
    char cron_text[CRON_EXPR_MAX];
    struct cron cron;
    const struct tz *tz; /* tz_get's: shared, never freed */
    enum agenda_catch_up catch_up;
    int paused, track_changes;
    enum sched_kind kind;
    json_t *template; /* owned: the body runs submit, URLs normalized, no webhook_secret */
    char *secret_enc; /* owned: its webhook secret sealed to the id; NULL: none */
    int64_t created_ms, updated_ms, since_ms;
};

/* What checking a body needs. */
struct sched_env {
    const struct submission_limits *lim; /* the submit's limits */
    const struct secretbox *sb;          /* NULL: templates with a webhook are refused (503) */
    int64_t now_ms;
};

/* Checks a POST body and fills s (a new id, created now). *secret_shown
 * receives a generated webhook secret to show once (malloc'd, wipe it), or
 * NULL. 0, or -1 with err; s needs sched_release() either way. */
int sched_create(struct sched *s, const char *body, size_t len, const char *tenant,
                 const struct sched_env *env, char **secret_shown, struct submission_err *err);

/* Checks a PATCH body against the current definition `old` and fills s
 * with the result (members absent from the body keep their values). A new
 * template without webhook_secret keeps the old sealed secret when it has
 * one. 0, or -1 with err; s needs sched_release() either way. */
int sched_patch(struct sched *s, const struct sched *old, const char *body, size_t len,
                const struct sched_env *env, char **secret_shown, struct submission_err *err);

/* The `schedules` record of s (malloc'd JSON). */
char *sched_record(const struct sched *s);

/* Reads a `schedules` record of schedule `id`. 0, or -1 with errstr (s
 * needs sched_release() either way). */
int sched_load(struct sched *s, const char *id, const char *value, size_t len, char *errstr,
               size_t errstr_size);

/* The definition as the API shows it (new reference): without tenant or
 * secret; next_run_at from next_ms (AGENDA_NONE: null). */
json_t *sched_doc(const struct sched *s, int64_t next_ms);

/* The agenda's view of s. */
void sched_rule(const struct sched *s, struct agenda_rule *r);

/* When s runs next, given that every slot up to done_ms is settled:
 * AGENDA_NONE when paused. A slot due and not yet run is the answer, even
 * when it is a moment in the past. */
int64_t sched_next_run(const struct sched *s, const struct agenda_clock *k, int64_t done_ms,
                       int64_t now_ms);

void sched_release(struct sched *s);

#endif
