/*
 * shutdown — the stop flag every stage loop polls.
 *
 * SIGTERM and SIGINT only set a flag (no work in the handler); loops poll
 * Kafka with short timeouts and check shutdown_requested() between polls,
 * then stop in order: stop intake, drain, flush producers, close consumers.
 * A second signal while shutting down exits at once (an operator's Ctrl-C
 * twice should always work).
 */
#ifndef FERRY_SHUTDOWN_H
#define FERRY_SHUTDOWN_H

/* Installs the SIGTERM/SIGINT handlers and ignores SIGPIPE (a peer closing a
 * socket must be an error return, not a dead stage). */
void shutdown_install(void);

/* 1 once a stop signal arrived (or shutdown_request() was called). */
int shutdown_requested(void);

/* Asks the stage to stop, as a signal would (fatal Kafka errors use this). */
void shutdown_request(void);

#endif
