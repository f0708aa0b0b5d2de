/* price: numbers and prices as pages in many locales print them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "price.h"

static void test_prices(void **state)
{
    (void)state;
    static const struct {
        const char *text, *lang;
        double value;
        const char *currency;
    } cases[] = {
        {"$1,299.00", "en-US", 1299.00, "USD"},
        {"1.299,00 €", "de-DE", 1299.00, "EUR"},
        {"1.299,00\xc2\xa0\xe2\x82\xac", NULL, 1299.00, "EUR"}, /* nbsp, no locale */
        {"\xc2\xa5"
         "1,299",
         "ja-JP", 1299, "JPY"},
        {"\xef\xbf\xa5"
         "1,299",
         NULL, 1299, "JPY"},
        {"\xc2\xa5"
         "99.50",
         "zh-CN", 99.50, "CNY"},
        {"CHF 1'299.50", "de-CH", 1299.50, "CHF"},
        {"CHF 1\xe2\x80\x99"
         "299.50",
         NULL, 1299.50, "CHF"},
        {"1\xe2\x80\xaf"
         "299,50 \xe2\x82\xac",
         "fr-FR", 1299.50, "EUR"}, /* narrow nbsp */
        {"1 299,50 z\xc5\x82", "pl-PL", 1299.50, "PLN"},
        {"\xc2\xa3"
         "12.99",
         "en-GB", 12.99, "GBP"},
        {"\xe2\x82\xb9"
         "1,29,999.00",
         "en-IN", 129999.00, "INR"},
        {"R$ 1.299,90", "pt-BR", 1299.90, "BRL"},
        {"CDN$ 24.99", NULL, 24.99, "CAD"}, /* amazon.ca wrote it so for years */
        {"XY$ 24.99", NULL, 24.99, "USD"},  /* an unknown prefix: the plain dollar */
        {"C$24.99", NULL, 24.99, "CAD"},
        {"$24.99", "en-CA", 24.99, "CAD"},
        {"$24.99", "es-MX", 24.99, "MXN"},
        {"$1,299.00", "es-US", 1299.00, "USD"},
        {"US$5", "es-AR", 5, "USD"},
        {"129 kr", "sv-SE", 129, "SEK"},
        {"129,95 kr.", "da-DK", 129.95, "DKK"},
        {"EUR 1.299", "en-IE", 1.299, "EUR"}, /* an English page: 1.299 is decimal */
        {"1.299 EUR", NULL, 1299, "EUR"},     /* no locale: a three-digit group */
        {"0.125 USD", NULL, 0.125, "USD"},
        {"\xe2\x82\xa9"
         "35,000",
         "ko-KR", 35000, "KRW"},
        {"AED 1,234.50", "en-AE", 1234.50, "AED"},
        {"R 1 299,00", "en-ZA", 1299.00, "ZAR"},
        {"Price: 19.99", NULL, 19.99, ""},
        {"1,299", "de-DE", 1.299, ""}, /* a German page: the comma is decimal */
        {"from $19.99 - $29.99", NULL, 19.99, "USD"},
        {"-$5.00", NULL, 5.00, "USD"}, /* the sign is not next to the digits */
        {"12.345.678,9 \xe2\x82\xac", NULL, 12345678.9, "EUR"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct price_locale loc;
        price_locale(cases[i].lang, &loc);
        double v = -1;
        char cur[4] = "?";
        if (price_parse(cases[i].text, &loc, &v, cur) != 0)
            fail_msg("'%s': no price", cases[i].text);
        if (fabs(v - cases[i].value) > 1e-9 || strcmp(cur, cases[i].currency) != 0)
            fail_msg("'%s' (%s): got %.4f %s, want %.4f %s", cases[i].text,
                     cases[i].lang ? cases[i].lang : "-", v, cur, cases[i].value,
                     cases[i].currency);
    }
    struct price_locale loc;
    price_locale("en", &loc);
    double v;
    char cur[4];
    assert_int_equal(price_parse("Currently unavailable.", &loc, &v, cur), -1);
    assert_int_equal(price_parse("", &loc, &v, cur), -1);
}

static void test_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *text, *lang;
        double value;
    } cases[] = {
        {"4.6 out of 5 stars", "en-US", 4.6},
        {"4,7 von 5 Sternen", "de-DE", 4.7},
        {"12,345 ratings", "en-US", 12345},
        {"2.345 Sternebewertungen", "de-DE", 2345},
        {"(12K)", "en-US", 12000},
        {"1.2M views", NULL, 1200000},
        {"5 Mbps", NULL, 5}, /* a suffix must touch the number and end the word */
        {"-3.5 \xc2\xb0"
         "C",
         NULL, -3.5},
        {"\xe2\x88\x92"
         "2",
         NULL, -2},
        {"9999999999999999999999", NULL, 9999999999999999999999.0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct price_locale loc;
        price_locale(cases[i].lang, &loc);
        double v = -1;
        if (price_number(cases[i].text, &loc, 1, &v) != 0 ||
            fabs(v - cases[i].value) > 1e-6 * (fabs(cases[i].value) + 1))
            fail_msg("'%s': got %f, want %f", cases[i].text, v, cases[i].value);
    }
    struct price_locale loc;
    price_locale(NULL, &loc);
    double v;
    assert_int_equal(price_number("no digits here", &loc, 1, &v), -1);
}

static void test_locales(void **state)
{
    (void)state;
    struct price_locale l;
    price_locale("de_DE", &l);
    assert_int_equal(l.decimal, ',');
    price_locale("de-CH", &l);
    assert_int_equal(l.decimal, '.');
    price_locale("es-US", &l);
    assert_int_equal(l.decimal, '.');
    assert_string_equal(l.dollar, "USD");
    price_locale("es-ES", &l);
    assert_int_equal(l.decimal, ',');
    price_locale("fr-CA", &l);
    assert_string_equal(l.dollar, "CAD");
    price_locale("nb-NO", &l);
    assert_string_equal(l.kr, "NOK");
    price_locale("", &l);
    assert_int_equal(l.decimal, 0);
    price_locale("x", &l);
    assert_int_equal(l.decimal, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prices),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_locales),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
