/*
 * results — the results that go inline in a webhook body, and results
 * written in parts put back together.
 *
 * A results list holds result texts (record.h: every member but batch_id,
 * tenant, part and parts) by item index, in any order, and joins them
 * into the body's "[...]" sorted by index.
 *
 * An assembly takes result records in the order they lie in scrape.results
 * and gives back each item's whole result once its last part is in: the head
 * (every member but data) of part 1, and a data object whose string members
 * (html, text, markdown, base64) are the concatenation of that member over
 * parts 1..parts, followed by the other members (links, metadata) as part 1
 * carries them (scrape.results.schema.json). Parts of different attempts
 * (told apart by their head) are never mixed. A result written whole comes
 * back as it is.
 */
#ifndef FERRY_AGGREGATE_RESULTS_H
#define FERRY_AGGREGATE_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct result_text {
    long long index;
    char *text; /* owned */
    size_t len;
};

struct results {
    struct result_text *v;
    size_t n, cap;
    size_t bytes; /* sum of the texts' lengths */
};

/* Takes ownership of text. */
void results_add(struct results *l, long long index, char *text, size_t len);
void results_clear(struct results *l);
/* The length of results_join's text. */
size_t results_joined_len(const struct results *l);
/* Sorts by index and writes "[a,b,...]" (malloc'd) with its length. */
char *results_join(struct results *l, size_t *len);

struct assembly {
    struct assembling *v;
    size_t n, cap;
};

/* Feeds one parsed result record. Returns the item's whole result (malloc'd
 * JSON text, *len bytes; *canonical when every part was in JSON.stringify's
 * form) when this record completes it, else NULL. Takes r->text (NULL after)
 * when it keeps it. */
char *assembly_add(struct assembly *a, struct record *r, size_t *len, int *canonical);
/* Frees the parts of items that never completed. */
void assembly_release(struct assembly *a);

/* The whole result from its parts' texts, in part order (each as in
 * record.h). Returns malloc'd text, *len bytes. */
char *results_merge(char *const *texts, const size_t *lens, int n, size_t *len);

#endif
