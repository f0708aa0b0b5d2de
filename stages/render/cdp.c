#include "cdp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "jx.h"
#include "log.h"

/* Replies hold page-built values only as strings; anything deeper than
 * this is not the browser talking to us. */
#define CDP_MAX_DEPTH 64
/* Events a watched session may have queued before the oldest are dropped
 * (a page stuck in a loop of dialogs must not grow the stage). */
#define CDP_MAX_QUEUED 1024
#define CDP_READ_CHUNK 65536
/* Held pages nobody claimed (their item gave up first) and not yet gone:
 * the oldest is forgotten past this many (it stays held until its context
 * is disposed either way). */
#define CDP_MAX_ATTACHED 256

/* A command awaiting its reply (on the stack of the thread in cdp_calls). Each
 * waiter and each watch has a condition of its own: the reader wakes the one
 * thread a message is for, not every slot of the browser. */
struct waiter {
    struct waiter *next;
    long id;
    json_t *reply; /* set by the reader */
    pthread_cond_t cond;
};

struct watch {
    struct watch *next;
    char session[80];
    const char *const *methods;
    json_t *queue; /* array of events, oldest first */
    pthread_cond_t cond;
};

/* A target the browser attached on its own (Target.setAutoAttach) and holds
 * until a client lets it run. */
struct attached {
    struct attached *next;
    char target[64], session[80];
};

struct cdp {
    int to_fd, from_fd;
    int wake[2]; /* cdp_close writes here to stop the reader */
    size_t max_message;
    pthread_t reader;
    pthread_mutex_t lock; /* everything below */
    pthread_mutex_t write_lock;
    pthread_cond_t cond;      /* death (or an event) for a thread waiting without a watch */
    pthread_condattr_t cattr; /* CLOCK_MONOTONIC, for every condition */
    long next_id;
    int dead;
    char why[128];
    struct waiter *waiters;
    struct watch *watches;
    struct attached *attached; /* newest first */
    int n_attached;
};

static void set_dead(struct cdp *c, const char *why)
{
    pthread_mutex_lock(&c->lock);
    if (!c->dead) {
        c->dead = 1;
        snprintf(c->why, sizeof(c->why), "%s", why);
    }
    pthread_cond_broadcast(&c->cond);
    for (struct waiter *w = c->waiters; w; w = w->next)
        pthread_cond_signal(&w->cond);
    for (struct watch *w = c->watches; w; w = w->next)
        pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&c->lock);
}

static int wanted(const struct watch *w, const char *method)
{
    for (const char *const *m = w->methods; *m; m++)
        if (strcmp(*m, method) == 0)
            return 1;
    return 0;
}

/* Writes all of data before the deadline. 0 ok, -1 (the stream is then
 * unusable: a message may be half written). */
static int write_all(struct cdp *c, const char *data, size_t len, int64_t deadline_ms)
{
    while (len) {
        ssize_t n = write(c->to_fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        int64_t left = deadline_ms - clk_mono_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {c->to_fd, POLLOUT, 0};
        poll(&p, 1, (int)(left > 1000 ? 1000 : left));
    }
    return 0;
}

/* Writes one command (takes params; NULL = {}). 0 ok, -1 the stream is
 * unusable. */
static int send_msg(struct cdp *c, long id, const char *session, const char *method, json_t *params,
                    int64_t deadline_ms)
{
    json_t *msg = json_pack("{s:I,s:s,s:o}", "id", (json_int_t)id, "method", method, "params",
                            params ? params : json_object());
    if (session)
        json_object_set_new(msg, "sessionId", json_string(session));
    size_t len;
    char *text = jx_dump(msg, &len);
    json_decref(msg);
    pthread_mutex_lock(&c->write_lock);
    /* The NUL that ends the message is the one jx_dump wrote. */
    int rc = write_all(c, text, len + 1, deadline_ms);
    pthread_mutex_unlock(&c->write_lock);
    free(text);
    return rc;
}

/* Unlinks and frees the held page *p points at (c->lock held). */
static void forget(struct cdp *c, struct attached **p)
{
    struct attached *gone = *p;
    *p = gone->next;
    free(gone);
    c->n_attached--;
}

/* Target.attachedToTarget and detachedFromTarget of the browser's own
 * session (c->lock held): a held page is kept for cdp_claim until claimed
 * or gone. 1 when it is a window a page opened, whose session is then in
 * `resume`: its opener waits for it, so it must run at once. */
static int on_attach(struct cdp *c, const char *method, const json_t *params, char *resume,
                     size_t resume_size)
{
    if (strcmp(method, "Target.attachedToTarget") == 0) {
        if (!jx_bool(params, "waitingForDebugger", 0))
            return 0;
        if (jx_str(json_object_get(params, "targetInfo"), "openerId", "")[0]) {
            snprintf(resume, resume_size, "%s", jx_str(params, "sessionId", ""));
            return 1;
        }
        struct attached *a = calloc(1, sizeof(*a));
        if (!a)
            abort();
        snprintf(a->target, sizeof(a->target), "%s",
                 jx_str(json_object_get(params, "targetInfo"), "targetId", ""));
        snprintf(a->session, sizeof(a->session), "%s", jx_str(params, "sessionId", ""));
        a->next = c->attached;
        c->attached = a;
        if (++c->n_attached > CDP_MAX_ATTACHED) {
            struct attached **p = &c->attached;
            while ((*p)->next)
                p = &(*p)->next;
            forget(c, p);
        }
        pthread_cond_broadcast(&c->cond);
    } else if (strcmp(method, "Target.detachedFromTarget") == 0) {
        const char *session = jx_str(params, "sessionId", "");
        for (struct attached **p = &c->attached; *p; p = &(*p)->next)
            if (strcmp((*p)->session, session) == 0) {
                forget(c, p);
                break;
            }
    }
    return 0;
}

/* One message from the browser (takes msg). */
static void dispatch(struct cdp *c, json_t *msg)
{
    json_t *id = json_object_get(msg, "id");
    char resume[80];
    long resume_id = 0;
    pthread_mutex_lock(&c->lock);
    if (json_is_integer(id)) {
        for (struct waiter *w = c->waiters; w; w = w->next)
            if (w->id == (long)json_integer_value(id)) {
                w->reply = msg;
                msg = NULL;
                pthread_cond_signal(&w->cond);
                break;
            }
    } else {
        const char *method = jx_str(msg, "method", NULL);
        const char *session = jx_str(msg, "sessionId", "");
        if (method && !session[0] &&
            on_attach(c, method, json_object_get(msg, "params"), resume, sizeof(resume))) {
            resume_id = c->next_id + 1;
            c->next_id += 2;
        }
        for (struct watch *w = method ? c->watches : NULL; w; w = w->next) {
            if (strcmp(w->session, session) != 0 || !wanted(w, method))
                continue;
            if (json_array_size(w->queue) >= CDP_MAX_QUEUED)
                json_array_remove(w->queue, 0);
            json_array_append_new(w->queue, msg);
            msg = NULL;
            pthread_cond_broadcast(&w->cond);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    json_decref(msg); /* a reply nobody waits for (timed out), or an unwatched event */
    if (resume_id) {
        /* Let it run and leave it alone (replies are not awaited). */
        int64_t deadline = clk_mono_ms() + 1000;
        if (send_msg(c, resume_id, resume, "Runtime.runIfWaitingForDebugger", NULL, deadline) ||
            send_msg(c, resume_id + 1, NULL, "Target.detachFromTarget",
                     json_pack("{s:s}", "sessionId", resume), deadline))
            set_dead(c, "writing to the browser failed or hung");
    }
}

static void *reader_main(void *arg)
{
    struct cdp *c = arg;
    struct buf in = BUF_INIT(c->max_message);
    size_t scanned = 0; /* bytes of `in` known to hold no NUL */
    char chunk[CDP_READ_CHUNK];
    const char *why = "browser closed the pipe";
    for (;;) {
        struct pollfd p[2] = {{c->from_fd, POLLIN, 0}, {c->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            why = "poll failed";
            break;
        }
        if (p[1].revents) {
            why = "closed";
            break;
        }
        ssize_t n = read(c->from_fd, chunk, sizeof(chunk));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        if (buf_add(&in, chunk, (size_t)n)) {
            why = "a message passed the size cap";
            break;
        }
        char *nul;
        while ((nul = memchr(in.ptr + scanned, '\0', in.len - scanned))) {
            size_t len = (size_t)(nul - in.ptr);
            char err[160];
            json_t *msg = jx_parse(in.ptr, len, CDP_MAX_DEPTH, err, sizeof(err));
            if (!msg) {
                LOG_WARN("cdp_bad_message", "bytes=%zu why=%s", len, err);
                why = "the browser wrote something that is not JSON";
                goto out;
            }
            dispatch(c, msg);
            size_t rest = in.len - len - 1;
            memmove(in.ptr, nul + 1, rest);
            buf_truncate(&in, rest);
            scanned = 0;
        }
        scanned = in.len;
    }
out:
    buf_release(&in);
    set_dead(c, why);
    return NULL;
}

struct cdp *cdp_open(int to_fd, int from_fd, size_t max_message)
{
    struct cdp *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->to_fd = to_fd;
    c->from_fd = from_fd;
    c->max_message = max_message;
    if (pipe2(c->wake, O_CLOEXEC))
        abort();
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->write_lock, NULL);
    pthread_condattr_init(&c->cattr);
    pthread_condattr_setclock(&c->cattr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &c->cattr);
    if (pthread_create(&c->reader, NULL, reader_main, c))
        abort();
    return c;
}

void cdp_close(struct cdp *c)
{
    if (!c)
        return;
    if (write(c->wake[1], "x", 1) < 0)
        LOG_WARN("cdp_wake_failed", "errno=%d", errno);
    pthread_join(c->reader, NULL);
    set_dead(c, "closed");
    /* Waiters return on `dead`; they are gone before the pool calls this
     * (it closes a browser only once no slot uses it). */
    for (struct watch *w = c->watches, *next; w; w = next) {
        next = w->next;
        json_decref(w->queue);
        pthread_cond_destroy(&w->cond);
        free(w);
    }
    for (struct attached *a = c->attached, *next; a; a = next) {
        next = a->next;
        free(a);
    }
    close(c->wake[0]);
    close(c->wake[1]);
    pthread_cond_destroy(&c->cond);
    pthread_condattr_destroy(&c->cattr);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->write_lock);
    free(c);
}

void cdp_fail(struct cdp *c, const char *why)
{
    set_dead(c, why);
}

int cdp_dead(struct cdp *c)
{
    pthread_mutex_lock(&c->lock);
    int d = c->dead;
    pthread_mutex_unlock(&c->lock);
    return d;
}

/* Waits on cond until deadline_ms (c->lock held). 0 woken, -1 timeout. */
static int wait_until(struct cdp *c, pthread_cond_t *cond, int64_t deadline_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t left = deadline_ms - clk_mono_ms();
    if (left <= 0)
        return -1;
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(cond, &c->lock, &ts) == ETIMEDOUT ? -1 : 0;
}

enum cdp_rc cdp_calls(struct cdp *c, const char *session, struct cdp_cmd *cmds, int n,
                      int64_t deadline_ms, char *errstr, size_t errstr_size)
{
    struct waiter w[CDP_MAX_BATCH];
    if (n < 1 || n > CDP_MAX_BATCH)
        abort();
    memset(w, 0, sizeof(w));
    for (int i = 0; i < n; i++)
        if (cmds[i].result)
            *cmds[i].result = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->dead) {
        snprintf(errstr, errstr_size, "browser gone: %s", c->why);
        pthread_mutex_unlock(&c->lock);
        for (int i = 0; i < n; i++)
            json_decref(cmds[i].params);
        return CDP_GONE;
    }
    for (int i = 0; i < n; i++) {
        w[i].id = ++c->next_id;
        pthread_cond_init(&w[i].cond, &c->cattr);
        w[i].next = c->waiters;
        c->waiters = &w[i];
    }
    pthread_mutex_unlock(&c->lock);

    /* Back to back, in order: a target held for the debugger answers some
     * commands only once a later one of the same batch lets it run. */
    int wrote = 0;
    for (int i = 0; i < n; i++) {
        if (wrote)
            json_decref(cmds[i].params);
        else
            wrote = send_msg(c, w[i].id, session, cmds[i].method, cmds[i].params, deadline_ms);
    }
    if (wrote)
        set_dead(c, "writing to the browser failed or hung");

    enum cdp_rc rc = CDP_OK;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < n; i++) {
        while (!w[i].reply && !c->dead)
            if (wait_until(c, &w[i].cond, deadline_ms))
                break;
        enum cdp_rc one;
        char why[200];
        json_t *err = w[i].reply ? json_object_get(w[i].reply, "error") : NULL;
        if (err) {
            snprintf(why, sizeof(why), "%s: %s", cmds[i].method, jx_str(err, "message", "error"));
            one = CDP_ERROR;
        } else if (w[i].reply) {
            if (cmds[i].result)
                *cmds[i].result = json_incref(json_object_get(w[i].reply, "result"));
            one = CDP_OK;
        } else if (c->dead) {
            snprintf(why, sizeof(why), "browser gone: %s", c->why);
            one = CDP_GONE;
        } else {
            snprintf(why, sizeof(why), "%s: no answer in time", cmds[i].method);
            one = CDP_TIMEOUT;
        }
        if (one != CDP_OK && rc == CDP_OK) {
            rc = one;
            snprintf(errstr, errstr_size, "%s", why);
        }
    }
    for (int i = 0; i < n; i++) {
        for (struct waiter **p = &c->waiters; *p; p = &(*p)->next)
            if (*p == &w[i]) {
                *p = w[i].next;
                break;
            }
        pthread_cond_destroy(&w[i].cond);
        json_decref(w[i].reply);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

enum cdp_rc cdp_call(struct cdp *c, const char *session, const char *method, json_t *params,
                     int64_t deadline_ms, json_t **result, char *errstr, size_t errstr_size)
{
    struct cdp_cmd cmd = {method, params, result};
    return cdp_calls(c, session, &cmd, 1, deadline_ms, errstr, errstr_size);
}

enum cdp_rc cdp_claim(struct cdp *c, const char *target, int64_t deadline_ms, char *session,
                      size_t session_size)
{
    enum cdp_rc rc = CDP_TIMEOUT;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        struct attached **p = &c->attached;
        while (*p && strcmp((*p)->target, target) != 0)
            p = &(*p)->next;
        if (*p) {
            snprintf(session, session_size, "%s", (*p)->session);
            forget(c, p);
            rc = CDP_OK;
            break;
        }
        if (c->dead) {
            rc = CDP_GONE;
            break;
        }
        if (wait_until(c, &c->cond, deadline_ms))
            break;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void cdp_watch(struct cdp *c, const char *session, const char *const *methods)
{
    struct watch *w = calloc(1, sizeof(*w));
    if (!w)
        abort();
    snprintf(w->session, sizeof(w->session), "%s", session ? session : "");
    w->methods = methods;
    w->queue = json_array();
    pthread_cond_init(&w->cond, &c->cattr);
    pthread_mutex_lock(&c->lock);
    w->next = c->watches;
    c->watches = w;
    pthread_mutex_unlock(&c->lock);
}

void cdp_unwatch(struct cdp *c, const char *session)
{
    struct watch *found = NULL;
    pthread_mutex_lock(&c->lock);
    for (struct watch **p = &c->watches; *p; p = &(*p)->next)
        if (strcmp((*p)->session, session ? session : "") == 0) {
            found = *p;
            *p = found->next;
            break;
        }
    pthread_mutex_unlock(&c->lock);
    if (found) {
        json_decref(found->queue);
        pthread_cond_destroy(&found->cond);
        free(found);
    }
}

enum cdp_rc cdp_event(struct cdp *c, const char *session, int64_t deadline_ms, json_t **event)
{
    enum cdp_rc rc = CDP_TIMEOUT;
    *event = NULL;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        struct watch *w = c->watches;
        while (w && strcmp(w->session, session ? session : "") != 0)
            w = w->next;
        if (w && json_array_size(w->queue)) {
            *event = json_incref(json_array_get(w->queue, 0));
            json_array_remove(w->queue, 0);
            rc = CDP_OK;
            break;
        }
        if (c->dead) {
            rc = CDP_GONE;
            break;
        }
        if (wait_until(c, w ? &w->cond : &c->cond, deadline_ms))
            break;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}
