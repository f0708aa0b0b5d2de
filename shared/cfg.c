#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef FERRY_VERSION
#define FERRY_VERSION "0.1.0"
#endif

static int check_level(const char *value, char *errstr, size_t errstr_size)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(value, names[i]) == 0)
            return 0;
    snprintf(errstr, errstr_size, "not one of debug, info, warn, error, off");
    return -1;
}

static int check_prefix(const char *value, char *errstr, size_t errstr_size)
{
    /* Kafka topic names: [a-zA-Z0-9._-], at most 249 bytes; keep room for
     * the longest suffix ("webhooks.retry.<tier>"). */
    if (strlen(value) > 180) {
        snprintf(errstr, errstr_size, "longer than 180 bytes");
        return -1;
    }
    for (const char *p = value; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') {
            snprintf(errstr, errstr_size, "only letters, digits, '.', '_' and '-' are allowed");
            return -1;
        }
    }
    return 0;
}

const struct cfg_opt cfg_common[] = {
    {"FERRY_KAFKA_BROKERS", CFG_STRING, "localhost:9092",
     "Kafka bootstrap servers (host:port,...); any cluster", 0, 0, NULL},
    {"FERRY_TOPIC_PREFIX", CFG_STRING, "ferry.", "prefix of every topic name", 0, 0, check_prefix},
    {"FERRY_TOPIC_PARTITIONS", CFG_INT, "6", "partitions of each topic ferry creates", 1, 10000,
     NULL},
    {"FERRY_TOPIC_REPLICATION", CFG_INT, "-1",
     "replication factor of topics ferry creates (-1: the broker's default)", -1, 16, NULL},
    {"FERRY_TOPIC_RETENTION", CFG_DURATION, "7d",
     "retention of the pipeline topics (must exceed the longest retry tier)", 60000,
     365LL * 86400000, NULL},
    {"FERRY_WEBHOOK_RETRY_TIERS", CFG_DURATIONS, "1m,5m,30m,2h,24h",
     "webhook retry delays, one delay topic each, then the dead-letter topic", 1, 30LL * 86400000,
     NULL},
    {"FERRY_SCRAPE_RETRY_TIERS", CFG_DURATIONS, "5s,30s,2m",
     "scrape retry delays for transient fetch failures, one delay topic each", 1, 30LL * 86400000,
     NULL},
    {"FERRY_RENDER_RETRY_TIERS", CFG_DURATIONS, "5s,30s,2m",
     "render retry delays for transient failures, one delay topic each", 1, 30LL * 86400000, NULL},
    {"FERRY_FILES_RETENTION", CFG_DURATION, "24h",
     "how long screenshots stay in the files topic and are served (their expires_at)", 1000,
     365LL * 86400000, NULL},
    {"FERRY_MAX_MESSAGE_BYTES", CFG_SIZE, "16M",
     "largest Kafka message ferry writes (topics and producers are sized to it)", 1 << 20,
     1LL << 30, NULL},
    {"FERRY_LOG_LEVEL", CFG_STRING, "info", "debug, info, warn, error or off", 0, 0, check_level},
    {NULL, 0, NULL, NULL, 0, 0, NULL},
};

void cfg_init(struct cfg *cfg, const char *prog, const char *summary)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->prog = prog;
    cfg->summary = summary;
}

void cfg_add(struct cfg *cfg, const struct cfg_opt *table)
{
    for (const struct cfg_opt *o = table; o->env; o++) {
        if (cfg->n_values == CFG_MAX_OPTS) {
            fprintf(stderr, "cfg: more than %d settings\n", CFG_MAX_OPTS);
            abort();
        }
        cfg->values[cfg->n_values++].opt = o;
    }
}

static struct cfg_value *cfg_find(const struct cfg *cfg, const char *env)
{
    for (size_t i = 0; i < cfg->n_values; i++)
        if (strcmp(cfg->values[i].opt->env, env) == 0)
            return (struct cfg_value *)&cfg->values[i];
    fprintf(stderr, "cfg: %s is not a registered setting\n", env);
    abort();
}

int cfg_parse_duration(const char *text, long long *ms)
{
    static const struct {
        const char *unit;
        long long ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"", 1}};
    char *end;

    while (isspace((unsigned char)*text))
        text++;
    if (!isdigit((unsigned char)*text))
        return -1;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (errno)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            if (n > 0 && n > (long long)9e15 / units[i].ms)
                return -1;
            *ms = n * units[i].ms;
            return 0;
        }
    }
    return -1;
}

int cfg_parse_size(const char *text, long long *bytes)
{
    char *end;
    long long mul = 1;

    if (!isdigit((unsigned char)*text))
        return -1;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (errno)
        return -1;
    switch (tolower((unsigned char)*end)) {
    case '\0': break;
    case 'k': mul = 1LL << 10; break;
    case 'm': mul = 1LL << 20; break;
    case 'g': mul = 1LL << 30; break;
    default: return -1;
    }
    if (*end && end[1] != '\0' && strcasecmp(end + 1, "b") != 0 && strcasecmp(end + 1, "ib") != 0)
        return -1;
    if (n > (long long)9e15 / mul)
        return -1;
    *bytes = n * mul;
    return 0;
}

void cfg_format_duration(long long ms, char *buf, size_t size)
{
    if (ms > 0 && ms % 3600000 == 0)
        snprintf(buf, size, "%lldh", ms / 3600000);
    else if (ms > 0 && ms % 60000 == 0)
        snprintf(buf, size, "%lldm", ms / 60000);
    else if (ms > 0 && ms % 1000 == 0)
        snprintf(buf, size, "%llds", ms / 1000);
    else
        snprintf(buf, size, "%lldms", ms);
}

static int parse_bool(const char *text, long long *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off", ""};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (strcasecmp(text, yes[i]) == 0)
            return *out = 1, 0;
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (strcasecmp(text, no[i]) == 0)
            return *out = 0, 0;
    return -1;
}

static int in_range(const struct cfg_opt *o, long long v)
{
    return o->min >= o->max || (v >= o->min && v <= o->max);
}

/* Parses one value's text by its type into v. */
static int value_parse(struct cfg_value *v, char *errstr, size_t errstr_size)
{
    const struct cfg_opt *o = v->opt;
    const char *text = v->text;
    char reason[160] = "";
    char *end;

    switch (o->type) {
    case CFG_STRING: break;
    case CFG_INT:
        errno = 0;
        v->num = strtoll(text, &end, 10);
        if (errno || end == text || *end != '\0')
            snprintf(reason, sizeof(reason), "not a whole number");
        break;
    case CFG_BOOL:
        if (parse_bool(text, &v->num))
            snprintf(reason, sizeof(reason), "not a boolean (1/0, true/false, yes/no, on/off)");
        break;
    case CFG_DURATION:
        if (cfg_parse_duration(text, &v->num))
            snprintf(reason, sizeof(reason), "not a duration (e.g. 500ms, 30s, 5m, 2h, 1d)");
        break;
    case CFG_SIZE:
        if (cfg_parse_size(text, &v->num))
            snprintf(reason, sizeof(reason), "not a size (e.g. 65536, 64k, 10M, 1G)");
        break;
    case CFG_DURATIONS: {
        char item[64];
        const char *p = text;
        v->list_len = 0;
        while (*p && !*reason) {
            size_t len = strcspn(p, ",");
            if (len == 0 || len >= sizeof(item)) {
                snprintf(reason, sizeof(reason), "empty or overlong item in the list");
                break;
            }
            memcpy(item, p, len);
            item[len] = '\0';
            if (v->list_len == CFG_MAX_DURATIONS)
                snprintf(reason, sizeof(reason), "more than %d items", CFG_MAX_DURATIONS);
            else if (cfg_parse_duration(item, &v->list[v->list_len]))
                snprintf(reason, sizeof(reason), "'%s' is not a duration (e.g. 30s, 5m, 2h)", item);
            else if (!in_range(o, v->list[v->list_len]))
                snprintf(reason, sizeof(reason), "'%s' is out of range", item);
            else
                v->list_len++;
            p += len;
            if (*p == ',')
                p++;
        }
        if (!*reason && v->list_len == 0)
            snprintf(reason, sizeof(reason), "empty list");
        break;
    }
    }
    if (!*reason && o->type != CFG_STRING && o->type != CFG_BOOL && o->type != CFG_DURATIONS &&
        !in_range(o, v->num))
        snprintf(reason, sizeof(reason), "out of range %lld..%lld", o->min, o->max);
    if (!*reason && o->check)
        o->check(text, reason, sizeof(reason));
    if (*reason) {
        snprintf(errstr, errstr_size, "%s=%s: %s", o->env, text, reason);
        return -1;
    }
    return 0;
}

static int add_prop(struct cfg *cfg, const char *arg, char *errstr, size_t errstr_size)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        snprintf(errstr, errstr_size, "-X %s: expected name=value", arg);
        return -1;
    }
    if (cfg->n_props == CFG_MAX_PROPS) {
        snprintf(errstr, errstr_size, "-X %s: more than %d properties", arg, CFG_MAX_PROPS);
        return -1;
    }
    size_t name_len = (size_t)(eq - arg);
    char *buf = cfg->props_buf[cfg->n_props];
    if (name_len >= sizeof(cfg->props_buf[0])) {
        snprintf(errstr, errstr_size, "-X: property name too long");
        return -1;
    }
    memcpy(buf, arg, name_len);
    buf[name_len] = '\0';
    cfg->props[cfg->n_props][0] = buf;
    cfg->props[cfg->n_props][1] = eq + 1;
    cfg->n_props++;
    return 0;
}

int cfg_parse(struct cfg *cfg, int argc, char **argv, char *errstr, size_t errstr_size)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cfg_usage(cfg, stdout);
            return 1;
        } else if (strcmp(a, "--version") == 0) {
            printf("%s %s\n", cfg->prog, FERRY_VERSION);
            return 1;
        } else if (strcmp(a, "-X") == 0) {
            if (i + 1 == argc) {
                snprintf(errstr, errstr_size, "-X needs name=value");
                return -1;
            }
            if (add_prop(cfg, argv[++i], errstr, errstr_size))
                return -1;
        } else if (strncmp(a, "-X", 2) == 0) {
            if (add_prop(cfg, a + 2, errstr, errstr_size))
                return -1;
        } else {
            snprintf(errstr, errstr_size, "unknown argument '%s' (try --help)", a);
            return -1;
        }
    }

    for (size_t i = 0; i < cfg->n_values; i++) {
        struct cfg_value *v = &cfg->values[i];
        const char *env = getenv(v->opt->env);
        v->text = env ? env : v->opt->def;
        if (v->text && value_parse(v, errstr, errstr_size))
            return -1;
    }
    return 0;
}

static const char *type_name(enum cfg_type t)
{
    switch (t) {
    case CFG_STRING: return "string";
    case CFG_INT: return "int";
    case CFG_BOOL: return "bool";
    case CFG_DURATION: return "duration";
    case CFG_SIZE: return "size";
    case CFG_DURATIONS: return "durations";
    }
    return "?";
}

void cfg_usage(const struct cfg *cfg, FILE *fp)
{
    fprintf(fp, "usage: %s [-X librdkafka.property=value ...] [--help] [--version]\n\n%s\n\n",
            cfg->prog, cfg->summary);
    fprintf(fp, "Settings are read from the environment:\n\n");
    for (size_t i = 0; i < cfg->n_values; i++) {
        const struct cfg_opt *o = cfg->values[i].opt;
        fprintf(fp, "  %-32s %-9s %s\n", o->env, type_name(o->type), o->help);
        fprintf(fp, "  %-32s %-9s default: %s\n", "", "", o->def ? o->def : "(unset)");
    }
    fprintf(fp,
            "\n  -X name=value   any librdkafka property, passed through unchanged\n"
            "                  (e.g. -X security.protocol=SASL_SSL -X sasl.mechanisms=PLAIN)\n");
}

const char *cfg_str(const struct cfg *cfg, const char *env)
{
    return cfg_find(cfg, env)->text;
}

long long cfg_int(const struct cfg *cfg, const char *env)
{
    return cfg_find(cfg, env)->num;
}

int cfg_bool(const struct cfg *cfg, const char *env)
{
    return cfg_find(cfg, env)->num != 0;
}

size_t cfg_durations(const struct cfg *cfg, const char *env, const long long **out)
{
    const struct cfg_value *v = cfg_find(cfg, env);
    *out = v->list;
    return v->list_len;
}
