/* The async client on libev (rediskit/adapters/libev.h): run it with
 * REDIS_URL set, or a server on 127.0.0.1:6379. */
#include <ev.h>
#include <rediskit/adapters/libev.h>

#include "common.h"

static void stop(void *loop) {
    ev_break(loop, EVBREAK_ALL);
}

int main(void) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    workload w = {.ac = client_from_env(), .stop = stop, .loop = loop};
    if (loop == NULL || w.ac == NULL || rk_libev_attach(w.ac, loop) != RK_OK) {
        fprintf(stderr, "async_libev: %s\n", rk_error_last()->message);
        return 1;
    }
    start(&w);
    ev_run(loop, 0);
    rk_async_free(w.ac); /* NULL once the last callback freed it */
    ev_loop_destroy(loop);
    return 0;
}
