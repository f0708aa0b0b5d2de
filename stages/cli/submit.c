/*
 * submit and crawl — building a submit body from the command line and an
 * input file, POSTing it, and printing the 202 answer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jx.h"

/* One input line at most (a JSON item with its headers and parameters). */
#define LINE_MAX_BYTES (1 << 20)
#define INPUT_DEPTH    32

/* Options both commands share; the body they add to. */
struct body_opts {
    json_t *body;    /* owned */
    json_t *formats; /* owned; NULL: the server's default */
    double wait_interval;
    int wait;
    const char *idempotency_key;
};

/* Reads a JSON document from a file for --extract and --metadata @FILE.
 * NULL after printing why. */
static json_t *read_json_file(const struct cli *c, const char *opt, const char *path)
{
    char errstr[200];
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        cli_fail(c, EXIT_USAGE, "%s %s: %s", opt, path, strerror(errno));
        return NULL;
    }
    struct buf b = BUF_INIT(64 << 20);
    char chunk[65536];
    size_t n;
    int too_big = 0;
    while (!too_big && (n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        too_big = buf_add(&b, chunk, n) != 0;
    fclose(fp);
    json_t *v =
        too_big ? NULL : jx_parse(b.ptr ? b.ptr : "", b.len, INPUT_DEPTH, errstr, sizeof(errstr));
    if (!v)
        cli_fail(c, EXIT_USAGE, "%s %s: %s", opt, path, too_big ? "larger than 64 MiB" : errstr);
    buf_release(&b);
    return v;
}

/* --format html,text or repeated --format: appended to o->formats. */
static void add_formats(struct body_opts *o, const char *list)
{
    if (!o->formats)
        o->formats = json_array();
    cli_add_words(o->formats, list);
}

/* The options of submit and crawl that shape the body. Returns 0 when opt
 * was one of them, -1 when not, or an exit code after printing why. */
static int body_opt(const struct cli *c, struct body_opts *o, int opt)
{
    long v;
    json_t *j;
    switch (opt) {
    case 'f': add_formats(o, optarg); return 0;
    case 'w': json_object_set_new(o->body, "webhook_url", json_string(optarg)); return 0;
    case 's': json_object_set_new(o->body, "webhook_secret", json_string(optarg)); return 0;
    case 'e': {
        json_t *ev = json_array();
        cli_add_words(ev, optarg);
        json_object_set_new(o->body, "webhook_events", ev);
        return 0;
    }
    case 'x':
        if (!(j = read_json_file(c, "--extract", optarg)))
            return EXIT_USAGE;
        json_object_set_new(o->body, "extract", j);
        return 0;
    case 'm':
        if (optarg[0] == '@') {
            j = read_json_file(c, "--metadata", optarg + 1);
        } else {
            char errstr[200];
            j = jx_parse(optarg, strlen(optarg), INPUT_DEPTH, errstr, sizeof(errstr));
            if (!j)
                cli_fail(c, EXIT_USAGE, "--metadata: %s", errstr);
        }
        if (!j)
            return EXIT_USAGE;
        json_object_set_new(o->body, "metadata", j);
        return 0;
    case 't': {
        if (cli_parse_long(c, "--timeout-ms", optarg, 1, 600000, &v))
            return EXIT_USAGE;
        json_t *opts = json_object_get(o->body, "options");
        if (!opts) {
            opts = json_object();
            json_object_set_new(o->body, "options", opts);
        }
        json_object_set_new(opts, "timeout_ms", json_integer(v));
        return 0;
    }
    case 'k': o->idempotency_key = optarg; return 0;
    case 'W': o->wait = 1; return 0;
    }
    return -1;
}

#define BODY_OPTIONS                                                                               \
    {"format", required_argument, NULL, 'f'}, {"webhook", required_argument, NULL, 'w'},           \
        {"webhook-secret", required_argument, NULL, 's'},                                          \
        {"events", required_argument, NULL, 'e'}, {"extract", required_argument, NULL, 'x'},       \
        {"metadata", required_argument, NULL, 'm'}, {"timeout-ms", required_argument, NULL, 't'},  \
        {"idempotency-key", required_argument, NULL, 'k'},                                         \
    {                                                                                              \
        "wait", no_argument, NULL, 'W'                                                             \
    }

#define BODY_HELP                                                                                  \
    "  -f, --format LIST        formats to extract: html,text,markdown,links,metadata "            \
    "(repeatable)\n"                                                                               \
    "  --webhook URL            POST the finished batch, signed, to URL\n"                         \
    "  --webhook-secret S       sign with S (else the tenant's secret, or a new one shown once)\n" \
    "  --events LIST            webhook events (batch.completed,item.completed, ...)\n"            \
    "  --extract FILE           typed extraction: FILE holds the `extract` JSON ({\"fields\": "    \
    "...})\n"                                                                                      \
    "  --metadata JSON|@FILE    metadata echoed back in the status and the webhook\n"              \
    "  --timeout-ms N           per-page fetch timeout\n"                                          \
    "  --idempotency-key K      the same key and body answer the original batch, never a second\n" \
    "  --wait                   then follow the batch as `ferry wait` does\n"

/* POSTs the finished body and prints the answer. Takes nothing over. */
static int post_body(struct cli *c, const char *path, struct body_opts *o, const char *noun)
{
    struct api_answer ans;
    char hdr[300];
    if (o->formats)
        json_object_set(o->body, "formats", o->formats);
    size_t len;
    char *text = jx_dump(o->body, &len);
    if (!text)
        return cli_fail(c, EXIT_USAGE, "out of memory");
    if (o->idempotency_key)
        snprintf(hdr, sizeof(hdr), "Idempotency-Key: %.255s", o->idempotency_key);
    int code = api_request(c, "POST", path, text, len, o->idempotency_key ? hdr : NULL, &ans);
    free(text);
    if (code != EXIT_OK) {
        code = api_report(c, code, &ans);
        api_answer_release(&ans);
        return code;
    }
    const json_t *a = ans.json;
    const char *id = jx_str(a, "id", "");
    if (c->json) {
        cli_print_json(a);
    } else if (c->quiet) {
        printf("%s\n", id);
    } else {
        printf("%s %s: %lld %s%s\n", id, jx_str(a, "status", "queued"), jx_int(a, "total", 0), noun,
               ans.idempotent_replayed ? " (an earlier submit with this key)" : "");
        const char *secret = jx_str(a, "webhook_signature_secret", NULL);
        if (secret)
            printf("webhook secret (shown once, keep it): %s\n", secret);
    }
    /* Entries the server skipped (ignore_invalid_urls) on stderr. */
    size_t i;
    json_t *bad;
    json_array_foreach(json_object_get(a, "invalid_urls"), i, bad)
    {
        fprintf(stderr, "%s %s: skipped entry %lld (%s): %s\n", c->prog, c->cmd,
                jx_int(bad, "index", -1), jx_str(bad, "url", ""), jx_str(bad, "message", ""));
    }
    fflush(stdout);
    char *keep = o->wait ? strdup(id) : NULL;
    api_answer_release(&ans);
    if (keep) {
        code = watch_batch(c, keep, o->wait_interval, 0);
        free(keep);
    }
    return code;
}

/* Reads the input: a URL per line, or a JSON object (an item) per line;
 * blank lines and lines starting with # are skipped. With any JSON item
 * present, every URL becomes {"url": ...} in `items`, so results' indexes
 * follow the file's order. */
static int read_input(const struct cli *c, const char *path, json_t *body)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!fp)
        return cli_fail(c, EXIT_USAGE, "%s: %s", path, strerror(errno));
    json_t *entries = json_array();
    int any_object = 0, code = EXIT_OK;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    while ((n = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        if (n > LINE_MAX_BYTES) {
            code = cli_fail(c, EXIT_USAGE, "%s:%ld: line longer than 1 MiB", path, lineno);
            goto out;
        }
        char *s = line, *e = line + n;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (s == e || *s == '#')
            continue;
        if (*s == '{') {
            char errstr[200];
            json_t *item = jx_parse(s, (size_t)(e - s), INPUT_DEPTH, errstr, sizeof(errstr));
            if (!json_is_object(item)) {
                json_decref(item);
                code = cli_fail(c, EXIT_USAGE, "%s:%ld: not a JSON object: %s", path, lineno,
                                item ? "another JSON value" : errstr);
                goto out;
            }
            any_object = 1;
            json_array_append_new(entries, item);
        } else {
            json_t *url = json_stringn(s, (size_t)(e - s));
            if (!url) {
                code = cli_fail(c, EXIT_USAGE, "%s:%ld: not valid UTF-8", path, lineno);
                goto out;
            }
            json_array_append_new(entries, url);
        }
    }
    if (ferror(fp)) {
        code = cli_fail(c, EXIT_USAGE, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (json_array_size(entries) == 0) {
        code = cli_fail(c, EXIT_USAGE, "%s: no URLs or items in the input", path);
        goto out;
    }
    if (any_object) {
        size_t i;
        json_t *v;
        json_array_foreach(entries, i, v)
        {
            if (json_is_string(v))
                json_array_set_new(entries, i, json_pack("{s:O}", "url", v));
        }
    }
    json_object_set(body, any_object ? "items" : "urls", entries);
out:
    free(line);
    json_decref(entries);
    if (fp != stdin)
        fclose(fp);
    return code;
}

int cmd_submit(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {BODY_OPTIONS,
                                         {"endpoint", required_argument, NULL, 'E'},
                                         {"ignore-invalid", no_argument, NULL, 'I'},
                                         CLI_COMMON_OPTIONS};
    static const struct cli_usage u = {
        "submit FILE|- [options]",
        "Submits a batch. FILE (or - for standard input) holds one URL per line, or one JSON\n"
        "object per line (an item: {\"url\": ..., \"headers\": {...}}, or a profile's parameters\n"
        "with --endpoint); blank lines and lines starting with # are skipped. Result indexes\n"
        "follow the order of the lines. Prints the batch id (and a generated webhook secret,\n"
        "shown once).",
        BODY_HELP
        "  --endpoint NAME          a profile (amazon.product, company, ...): lines are its\n"
        "                           parameters\n"
        "  --ignore-invalid         skip invalid URLs instead of refusing the batch\n"};
    struct body_opts o = {json_object(), NULL, 1.0, 0, NULL};
    int opt, code = EXIT_OK;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "f:qh", opts, NULL)) != -1) {
        int r = body_opt(c, &o, opt);
        if (r < 0 && opt == 'E') {
            json_object_set_new(o.body, "endpoint", json_string(optarg));
            r = 0;
        } else if (r < 0 && opt == 'I') {
            json_object_set_new(o.body, "ignore_invalid_urls", json_true());
            r = 0;
        }
        if (r < 0)
            r = cli_common_opt(c, opt, &u);
        if (r) {
            code = r == CLI_HELP_SHOWN ? EXIT_OK : r;
            goto out;
        }
    }
    if (optind != argc - 1) {
        code = cli_fail(c, EXIT_USAGE,
                        "expected one input FILE (or - for standard input); "
                        "try '%s submit --help'",
                        c->prog);
        goto out;
    }
    if ((code = read_input(c, argv[optind], o.body)) != EXIT_OK)
        goto out;
    code = post_body(c, "/v1/batch", &o, "items");
out:
    json_decref(o.body);
    json_decref(o.formats);
    return code;
}

int cmd_crawl(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {BODY_OPTIONS,
                                         {"limit", required_argument, NULL, 'L'},
                                         {"max-depth", required_argument, NULL, 'D'},
                                         {"include", required_argument, NULL, 'i'},
                                         {"exclude", required_argument, NULL, 'X'},
                                         {"sitemap", required_argument, NULL, 'S'},
                                         {"allow-subdomains", no_argument, NULL, 'U'},
                                         {"allow-external", no_argument, NULL, 'A'},
                                         {"ignore-robots", no_argument, NULL, 'R'},
                                         CLI_COMMON_OPTIONS};
    static const struct cli_usage u = {
        "crawl URL [options]",
        "Starts a crawl from URL: pages linked from it (and its sitemaps) on the same site, each\n"
        "fetched once, robots.txt obeyed. Prints the crawl's batch id.",
        BODY_HELP "  --limit N                at most N pages (server default 1000)\n"
                  "  --max-depth N            follow links at most N deep (server default 10)\n"
                  "  --include REGEX          only paths matching REGEX (repeatable)\n"
                  "  --exclude REGEX          never paths matching REGEX (repeatable)\n"
                  "  --sitemap MODE           include, skip or only\n"
                  "  --allow-subdomains       follow links to subdomains\n"
                  "  --allow-external         follow links to other sites\n"
                  "  --ignore-robots          do not obey robots.txt\n"};
    struct body_opts o = {json_object(), NULL, 1.0, 0, NULL};
    json_t *inc = json_array(), *exc = json_array();
    int opt, code = EXIT_OK;
    long v;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "f:qh", opts, NULL)) != -1) {
        int r = body_opt(c, &o, opt);
        if (r >= 0)
            goto handled;
        r = 0;
        switch (opt) {
        case 'L':
        case 'D':
            if (cli_parse_long(c, opt == 'L' ? "--limit" : "--max-depth", optarg, opt == 'L',
                               100000000, &v))
                r = EXIT_USAGE;
            else
                json_object_set_new(o.body, opt == 'L' ? "limit" : "max_depth", json_integer(v));
            break;
        case 'i': json_array_append_new(inc, json_string(optarg)); break;
        case 'X': json_array_append_new(exc, json_string(optarg)); break;
        case 'S':
            if (strcmp(optarg, "include") && strcmp(optarg, "skip") && strcmp(optarg, "only"))
                r = cli_fail(c, EXIT_USAGE, "--sitemap: include, skip or only, not '%s'", optarg);
            else
                json_object_set_new(o.body, "sitemap", json_string(optarg));
            break;
        case 'U': json_object_set_new(o.body, "allow_subdomains", json_true()); break;
        case 'A': json_object_set_new(o.body, "allow_external", json_true()); break;
        case 'R': json_object_set_new(o.body, "robots", json_false()); break;
        default: r = cli_common_opt(c, opt, &u);
        }
    handled:
        if (r) {
            code = r == CLI_HELP_SHOWN ? EXIT_OK : r;
            goto out;
        }
    }
    if (optind != argc - 1) {
        code = cli_fail(c, EXIT_USAGE, "expected one start URL; try '%s crawl --help'", c->prog);
        goto out;
    }
    json_object_set_new(o.body, "url", json_string(argv[optind]));
    if (json_array_size(inc))
        json_object_set(o.body, "include_paths", inc);
    if (json_array_size(exc))
        json_object_set(o.body, "exclude_paths", exc);
    code = post_body(c, "/v1/crawl", &o, "pages so far");
out:
    json_decref(inc);
    json_decref(exc);
    json_decref(o.body);
    json_decref(o.formats);
    return code;
}
