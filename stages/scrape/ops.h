/*
 * ops — scrape's /healthz and /metrics server.
 *
 * The same routes as httpd_ops_start (httpd_add_ops_routes), but
 * libmicrohttpd polls with poll() instead of select(): scrape holds
 * thousands of sockets, so the descriptor of an accepted metrics connection
 * is above FD_SETSIZE (1024), and select() would reset it.
 */
#ifndef FERRY_SCRAPE_OPS_H
#define FERRY_SCRAPE_OPS_H

#include "httpd.h"

/* Like httpd_ops_start; stop it with httpd_ops_stop. */
int ops_start(struct httpd_ops *ops, const char *listen, httpd_ready_fn ready, void *arg,
              char *errstr, size_t errstr_size);

#endif
