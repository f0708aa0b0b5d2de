#include "ids.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

uint64_t ids_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 14695981039346656037ULL; /* the FNV-1a 64 offset basis */
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

uint64_t ids_siphash(const uint8_t key[16], const void *data, size_t len)
{
    const uint8_t *in = data;
    uint64_t k0 = 0, k1 = 0;
    for (int i = 7; i >= 0; i--)
        k0 = (k0 << 8) | key[i], k1 = (k1 << 8) | key[8 + i];
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    const uint8_t *end = in + len - (len % 8);
    for (; in != end; in += 8) {
        uint64_t m = 0;
        for (int i = 7; i >= 0; i--)
            m = (m << 8) | in[i];
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        b |= (uint64_t)in[i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

int ids_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* 128 bits as 26 base32 digits, most significant first (the first digit
 * carries only 3 bits), exactly as ULID does. */
static void encode(const char *prefix, const unsigned char raw[16], char *out)
{
    size_t plen = strlen(prefix);
    char *o = out;
    memcpy(o, prefix, plen);
    o += plen;
    *o++ = '_';
    unsigned bitpos = 0;
    for (int d = 0; d < 26; d++) {
        unsigned width = d == 0 ? 3 : 5;
        unsigned v = 0;
        for (unsigned b = 0; b < width; b++, bitpos++)
            v = (v << 1) | ((raw[bitpos / 8] >> (7 - bitpos % 8)) & 1);
        *o++ = crockford[v];
    }
    *o = '\0';
}

/* The inverse of encode() for an id that passed ids_valid(). */
static void decode(const char *digits, unsigned char raw[16])
{
    unsigned bitpos = 0;
    memset(raw, 0, 16);
    for (int d = 0; d < 26; d++) {
        unsigned width = d == 0 ? 3 : 5;
        unsigned v = (unsigned)(strchr(crockford, digits[d]) - crockford);
        for (int b = (int)width - 1; b >= 0; b--, bitpos++)
            raw[bitpos / 8] |= (unsigned char)(((v >> b) & 1) << (7 - bitpos % 8));
    }
}

static void put_ms(unsigned char raw[16], uint64_t ms)
{
    for (int i = 0; i < 6; i++)
        raw[i] = (unsigned char)(ms >> (40 - 8 * i));
}

int ids_new(const char *prefix, char *out, size_t size)
{
    size_t plen = strlen(prefix);
    unsigned char raw[16];

    if (plen > 8 || size < plen + 1 + 26 + 1)
        return -1;
    put_ms(raw, (uint64_t)clk_now_ms());
    if (ids_random(raw + 6, 10))
        return -1;
    raw[6] &= 0x7f; /* the marker bit: 0 = random (see ids_schedule_run) */
    encode(prefix, raw, out);
    return 0;
}

int ids_schedule_run(const char *schedule_id, int64_t slot_ms, char out[IDS_BATCH_LEN])
{
    unsigned char raw[16];
    if (!ids_valid("sch", schedule_id) || slot_ms < 0 || slot_ms >= (int64_t)1 << 48)
        return -1;
    decode(schedule_id + 4, raw);
    put_ms(raw, (uint64_t)slot_ms);
    raw[6] |= 0x80;
    encode("bat", raw, out);
    return 0;
}

int ids_is_schedule_run(const char *batch_id)
{
    unsigned char raw[16];
    if (!ids_valid("bat", batch_id))
        return 0;
    decode(batch_id + 4, raw);
    return raw[6] >> 7;
}

int ids_batch_derived(int64_t time_ms, const void *seed, size_t len, char out[IDS_BATCH_LEN])
{
    unsigned char raw[16], md[SHA256_DIGEST_LENGTH];
    if (time_ms < 0 || time_ms >= (int64_t)1 << 48)
        return -1;
    SHA256(seed, len, md);
    put_ms(raw, (uint64_t)time_ms);
    /* 79 bits of the digest after the marker bit: its first 10 bytes, the
     * top bit of the first replaced by the marker. */
    memcpy(raw + 6, md, 10);
    raw[6] |= 0x80;
    encode("bat", raw, out);
    return 0;
}

int ids_batch_new(char out[IDS_BATCH_LEN])
{
    return ids_new("bat", out, IDS_BATCH_LEN);
}

int ids_valid(const char *prefix, const char *id)
{
    size_t plen = strlen(prefix);
    if (strncmp(id, prefix, plen) != 0 || id[plen] != '_')
        return 0;
    const char *p = id + plen + 1;
    if (strlen(p) != 26 || *p > '7')
        return 0;
    for (; *p; p++)
        if (!strchr(crockford, *p))
            return 0;
    return 1;
}

int64_t ids_time_ms(const char *prefix, const char *id)
{
    if (!ids_valid(prefix, id))
        return -1;
    const char *p = id + strlen(prefix) + 1;
    uint64_t ms = 0;
    /* 48 time bits = the first 10 digits (3 + 9*5 = 48). */
    for (int d = 0; d < 10; d++)
        ms = (ms << 5) | (uint64_t)(strchr(crockford, p[d]) - crockford);
    return (int64_t)ms;
}

int ids_delivery_valid(const char *id)
{
    return id && strlen(id) == IDS_DELIVERY_LEN - 1 && strncmp(id, "dlv_", 4) == 0 &&
           strspn(id + 4, "0123456789abcdef") == IDS_DELIVERY_LEN - 5;
}

void ids_delivery(const char *batch_id, const char *event, long item, char out[IDS_DELIVERY_LEN])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char buf[512];
    int n = item < 0 ? snprintf(buf, sizeof(buf), "%s\n%s", batch_id, event)
                     : snprintf(buf, sizeof(buf), "%s\n%s\n%ld", batch_id, event, item);
    SHA256((const unsigned char *)buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, md);
    memcpy(out, "dlv_", 4);
    for (int i = 0; i < 16; i++)
        snprintf(out + 4 + 2 * i, 3, "%02x", md[i]);
}
