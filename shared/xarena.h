/*
 * xarena — libxml2's allocations for one page from a bump arena of the
 * calling thread, instead of one malloc() and free() per node, attribute
 * and string: about a third of the HTML parser's instructions are spent in
 * malloc and free, and a page's tree is dropped whole anyway.
 *
 *     xarena_install();                 // once, in a stage's main
 *     ... worker thread, per page:
 *     int held = xarena_hold();         // the arena lives until the release
 *     xarena_enter();                   // libxml2 allocates from it ...
 *     doc = hparse_read(...);           // hparse.h
 *     xarena_leave();                   // ... until here
 *     ... later windows: xarena_enter(); xpath evaluation; xarena_leave();
 *     xarena_enter(); xmlFreeDoc(doc); xarena_leave();
 *     if (held) xarena_release();       // the last release empties it
 *
 * Only what libxml2 allocates inside an enter/leave window, on that thread,
 * while the arena is held comes from the arena: nothing that must outlive
 * the page may be allocated there (libxml2's lazily initialised globals are
 * set up by xmlInitParser() before). free() of an arena block is a no-op;
 * realloc() copies. Anything else goes to malloc as before, so code that
 * never holds an arena is unchanged. Past XARENA_MAX_BYTES (a hostile page)
 * allocations go to malloc too.
 *
 * Memory that libxml2 allocated in the arena must be freed with xmlFree()
 * (never free()), as libxml2 documents anyway.
 *
 * One thread: the allocator knows only the calling thread's arena, so a
 * block freed on another thread would be handed to free() as if malloc had
 * made it. A page's tree is parsed, evaluated, freed and its hold released
 * on the thread that held the arena; never hand such a tree (or anything
 * libxml2 allocated in a window) to another thread. The callers keep to it:
 * extract_run() and extract_release() (shared/extract.c), xrules_apply()
 * between them, all within one call of scrape's process_fetched
 * (stages/scrape/process.c) and of tests/tools/extract_run on one thread;
 * render does not install the arena. A release on a thread that holds
 * nothing (the other half of a pair split across threads) aborts.
 */
#ifndef FERRY_XARENA_H
#define FERRY_XARENA_H

#include <stddef.h>

/* The first block of a thread's arena; further blocks double in size. */
#define XARENA_FIRST_BYTES (256 * 1024)
/* The most one thread's arena takes before spilling to malloc. */
#define XARENA_MAX_BYTES (64u * 1024 * 1024)

/* Routes libxml2's allocator through the arena (xmlMemSetup). Idempotent;
 * safe while other threads use libxml2 (blocks from before are malloc's
 * and stay so). Not installed: every call below is a no-op. */
void xarena_install(void);

/* Holds this thread's arena for a page. 1 when the arena is in use (the
 * caller releases it), 0 when not installed (nothing to release). Holds
 * nest: the arena empties when the last is released. */
int xarena_hold(void);
void xarena_release(void);

/* libxml2 allocates from the arena between these (when it is held). */
void xarena_enter(void);
void xarena_leave(void);

#endif
