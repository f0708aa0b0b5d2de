/*
 * results, batches, cancel, retry — the commands that read pages or act on
 * one batch.
 *
 * `results` writes NDJSON: one result per line, each page printed and
 * flushed before the next is asked for, so `ferry results ID | head` or a
 * pipe into jq starts at once and memory stays one page, whatever the
 * batch's size.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jx.h"

/* The one batch ID left after the options, or EXIT_USAGE. */
static int one_id(struct cli *c, int argc, char **argv, const char **id)
{
    if (optind != argc - 1)
        return cli_fail(c, EXIT_USAGE, "expected one batch ID; try '%s %s --help'", c->prog,
                        c->cmd);
    *id = argv[optind];
    return EXIT_OK;
}

/* "a,b" as a query value, escaped. */
static char *query_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0), *out = e ? strdup(e) : NULL;
    curl_free(e);
    return out;
}

int cmd_results(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"status", required_argument, NULL, 's'},
                                         {"limit", required_argument, NULL, 'l'},
                                         CLI_COMMON_OPTIONS};
    static const struct cli_usage u = {
        "results ID [options]",
        "Prints a batch's results to stdout as NDJSON (one JSON result per line), following\n"
        "the API's `next` links page after page, each page written before the next is read.",
        "  --status S               only results with this status: ok, failed (every non-ok),\n"
        "                           or an error code such as timeout\n"
        "  --limit N                results per page (default 100, at most 1000)\n"};
    const char *status = NULL, *id = NULL;
    long limit = 100;
    int opt, r;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        if (opt == 's') {
            status = optarg;
            continue;
        }
        if (opt == 'l') {
            if (cli_parse_long(c, "--limit", optarg, 1, 1000, &limit))
                return EXIT_USAGE;
            continue;
        }
        if ((r = cli_common_opt(c, opt, &u)))
            return r == CLI_HELP_SHOWN ? EXIT_OK : r;
    }
    if ((r = one_id(c, argc, argv, &id)))
        return r;

    char *esc_id = query_escape(id), *esc_status = status ? query_escape(status) : NULL;
    struct buf path = BUF_INIT(BUF_NO_MAX);
    buf_addf(&path, "/v1/batch/%s/results?limit=%ld%s%s", esc_id, limit, status ? "&status=" : "",
             status ? esc_status : "");
    free(esc_id);
    free(esc_status);
    char *next = buf_detach(&path, NULL);
    int code = EXIT_OK;
    while (next) {
        struct api_answer ans;
        code = api_request(c, "GET", next, NULL, 0, NULL, &ans);
        if (code != EXIT_OK) {
            code = api_report(c, code, &ans);
            api_answer_release(&ans);
            break;
        }
        const json_t *items = json_object_get(ans.json, "results");
        if (!json_is_array(items)) {
            api_answer_release(&ans);
            code = cli_fail(c, EXIT_SERVER, "a results page without `results`");
            break;
        }
        size_t i;
        json_t *v;
        json_array_foreach(items, i, v)
        {
            if (cli_print_json(v)) {
                api_answer_release(&ans);
                free(next);
                return cli_fail(c, EXIT_USAGE, "cannot write to standard output");
            }
        }
        fflush(stdout);
        /* A next link to the page just read would loop forever. */
        const char *n = jx_str(ans.json, "next", NULL);
        if (n && strcmp(n, next) == 0)
            n = NULL;
        free(next);
        next = n ? strdup(n) : NULL;
        api_answer_release(&ans);
    }
    free(next);
    return code;
}

int cmd_cancel(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS};
    static const struct cli_usage u = {
        "cancel ID [options]",
        "Cancels a batch: items not yet fetched are skipped, the batch ends `cancelled`, and\n"
        "its webhook says so. A batch that already ended answers 409 (exit 3).",
        ""};
    const char *id = NULL;
    int opt, r;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qh", opts, NULL)) != -1)
        if ((r = cli_common_opt(c, opt, &u)))
            return r == CLI_HELP_SHOWN ? EXIT_OK : r;
    if ((r = one_id(c, argc, argv, &id)))
        return r;
    char path[200];
    snprintf(path, sizeof(path), "/v1/batch/%.150s", id);
    struct api_answer ans;
    int code = api_request(c, "DELETE", path, NULL, 0, NULL, &ans);
    if (code != EXIT_OK)
        code = api_report(c, code, &ans);
    else if (c->json)
        cli_print_json(ans.json);
    else if (!c->quiet)
        printf("%s: cancel requested (was %s)\n", jx_str(ans.json, "id", id),
               jx_str(ans.json, "status", "?"));
    api_answer_release(&ans);
    return code;
}

int cmd_retry(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"status", required_argument, NULL, 's'},
                                         {"wait", no_argument, NULL, 'W'},
                                         CLI_COMMON_OPTIONS};
    static const struct cli_usage u = {
        "retry ID [options]",
        "Submits the failed items of a finished batch again, as a new batch with the original\n"
        "options (its status names the original in `retry_of`). Prints the new batch's id.",
        "  --status LIST            only items that ended with these statuses\n"
        "                           (timeout,connect,...; default every non-ok status)\n"
        "  --wait                   then follow the new batch as `ferry wait` does\n"};
    const char *id = NULL;
    json_t *statuses = NULL;
    int opt, r, wait = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        if (opt == 's') {
            if (!statuses)
                statuses = json_array();
            cli_add_words(statuses, optarg);
            continue;
        }
        if (opt == 'W') {
            wait = 1;
            continue;
        }
        if ((r = cli_common_opt(c, opt, &u))) {
            json_decref(statuses);
            return r == CLI_HELP_SHOWN ? EXIT_OK : r;
        }
    }
    if ((r = one_id(c, argc, argv, &id))) {
        json_decref(statuses);
        return r;
    }
    char path[200], *body = NULL;
    size_t len = 0;
    snprintf(path, sizeof(path), "/v1/batch/%.150s/retry", id);
    if (statuses) {
        json_t *b = json_pack("{s:o}", "status", statuses);
        body = jx_dump(b, &len);
        json_decref(b);
    }
    struct api_answer ans;
    int code = api_request(c, "POST", path, body ? body : "{}", body ? len : 2, NULL, &ans);
    free(body);
    if (code != EXIT_OK) {
        code = api_report(c, code, &ans);
        api_answer_release(&ans);
        return code;
    }
    const char *new_id = jx_str(ans.json, "id", "");
    if (c->json)
        cli_print_json(ans.json);
    else if (c->quiet)
        printf("%s\n", new_id);
    else
        printf("%s %s: %lld items, retrying %s\n", new_id, jx_str(ans.json, "status", "queued"),
               jx_int(ans.json, "total", 0), id);
    fflush(stdout);
    char *keep = wait ? strdup(new_id) : NULL;
    api_answer_release(&ans);
    if (keep) {
        code = watch_batch(c, keep, 1.0, 0);
        free(keep);
    }
    return code;
}

int cmd_batches(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"status", required_argument, NULL, 's'},
                                         {"kind", required_argument, NULL, 'k'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"all", no_argument, NULL, 'a'},
                                         CLI_COMMON_OPTIONS};
    static const struct cli_usage u = {
        "batches [options]",
        "Lists your batches, newest first: one line each (--json: one status document per\n"
        "line).",
        "  --status S               only batches in this state (queued, running, completed,\n"
        "                           failed, cancelled)\n"
        "  --kind K                 batch or crawl\n"
        "  --limit N                at most N batches (default 20)\n"
        "  --all                    every batch, following the pages to the end\n"};
    const char *status = NULL, *kind = NULL;
    long limit = 20;
    int opt, r, all = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (opt) {
        case 's': status = optarg; continue;
        case 'k': kind = optarg; continue;
        case 'a': all = 1; continue;
        case 'l':
            if (cli_parse_long(c, "--limit", optarg, 1, 1000000, &limit))
                return EXIT_USAGE;
            continue;
        }
        if ((r = cli_common_opt(c, opt, &u)))
            return r == CLI_HELP_SHOWN ? EXIT_OK : r;
    }
    if (optind != argc)
        return cli_fail(c, EXIT_USAGE, "takes no arguments; try '%s batches --help'", c->prog);

    struct buf path = BUF_INIT(BUF_NO_MAX);
    char *es = status ? query_escape(status) : NULL, *ek = kind ? query_escape(kind) : NULL;
    buf_addf(&path, "/v1/batches?limit=%ld", all || limit > 100 ? 100 : limit);
    if (es)
        buf_addf(&path, "&status=%s", es);
    if (ek)
        buf_addf(&path, "&kind=%s", ek);
    free(es);
    free(ek);
    char *next = buf_detach(&path, NULL);
    long shown = 0;
    int code = EXIT_OK;
    if (!c->json && !c->quiet)
        printf("%-34s %-10s %-6s %15s  %s\n", "ID", "STATUS", "KIND", "PROCESSED", "CREATED");
    while (next && (all || shown < limit)) {
        struct api_answer ans;
        code = api_request(c, "GET", next, NULL, 0, NULL, &ans);
        free(next);
        next = NULL;
        if (code != EXIT_OK) {
            code = api_report(c, code, &ans);
            api_answer_release(&ans);
            break;
        }
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(ans.json, "batches"), i, d)
        {
            if (!all && shown >= limit)
                break;
            shown++;
            if (c->json) {
                cli_print_json(d);
            } else if (c->quiet) {
                printf("%s\n", jx_str(d, "id", "?"));
            } else {
                char done[40];
                snprintf(done, sizeof(done), "%lld/%lld", jx_int(d, "processed", 0),
                         jx_int(d, "total", 0));
                printf("%-34s %-10s %-6s %15s  %s\n", jx_str(d, "id", "?"),
                       jx_str(d, "status", "?"), jx_str(d, "kind", "batch"), done,
                       jx_str(d, "created_at", ""));
            }
        }
        fflush(stdout);
        const char *n = jx_str(ans.json, "next", NULL);
        next = n && json_array_size(json_object_get(ans.json, "batches")) ? strdup(n) : NULL;
        api_answer_release(&ans);
    }
    free(next);
    return code;
}
