/*
 * ferry — the command-line client of a ferry deployment.
 *
 * Not a pipeline stage: it runs on a user's machine or in their scripts and
 * speaks only ferry's HTTP API (FERRY_URL, FERRY_API_KEY), never Kafka.
 *
 *   ferry submit FILE|-     submit URLs (one per line) or JSON lines of items
 *   ferry crawl URL         start a crawl
 *   ferry status ID         a batch's status
 *   ferry wait ID           follow a batch to its end (a progress bar on a terminal)
 *   ferry results ID        its results as NDJSON, page after page
 *   ferry cancel ID         cancel a batch
 *   ferry retry ID          submit a batch's failed items again
 *   ferry batches           the tenant's batches, newest first
 *   ferry verify --secret S check the signatures of a captured webhook request
 *
 * Every command takes --help, --json, --url and --api-key; exit codes are
 * the same for all of them (cli.h, and `ferry --help`).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"
#include "jx.h"

static const struct command {
    const char *name;
    int (*run)(struct cli *c, int argc, char **argv);
    const char *summary;
} commands[] = {
    {"submit", cmd_submit, "submit URLs (one per line) or JSON lines of items from FILE or -"},
    {"crawl", cmd_crawl, "crawl a site from URL"},
    {"status", cmd_status, "show a batch's status"},
    {"wait", cmd_wait, "follow a batch until it ends (progress bar on a terminal)"},
    {"results", cmd_results, "print a batch's results as NDJSON, page after page"},
    {"cancel", cmd_cancel, "cancel a batch"},
    {"retry", cmd_retry, "submit a finished batch's failed items as a new batch"},
    {"batches", cmd_batches, "list your batches, newest first"},
    {"verify", cmd_verify, "check the signatures of a captured webhook request"},
};

const char cli_common_help[] =
    "  --url URL              the API's base URL (FERRY_URL; default http://127.0.0.1:8080)\n"
    "  --api-key KEY          the API key (FERRY_API_KEY)\n"
    "  --json                 machine-readable output: the API's JSON, one document per line\n"
    "  -q, --quiet            print only what a script needs (an id), no progress\n"
    "  --request-timeout SEC  give up on one HTTP request after SEC seconds (default 60)\n"
    "  -h, --help             this help\n";

static const char exit_help[] =
    "Exit codes:\n"
    "  0  done (wait: the batch completed)\n"
    "  1  wait: the batch ended failed or cancelled\n"
    "  2  usage: a bad command line or unreadable input; nothing was sent\n"
    "  3  the API refused the request (4xx: unknown batch, invalid field, bad key)\n"
    "  4  server or network error (5xx, no answer)\n"
    "  5  verify: a signature does not verify, or none is present\n"
    "  6  wait: --timeout passed while the batch was still running\n";

static void usage_main(const char *prog, FILE *fp)
{
    fprintf(fp,
            "Usage: %s COMMAND [options]   (%s COMMAND --help for its options)\n\n"
            "The command-line client of a ferry deployment (async batch scraping with signed\n"
            "webhooks). It talks to ferry's HTTP API only.\n\nCommands:\n",
            prog, prog);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(fp, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp,
            "\nEnvironment:\n  FERRY_URL      the API's base URL (default "
            "http://127.0.0.1:8080)\n  FERRY_API_KEY  the API key sent as Authorization: Bearer\n"
            "\nOptions of every command:\n%s\n%s",
            cli_common_help, exit_help);
}

void cli_usage_print(const struct cli *c, const struct cli_usage *u, FILE *fp)
{
    fprintf(fp, "Usage: %s %s\n\n%s\n\n", c->prog, u->synopsis, u->description);
    if (u->options && *u->options)
        fprintf(fp, "Options:\n%s\n", u->options);
    fprintf(fp, "Common options:\n%s\n%s", cli_common_help, exit_help);
}

int cli_fail(const struct cli *c, int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s %s: ", c->prog, c->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int cli_parse_long(const struct cli *c, const char *name, const char *text, long min, long max,
                   long *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < min || v > max) {
        cli_fail(c, EXIT_USAGE, "%s: expected a whole number from %ld to %ld, got '%s'", name, min,
                 max, text);
        return -1;
    }
    *out = v;
    return 0;
}

void cli_add_words(json_t *arr, const char *list)
{
    char *copy = strdup(list), *save = NULL;
    for (char *w = strtok_r(copy, ", ", &save); w; w = strtok_r(NULL, ", ", &save))
        json_array_append_new(arr, json_string(w));
    free(copy);
}

int cli_common_opt(struct cli *c, int opt, const struct cli_usage *u)
{
    long v;
    switch (opt) {
    case CLI_OPT_BASE + 0: c->url = optarg; return 0;
    case CLI_OPT_BASE + 1: c->api_key = optarg; return 0;
    case CLI_OPT_BASE + 2: c->json = 1; return 0;
    case 'q': c->quiet = 1; return 0;
    case CLI_OPT_BASE + 3:
        if (cli_parse_long(c, "--request-timeout", optarg, 1, 86400, &v))
            return EXIT_USAGE;
        c->timeout_ms = v * 1000;
        return 0;
    case 'h': cli_usage_print(c, u, stdout); return CLI_HELP_SHOWN;
    case '?':
    case ':':
        /* getopt printed what was wrong. */
        fprintf(stderr, "Try '%s %s --help'.\n", c->prog, c->cmd);
        return EXIT_USAGE;
    }
    return -1;
}

int cli_print_json(const json_t *v)
{
    size_t len;
    char *s = jx_dump(v, &len);
    if (!s)
        return -1;
    int rc = fwrite(s, 1, len, stdout) == len && putchar('\n') != EOF ? 0 : -1;
    free(s);
    return rc;
}

int main(int argc, char **argv)
{
    struct cli c = {0};
    const char *slash = strrchr(argv[0], '/');
    c.prog = slash ? slash + 1 : argv[0];
    c.url = getenv("FERRY_URL");
    if (!c.url || !*c.url)
        c.url = "http://127.0.0.1:8080";
    c.api_key = getenv("FERRY_API_KEY");
    if (c.api_key && !*c.api_key)
        c.api_key = NULL;
    c.timeout_ms = 60000;

    if (argc < 2) {
        usage_main(c.prog, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage_main(c.prog, stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ferry %s\n", FERRY_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        c.cmd = commands[i].name;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fprintf(stderr, "%s: cannot initialise libcurl\n", c.prog);
            return EXIT_SERVER;
        }
        /* Each command parses argv[1..] as its own command line; getopt
         * names argv[0] in its messages ("ferry submit: unrecognized ..."). */
        char name[64];
        snprintf(name, sizeof(name), "%s %s", c.prog, c.cmd);
        argv[1] = name;
        int rc = commands[i].run(&c, argc - 1, argv + 1);
        curl_global_cleanup();
        return rc;
    }
    fprintf(stderr, "%s: unknown command '%s'\n\n", c.prog, argv[1]);
    usage_main(c.prog, stderr);
    return EXIT_USAGE;
}
