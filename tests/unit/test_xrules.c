/* xrules: a request names its rules (a profile with its digest, or a user
 * spec by hash from its batch record), and the rules run on a parsed page
 * give the data, or a captcha / empty status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/HTMLparser.h>

#include "hparse.h"
#include "jx.h"
#include "xrules.h"

static json_t *parse_json(const char *text)
{
    char err[200];
    json_t *v = jx_parse(text, strlen(text), 32, err, sizeof(err));
    if (!v)
        fail_msg("bad test JSON: %s", err);
    return v;
}

/* Runs `use` on html; returns the data text (or NULL) and the status. */
static char *run(const struct xrules_use *use, const char *html, enum status *st, char *error,
                 size_t error_size)
{
    htmlDocPtr doc = hparse_read(html, strlen(html), "https://shop.example/p/1");
    static const struct xpage_header h[] = {{"Server", "nginx/1.25"}};
    const struct xrules_page page = {.doc = doc,
                                     .url = "https://shop.example/p/1",
                                     .headers = h,
                                     .n_headers = 1,
                                     .body = html,
                                     .body_len = strlen(html)};
    size_t len = 0;
    char *data = xrules_apply(use, &page, &len, st, error, error_size);
    if (data)
        assert_int_equal(len, strlen(data));
    xmlFreeDoc(doc);
    return data;
}

/* A batch record with a spec, as ingest writes it (hash of the spec). */
static char *batch_record(const char *spec_text, char hash[XRULES_HASH_LEN])
{
    json_t *spec = parse_json(spec_text);
    assert_int_equal(xrules_spec_hash(spec, hash), 0);
    json_t *rec = json_pack("{s:s,s:s,s:O,s:s}", "type", "batch", "id", "bat_x", "extract", spec,
                            "extract_hash", hash);
    char *text = jx_dump(rec, NULL);
    json_decref(rec);
    json_decref(spec);
    return text;
}

static void user_spec_by_hash(void **state)
{
    (void)state;
    char err[300], hash[XRULES_HASH_LEN];
    struct xrules *xr = xrules_new(NULL, err, sizeof(err));
    assert_non_null(xr);
    char *rec = batch_record("{\"fields\":{\"title\":\"h1\",\"price\":{\"selector\":\".p\","
                             "\"type\":\"price\"},\"missing\":\".nope\"}}",
                             hash);
    xrules_note_batch(xr, rec, strlen(rec));
    /* A record without a spec is ignored (and not parsed). */
    xrules_note_batch(xr, "{\"type\":\"batch\"}", 16);

    char reqtext[200];
    snprintf(reqtext, sizeof(reqtext),
             "{\"url\":\"https://shop.example/p/1\",\"extract\":{\"hash\":\"%s\"}}", hash);
    json_t *req = parse_json(reqtext);
    struct xrules_use use;
    assert_int_equal(xrules_resolve(xr, req, &use, err, sizeof(err)), 0);
    assert_non_null(use.spec);
    assert_int_equal(use.endpoint, 0);

    enum status st;
    char *data = run(&use, "<h1> Lamp </h1><span class=p>1.299,00 €</span>", &st, err, sizeof(err));
    assert_int_equal(st, STATUS_OK);
    assert_string_equal(data, "{\"title\":\"Lamp\",\"price\":{\"value\":1299,\"currency\":\"EUR\"},"
                              "\"missing\":null}");
    free(data);
    xrules_use_release(xr, &use);
    json_decref(req);
    free(rec);
    xrules_free(xr);
}

static int syncs;
static struct xrules *late_xr;
static char *late_rec;
/* The follower reads the record only when asked to catch up. */
static int sync_then_note(void *arg, int timeout_ms)
{
    (void)arg;
    (void)timeout_ms;
    syncs++;
    if (late_rec)
        xrules_note_batch(late_xr, late_rec, strlen(late_rec));
    return 1;
}

static void unknown_spec_waits_for_the_follower(void **state)
{
    (void)state;
    char err[300], hash[XRULES_HASH_LEN], reqtext[200];
    struct xrules *xr = xrules_new(NULL, err, sizeof(err));
    late_xr = xr;
    late_rec = batch_record("{\"fields\":{\"t\":\"title\"}}", hash);
    snprintf(reqtext, sizeof(reqtext), "{\"extract\":{\"hash\":\"%s\"}}", hash);
    json_t *req = parse_json(reqtext);
    struct xrules_use use;

    /* Without a follower: unknown at once, and why. */
    assert_int_equal(xrules_resolve(xr, req, &use, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not found"));

    /* With one: the record arrives during the sync. */
    xrules_set_sync(xr, sync_then_note, NULL);
    syncs = 0;
    assert_int_equal(xrules_resolve(xr, req, &use, err, sizeof(err)), 0);
    assert_int_equal(syncs, 1);
    xrules_use_release(xr, &use);
    /* Known now: no more syncs. */
    assert_int_equal(xrules_resolve(xr, req, &use, err, sizeof(err)), 0);
    assert_int_equal(syncs, 1);
    xrules_use_release(xr, &use);

    /* A hash no record has: one sync, then refused at once for the rest of
     * its batch. */
    free(late_rec);
    late_rec = NULL;
    json_t *other = parse_json("{\"extract\":{\"hash\":\"0123456789abcdef0123456789abcdef\"}}");
    assert_int_equal(xrules_resolve(xr, other, &use, err, sizeof(err)), -1);
    assert_int_equal(xrules_resolve(xr, other, &use, err, sizeof(err)), -1);
    assert_int_equal(syncs, 2);
    /* A malformed hash: refused, naming it. */
    json_t *bad = parse_json("{\"extract\":{\"hash\":\"zz\"}}");
    assert_int_equal(xrules_resolve(xr, bad, &use, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "extract.hash"));
    json_decref(bad);
    json_decref(other);
    json_decref(req);
    xrules_free(xr);
}

static void profile_by_name_and_digest(void **state)
{
    (void)state;
    char err[300], reqtext[300];
    struct xrules *xr = xrules_new(NULL, err, sizeof(err));
    const struct profile *p = profiles_get(xrules_profiles(xr), "amazon.product");
    assert_non_null(p);
    snprintf(reqtext, sizeof(reqtext),
             "{\"endpoint\":{\"name\":\"amazon.product\",\"digest\":\"%s\",\"params\":"
             "{\"query\":\"B000000001\",\"domain\":\"com\"}}}",
             p->digest);
    json_t *req = parse_json(reqtext);
    struct xrules_use use;
    assert_int_equal(xrules_resolve(xr, req, &use, err, sizeof(err)), 0);
    assert_int_equal(use.endpoint, 1);
    assert_ptr_equal(use.spec, p->extract);
    assert_non_null(use.params);

    /* Amazon's bot check: a captcha, not empty data. */
    enum status st;
    char *data = run(&use,
                     "<html><body><form method=get action=\"/errors/validateCaptcha\">"
                     "<input name=amzn></form></body></html>",
                     &st, err, sizeof(err));
    assert_null(data);
    assert_int_equal(st, STATUS_CAPTCHA);
    assert_non_null(strstr(err, "captcha"));
    /* A page with nothing on it: empty. */
    data = run(&use, "<html><body></body></html>", &st, err, sizeof(err));
    assert_null(data);
    assert_int_equal(st, STATUS_EMPTY);
    xrules_use_release(xr, &use);
    json_decref(req);

    /* Another version of the profile: refused, naming both versions. */
    req =
        parse_json("{\"endpoint\":{\"name\":\"amazon.product\",\"digest\":\"0000000000000000\"}}");
    assert_int_equal(xrules_resolve(xr, req, &use, err, sizeof(err)), -1);
    assert_non_null(strstr(err, p->digest));
    json_decref(req);
    req = parse_json("{\"endpoint\":{\"name\":\"no.such\"}}");
    assert_int_equal(xrules_resolve(xr, req, &use, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no.such"));
    json_decref(req);

    /* No rules at all: nothing to apply. */
    req = parse_json("{\"url\":\"https://a.example/\"}");
    assert_int_equal(xrules_resolve(xr, req, &use, err, sizeof(err)), 0);
    assert_null(use.spec);
    json_decref(req);
    xrules_free(xr);
}

static void bad_profile_dir_names_the_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_xrules_XXXXXX", path[300], err[300];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/broken.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"name\": \"broken\", ", f);
    fclose(f);
    assert_null(xrules_new(dir, err, sizeof(err)));
    assert_non_null(strstr(err, "broken.json"));
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(user_spec_by_hash),
        cmocka_unit_test(unknown_spec_waits_for_the_follower),
        cmocka_unit_test(profile_by_name_and_digest),
        cmocka_unit_test(bad_profile_dir_names_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
