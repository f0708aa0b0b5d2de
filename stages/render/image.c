#include "image.h"

#include <string.h>

int image_size(const unsigned char *img, size_t len, int *width, int *height)
{
    if (len >= 24 && memcmp(img, "\x89PNG\r\n\x1a\n", 8) == 0 && memcmp(img + 12, "IHDR", 4) == 0) {
        *width = (int)((unsigned)img[16] << 24 | img[17] << 16 | img[18] << 8 | img[19]);
        *height = (int)((unsigned)img[20] << 24 | img[21] << 16 | img[22] << 8 | img[23]);
        return 0;
    }
    if (len < 4 || img[0] != 0xff || img[1] != 0xd8)
        return -1;
    /* JPEG: walk the segments to the frame header (SOFn). */
    for (size_t i = 2; i + 9 < len;) {
        if (img[i] != 0xff)
            return -1;
        unsigned char m = img[i + 1];
        if (m == 0xff) {
            i++;
            continue;
        }
        size_t seg = (size_t)img[i + 2] << 8 | img[i + 3];
        if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
            *height = img[i + 5] << 8 | img[i + 6];
            *width = img[i + 7] << 8 | img[i + 8];
            return 0;
        }
        i += 2 + seg;
    }
    return -1;
}
