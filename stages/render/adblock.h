/*
 * adblock — the hosts an item with `block_ads: true` may not reach: ad
 * servers, trackers and analytics. A host is blocked when it or any parent
 * domain is on the list ("stats.g.doubleclick.net" by "doubleclick.net").
 *
 * The list is built in (the well-known ad and tracking networks), and
 * FERRY_RENDER_BLOCK_HOSTS_FILE adds more: one host per line, `#` comments,
 * and hosts-file lines ("0.0.0.0 ads.example") accepted as they are, so
 * published block lists can be used unchanged.
 *
 * Built once at start-up, read-only after: lookups need no lock.
 */
#ifndef FERRY_RENDER_ADBLOCK_H
#define FERRY_RENDER_ADBLOCK_H

#include <stddef.h>

struct adblock;

/* The built-in list plus `file` (NULL or "": none). NULL with errstr when
 * the file cannot be read. */
struct adblock *adblock_load(const char *file, char *errstr, size_t errstr_size);
void adblock_free(struct adblock *ab);

/* 1 when host (any case, no port) is blocked. */
int adblock_match(const struct adblock *ab, const char *host);

size_t adblock_size(const struct adblock *ab);

#endif
