#include "chrome.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

/* This stage's own folder under the work dir: ferry-render-<pid>. */
static char stage_dir[PATH_MAX];
static unsigned long launches;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void chrome_reaper_init(const char *work_dir)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
        LOG_WARN("subreaper_failed", "errno=%d", errno);
    DIR *d = opendir(work_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        long pid;
        char path[PATH_MAX];
        if (sscanf(e->d_name, "ferry-render-%ld", &pid) != 1 || pid <= 0)
            continue;
        /* A stage that died without cleaning up (SIGKILL): its browsers
         * died with it, its profiles are garbage. */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        snprintf(path, sizeof(path), "%.3900s/%.100s", work_dir, e->d_name);
        rm_tree(path);
        LOG_INFO("stale_profiles_removed", "dir=%s", path);
    }
    if (d)
        closedir(d);
    snprintf(stage_dir, sizeof(stage_dir), "%.3900s/ferry-render-%ld", work_dir, (long)getpid());
    mkdir(stage_dir, 0700);
}

void chrome_work_dir_remove(void)
{
    if (stage_dir[0])
        rm_tree(stage_dir);
}

#define MAX_ARGS 64

int chrome_start(struct chrome *c, const struct chrome_conf *cf, int id, char *errstr,
                 size_t errstr_size)
{
    int cmd[2] = {-1, -1}, out[2] = {-1, -1};
    char data_arg[PATH_MAX + 32], proxy_arg[300], js_arg[300];
    const char *argv[MAX_ARGS];
    int n = 0;

    memset(c, 0, sizeof(*c));
    c->to_fd = c->from_fd = -1;
    int len =
        snprintf(c->data_dir, sizeof(c->data_dir), "%.3900s/b%d-%lu", stage_dir, id, ++launches);
    if (len < 0 || (size_t)len >= sizeof(c->data_dir)) {
        snprintf(errstr, errstr_size, "FERRY_RENDER_WORK_DIR is too long");
        return -1;
    }
    rm_tree(c->data_dir);
    if (mkdir(c->data_dir, 0700)) {
        snprintf(errstr, errstr_size, "mkdir %s: %s", c->data_dir, strerror(errno));
        return -1;
    }
    snprintf(data_arg, sizeof(data_arg), "--user-data-dir=%s", c->data_dir);
    snprintf(proxy_arg, sizeof(proxy_arg), "--proxy-server=%s", cf->proxy);

    argv[n++] = cf->exe;
    argv[n++] = "--headless";
    argv[n++] = "--remote-debugging-pipe";
    /* Chromium's sandbox refuses to run as root; as any other user it stays. */
    if (geteuid() == 0) {
        argv[n++] = "--no-sandbox";
        /* With no sandbox to keep it in, the GPU process (here only the
         * software display compositor and the screenshots' read-back)
         * costs IPC and context switches for nothing: in the browser it
         * saves about 4% of the CPU a screenshot takes. Sandboxed, it
         * stays apart, so what it parses stays out of the browser. */
        argv[n++] = "--in-process-gpu";
    }
    argv[n++] = "--disable-gpu";
    argv[n++] = "--disable-quic"; /* UDP would not go through the proxy */
    argv[n++] = "--no-first-run";
    argv[n++] = "--disable-background-networking";
    argv[n++] = "--disable-component-update";
    argv[n++] = "--disable-sync";
    argv[n++] = "--disable-extensions";
    argv[n++] = "--disable-breakpad";
    argv[n++] = "--disable-default-apps";
    argv[n++] = "--mute-audio";
    argv[n++] = "--hide-scrollbars";
    /* Pages rendered side by side are all "visible": no timer throttling. */
    argv[n++] = "--disable-background-timer-throttling";
    argv[n++] = "--disable-renderer-backgrounding";
    argv[n++] = "--disable-backgrounding-occluded-windows";
    /* WebRTC may only use the proxy (TCP), never its own UDP sockets. */
    argv[n++] = "--force-webrtc-ip-handling-policy=disable_non_proxied_udp";
    argv[n++] = data_arg;
    argv[n++] = proxy_arg;
    /* Chromium sends loopback straight past a proxy unless told not to:
     * "<-loopback>" removes that implicit bypass, so 127.0.0.1 and
     * localhost meet the SSRF guard like any other host. */
    argv[n++] = "--proxy-bypass-list=<-loopback>";
    if (cf->js_flags && cf->js_flags[0]) {
        snprintf(js_arg, sizeof(js_arg), "--js-flags=%s", cf->js_flags);
        argv[n++] = js_arg;
    }
    /* The operator's own flags come last, so they win over ours. */
    char extra[1024];
    snprintf(extra, sizeof(extra), "%s", cf->extra ? cf->extra : "");
    for (char *save = NULL, *f = strtok_r(extra, " ", &save); f && n < MAX_ARGS - 2 - 1;
         f = strtok_r(NULL, " ", &save))
        argv[n++] = f;
    argv[n++] = "about:blank";
    argv[n] = NULL;

    if (pipe2(cmd, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
        snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
        goto fail;
    }
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(errstr, errstr_size, "fork: %s", strerror(errno));
        if (devnull >= 0)
            close(devnull);
        goto fail;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127); /* the stage died before the line above took effect */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        /* Move the pipe ends above 10 first, so the dup2s into 3 and 4
         * cannot overwrite one another. */
        int rd = fcntl(cmd[0], F_DUPFD, 10), wr = fcntl(out[1], F_DUPFD, 10);
        if (rd < 0 || wr < 0 || dup2(rd, 3) != 3 || dup2(wr, 4) != 4)
            _exit(127);
        if (devnull >= 0) {
            dup2(devnull, 0);
            if (!cf->show_stderr) {
                dup2(devnull, 1);
                dup2(devnull, 2);
            }
        }
        /* Nothing else of the stage (Kafka sockets, the ops server). */
        close_range(5, ~0U, 0);
        execv(cf->exe, (char *const *)argv);
        _exit(127);
    }
    if (devnull >= 0)
        close(devnull);
    close(cmd[0]);
    close(out[1]);
    c->pid = pid;
    c->to_fd = cmd[1];
    c->from_fd = out[0];
    /* Writes must not block forever on a hung browser: cdp polls them. */
    fcntl(c->to_fd, F_SETFL, fcntl(c->to_fd, F_GETFL) | O_NONBLOCK);
    return 0;
fail:
    for (int i = 0; i < 2; i++) {
        if (cmd[i] >= 0)
            close(cmd[i]);
        if (out[i] >= 0)
            close(out[i]);
    }
    rm_tree(c->data_dir);
    return -1;
}

void chrome_kill(struct chrome *c)
{
    if (c->pid > 0) {
        /* The group outlives its leader while any member lives. */
        kill(-c->pid, SIGKILL);
        if (!c->exited)
            kill(c->pid, SIGKILL);
        if (!c->exited)
            while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
                ;
    }
    if (c->to_fd >= 0)
        close(c->to_fd);
    if (c->from_fd >= 0)
        close(c->from_fd);
    c->to_fd = c->from_fd = -1;
    if (c->data_dir[0])
        rm_tree(c->data_dir);
    c->data_dir[0] = '\0';
    c->pid = 0;
    c->exited = 0;
}

pid_t chrome_reap(void)
{
    pid_t pid = waitpid(-1, NULL, WNOHANG);
    return pid > 0 ? pid : 0;
}

/* Resident pages of /proc/<pid>/statm (its second field): the kernel's
 * counters for the process, where /proc/<pid>/stat also walks every thread
 * (and a browser has dozens). 0 ok. */
static int read_statm(const char *pid, long long *rss_pages)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%s/statm", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return sscanf(buf, "%*s %lld", rss_pages) == 1 ? 0 : -1;
}

/* Proportional set size in bytes (shared pages split between the
 * processes that map them, so a sum over processes counts each page once);
 * -1 when unreadable. */
long long chrome_pss(const char *pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%s/smaps_rollup", pid);
    FILE *fp = fopen(path, "re");
    long long kb = -1;
    while (fp && fgets(line, sizeof(line), fp))
        if (sscanf(line, "Pss: %lld kB", &kb) == 1)
            break;
    if (fp)
        fclose(fp);
    return kb < 0 ? -1 : kb * 1024;
}

static int is_renderer(const char *pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    buf[n] = '\0';
    return strstr(buf, "--type=renderer") != NULL;
}

int chrome_memory(const pid_t *groups, int n, long long renderer_cap, int with_pss,
                  struct chrome_mem *out)
{
    long page = sysconf(_SC_PAGESIZE);
    int killed = 0;
    memset(out, 0, sizeof(*out) * (size_t)n);
    /* One pass over /proc for all browsers: a process belongs to the
     * browser that leads its process group. */
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        long long pages;
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        /* The group first, by a system call: reading /proc/<pid>/stat of
         * every process on the machine, four times a second, was most of an
         * idle stage's CPU (a many-threaded process's stat sums its threads). */
        pid_t group = getpgid((pid_t)strtol(e->d_name, NULL, 10));
        int i = 0;
        while (i < n && (groups[i] <= 0 || group != groups[i]))
            i++;
        if (i == n || read_statm(e->d_name, &pages))
            continue;
        struct chrome_mem *m = &out[i];
        long long bytes = pages * page, pss = with_pss ? chrome_pss(e->d_name) : -1;
        m->rss += bytes;
        m->pss += pss >= 0 ? pss : bytes;
        m->processes++;
        if (renderer_cap <= 0 || bytes <= renderer_cap || !is_renderer(e->d_name))
            continue;
        long pid = strtol(e->d_name, NULL, 10);
        kill((pid_t)pid, SIGKILL);
        m->killed++;
        killed++;
        LOG_WARN("renderer_killed", "browser=%ld pid=%ld rss_mb=%lld cap_mb=%lld", (long)groups[i],
                 pid, bytes >> 20, renderer_cap >> 20);
    }
    if (d)
        closedir(d);
    return killed;
}
