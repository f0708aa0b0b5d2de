#include "price.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest number token read (digits and separators). */
#define TOKEN_MAX 64

/* ------------------------------------------------------------ locales */

/* Languages that write a decimal comma (CLDR), unless the region says
 * otherwise below. */
static const char *const comma_langs[] = {
    "af", "az", "be", "bg", "bs", "ca", "cs", "da", "de", "el", "es", "et", "eu", "fi", "fo", "fr",
    "gl", "hr", "hu", "hy", "id", "is", "it", "ka", "kk", "ky", "lt", "lv", "mk", "mn", "nb", "nl",
    "nn", "no", "pl", "pt", "ro", "ru", "sk", "sl", "sq", "sr", "sv", "tr", "uk", "uz", "vi", NULL};

/* Language-region pairs that write a decimal point although the language
 * alone writes a comma (Latin America's north, Switzerland). */
static const char *const point_regions[] = {"es-us", "es-mx", "es-pr", "es-do", "es-gt",  "es-hn",
                                            "es-ni", "es-pa", "es-pe", "es-sv", "es-419", "de-ch",
                                            "de-li", "fr-ch", "it-ch", NULL};

static const struct {
    const char *region;
    const char *dollar;
} dollar_regions[] = {{"ca", "CAD"}, {"au", "AUD"}, {"nz", "NZD"}, {"mx", "MXN"}, {"sg", "SGD"},
                      {"hk", "HKD"}, {"tw", "TWD"}, {"ar", "ARS"}, {"cl", "CLP"}, {"co", "COP"},
                      {"br", "BRL"}, {"us", "USD"}, {NULL, NULL}};

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

void price_locale(const char *lang, struct price_locale *out)
{
    memset(out, 0, sizeof(*out));
    if (!lang)
        return;
    char tag[16], ll[4] = "", rr[8] = "";
    size_t n = 0;
    while (*lang == ' ')
        lang++;
    for (; lang[n] && n + 1 < sizeof(tag); n++)
        tag[n] = lang[n] == '_' ? '-' : (char)tolower((unsigned char)lang[n]);
    tag[n] = '\0';
    size_t l = strcspn(tag, "-");
    if (l < 2 || l > 3)
        return;
    memcpy(ll, tag, l);
    ll[l] = '\0';
    if (tag[l] == '-') {
        size_t r = strcspn(tag + l + 1, "-");
        if (r < sizeof(rr)) {
            memcpy(rr, tag + l + 1, r);
            rr[r] = '\0';
        }
    }
    char pair[16];
    snprintf(pair, sizeof(pair), "%s-%s", ll, rr);
    out->decimal = in_list(ll, comma_langs) && !in_list(pair, point_regions) ? ',' : '.';
    for (size_t i = 0; dollar_regions[i].region; i++)
        if (strcmp(rr, dollar_regions[i].region) == 0)
            memcpy(out->dollar, dollar_regions[i].dollar, 4);
    if (!out->dollar[0] && strcmp(ll, "fr") == 0 && strcmp(rr, "ca") == 0)
        memcpy(out->dollar, "CAD", 4);
    memcpy(out->yen, strcmp(ll, "zh") == 0 ? "CNY" : "JPY", 4);
    if (strcmp(ll, "da") == 0 || strcmp(ll, "fo") == 0)
        memcpy(out->kr, "DKK", 4);
    else if (strcmp(ll, "nb") == 0 || strcmp(ll, "nn") == 0 || strcmp(ll, "no") == 0)
        memcpy(out->kr, "NOK", 4);
    else if (strcmp(ll, "is") == 0)
        memcpy(out->kr, "ISK", 4);
    else if (strcmp(ll, "sv") == 0)
        memcpy(out->kr, "SEK", 4);
}

/* ------------------------------------------------------------ currencies */

static const char *const iso_codes[] = {
    "USD", "EUR", "GBP", "JPY", "CNY", "INR", "CAD", "AUD", "NZD", "CHF", "SEK", "NOK", "DKK",
    "PLN", "CZK", "HUF", "RON", "BGN", "TRY", "RUB", "UAH", "BRL", "MXN", "ARS", "CLP", "COP",
    "PEN", "ZAR", "AED", "SAR", "EGP", "ILS", "SGD", "HKD", "TWD", "KRW", "THB", "VND", "IDR",
    "MYR", "PHP", "NGN", "KES", "ISK", "QAR", "KWD", "BHD", "OMR", "JOD", "MAD", "PKR", "BDT",
    "LKR", "RSD", "GEL", "KZT", "UYU", "CRC", "DOP", "GTQ", NULL};

/* Currencies whose prices are written without a minor unit. */
static const char *const no_minor[] = {"JPY", "KRW", "CLP", "ISK", "VND", "IDR",
                                       "HUF", "TWD", "COP", "PYG", "UGX", NULL};

/* Symbols and words, longest first where one is a prefix of another.
 * "$", "¥" and "kr" are resolved by the locale. */
static const struct {
    const char *mark;
    const char *iso; /* "?$", "?Y", "?K": ask the locale */
    int word;        /* must stand alone (no letter on either side) */
} marks[] = {
    {"\xe2\x82\xac", "EUR", 0},      /* € */
    {"\xc2\xa3", "GBP", 0},          /* £ */
    {"\xef\xbf\xa5", "?Y", 0},       /* fullwidth ¥ */
    {"\xc2\xa5", "?Y", 0},           /* ¥ */
    {"\xe5\x86\x86", "JPY", 0},      /* 円 */
    {"\xe5\x85\x83", "CNY", 0},      /* 元 */
    {"\xe2\x82\xb9", "INR", 0},      /* ₹ */
    {"\xe2\x82\xa9", "KRW", 0},      /* ₩ */
    {"\xe2\x82\xbd", "RUB", 0},      /* ₽ */
    {"\xe2\x82\xba", "TRY", 0},      /* ₺ */
    {"\xe2\x82\xaa", "ILS", 0},      /* ₪ */
    {"\xe0\xb8\xbf", "THB", 0},      /* ฿ */
    {"\xe2\x82\xab", "VND", 0},      /* ₫ */
    {"\xe2\x82\xb1", "PHP", 0},      /* ₱ */
    {"\xe2\x82\xb4", "UAH", 0},      /* ₴ */
    {"\xe2\x82\xa6", "NGN", 0},      /* ₦ */
    {"\xe2\x82\xb8", "KZT", 0},      /* ₸ */
    {"\xe2\x82\xa1", "CRC", 0},      /* ₡ */
    {"z\xc5\x82", "PLN", 1},         /* zł */
    {"K\xc4\x8d", "CZK", 1},         /* Kč */
    {"\xd8\xaf.\xd8\xa5", "AED", 0}, /* د.إ */
    {"\xd8\xb1.\xd8\xb3", "SAR", 0}, /* ر.س */
    {"\xd8\xac.\xd9\x85", "EGP", 0}, /* ج.م */
    {"Fr.", "CHF", 1},
    {"kr.", "?K", 1},
    {"kr", "?K", 1},
    {"Kr", "?K", 1},
    {"Ft", "HUF", 1},
    {"lei", "RON", 1},
    {"RM", "MYR", 1},
    {"Rp", "IDR", 1},
    {"TL", "TRY", 1},
    {"R", "ZAR", 1},
    {"$", "?$", 0},
    {NULL, NULL, 0},
};

static const struct {
    const char *prefix;
    const char *iso;
} dollar_prefixes[] = {{"US", "USD"}, {"CA", "CAD"}, {"C", "CAD"},   {"AU", "AUD"},  {"A", "AUD"},
                       {"NZ", "NZD"}, {"HK", "HKD"}, {"SG", "SGD"},  {"S", "SGD"},   {"R", "BRL"},
                       {"MX", "MXN"}, {"NT", "TWD"}, {"COL", "COP"}, {"CDN", "CAD"}, {NULL, NULL}};

static int is_letter_at(const char *s, const char *start, int before)
{
    if (before) {
        if (s == start)
            return 0;
        unsigned char c = (unsigned char)s[-1];
        return isalpha(c) || c >= 0x80;
    }
    unsigned char c = (unsigned char)*s;
    return isalpha(c) || (c >= 0x80 && c != 0xc2 && c != 0xe2); /* nbsp, € etc. are not letters */
}

/* The currency named in text, "" when none. */
static void find_currency(const char *text, const struct price_locale *loc, char out[4])
{
    out[0] = '\0';
    for (const char *p = text; *p; p++) {
        /* An ISO code: three capitals standing alone. */
        if (isupper((unsigned char)p[0]) && isupper((unsigned char)p[1]) &&
            isupper((unsigned char)p[2]) && !is_letter_at(p, text, 1) &&
            !is_letter_at(p + 3, text, 0)) {
            for (size_t i = 0; iso_codes[i]; i++)
                if (strncmp(p, iso_codes[i], 3) == 0) {
                    memcpy(out, iso_codes[i], 4);
                    return;
                }
        }
        for (size_t i = 0; marks[i].mark; i++) {
            size_t n = strlen(marks[i].mark);
            if (strncmp(p, marks[i].mark, n) != 0)
                continue;
            if (marks[i].word && (is_letter_at(p, text, 1) || is_letter_at(p + n, text, 0)))
                continue;
            const char *iso = marks[i].iso;
            if (strcmp(iso, "?$") == 0) {
                /* US$, C$, A$, R$ ...: letters right before the sign. */
                const char *b = p;
                while (b > text && isupper((unsigned char)b[-1]) && p - b < 3)
                    b--;
                iso = loc && loc->dollar[0] ? loc->dollar : "USD";
                for (size_t k = 0; b < p && dollar_prefixes[k].prefix; k++)
                    if ((size_t)(p - b) == strlen(dollar_prefixes[k].prefix) &&
                        strncmp(b, dollar_prefixes[k].prefix, (size_t)(p - b)) == 0)
                        iso = dollar_prefixes[k].iso;
            } else if (strcmp(iso, "?Y") == 0) {
                iso = loc && loc->yen[0] ? loc->yen : "JPY";
            } else if (strcmp(iso, "?K") == 0) {
                iso = loc && loc->kr[0] ? loc->kr
                                        : (strcmp(marks[i].mark, "kr.") == 0 ? "DKK" : "SEK");
            } else if (strcmp(iso, "ZAR") == 0) {
                /* "R 1 299" / "R1,299": only right before a number. */
                const char *q = p + 1;
                while (*q == ' ')
                    q++;
                if (!isdigit((unsigned char)*q))
                    continue;
            }
            memcpy(out, iso, 4);
            return;
        }
    }
}

/* ------------------------------------------------------------ numbers */

enum sep_kind { SEP_DOT, SEP_COMMA, SEP_GROUP };

/* Bytes of a grouping-only separator at s (apostrophes, spaces), or 0. */
static size_t group_sep_len(const char *s)
{
    if (*s == '\'' || *s == ' ')
        return 1;
    if ((unsigned char)s[0] == 0xc2 && (unsigned char)s[1] == 0xa0) /* nbsp */
        return 2;
    if ((unsigned char)s[0] == 0xe2 && (unsigned char)s[1] == 0x80 &&
        ((unsigned char)s[2] == 0xaf || (unsigned char)s[2] == 0x89 || /* narrow nbsp, thin */
         (unsigned char)s[2] == 0x99))                                 /* ’ */
        return 3;
    return 0;
}

static size_t digits_at(const char *s)
{
    size_t n = 0;
    while (isdigit((unsigned char)s[n]))
        n++;
    return n;
}

static int currency_in(const char *cur, const char *const *list)
{
    return cur && cur[0] && in_list(cur, list);
}

/* Parses the number starting at the first digit of text. */
static int parse_number(const char *text, const struct price_locale *loc, const char *currency,
                        int suffixes, double *out)
{
    const char *p = text;
    while (*p && !isdigit((unsigned char)*p))
        p++;
    if (!*p)
        return -1;
    int negative =
        (p > text && p[-1] == '-') || (p - text >= 3 && memcmp(p - 3, "\xe2\x88\x92", 3) == 0);
    struct {
        enum sep_kind kind;
        char ch;
        size_t after; /* digits after it */
    } seps[TOKEN_MAX];
    size_t n_seps = 0;
    char digits[TOKEN_MAX + 1];
    size_t nd = 0, seppos[TOKEN_MAX];
    size_t d = digits_at(p);
    if (d > TOKEN_MAX)
        d = TOKEN_MAX;
    memcpy(digits, p, d);
    nd = d;
    p += d;
    while (n_seps < TOKEN_MAX) {
        size_t gl = group_sep_len(p);
        enum sep_kind kind;
        size_t sl;
        if (*p == '.' || *p == ',') {
            kind = *p == '.' ? SEP_DOT : SEP_COMMA;
            sl = 1;
        } else if (gl) {
            kind = SEP_GROUP;
            sl = gl;
        } else {
            break;
        }
        size_t after = digits_at(p + sl);
        /* A space groups only a following group of exactly three digits
         * ("1 299,50"), not "4 5". */
        if (!after || (kind == SEP_GROUP && after != 3))
            break;
        if (nd + after > TOKEN_MAX)
            break;
        seps[n_seps].kind = kind;
        seps[n_seps].ch = *p;
        seps[n_seps].after = after;
        seppos[n_seps] = nd;
        n_seps++;
        memcpy(digits + nd, p + sl, after);
        nd += after;
        p += sl + after;
    }
    digits[nd] = '\0';

    /* Which separator (index) is the decimal one, -1 for none. */
    long dec = -1;
    size_t dots = 0, commas = 0;
    for (size_t i = 0; i < n_seps; i++)
        dots += seps[i].kind == SEP_DOT, commas += seps[i].kind == SEP_COMMA;
    if (n_seps) {
        size_t last = n_seps - 1;
        if (dots && commas) {
            if (seps[last].kind != SEP_GROUP)
                dec = (long)last;
        } else if (dots + commas == 1 && seps[last].kind != SEP_GROUP) {
            int earlier_groups = n_seps > 1; /* 1'299.50, 1 299,50 */
            char c = seps[last].ch;
            if (earlier_groups || seps[last].after != 3)
                dec = (long)last;
            else if (currency_in(currency, no_minor))
                dec = -1;
            else if (loc && loc->decimal)
                dec = loc->decimal == c ? (long)last : -1;
            else
                dec = seppos[last] == 1 && digits[0] == '0' ? (long)last : -1;
        }
    }
    char num[TOKEN_MAX + 3];
    size_t k = 0;
    for (size_t i = 0; i < nd; i++) {
        if (dec >= 0 && i == seppos[dec])
            num[k++] = '.';
        num[k++] = digits[i];
    }
    num[k] = '\0';
    double v = strtod(num, NULL);
    if (suffixes && *p) {
        char s = *p;
        int alone = !isalpha((unsigned char)p[1]);
        if (alone && (s == 'K' || s == 'k'))
            v *= 1e3;
        else if (alone && s == 'M')
            v *= 1e6;
        else if (alone && s == 'B')
            v *= 1e9;
    }
    *out = negative ? -v : v;
    return 0;
}

int price_number(const char *text, const struct price_locale *loc, int suffixes, double *out)
{
    return parse_number(text, loc, NULL, suffixes, out);
}

int price_parse(const char *text, const struct price_locale *loc, double *value, char currency[4])
{
    find_currency(text, loc, currency);
    return parse_number(text, loc, currency, 0, value);
}
