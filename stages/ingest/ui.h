/*
 * ui — the dashboard's static files (the repository's ui/ folder), read
 * once at start and served from memory by api_ui.c.
 *
 * Only the folder's own regular files whose names are [A-Za-z0-9._-]+ (no
 * leading dot) and whose extension has a known type are loaded: a request
 * names one of those or gets 404, so no path can leave the folder (there is
 * no path to resolve, only a name to look up). Each file keeps its content
 * type and an ETag (a hash of its bytes), computed once.
 */
#ifndef INGEST_UI_H
#define INGEST_UI_H

#include <stddef.h>

struct ui_file {
    char *name;               /* "app.js" */
    const char *content_type; /* static string */
    char *data;               /* owned */
    size_t len;
    char etag[24]; /* "\"<16 hex>\"" */
};

struct ui {
    char *dir; /* owned; the folder read */
    struct ui_file *files;
    size_t n;
};

#define UI_MAX_FILES 64
#define UI_MAX_BYTES (4u << 20) /* per file */

/* The content type served for a file name, or NULL when its extension is
 * not one the dashboard uses (then it is not served). */
const char *ui_content_type(const char *name);

/* 1 when name may be served: [A-Za-z0-9._-]{1,64}, not starting with '.'. */
int ui_name_ok(const char *name);

/* Reads the folder `dir` (NULL or "": the ui/ folder beside the build
 * folder of this executable, i.e. <repo>/build/../ui). Returns a ui (possibly
 * with no files, when the folder is missing: `why` then says so), or NULL
 * with errstr on a read error or out of memory. */
struct ui *ui_load(const char *dir, char *why, size_t why_size, char *errstr, size_t errstr_size);

/* The file of that name, or NULL. */
const struct ui_file *ui_find(const struct ui *u, const char *name);

void ui_free(struct ui *u);

#endif
