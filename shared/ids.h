/*
 * ids — identifiers that sort by creation time and hashes that are stable.
 *
 * A batch id is "bat_" + 26 characters of Crockford base32 (the ULID layout):
 * 48 bits of epoch milliseconds, then 80 random bits from the kernel. Ids made
 * later sort after ids made earlier (to the millisecond), so topic keys,
 * logs and listings read in order, and no coordination is needed between
 * ingest instances.
 *
 * The first of the 80 random bits is always 0 in ids_new()'s ids: a 1 there
 * marks an id derived deterministically (ids_schedule_run), so a derived id
 * can never equal a random one.
 */
#ifndef FERRY_IDS_H
#define FERRY_IDS_H

#include <stddef.h>
#include <stdint.h>

#define IDS_BATCH_LEN 31 /* "bat_" + 26 + NUL */

/* Writes a new batch id. 0 ok, -1 if the kernel had no randomness. */
int ids_batch_new(char out[IDS_BATCH_LEN]);

/* Writes a new id with another prefix (at most 8 bytes), same layout. */
int ids_new(const char *prefix, char *out, size_t size);

/* The batch id of the run of schedule `schedule_id` (an id of
 * ids_new("sch")) for the slot at `slot_ms` (epoch ms, 0 .. 2^48-1):
 *
 *     48 bits  slot_ms              the time field, so runs sort by slot
 *      1 bit   1                    "derived": never equal to a random id
 *     79 bits  the schedule id's    its random bits (the first is 0 in
 *              random bits          every id ids_new() writes)
 *
 * The same slot of the same schedule always gives the same id, so a second
 * attempt to start a run is recognisable as a repeat. Two runs of one
 * schedule differ in the time field; runs of two schedules differ in the
 * last 79 bits unless the schedules' random bits are equal (ingest refuses
 * to create a schedule whose bits an existing one has); a run and a
 * batch from ids_batch_new() differ in the marker bit. 0 ok, -1 if
 * schedule_id is not a schedule id or slot_ms is out of range. */
int ids_schedule_run(const char *schedule_id, int64_t slot_ms, char out[IDS_BATCH_LEN]);

/* 1 when batch_id is a derived id (written by ids_schedule_run() or
 * ids_batch_derived()), 0 for a random one of ids_new(). */
int ids_is_schedule_run(const char *batch_id);

/* A batch id derived from `seed` (any bytes) and a time:
 *
 *     48 bits  time_ms              the time field, so ids still sort by time
 *      1 bit   1                    "derived": never equal to a random id
 *     79 bits  SHA-256(seed)        its first 79 bits
 *
 * The same seed and time always give the same id: two ingest instances
 * that get the same idempotent submit at the same moment write the same
 * batch, not two. 0 ok, -1 if time_ms is out of range. */
int ids_batch_derived(int64_t time_ms, const void *seed, size_t len, char out[IDS_BATCH_LEN]);

/* 1 when `id` has the shape ids_new() writes with `prefix`, else 0. Cheap
 * enough to run on every untrusted path segment. */
int ids_valid(const char *prefix, const char *id);

/* The creation time (epoch ms) encoded in an id of ids_new(); -1 if invalid. */
int64_t ids_time_ms(const char *prefix, const char *id);

/* Deterministic delivery id: "dlv_" + 32 hex of SHA-256(batch_id "\n" event
 * ["\n" item]). The same event of the same batch always has the same id, so
 * receivers can deduplicate across retries, replays and re-emissions.
 * `item` < 0 leaves the item out (batch.* events). */
#define IDS_DELIVERY_LEN 37
void ids_delivery(const char *batch_id, const char *event, long item, char out[IDS_DELIVERY_LEN]);

/* 1 when `id` has the shape ids_delivery() writes ("dlv_" + 32 lowercase
 * hex digits), else 0: for ids that come from outside. */
int ids_delivery_valid(const char *id);

/* FNV-1a 64-bit hash of len bytes: the one string hash of ferry's in-memory
 * tables (batch ids, hosts). Not for anything an attacker can grind on
 * where collisions would matter more than a slower bucket. */
uint64_t ids_hash(const void *data, size_t len);

/* SipHash-2-4 (Aumasson and Bernstein), 64-bit output, of len bytes under
 * a 16-byte key: for tables whose keys come from outside (host names, ids a
 * client chose), where a secret key keeps anyone from choosing keys that
 * collide. */
uint64_t ids_siphash(const uint8_t key[16], const void *data, size_t len);

/* Fills buf with n random bytes from the kernel. 0 ok, -1 error. */
int ids_random(void *buf, size_t n);

#endif
