/* The multiplexed synchronous client (RK_MODE_MUX) against a real
 * redis-server, the fault proxy and the dropper: many threads share one
 * connection and each gets its own replies; typed calls keep their shapes
 * on RESP2 and RESP3; a per-call timeout does not sever the connection; a
 * blocking command, a pipeline and a transaction get pooled connections;
 * the pool's retry rules hold for a connection lost under a call; the URL
 * selects the mode; freeing the client completes the calls in flight.
 * Needs redis-server; skips without it. */
#define _GNU_SOURCE

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rediskit/rediskit.h"
#include "rkt_dropper.h"
#include "rkt_proxy.h"
#include "rkt_server.h"
#include "rkt_shared.h"

/* ---- helpers ------------------------------------------------------------ */

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A multiplexed client of the shared server (or of port when not 0). */
static rk_client *mux_client(int port, rk_options o) {
    o.port = port ? port : rkt_server_port(&rkt_shared);
    o.mode = RK_MODE_MUX;
    rk_client *c = rk_client_new(&o);
    assert_non_null(c);
    return c;
}

static size_t pooled_created(rk_client *c) {
    rk_pool_stats st;
    rk_client_pool_stats(c, &st);
    return st.created;
}

/* The integer a command answers on c. */
static long long call_int(rk_client *c, const char *fmt, const char *arg) {
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, fmt, arg), RK_OK);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_INTEGER);
    long long v = rk_reply_int(&r);
    rk_reply_free(&r);
    return v;
}

/* ---- many threads ------------------------------------------------------- */

#define THREADS 16
#define ROUNDS 2000

typedef struct worker {
    rk_client *c;
    int id;
    int wrong; /* replies that were not this thread's */
    int failed;
} worker;

static void *set_get_own_keys(void *arg) {
    worker *w = arg;
    for (int i = 0; i < ROUNDS; i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "mux:%d:%d", w->id, i % 50);
        snprintf(val, sizeof val, "v%d-%d", w->id, i);
        const rk_str set[] = {RK_STR("SET"), rk_cstr(key), rk_cstr(val)};
        const rk_str get[] = {RK_STR("GET"), rk_cstr(key)};
        rk_reply r;
        if (rk_client_call_argv(w->c, NULL, set, 3) != RK_OK ||
            rk_client_call_argv(w->c, &r, get, 2) != RK_OK) {
            w->failed++;
            continue;
        }
        w->wrong += rk_reply_type(&r) != RK_REPLY_STRING || strcmp(rk_reply_str(&r), val) != 0;
        rk_reply_free(&r);
    }
    return NULL;
}

static void test_threads_each_get_their_own_replies(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = mux_client(0, (rk_options){0});
    pthread_t t[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.c = c, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, set_get_own_keys, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failed, 0);
        assert_int_equal(w[i].wrong, 0);
    }
    assert_int_equal(pooled_created(c), 0); /* the pool was never needed */
    rk_client_free(c);
}

/* Calls of 32 threads, every other one with a 1 ms deadline: the late
 * ones complete through the engine's timer, the others with replies, and
 * both kinds reach their callers through the same wake-up chains. Every
 * call returns once, with its own value or RK_ETIMEOUT. */
#define DEADLINE_THREADS 32
#define DEADLINE_ROUNDS 300

typedef struct deadline_worker {
    rk_client *c;
    int id;
    int ok, late, wrong;
} deadline_worker;

static void *get_with_deadlines(void *arg) {
    deadline_worker *w = arg;
    char key[32], val[32];
    snprintf(key, sizeof key, "mux:deadline:%d", w->id);
    snprintf(val, sizeof val, "v%d", w->id);
    const rk_str set[] = {RK_STR("SET"), rk_cstr(key), rk_cstr(val)};
    if (rk_client_call_argv(w->c, NULL, set, 3) != RK_OK) {
        w->wrong++;
        return NULL;
    }
    const rk_str get[] = {RK_STR("GET"), rk_cstr(key)};
    for (int i = 0; i < DEADLINE_ROUNDS; i++) {
        rk_call_opts o = {.timeout_ms = i % 2 ? 1 : 2000};
        rk_reply r;
        int rc = rk_client_call_argv_opts(w->c, &r, &o, get, 2);
        if (rc == RK_OK && rk_reply_type(&r) == RK_REPLY_STRING &&
            strcmp(rk_reply_str(&r), val) == 0)
            w->ok++;
        else if (rc == RK_ETIMEOUT && i % 2)
            w->late++;
        else
            w->wrong++;
        rk_reply_free(&r);
    }
    return NULL;
}

static void test_threads_with_short_deadlines_each_complete_once(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = mux_client(0, (rk_options){.retry.attempts = 1});
    pthread_t t[DEADLINE_THREADS];
    deadline_worker w[DEADLINE_THREADS];
    for (int i = 0; i < DEADLINE_THREADS; i++) {
        w[i] = (deadline_worker){.c = c, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, get_with_deadlines, &w[i]), 0);
    }
    int ok = 0, late = 0;
    for (int i = 0; i < DEADLINE_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].wrong, 0);
        assert_int_equal(w[i].ok + w[i].late, DEADLINE_ROUNDS);
        ok += w[i].ok;
        late += w[i].late;
    }
    assert_true(ok >= DEADLINE_THREADS * DEADLINE_ROUNDS / 2); /* the 2 s ones at least */
    print_message("      %d calls answered, %d late\n", ok, late);
    rk_client_free(c);
}

/* ---- typed calls -------------------------------------------------------- */

static void assert_typed_calls_keep_shapes(int protocol) {
    rkt_shared_need();
    rk_client *c = mux_client(0, (rk_options){.protocol = protocol});
    char key[32];
    snprintf(key, sizeof key, "mux:typed:%d", protocol);
    assert_int_equal(rk_set(c, key, "hello", NULL, NULL), RK_OK);
    char *s = NULL;
    size_t len = 0;
    assert_int_equal(rk_get(c, key, &s, &len), RK_OK);
    assert_string_equal(s, "hello");
    assert_int_equal(len, 5);
    rk_free(s);
    assert_int_equal(rk_get(c, "mux:typed:none", &s, &len), RK_NIL);

    snprintf(key, sizeof key, "mux:hash:%d", protocol);
    free(rkt_server_cmd(&rkt_shared, "DEL", key, NULL));
    const rk_hset_field_value fv[] = {{RK_STR("a"), RK_STR("1")}, {RK_STR("b"), RK_STR("2")}};
    long long added = 0;
    assert_int_equal(rk_hset(c, key, fv, 2, &added), RK_OK);
    assert_int_equal(added, 2);
    rk_reply r;
    assert_int_equal(rk_hgetall(c, key, &r), RK_OK);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_MAP); /* a map on RESP2 too */
    assert_int_equal(rk_reply_len(&r), 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_typed_calls_keep_their_shapes_on_resp2(void **state) {
    (void)state;
    assert_typed_calls_keep_shapes(2);
}

static void test_typed_calls_keep_their_shapes_on_resp3(void **state) {
    (void)state;
    assert_typed_calls_keep_shapes(3);
}

/* ---- timeouts ----------------------------------------------------------- */

static void test_call_timeout_fails_slow_call_and_keeps_connection(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = mux_client(0, (rk_options){0});
    long long id = call_int(c, "CLIENT ID", NULL);
    const rk_str sleep[] = {RK_STR("DEBUG"), RK_STR("SLEEP"), RK_STR("0.5")};
    rk_call_opts o = {.timeout_ms = 100, .no_retry = true};
    long long start = now_ms();
    rk_reply r;
    assert_int_equal(rk_client_call_argv_opts(c, &r, &o, sleep, 3), RK_ETIMEOUT);
    assert_true(now_ms() - start < 450); /* did not wait for the 500 ms sleep */
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_error_last()->code, RK_ETIMEOUT);
    /* The next call works, on the same connection: the late reply was
     * read and dropped, not taken for this one. */
    assert_int_equal(call_int(c, "CLIENT ID", NULL), id);
    rk_client_free(c);
}

static void test_command_timeout_bounds_multiplexed_calls(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = mux_client(0, (rk_options){.command_timeout_ms = 100, .retry.attempts = 1});
    long long start = now_ms();
    assert_int_equal(rk_client_call(c, NULL, "DEBUG SLEEP 0.5"), RK_ETIMEOUT);
    assert_true(now_ms() - start < 450);
    /* The server is still asleep: give the next call time to wait it out. */
    rk_call_opts o = {.timeout_ms = 5000};
    const rk_str ping[] = {RK_STR("PING")};
    assert_int_equal(rk_client_call_argv_opts(c, NULL, &o, ping, 1), RK_OK);
    rk_client_free(c);
}

typedef struct slow_call {
    rk_client *c;
    int rc;
} slow_call;

static void *sleep_half_second(void *arg) {
    slow_call *s = arg;
    s->rc = rk_client_call(s->c, NULL, "DEBUG SLEEP 0.5");
    return NULL;
}

/* A call queued behind another one still in flight (which the engine
 * waits for without a wake-up) still times out on time. */
static void test_call_timeout_holds_behind_a_call_in_flight(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = mux_client(0, (rk_options){0});
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK);
    slow_call s = {.c = c};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sleep_half_second, &s), 0);
    sleep_ms(50);
    rk_call_opts o = {.timeout_ms = 100, .no_retry = true};
    const rk_str ping[] = {RK_STR("PING")};
    long long start = now_ms();
    assert_int_equal(rk_client_call_argv_opts(c, NULL, &o, ping, 1), RK_ETIMEOUT);
    assert_true(now_ms() - start < 400); /* not when the sleep ends */
    pthread_join(t, NULL);
    assert_int_equal(s.rc, RK_OK);
    rk_client_free(c);
}

static void test_bad_mode_options_are_refused(void **state) {
    (void)state;
    assert_null(rk_client_new(&(rk_options){.mode = (rk_mode)7}));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "mode 7"));
    assert_null(rk_client_new(&(rk_options){.mode = RK_MODE_MUX, .mux_connections = 65}));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
}

/* ---- commands that need a connection of their own ------------------------ */

typedef struct blpop_call {
    rk_client *c;
    int rc;
    char got[16];
} blpop_call;

static void *blpop_thread(void *arg) {
    blpop_call *b = arg;
    rk_reply r;
    b->rc = rk_client_call(b->c, &r, "BLPOP mux:blq 5");
    if (b->rc == RK_OK && rk_reply_type(&r) == RK_REPLY_ARRAY && rk_reply_len(&r) == 2)
        snprintf(b->got, sizeof b->got, "%s", rk_reply_str(rk_reply_at(&r, 1)));
    rk_reply_free(&r);
    return NULL;
}

static void test_blocking_command_does_not_stall_other_calls(void **state) {
    (void)state;
    rkt_shared_need();
    free(rkt_server_cmd(&rkt_shared, "DEL", "mux:blq", NULL));
    rk_client *c = mux_client(0, (rk_options){0});
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK);
    blpop_call b = {.c = c};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, blpop_thread, &b), 0);
    /* Wait until the server holds the BLPOP. */
    for (long long deadline = now_ms() + 5000; now_ms() < deadline; sleep_ms(5)) {
        char *info = rkt_server_cmd(&rkt_shared, "INFO", "clients", NULL);
        bool blocked = info && strstr(info, "blocked_clients:1") != NULL;
        free(info);
        if (blocked)
            break;
    }
    long long start = now_ms();
    for (int i = 0; i < 50; i++)
        assert_int_equal(rk_client_call(c, NULL, "GET mux:other"), RK_OK);
    assert_true(now_ms() - start < 2000); /* the BLPOP would hold them 5 s */
    free(rkt_server_cmd(&rkt_shared, "RPUSH", "mux:blq", "x", NULL));
    pthread_join(t, NULL);
    assert_int_equal(b.rc, RK_OK);
    assert_string_equal(b.got, "x");
    assert_int_equal(pooled_created(c), 1); /* the BLPOP's own connection */
    rk_client_free(c);
}

static void test_pipeline_runs_in_mux_mode(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = mux_client(0, (rk_options){0});
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    assert_int_equal(rk_pipeline_append(p, "SET mux:pl %s", "1"), RK_OK);
    assert_int_equal(rk_pipeline_append(p, "INCR mux:pl"), RK_OK);
    assert_int_equal(rk_pipeline_exec(p), RK_OK);
    assert_int_equal(rk_pipeline_replies(p), 2);
    assert_int_equal(rk_reply_int(rk_pipeline_reply(p, 1)), 2);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static int incr_twice(rk_pipeline *p, void *userdata) {
    (void)userdata;
    int rc = rk_pipeline_multi(p);
    if (rc == RK_OK)
        rc = rk_pipeline_append(p, "INCR mux:tx");
    if (rc == RK_OK)
        rc = rk_pipeline_append(p, "INCR mux:tx");
    return rc;
}

static void test_transaction_runs_in_mux_mode(void **state) {
    (void)state;
    rkt_shared_need();
    free(rkt_server_cmd(&rkt_shared, "DEL", "mux:tx", NULL));
    rk_client *c = mux_client(0, (rk_options){0});
    const rk_str keys[] = {RK_STR("mux:tx")};
    rk_pipeline *done = NULL;
    assert_int_equal(rk_transaction(c, keys, 1, incr_twice, NULL, NULL, &done), RK_OK);
    assert_non_null(done);
    assert_int_equal(rk_pipeline_replies(done), 2); /* one per queued command */
    assert_int_equal(rk_reply_int(rk_pipeline_reply(done, 1)), 2);
    rk_pipeline_free(done);
    assert_int_equal(call_int(c, "INCRBY %s 0", "mux:tx"), 2);
    rk_client_free(c);
}

/* ---- a connection lost under a call ------------------------------------- */

static void count_retry(void *userdata, int attempt, int delay_ms, int error) {
    (void)attempt;
    (void)delay_ms;
    (void)error;
    (*(int *)userdata)++;
}

/* A multiplexed client through a proxy, connected. */
static rk_client *mux_via_proxy(rkt_proxy **p, int *retries) {
    *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(*p);
    rk_retry policy = {.backoff = RK_BACKOFF_NONE, .on_retry = count_retry, .userdata = retries};
    rk_client *c = mux_client(rkt_proxy_port(*p), (rk_options){.retry = policy});
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK);
    return c;
}

/* Runs argv through the proxy while the dropper loses its reply. */
static int call_losing_reply(rk_client *c, rkt_proxy *p, const rk_call_opts *o, const rk_str *argv,
                             size_t argc, rk_reply *r) {
    rkt_dropper d;
    assert_int_equal(rkt_dropper_arm(&d, p, &rkt_shared), 0);
    int rc = rk_client_call_argv_opts(c, r, o, argv, argc);
    assert_true(rkt_dropper_join(&d));
    return rc;
}

static void test_read_only_call_is_retried_after_connection_lost(void **state) {
    (void)state;
    rkt_shared_need();
    free(rkt_server_cmd(&rkt_shared, "SET", "mux:ro", "kept", NULL));
    int retries = 0;
    rkt_proxy *p;
    rk_client *c = mux_via_proxy(&p, &retries);
    const rk_str get[] = {RK_STR("GET"), RK_STR("mux:ro")};
    rk_reply r;
    assert_int_equal(call_losing_reply(c, p, NULL, get, 2, &r), RK_OK);
    assert_string_equal(rk_reply_str(&r), "kept");
    assert_int_equal(retries, 1);
    rk_reply_free(&r);
    rk_client_free(c);
    rkt_proxy_stop(p);
}

static void test_write_in_flight_is_not_repeated_after_connection_lost(void **state) {
    (void)state;
    rkt_shared_need();
    free(rkt_server_cmd(&rkt_shared, "DEL", "mux:incr", NULL));
    int retries = 0;
    rkt_proxy *p;
    rk_client *c = mux_via_proxy(&p, &retries);
    const rk_str incr[] = {RK_STR("INCR"), RK_STR("mux:incr")};
    rk_reply r;
    assert_int_equal(call_losing_reply(c, p, NULL, incr, 2, &r), RK_EIO);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(retries, 0);
    /* It ran (the server got it before the drop), and only once. */
    long long deadline = now_ms() + 5000;
    while (call_int(c, "EXISTS %s", "mux:incr") == 0 && now_ms() < deadline)
        sleep_ms(5);
    sleep_ms(50);
    assert_int_equal(call_int(c, "INCRBY %s 0", "mux:incr"), 1);
    rk_client_free(c);
    rkt_proxy_stop(p);
}

static void test_idempotent_write_is_repeated_after_connection_lost(void **state) {
    (void)state;
    rkt_shared_need();
    free(rkt_server_cmd(&rkt_shared, "DEL", "mux:idem", NULL));
    int retries = 0;
    rkt_proxy *p;
    rk_client *c = mux_via_proxy(&p, &retries);
    const rk_str incr[] = {RK_STR("INCR"), RK_STR("mux:idem")};
    rk_call_opts o = {.idempotent = true};
    rk_reply r;
    assert_int_equal(call_losing_reply(c, p, &o, incr, 2, &r), RK_OK);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_INTEGER);
    assert_int_equal(retries, 1);
    rk_client_free(c);
    rkt_proxy_stop(p);
}

/* ---- the URL ------------------------------------------------------------ */

/* The CLIENT ID of the connection a call of c goes on; -1 while calls
 * fail (call_int would stop the test). */
static long long connection_id(rk_client *c) {
    rk_reply r;
    if (rk_client_call(c, &r, "CLIENT ID") != RK_OK)
        return -1;
    long long id = rk_reply_type(&r) == RK_REPLY_INTEGER ? rk_reply_int(&r) : -1;
    rk_reply_free(&r);
    return id;
}

/* The server stops answering (SIGSTOP: the link stays up, as a
 * black-holed one does): the calls time out, and the engine replaces the
 * silent connection (the async client's stall rule: the oldest call late
 * and 1 s of silence, twice the 300 ms command timeout but at least 1 s)
 * instead of sending every later call on it until TCP gives up. Once the
 * server is back the calls go on a new connection. */
static void test_silent_connection_is_replaced_after_late_calls(void **state) {
    (void)state;
    rkt_server srv;
    if (rkt_server_start(&srv, NULL) != 0)
        fail_msg("no server of its own to freeze");
    rk_client *c = mux_client(
        rkt_server_port(&srv),
        (rk_options){.command_timeout_ms = 300, .connect_timeout_ms = 300, .retry.attempts = 1});
    long long before = call_int(c, "CLIENT ID", NULL);
    rkt_server_freeze(&srv);
    for (int i = 0; i < 6; i++) { /* late, or failed with the connection */
        rk_reply r;
        assert_int_not_equal(rk_client_call(c, &r, "GET k"), RK_OK);
        rk_reply_free(&r);
    }
    rkt_server_thaw(&srv);
    long long after = -1, start = now_ms();
    while (after < 0 && now_ms() - start < 10000) {
        after = connection_id(c);
        if (after < 0)
            sleep_ms(50);
    }
    assert_true(after > 0);
    assert_true(after != before);
    rk_client_free(c);
    rkt_server_stop(&srv);
}

static void test_url_mode_mux_selects_the_multiplexed_client(void **state) {
    (void)state;
    rkt_shared_need();
    char url[96];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/?mode=mux&mux_connections=2",
             rkt_server_port(&rkt_shared));
    rk_client *c = rk_client_new_url(url, NULL);
    assert_non_null(c);
    assert_int_equal(rk_client_options(c)->mode, RK_MODE_MUX);
    assert_int_equal(rk_client_options(c)->mux_connections, 2);
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK);
    assert_int_equal(pooled_created(c), 0); /* not a pooled call */
    rk_client_free(c);
}

/* ---- freeing ------------------------------------------------------------ */

typedef struct stuck_call {
    rk_client *c;
    int rc;
} stuck_call;

#define STUCK_GET "*2\r\n$3\r\nGET\r\n$9\r\nmux:stuck\r\n"

static void *call_into_sleep(void *arg) {
    stuck_call *s = arg;
    const rk_str get[] = {RK_STR("GET"), RK_STR("mux:stuck")};
    s->rc = rk_client_call_argv(s->c, NULL, get, 2);
    return NULL;
}

/* Waits until the proxy has forwarded `bytes` more than `from`. */
static void await_forwarded(rkt_proxy *p, unsigned long long from, unsigned long long bytes) {
    rkt_proxy_stats st;
    for (long long deadline = now_ms() + 5000; now_ms() < deadline; sleep_ms(1)) {
        rkt_proxy_get_stats(p, &st);
        if (st.bytes_up >= from + bytes)
            return;
    }
    fail_msg("the calls did not reach the server");
}

static void test_free_completes_calls_in_flight(void **state) {
    (void)state;
    rkt_shared_need();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(p);
    rk_client *c = mux_client(rkt_proxy_port(p), (rk_options){.command_timeout_ms = 10000});
    rk_client *sleeper = mux_client(0, (rk_options){0});
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK);
    /* The server sleeps 2 s: the GETs below wait in flight. */
    rk_call_opts no_wait = {.timeout_ms = 50, .no_retry = true};
    const rk_str sleep[] = {RK_STR("DEBUG"), RK_STR("SLEEP"), RK_STR("2")};
    assert_int_equal(rk_client_call_argv_opts(sleeper, NULL, &no_wait, sleep, 3), RK_ETIMEOUT);
    rkt_proxy_stats before;
    rkt_proxy_get_stats(p, &before);
    enum { N = 4 };
    pthread_t t[N];
    stuck_call s[N];
    for (int i = 0; i < N; i++) {
        s[i] = (stuck_call){.c = c};
        assert_int_equal(pthread_create(&t[i], NULL, call_into_sleep, &s[i]), 0);
    }
    /* Every call was sent: each is inside the client, waiting. */
    await_forwarded(p, before.bytes_up, N * strlen(STUCK_GET));
    long long start = now_ms();
    rk_client_free(c);
    assert_true(now_ms() - start < 1500); /* not after the server's 2 s */
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(s[i].rc, RK_ECANCELED);
    }
    rk_client_free(sleeper);
    rkt_proxy_stop(p);
}

/* ---- several connections ------------------------------------------------- */

static void *get_a_few(void *arg) {
    rk_client *c = arg;
    for (int i = 0; i < 200; i++)
        if (rk_client_call(c, NULL, "GET mux:few") != RK_OK)
            return (void *)1;
    return NULL;
}

/* The server's connections named name (CLIENT LIST). */
static int connections_named(const char *name) {
    char *list = rkt_server_cmd(&rkt_shared, "CLIENT", "LIST", NULL);
    assert_non_null(list);
    char needle[64];
    snprintf(needle, sizeof needle, " name=%s ", name);
    int n = 0;
    for (const char *q = list; (q = strstr(q, needle)) != NULL; q++)
        n++;
    free(list);
    return n;
}

static void test_calls_spread_over_mux_connections(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = mux_client(0, (rk_options){.mux_connections = 2, .client_name = "muxpair"});
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, get_a_few, c), 0);
    for (int i = 0; i < 8; i++) {
        void *failed;
        pthread_join(t[i], &failed);
        assert_null(failed);
    }
    assert_int_equal(connections_named("muxpair"), 2);
    assert_int_equal(pooled_created(c), 0);
    rk_client_free(c);
}

/* ---- fork ---------------------------------------------------------------- */

static void test_forked_child_gets_eclosed_and_parent_carries_on(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = mux_client(0, (rk_options){0});
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* no engine thread here: refused, not hung */
        int rc = rk_client_call(c, NULL, "PING");
        rk_client_free(c);
        _exit(rc == RK_ECLOSED ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK);
    rk_client_free(c);
}

int main(void) {
    static const char *const config[] = {"enable-debug-command yes", NULL}; /* DEBUG SLEEP */
    rkt_shared_opts.config = config;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_each_get_their_own_replies),
        cmocka_unit_test(test_threads_with_short_deadlines_each_complete_once),
        cmocka_unit_test(test_typed_calls_keep_their_shapes_on_resp2),
        cmocka_unit_test(test_typed_calls_keep_their_shapes_on_resp3),
        cmocka_unit_test(test_call_timeout_fails_slow_call_and_keeps_connection),
        cmocka_unit_test(test_command_timeout_bounds_multiplexed_calls),
        cmocka_unit_test(test_call_timeout_holds_behind_a_call_in_flight),
        cmocka_unit_test(test_bad_mode_options_are_refused),
        cmocka_unit_test(test_blocking_command_does_not_stall_other_calls),
        cmocka_unit_test(test_pipeline_runs_in_mux_mode),
        cmocka_unit_test(test_transaction_runs_in_mux_mode),
        cmocka_unit_test(test_read_only_call_is_retried_after_connection_lost),
        cmocka_unit_test(test_write_in_flight_is_not_repeated_after_connection_lost),
        cmocka_unit_test(test_idempotent_write_is_repeated_after_connection_lost),
        cmocka_unit_test(test_url_mode_mux_selects_the_multiplexed_client),
        cmocka_unit_test(test_free_completes_calls_in_flight),
        cmocka_unit_test(test_calls_spread_over_mux_connections),
        cmocka_unit_test(test_forked_child_gets_eclosed_and_parent_carries_on),
        cmocka_unit_test(test_silent_connection_is_replaced_after_late_calls),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
