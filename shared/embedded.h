/*
 * embedded — files compiled into the binaries: the built-in profiles and
 * the technology rules (the JSON files in shared/profiles/), so a deployed binary
 * carries them and every stage reads the same bytes.
 *
 * The table is generated at build time (shared/profiles/embed.sh writes
 * build/gen/embedded.c). Each file's data is NUL-terminated (len excludes
 * the NUL) and lives as long as the program.
 */
#ifndef FERRY_EMBEDDED_H
#define FERRY_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
    const char *name; /* the file name, e.g. "amazon.product.json" */
    const char *data;
    size_t len;
};

extern const struct embedded_file embedded_files[];
extern const size_t embedded_count;

/* The embedded file of that name, or NULL. */
const struct embedded_file *embedded_find(const char *name);

#endif
