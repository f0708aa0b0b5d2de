/*
 * price — numbers and prices as pages print them, in the page's locale.
 *
 * "1.299,00 €", "$1,299.00", "¥1,299", "CHF 1'299.50", "1 299,50 zł",
 * "4,5 von 5 Sternen", "(12K)". The decimal separator is read from the text
 * itself when it can be (both '.' and ',' present: the last one is decimal;
 * a separator used twice or an apostrophe or space groups thousands; one
 * separator followed by other than three digits is decimal). Only "1.299"
 * or "1,299" is ambiguous; then the locale decides (`decimal`, from the
 * page's language: ',' for de, fr, es-ES, ...), then the currency (no
 * minor unit: JPY, KRW, ... group), then a leading "0" (decimal) or
 * grouping.
 *
 * Currencies come from ISO codes in the text (EUR, CHF, ...) and from
 * symbols (€ £ ¥ ₹ ₩ zł kr R$ C$ ...); "$", "¥" and "kr" are resolved by
 * the locale's region or language (en-CA: CAD, es-MX: MXN, ja: JPY, zh:
 * CNY, da: DKK, ...), USD / JPY / SEK when it says nothing.
 */
#ifndef FERRY_PRICE_H
#define FERRY_PRICE_H

#include <stddef.h>

/* What a page's language tag ("de-DE", "es_US", "fr-ch") says about its
 * numbers. */
struct price_locale {
    char decimal;   /* ',' or '.'; 0 when the tag says nothing */
    char dollar[4]; /* ISO code for a bare "$", "" when unknown */
    char yen[4];    /* for "¥" */
    char kr[4];     /* for "kr" */
};

void price_locale(const char *lang, struct price_locale *out);

/* The first number in text. `suffixes` accepts K/M/B multipliers directly
 * after it ("12K" = 12000). 0 ok, -1 when there is none. */
int price_number(const char *text, const struct price_locale *loc, int suffixes, double *out);

/* A price: value and ISO 4217 currency ("" when the text names none).
 * 0 ok, -1 when there is no number. */
int price_parse(const char *text, const struct price_locale *loc, double *value, char currency[4]);

#endif
