/* The async client on libuv (rediskit/adapters/libuv.h): run it with
 * REDIS_URL set, or a server on 127.0.0.1:6379. */
#include <rediskit/adapters/libuv.h>
#include <uv.h>

#include "common.h"

static void stop(void *loop) {
    uv_stop(loop);
}

int main(void) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    workload w = {.ac = client_from_env(), .stop = stop, .loop = &loop};
    if (w.ac == NULL || rk_libuv_attach(w.ac, &loop) != RK_OK) {
        fprintf(stderr, "async_libuv: %s\n", rk_error_last()->message);
        return 1;
    }
    start(&w);
    uv_run(&loop, UV_RUN_DEFAULT);
    rk_async_free(w.ac);           /* NULL once the last callback freed it */
    uv_run(&loop, UV_RUN_DEFAULT); /* the adapter's handles close */
    uv_loop_close(&loop);
    return 0;
}
