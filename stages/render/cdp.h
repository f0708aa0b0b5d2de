/*
 * cdp — the Chrome DevTools protocol over a browser's pipe.
 *
 * Messages are JSON texts, each ended by a NUL byte, both ways. A command
 * is {"id", "method", "params", "sessionId"?}; its reply carries the same id
 * with "result" or "error"; events carry "method", "params" and the
 * sessionId of the page they concern (flattened sessions,
 * Target.attachToTarget {"flatten": true}), so one pipe serves every page of
 * a browser.
 *
 * One reader thread per connection parses what the browser writes: replies
 * wake the thread waiting in cdp_call(), events go to the queue of their
 * session if someone watches that session and that method (everything else
 * is dropped, so a chatty page costs nothing but parsing). Any number of
 * threads may call and wait at once; a message wakes only the thread it is
 * for.
 *
 * A connection is dead once the browser closed its end, wrote something
 * that is not JSON, or sent a message larger than the cap; every wait then
 * returns CDP_GONE at once, and the browser should be replaced.
 */
#ifndef FERRY_RENDER_CDP_H
#define FERRY_RENDER_CDP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cdp;

enum cdp_rc {
    CDP_OK,
    CDP_TIMEOUT, /* the deadline passed; the connection may still be fine */
    CDP_GONE,    /* the connection is dead (see above) */
    CDP_ERROR,   /* the browser answered with an error (message in errstr) */
};

/* Starts the reader on from_fd. Both fds stay the caller's (close them
 * after cdp_close). `max_message` caps one incoming message. */
struct cdp *cdp_open(int to_fd, int from_fd, size_t max_message);

/* Stops the reader (without waiting for the browser), fails every waiter
 * with CDP_GONE, frees. */
void cdp_close(struct cdp *c);

/* Marks the connection dead (a caller saw it hang): every waiter returns. */
void cdp_fail(struct cdp *c, const char *why);
int cdp_dead(struct cdp *c);

/* Sends method with params (stolen; NULL = {}) to a session (NULL: the
 * browser) and waits for the reply until deadline_ms (monotonic ms).
 * CDP_OK: *result is the reply's "result" (a new reference; pass NULL to
 * ignore it). Otherwise errstr says why. */
enum cdp_rc cdp_call(struct cdp *c, const char *session, const char *method, json_t *params,
                     int64_t deadline_ms, json_t **result, char *errstr, size_t errstr_size);

/* Several commands to one session, sent back to back in order, their
 * replies awaited together until deadline_ms: the first failure in order is
 * returned (errstr names it); *result of a command that succeeded is set
 * as in cdp_call. Params are stolen. At most CDP_MAX_BATCH commands. */
#define CDP_MAX_BATCH 8
struct cdp_cmd {
    const char *method;
    json_t *params;  /* NULL = {} */
    json_t **result; /* NULL: ignored */
};
enum cdp_rc cdp_calls(struct cdp *c, const char *session, struct cdp_cmd *cmds, int n,
                      int64_t deadline_ms, char *errstr, size_t errstr_size);

/* With Target.setAutoAttach {"waitForDebuggerOnStart": true} on the browser,
 * every new page is attached (a flattened session) and held before it
 * navigates, so its domains can be enabled before its first request; the
 * reader keeps each such session by target id. Claims the session of
 * `target` (waiting for its attach until deadline_ms); whoever claims it
 * lets it run (Runtime.runIfWaitingForDebugger). A window a page opened
 * (it has an opener, whose script waits for it) is let run and left alone
 * at once, never kept; a page nobody claims (its item gave up first) stays
 * held until its context is disposed. */
enum cdp_rc cdp_claim(struct cdp *c, const char *target, int64_t deadline_ms, char *session,
                      size_t session_size);

/* Starts queueing the events of `session` whose method is in `methods`
 * (NULL-terminated, must outlive the watch). At most one watch per session,
 * and one thread (the one that unwatches it) waiting for its events. */
void cdp_watch(struct cdp *c, const char *session, const char *const *methods);
void cdp_unwatch(struct cdp *c, const char *session);

/* The next queued event of a watched session ({"method", "params"}, a new
 * reference), waiting until deadline_ms. CDP_TIMEOUT or CDP_GONE leave
 * *event NULL. */
enum cdp_rc cdp_event(struct cdp *c, const char *session, int64_t deadline_ms, json_t **event);

#endif
