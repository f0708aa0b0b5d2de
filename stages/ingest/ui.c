/* The dashboard's static files (see ui.h). */
#include "ui.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ids.h"

/* The types of what the dashboard is made of; anything else stays unserved. */
static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
};

const char *ui_content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return NULL;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

int ui_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '.')
        return 0;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* The default folder: stages/ingest/ui/ beside the folder holding this executable (the
 * repository's, for build/ferry-ingest). */
static int default_dir(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return snprintf(out, size, "%s/../stages/ingest/ui", exe) < (int)size ? 0 : -1;
}

/* Reads one regular file of at most UI_MAX_BYTES into f. 0, 1 (skipped: not
 * a regular file), -1 with errstr. */
static int read_file(int dirfd, const char *name, struct ui_file *f, char *errstr,
                     size_t errstr_size)
{
    int rc = -1;
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat sb;
    if (fd < 0) {
        if (errno == ELOOP) /* a symlink: never followed out of the folder */
            return 1;
        snprintf(errstr, errstr_size, "%s: %s", name, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        rc = 1;
        goto out;
    }
    if ((size_t)sb.st_size > UI_MAX_BYTES) {
        snprintf(errstr, errstr_size, "%s: larger than %u bytes", name, UI_MAX_BYTES);
        goto out;
    }
    f->len = (size_t)sb.st_size;
    f->data = malloc(f->len + 1);
    f->name = strdup(name);
    if (!f->data || !f->name) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    size_t got = 0;
    while (got < f->len) {
        ssize_t r = read(fd, f->data + got, f->len - got);
        if (r <= 0) {
            snprintf(errstr, errstr_size, "%s: %s", name, r ? strerror(errno) : "truncated");
            goto out;
        }
        got += (size_t)r;
    }
    snprintf(f->etag, sizeof(f->etag), "\"%016llx\"",
             (unsigned long long)ids_hash(f->data, f->len));
    rc = 0;
out:
    close(fd);
    return rc;
}

struct ui *ui_load(const char *dir, char *why, size_t why_size, char *errstr, size_t errstr_size)
{
    char path[PATH_MAX];
    struct ui *u = calloc(1, sizeof(*u));
    DIR *d = NULL;
    why[0] = '\0';
    if (!u) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (dir && *dir)
        snprintf(path, sizeof(path), "%s", dir);
    else if (default_dir(path, sizeof(path))) {
        snprintf(why, why_size, "cannot locate the executable's folder");
        return u;
    }
    u->dir = strdup(path);
    u->files = calloc(UI_MAX_FILES, sizeof(*u->files));
    if (!u->dir || !u->files) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (!(d = opendir(path))) {
        snprintf(why, why_size, "%s: %s", path, strerror(errno));
        return u;
    }
    for (struct dirent *e; (e = readdir(d));) {
        if (!ui_name_ok(e->d_name) || !ui_content_type(e->d_name))
            continue;
        if (u->n == UI_MAX_FILES) {
            snprintf(errstr, errstr_size, "%s: more than %d files", path, UI_MAX_FILES);
            goto fail;
        }
        struct ui_file *f = &u->files[u->n];
        int r = read_file(dirfd(d), e->d_name, f, errstr, errstr_size);
        if (r < 0) {
            free(f->data);
            free(f->name);
            goto fail;
        }
        if (r == 0) {
            f->content_type = ui_content_type(f->name);
            u->n++;
        }
    }
    closedir(d);
    if (!ui_find(u, "index.html"))
        snprintf(why, why_size, "%s has no index.html", path);
    return u;
fail:
    if (d)
        closedir(d);
    ui_free(u);
    return NULL;
}

const struct ui_file *ui_find(const struct ui *u, const char *name)
{
    for (size_t i = 0; u && i < u->n; i++)
        if (strcmp(u->files[i].name, name) == 0)
            return &u->files[i];
    return NULL;
}

void ui_free(struct ui *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n; i++) {
        free(u->files[i].name);
        free(u->files[i].data);
    }
    free(u->files);
    free(u->dir);
    free(u);
}
