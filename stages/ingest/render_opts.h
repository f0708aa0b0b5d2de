/*
 * render_opts — a submit's rendering options and where its items go.
 *
 * A batch whose body says `render: true`, asks for the `screenshot` format,
 * or gives `screenshot` options is rendered in a browser: its requests go to
 * ferry.render.requests (the render stage) instead of ferry.scrape.requests,
 * carrying the options below; every other batch is scraped as before.
 *
 *   render      true | false
 *   wait_for    {"selector": CSS (1-1000 characters), "ms": 0..300000}, one or both (the
 *               render stage caps the wait by the item's timeout)
 *   screenshot  {"full_page": bool, "width": 100..8192 (1280), "height": 100..8192 (800),
 *                "type": "png" | "jpeg", "quality": 0..100 (jpeg only)}
 *   block_ads   true | false
 *
 * wait_for and block_ads only mean something in a browser: without
 * rendering they are refused (422), never silently ignored. Errors name the
 * field as the API answers them ("screenshot.width").
 */
#ifndef INGEST_RENDER_OPTS_H
#define INGEST_RENDER_OPTS_H

#include <jansson.h>

#include "submission.h"

/* Checks the rendering options of a submit body (`root`), given its
 * normalized formats and options. 0 ok: *members is NULL for a scraped
 * batch, or a new object of the normalized members every render request
 * carries ({"render": true, "screenshot": {...}, ...}). -1 with err. */
int render_opts_check(const json_t *root, const json_t *formats, const json_t *options,
                      json_t **members, struct submission_err *err);

#endif
