/*
 * verify — checks the signatures of a webhook request someone captured
 * (a proxy's dump, `nc -l`, a request bin), with shared/whsig, the same
 * code that signs them in deliver.
 *
 * The capture is the raw HTTP request: an optional request line
 * ("POST /hook HTTP/1.1"), header lines "Name: value", an empty line, the
 * body. CRLF or LF line ends. The body is Content-Length bytes when that
 * header is there (a trailing newline an editor added is ignored), chunked
 * bodies are decoded, else it is the rest of the input. With --body FILE,
 * the capture holds only the head and FILE holds the body's exact bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "jx.h"
#include "whsig.h"

#define CAPTURE_MAX ((size_t)256 << 20)
#define MAX_SECRETS 8
#define HEADER_MAX  64

struct capture {
    struct buf raw;
    const char *name[HEADER_MAX], *value[HEADER_MAX]; /* into raw, NUL-terminated */
    size_t n;
    const char *body; /* into raw, or body_buf */
    size_t body_len;
    struct buf body_buf; /* a decoded chunked body, or --body FILE */
};

static int read_all(const struct cli *c, const char *path, struct buf *b)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!fp)
        return cli_fail(c, EXIT_USAGE, "%s: %s", path, strerror(errno));
    char chunk[65536];
    size_t n;
    int rc = EXIT_OK;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        if (buf_add(b, chunk, n)) {
            rc = cli_fail(c, EXIT_USAGE, "%s: larger than 256 MiB", path);
            break;
        }
    if (rc == EXIT_OK && ferror(fp))
        rc = cli_fail(c, EXIT_USAGE, "%s: %s", path, strerror(errno));
    if (fp != stdin)
        fclose(fp);
    return rc;
}

static const char *header(const struct capture *cap, const char *name)
{
    /* The last one wins, as most servers do with repeated headers. */
    const char *v = NULL;
    for (size_t i = 0; i < cap->n; i++)
        if (strcasecmp(cap->name[i], name) == 0)
            v = cap->value[i];
    return v;
}

/* Decodes a chunked body into cap->body_buf. 0 ok, -1 malformed. */
static int dechunk(struct capture *cap, const char *p, size_t len)
{
    const char *end = p + len;
    buf_init(&cap->body_buf, CAPTURE_MAX);
    for (;;) {
        char *stop;
        unsigned long long n = strtoull(p, &stop, 16);
        if (stop == p)
            return -1;
        const char *nl = memchr(stop, '\n', (size_t)(end - stop));
        if (!nl)
            return -1;
        p = nl + 1;
        if (n == 0)
            break;
        if (n > (unsigned long long)(end - p))
            return -1;
        if (buf_add(&cap->body_buf, p, (size_t)n))
            return -1;
        p += n;
        if (p < end && *p == '\r')
            p++;
        if (p < end && *p == '\n')
            p++;
    }
    cap->body = buf_str(&cap->body_buf);
    cap->body_len = cap->body_buf.len;
    return 0;
}

/* Splits raw into headers and body. EXIT_OK, or EXIT_USAGE after saying why. */
static int parse_capture(const struct cli *c, struct capture *cap, int body_given)
{
    char *p = cap->raw.ptr ? cap->raw.ptr : (char *)"", *end = p + cap->raw.len;
    int first = 1;
    for (;;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line_end = nl ? nl : end;
        if (line_end > p && line_end[-1] == '\r')
            line_end--;
        if (line_end == p) { /* the empty line: the body follows */
            p = nl ? nl + 1 : end;
            break;
        }
        *line_end = '\0';
        char *colon = strchr(p, ':');
        if (first && !colon) {
            /* a request line */
        } else if (first && strstr(p, " HTTP/") && (!colon || strchr(p, ' ') < colon)) {
            /* "POST http://host:8080/hook HTTP/1.1" has a colon after a space */
        } else if (!colon) {
            return cli_fail(c, EXIT_USAGE, "not a header line: '%.80s'", p);
        } else if (cap->n < HEADER_MAX) {
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            char *ve = v + strlen(v);
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                *--ve = '\0';
            cap->name[cap->n] = p;
            cap->value[cap->n++] = v;
        }
        first = 0;
        if (!nl) {
            p = end;
            break;
        }
        p = nl + 1;
    }
    if (body_given)
        return EXIT_OK;
    size_t avail = (size_t)(end - p);
    const char *te = header(cap, "Transfer-Encoding"), *cl = header(cap, "Content-Length");
    if (te && strcasecmp(te, "chunked") == 0) {
        if (dechunk(cap, p, avail))
            return cli_fail(c, EXIT_USAGE, "the chunked body is malformed or cut short");
        return EXIT_OK;
    }
    cap->body = p;
    cap->body_len = avail;
    if (cl) {
        char *stop;
        unsigned long long n = strtoull(cl, &stop, 10);
        if (*stop || !*cl)
            return cli_fail(c, EXIT_USAGE, "Content-Length '%s' is not a number", cl);
        if (n > avail)
            return cli_fail(c, EXIT_USAGE,
                            "the body has %zu bytes, Content-Length says %llu: the capture is "
                            "cut short",
                            avail, n);
        cap->body_len = (size_t)n;
    }
    return EXIT_OK;
}

/* Which secret (1-based) verifies, 0 none. */
static int check_ferry(const struct capture *cap, const char *sig, char **secrets, int n)
{
    for (int i = 0; i < n; i++)
        if (whsig_verify_ferry(secrets[i], sig, cap->body, cap->body_len))
            return i + 1;
    return 0;
}

static int check_standard(const struct capture *cap, const char *sig, char **secrets, int n)
{
    const char *id = header(cap, "webhook-id"), *ts = header(cap, "webhook-timestamp");
    for (int i = 0; id && ts && i < n; i++)
        if (whsig_verify_standard(secrets[i], id, ts, sig, cap->body, cap->body_len))
            return i + 1;
    return 0;
}

static const char *verdict(const char *sig, int which, char *buf, size_t size)
{
    if (!sig)
        return "absent";
    if (!which)
        return "invalid";
    snprintf(buf, size, "valid (secret %d)", which);
    return buf;
}

int cmd_verify(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"secret", required_argument, NULL, 's'},
                                         {"body", required_argument, NULL, 'b'},
                                         {"max-age", required_argument, NULL, 'a'},
                                         CLI_COMMON_OPTIONS};
    static const struct cli_usage u = {
        "verify --secret S [CAPTURE|-] [options]",
        "Says whether a captured webhook request's signatures verify: X-Ferry-Signature\n"
        "(sha256=hex HMAC of the body) and the Standard Webhooks headers (webhook-id,\n"
        "webhook-timestamp, webhook-signature). CAPTURE (default: standard input) is the raw\n"
        "HTTP request: an optional request line, header lines, an empty line, the body\n"
        "(Content-Length bytes when given, chunked decoded, else the rest). A header with\n"
        "several space-separated signatures (during a secret rotation) verifies when any does.\n"
        "Exit 0 when every signature present verifies, 5 when one does not or none is present.",
        "  -s, --secret S           the webhook secret (repeatable: during a rotation, each is\n"
        "                           tried)\n"
        "  --body FILE              the body's exact bytes are in FILE; CAPTURE holds the head\n"
        "  --max-age SEC            also fail when the signed timestamp is older than SEC\n"};
    char *secrets[MAX_SECRETS];
    int n_secrets = 0, opt, r, code = EXIT_OK;
    long max_age = 0;
    const char *body_path = NULL, *path = "-";
    struct capture cap = {.raw = BUF_INIT(CAPTURE_MAX), .body_buf = BUF_INIT(CAPTURE_MAX)};
    optind = 1;
    while ((opt = getopt_long(argc, argv, "s:qh", opts, NULL)) != -1) {
        if (opt == 's') {
            if (n_secrets == MAX_SECRETS)
                return cli_fail(c, EXIT_USAGE, "at most %d secrets", MAX_SECRETS);
            secrets[n_secrets++] = optarg;
            continue;
        }
        if (opt == 'b') {
            body_path = optarg;
            continue;
        }
        if (opt == 'a') {
            if (cli_parse_long(c, "--max-age", optarg, 1, 100000000, &max_age))
                return EXIT_USAGE;
            continue;
        }
        if ((r = cli_common_opt(c, opt, &u)))
            return r == CLI_HELP_SHOWN ? EXIT_OK : r;
    }
    if (!n_secrets)
        return cli_fail(c, EXIT_USAGE, "--secret is required; try '%s verify --help'", c->prog);
    if (optind < argc - 1)
        return cli_fail(c, EXIT_USAGE, "expected at most one CAPTURE file");
    if (optind == argc - 1)
        path = argv[optind];
    if ((code = read_all(c, path, &cap.raw)) || (code = parse_capture(c, &cap, body_path != NULL)))
        goto out;
    if (body_path) {
        if ((code = read_all(c, body_path, &cap.body_buf)))
            goto out;
        cap.body = buf_str(&cap.body_buf);
        cap.body_len = cap.body_buf.len;
    }

    const char *fsig = header(&cap, "X-Ferry-Signature"), *ssig = header(&cap, "webhook-signature");
    int fok = fsig ? check_ferry(&cap, fsig, secrets, n_secrets) : 0;
    int sok = ssig ? check_standard(&cap, ssig, secrets, n_secrets) : 0;
    const char *ts = header(&cap, "webhook-timestamp");
    if (!ts)
        ts = header(&cap, "X-Ferry-Timestamp");
    long long signed_at = ts ? strtoll(ts, NULL, 10) : 0;
    /* A capture is anyone's text: a timestamp before 1970 (down to
     * LLONG_MIN) has no age, where the subtraction would overflow. */
    long long age = signed_at > 0 ? (long long)time(NULL) - signed_at : -1;
    int too_old = max_age && (age < 0 || age > max_age);
    int valid = (fsig || ssig) && (!fsig || fok) && (!ssig || sok) && !too_old;
    char b1[40], b2[40];
    const char *fv = verdict(fsig, fok, b1, sizeof(b1)), *sv = verdict(ssig, sok, b2, sizeof(b2));

    if (c->json) {
        json_t *out =
            json_pack("{s:b,s:s,s:s,s:s?,s:s?,s:I,s:I}", "valid", valid, "ferry_signature",
                      fsig ? (fok ? "valid" : "invalid") : "absent", "standard_signature",
                      ssig ? (sok ? "valid" : "invalid") : "absent", "delivery_id",
                      header(&cap, "webhook-id"), "event", header(&cap, "X-Ferry-Event"),
                      "timestamp", (json_int_t)signed_at, "body_bytes", (json_int_t)cap.body_len);
        if (age >= 0)
            json_object_set_new(out, "age_seconds", json_integer(age));
        if (fok || sok)
            json_object_set_new(out, "secret", json_integer(fok ? fok : sok));
        cli_print_json(out);
        json_decref(out);
    } else if (!c->quiet) {
        printf("X-Ferry-Signature   %s\n", fv);
        printf("webhook-signature   %s\n", sv);
        if (age >= 0)
            printf("signed              %lld s ago%s\n", age,
                   too_old ? " (older than --max-age)" : "");
        printf("%s\n", valid ? "valid" : "NOT valid");
    }
    code = valid ? EXIT_OK : EXIT_SIGNATURE;
out:
    buf_release(&cap.raw);
    buf_release(&cap.body_buf);
    return code;
}
