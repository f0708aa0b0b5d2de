/*
 * fuzz_hparse — libFuzzer target for the fast HTML parser (shared/hparse.h).
 *
 *   make fuzz    builds it with clang -fsanitize=fuzzer,address and runs it
 *                for FUZZ_SECONDS on tests/fuzz/corpus/hparse
 *
 * Invariant beyond "no crash, no leak, no hang": whenever the fast path
 * takes the input, its tree is libxml2's (tests/unit/hparse_diff.c: node by
 * node, IDs, document fields and serialisation). A difference aborts with
 * it described.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hparse_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    if (hparse_diff_html((const char *)data, size, why, sizeof(why)) == 1) {
        fprintf(stderr, "fuzz_hparse: trees differ: %s\n", why);
        abort();
    }
    return 0;
}
