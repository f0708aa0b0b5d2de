/*
 * navfail — what a navigation that failed with one of Chromium's network
 * errors (its errorText, "net::ERR_...") means for an item: its status and
 * whether another attempt may do better.
 */
#ifndef FERRY_RENDER_NAVFAIL_H
#define FERRY_RENDER_NAVFAIL_H

/* The status for text; anything not known is "connect", not transient. */
const char *navfail_status(const char *text, int *transient);

#endif
