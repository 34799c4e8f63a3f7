/* A redis-server shared by every test of a file, as a cmocka group fixture:
 *
 *     return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
 *
 * starts it (with rkt_shared_opts, which main may fill first) before the
 * tests and stops it after. When redis-server is missing the setup starts
 * nothing and succeeds, and rkt_shared_need() skips each test needing it. */
#ifndef RKT_SHARED_H
#define RKT_SHARED_H

#include <stdbool.h>

#include "rkt_server.h"

extern rkt_server rkt_shared;
extern rkt_server_opts rkt_shared_opts;

int rkt_shared_setup(void **state);
int rkt_shared_teardown(void **state);

/* Skips the calling test when the shared server is not running. */
void rkt_shared_need(void);

/* Whether the shared server is running (for fixtures that cannot skip). */
bool rkt_shared_running(void);

#endif
