/*
 * deliver_seal — seals a webhook secret the way ingest does, for tests.
 *
 *     deliver_seal <FERRY_SECRET_KEY> <batch id> <secret>   → prints "v1...."
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secretbox.h"

int main(int argc, char **argv)
{
    struct secretbox sb;
    char errstr[256];
    if (argc != 4) {
        fprintf(stderr, "usage: deliver_seal <key> <batch id> <secret>\n");
        return 2;
    }
    if (secretbox_init(&sb, argv[1], errstr, sizeof(errstr))) {
        fprintf(stderr, "deliver_seal: %s\n", errstr);
        return 2;
    }
    char *sealed = secretbox_seal(&sb, argv[3], strlen(argv[3]), argv[2]);
    if (!sealed)
        return 1;
    printf("%s\n", sealed);
    free(sealed);
    return 0;
}
