/* submission_int.h: what the modules of a submission's parsing share (submission.c,
 * submission_webhook.c); not for other callers, which use submission.h. */
#ifndef FERRY_INGEST_SUBMISSION_INT_H
#define FERRY_INGEST_SUBMISSION_INT_H

#include <jansson.h>

#include "submission.h"

/* Fills err (status, code, index, a formatted message); returns -1. */
__attribute__((format(printf, 5, 6))) int submission_fail(struct submission_err *err, int status,
                                                          const char *code, long index,
                                                          const char *fmt, ...);

/* Normalizes the URL string v in place with curl's parser (flags: url.h); a 422 naming field
 * (and index, or -1) when it is refused. Returns 0 or -1. */
int submission_check_url(struct submission_err *err, json_t *v, unsigned flags, const char *field,
                         long index);

/* Reads webhook_url, webhook_secret and webhook_events of b's body into b (a secret is generated
 * when none is given). Returns 0 or -1 with err filled. */
int submission_check_webhook(struct submission *b, const struct submission_limits *lim,
                             struct submission_err *err);

#endif
