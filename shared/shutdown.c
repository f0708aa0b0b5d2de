#include "shutdown.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;

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

void shutdown_request(void)
{
    stop_flag = 1;
}
