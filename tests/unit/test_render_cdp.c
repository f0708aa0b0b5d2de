/*
 * render's DevTools protocol client against a fake browser on two pipes:
 * replies matched by id, events queued per watched session and method,
 * messages split across reads, deadlines, and death (EOF, garbage, a
 * message past the cap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdp.h"
#include "clock.h"

struct fake {
    int cmd[2], out[2]; /* cmd: we read what cdp writes; out: we write to cdp */
    struct cdp *c;
};

static void fake_open(struct fake *f, size_t max)
{
    assert_int_equal(pipe(f->cmd), 0);
    assert_int_equal(pipe(f->out), 0);
    fcntl(f->cmd[1], F_SETFL, O_NONBLOCK);
    f->c = cdp_open(f->cmd[1], f->out[0], max);
}

static void fake_close(struct fake *f)
{
    cdp_close(f->c);
    for (int i = 0; i < 2; i++) {
        close(f->cmd[i]);
        close(f->out[i]);
    }
}

/* Writes raw bytes as the browser. */
static void say(struct fake *f, const char *s, size_t n)
{
    assert_int_equal(write(f->out[1], s, n), (ssize_t)n);
}

/* Reads the next command cdp sent (up to its NUL). */
static json_t *heard(struct fake *f)
{
    char buf[4096];
    size_t n = 0;
    while (n < sizeof(buf) && read(f->cmd[0], buf + n, 1) == 1 && buf[n])
        n++;
    buf[n] = '\0';
    json_t *j = json_loads(buf, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_reply_matched_by_id_and_events_by_session(void **state)
{
    (void)state;
    struct fake f;
    fake_open(&f, 1 << 20);
    static const char *const methods[] = {"Page.loadEventFired", NULL};
    cdp_watch(f.c, "S1", methods);
    /* Events first, split in odd places; one unwatched method, one for
     * another session: both dropped. */
    const char *events = "{\"method\":\"Network.dataReceived\",\"sessionId\":\"S1\",\"params\":{}}"
                         "\0{\"method\":\"Page.loadEventFired\",\"sessionId\":\"S2\"}"
                         "\0{\"method\":\"Page.loadEventFired\",\"sessionId\":\"S1\","
                         "\"params\":{\"timestamp\":1}}";
    size_t len = 0;
    for (int nul = 0; nul < 3; nul++)
        len += strlen(events + len) + 1;
    say(&f, events, 20);
    say(&f, events + 20, len - 20);
    /* The reply to the call below is written after the call went out. */
    char errstr[200];
    json_t *result = NULL;
    int64_t deadline = clk_mono_ms() + 2000;
    /* Nothing answers yet: the call times out, the connection lives. */
    assert_int_equal(cdp_call(f.c, "S1", "Page.enable", NULL, clk_mono_ms() + 100, &result, errstr,
                              sizeof(errstr)),
                     CDP_TIMEOUT);
    json_t *cmd = heard(&f);
    assert_string_equal(json_string_value(json_object_get(cmd, "method")), "Page.enable");
    assert_string_equal(json_string_value(json_object_get(cmd, "sessionId")), "S1");
    json_decref(cmd);
    json_t *ev = NULL;
    assert_int_equal(cdp_event(f.c, "S1", deadline, &ev), CDP_OK);
    assert_string_equal(json_string_value(json_object_get(ev, "method")), "Page.loadEventFired");
    json_decref(ev);
    assert_int_equal(cdp_event(f.c, "S1", clk_mono_ms() + 50, &ev), CDP_TIMEOUT);
    assert_null(ev);
    assert_false(cdp_dead(f.c));
    cdp_unwatch(f.c, "S1");
    fake_close(&f);
}

struct caller {
    struct cdp *c;
    enum cdp_rc rc;
    json_t *result;
    char errstr[200];
};

static void *call_main(void *arg)
{
    struct caller *k = arg;
    k->rc = cdp_call(k->c, NULL, "Browser.getVersion", json_pack("{s:i}", "x", 1),
                     clk_mono_ms() + 5000, &k->result, k->errstr, sizeof(k->errstr));
    return NULL;
}

/* One call on a thread of its own, answered by the fake browser with
 * `answer` (a JSON member: "result":{...} or "error":{...}). */
static void call_answered(struct fake *f, struct caller *k, const char *answer)
{
    pthread_t t;
    pthread_create(&t, NULL, call_main, k);
    json_t *cmd = heard(f);
    char reply[200];
    int n = snprintf(reply, sizeof(reply), "{\"id\":%lld,%s}",
                     (long long)json_integer_value(json_object_get(cmd, "id")), answer);
    json_decref(cmd);
    say(f, reply, (size_t)n + 1);
    pthread_join(t, NULL);
}

static void test_reply_and_error(void **state)
{
    (void)state;
    struct fake f;
    fake_open(&f, 1 << 20);
    struct caller k = {.c = f.c};
    call_answered(&f, &k, "\"result\":{\"product\":\"Fake/1\"}");
    assert_int_equal(k.rc, CDP_OK);
    assert_string_equal(json_string_value(json_object_get(k.result, "product")), "Fake/1");
    json_decref(k.result);
    call_answered(&f, &k, "\"error\":{\"message\":\"No target\"}");
    assert_int_equal(k.rc, CDP_ERROR);
    assert_non_null(strstr(k.errstr, "No target"));
    fake_close(&f);
}

static void test_death_wakes_waiters(void **state)
{
    (void)state;
    /* The browser closes its end while a call waits. */
    struct fake f;
    fake_open(&f, 1 << 20);
    struct caller k = {.c = f.c};
    pthread_t t;
    pthread_create(&t, NULL, call_main, &k);
    json_decref(heard(&f));
    close(f.out[1]);
    f.out[1] = open("/dev/null", O_WRONLY);
    pthread_join(t, NULL);
    assert_int_equal(k.rc, CDP_GONE);
    assert_true(cdp_dead(f.c));
    json_t *ev;
    assert_int_equal(cdp_event(f.c, "S1", clk_mono_ms() + 1000, &ev), CDP_GONE);
    fake_close(&f);

    /* Garbage instead of JSON. */
    fake_open(&f, 1 << 20);
    say(&f, "{not json", 10);
    int64_t until = clk_mono_ms() + 2000;
    while (!cdp_dead(f.c) && clk_mono_ms() < until)
        usleep(1000);
    assert_true(cdp_dead(f.c));
    fake_close(&f);

    /* A message past the cap, never ended. */
    fake_open(&f, 4096);
    char big[5000];
    memset(big, 'x', sizeof(big));
    say(&f, big, sizeof(big));
    until = clk_mono_ms() + 2000;
    while (!cdp_dead(f.c) && clk_mono_ms() < until)
        usleep(1000);
    assert_true(cdp_dead(f.c));
    char errstr[100];
    assert_int_equal(
        cdp_call(f.c, NULL, "X.y", NULL, clk_mono_ms() + 1000, NULL, errstr, sizeof(errstr)),
        CDP_GONE);
    fake_close(&f);
}

struct batch {
    struct cdp *c;
    enum cdp_rc rc;
    json_t *version, *frame;
    char errstr[200];
};

static void *batch_main(void *arg)
{
    struct batch *k = arg;
    struct cdp_cmd cmds[] = {
        {"Browser.getVersion", NULL, &k->version},
        {"Page.enable", NULL, NULL},
        {"Page.getFrameTree", json_pack("{s:i}", "depth", 1), &k->frame},
    };
    k->rc = cdp_calls(k->c, "S1", cmds, 3, clk_mono_ms() + 5000, k->errstr, sizeof(k->errstr));
    return NULL;
}

/* A batch goes out whole before any reply, in order; replies in any order
 * land with their command; an error names its command and the others'
 * results are still there. */
static void test_batch_sent_back_to_back(void **state)
{
    (void)state;
    struct fake f;
    fake_open(&f, 1 << 20);
    struct batch k = {.c = f.c};
    pthread_t t;
    pthread_create(&t, NULL, batch_main, &k);
    long long id[3];
    const char *want[] = {"Browser.getVersion", "Page.enable", "Page.getFrameTree"};
    for (int i = 0; i < 3; i++) {
        json_t *cmd = heard(&f);
        assert_string_equal(json_string_value(json_object_get(cmd, "method")), want[i]);
        assert_string_equal(json_string_value(json_object_get(cmd, "sessionId")), "S1");
        id[i] = (long long)json_integer_value(json_object_get(cmd, "id"));
        json_decref(cmd);
    }
    char reply[300];
    int n = snprintf(reply, sizeof(reply),
                     "{\"id\":%lld,\"result\":{\"frame\":\"F1\"}}%c"
                     "{\"id\":%lld,\"error\":{\"message\":\"Not allowed\"}}%c"
                     "{\"id\":%lld,\"result\":{\"product\":\"Fake/2\"}}%c",
                     id[2], 0, id[1], 0, id[0], 0);
    say(&f, reply, (size_t)n);
    pthread_join(t, NULL);
    assert_int_equal(k.rc, CDP_ERROR);
    assert_non_null(strstr(k.errstr, "Page.enable: Not allowed"));
    assert_string_equal(json_string_value(json_object_get(k.version, "product")), "Fake/2");
    assert_string_equal(json_string_value(json_object_get(k.frame, "frame")), "F1");
    json_decref(k.version);
    json_decref(k.frame);
    assert_false(cdp_dead(f.c));
    fake_close(&f);
}

static void attach_opened(struct fake *f, const char *target, const char *session, int waiting,
                          const char *opener)
{
    char ev[300];
    int n = snprintf(ev, sizeof(ev),
                     "{\"method\":\"Target.attachedToTarget\",\"params\":{\"sessionId\":\"%s\","
                     "\"targetInfo\":{\"targetId\":\"%s\",\"type\":\"page\",\"openerId\":\"%s\"},"
                     "\"waitingForDebugger\":%s}}",
                     session, target, opener, waiting ? "true" : "false");
    say(f, ev, (size_t)n + 1);
}

static void attach(struct fake *f, const char *target, const char *session, int waiting)
{
    attach_opened(f, target, session, waiting, "");
}

struct claimer {
    struct cdp *c;
    enum cdp_rc rc;
    char session[80];
};

static void *claim_main(void *arg)
{
    struct claimer *k = arg;
    k->rc = cdp_claim(k->c, "T4", clk_mono_ms() + 5000, k->session, sizeof(k->session));
    return NULL;
}

/* Pages the browser attached and holds are claimed by target id, once;
 * a page not held, or gone again, is not there to claim; a claim made
 * before the attach waits for it. */
static void test_claim_attached_pages(void **state)
{
    (void)state;
    struct fake f;
    fake_open(&f, 1 << 20);
    attach(&f, "T1", "S1", 1);
    attach(&f, "T2", "S2", 0);
    attach(&f, "T3", "S3", 1);
    const char *gone =
        "{\"method\":\"Target.detachedFromTarget\",\"params\":{\"sessionId\":\"S3\"}}";
    say(&f, gone, strlen(gone) + 1);
    char session[80];
    assert_int_equal(cdp_claim(f.c, "T1", clk_mono_ms() + 2000, session, sizeof(session)), CDP_OK);
    assert_string_equal(session, "S1");
    assert_int_equal(cdp_claim(f.c, "T1", clk_mono_ms() + 50, session, sizeof(session)),
                     CDP_TIMEOUT);
    assert_int_equal(cdp_claim(f.c, "T2", clk_mono_ms() + 50, session, sizeof(session)),
                     CDP_TIMEOUT);
    assert_int_equal(cdp_claim(f.c, "T3", clk_mono_ms() + 50, session, sizeof(session)),
                     CDP_TIMEOUT);
    /* An event of a page's own session is not the browser attaching one. */
    const char *own = "{\"method\":\"Target.attachedToTarget\",\"sessionId\":\"S1\","
                      "\"params\":{\"sessionId\":\"S9\",\"targetInfo\":{\"targetId\":\"T9\"},"
                      "\"waitingForDebugger\":true}}";
    say(&f, own, strlen(own) + 1);
    assert_int_equal(cdp_claim(f.c, "T9", clk_mono_ms() + 50, session, sizeof(session)),
                     CDP_TIMEOUT);
    /* A window a page opened: its opener waits for it, so it is let run
     * and left alone at once, never held for a claim. */
    attach_opened(&f, "T5", "S5", 1, "T1");
    json_t *cmd = heard(&f);
    assert_string_equal(json_string_value(json_object_get(cmd, "method")),
                        "Runtime.runIfWaitingForDebugger");
    assert_string_equal(json_string_value(json_object_get(cmd, "sessionId")), "S5");
    json_decref(cmd);
    cmd = heard(&f);
    assert_string_equal(json_string_value(json_object_get(cmd, "method")),
                        "Target.detachFromTarget");
    assert_null(json_object_get(cmd, "sessionId"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(cmd, "params"), "sessionId")), "S5");
    json_decref(cmd);
    assert_int_equal(cdp_claim(f.c, "T5", clk_mono_ms() + 50, session, sizeof(session)),
                     CDP_TIMEOUT);
    struct claimer k = {.c = f.c};
    pthread_t t;
    pthread_create(&t, NULL, claim_main, &k);
    usleep(50 * 1000);
    attach(&f, "T4", "S4", 1);
    pthread_join(t, NULL);
    assert_int_equal(k.rc, CDP_OK);
    assert_string_equal(k.session, "S4");
    /* The browser going away ends a claim at once. */
    pthread_create(&t, NULL, claim_main, &k);
    close(f.out[1]);
    f.out[1] = open("/dev/null", O_WRONLY);
    pthread_join(t, NULL);
    assert_int_equal(k.rc, CDP_GONE);
    fake_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_matched_by_id_and_events_by_session),
        cmocka_unit_test(test_reply_and_error),
        cmocka_unit_test(test_death_wakes_waiters),
        cmocka_unit_test(test_batch_sent_back_to_back),
        cmocka_unit_test(test_claim_attached_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
