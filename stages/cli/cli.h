/*
 * cli — the pieces the `ferry` client's commands share: options common to
 * every command, the API client, output helpers, exit codes.
 *
 * `ferry` is the client program, not a pipeline stage: it speaks only the
 * HTTP API of ingest (FERRY_URL, FERRY_API_KEY), never Kafka, and holds no
 * state between runs. Each command lives in one module (submit.c, watch.c,
 * results.c, verify.c) as a `cmd_*` function that parses its own options
 * and returns the process's exit code.
 */
#ifndef CLI_H
#define CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "buf.h"

/* Exit codes, the same for every command, so scripts can rely on them. */
enum cli_exit {
    EXIT_OK = 0,
    EXIT_BATCH_FAILED = 1, /* wait: the batch ended failed or cancelled */
    EXIT_USAGE = 2,        /* bad command line or unreadable input; nothing was sent */
    EXIT_API = 3,          /* the API refused the request (4xx: unknown batch, invalid field) */
    EXIT_SERVER = 4,       /* a 5xx answer, no answer, or an answer that is not ferry's */
    EXIT_SIGNATURE = 5,    /* verify: a signature does not verify, or none is there */
    EXIT_TIMEOUT = 6,      /* wait --timeout: the batch was still running at the deadline */
};

/* What every command accepts (`ferry CMD --help` lists them too). */
struct cli {
    const char *prog;    /* "ferry" (argv[0]'s base name) */
    const char *cmd;     /* the command's name */
    const char *url;     /* --url, else FERRY_URL, else http://127.0.0.1:8080 */
    const char *api_key; /* --api-key, else FERRY_API_KEY; NULL: none */
    int json;            /* --json: machine-readable output */
    int quiet;           /* --quiet: print only what a script needs */
    long timeout_ms;     /* per HTTP request */
};

/* The options of struct cli, to append to a command's own getopt table,
 * and their short help text. Option values >= CLI_OPT_BASE are cli's. */
#define CLI_OPT_BASE 1000
#define CLI_COMMON_OPTIONS                                                                         \
    {"url", required_argument, NULL, CLI_OPT_BASE + 0},                                            \
        {"api-key", required_argument, NULL, CLI_OPT_BASE + 1},                                    \
        {"json", no_argument, NULL, CLI_OPT_BASE + 2}, {"quiet", no_argument, NULL, 'q'},          \
        {"request-timeout", required_argument, NULL, CLI_OPT_BASE + 3},                            \
        {"help", no_argument, NULL, 'h'},                                                          \
    {                                                                                              \
        NULL, 0, NULL, 0                                                                           \
    }
extern const char cli_common_help[];

/* A command's usage: the synopsis line and its own options. */
struct cli_usage {
    const char *synopsis;    /* "submit FILE|- [options]" */
    const char *description; /* one paragraph */
    const char *options;     /* its own options, one per line, already indented */
};

/* Handles one option that getopt_long returned: a common one (fills c),
 * -h (prints usage, returns EXIT_OK + 100 so the caller exits 0), or an
 * unknown one (prints a hint, returns EXIT_USAGE). Returns -1 when opt is
 * none of these (the command's own). */
int cli_common_opt(struct cli *c, int opt, const struct cli_usage *u);
#define CLI_HELP_SHOWN 100

/* Prints the usage of one command to fp. */
void cli_usage_print(const struct cli *c, const struct cli_usage *u, FILE *fp);

/* "ferry CMD: message" on stderr; returns code. */
int cli_fail(const struct cli *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses a whole decimal number in [min, max] for option `name`. 0 ok,
 * -1 after printing why. */
int cli_parse_long(const struct cli *c, const char *name, const char *text, long min, long max,
                   long *out);

/* Appends the words of "a,b c" (commas or spaces) to the JSON array arr. */
void cli_add_words(json_t *arr, const char *list);

/* ---------------------------------------------------------------- the API */

/* One answer: the HTTP status and the body (parsed when it is JSON). */
struct api_answer {
    long status; /* 0: no answer (network error) */
    struct buf body;
    json_t *json;             /* owned; NULL unless the body parsed as JSON */
    char error[256];          /* the network error, when status is 0 */
    char idempotent_replayed; /* the Idempotent-Replayed: true header */
};

/* Sends METHOD base+path (path starts with "/"; a next link given as a
 * full http(s) URL is used as it is) with Authorization: Bearer, and the
 * JSON body when body is non-NULL. extra_header: one more "Name: value" or
 * NULL. Fills ans (release it with api_answer_release). Returns the exit
 * code the answer means: EXIT_OK for 2xx, EXIT_API for 4xx, EXIT_SERVER
 * otherwise. */
int api_request(const struct cli *c, const char *method, const char *path, const char *body,
                size_t body_len, const char *extra_header, struct api_answer *ans);

/* Prints a failed answer for a human: the API's error code and message
 * (and details), or the network error. Returns the exit code. */
int api_report(const struct cli *c, int code, const struct api_answer *ans);

void api_answer_release(struct api_answer *ans);

/* Writes v as one compact JSON line (what JSON.stringify writes) to stdout.
 * 0 ok, -1 when stdout failed (a closed pipe). */
int cli_print_json(const json_t *v);

/* Commands. Each returns the exit code. */
int cmd_submit(struct cli *c, int argc, char **argv);
int cmd_crawl(struct cli *c, int argc, char **argv);
int cmd_status(struct cli *c, int argc, char **argv);
int cmd_wait(struct cli *c, int argc, char **argv);
int cmd_results(struct cli *c, int argc, char **argv);
int cmd_cancel(struct cli *c, int argc, char **argv);
int cmd_retry(struct cli *c, int argc, char **argv);
int cmd_batches(struct cli *c, int argc, char **argv);
int cmd_verify(struct cli *c, int argc, char **argv);

/* wait's loop, also run by `submit --wait` and `crawl --wait`. */
int watch_batch(struct cli *c, const char *id, double interval_s, double timeout_s);

#endif
