/* shutdown: a stop the stage asked for itself ends the process within its
 * grace even when the stop hangs, does not disturb a stop that finishes, and
 * makes the stage exit non-zero; a stop signal exits 0. Each case runs in a
 * child process (the watchdog calls _exit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shutdown.h"

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Waits for the child up to `deadline_ms`; its wait status, or -1 (then it
 * is killed) when it did not end in time. */
static int reap(pid_t pid, long deadline_ms)
{
    long end = now_ms() + deadline_ms;
    int st;
    while (now_ms() < end) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static void test_a_hung_stop_exits_after_the_grace(void **state)
{
    (void)state;
    long t0 = now_ms();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        shutdown_set_grace(300);
        shutdown_request();
        if (!shutdown_requested())
            _exit(3);
        for (;;) /* a stop that never finishes (a hung rd_kafka_destroy) */
            pause();
    }
    int st = reap(pid, 10000);
    long took = now_ms() - t0;
    assert_true(st != -1);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), SHUTDOWN_STUCK_EXIT);
    assert_true(took >= 300);
}

static void test_a_stop_that_finishes_keeps_its_exit_code(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        shutdown_set_grace(300);
        shutdown_request();
        shutdown_request(); /* a second request arms nothing more */
        usleep(50000);
        exit(shutdown_requested() ? 0 : 3);
    }
    int st = reap(pid, 10000);
    assert_true(st != -1);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_no_request_no_watchdog(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        shutdown_set_grace(100);
        usleep(400000); /* well past the grace: nothing was asked */
        _exit(shutdown_requested() ? 3 : 0);
    }
    int st = reap(pid, 10000);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static int child_status(pid_t pid)
{
    int st = reap(pid, 10000);
    assert_true(st != -1);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* A fatal Kafka error stops the stage through shutdown_request(): a
 * supervisor that restarts on failure must see a failure. */
static void test_a_stop_the_stage_asked_for_exits_non_zero(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (shutdown_exit_code(0) != 0) /* running: nothing asked */
            _exit(3);
        shutdown_request();
        _exit(shutdown_exit_code(0));
    }
    assert_int_equal(child_status(pid), SHUTDOWN_FAILED_EXIT);
}

static void test_a_stop_signal_exits_zero(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        shutdown_install();
        raise(SIGTERM);
        if (!shutdown_requested())
            _exit(3);
        _exit(shutdown_exit_code(0));
    }
    assert_int_equal(child_status(pid), 0);
}

static void test_a_failing_stage_keeps_its_own_code(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        shutdown_request();
        _exit(shutdown_exit_code(2));
    }
    assert_int_equal(child_status(pid), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_hung_stop_exits_after_the_grace),
        cmocka_unit_test(test_a_stop_that_finishes_keeps_its_exit_code),
        cmocka_unit_test(test_no_request_no_watchdog),
        cmocka_unit_test(test_a_stop_the_stage_asked_for_exits_non_zero),
        cmocka_unit_test(test_a_stop_signal_exits_zero),
        cmocka_unit_test(test_a_failing_stage_keeps_its_own_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
