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

/* A thread in cdp_call, waiting for its reply (lives on its stack). Each
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

/* One message from the browser (takes msg). */
static void dispatch(struct cdp *c, json_t *msg)
{
    json_t *id = json_object_get(msg, "id");
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

enum cdp_rc cdp_call(struct cdp *c, const char *session, const char *method, json_t *params,
                     int64_t deadline_ms, json_t **result, char *errstr, size_t errstr_size)
{
    struct waiter w = {0};
    enum cdp_rc rc;
    if (result)
        *result = NULL;
    json_t *msg = json_object();
    pthread_mutex_lock(&c->lock);
    w.id = ++c->next_id;
    if (c->dead) {
        snprintf(errstr, errstr_size, "browser gone: %s", c->why);
        pthread_mutex_unlock(&c->lock);
        json_decref(msg);
        json_decref(params);
        return CDP_GONE;
    }
    pthread_cond_init(&w.cond, &c->cattr);
    w.next = c->waiters;
    c->waiters = &w;
    pthread_mutex_unlock(&c->lock);

    json_object_set_new(msg, "id", json_integer(w.id));
    json_object_set_new(msg, "method", json_string(method));
    json_object_set_new(msg, "params", params ? params : json_object());
    if (session)
        json_object_set_new(msg, "sessionId", json_string(session));
    size_t len;
    char *text = jx_dump(msg, &len);
    json_decref(msg);
    pthread_mutex_lock(&c->write_lock);
    /* The NUL that ends the message is the one jx_dump wrote. */
    int wrote = write_all(c, text, len + 1, deadline_ms);
    pthread_mutex_unlock(&c->write_lock);
    free(text);
    if (wrote)
        set_dead(c, "writing to the browser failed or hung");

    pthread_mutex_lock(&c->lock);
    while (!w.reply && !c->dead)
        if (wait_until(c, &w.cond, deadline_ms))
            break;
    for (struct waiter **p = &c->waiters; *p; p = &(*p)->next)
        if (*p == &w) {
            *p = w.next;
            break;
        }
    if (w.reply) {
        json_t *err = json_object_get(w.reply, "error");
        if (err) {
            snprintf(errstr, errstr_size, "%s: %s", method, jx_str(err, "message", "error"));
            rc = CDP_ERROR;
        } else {
            if (result)
                *result = json_incref(json_object_get(w.reply, "result"));
            rc = CDP_OK;
        }
    } else if (c->dead) {
        snprintf(errstr, errstr_size, "browser gone: %s", c->why);
        rc = CDP_GONE;
    } else {
        snprintf(errstr, errstr_size, "%s: no answer in time", method);
        rc = CDP_TIMEOUT;
    }
    pthread_mutex_unlock(&c->lock);
    pthread_cond_destroy(&w.cond);
    json_decref(w.reply);
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
