/*
 * status and wait — one batch's status document, once or followed to its
 * end. On a terminal `wait` draws one live line (a bar, the rate and the
 * time left) on stderr; without one it writes a plain line on stderr each
 * time the progress changes, so logs and CI output stay readable.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "jx.h"

/* How long `wait` keeps trying through a server that does not answer (an
 * ingest restart, a rolling deploy) before it gives up with EXIT_SERVER. */
#define OUTAGE_MAX_MS 60000
/* The rate is measured over this much recent time, so it follows changes. */
#define RATE_WINDOW_MS 20000
#define RATE_SAMPLES   64

static int is_final(const char *status)
{
    return strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
           strcmp(status, "cancelled") == 0;
}

static int get_status(struct cli *c, const char *id, struct api_answer *ans)
{
    char path[200];
    snprintf(path, sizeof(path), "/v1/batch/%.150s", id);
    return api_request(c, "GET", path, NULL, 0, NULL, ans);
}

static void print_status(const json_t *d)
{
    printf("%s  %s  (%s)\n", jx_str(d, "id", "?"), jx_str(d, "status", "?"),
           jx_str(d, "kind", "batch"));
    long long total = jx_int(d, "total", 0), done = jx_int(d, "processed", 0);
    printf("  progress   %lld/%lld (%.1f%%)  succeeded %lld  failed %lld\n", done, total,
           total ? 100.0 * (double)done / (double)total : 0.0, jx_int(d, "succeeded", 0),
           jx_int(d, "failed", 0));
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach(json_object_get(d, "errors"), k, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) == 0)
            continue;
        printf("%s%s %lld", first ? "  errors     " : ", ", k, (long long)json_integer_value(v));
        first = 0;
    }
    if (!first)
        putchar('\n');
    printf("  created    %s\n", jx_str(d, "created_at", "-"));
    if (jx_str(d, "started_at", NULL))
        printf("  started    %s\n", jx_str(d, "started_at", "-"));
    if (jx_str(d, "completed_at", NULL))
        printf("  finished   %s\n", jx_str(d, "completed_at", "-"));
    else if (jx_str(d, "estimated_completion", NULL))
        printf("  estimated  %s\n", jx_str(d, "estimated_completion", "-"));
    if (json_is_integer(json_object_get(d, "credits_charged")))
        printf("  credits    %lld\n", jx_int(d, "credits_charged", 0));
    const json_t *w = json_object_get(d, "webhook");
    if (json_is_object(w)) {
        long long n = jx_int(w, "attempts", 0);
        printf("  webhook    %s, %lld attempt%s, %s\n", jx_str(w, "status", "pending"), n,
               n == 1 ? "" : "s", jx_str(w, "url", ""));
        if (jx_str(w, "last_error", NULL))
            printf("  last error %s\n", jx_str(w, "last_error", ""));
    }
}

int cmd_status(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS};
    static const struct cli_usage u = {"status ID [options]",
                                       "Prints a batch's status: progress, counts per error, "
                                       "timestamps and webhook state\n(--json: the status "
                                       "document as the API answers it).",
                                       ""};
    int opt, r;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qh", opts, NULL)) != -1)
        if ((r = cli_common_opt(c, opt, &u)))
            return r == CLI_HELP_SHOWN ? EXIT_OK : r;
    if (optind != argc - 1)
        return cli_fail(c, EXIT_USAGE, "expected one batch ID; try '%s status --help'", c->prog);
    struct api_answer ans;
    int code = get_status(c, argv[optind], &ans);
    if (code != EXIT_OK)
        code = api_report(c, code, &ans);
    else if (c->json)
        cli_print_json(ans.json);
    else if (c->quiet)
        printf("%s\n", jx_str(ans.json, "status", "?"));
    else
        print_status(ans.json);
    api_answer_release(&ans);
    return code;
}

/* ---------------------------------------------------------------- wait */

struct progress {
    int tty;   /* stderr is a terminal: draw the live line */
    int drawn; /* a live line is on screen */
    int64_t t[RATE_SAMPLES];
    long long done[RATE_SAMPLES];
    size_t n, head;
    char last[160]; /* the last plain line's state, to print changes only */
    int64_t started;
};

static void rate_add(struct progress *p, int64_t now, long long done)
{
    size_t i = (p->head + p->n) % RATE_SAMPLES;
    if (p->n == RATE_SAMPLES) {
        p->head = (p->head + 1) % RATE_SAMPLES;
        i = (p->head + p->n - 1) % RATE_SAMPLES;
    } else {
        p->n++;
    }
    p->t[i] = now;
    p->done[i] = done;
    /* Drop samples older than the window, keeping at least two. */
    while (p->n > 2 && now - p->t[p->head] > RATE_WINDOW_MS) {
        p->head = (p->head + 1) % RATE_SAMPLES;
        p->n--;
    }
}

/* Items per second over the window; -1 while unknown. */
static double rate_get(const struct progress *p)
{
    if (p->n < 2)
        return -1;
    size_t last = (p->head + p->n - 1) % RATE_SAMPLES;
    int64_t dt = p->t[last] - p->t[p->head];
    if (dt <= 0)
        return -1;
    return (double)(p->done[last] - p->done[p->head]) * 1000.0 / (double)dt;
}

static void fmt_duration(char *out, size_t size, double s)
{
    if (s < 0 || !isfinite(s) || s > 99 * 86400.0) {
        snprintf(out, size, "--:--");
        return;
    }
    long v = lround(s);
    if (v >= 3600)
        snprintf(out, size, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
    else
        snprintf(out, size, "%ld:%02ld", v / 60, v % 60);
}

static int term_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        return ws.ws_col;
    const char *cols = getenv("COLUMNS");
    int n = cols ? atoi(cols) : 0;
    return n >= 40 && n <= 1000 ? n : 80;
}

static void progress_show(struct progress *p, const json_t *d)
{
    const char *id = jx_str(d, "id", "?"), *status = jx_str(d, "status", "?");
    long long total = jx_int(d, "total", 0), done = jx_int(d, "processed", 0);
    double rate = rate_get(p), pct = total ? 100.0 * (double)done / (double)total : 0;
    char rs[32], eta[32];
    if (rate >= 0)
        snprintf(rs, sizeof(rs), "%.1f/s", rate);
    else
        snprintf(rs, sizeof(rs), "-/s");
    fmt_duration(eta, sizeof(eta), rate > 0 ? (double)(total - done) / rate : -1);
    if (!p->tty) {
        char state[160];
        snprintf(state, sizeof(state), "%s %lld/%lld", status, done, total);
        if (strcmp(state, p->last) == 0)
            return;
        snprintf(p->last, sizeof(p->last), "%s", state);
        char now[CLK_ISO_LEN];
        clk_iso8601(clk_now_ms(), now);
        fprintf(stderr, "%s %s %s %lld/%lld %.1f%% %s eta %s\n", now, id, status, done, total, pct,
                rs, eta);
        return;
    }
    char tail[128];
    int tl =
        snprintf(tail, sizeof(tail), " %lld/%lld %3.0f%% %s ETA %s", done, total, pct, rs, eta);
    int width = term_width() - 1; /* never the last column: some terminals wrap there */
    int head = (int)strlen(id) + (int)strlen(status) + 2;
    int bar = width - head - tl - 3;
    if (bar > 50)
        bar = 50;
    fprintf(stderr, "\r%s %s", id, status);
    if (bar >= 10) {
        int fill = total ? (int)((double)bar * (double)done / (double)total) : 0;
        fputs(" [", stderr);
        for (int i = 0; i < bar; i++)
            fputc(i < fill ? '#' : '.', stderr);
        fputc(']', stderr);
    }
    fprintf(stderr, "%s\033[K", tail);
    fflush(stderr);
    p->drawn = 1;
}

static void print_final(struct cli *c, const json_t *d, int64_t elapsed_ms)
{
    if (c->json) {
        cli_print_json(d);
        return;
    }
    if (c->quiet)
        return;
    printf("%s %s: %lld/%lld processed, %lld succeeded, %lld failed", jx_str(d, "id", "?"),
           jx_str(d, "status", "?"), jx_int(d, "processed", 0), jx_int(d, "total", 0),
           jx_int(d, "succeeded", 0), jx_int(d, "failed", 0));
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach(json_object_get(d, "errors"), k, v)
    {
        if (json_is_integer(v) && json_integer_value(v) > 0) {
            printf("%s%s %lld", first ? " (" : ", ", k, (long long)json_integer_value(v));
            first = 0;
        }
    }
    printf("%s in %.1fs\n", first ? "" : ")", (double)elapsed_ms / 1000.0);
}

int watch_batch(struct cli *c, const char *id, double interval_s, double timeout_s)
{
    struct progress p = {0};
    p.tty = !c->quiet && isatty(STDERR_FILENO);
    p.started = clk_mono_ms();
    int64_t deadline = timeout_s > 0 ? p.started + (int64_t)(timeout_s * 1000) : 0;
    int64_t outage_since = 0;
    int code;
    for (;;) {
        struct api_answer ans;
        int64_t now = clk_mono_ms();
        code = get_status(c, id, &ans);
        if (code == EXIT_API) {
            if (p.drawn)
                fputc('\n', stderr);
            code = api_report(c, code, &ans);
            api_answer_release(&ans);
            return code;
        }
        if (code == EXIT_SERVER) {
            /* Ride out a restart: warn once, give up after OUTAGE_MAX_MS. */
            if (!outage_since) {
                outage_since = now;
                if (p.drawn) {
                    fputc('\n', stderr);
                    p.drawn = 0;
                }
                api_report(c, code, &ans);
                fprintf(stderr, "%s %s: retrying for up to %d s\n", c->prog, c->cmd,
                        OUTAGE_MAX_MS / 1000);
            } else if (now - outage_since > OUTAGE_MAX_MS) {
                api_answer_release(&ans);
                return cli_fail(c, EXIT_SERVER, "no answer for %d s; giving up",
                                OUTAGE_MAX_MS / 1000);
            }
        } else {
            outage_since = 0;
            const json_t *d = ans.json;
            rate_add(&p, now, jx_int(d, "processed", 0));
            if (!c->quiet)
                progress_show(&p, d);
            const char *status = jx_str(d, "status", "");
            if (is_final(status)) {
                if (p.drawn)
                    fputc('\n', stderr);
                print_final(c, d, clk_mono_ms() - p.started);
                code = strcmp(status, "completed") == 0 ? EXIT_OK : EXIT_BATCH_FAILED;
                api_answer_release(&ans);
                return code;
            }
        }
        api_answer_release(&ans);
        if (deadline && clk_mono_ms() >= deadline) {
            if (p.drawn)
                fputc('\n', stderr);
            return cli_fail(c, EXIT_TIMEOUT, "%s still running after %.0f s", id, timeout_s);
        }
        struct timespec ts = {(time_t)interval_s,
                              (long)((interval_s - (double)(time_t)interval_s) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static int parse_seconds(struct cli *c, const char *name, const char *text, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (!*text || *end || !(v > 0) || v > 86400.0 * 365)
        return cli_fail(c, EXIT_USAGE, "%s: expected seconds (> 0), got '%s'", name, text);
    *out = v;
    return 0;
}

int cmd_wait(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"interval", required_argument, NULL, 'i'},
                                         {"timeout", required_argument, NULL, 't'},
                                         CLI_COMMON_OPTIONS};
    static const struct cli_usage u = {
        "wait ID [options]",
        "Follows a batch until it ends. On a terminal, one live line on stderr: a bar, items per\n"
        "second and the time left; otherwise a plain line on stderr whenever the progress\n"
        "changes. Then a summary on stdout (--json: the final status document). Exits 0 when\n"
        "the batch completed, 1 when it failed or was cancelled.",
        "  --interval SEC           poll every SEC seconds (default 1)\n"
        "  --timeout SEC            give up after SEC seconds (exit 6)\n"};
    double interval = 1.0, timeout = 0;
    int opt, r;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        if (opt == 'i' || opt == 't') {
            if (parse_seconds(c, opt == 'i' ? "--interval" : "--timeout", optarg,
                              opt == 'i' ? &interval : &timeout))
                return EXIT_USAGE;
            continue;
        }
        if ((r = cli_common_opt(c, opt, &u)))
            return r == CLI_HELP_SHOWN ? EXIT_OK : r;
    }
    if (optind != argc - 1)
        return cli_fail(c, EXIT_USAGE, "expected one batch ID; try '%s wait --help'", c->prog);
    return watch_batch(c, argv[optind], interval, timeout);
}
