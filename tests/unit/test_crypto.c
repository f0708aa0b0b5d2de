/* whsig and secretbox: published HMAC and Standard Webhooks vectors; sealing
 * round trips, is bound to the batch id, and detects tampering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "secretbox.h"
#include "whsig.h"

static void test_ferry_signature_vector(void **state)
{
    char sig[WHSIG_HEX_LEN];
    const char *msg = "The quick brown fox jumps over the lazy dog";
    (void)state;
    /* RFC 4231-style known answer (the Wikipedia HMAC example). */
    whsig_ferry("key", msg, strlen(msg), sig);
    assert_string_equal(sig,
                        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

static void test_standard_webhooks_vector(void **state)
{
    char sig[WHSIG_V1_LEN];
    const char *body = "{\"test\": 2432232314}";
    (void)state;
    /* The example of the Standard Webhooks specification. */
    assert_int_equal(whsig_standard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                    "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body),
                                    sig),
                     0);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_int_equal(whsig_standard("whsec_not base64!", "id", 1, body, strlen(body), sig), -1);
}

static void test_sig_equal(void **state)
{
    (void)state;
    assert_true(whsig_equal("sha256=abc", "sha256=abc"));
    assert_false(whsig_equal("sha256=abc", "sha256=abd"));
    assert_false(whsig_equal("sha256=abc", "sha256=abcd"));
}

/* A receiver's side: any of several space-separated values (secret
 * rotation) verifies, nothing else does. */
static void test_verify_any_value(void **state)
{
    const char *msg = "The quick brown fox jumps over the lazy dog";
    const char *good = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
    char two[200];
    (void)state;
    assert_true(whsig_verify_ferry("key", good, msg, strlen(msg)));
    snprintf(two, sizeof(two), "sha256=%064d %s", 0, good);
    assert_true(whsig_verify_ferry("key", two, msg, strlen(msg)));
    snprintf(two, sizeof(two), "%s sha256=%064d", good, 0);
    assert_true(whsig_verify_ferry("key", two, msg, strlen(msg)));
    assert_false(whsig_verify_ferry("other", two, msg, strlen(msg)));
    assert_false(whsig_verify_ferry("key", "", msg, strlen(msg)));
    assert_false(whsig_verify_ferry("key", good, msg, strlen(msg) - 1));

    const char *body = "{\"test\": 2432232314}", *id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const char *sec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const char *v1 = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert_true(whsig_verify_standard(sec, id, "1614265330", v1, body, strlen(body)));
    snprintf(two, sizeof(two), "v1,AAAA %s", v1);
    assert_true(whsig_verify_standard(sec, id, "1614265330", two, body, strlen(body)));
    assert_false(whsig_verify_standard(sec, id, "1614265331", v1, body, strlen(body)));
    assert_false(whsig_verify_standard(sec, id, "01614265330", v1, body, strlen(body)));
    assert_false(whsig_verify_standard(sec, id, "", v1, body, strlen(body)));
    assert_false(whsig_verify_standard(sec, "msg_other", "1614265330", v1, body, strlen(body)));
    assert_false(
        whsig_verify_standard("whsec_not base64!", id, "1614265330", v1, body, strlen(body)));
}

static void test_secretbox_round_trip(void **state)
{
    struct secretbox sb, other;
    char err[256];
    size_t len;
    (void)state;
    assert_int_equal(secretbox_init(&sb,
                                    "000102030405060708090a0b0c0d0e0f"
                                    "101112131415161718191a1b1c1d1e1f",
                                    err, sizeof(err)),
                     0);
    char *sealed = secretbox_seal(&sb, "whsec_topsecret", 15, "bat_A");
    assert_non_null(sealed);
    assert_memory_equal(sealed, "v1.", 3);
    assert_null(strstr(sealed, "topsecret"));
    char *plain = secretbox_open(&sb, sealed, "bat_A", &len);
    assert_non_null(plain);
    assert_int_equal(len, 15);
    assert_string_equal(plain, "whsec_topsecret");
    free(plain);

    /* Bound to its batch: another batch id does not open it. */
    assert_null(secretbox_open(&sb, sealed, "bat_B", NULL));
    /* A different key does not open it. */
    assert_int_equal(
        secretbox_init(&other, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", err, sizeof(err)),
        0);
    assert_memory_equal(other.key, sb.key, 32); /* same key in base64 */
    other.key[0] ^= 1;
    assert_null(secretbox_open(&other, sealed, "bat_A", NULL));
    /* Any flipped character is detected. */
    for (size_t i = 3; i < strlen(sealed); i++) {
        char saved = sealed[i];
        sealed[i] = saved == 'A' ? 'B' : 'A';
        char *p = secretbox_open(&sb, sealed, "bat_A", NULL);
        if (p)
            fail_msg("tampered position %zu opened", i);
        sealed[i] = saved;
    }
    /* Two seals of the same secret differ (fresh nonce). */
    char *again = secretbox_seal(&sb, "whsec_topsecret", 15, "bat_A");
    assert_string_not_equal(sealed, again);
    free(again);
    free(sealed);
    assert_null(secretbox_open(&sb, "v2.xyz", "bat_A", NULL));
    assert_null(secretbox_open(&sb, "v1.", "bat_A", NULL));
}

static void test_secretbox_key_forms(void **state)
{
    char err[256];
    (void)state;
    assert_int_equal(secretbox_check_key("00", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "openssl rand -hex 32"));
    assert_int_equal(secretbox_check_key("zz0102030405060708090a0b0c0d0e0f"
                                         "101112131415161718191a1b1c1d1e1f",
                                         err, sizeof(err)),
                     -1);
    assert_int_equal(
        secretbox_check_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ferry_signature_vector),
        cmocka_unit_test(test_standard_webhooks_vector),
        cmocka_unit_test(test_sig_equal),
        cmocka_unit_test(test_verify_any_value),
        cmocka_unit_test(test_secretbox_round_trip),
        cmocka_unit_test(test_secretbox_key_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
