/* What the three adapter examples share: the client made from REDIS_URL
 * (or 127.0.0.1:6379) and one small workload, so that each example shows
 * only how its loop is attached and run.
 *
 * The workload: SET a counter, keep 64 INCRs in flight until 1,000 are
 * done, GET the counter, and free the client from inside that callback;
 * stop() is then called for the example to end its loop. */
#ifndef RK_EXAMPLE_ADAPTERS_COMMON_H
#define RK_EXAMPLE_ADAPTERS_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include <rediskit/rediskit.h>

#define TOTAL 1000
#define DEPTH 64

typedef struct workload {
    rk_async *ac;
    int sent, done;
    void (*stop)(void *loop);
    void *loop;
} workload;

static rk_async *client_from_env(void) {
    rk_options o = {0};
    char *storage = NULL;
    const char *url = getenv("REDIS_URL");
    if (url && rk_options_from_url(url, &o, &storage) != RK_OK)
        return NULL;
    rk_async *ac = rk_async_new(&o, NULL);
    rk_free(storage);
    return ac;
}

static void on_get(rk_async *ac, int status, rk_reply *reply, void *userdata) {
    workload *w = userdata;
    printf("GET counter: %s (%s)\n", reply ? rk_reply_str(reply) : "-", rk_strerror(status));
    rk_async_free(ac); /* safe inside a callback: it takes effect on return */
    w->ac = NULL;
    w->stop(w->loop);
}

static void on_incr(rk_async *ac, int status, rk_reply *reply, void *userdata) {
    workload *w = userdata;
    (void)reply;
    if (status != RK_OK)
        fprintf(stderr, "INCR: %s\n", rk_error_last()->message);
    if (++w->done == TOTAL)
        rk_async_command(ac, on_get, w, "GET counter");
    else if (w->sent < TOTAL) {
        w->sent++;
        rk_async_command(ac, on_incr, w, "INCR counter");
    }
}

/* Queues the first commands; the loop then runs the rest. */
static void start(workload *w) {
    rk_async_command(w->ac, on_incr, w, "SET counter 0");
    w->done = -1; /* the SET's reply is not an INCR's */
    for (; w->sent < DEPTH; w->sent++)
        rk_async_command(w->ac, on_incr, w, "INCR counter");
}

#endif
