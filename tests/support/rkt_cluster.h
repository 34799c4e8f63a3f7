/* A Redis Cluster of 3 masters shared by the tests of one program, as a
 * cmocka group fixture:
 *
 *     cmocka_run_group_tests(tests, rkt_cluster3_setup, rkt_cluster3_teardown);
 *
 * Without redis-server and redis-cli the group's tests skip (each checks
 * rkt_cluster3_up); a cluster that fails to start fails the group. */
#ifndef RKT_CLUSTER_H
#define RKT_CLUSTER_H

#include <stdbool.h>

#include "rkt_server.h"

extern rkt_cluster rkt_cluster3;
extern bool rkt_cluster3_up;

int rkt_cluster3_setup(void **state);
int rkt_cluster3_teardown(void **state);

#endif
