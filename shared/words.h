/*
 * words — ferry's word lists, each written once as an X-macro (libuv's
 * UV_ERRNO_MAP pattern) and expanded here into the enum, the names and
 * whatever else the stages need. A new status or format is one line below;
 * every stage that includes this header knows it at the next build.
 *
 * Each list is append-only: an enum value may be stored by position (the
 * aggregator's changelog keeps its error counts as an array in this order),
 * so a new word goes at the end of its list and none is ever reordered.
 *
 * Parsing a name back to its enum is one function per list, taking a length
 * so a reader can parse a slice of a JSON text without copying it.
 */
#ifndef FERRY_WORDS_H
#define FERRY_WORDS_H

#include <stddef.h>

/* ------------------------------------------------------------ result statuses
 *
 * The `status` of a scrape result (schemas/scrape.results.schema.json).
 * Columns: enum suffix, name on the wire, how it counts, whether scrape
 * retries it in a retry tier, and what it means.
 *
 *   counts    SUCCEEDED: counted in `succeeded`, charged credits; FAILED:
 *             counted in `failed` and in `errors[name]`, never charged.
 *   retried   NEVER: a final answer at once; ALWAYS: a transient failure,
 *             retried until the tiers run out; SOME: depends on the cause
 *             (outcome.c decides: a reset is retried, a refusal is not;
 *             HTTP 429/502/503/504 are retried, other codes are not).
 *
 * A reader that meets a status it does not know (written by a newer
 * version) does not guess: status_parse() answers STATUS_UNKNOWN, and the
 * reader logs it and counts the item as failed under the name it read
 * (`errors["<that name>"]`), never as another status and never dropped.
 */
#define STATUS_MAP(X)                                                                              \
    X(OK, ok, SUCCEEDED, NEVER, "fetched: 2xx, or another answer that is not an error")            \
    X(TIMEOUT, timeout, FAILED, ALWAYS, "the per-item deadline passed")                            \
    X(DNS, dns, FAILED, NEVER, "the host name did not resolve")                                    \
    X(CONNECT, connect, FAILED, SOME, "refused or unreachable; reset or an empty reply")           \
    X(TLS, tls, FAILED, NEVER, "TLS handshake or certificate failure")                             \
    X(HTTP_ERROR, http_error, FAILED, SOME,                                                        \
      "HTTP status >= 400 other than 404/410, too many redirects, an undecodable body")            \
    X(TOO_LARGE, too_large, FAILED, NEVER,                                                         \
      "the body passed the item's max_bytes, or the data extracted from it does not fit a result") \
    X(BLOCKED, blocked, FAILED, NEVER, "the target address or a redirect's scheme is refused")     \
    X(INVALID_URL, invalid_url, FAILED, NEVER, "the URL cannot be parsed or is not http(s)")       \
    X(CANCELLED, cancelled, FAILED, NEVER, "the batch was cancelled before the item was fetched")  \
    X(NOT_FOUND, not_found, FAILED, NEVER, "HTTP 404 or 410: the page does not exist")             \
    X(RENDER_ERROR, render_error, FAILED, SOME,                                                    \
      "the browser could not render the page: it crashed, or wait_for.selector is invalid")        \
    X(CAPTCHA, captcha, FAILED, ALWAYS,                                                            \
      "a bot check instead of the page (the rules' captcha selectors matched)")                    \
    X(EMPTY, empty, FAILED, ALWAYS,                                                                \
      "the page showed nothing, or a field the rules require was missing")                         \
    X(EXTRACT_ERROR, extract_error, FAILED, ALWAYS,                                                \
      "the item's rules could not be used here: its profile is unknown or another version, or "    \
      "its extract spec was not found")                                                            \
    X(ROBOTS_BLOCKED, robots_blocked, FAILED, NEVER,                                               \
      "a crawl's page that robots.txt disallows (or robots.txt was unreachable): not fetched")

enum status {
#define X(up, name, counts, retried, msg) STATUS_##up,
    STATUS_MAP(X)
#undef X
        STATUS__COUNT,
    STATUS_UNKNOWN = -1 /* status_parse(): no word of this list */
};

enum status_counts { STATUS_SUCCEEDED, STATUS_FAILED };
enum status_retried { STATUS_NEVER, STATUS_ALWAYS, STATUS_SOME };

/* The wire name ("not_found") and the one-line meaning of s (< STATUS__COUNT). */
const char *status_name(enum status s);
const char *status_message(enum status s);
/* How s counts, and whether scrape may retry it (columns above). */
enum status_counts status_counts(enum status s);
enum status_retried status_retried(enum status s);

/* The status named by name[0..len), or STATUS_UNKNOWN. */
enum status status_parse(const char *name, size_t len);

/* ------------------------------------------------------------ formats
 *
 * What a submit's `formats` may ask for (schemas/scrape.requests.schema.json).
 * A request's formats travel inside a stage as a mask of FORMAT_BIT()s.
 */
#define FORMAT_MAP(X)                                                                              \
    X(HTML, html, "the body decoded to UTF-8")                                                     \
    X(TEXT, text, "readable text, blocks separated by blank lines")                                \
    X(MARKDOWN, markdown, "the page as Markdown")                                                  \
    X(LINKS, links, "absolute http(s) links of the page, deduplicated")                            \
    X(METADATA, metadata, "title, description, Open Graph, JSON-LD and the like")                  \
    X(SCREENSHOT, screenshot,                                                                      \
      "a PNG or JPEG of the rendered page (the render stage takes the item)")

enum format {
#define X(up, name, msg) FORMAT_##up,
    FORMAT_MAP(X)
#undef X
        FORMAT__COUNT,
    FORMAT_UNKNOWN = -1
};

#define FORMAT_BIT(f) (1u << (f))

const char *format_name(enum format f);
const char *format_message(enum format f);

/* The format named by name[0..len), or FORMAT_UNKNOWN. */
enum format format_parse(const char *name, size_t len);

/* "html, text, markdown, links, metadata": for error messages and --help. */
const char *format_list(void);

/* ------------------------------------------------------------ webhook events
 *
 * What a batch's `webhook_events` may name (schemas/webhooks.schema.json),
 * and what aggregate emits. Columns: enum suffix, name on the wire, whether
 * a batch without `webhook_events` gets it (DEFAULT) or must ask (ASKED),
 * and what it means.
 */
#define EVENT_MAP(X)                                                                               \
    X(BATCH_COMPLETED, batch.completed, DEFAULT, "the batch finished: every item has a result")    \
    X(BATCH_FAILED, batch.failed, DEFAULT, "the batch did not finish before its deadline")         \
    X(BATCH_CANCELLED, batch.cancelled, DEFAULT, "the batch was cancelled")                        \
    X(ITEM_COMPLETED, item.completed, ASKED, "one item has its result")                            \
    X(SCHEDULE_RUN, schedule.run, ASKED,                                                           \
      "a run of a schedule finished (completed, failed or cancelled); the default of a "           \
      "schedule's template")

enum event {
#define X(up, name, dflt, msg) EVENT_##up,
    EVENT_MAP(X)
#undef X
        EVENT__COUNT,
    EVENT_UNKNOWN = -1
};

enum event_default { EVENT_DEFAULT, EVENT_ASKED };

const char *event_name(enum event e);
const char *event_message(enum event e);
/* 1 when a batch without webhook_events gets e. */
int event_is_default(enum event e);

/* The event named by name[0..len), or EVENT_UNKNOWN. */
enum event event_parse(const char *name, size_t len);

/* "batch.completed, batch.failed, ...": for error messages. */
const char *event_list(void);

/* ------------------------------------------------------------ change verdicts
 *
 * The `change` of a result of a schedule run with track_changes: how its
 * data compares with the previous run's result for the same input
 * (shared/changes.h).
 */
#define CHANGE_MAP(X)                                                                              \
    X(NEW, new, "no earlier result of this input to compare with")                                 \
    X(SAME, same, "the data hashes as the previous result did")                                    \
    X(CHANGED, changed, "the data differs from the previous result")

enum change {
#define X(up, name, msg) CHANGE_##up,
    CHANGE_MAP(X)
#undef X
        CHANGE__COUNT,
    CHANGE_UNKNOWN = -1
};

const char *change_name(enum change c);
enum change change_parse(const char *name, size_t len);

#endif
