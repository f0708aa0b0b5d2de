#include "clock.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t clk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clk_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clk_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void clk_deadline(int timeout_ms, struct timespec *out)
{
    clock_gettime(CLOCK_REALTIME, out);
    out->tv_sec += timeout_ms / 1000;
    out->tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (out->tv_nsec >= 1000000000) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000;
    }
}

void clk_iso8601(int64_t epoch_ms, char buf[CLK_ISO_LEN])
{
    /* gmtime_r takes glibc's time-zone lock and snprintf reads its format
     * on every call (3.8k instructions): a producer stamps each record it
     * writes (ce_time), 100,000 of them within a second for one large
     * submit. So each thread keeps the text of the last second it wrote
     * and only puts the milliseconds in. */
    static _Thread_local int64_t last_secs = INT64_MIN;
    static _Thread_local char last[CLK_ISO_LEN];
    int64_t whole = epoch_ms / 1000;
    int ms = (int)(epoch_ms % 1000);
    if (ms >= 0 && whole == last_secs) {
        memcpy(buf, last, CLK_ISO_LEN);
        buf[20] = (char)('0' + ms / 100);
        buf[21] = (char)('0' + ms / 10 % 10);
        buf[22] = (char)('0' + ms % 10);
        return;
    }
    time_t secs = (time_t)whole;
    struct tm tm;
    char tmp[64]; /* room for any int fields, so the compiler can prove no truncation */
    gmtime_r(&secs, &tm);
    int n = snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    memcpy(buf, tmp, CLK_ISO_LEN - 1);
    buf[CLK_ISO_LEN - 1] = '\0';
    /* Only the usual shape (four-digit year, milliseconds at 20..22). */
    if (ms >= 0 && n == CLK_ISO_LEN - 1) {
        memcpy(last, buf, CLK_ISO_LEN);
        last_secs = whole;
    }
}

int clk_parse_iso8601(const char *text, int64_t *epoch_ms)
{
    struct tm tm;
    int ms = 0, n = 0;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    const char *p = text + n;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        for (; digits < 3 && digits > 0; digits++)
            ms *= 10;
    }
    if (strcmp(p, "Z") != 0)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *epoch_ms = (int64_t)timegm(&tm) * 1000 + ms;
    return 0;
}
