/*
 * xrules — the extraction a request asks for, found and applied: the one
 * call every stage that fetches pages (scrape, render) makes on a document
 * it parsed anyway.
 *
 * A request names its rules instead of carrying them, so a 100,000-item
 * batch does not repeat a spec 100,000 times (schemas/MESSAGES.md):
 *
 *   "endpoint": {"name": "amazon.product", "digest": "3f0c...", "params": {...}}
 *       a profile. Every stage loads the same profiles at start (built-ins
 *       plus FERRY_PROFILES_DIR); a request whose digest is not this
 *       stage's version of the profile is refused (STATUS_EXTRACT_ERROR)
 *       rather than answered by other rules than the ones ingest checked.
 *   "extract": {"hash": "9b1e..."}
 *       a user's spec. It travels once, in the batch record (ferry.batches:
 *       "extract" and "extract_hash"), which the stage's batches follower
 *       hands to xrules_note_batch(). It is compiled on first use and kept
 *       by its hash: one compile serves every page of the batch, and of any
 *       other batch with the same spec (a schedule's runs).
 *
 * The batch record is written in the same transaction as the requests, so
 * a request whose spec is not known yet only means the follower has not
 * read that far: xrules_resolve() then asks the follower to catch up to the
 * topic's end (the sync callback) before it gives up.
 *
 *     struct xrules *xr = xrules_new(getenv("FERRY_PROFILES_DIR"), err, sizeof(err));
 *     xrules_set_sync(xr, follower_sync, follower);
 *     ... follower thread: xrules_note_batch(xr, value, len) for each batch record
 *     xrules_resolve(xr, request, &use, err, sizeof(err));      // intake
 *     char *data = xrules_apply(&use, doc, &page, &status, ...); // worker
 *     xrules_use_release(xr, &use);
 *
 * Threads: xrules_note_batch, xrules_resolve and xrules_use_release may be
 * called from any thread; xrules_apply reads only immutable compiled rules,
 * so workers evaluate pages in parallel.
 */
#ifndef FERRY_XRULES_H
#define FERRY_XRULES_H

#include <jansson.h>
#include <libxml/tree.h>
#include <stddef.h>

#include "profile.h"
#include "words.h"
#include "xpage.h"

/* Hex digits of a spec's hash (the first 16 bytes of the SHA-256 of its
 * JSON as jx_dump writes it), plus the NUL. */
#define XRULES_HASH_LEN 33
/* The largest user spec, as JSON (ingest refuses larger ones). */
#define XRULES_SPEC_MAX (256 * 1024)
/* User specs kept (their JSON) before the oldest unused ones are dropped. */
#define XRULES_SPECS_MAX_BYTES (64 * 1024 * 1024)
/* The largest data one page may yield, as JSON (past it: too_large). */
#define XRULES_DATA_MAX (4 * 1024 * 1024)

struct xrules;
struct xrules_spec;

/* What one request asks for, resolved. */
struct xrules_use {
    const struct xspec *spec; /* NULL: no rules (nothing to apply) */
    int endpoint;             /* 1: the data is the profile's object; 0: data.extract */
    const json_t *params;     /* the endpoint's parameters ("$name" in post steps);
                                 borrowed from the request */
    struct xrules_spec *held; /* the cached user spec this holds a reference on */
};

/* Loads the profiles (built-ins, then dir; NULL or "": none). NULL with
 * errstr "FILE: reason" on a bad profile file. */
struct xrules *xrules_new(const char *profiles_dir, char *errstr, size_t errstr_size);
void xrules_free(struct xrules *xr);

const struct profiles *xrules_profiles(const struct xrules *xr);

/* How xrules_resolve waits for a spec it does not know: sync returns 1 once
 * the batches follower has read every record committed before the call, 0
 * when timeout_ms passed first. Without one, a missing spec fails at once. */
void xrules_set_sync(struct xrules *xr, int (*sync)(void *arg, int timeout_ms), void *arg);

/* The follower read a batch record (its JSON value): keeps its spec, if it
 * has one. Cheap for records without (no parse). */
void xrules_note_batch(struct xrules *xr, const char *value, size_t len);

/* The rules of a request (its "endpoint" or "extract" member). 0: use is
 * filled (use->spec NULL when the request has neither). -1: errstr says why
 * they cannot be used here (the item's status is STATUS_EXTRACT_ERROR).
 * May wait for the follower (a bounded while) when a spec is unknown. */
int xrules_resolve(struct xrules *xr, const json_t *req, struct xrules_use *use, char *errstr,
                   size_t errstr_size);
void xrules_use_release(struct xrules *xr, struct xrules_use *use);

/* The page the rules run on: the parsed document (NULL: the body was not
 * HTML or text; the rules then see an empty document), the final URL, the
 * response headers and the decoded body. */
struct xrules_page {
    xmlDocPtr doc;
    const char *url;
    const struct xpage_header *headers;
    size_t n_headers;
    const char *body;
    size_t body_len;
};

/* Evaluates the rules on a page. Returns the data as JSON text (malloc'd,
 * in JSON.stringify's form; *len its length) with *status STATUS_OK; or
 * NULL with *status STATUS_CAPTCHA, STATUS_EMPTY or STATUS_TOO_LARGE and
 * error (a line for the result) filled. */
char *xrules_apply(const struct xrules_use *use, const struct xrules_page *page, size_t *len,
                   enum status *status, char *error, size_t error_size);

/* The hash a spec is known by (out: XRULES_HASH_LEN bytes). -1 when it
 * cannot be written out. */
int xrules_spec_hash(const json_t *spec, char out[XRULES_HASH_LEN]);

#endif
