/*
 * testfile — reading a fixture file whole, and writing one into a test's
 * temporary folder, for unit tests.
 */
#ifndef FERRY_TESTFILE_H
#define FERRY_TESTFILE_H

#include <stddef.h>

/* The file's bytes, NUL-terminated (malloc'd; *len without the NUL); the
 * test fails when it cannot be read. */
char *testfile_read(const char *path, size_t *len);

/* Writes `text` as dir/name; the test fails when it cannot. */
void testfile_write(const char *dir, const char *name, const char *text);

#endif
