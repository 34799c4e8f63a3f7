/* The shared-server group fixture (see rkt_shared.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rkt_shared.h"

rkt_server rkt_shared;
rkt_server_opts rkt_shared_opts;
static bool running;

int rkt_shared_setup(void **state) {
    (void)state;
    if (!rkt_require_binaries("redis-server", NULL))
        return 0;
    if (rkt_server_start(&rkt_shared, &rkt_shared_opts) != 0)
        return -1;
    running = true;
    return 0;
}

int rkt_shared_teardown(void **state) {
    (void)state;
    if (running)
        rkt_server_stop(&rkt_shared);
    running = false;
    return 0;
}

void rkt_shared_need(void) {
    if (!running)
        skip();
}

bool rkt_shared_running(void) {
    return running;
}
