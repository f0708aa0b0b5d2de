/*
 * chrome — one headless Chromium process, started with its DevTools
 * protocol on a pipe (--remote-debugging-pipe: the browser reads commands on
 * its fd 3 and writes replies and events on its fd 4).
 *
 * Nothing of a browser may outlive the stage:
 *   - the browser gets PR_SET_PDEATHSIG(SIGKILL), so it dies with the stage
 *     even when the stage is SIGKILLed (the kernel delivers it when the
 *     thread that forked it ends: start browsers from a thread that lives as
 *     long as they do);
 *   - it leads a process group of its own, which its zygote, renderers, GPU
 *     and network processes inherit, so chrome_kill() ends all of them at
 *     once (a browser that dies takes its children with it: they watch its
 *     IPC channels);
 *   - chrome_reaper_init() makes the stage a child subreaper: descendants
 *     orphaned by a dead browser are reparented to the stage, which reaps
 *     them (chrome_reap), instead of to init.
 * Each browser gets a fresh --user-data-dir, removed when it is killed.
 */
#ifndef FERRY_RENDER_CHROME_H
#define FERRY_RENDER_CHROME_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

struct chrome_conf {
    const char *exe;      /* FERRY_RENDER_CHROMIUM */
    const char *proxy;    /* browser-wide --proxy-server (contexts set their own) */
    const char *work_dir; /* parent of the user-data-dirs */
    const char *js_flags; /* --js-flags value, or NULL */
    const char *extra;    /* more flags, space-separated (FERRY_RENDER_CHROMIUM_FLAGS), or NULL */
    int show_stderr;      /* 1: the browser's stderr goes to ours (debug) */
};

struct chrome {
    pid_t pid;   /* 0 when not running */
    int exited;  /* the browser process was reaped (chrome_reap returned its pid) */
    int to_fd;   /* our end of its fd 3 (we write commands) */
    int from_fd; /* our end of its fd 4 (we read replies and events) */
    char data_dir[PATH_MAX];
};

/* Makes the calling process a child subreaper, and removes work dirs that
 * stages which died before cleaning up left in `work_dir` (names carry the
 * pid of their stage; only dead stages' dirs are removed). Call once. */
void chrome_reaper_init(const char *work_dir);

/* Removes this stage's work dir (at a clean stop, browsers gone). */
void chrome_work_dir_remove(void);

/* Starts a browser. 0 ok (c filled), -1 with errstr. */
int chrome_start(struct chrome *c, const struct chrome_conf *cf, int id, char *errstr,
                 size_t errstr_size);

/* SIGKILLs the browser's process group, waits for the browser, closes our
 * pipe ends and removes its user-data-dir. Safe on a browser that already
 * died. Leaves c->pid 0. */
void chrome_kill(struct chrome *c);

/* Reaps one exited child without blocking (a dead browser, or an orphan
 * handed to the subreaper): its pid, or 0 when none is left. The caller
 * sets `exited` on the browser with that pid. */
pid_t chrome_reap(void);

/* Memory of browsers' process groups (groups[i]: the pid of browser i,
 * which leads its group; 0 = not running), in one pass over /proc: for each
 * browser the sum of its processes' RSS (and, with with_pss, their
 * proportional set sizes: shared pages counted once; otherwise pss = rss).
 * RSS is cheap (the kernel's counters); PSS walks the page tables of every
 * process, so it is for the memory gauge, not for the cap.
 * Renderers above `renderer_cap` (bytes; 0 = no cap) are SIGKILLed: the
 * page crashes, the browser survives. Returns the number killed. Safe from
 * any thread. */
struct chrome_mem {
    long long rss; /* bytes, all processes of the group */
    long long pss; /* the same, shared pages counted once (smaps_rollup) */
    int processes;
    int killed; /* renderers killed in this pass */
};
int chrome_memory(const pid_t *groups, int n, long long renderer_cap, int with_pss,
                  struct chrome_mem *out);

/* Proportional set size of /proc/<pid> ("self" works), bytes; -1 unknown. */
long long chrome_pss(const char *pid);

#endif
