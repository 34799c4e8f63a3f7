/* The async client on libevent (rediskit/adapters/libevent.h): run it with
 * REDIS_URL set, or a server on 127.0.0.1:6379. */
#include <event2/event.h>
#include <rediskit/adapters/libevent.h>

#include "common.h"

static void stop(void *loop) {
    event_base_loopbreak(loop);
}

int main(void) {
    struct event_base *base = event_base_new();
    workload w = {.ac = client_from_env(), .stop = stop, .loop = base};
    if (base == NULL || w.ac == NULL || rk_libevent_attach(w.ac, base) != RK_OK) {
        fprintf(stderr, "async_libevent: %s\n", rk_error_last()->message);
        return 1;
    }
    start(&w);
    event_base_dispatch(base);
    rk_async_free(w.ac); /* NULL once the last callback freed it */
    event_base_free(base);
    return 0;
}
