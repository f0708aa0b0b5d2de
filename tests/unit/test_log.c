/* log: line format, level gating (arguments not even evaluated below the
 * threshold), quoting of network-fed values, whole lines under threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <regex.h>

#include "log.h"

static char *captured;
static size_t captured_len;
static FILE *capture_fp;

static int capture_start(void **state)
{
    (void)state;
    capture_fp = open_memstream(&captured, &captured_len);
    log_set_stream(capture_fp);
    return 0;
}

static int capture_stop(void **state)
{
    (void)state;
    log_set_stream(NULL);
    fclose(capture_fp);
    free(captured);
    captured = NULL;
    return 0;
}

static const char *capture_text(void)
{
    fflush(capture_fp);
    return captured;
}

static void test_line_format(void **state)
{
    (void)state;
    log_init("ingest", LOG_INFO);
    LOG_INFO("listening", "addr=%s port=%d", "127.0.0.1", 8080);
    regex_t rx;
    assert_int_equal(regcomp(&rx,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                             "level=info stage=ingest event=listening addr=127.0.0.1 port=8080\n$",
                             REG_EXTENDED),
                     0);
    if (regexec(&rx, capture_text(), 0, NULL, 0) != 0)
        fail_msg("unexpected line: %s", capture_text());
    regfree(&rx);
}

static int evaluated;
static int side_effect(void)
{
    return ++evaluated;
}

static void test_level_gating(void **state)
{
    (void)state;
    log_init("scrape", LOG_WARN);
    evaluated = 0;
    LOG_DEBUG("noise", "n=%d", side_effect());
    LOG_INFO("noise", "n=%d", side_effect());
    assert_int_equal(evaluated, 0); /* gated before formatting */
    assert_int_equal(strlen(capture_text()), 0);
    LOG_WARN("slow", "ms=%d", 31000);
    LOG_ERROR("failed", "");
    assert_non_null(strstr(capture_text(), "level=warn stage=scrape event=slow ms=31000\n"));
    assert_non_null(strstr(capture_text(), "level=error stage=scrape event=failed\n"));
}

static void test_level_names(void **state)
{
    enum log_level l;
    (void)state;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_DEBUG);
    assert_int_equal(log_level_parse("error", &l), 0);
    assert_int_equal(l, LOG_ERROR);
    assert_int_equal(log_level_parse("verbose", &l), -1);
}

static void test_quote(void **state)
{
    char buf[64];
    (void)state;
    assert_string_equal(log_quote(buf, sizeof(buf), "plain-token_1.2"), "plain-token_1.2");
    assert_string_equal(log_quote(buf, sizeof(buf), "two words"), "\"two words\"");
    assert_string_equal(log_quote(buf, sizeof(buf), "a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    assert_string_equal(log_quote(buf, sizeof(buf), "k=v"), "\"k=v\"");
    assert_string_equal(log_quote(buf, sizeof(buf), ""), "\"\"");
    assert_string_equal(log_quote(buf, sizeof(buf), "\x01"), "\"\\x01\"");
    char small[16];
    log_quote(small, sizeof(small), "a very long value with spaces");
    assert_true(strlen(small) < sizeof(small));
    assert_non_null(strstr(small, "..."));
}

static void *writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 500; i++)
        LOG_INFO("tick", "i=%d pad=%s", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    return NULL;
}

static void test_threads_write_whole_lines(void **state)
{
    pthread_t t[4];
    (void)state;
    log_init("aggregate", LOG_INFO);
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, writer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    int lines = 0;
    for (const char *p = capture_text(), *nl; (nl = strchr(p, '\n')); p = nl + 1, lines++) {
        /* every line is exactly one whole event */
        assert_memory_equal(nl - 44, "pad=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 44);
    }
    assert_int_equal(lines, 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_format, capture_start, capture_stop),
        cmocka_unit_test_setup_teardown(test_level_gating, capture_start, capture_stop),
        cmocka_unit_test(test_level_names),
        cmocka_unit_test(test_quote),
        cmocka_unit_test_setup_teardown(test_threads_write_whole_lines, capture_start,
                                        capture_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
