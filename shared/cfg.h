/*
 * cfg — configuration as a table.
 *
 * Every setting is one row: environment variable, type, default, help. A stage
 * registers the common table (cfg_common) and its own, then cfg_parse() reads
 * the command line and the environment and validates every row in one pass,
 * failing on the first bad value with its name and value:
 *
 *     FERRY_MAX_ITEMS=abc: not a whole number
 *
 * --help prints the table. `-X name=value` collects librdkafka properties
 * verbatim (as kcat does); kafka_conf_new() applies them, so SASL/SSL
 * clusters work without ferry knowing their settings.
 *
 * The variable name is the key of the getters (cfg_int(cfg, "FERRY_MAX_ITEMS")),
 * so one grep finds the definition and every use. Asking for a name that no
 * registered table has is a programming error and aborts.
 */
#ifndef FERRY_CFG_H
#define FERRY_CFG_H

#include <stddef.h>
#include <stdio.h>

enum cfg_type {
    CFG_STRING,
    CFG_INT,       /* whole number, bounded by min..max when min < max */
    CFG_BOOL,      /* 1/0, true/false, yes/no, on/off */
    CFG_DURATION,  /* milliseconds; "250ms", "30s", "5m", "2h", "1d"; bare number = ms */
    CFG_SIZE,      /* bytes; "512", "64k", "10M", "1G" (powers of 1024) */
    CFG_DURATIONS, /* comma-separated durations, e.g. "1m,5m,30m,2h,24h" */
};

struct cfg_opt {
    const char *env;
    enum cfg_type type;
    const char *def; /* default, parsed like the environment's text; NULL = unset */
    const char *help;
    long long min, max; /* numeric bounds, inclusive; ignored when min >= max */
    /* Optional extra check of the raw text, after the type parsed: 0 ok, -1
     * with a reason in errstr (without the name, cfg adds it). */
    int (*check)(const char *value, char *errstr, size_t errstr_size);
};

#define CFG_MAX_OPTS      96
#define CFG_MAX_PROPS     64
#define CFG_MAX_DURATIONS 16

struct cfg_value {
    const struct cfg_opt *opt;
    const char *text; /* as given (points into environ or opt->def), NULL if unset */
    long long num;    /* CFG_INT, CFG_BOOL, CFG_DURATION, CFG_SIZE */
    long long list[CFG_MAX_DURATIONS];
    size_t list_len; /* CFG_DURATIONS */
};

struct cfg {
    const char *prog;
    const char *summary;
    struct cfg_value values[CFG_MAX_OPTS];
    size_t n_values;
    /* -X name=value pairs in command-line order; point into argv. */
    const char *props[CFG_MAX_PROPS][2];
    size_t n_props;
    char props_buf[CFG_MAX_PROPS][256];
};

/* Settings every stage shares: Kafka, topic prefix and provisioning, logging. */
extern const struct cfg_opt cfg_common[];

/* Starts an empty configuration. `prog` and `summary` head --help. */
void cfg_init(struct cfg *cfg, const char *prog, const char *summary);

/* Registers a table ending with a row whose env is NULL. The table must
 * outlive cfg. */
void cfg_add(struct cfg *cfg, const struct cfg_opt *table);

/* Parses argv and the environment and validates every row.
 * Returns 0 ok, 1 when --help or --version was printed (the caller exits 0),
 * -1 with errstr naming the offending variable or argument. */
int cfg_parse(struct cfg *cfg, int argc, char **argv, char *errstr, size_t errstr_size);

/* Prints usage and the table to fp. */
void cfg_usage(const struct cfg *cfg, FILE *fp);

/* Getters; the name must be registered (abort otherwise). */
const char *cfg_str(const struct cfg *cfg, const char *env); /* NULL when unset */
long long cfg_int(const struct cfg *cfg, const char *env);   /* INT, BOOL, DURATION, SIZE */
int cfg_bool(const struct cfg *cfg, const char *env);
/* Duration list; returns the count and points *out at the values (ms). */
size_t cfg_durations(const struct cfg *cfg, const char *env, const long long **out);

/* Parsers shared with other modules (e.g. Retry-After, options). 0 ok, -1 bad. */
int cfg_parse_duration(const char *text, long long *ms);
int cfg_parse_size(const char *text, long long *bytes);

/* Formats a duration the way the tier topics are named: 90000 → "90s",
 * 60000 → "1m", 7200000 → "2h", 250 → "250ms". */
void cfg_format_duration(long long ms, char *buf, size_t size);

#endif
