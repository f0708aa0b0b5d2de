/*
 * image — what a screenshot's bytes are: the width and height a PNG or JPEG
 * declares, read from its header (PNG's IHDR, JPEG's frame header).
 */
#ifndef FERRY_RENDER_IMAGE_H
#define FERRY_RENDER_IMAGE_H

#include <stddef.h>

/* Width and height of a PNG or JPEG. 0 ok, -1 not one. */
int image_size(const unsigned char *img, size_t len, int *width, int *height);

#endif
