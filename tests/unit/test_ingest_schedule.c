/* ingest's schedule definitions (stages/ingest/schedule.c): bodies refused with
 * the field named, the template checked by the submit's parser, the webhook
 * secret sealed and shown once, PATCH semantics (since moves on a change of
 * timing and on a resume), the record read back, next_run_at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jx.h"
#include "schedule.h"

static const struct submission_limits lim = {
    .max_items = 3, .allow_http_webhook = 1, .allow_private_webhook = 1, .max_page_bytes = 1 << 20};
static struct secretbox sb;

/* 2026-11-05T08:00:30Z */
#define NOW 1793865630000LL

static struct sched_env env(const struct secretbox *box)
{
    struct sched_env e = {.lim = &lim, .sb = box, .now_ms = NOW};
    return e;
}

static int setup(void **state)
{
    char err[128];
    (void)state;
    return secretbox_init(&sb, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                          err, sizeof(err));
}

static void test_refusals_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int status;
        const char *field;
        const char *in_message;
    } cases[] = {
        {"[", 400, "", "not valid JSON"},
        {"[]", 400, "", "object"},
        {"{\"batch\":{\"urls\":[\"https://a\"]}}", 422, "cron", "required"},
        {"{\"cron\":\"0 24 * * *\",\"batch\":{\"urls\":[\"https://a\"]}}", 422, "cron",
         "hour: 24 is out of range 0-23"},
        {"{\"cron\":\"0 0 30 FEB *\",\"batch\":{\"urls\":[\"https://a\"]}}", 422, "cron", "cron:"},
        {"{\"cron\":5,\"batch\":{\"urls\":[\"https://a\"]}}", 422, "cron", "string"},
        {"{\"cron\":\"@daily\",\"timezone\":\"Europe/Berln\",\"batch\":{\"urls\":[\"https://a\"]}}",
         422, "timezone", "Europe/Berln"},
        {"{\"cron\":\"@daily\",\"timezone\":\"../etc/passwd\",\"batch\":{\"urls\":[\"https://"
         "a\"]}}",
         422, "timezone", "timezone:"},
        {"{\"cron\":\"@daily\"}", 422, "batch", "required"},
        {"{\"cron\":\"@daily\",\"batch\":{\"urls\":[\"ftp://a\"]}}", 422, "batch.urls[0]",
         "batch.urls[0]"},
        {"{\"cron\":\"@daily\",\"batch\":{\"urls\":[\"https://a\"],\"formats\":[\"pdf\"]}}", 422,
         "batch.formats[0]", "unknown format"},
        {"{\"cron\":\"@daily\",\"batch\":[]}", 422, "batch", "object"},
        {"{\"cron\":\"@daily\",\"batch\":{\"urls\":[\"https://a\"]},\"crawl\":{}}", 422, "crawl",
         "not both"},
        {"{\"cron\":\"@daily\",\"batch\":{\"urls\":[\"https://a\"]},\"catch_up\":\"all\"}", 422,
         "catch_up", "one"},
        {"{\"cron\":\"@daily\",\"batch\":{\"urls\":[\"https://a\"]},\"paused\":1}", 422, "paused",
         "true or false"},
        {"{\"cron\":\"@daily\",\"batch\":{\"urls\":[\"https://a\"]},\"every\":1}", 422, "every",
         "unknown field"},
        {"{\"cron\":\"@daily\",\"batch\":{\"urls\":[\"https://a\"],\"webhook_url\":\"http://h/\","
         "\"webhook_events\":[\"batch.done\"]}}",
         422, "batch.webhook_events[0]", "schedule.run"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sched s;
        struct submission_err err;
        char *shown;
        struct sched_env e = env(&sb);
        int rc = sched_create(&s, cases[i].body, strlen(cases[i].body), "acme", &e, &shown, &err);
        if (rc == 0 || err.status != cases[i].status || strcmp(err.field, cases[i].field) != 0 ||
            !strstr(err.message, cases[i].in_message))
            fail_msg("case %zu: rc %d status %d field '%s' message '%s'", i, rc, err.status,
                     err.field, err.message);
        assert_null(shown);
        sched_release(&s);
    }
    /* A plain submit may not ask for schedule.run. */
    struct submission b;
    struct submission_err err;
    const char *body = "{\"urls\":[\"https://a\"],\"webhook_url\":\"http://h/\","
                       "\"webhook_events\":[\"schedule.run\"]}";
    assert_int_equal(submission_parse(&b, body, strlen(body), 0, "acme", &lim, &err), -1);
    assert_string_equal(err.field, "webhook_events[0]");
    submission_release(&b);
}

static void test_created_sealed_and_read_back(void **state)
{
    (void)state;
    struct sched s, r;
    struct submission_err err;
    char *shown = NULL, why[128];
    struct sched_env e = env(&sb);
    const char *body = "{\"name\":\"prices\",\"cron\":\"*/15 9-17 * * MON-FRI\","
                       "\"timezone\":\"Europe/Berlin\",\"track_changes\":true,"
                       "\"batch\":{\"urls\":[\"HTTPS://example.com/a\"],\"formats\":[\"text\"],"
                       "\"webhook_url\":\"http://hooks.example/h\"}}";
    if (sched_create(&s, body, strlen(body), "acme", &e, &shown, &err))
        fail_msg("%s", err.message);
    assert_true(ids_valid("sch", s.id));
    assert_non_null(shown);
    assert_true(strncmp(shown, "whsec_", 6) == 0);
    assert_non_null(s.secret_enc);
    assert_int_equal(s.since_ms, NOW);
    assert_int_equal(s.track_changes, 1);
    assert_int_equal(s.catch_up, AGENDA_CATCH_UP_ONE);
    /* The template as runs submit it: normalized, events defaulted to the
     * run's end, no secret. */
    assert_string_equal(json_string_value(json_array_get(json_object_get(s.template, "urls"), 0)),
                        "https://example.com/a");
    json_t *events = json_object_get(s.template, "webhook_events");
    assert_int_equal(json_array_size(events), 1);
    assert_string_equal(json_string_value(json_array_get(events, 0)), "schedule.run");
    assert_null(json_object_get(s.template, "webhook_secret"));
    /* Sealed to the schedule: it opens with its id and no other. */
    size_t len;
    char *plain = secretbox_open(&sb, s.secret_enc, s.id, &len);
    assert_non_null(plain);
    assert_string_equal(plain, shown);
    free(plain);
    assert_null(secretbox_open(&sb, s.secret_enc, "sch_01M816TZ7MSG7GBE1TYYCV6RYA", &len));

    char *rec = sched_record(&s);
    assert_null(strstr(rec, shown));
    if (sched_load(&r, s.id, rec, strlen(rec), why, sizeof(why)))
        fail_msg("load: %s", why);
    assert_string_equal(r.tenant, "acme");
    assert_string_equal(r.name, "prices");
    assert_string_equal(r.cron_text, s.cron_text);
    assert_ptr_equal(r.tz, s.tz);
    assert_true(json_equal(r.template, s.template));
    assert_string_equal(r.secret_enc, s.secret_enc);
    assert_int_equal(r.since_ms, s.since_ms);
    assert_int_equal(r.created_ms, NOW);
    /* sched_load starts from an empty struct: release the first load. */
    sched_release(&r);
    assert_int_equal(
        sched_load(&r, "sch_01M816TZ7MSG7GBE1TYYCV6RYA", rec, strlen(rec), why, sizeof(why)), -1);
    sched_release(&r);
    /* The version leads; version 1 named it "v" and is still read; a later
     * one is not guessed at. */
    const char *lead = "{\"schema_version\":2,";
    assert_memory_equal(rec, lead, strlen(lead));
    char *old = malloc(strlen(rec) + 1);
    snprintf(old, strlen(rec) + 1, "{\"v\":1,%s", rec + strlen(lead));
    if (sched_load(&r, s.id, old, strlen(old), why, sizeof(why)))
        fail_msg("load version 1: %s", why);
    assert_string_equal(r.name, "prices");
    sched_release(&r);
    snprintf(old, strlen(rec) + 1, "{\"schema_version\":3,%s", rec + strlen(lead));
    assert_int_equal(sched_load(&r, s.id, old, strlen(old), why, sizeof(why)), -1);
    assert_non_null(strstr(why, "schema_version 3"));
    sched_release(&r);
    free(old);

    /* The document: no secret, no tenant; next_run_at given. */
    json_t *doc = sched_doc(&s, NOW + 60000);
    char *text = jx_dump(doc, NULL);
    assert_null(strstr(text, "acme"));
    assert_null(strstr(text, "secret"));
    assert_string_equal(jx_str(doc, "next_run_at", ""), "2026-11-05T08:01:30.000Z");
    assert_non_null(json_object_get(doc, "batch"));
    free(text);
    json_decref(doc);
    free(rec);
    free(shown);
    sched_release(&s);

    /* With a secret of its own: kept sealed, nothing shown. */
    body = "{\"cron\":\"@hourly\",\"batch\":{\"urls\":[\"https://a\"],\"webhook_url\":"
           "\"https://h.example/\",\"webhook_secret\":\"0123456789abcdef0\"}}";
    assert_int_equal(sched_create(&s, body, strlen(body), "acme", &e, &shown, &err), 0);
    assert_null(shown);
    plain = secretbox_open(&sb, s.secret_enc, s.id, &len);
    assert_string_equal(plain, "0123456789abcdef0");
    free(plain);
    sched_release(&s);

    /* No FERRY_SECRET_KEY: a webhook cannot be kept (503). */
    struct sched_env bare = env(NULL);
    assert_int_equal(sched_create(&s, body, strlen(body), "acme", &bare, &shown, &err), -1);
    assert_int_equal(err.status, 503);
    sched_release(&s);
}

static void test_patch(void **state)
{
    (void)state;
    struct sched s, p;
    struct submission_err err;
    char *shown;
    struct sched_env e = env(&sb);
    const char *body =
        "{\"cron\":\"0 8 * * *\",\"paused\":true,\"batch\":{\"urls\":[\"https://a\"],"
        "\"webhook_url\":\"http://h/\"}}";
    assert_int_equal(sched_create(&s, body, strlen(body), "acme", &e, &shown, &err), 0);
    free(shown);
    e.now_ms = NOW + 1000;
    /* Name only: since stays. */
    const char *patch = "{\"name\":\"x\",\"catch_up\":\"none\"}";
    assert_int_equal(sched_patch(&p, &s, patch, strlen(patch), &e, &shown, &err), 0);
    assert_int_equal(p.since_ms, NOW);
    assert_int_equal(p.updated_ms, NOW + 1000);
    assert_int_equal(p.catch_up, AGENDA_CATCH_UP_NONE);
    assert_string_equal(p.cron_text, "0 8 * * *");
    sched_release(&p);
    /* Resumed: since moves. */
    patch = "{\"paused\":false}";
    assert_int_equal(sched_patch(&p, &s, patch, strlen(patch), &e, &shown, &err), 0);
    assert_int_equal(p.since_ms, NOW + 1000);
    sched_release(&p);
    /* Same cron again: nothing moves; another cron: since moves. */
    patch = "{\"cron\":\"0 8 * * *\"}";
    assert_int_equal(sched_patch(&p, &s, patch, strlen(patch), &e, &shown, &err), 0);
    assert_int_equal(p.since_ms, NOW);
    sched_release(&p);
    patch = "{\"timezone\":\"America/New_York\"}";
    assert_int_equal(sched_patch(&p, &s, patch, strlen(patch), &e, &shown, &err), 0);
    assert_int_equal(p.since_ms, NOW + 1000);
    sched_release(&p);
    /* A new template without a secret keeps the sealed one. */
    patch = "{\"batch\":{\"urls\":[\"https://b\"],\"webhook_url\":\"http://h2/\"}}";
    assert_int_equal(sched_patch(&p, &s, patch, strlen(patch), &e, &shown, &err), 0);
    assert_null(shown);
    assert_string_equal(p.secret_enc, s.secret_enc);
    sched_release(&p);
    /* Refused: the old definition is untouched. */
    patch = "{\"cron\":\"61 * * * *\"}";
    assert_int_equal(sched_patch(&p, &s, patch, strlen(patch), &e, &shown, &err), -1);
    assert_string_equal(err.field, "cron");
    assert_string_equal(s.cron_text, "0 8 * * *");
    sched_release(&p);
    sched_release(&s);
}

static void test_next_run(void **state)
{
    (void)state;
    struct sched s;
    struct submission_err err;
    char *shown;
    struct sched_env e = env(&sb);
    const struct agenda_clock minute = {60000, 300000};
    const char *body = "{\"cron\":\"0 9 * * *\",\"timezone\":\"Europe/Berlin\","
                       "\"batch\":{\"urls\":[\"https://a\"]}}";
    assert_int_equal(sched_create(&s, body, strlen(body), "acme", &e, &shown, &err), 0);
    /* 08:00:30Z is 09:00:30 in Berlin (CET): the next 09:00 is tomorrow. */
    assert_int_equal(sched_next_run(&s, &minute, 0, NOW), 1793865630000LL - 30000 + 86400000);
    /* Missed long ago with catch_up one: runs now. */
    s.since_ms = NOW - 3 * 86400000LL;
    assert_int_equal(sched_next_run(&s, &minute, 0, NOW), NOW);
    s.catch_up = AGENDA_CATCH_UP_NONE;
    assert_int_equal(sched_next_run(&s, &minute, 0, NOW), NOW - 30000); /* late, not missed */
    s.paused = 1;
    assert_true(sched_next_run(&s, &minute, 0, NOW) == AGENDA_NONE);
    sched_release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals_name_the_field),
        cmocka_unit_test(test_created_sealed_and_read_back),
        cmocka_unit_test(test_patch),
        cmocka_unit_test(test_next_run),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
