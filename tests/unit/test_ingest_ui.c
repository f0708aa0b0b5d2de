/* The dashboard's files (stages/ingest/ui.c): which names may be served,
 * their types, what a folder load keeps (named regular files of a known
 * type; never a symlink, a hidden file or a subfolder), and a missing
 * folder reported rather than fatal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testfile.h"

#include "ui.h"

static void test_names(void **state)
{
    (void)state;
    assert_true(ui_name_ok("app.js"));
    assert_true(ui_name_ok("index.html"));
    assert_false(ui_name_ok(""));
    assert_false(ui_name_ok(".."));
    assert_false(ui_name_ok(".env"));
    assert_false(ui_name_ok("../Makefile"));
    assert_false(ui_name_ok("a/b.js"));
    assert_false(ui_name_ok("a b.js"));
    assert_false(ui_name_ok("a%2Fb.js"));
    assert_string_equal(ui_content_type("x.js"), "text/javascript; charset=utf-8");
    assert_string_equal(ui_content_type("x.css"), "text/css; charset=utf-8");
    assert_string_equal(ui_content_type("index.html"), "text/html; charset=utf-8");
    assert_null(ui_content_type("x.bin"));
    assert_null(ui_content_type("Makefile"));
}

static void test_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/ferry-ui-XXXXXX", sub[600], link[600], why[256], errstr[256];
    assert_non_null(mkdtemp(dir));
    testfile_write(dir, "index.html", "<!doctype html>");
    testfile_write(dir, "app.js", "export {};");
    testfile_write(dir, ".hidden.js", "secret");
    testfile_write(dir, "notes.bin", "x");
    snprintf(sub, sizeof(sub), "%s/sub.js", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(link, sizeof(link), "%s/passwd.txt", dir);
    assert_int_equal(symlink("/etc/passwd", link), 0);

    struct ui *u = ui_load(dir, why, sizeof(why), errstr, sizeof(errstr));
    assert_non_null(u);
    assert_string_equal(why, "");
    assert_int_equal(u->n, 2);
    const struct ui_file *f = ui_find(u, "app.js");
    assert_non_null(f);
    assert_int_equal(f->len, 10);
    assert_memory_equal(f->data, "export {};", 10);
    assert_string_equal(f->content_type, "text/javascript; charset=utf-8");
    assert_int_equal(strlen(f->etag), 18);
    assert_string_not_equal(f->etag, ui_find(u, "index.html")->etag);
    assert_null(ui_find(u, ".hidden.js"));
    assert_null(ui_find(u, "passwd.txt"));
    assert_null(ui_find(u, "sub.js"));
    assert_null(ui_find(u, "notes.bin"));
    ui_free(u);

    /* A missing folder: a ui with no files, and the reason. */
    u = ui_load("/nonexistent/ferry-ui", why, sizeof(why), errstr, sizeof(errstr));
    assert_non_null(u);
    assert_int_equal(u->n, 0);
    assert_non_null(strstr(why, "/nonexistent/ferry-ui"));
    ui_free(u);

    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
