/*
 * testmock — librdkafka's mock cluster for unit tests of Kafka code: one
 * broker, FERRY_KAFKA_BROKERS pointing at it, and a configuration of the
 * common settings read from that environment.
 */
#ifndef FERRY_TESTMOCK_H
#define FERRY_TESTMOCK_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "cfg.h"

/* Starts the cluster and fills cfg. NULL (with a message on stderr) when
 * it cannot. */
rd_kafka_mock_cluster_t *testmock_start(struct cfg *cfg);

/* Stops the cluster testmock_start made. */
void testmock_stop(rd_kafka_mock_cluster_t *mcluster);

/* cmocka group fixtures for a test file on one cluster: testmock_setup
 * starts it into testmock_cluster and testmock_cfg, testmock_teardown
 * stops it. */
extern rd_kafka_mock_cluster_t *testmock_cluster;
extern struct cfg testmock_cfg;
int testmock_setup(void **state);
int testmock_teardown(void **state);

#endif
