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

/* How long a stop the stage asked for itself may take before the process
 * exits regardless, and the exit code it then uses. */
#define SHUTDOWN_GRACE_MS   15000
#define SHUTDOWN_STUCK_EXIT 70

/* Asks the stage to stop, as a signal would (fatal Kafka errors use this),
 * and bounds that stop: if the process is still running SHUTDOWN_GRACE_MS
 * later, it exits with SHUTDOWN_STUCK_EXIT. Nobody else will end it: an
 * operator's signal is followed by a SIGKILL after the orchestrator's grace,
 * but a stage stopping on its own error is only restarted by its supervisor
 * once it has exited, and librdkafka 2.0.2 can hang for good closing a
 * consumer fenced during a broker outage (make chaos, broker-freeze). */
void shutdown_request(void);

/* Sets that grace (for tests; <= 0 restores the default). Call before
 * shutdown_request(). */
void shutdown_set_grace(int ms);

/* The exit code of a stage that asked for its own stop. */
#define SHUTDOWN_FAILED_EXIT 1

/* What a stage's main returns once it stopped: rc when it is non-zero, else
 * SHUTDOWN_FAILED_EXIT when the stage asked for the stop itself
 * (shutdown_request: a fatal Kafka error, a broken transaction), else 0 (a
 * stop signal). A supervisor that restarts on failure (systemd's
 * Restart=on-failure, a container's restart policy) must see the stage's own
 * errors as failures: every stage ends with this, not with its own rule. */
int shutdown_exit_code(int rc);

#endif
