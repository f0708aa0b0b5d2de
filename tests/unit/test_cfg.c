/* cfg: defaults, environment values, malformed values named with their
 * variable, ranges, durations and sizes, -X pass-through, --help. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cfg.h"

static const struct cfg_opt test_opts[] = {
    {"FERRY_T_INT", CFG_INT, "42", "an int", 1, 100, NULL},
    {"FERRY_T_BOOL", CFG_BOOL, "0", "a bool", 0, 0, NULL},
    {"FERRY_T_DUR", CFG_DURATION, "30s", "a duration", 0, 0, NULL},
    {"FERRY_T_SIZE", CFG_SIZE, "10M", "a size", 0, 0, NULL},
    {"FERRY_T_STR", CFG_STRING, NULL, "unset by default", 0, 0, NULL},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

extern char **environ;

/* Every test starts from an environment without FERRY_* variables (the test
 * runner exports some, e.g. FERRY_KAFKA_BROKERS). */
static int clear_env(void **state)
{
    (void)state;
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "FERRY_", 6) == 0) {
                char name[128];
                size_t len = strcspn(*e, "=");
                snprintf(name, sizeof(name), "%.*s", (int)len, *e);
                unsetenv(name);
                again = 1; /* environ changed under us: rescan */
                break;
            }
        }
    }
    return 0;
}

static int parse(struct cfg *cfg, int argc, char **argv, char *err, size_t err_size)
{
    cfg_init(cfg, "ferry-test", "test");
    cfg_add(cfg, cfg_common);
    cfg_add(cfg, test_opts);
    return cfg_parse(cfg, argc, argv, err, err_size);
}

static void test_defaults(void **state)
{
    struct cfg cfg;
    char err[256];
    char *argv[] = {"t"};
    (void)state;
    assert_int_equal(parse(&cfg, 1, argv, err, sizeof(err)), 0);
    assert_int_equal(cfg_int(&cfg, "FERRY_T_INT"), 42);
    assert_false(cfg_bool(&cfg, "FERRY_T_BOOL"));
    assert_int_equal(cfg_int(&cfg, "FERRY_T_DUR"), 30000);
    assert_int_equal(cfg_int(&cfg, "FERRY_T_SIZE"), 10 << 20);
    assert_null(cfg_str(&cfg, "FERRY_T_STR"));
    assert_string_equal(cfg_str(&cfg, "FERRY_KAFKA_BROKERS"), "localhost:9092");
    assert_string_equal(cfg_str(&cfg, "FERRY_TOPIC_PREFIX"), "ferry.");
    const long long *tiers;
    assert_int_equal(cfg_durations(&cfg, "FERRY_WEBHOOK_RETRY_TIERS", &tiers), 5);
    assert_int_equal(tiers[0], 60000);
    assert_int_equal(tiers[4], 24LL * 3600000);
}

static void test_environment_values(void **state)
{
    struct cfg cfg;
    char err[256];
    char *argv[] = {"t"};
    (void)state;
    setenv("FERRY_T_INT", "7", 1);
    setenv("FERRY_T_BOOL", "yes", 1);
    setenv("FERRY_T_DUR", "250ms", 1);
    setenv("FERRY_T_SIZE", "64k", 1);
    setenv("FERRY_T_STR", "hello", 1);
    setenv("FERRY_WEBHOOK_RETRY_TIERS", "1s,2s,90s", 1);
    assert_int_equal(parse(&cfg, 1, argv, err, sizeof(err)), 0);
    assert_int_equal(cfg_int(&cfg, "FERRY_T_INT"), 7);
    assert_true(cfg_bool(&cfg, "FERRY_T_BOOL"));
    assert_int_equal(cfg_int(&cfg, "FERRY_T_DUR"), 250);
    assert_int_equal(cfg_int(&cfg, "FERRY_T_SIZE"), 65536);
    assert_string_equal(cfg_str(&cfg, "FERRY_T_STR"), "hello");
    const long long *tiers;
    assert_int_equal(cfg_durations(&cfg, "FERRY_WEBHOOK_RETRY_TIERS", &tiers), 3);
    assert_int_equal(tiers[2], 90000);
}

/* Each malformed value fails with "NAME=value: reason". */
static void test_malformed_values_are_named(void **state)
{
    static const struct {
        const char *var, *value, *expect;
    } cases[] = {
        {"FERRY_T_INT", "abc", "FERRY_T_INT=abc: not a whole number"},
        {"FERRY_T_INT", "12x", "FERRY_T_INT=12x: not a whole number"},
        {"FERRY_T_INT", "", "FERRY_T_INT=: not a whole number"},
        {"FERRY_T_INT", "101", "FERRY_T_INT=101: out of range 1..100"},
        {"FERRY_T_INT", "0", "FERRY_T_INT=0: out of range 1..100"},
        {"FERRY_T_BOOL", "maybe", "FERRY_T_BOOL=maybe: not a boolean"},
        {"FERRY_T_DUR", "5 minutes", "FERRY_T_DUR=5 minutes: not a duration"},
        {"FERRY_T_DUR", "-1s", "FERRY_T_DUR=-1s: not a duration"},
        {"FERRY_T_SIZE", "10X", "FERRY_T_SIZE=10X: not a size"},
        {"FERRY_LOG_LEVEL", "loud", "FERRY_LOG_LEVEL=loud: not one of"},
        {"FERRY_TOPIC_PREFIX", "a b", "FERRY_TOPIC_PREFIX=a b: only letters"},
        {"FERRY_WEBHOOK_RETRY_TIERS", "1m,,5m", "FERRY_WEBHOOK_RETRY_TIERS=1m,,5m: empty"},
        {"FERRY_WEBHOOK_RETRY_TIERS", "1m,soon", "'soon' is not a duration"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cfg cfg;
        char err[256] = "";
        char *argv[] = {"t"};
        clear_env(NULL);
        setenv(cases[i].var, cases[i].value, 1);
        assert_int_equal(parse(&cfg, 1, argv, err, sizeof(err)), -1);
        if (!strstr(err, cases[i].expect))
            fail_msg("case %zu: '%s' does not contain '%s'", i, err, cases[i].expect);
    }
}

static void test_kafka_properties_pass_through(void **state)
{
    struct cfg cfg;
    char err[256];
    char *argv[] = {"t",
                    "-X",
                    "security.protocol=SASL_SSL",
                    "-Xsasl.mechanisms=PLAIN",
                    "-X",
                    "sasl.password=a=b"};
    (void)state;
    assert_int_equal(parse(&cfg, 6, argv, err, sizeof(err)), 0);
    assert_int_equal(cfg.n_props, 3);
    assert_string_equal(cfg.props[0][0], "security.protocol");
    assert_string_equal(cfg.props[0][1], "SASL_SSL");
    assert_string_equal(cfg.props[1][0], "sasl.mechanisms");
    assert_string_equal(cfg.props[2][0], "sasl.password");
    assert_string_equal(cfg.props[2][1], "a=b"); /* only the first '=' splits */
}

static void test_bad_arguments(void **state)
{
    struct cfg cfg;
    char err[256];
    char *a1[] = {"t", "--frobnicate"};
    char *a2[] = {"t", "-X"};
    char *a3[] = {"t", "-X", "novalue"};
    (void)state;
    assert_int_equal(parse(&cfg, 2, a1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--frobnicate"));
    assert_int_equal(parse(&cfg, 2, a2, err, sizeof(err)), -1);
    assert_int_equal(parse(&cfg, 3, a3, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "name=value"));
}

static void test_help_lists_every_setting(void **state)
{
    struct cfg cfg;
    char *buf = NULL;
    size_t len = 0;
    (void)state;
    cfg_init(&cfg, "ferry-test", "A test stage.");
    cfg_add(&cfg, cfg_common);
    cfg_add(&cfg, test_opts);
    FILE *fp = open_memstream(&buf, &len);
    cfg_usage(&cfg, fp);
    fclose(fp);
    assert_non_null(strstr(buf, "A test stage."));
    for (size_t i = 0; i < cfg.n_values; i++)
        assert_non_null(strstr(buf, cfg.values[i].opt->env));
    assert_non_null(strstr(buf, "default: 42"));
    free(buf);
}

static void test_duration_format(void **state)
{
    static const struct {
        long long ms;
        const char *text;
    } cases[] = {{60000, "1m"}, {300000, "5m"}, {7200000, "2h"}, {86400000, "24h"},
                 {1000, "1s"},  {90000, "90s"}, {250, "250ms"}};
    char buf[32];
    long long back;
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cfg_format_duration(cases[i].ms, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].text);
        assert_int_equal(cfg_parse_duration(buf, &back), 0);
        assert_int_equal(back, cases[i].ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_environment_values, clear_env),
        cmocka_unit_test_setup(test_malformed_values_are_named, clear_env),
        cmocka_unit_test_setup(test_kafka_properties_pass_through, clear_env),
        cmocka_unit_test_setup(test_bad_arguments, clear_env),
        cmocka_unit_test_setup(test_help_lists_every_setting, clear_env),
        cmocka_unit_test(test_duration_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
