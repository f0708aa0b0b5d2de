/*
 * utf8 — the one UTF-8 encoder: a code point as its 1 to 4 bytes.
 *
 *     unsigned char u[UTF8_MAX];
 *     buf_add(b, u, utf8_put(u, cp));
 *
 * It writes what it is given: a caller decides what it does with a code
 * point its output may not hold (a surrogate, one past U+10FFFF, a control
 * character), since each has its own rule to follow (libxml2's for HTML
 * character references, XPath's for a CSS escape, JSON.stringify's for a
 * surrogate pair). Inline: the HTML tokenizer writes every character
 * reference of a page through it.
 *
 * Decoders stay with their readers, which differ on purpose in what they
 * make of bytes that are not UTF-8 (libxml2's rules in hparse, the WHATWG
 * decoder in jx_write).
 */
#ifndef FERRY_UTF8_H
#define FERRY_UTF8_H

#include <stddef.h>

#define UTF8_MAX 4 /* the longest encoding, U+10000 and up */

/* Writes cp (at most U+10FFFF) to o as UTF-8; returns how many bytes (1-4). */
static inline size_t utf8_put(unsigned char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xc0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xe0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (unsigned char)(0xf0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

#endif
