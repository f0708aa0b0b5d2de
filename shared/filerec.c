#include "filerec.h"

#include <string.h>

#include "ids.h"

int filerec_id_new(char out[FILEREC_ID_LEN], int64_t *born_ms)
{
    if (ids_new("fil", out, FILEREC_ID_LEN))
        return -1;
    *born_ms = ids_time_ms("fil", out);
    return *born_ms < 0 ? -1 : 0;
}

const char *filerec_content_type(const char *header)
{
    static const char *const known[] = {"image/png", "image/jpeg", NULL};
    for (size_t i = 0; header && known[i]; i++)
        if (strcmp(header, known[i]) == 0)
            return known[i];
    return "application/octet-stream";
}
