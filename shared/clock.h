/*
 * clock — wall and monotonic time in milliseconds, RFC 3339 formatting.
 */
#ifndef FERRY_CLOCK_H
#define FERRY_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch (wall clock: timestamps, due times). */
int64_t clk_now_ms(void);

/* Milliseconds on the monotonic clock (intervals, deadlines, latency). */
int64_t clk_mono_ms(void);

/* Microseconds on the monotonic clock (latency histograms). */
int64_t clk_mono_us(void);

/* The CLOCK_REALTIME time timeout_ms from now, as pthread_cond_timedwait()
 * wants its deadline. */
struct timespec;
void clk_deadline(int timeout_ms, struct timespec *out);

/* Formats epoch ms as "2026-11-22T10:00:00.123Z" (24 bytes + NUL). */
#define CLK_ISO_LEN 25
void clk_iso8601(int64_t epoch_ms, char buf[CLK_ISO_LEN]);

/* Parses what clk_iso8601 writes (fraction optional, 'Z' required). 0/-1. */
int clk_parse_iso8601(const char *text, int64_t *epoch_ms);

#endif
