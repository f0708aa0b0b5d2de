#include "words.h"

#include <string.h>

static const char *const status_names[STATUS__COUNT] = {
#define X(up, word, counts, retried, msg) #word,
    STATUS_MAP(X)
#undef X
};

static const struct {
    const char *message;
    enum status_counts counts;
    enum status_retried retried;
} status_info[STATUS__COUNT] = {
#define X(up, word, counts, retried, msg) {msg, STATUS_##counts, STATUS_##retried},
    STATUS_MAP(X)
#undef X
};

static const char *const format_names[FORMAT__COUNT] = {
#define X(up, word, msg) #word,
    FORMAT_MAP(X)
#undef X
};

static const char *const format_messages[FORMAT__COUNT] = {
#define X(up, word, msg) msg,
    FORMAT_MAP(X)
#undef X
};

static const char *const event_names[EVENT__COUNT] = {
#define X(up, word, dflt, msg) #word,
    EVENT_MAP(X)
#undef X
};

static const struct {
    const char *message;
    enum event_default dflt;
} event_info[EVENT__COUNT] = {
#define X(up, word, dflt, msg) {msg, EVENT_##dflt},
    EVENT_MAP(X)
#undef X
};

static const char *const change_names[CHANGE__COUNT] = {
#define X(up, word, msg) #word,
    CHANGE_MAP(X)
#undef X
};

/* Each list is a dozen short words: a linear scan beats hashing them. */
static int word_find(const char *const *words, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(words[i]) == len && memcmp(words[i], name, len) == 0)
            return i;
    return -1;
}

const char *status_name(enum status s)
{
    return status_names[s];
}

const char *status_message(enum status s)
{
    return status_info[s].message;
}

enum status_counts status_counts(enum status s)
{
    return status_info[s].counts;
}

enum status_retried status_retried(enum status s)
{
    return status_info[s].retried;
}

enum status status_parse(const char *name, size_t len)
{
    return (enum status)word_find(status_names, STATUS__COUNT, name, len);
}

const char *format_name(enum format f)
{
    return format_names[f];
}

const char *format_message(enum format f)
{
    return format_messages[f];
}

enum format format_parse(const char *name, size_t len)
{
    return (enum format)word_find(format_names, FORMAT__COUNT, name, len);
}

const char *format_list(void)
{
#define X(up, word, msg) ", " #word
    static const char all[] = FORMAT_MAP(X);
#undef X
    return all + 2;
}

const char *event_name(enum event e)
{
    return event_names[e];
}

const char *event_message(enum event e)
{
    return event_info[e].message;
}

int event_is_default(enum event e)
{
    return event_info[e].dflt == EVENT_DEFAULT;
}

enum event event_parse(const char *name, size_t len)
{
    return (enum event)word_find(event_names, EVENT__COUNT, name, len);
}

const char *event_list(void)
{
#define X(up, word, dflt, msg) ", " #word
    static const char all[] = EVENT_MAP(X);
#undef X
    return all + 2;
}

const char *change_name(enum change c)
{
    return change_names[c];
}

enum change change_parse(const char *name, size_t len)
{
    return (enum change)word_find(change_names, CHANGE__COUNT, name, len);
}
