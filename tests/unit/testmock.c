#include "testmock.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"

/* The client a mock cluster lives in. */
static rd_kafka_t *owner;

rd_kafka_mock_cluster_t *testmock_start(struct cfg *cfg)
{
    char err[256];
    char *argv[] = {"t"};
    log_init("test", LOG_ERROR);
    owner = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof(err));
    rd_kafka_mock_cluster_t *mcluster = owner ? rd_kafka_mock_cluster_new(owner, 1) : NULL;
    if (!mcluster) {
        fprintf(stderr, "mock cluster: %s\n", owner ? "not started" : err);
        return NULL;
    }
    setenv("FERRY_KAFKA_BROKERS", rd_kafka_mock_cluster_bootstraps(mcluster), 1);
    cfg_init(cfg, "t", "t");
    cfg_add(cfg, cfg_common);
    if (cfg_parse(cfg, 1, argv, err, sizeof(err))) {
        fprintf(stderr, "cfg: %s\n", err);
        testmock_stop(mcluster);
        return NULL;
    }
    return mcluster;
}

void testmock_stop(rd_kafka_mock_cluster_t *mcluster)
{
    if (mcluster)
        rd_kafka_mock_cluster_destroy(mcluster);
    rd_kafka_destroy(owner);
    owner = NULL;
}

rd_kafka_mock_cluster_t *testmock_cluster;
struct cfg testmock_cfg;

int testmock_setup(void **state)
{
    (void)state;
    return (testmock_cluster = testmock_start(&testmock_cfg)) ? 0 : -1;
}

int testmock_teardown(void **state)
{
    (void)state;
    testmock_stop(testmock_cluster);
    testmock_cluster = NULL;
    return 0;
}
