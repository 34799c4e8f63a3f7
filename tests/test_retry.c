/* Retries and timeouts of rk_client against real servers, a fault-injecting
 * proxy and a scripted fake server: which failures are retried (never a
 * command that may have run, unless it is read-only or marked idempotent),
 * the attempt numbers and delays the on_retry hook sees, LOADING replies,
 * command timeouts. Also a unit test of the retry-safety table
 * (src/meta/classes.c). Needs redis-server; skips the server tests
 * without it. */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rediskit/client.h"
#include "rediskit/error.h"
#include "rediskit/reply.h"
#include "rediskit/script.h"
#include "rediskit/writer.h"
#include "rkt_dropper.h"
#include "rkt_fakeserver.h"
#include "rkt_proxy.h"
#include "rkt_server.h"
#include "rkt_shared.h"

#include "meta/classes.h"

/* The server most tests share (started by the group setup), or none. */

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

/* What the on_retry hook saw, in order. */
#define MAX_RETRIES 16
typedef struct retry_log {
    int n;
    int attempt[MAX_RETRIES];
    int delay[MAX_RETRIES];
    int error[MAX_RETRIES];
    void (*then)(struct retry_log *log); /* run after recording, if set */
    rkt_server *srv;                     /* for `then` */
} retry_log;

static void record_retry(void *userdata, int attempt, int delay_ms, int error) {
    retry_log *log = userdata;
    if (log->n < MAX_RETRIES) {
        log->attempt[log->n] = attempt;
        log->delay[log->n] = delay_ms;
        log->error[log->n] = error;
    }
    log->n++;
    if (log->then)
        log->then(log);
}

/* A client of 127.0.0.1:port whose retries are recorded in log, with
 * policy's other fields as given. */
static rk_client *client_at(int port, rk_retry policy, retry_log *log) {
    policy.on_retry = record_retry;
    policy.userdata = log;
    rk_client *c = rk_client_new(&(rk_options){.port = port, .retry = policy});
    assert_non_null(c);
    return c;
}

/* The integer a key of the shared server holds, read without rediskit;
 * -1 when it is missing. */
static long long server_int(const rkt_server *srv, const char *key) {
    char *raw = rkt_server_cmd(srv, "GET", key, NULL);
    assert_non_null(raw);
    long long v = -1;
    if (raw[0] == '$' && strcmp(raw, "$-1\r\n") != 0)
        v = atoll(strchr(raw, '\n') + 1);
    free(raw);
    return v;
}

/* Waits (up to 5 s) until key holds want on the server; returns what it
 * holds at the end. */
static long long await_server_int(const rkt_server *srv, const char *key, long long want) {
    long long deadline = now_ms() + 5000, v;
    while ((v = server_int(srv, key)) != want && now_ms() < deadline)
        sleep_ms(5);
    return v;
}

static void server_del(const rkt_server *srv, const char *key) {
    free(rkt_server_cmd(srv, "DEL", key, NULL));
}

/* Drops the connections of a proxy right after the next command went
 * through it, before the server can answer (rkt_dropper.h). */
static void arm_dropper(rkt_dropper *d, rkt_proxy *p, rkt_server *srv) {
    if (rkt_dropper_arm(d, p, srv) != 0)
        fail_msg("cannot arm the dropper");
}

static void join_dropper(rkt_dropper *d) {
    assert_true(rkt_dropper_join(d));
}

/* A proxy to the shared server and a client through it with one warm
 * pooled connection (so that the next command is sent at once). */
static rk_client *client_via_proxy(rkt_proxy **p, rk_retry policy, retry_log *log) {
    *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(*p);
    rk_client *c = client_at(rkt_proxy_port(*p), policy, log);
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK);
    return c;
}

/* ---- connect failures --------------------------------------------------- */

static void test_refused_connect_is_retried_then_econnect(void **state) {
    (void)state;
    retry_log log = {0};
    int port = rkt_free_port(); /* nothing listens there */
    rk_client *c = client_at(
        port, (rk_retry){.attempts = 3, .backoff = RK_BACKOFF_CONSTANT, .base_ms = 5}, &log);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "PING"), RK_ECONNECT);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_error_last()->code, RK_ECONNECT);
    assert_int_equal(log.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(log.attempt[i], i + 2);
        assert_int_equal(log.delay[i], 5); /* constant: exactly base */
        assert_int_equal(log.error[i], RK_ECONNECT);
    }
    rk_client_free(c);
}

static void test_jittered_delays_stay_within_cap(void **state) {
    (void)state;
    retry_log log = {0};
    rk_retry policy = {.attempts = 8, .base_ms = 2, .cap_ms = 12}; /* equal jitter */
    rk_client *c = client_at(rkt_free_port(), policy, &log);
    long long start = now_ms();
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_ECONNECT);
    long long elapsed = now_ms() - start;
    assert_int_equal(log.n, 7);
    long long slept = 0;
    for (int i = 0; i < log.n; i++) {
        assert_int_equal(log.attempt[i], i + 2);
        assert_in_range(log.delay[i], 0, 12);
        slept += log.delay[i];
    }
    assert_true(elapsed >= slept); /* the delays were really slept */
    rk_client_free(c);
}

static void test_unknown_host_is_eresolve(void **state) {
    (void)state;
    retry_log log = {0};
    rk_client *c = rk_client_new(&(rk_options){
        .host = "no-such-host.invalid",
        .retry = {.backoff = RK_BACKOFF_NONE, .on_retry = record_retry, .userdata = &log}});
    assert_non_null(c);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "PING"), RK_ERESOLVE);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_error_last()->code, RK_ERESOLVE);
    assert_string_equal(rk_error_last()->prefix, "");
    rk_client_free(c);
}

static void test_no_retry_call_option_disables_retries(void **state) {
    (void)state;
    retry_log log = {0};
    rk_client *c = client_at(rkt_free_port(), (rk_retry){.attempts = 5}, &log);
    const rk_str argv[] = {RK_STR("PING")};
    rk_call_opts opts = {.no_retry = true};
    assert_int_equal(rk_client_call_argv_opts(c, NULL, &opts, argv, 1), RK_ECONNECT);
    assert_int_equal(log.n, 0);
    rk_client_free(c);
}

static void test_attempts_one_never_retries(void **state) {
    (void)state;
    retry_log log = {0};
    rk_client *c = client_at(rkt_free_port(), (rk_retry){.attempts = 1}, &log);
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_ECONNECT);
    assert_int_equal(log.n, 0);
    rk_client_free(c);
}

/* The server is down at the first attempt and comes up before the retry:
 * the INCR was never sent, so retrying it is safe and it runs once. */
static void restart_server(retry_log *log) {
    if (log->n == 1)
        assert_int_equal(rkt_server_restart(log->srv), 0);
}

static void test_unsent_command_is_retried_even_if_not_idempotent(void **state) {
    (void)state;
    if (!rkt_require_binaries("redis-server", NULL))
        skip();
    rkt_server srv;
    assert_int_equal(rkt_server_start(&srv, NULL), 0);
    rkt_server_kill(&srv);
    retry_log log = {.then = restart_server, .srv = &srv};
    rk_client *c = client_at(rkt_server_port(&srv),
                             (rk_retry){.attempts = 3, .backoff = RK_BACKOFF_NONE}, &log);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "INCR unsent"), RK_OK);
    assert_int_equal(rk_reply_int(&r), 1);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.error[0], RK_ECONNECT);
    assert_int_equal(server_int(&srv, "unsent"), 1);
    rk_client_free(c);
    rkt_server_stop(&srv);
}

/* A pooled connection the server closed while it sat idle is found dead
 * before the command is written, so even an INCR goes through, once. */
static void test_dead_idle_connection_is_replaced_before_sending(void **state) {
    (void)state;
    rkt_shared_need();
    server_del(&rkt_shared, "idle-incr");
    retry_log log = {0};
    rk_client *c = client_at(rkt_server_port(&rkt_shared), (rk_retry){0}, &log);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "CLIENT ID"), RK_OK);
    char id[32];
    snprintf(id, sizeof id, "%lld", rk_reply_int(&r));
    char *killed = rkt_server_cmd(&rkt_shared, "CLIENT", "KILL", "ID", id, NULL);
    assert_string_equal(killed, ":1\r\n");
    free(killed);
    sleep_ms(150); /* idle past the 100 ms after which a connection is polled */
    assert_int_equal(rk_client_call(c, &r, "INCR idle-incr"), RK_OK);
    assert_int_equal(rk_reply_int(&r), 1);
    assert_int_equal(server_int(&rkt_shared, "idle-incr"), 1);
    rk_pool_stats st;
    rk_client_pool_stats(c, &st);
    assert_int_equal(st.created, 2);
    rk_client_free(c);
}

/* ---- failures after sending --------------------------------------------- */

/* GETs key (stored as "kept") through a proxy that drops the connection
 * once the command is sent: the read must be retried once and answered.
 * by_conversion names the command through a "%s" conversion. */
static void assert_get_retried_after_drop(const char *key, bool by_conversion) {
    rkt_shared_need();
    free(rkt_server_cmd(&rkt_shared, "SET", key, "kept", NULL));
    retry_log log = {0};
    rkt_proxy *p;
    rk_client *c = client_via_proxy(&p, (rk_retry){.backoff = RK_BACKOFF_NONE}, &log);
    rkt_dropper d;
    arm_dropper(&d, p, &rkt_shared);
    rk_reply r;
    int rc = by_conversion ? rk_client_call(c, &r, "%s %s", "GET", key)
                           : rk_client_call(c, &r, "GET %s", key);
    join_dropper(&d);
    assert_int_equal(rc, RK_OK);
    assert_string_equal(rk_reply_str(&r), "kept");
    assert_int_equal(log.n, 1);
    assert_int_equal(log.error[0], RK_EIO);
    rk_reply_free(&r);
    rk_client_free(c);
    rkt_proxy_stop(p);
}

static void test_read_only_command_is_retried_after_connection_drop(void **state) {
    (void)state;
    assert_get_retried_after_drop("ro-key", false);
}

/* Retry safety comes from the command as built: "%s %s" with GET is a
 * read like any other. */
static void test_read_only_command_named_by_conversion_is_retried(void **state) {
    (void)state;
    assert_get_retried_after_drop("ro-conv", true);
}

/* A script run read-only (EVALSHA_RO) whose connection is dropped once
 * it is sent is repeated, as a read is; the same script by rk_script_run
 * (EVALSHA, which may write) is not. */
static void test_read_only_script_is_retried_after_connection_drop(void **state) {
    (void)state;
    rkt_shared_need();
    free(rkt_server_cmd(&rkt_shared, "SET", "ro-script", "kept", NULL));
    rk_script *s = rk_script_new("return redis.call('get', KEYS[1])", 33);
    assert_non_null(s);
    const rk_str keys[] = {RK_STR("ro-script")};
    for (int read_only = 1; read_only >= 0; read_only--) {
        retry_log log = {0};
        rkt_proxy *p;
        rk_client *c = client_via_proxy(&p, (rk_retry){.backoff = RK_BACKOFF_NONE}, &log);
        assert_int_equal(rk_script_preload(c, s), RK_OK);
        rkt_dropper d;
        arm_dropper(&d, p, &rkt_shared);
        rk_reply r;
        int rc = read_only ? rk_script_run_ro(c, s, keys, 1, NULL, 0, &r)
                           : rk_script_run(c, s, keys, 1, NULL, 0, &r);
        join_dropper(&d);
        if (read_only) {
            assert_int_equal(rc, RK_OK);
            assert_string_equal(rk_reply_str(&r), "kept");
            assert_int_equal(log.n, 1);
            assert_int_equal(log.error[0], RK_EIO);
        } else {
            assert_int_equal(rc, RK_EIO);
            assert_int_equal(log.n, 0);
        }
        rk_reply_free(&r);
        rk_client_free(c);
        rkt_proxy_stop(p);
    }
    rk_script_free(s);
}

static void test_lost_reply_of_incr_is_not_repeated(void **state) {
    (void)state;
    rkt_shared_need();
    server_del(&rkt_shared, "lost-incr");
    retry_log log = {0};
    rkt_proxy *p;
    rk_client *c = client_via_proxy(&p, (rk_retry){.backoff = RK_BACKOFF_NONE}, &log);
    rkt_dropper d;
    arm_dropper(&d, p, &rkt_shared);
    rk_reply r;
    int rc = rk_client_call(c, &r, "INCR lost-incr");
    join_dropper(&d);
    assert_int_equal(rc, RK_EIO);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(log.n, 0);
    /* The server ran it (once thawed), and only once. */
    assert_int_equal(await_server_int(&rkt_shared, "lost-incr", 1), 1);
    sleep_ms(50);
    assert_int_equal(server_int(&rkt_shared, "lost-incr"), 1);
    rk_client_free(c);
    rkt_proxy_stop(p);
}

static void test_idempotent_call_is_retried_after_lost_reply(void **state) {
    (void)state;
    rkt_shared_need();
    server_del(&rkt_shared, "idem-incr");
    retry_log log = {0};
    rkt_proxy *p;
    rk_client *c = client_via_proxy(&p, (rk_retry){.backoff = RK_BACKOFF_NONE}, &log);
    rkt_dropper d;
    arm_dropper(&d, p, &rkt_shared);
    const rk_str argv[] = {RK_STR("INCR"), RK_STR("idem-incr")};
    rk_call_opts opts = {.idempotent = true};
    rk_reply r;
    int rc = rk_client_call_argv_opts(c, &r, &opts, argv, 2);
    join_dropper(&d);
    assert_int_equal(rc, RK_OK);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_INTEGER);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.error[0], RK_EIO);
    /* The caller said repeating is fine: it ran twice. */
    assert_int_equal(await_server_int(&rkt_shared, "idem-incr", 2), 2);
    rk_client_free(c);
    rkt_proxy_stop(p);
}

static void test_no_retry_call_option_keeps_read_only_command_failed(void **state) {
    (void)state;
    rkt_shared_need();
    retry_log log = {0};
    rkt_proxy *p;
    rk_client *c = client_via_proxy(&p, (rk_retry){.backoff = RK_BACKOFF_NONE}, &log);
    rkt_dropper d;
    arm_dropper(&d, p, &rkt_shared);
    const rk_str argv[] = {RK_STR("GET"), RK_STR("whatever")};
    rk_call_opts opts = {.no_retry = true};
    int rc = rk_client_call_argv_opts(c, NULL, &opts, argv, 2);
    join_dropper(&d);
    assert_int_equal(rc, RK_EIO);
    assert_int_equal(log.n, 0);
    rk_client_free(c);
    rkt_proxy_stop(p);
}

/* ---- server errors that mean "not run" ---------------------------------- */

#define LOADING "-LOADING Redis is loading the dataset in memory\r\n"

static rkt_fake *fake_loading_twice(void) {
    static const char *const get[] = {"GET", "k", NULL};
    rkt_fake_step steps[] = {
        {.expect = get, .reply = LOADING},
        {.expect = get, .reply = LOADING},
        {.expect = get, .reply = "$5\r\nvalue\r\n"},
    };
    rkt_fake *f = rkt_fake_start(steps, 3, NULL);
    assert_non_null(f);
    return f;
}

static void test_loading_reply_is_retried_until_ok(void **state) {
    (void)state;
    rkt_fake *f = fake_loading_twice();
    retry_log log = {0};
    rk_client *c = client_at(rkt_fake_port(f), (rk_retry){.attempts = 3, .cap_ms = 20}, &log);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "GET k"), RK_OK);
    assert_string_equal(rk_reply_str(&r), "value");
    assert_int_equal(log.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(log.attempt[i], i + 2);
        assert_int_equal(log.error[i], RK_ESERVER);
        assert_in_range(log.delay[i], 0, 20);
    }
    assert_null(rkt_fake_error(f));
    assert_int_equal(rkt_fake_steps_left(f), 0);
    rk_reply_free(&r);
    rk_client_free(c);
    rkt_fake_free(f);
}

static void test_loading_reply_is_returned_when_retries_run_out(void **state) {
    (void)state;
    rkt_fake *f = fake_loading_twice();
    retry_log log = {0};
    rk_client *c =
        client_at(rkt_fake_port(f), (rk_retry){.attempts = 2, .backoff = RK_BACKOFF_NONE}, &log);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "GET k"), RK_ESERVER);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ERROR);
    assert_string_equal(rk_error_last()->prefix, "LOADING");
    assert_int_equal(log.n, 1);
    rk_reply_free(&r);
    rk_client_free(c);
    rkt_fake_free(f);
}

static void test_loading_reply_is_not_retried_with_no_errors_mask(void **state) {
    (void)state;
    rkt_fake *f = fake_loading_twice();
    retry_log log = {0};
    rk_client *c = client_at(rkt_fake_port(f), (rk_retry){.on_errors = RK_RETRY_NO_ERRORS}, &log);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "GET k"), RK_ESERVER);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ERROR);
    assert_string_equal(rk_error_last()->prefix, "LOADING");
    assert_int_equal(log.n, 0);
    assert_int_equal(rkt_fake_steps_left(f), 2);
    rk_reply_free(&r);
    rk_client_free(c);
    rkt_fake_free(f);
}

static void test_error_outside_mask_is_not_retried(void **state) {
    (void)state;
    static const char *const get[] = {"GET", "k", NULL};
    rkt_fake_step steps[] = {
        {.expect = get, .reply = "-MASTERDOWN Link with MASTER is down\r\n"},
        {.expect = get, .reply = "$2\r\nok\r\n"},
    };
    rkt_fake *f = rkt_fake_start(steps, 2, NULL);
    assert_non_null(f);
    retry_log log = {0};
    rk_client *c = client_at(rkt_fake_port(f), (rk_retry){.on_errors = RK_RETRY_LOADING}, &log);
    assert_int_equal(rk_client_call(c, NULL, "GET k"), RK_ESERVER);
    assert_string_equal(rk_error_last()->prefix, "MASTERDOWN");
    assert_int_equal(log.n, 0);
    rk_client_free(c);
    rkt_fake_free(f);
}

/* ---- timeouts ----------------------------------------------------------- */

static void test_command_timeout_on_frozen_server_is_not_retried_for_incr(void **state) {
    (void)state;
    rkt_shared_need();
    server_del(&rkt_shared, "frozen-incr");
    retry_log log = {0};
    rk_client *c = rk_client_new(&(rk_options){
        .port = rkt_server_port(&rkt_shared),
        .command_timeout_ms = 200,
        .retry = {.backoff = RK_BACKOFF_NONE, .on_retry = record_retry, .userdata = &log}});
    assert_non_null(c);
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK); /* connected */
    assert_int_equal(rkt_server_freeze_stopped(&rkt_shared), 0);
    long long start = now_ms();
    rk_reply r;
    int rc = rk_client_call(c, &r, "INCR frozen-incr");
    long long elapsed = now_ms() - start;
    rkt_server_thaw(&rkt_shared);
    assert_int_equal(rc, RK_ETIMEOUT);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_true(elapsed >= 200);
    assert_int_equal(log.n, 0);
    /* It was sent, so it runs once the server wakes up, and only once. */
    assert_int_equal(await_server_int(&rkt_shared, "frozen-incr", 1), 1);
    rk_client_free(c);
}

static void test_call_timeout_overrides_longer_command_timeout(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = rk_client_new(
        &(rk_options){.port = rkt_server_port(&rkt_shared), .command_timeout_ms = 60000});
    assert_non_null(c);
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK);
    assert_int_equal(rkt_server_freeze_stopped(&rkt_shared), 0);
    const rk_str argv[] = {RK_STR("INCR"), RK_STR("override-incr")};
    rk_call_opts opts = {.timeout_ms = 200};
    long long start = now_ms();
    int rc = rk_client_call_argv_opts(c, NULL, &opts, argv, 2);
    long long elapsed = now_ms() - start;
    rkt_server_thaw(&rkt_shared);
    assert_int_equal(rc, RK_ETIMEOUT);
    assert_true(elapsed >= 200);
    assert_true(elapsed < 20000); /* far from the client's 60 s */
    rk_client_free(c);
}

static void test_call_timeout_overrides_shorter_command_timeout(void **state) {
    (void)state;
    rkt_shared_need();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(p);
    rkt_proxy_set_mode(p, RKT_PROXY_DELAY, 150); /* a round trip takes >= 300 ms */
    rk_client *c = rk_client_new(&(rk_options){
        .port = rkt_proxy_port(p), .command_timeout_ms = 50, .retry = {.attempts = 1}});
    assert_non_null(c);
    const rk_str argv[] = {RK_STR("ECHO"), RK_STR("slow")};
    rk_call_opts opts = {.timeout_ms = 20000};
    rk_reply r;
    assert_int_equal(rk_client_call_argv_opts(c, &r, &opts, argv, 2), RK_OK);
    assert_string_equal(rk_reply_str(&r), "slow");
    rk_reply_free(&r);
    /* Without the override the same call times out. */
    assert_int_equal(rk_client_call_argv_opts(c, NULL, NULL, argv, 2), RK_ETIMEOUT);
    rk_client_free(c);
    rkt_proxy_stop(p);
}

/* A per-call timeout bounds connecting too: a server that never answers
 * the SYN cannot hold the call for the client's (long) connect timeout. */
static void test_call_timeout_bounds_connecting(void **state) {
    (void)state;
    rkt_blackhole *b = rkt_blackhole_start();
    assert_non_null(b);
    rk_client *c = rk_client_new(&(rk_options){
        .port = rkt_blackhole_port(b), .connect_timeout_ms = 30000, .retry = {.attempts = 1}});
    assert_non_null(c);
    const rk_str argv[] = {RK_STR("PING")};
    rk_call_opts opts = {.timeout_ms = 300};
    long long start = now_ms();
    int rc = rk_client_call_argv_opts(c, NULL, &opts, argv, 1);
    long long elapsed = now_ms() - start;
    assert_int_equal(rc, RK_ETIMEOUT);
    assert_true(elapsed >= 300);
    assert_true(elapsed < 15000); /* far from the 30 s connect timeout */
    rk_client_free(c);
    rkt_blackhole_stop(b);
}

/* ... and waiting for a pooled connection. */
static void test_call_timeout_bounds_waiting_for_the_pool(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = rk_client_new(&(rk_options){
        .port = rkt_server_port(&rkt_shared), .pool_size = 1, .pool_timeout_ms = 30000});
    assert_non_null(c);
    rk_conn *held;
    assert_int_equal(rk_client_acquire(c, &held), RK_OK);
    const rk_str argv[] = {RK_STR("PING")};
    rk_call_opts opts = {.timeout_ms = 300};
    long long start = now_ms();
    int rc = rk_client_call_argv_opts(c, NULL, &opts, argv, 1);
    long long elapsed = now_ms() - start;
    assert_int_equal(rc, RK_EPOOL);
    assert_true(elapsed >= 250);
    assert_true(elapsed < 15000); /* far from the 30 s pool timeout */
    rk_client_release(c, held);
    rk_client_free(c);
}

/* ---- the retry-safety table (no server) --------------------------------- */

static bool is_safe(const char *a0, const char *a1) {
    const rk_str argv[] = {rk_cstr(a0), rk_cstr(a1)};
    return rk_command_is_safe(argv, a1 ? 2 : 1);
}

static void test_safe_read_only_commands(void **state) {
    (void)state;
    assert_true(is_safe("GET", NULL));
    assert_true(is_safe("GET", "key"));
    assert_true(is_safe("MGET", "a"));
    assert_true(is_safe("PING", NULL));
    assert_true(is_safe("ZUNION", "2"));   /* the last entry */
    assert_true(is_safe("BITCOUNT", "k")); /* near the first */
}

static void test_safe_ignores_case(void **state) {
    (void)state;
    assert_true(is_safe("get", "key"));
    assert_true(is_safe("gEt", "key"));
    assert_true(is_safe("object", "Encoding"));
}

static void test_safe_container_needs_read_only_subcommand(void **state) {
    (void)state;
    assert_true(is_safe("OBJECT", "ENCODING"));
    assert_true(is_safe("XINFO", "STREAM"));
    assert_true(is_safe("CONFIG", "GET"));
    assert_false(is_safe("OBJECT", NULL));
    assert_false(is_safe("CONFIG", "SET"));
    assert_false(is_safe("CLIENT", "KILL"));
    assert_false(is_safe("XINFO", NULL));
}

static void test_unsafe_write_commands(void **state) {
    (void)state;
    assert_false(is_safe("INCR", "k"));
    assert_false(is_safe("SET", "k"));
    assert_false(is_safe("DEL", "k"));
    assert_false(is_safe("EVAL", "return 1"));
    assert_false(is_safe("FLUSHALL", NULL));
    assert_false(is_safe("NOSUCHCOMMAND", NULL));
}

static void test_safe_uses_argument_lengths(void **state) {
    (void)state;
    const rk_str get[] = {rk_bin("GETSET", 3), RK_STR("k")}; /* "GET" */
    assert_true(rk_command_is_safe(get, 2));
    const rk_str getset[] = {rk_bin("GETSET", 6), RK_STR("k")};
    assert_false(rk_command_is_safe(getset, 2));
    const rk_str sub[] = {rk_bin("OBJECTX", 6), rk_bin("ENCODINGX", 8)};
    assert_true(rk_command_is_safe(sub, 2));
}

static void test_safe_refuses_empty_and_huge_names(void **state) {
    (void)state;
    assert_false(rk_command_is_safe(NULL, 0));
    char huge[200];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_false(is_safe(huge, NULL));
    assert_false(is_safe("OBJECT", huge));
    assert_false(is_safe("", NULL));
}

/* The flags of a command formatted into a writer, as the client judges
 * it: from the arguments built, whatever spelled them. */
static unsigned formatted_flags(const char *fmt, ...) {
    rk_writer *w = rk_writer_new(NULL);
    assert_non_null(w);
    va_list ap;
    va_start(ap, fmt);
    assert_int_equal(rk_writer_vformat(w, fmt, ap), RK_OK);
    va_end(ap);
    unsigned flags = rk_writer_last_flags(w, RK_CMD_SAFE | RK_CMD_STATEFUL);
    rk_writer_free(w);
    return flags;
}

static void test_format_is_judged_by_the_command_it_builds(void **state) {
    (void)state;
    assert_int_equal(formatted_flags("GET %s", "k"), RK_CMD_SAFE);
    assert_int_equal(formatted_flags("%s %s", "GET", "k"), RK_CMD_SAFE);
    assert_int_equal(formatted_flags("OBJECT %s key", "ENCODING"), RK_CMD_SAFE);
    assert_int_equal(formatted_flags("CONFIG GET %s", "x"), RK_CMD_SAFE);
    assert_int_equal(formatted_flags("INCR %s", "k"), 0);
    assert_int_equal(formatted_flags("CONFIG %s %s %s", "SET", "a", "b"), 0);
    assert_int_equal(formatted_flags("GET%s", "x"), 0); /* GETx */
    assert_int_equal(formatted_flags("%s", "MULTI"), RK_CMD_STATEFUL);
    assert_int_equal(formatted_flags("%s %d", "select", 1), RK_CMD_STATEFUL);
    assert_int_equal(formatted_flags("CLIENT %s OFF", "REPLY"), RK_CMD_STATEFUL);
}

/* Judged again and again, in turn (as a program sends them), each command
 * keeps its own classes: INFO and INCR share a first letter and a length,
 * and a container is judged by its subcommand every time. */
static void test_judging_again_gives_the_same_classes(void **state) {
    (void)state;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(formatted_flags("INFO"), RK_CMD_SAFE);
        assert_int_equal(formatted_flags("INCR k"), 0);
        assert_int_equal(formatted_flags("info"), RK_CMD_SAFE);
        assert_int_equal(formatted_flags("CONFIG GET x"), RK_CMD_SAFE);
        assert_int_equal(formatted_flags("CONFIG SET a b"), 0);
        assert_int_equal(formatted_flags("CLIENT REPLY OFF"), RK_CMD_STATEFUL);
        assert_int_equal(formatted_flags("CLIENT LIST"), RK_CMD_SAFE);
        assert_int_equal(formatted_flags("MULTI"), RK_CMD_STATEFUL);
        assert_int_equal(formatted_flags("NOSUCHCOMMAND"), 0);
    }
}

/* Every command the server flags readonly (and not write) is in the table,
 * and no write command is: the table cannot drift from Redis's own flags. */
static bool has_flag(const rk_reply *flags, const char *flag) {
    for (size_t i = 0; i < rk_reply_len(flags); i++)
        if (strcmp(rk_reply_str(rk_reply_at(flags, i)), flag) == 0)
            return true;
    return false;
}

static void check_command_flags(const rk_reply *info, int *checked) {
    const char *name = rk_reply_str(rk_reply_at(info, 0));
    const rk_reply *flags = rk_reply_at(info, 2);
    char buf[128];
    snprintf(buf, sizeof buf, "%s", name);
    char *bar = strchr(buf, '|');
    if (bar)
        *bar++ = '\0';
    bool safe = is_safe(buf, bar);
    if (has_flag(flags, "write") && safe)
        fail_msg("%s writes but is in the safe table", name);
    if (has_flag(flags, "readonly") && !has_flag(flags, "write") && !safe)
        fail_msg("%s is read-only but not in the safe table", name);
    (*checked)++;
    const rk_reply *subs = rk_reply_at(info, 9);
    for (size_t i = 0; subs && i < rk_reply_len(subs); i++)
        check_command_flags(rk_reply_at(subs, i), checked);
}

static void test_safe_table_agrees_with_server_command_flags(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_shared)});
    assert_non_null(c);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "COMMAND INFO"), RK_OK);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ARRAY);
    int checked = 0;
    for (size_t i = 0; i < rk_reply_len(&r); i++)
        check_command_flags(rk_reply_at(&r, i), &checked);
    assert_true(checked > 200);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- main --------------------------------------------------------------- */

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_connect_is_retried_then_econnect),
        cmocka_unit_test(test_jittered_delays_stay_within_cap),
        cmocka_unit_test(test_unknown_host_is_eresolve),
        cmocka_unit_test(test_no_retry_call_option_disables_retries),
        cmocka_unit_test(test_attempts_one_never_retries),
        cmocka_unit_test(test_unsent_command_is_retried_even_if_not_idempotent),
        cmocka_unit_test(test_dead_idle_connection_is_replaced_before_sending),
        cmocka_unit_test(test_read_only_command_is_retried_after_connection_drop),
        cmocka_unit_test(test_read_only_command_named_by_conversion_is_retried),
        cmocka_unit_test(test_read_only_script_is_retried_after_connection_drop),
        cmocka_unit_test(test_lost_reply_of_incr_is_not_repeated),
        cmocka_unit_test(test_idempotent_call_is_retried_after_lost_reply),
        cmocka_unit_test(test_no_retry_call_option_keeps_read_only_command_failed),
        cmocka_unit_test(test_loading_reply_is_retried_until_ok),
        cmocka_unit_test(test_loading_reply_is_returned_when_retries_run_out),
        cmocka_unit_test(test_loading_reply_is_not_retried_with_no_errors_mask),
        cmocka_unit_test(test_error_outside_mask_is_not_retried),
        cmocka_unit_test(test_command_timeout_on_frozen_server_is_not_retried_for_incr),
        cmocka_unit_test(test_call_timeout_overrides_longer_command_timeout),
        cmocka_unit_test(test_call_timeout_overrides_shorter_command_timeout),
        cmocka_unit_test(test_call_timeout_bounds_connecting),
        cmocka_unit_test(test_call_timeout_bounds_waiting_for_the_pool),
        cmocka_unit_test(test_safe_read_only_commands),
        cmocka_unit_test(test_safe_ignores_case),
        cmocka_unit_test(test_safe_container_needs_read_only_subcommand),
        cmocka_unit_test(test_unsafe_write_commands),
        cmocka_unit_test(test_safe_uses_argument_lengths),
        cmocka_unit_test(test_safe_refuses_empty_and_huge_names),
        cmocka_unit_test(test_format_is_judged_by_the_command_it_builds),
        cmocka_unit_test(test_judging_again_gives_the_same_classes),
        cmocka_unit_test(test_safe_table_agrees_with_server_command_flags),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
