/* shared/tenant.c: the settings record read and written back, the table
 * readers keep (copies, tombstones, bad records leave it as it was), and the
 * secrets that sign at a given time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jx.h"
#include "tenant.h"

static const char full[] =
    "{\"schema_version\":1,\"tenant\":\"acme\",\"updated_at\":\"2026-11-22T10:00:00.000Z\","
    "\"webhook\":{\"url\":\"https://hooks.example/f\",\"events\":[\"batch.completed\"]},"
    "\"secret\":{\"enc\":\"v1.cur\",\"created_at\":\"2026-11-22T09:00:00.000Z\"},"
    "\"previous_secret\":{\"enc\":\"v1.prev\",\"valid_until\":\"2026-11-23T09:00:00.000Z\"}}";

static void test_record_round_trip(void **state)
{
    (void)state;
    struct tenant_settings s, c;
    char errstr[200];
    assert_int_equal(tenant_settings_parse(&s, full, strlen(full), errstr, sizeof(errstr)), 0);
    assert_string_equal(s.url, "https://hooks.example/f");
    assert_int_equal(json_array_size(s.events), 1);
    assert_string_equal(s.secret_enc, "v1.cur");
    assert_string_equal(s.previous_enc, "v1.prev");
    assert_int_equal(s.previous_until_ms - s.secret_created_ms, 86400000);
    size_t len;
    char *again = tenant_settings_json("acme", &s, &len);
    assert_string_equal(again, full); /* written back byte for byte */
    free(again);
    assert_int_equal(tenant_settings_copy(&c, &s), 0);
    tenant_settings_release(&s);
    assert_string_equal(c.secret_enc, "v1.cur"); /* the copy owns its strings */
    tenant_settings_release(&c);

    static const char empty[] =
        "{\"schema_version\":1,\"tenant\":\"acme\",\"updated_at\":null,\"webhook\":null,"
        "\"secret\":null,\"previous_secret\":null}";
    /* Records written before the version was: version 1, read as they are. */
    static const char unversioned[] = "{\"tenant\":\"acme\",\"updated_at\":null,\"webhook\":null,"
                                      "\"secret\":null,\"previous_secret\":null}";
    assert_int_equal(
        tenant_settings_parse(&s, unversioned, strlen(unversioned), errstr, sizeof(errstr)), 0);
    assert_null(s.url);
    assert_null(s.secret_enc);
    again = tenant_settings_json("acme", &s, &len);
    assert_string_equal(again, empty);
    free(again);
    tenant_settings_release(&s);

    static const char *const bad[] = {
        "[]",
        "{\"webhook\":{\"url\":\"https://h\"}}",
        "{\"webhook\":3}",
        "{\"secret\":{\"created_at\":\"2026-11-22T09:00:00Z\"}}",
        "{\"previous_secret\":{\"enc\":\"v1.x\",\"valid_until\":\"tomorrow\"}}",
        "{\"updated_at\":5}",
        "{\"schema_version\":2,\"tenant\":\"acme\",\"updated_at\":null}", /* unknown */
        "{\"tenant\":"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(tenant_settings_parse(&s, bad[i], strlen(bad[i]), errstr, sizeof(errstr)),
                         -1);
        tenant_settings_release(&s);
    }
}

static void test_table(void **state)
{
    (void)state;
    struct tenant_table *t = tenant_table_new();
    struct tenant_settings s;
    char cur[TENANT_SEALED_MAX], prev[TENANT_SEALED_MAX], aad[TENANT_AAD_MAX];
    int64_t during = 1795338000000LL, after = 1795424400001LL;

    assert_int_equal(tenant_table_get(t, "acme", &s), -1);
    assert_int_equal(tenant_table_secrets(t, "acme", during, cur, prev), 0);
    assert_int_equal(tenant_table_apply(t, "acme", full, strlen(full)), 0);
    assert_int_equal(tenant_table_count(t), 1);
    assert_int_equal(tenant_table_secrets(t, "acme", during, cur, prev), 2);
    assert_string_equal(cur, "v1.cur");
    assert_string_equal(prev, "v1.prev");
    assert_int_equal(tenant_table_secrets(t, "acme", after, cur, prev), 1);
    assert_int_equal(tenant_table_secrets(t, "globex", during, cur, prev), 0);
    assert_int_equal(tenant_table_get(t, "acme", &s), 0);
    assert_string_equal(s.url, "https://hooks.example/f");
    tenant_settings_release(&s);

    /* A bad record leaves the settings as they were. */
    assert_int_equal(tenant_table_apply(t, "acme", "{\"webhook\":7}", 13), -1);
    assert_int_equal(tenant_table_secrets(t, "acme", during, cur, prev), 2);
    /* A tombstone forgets the tenant. */
    assert_int_equal(tenant_table_apply(t, "acme", NULL, 0), 0);
    assert_int_equal(tenant_table_count(t), 0);
    assert_int_equal(tenant_table_secrets(t, "acme", during, cur, prev), 0);
    tenant_table_free(t);

    tenant_secret_aad("acme", aad);
    assert_string_equal(aad, "tenant:acme");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
