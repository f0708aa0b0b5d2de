/*
 * log — one line per event on stderr, key=value fields, level-gated.
 *
 *   2026-11-22T10:00:00.123Z level=info stage=ingest event=listening addr=127.0.0.1:8080
 *
 * The level test happens in the LOG_* macros, before any argument is
 * formatted, so a debug line in a hot loop costs one comparison when debug
 * is off. A line is written with a single fwrite() under the stream lock, so
 * lines from several threads never interleave.
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stdarg.h>
#include <stdio.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* The current threshold; read by the macros, written by log_init(). */
extern enum log_level log_threshold;

/* Sets the stage name printed on every line and the threshold. `stage` must
 * outlive every log call (a string literal, normally). */
void log_init(const char *stage, enum log_level threshold);

/* Redirects output (tests capture lines this way); NULL restores stderr. */
void log_set_stream(FILE *fp);

/* "debug", "info", "warn", "error", "off" → level. 0 ok, -1 unknown name. */
int log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

/* Writes one line: timestamp, level, stage, `event=<event>`, then the
 * caller's printf-formatted fields (which should be `key=value` pairs
 * separated by spaces, or "" for none). Use the macros below instead. */
void log_write(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(enum log_level level, const char *event, const char *fmt, va_list ap);

/* Copies `s` into `buf` as one log value: unchanged when it is a plain token,
 * otherwise double-quoted with `"`, `\` and control bytes escaped. Truncated
 * (with a trailing `...`) to fit `size`. Returns buf. For network-fed text. */
const char *log_quote(char *buf, size_t size, const char *s);

#define log_enabled(level) ((level) >= log_threshold)
#define LOG_AT(level, event, ...)                                                                  \
    do {                                                                                           \
        if (log_enabled(level))                                                                    \
            log_write((level), (event), __VA_ARGS__);                                              \
    } while (0)
#define LOG_DEBUG(event, ...) LOG_AT(LOG_DEBUG, event, __VA_ARGS__)
#define LOG_INFO(event, ...)  LOG_AT(LOG_INFO, event, __VA_ARGS__)
#define LOG_WARN(event, ...)  LOG_AT(LOG_WARN, event, __VA_ARGS__)
#define LOG_ERROR(event, ...) LOG_AT(LOG_ERROR, event, __VA_ARGS__)

#endif
