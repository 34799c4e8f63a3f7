/* The harness of the async suites (test_async*.c): one test's loop and
 * client, callbacks that record what they saw, and waits that run the
 * loop until something happened (failing the test after WAIT_MS). */
#ifndef RKT_ASYNC_ENV_H
#define RKT_ASYNC_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include "rediskit/rediskit.h"
#include "rkt_loops.h"
#include "rkt_proxy.h"

/* How long any wait below may take before the test fails. */
#define WAIT_MS 10000

/* One test's loop and client. */
typedef struct env {
    const rkt_loop_kind *k;
    void *loop;
    rk_async *ac;
} env;

/* What a callback saw: how often it ran, and the last status and reply
 * (str: the reply's string, or a failure's rk_error_last() message). */
typedef struct result {
    int calls;
    int status;
    rk_type type;
    long long integer;
    char str[128];
    env *e;
    int action; /* what the callback does besides recording (ACT_*) */
} result;

enum { ACT_NONE, ACT_FREE, ACT_DISCONNECT, ACT_SUBMIT };

/* A command callback (rk_async_fn) recording into the result ud, then
 * doing its action. */
void record(rk_async *ac, int status, rk_reply *r, void *ud);

/* A client of opts and aopts attached to the test's loop. */
rk_async *new_client(env *e, rk_options o, const rk_async_options *ao);

/* A loop of the test's kind and a client of the shared server. */
void env_open(env *e, void **state, const rk_async_options *ao);

/* Frees the client (if any) and the loop. */
void env_close(env *e);

/* Runs the loop until *count reaches want; fails after WAIT_MS. */
void wait_count(env *e, const int *count, int want);

/* Runs the loop about ms more, so that a second completion would show. */
void run_for(env *e, int ms);

/* Runs the loop until the client has made n connections. */
void wait_connects(env *e, uint64_t n);

/* Runs the loop until the client has connected. */
void wait_connected(env *e);

/* Runs the loop until the client has sent n commands; fails after WAIT_MS. */
void wait_sent(env *e, uint64_t n);

/* Submits the words as a command with call's settings (its callback
 * record, its userdata the result). */
rk_async_id submit_call(env *e, rk_async_call call, const char *const *words);

/* Submits the command `words` (CMD(...)), recorded into res. */
rk_async_id submit(env *e, result *res, int timeout_ms, const char *const *words);

/* A loop of the test's kind and a client of the shared server through a
 * fault proxy (returned), with options o (the port set here), connected
 * (so that a mode set next applies to the next connection). */
rkt_proxy *proxied_open(env *e, void **state, rk_options o);

/* Frees the client, the loop and the proxy. */
void proxied_close(env *e, rkt_proxy *p);

/* Sends DEBUG SLEEP (0.3 s) so that the commands submitted next are sent
 * and wait for their replies; sleeping is recorded, to see it fail. */
void hold_server(env *e, result *sleeping);

/* Runs the loop until the commands submitted are written, then cuts the
 * connection: they were in flight. */
void cut_in_flight(env *e, rkt_proxy *p);

struct CMUnitTest;

/* Runs the n tests on every loop kind (each test's state is its kind),
 * a group per kind named "<what> on <kind>", with the shared server's
 * fixtures. RKT_ASYNC_LOOP (a kind's name) and RKT_ASYNC_TESTS (a
 * substring of the tests' names) pick, for working on one. Returns how
 * many failed, for main. */
int rkt_async_run(const char *what, const struct CMUnitTest *tests, size_t n);

#define CMD(...) ((const char *const[]){__VA_ARGS__, NULL})

#endif
