/*
 * httpd — the operations endpoints every stage serves: /healthz and /metrics.
 *
 * ingest adds them to its API server (httpd_add_ops_routes); the other
 * stages start a small server of their own on FERRY_METRICS_LISTEN
 * (httpd_ops_start). Both run on ulfius's own threads; the stage's main loop
 * is not involved.
 */
#ifndef FERRY_HTTPD_H
#define FERRY_HTTPD_H

#include <netinet/in.h>
#include <stddef.h>
#include <ulfius.h>

/* Readiness: 1 ready, 0 not; may fill `why` (shown in the /healthz body). */
typedef int (*httpd_ready_fn)(void *arg, char *why, size_t why_size);

/* Parses "host:port" (IPv4 literal or "localhost"; port 0..65535). 0/-1. */
int httpd_parse_listen(const char *text, struct sockaddr_in *addr, char *errstr,
                       size_t errstr_size);

/* A cfg check for listen addresses (see cfg.h). */
int httpd_check_listen(const char *value, char *errstr, size_t errstr_size);

/* Adds GET /healthz (200 {"status":"ok"} or 503 {"status":"starting",
 * "reason":...}) and GET /metrics to an instance. ready may be NULL (always
 * ready). */
int httpd_add_ops_routes(struct _u_instance *inst, httpd_ready_fn ready, void *arg);

/* Starts inst like ulfius_start_framework (thread per connection, the
 * instance's timeout), but libmicrohttpd waits with poll() instead of
 * select(): a stage holding thousands of sockets (scrape's transfers) gets
 * descriptors above FD_SETSIZE, which select() cannot watch. `addr` is the
 * bind address; it must outlive the server. Returns ulfius's U_OK or error. */
int httpd_start(struct _u_instance *inst, struct sockaddr_in *addr);

/* A stand-alone ops server. */
struct httpd_ops {
    struct _u_instance inst;
    struct sockaddr_in addr;
    int started;
};

/* Starts an ops server on `listen` ("host:port"). 0 ok, -1 with errstr. */
int httpd_ops_start(struct httpd_ops *ops, const char *listen, httpd_ready_fn ready, void *arg,
                    char *errstr, size_t errstr_size);
void httpd_ops_stop(struct httpd_ops *ops);

/* Sets a JSON response body (borrows body). */
void httpd_json(struct _u_response *resp, unsigned int status, const char *body);

#endif
