/* The async client on the built-in loop: run it with REDIS_URL set (or a
 * server on 127.0.0.1:6379).
 *
 * It sets a counter, then keeps 64 INCRs in flight (each reply's callback
 * submits the next, and the client writes them together), runs one command
 * with a deadline shorter than the server takes (it times out, and the
 * connection carries on), and frees the client from inside a callback. */
#include <stdio.h>
#include <stdlib.h>

#include <rediskit/rediskit.h>

#define TOTAL 10000
#define DEPTH 64

typedef struct app {
    rk_loop *loop;
    rk_async *ac;
    int sent, done;
} app;

static void on_last(rk_async *ac, int status, rk_reply *reply, void *userdata) {
    app *a = userdata;
    printf("GET counter: %s (%s)\n", reply ? rk_reply_str(reply) : "-", rk_strerror(status));
    rk_async_free(ac); /* safe inside a callback: takes effect on return */
    a->ac = NULL;
    rk_loop_stop(a->loop);
}

static void on_slow(rk_async *ac, int status, rk_reply *reply, void *userdata) {
    (void)reply;
    /* RK_ETIMEOUT; or RK_ESERVER where DEBUG is off (enable-debug-command) */
    printf("DEBUG SLEEP 0.3 with a 100 ms deadline: %s%s%s\n", rk_strerror(status),
           status == RK_ESERVER ? ": " : "", status == RK_ESERVER ? rk_error_last()->message : "");
    rk_async_command(ac, on_last, userdata, "GET counter");
}

static void on_incr(rk_async *ac, int status, rk_reply *reply, void *userdata) {
    app *a = userdata;
    (void)reply;
    if (status != RK_OK)
        fprintf(stderr, "INCR: %s\n", rk_error_last()->message);
    if (++a->done == TOTAL) {
        printf("%d INCRs done, %d at a time\n", TOTAL, DEPTH);
        rk_async_call call = {.callback = on_slow, .userdata = a, .timeout_ms = 100};
        rk_str argv[] = {RK_STR("DEBUG"), RK_STR("SLEEP"), RK_STR("0.3")};
        if (rk_async_submit(ac, &call, argv, 3) < 0) /* DEBUG may be disabled */
            rk_async_command(ac, on_last, a, "GET counter");
    } else if (a->sent < TOTAL) {
        a->sent++;
        rk_async_command(ac, on_incr, a, "INCR counter");
    }
}

int main(void) {
    rk_options o = {0};
    char *storage = NULL;
    const char *url = getenv("REDIS_URL");
    if (url && rk_options_from_url(url, &o, &storage) != RK_OK) {
        fprintf(stderr, "REDIS_URL: %s\n", rk_error_last()->message);
        return 1;
    }
    app a = {.loop = rk_loop_new(0)};
    a.ac = rk_async_new(&o, NULL);
    rk_free(storage);
    if (a.loop == NULL || a.ac == NULL || rk_loop_attach(a.loop, a.ac) != RK_OK) {
        fprintf(stderr, "async_loop: %s\n", rk_error_last()->message);
        return 1;
    }
    rk_async_command(a.ac, on_incr, &a, "SET counter 0");
    a.done = -1; /* the SET's reply is not an INCR's */
    for (; a.sent < DEPTH; a.sent++)
        rk_async_command(a.ac, on_incr, &a, "INCR counter");
    rk_loop_run(a.loop);
    rk_async_free(a.ac); /* NULL when the callback freed it */
    rk_loop_free(a.loop);
    return 0;
}
