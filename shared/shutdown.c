#include "shutdown.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;
static atomic_int self_stop; /* shutdown_request() was called */
static atomic_int grace_ms = SHUTDOWN_GRACE_MS;
static atomic_flag armed = ATOMIC_FLAG_INIT;

static void on_signal(int sig)
{
    if (stop_flag)
        _exit(128 + sig);
    stop_flag = 1;
}

void shutdown_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int shutdown_requested(void)
{
    return stop_flag != 0;
}

/* Sleeps out the grace, then ends the process whatever it is doing. A plain
 * write(2): the logger's lock may be held by the thread that hangs. */
static void *watchdog(void *arg)
{
    (void)arg;
    int ms = atomic_load(&grace_ms);
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    char line[160];
    int n = snprintf(line, sizeof(line),
                     "ferry: stop asked for by the stage itself still running after %d ms: "
                     "exiting with %d\n",
                     ms, SHUTDOWN_STUCK_EXIT);
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
        _exit(SHUTDOWN_STUCK_EXIT); /* nothing more to say */
    _exit(SHUTDOWN_STUCK_EXIT);
    return NULL;
}

void shutdown_request(void)
{
    atomic_store(&self_stop, 1);
    stop_flag = 1;
    if (atomic_flag_test_and_set(&armed))
        return;
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, watchdog, NULL) != 0)
        fprintf(stderr, "ferry: no stop watchdog (pthread_create failed)\n");
    pthread_attr_destroy(&at);
}

void shutdown_set_grace(int ms)
{
    atomic_store(&grace_ms, ms > 0 ? ms : SHUTDOWN_GRACE_MS);
}

int shutdown_exit_code(int rc)
{
    if (rc != 0)
        return rc;
    return atomic_load(&self_stop) ? SHUTDOWN_FAILED_EXIT : 0;
}
