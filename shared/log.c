#include "log.h"

#include <string.h>
#include <sys/time.h>
#include <time.h>

enum log_level log_threshold = LOG_INFO;

static const char *log_stage = "ferry";
static FILE *log_stream;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void log_init(const char *stage, enum log_level threshold)
{
    log_stage = stage;
    log_threshold = threshold;
}

void log_set_stream(FILE *fp)
{
    log_stream = fp;
}

int log_level_parse(const char *name, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(enum log_level level)
{
    return level <= LOG_OFF ? level_names[level] : "?";
}

const char *log_quote(char *buf, size_t size, const char *s)
{
    int plain = *s != '\0';
    for (const char *p = s; *p && plain; p++)
        plain = (unsigned char)*p > ' ' && *p != '"' && *p != '\\' && *p != '=' &&
                (unsigned char)*p < 0x7f;
    if (plain || size < 8) {
        snprintf(buf, size, "%s", s);
        return buf;
    }
    size_t o = 0;
    buf[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        /* Keep room for the worst escape (\xNN), the closing quote and NUL. */
        if (o + 7 >= size) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (*p == '"' || *p == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)*p;
        } else if (*p == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (*p < ' ' || *p == 0x7f) {
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", *p);
        } else {
            buf[o++] = (char)*p;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

void log_vwrite(enum log_level level, const char *event, const char *fmt, va_list ap)
{
    char line[4096];
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s stage=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), log_level_name(level), log_stage, event);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    if (fmt && *fmt && len + 2 < sizeof(line)) {
        line[len++] = ' ';
        int m = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
        if (m > 0)
            len += (size_t)m < sizeof(line) - len ? (size_t)m : sizeof(line) - len - 1;
    }
    line[len++] = '\n';

    FILE *fp = log_stream ? log_stream : stderr;
    flockfile(fp);
    fwrite(line, 1, len, fp);
    fflush(fp);
    funlockfile(fp);
}

void log_write(enum log_level level, const char *event, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, event, fmt, ap);
    va_end(ap);
}
