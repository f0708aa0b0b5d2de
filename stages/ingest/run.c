#include "run.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jx.h"

int run_build(struct submission *b, const struct sched *s, const char *batch_id, int64_t slot_ms,
              int64_t now_ms, const struct run_env *env, char **secret_enc,
              char (**stale)[CHANGES_KEY_MAX], size_t *n_stale, char *errstr, size_t errstr_size)
{
    struct submission_err err;
    struct submission_limits lim = *env->lim;
    *secret_enc = NULL;
    *stale = NULL;
    *n_stale = 0;
    /* Checked when the schedule was made: no DNS on the firing path. */
    lim.resolve_timeout_ms = 0;
    lim.allow_private_webhook = 1;
    lim.schedule_template = 1;
    char *text = jx_dump(s->template, NULL);
    if (!text) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    int rc = submission_parse(b, text, strlen(text), 0, s->tenant, &lim, &err);
    free(text);
    if (rc) {
        snprintf(errstr, errstr_size, "the template no longer passes: %s", err.message);
        return -1;
    }
    snprintf(b->id, sizeof(b->id), "%s", batch_id);
    b->created_ms = now_ms;
    clk_iso8601(now_ms, b->created_at);
    snprintf(b->schedule_id, sizeof(b->schedule_id), "%s", s->id);
    clk_iso8601(slot_ms, b->scheduled_for);

    if (b->webhook_url) {
        size_t len;
        char *plain =
            env->sb && s->secret_enc ? secretbox_open(env->sb, s->secret_enc, s->id, &len) : NULL;
        if (!plain) {
            snprintf(errstr, errstr_size,
                     "the schedule's webhook secret does not open "
                     "(FERRY_SECRET_KEY changed?)");
            return -1;
        }
        OPENSSL_cleanse(b->secret, strlen(b->secret));
        free(b->secret);
        b->secret = plain;
        b->secret_generated = 0;
        if (!(*secret_enc = secretbox_seal(env->sb, plain, len, b->id))) {
            snprintf(errstr, errstr_size, "could not seal the webhook secret");
            return -1;
        }
    }
    if (s->track_changes && schedtab_track(env->tab, s->id, b, stale, n_stale)) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    return 0;
}
