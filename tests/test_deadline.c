/* Deadlines and timeouts: blocking commands that block for ever (or longer
 * than the command timeout) on a client with a command timeout, typed or
 * raw, the finite default command timeout, timeouts of INT_MAX on every read path (TCP, Unix
 * socket, TLS), the idle health check bounded by the call's deadline or the
 * command timeout, and rk_sleep_ms with values that are no sleep at all.
 * Needs redis-server (and openssl for the TLS case); skips without them. */
#define _GNU_SOURCE

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rediskit/rediskit.h"
#include "resp/command_int.h"
#include "rkt_cmd.h"
#include "rkt_fakeserver.h"
#include "rkt_proxy.h"
#include "rkt_server.h"
#include "rkt_shared.h"
#include "util/common.h"

/* A command timeout far shorter than the waits below: a blocking call that
 * still obeyed it would fail. */
#define SHORT_TIMEOUT_MS 200

/* ---- helpers ------------------------------------------------------------ */

/* A client of the shared server (TCP) with these options on top. */
static rk_client *shared_client(rk_options o) {
    rkt_shared_need();
    o.port = rkt_server_port(&rkt_shared);
    rk_client *c = rk_client_new(&o);
    if (c == NULL)
        fail_msg("rk_client_new: %s", rk_error_last()->message);
    return c;
}

static bool server_has_blocked_client(void) {
    char *info = rkt_server_cmd(&rkt_shared, "INFO", "clients", NULL);
    bool blocked = info != NULL && strstr(info, "blocked_clients:0") == NULL;
    free(info);
    return blocked;
}

/* Another thread waits until a client is blocked on the shared server, then
 * longer than the command timeout, then runs one raw command (bounded: after
 * 5 s it runs it anyway, so nothing hangs). */
typedef struct feeder {
    pthread_t thread;
    const char *argv[6]; /* the command, NULL-terminated */
    bool saw_blocked;
} feeder;

static void *feeder_main(void *arg) {
    feeder *f = arg;
    for (int i = 0; i < 500 && !f->saw_blocked; i++) {
        f->saw_blocked = server_has_blocked_client();
        if (!f->saw_blocked)
            rk_sleep_ms(10);
    }
    rk_sleep_ms(2 * SHORT_TIMEOUT_MS);
    const char *const *a = f->argv;
    free(rkt_server_cmd(&rkt_shared, a[0], a[1], a[2], a[3], a[4], a[5], NULL));
    return NULL;
}

static void feeder_start(feeder *f) {
    assert_int_equal(pthread_create(&f->thread, NULL, feeder_main, f), 0);
}

/* Joins the thread; then the call must have succeeded, after it blocked. */
static void feeder_join(feeder *f, int rc) {
    pthread_join(f->thread, NULL);
    RKT_OK(rc);
    assert_true(f->saw_blocked);
}

/* r is a list pop's answer [key, "pushed"]; frees it. */
static void expect_popped(rk_reply *r) {
    rkt_expect_shape(r, RK_REPLY_ARRAY, 2);
    assert_string_equal(rk_reply_str(rk_reply_at(r, 1)), "pushed");
    rk_reply_free(r);
}

/* SET, GET and PING work on c. */
static void expect_ordinary_calls_work(rk_client *c, const rk_call_opts *opts) {
    rk_reply r;
    const rk_str set[] = {RK_STR("SET"), RK_STR("dl:k"), RK_STR("v")};
    const rk_str get[] = {RK_STR("GET"), RK_STR("dl:k")};
    const rk_str ping[] = {RK_STR("PING")};
    RKT_OK(rk_client_call_argv_opts(c, &r, opts, set, 3));
    rk_reply_free(&r);
    RKT_OK(rk_client_call_argv_opts(c, &r, opts, get, 2));
    assert_string_equal(rk_reply_str(&r), "v");
    rk_reply_free(&r);
    RKT_OK(rk_client_call_argv_opts(c, &r, opts, ping, 1));
    assert_string_equal(rk_reply_str(&r), "PONG");
    rk_reply_free(&r);
}

/* ---- blocking commands that block for ever -------------------------------- */

static void test_blpop_forever_with_command_timeout_gets_element_pushed_later(void **state) {
    (void)state;
    rk_client *c = shared_client((rk_options){.command_timeout_ms = SHORT_TIMEOUT_MS});
    feeder f = {.argv = {"RPUSH", "dl:list", "pushed", NULL}};
    feeder_start(&f);
    rk_reply r;
    int rc = rk_blpop(c, (const char *[]){"dl:list"}, 1, 0, &r);
    feeder_join(&f, rc);
    expect_popped(&r);
    rk_client_free(c);
}

static void test_blmove_forever_with_command_timeout_moves_element_pushed_later(void **state) {
    (void)state;
    rk_client *c = shared_client((rk_options){.command_timeout_ms = SHORT_TIMEOUT_MS});
    feeder f = {.argv = {"RPUSH", "dl:src", "moved", NULL}};
    feeder_start(&f);
    char *out = NULL;
    int rc = rk_blmove(c, "dl:src", "dl:dst", RK_LEFT, RK_RIGHT, 0, &out, NULL);
    feeder_join(&f, rc);
    assert_string_equal(out, "moved");
    rk_free(out);
    rk_client_free(c);
}

static void test_xread_block_zero_with_command_timeout_gets_entry_added_later(void **state) {
    (void)state;
    rk_client *c = shared_client((rk_options){.command_timeout_ms = SHORT_TIMEOUT_MS});
    feeder f = {.argv = {"XADD", "dl:stream", "*", "field", "added", NULL}};
    feeder_start(&f);
    rk_reply r;
    int rc = rk_xread(c, (const char *[]){"dl:stream"}, 1, (const char *[]){"$"}, 1,
                      &(rk_xread_opts){.block = 0, .block_set = true}, &r);
    feeder_join(&f, rc);
    const rk_reply *entries = rkt_map_expect(&r, "dl:stream", NULL);
    rkt_expect_shape(entries, RK_REPLY_ARRAY, 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* The raw call paths read the blocking time from the command itself. */
static void test_raw_blpop_gets_an_element_pushed_after_the_command_timeout(void **state) {
    (void)state;
    rk_client *c = shared_client((rk_options){.command_timeout_ms = SHORT_TIMEOUT_MS});
    feeder f = {.argv = {"RPUSH", "dl:raw", "pushed", NULL}};
    feeder_start(&f);
    rk_reply r;
    int rc = rk_client_call(c, &r, "BLPOP dl:raw 7");
    feeder_join(&f, rc);
    expect_popped(&r);
    rk_client_free(c);
}

static void test_raw_blpop_for_ever_waits_past_the_command_timeout(void **state) {
    (void)state;
    rk_client *c = shared_client((rk_options){.command_timeout_ms = SHORT_TIMEOUT_MS});
    feeder f = {.argv = {"RPUSH", "dl:raw0", "pushed", NULL}};
    feeder_start(&f);
    rk_reply r;
    const rk_str blpop[] = {RK_STR("BLPOP"), RK_STR("dl:raw0"), RK_STR("0")};
    int rc = rk_client_call_argv(c, &r, blpop, 3);
    feeder_join(&f, rc);
    expect_popped(&r);
    rk_client_free(c);
}

static void test_conn_blpop_gets_an_element_pushed_after_the_command_timeout(void **state) {
    (void)state;
    rkt_shared_need();
    rk_conn *c = rk_conn_new(&(rk_options){.port = rkt_server_port(&rkt_shared),
                                           .command_timeout_ms = SHORT_TIMEOUT_MS});
    assert_non_null(c);
    feeder f = {.argv = {"RPUSH", "dl:conn", "pushed", NULL}};
    feeder_start(&f);
    rk_reply r;
    int rc = rk_conn_call(c, &r, "BLPOP dl:conn 7");
    feeder_join(&f, rc);
    expect_popped(&r);
    rk_conn_free(c);
}

/* ---- the default command timeout ------------------------------------------ */

/* A fake server that answers the handshake, then never answers GET k. */
static rkt_fake *never_answers_get(void) {
    rkt_fake_step step = {.expect = (const char *[]){"GET", "k", NULL}, .reply = NULL};
    rkt_fake *f = rkt_fake_start(&step, 1, NULL);
    assert_non_null(f);
    return f;
}

static void test_default_command_timeout_ends_a_call_never_answered(void **state) {
    (void)state;
    rkt_fake *f = never_answers_get();
    /* The defaults but one attempt: a retry would find the script over. */
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(f), .retry = {.attempts = 1}});
    assert_non_null(c);
    rk_reply r;
    RKT_RC(rk_client_call(c, &r, "GET k"), RK_ETIMEOUT);
    rk_client_free(c);
    rkt_fake_free(f);
}

static void test_default_command_timeout_ends_a_conn_call_never_answered(void **state) {
    (void)state;
    rkt_fake *f = never_answers_get();
    rk_conn *c = rk_conn_new(&(rk_options){.port = rkt_fake_port(f)});
    assert_non_null(c);
    rk_reply r;
    RKT_RC(rk_conn_call(c, &r, "GET k"), RK_ETIMEOUT);
    rk_conn_free(c);
    rkt_fake_free(f);
}

/* What an async command completed with. */
typedef struct async_result {
    int calls;
    int status;
} async_result;

static void async_record(rk_async *ac, int status, rk_reply *reply, void *userdata) {
    (void)ac;
    (void)reply;
    async_result *r = userdata;
    r->calls++;
    r->status = status;
}

/* The async client takes the same default: a command left at 0 and an
 * options' command timeout left at 0 end after RK_DEFAULT_COMMAND_TIMEOUT_MS
 * (not never), and the connection is kept. */
static void test_default_command_timeout_ends_an_async_command_never_answered(void **state) {
    (void)state;
    rkt_fake *f = never_answers_get();
    rk_loop *loop = rk_loop_new(0);
    assert_non_null(loop);
    rk_async *ac = rk_async_new(&(rk_options){.port = rkt_fake_port(f)}, NULL);
    assert_non_null(ac);
    RKT_RC(rk_loop_attach(loop, ac), RK_OK);
    async_result r = {0};
    const rk_str get[] = {RK_STR("GET"), RK_STR("k")};
    assert_true(rk_async_command_argv(ac, async_record, &r, get, 2) > 0);
    int64_t start = rk_now_ms();
    while (r.calls == 0 && rk_now_ms() - start < 3 * RK_DEFAULT_COMMAND_TIMEOUT_MS)
        rk_loop_run_once(loop, 100);
    int64_t took = rk_now_ms() - start;
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, RK_ETIMEOUT);
    assert_true(took >= RK_DEFAULT_COMMAND_TIMEOUT_MS - 100);
    rk_async_stats st;
    rk_async_get_stats(ac, &st);
    assert_int_equal(st.connects, 1); /* the late command did not cost the connection */
    rk_async_free(ac);
    rk_loop_free(loop);
    rkt_fake_free(f);
}

/* Thaws the shared server after ms, from another thread. */
typedef struct thawer {
    pthread_t thread;
    int ms;
} thawer;

static void *thaw_later(void *arg) {
    thawer *t = arg;
    rk_sleep_ms(t->ms);
    rkt_server_thaw(&rkt_shared);
    return NULL;
}

/* A reply read with rk_conn_read (a pipelined one, a MONITOR line) may be
 * long in coming: only an explicit command timeout bounds it. */
static void test_conn_read_is_not_cut_by_the_default_command_timeout(void **state) {
    (void)state;
    rkt_shared_need();
    rk_conn *c = rk_conn_new(&(rk_options){.port = rkt_server_port(&rkt_shared)});
    assert_non_null(c);
    RKT_OK(rk_conn_connect(c));
    RKT_OK(rk_conn_append(c, "PING"));
    rkt_server_freeze(&rkt_shared);
    thawer t = {.ms = RK_DEFAULT_COMMAND_TIMEOUT_MS + 500};
    assert_int_equal(pthread_create(&t.thread, NULL, thaw_later, &t), 0);
    rk_reply r;
    int rc = rk_conn_read(c, &r);
    pthread_join(t.thread, NULL);
    RKT_OK(rc);
    assert_string_equal(rk_reply_str(&r), "PONG");
    rk_reply_free(&r);
    rk_conn_free(c);
}

static void test_blocking_timeout_past_long_long_counts_as_for_ever(void **state) {
    (void)state;
    assert_int_equal(rk_command_block_seconds(1e300), -1);
    assert_int_equal(rk_command_block_seconds(INFINITY), -1);
}

/* ---- huge timeouts on every read path ------------------------------------ */

static void test_command_timeout_int_max_lets_calls_work_over_tcp(void **state) {
    (void)state;
    rk_client *c = shared_client((rk_options){.command_timeout_ms = INT_MAX});
    expect_ordinary_calls_work(c, NULL);
    rk_client_free(c);
}

static void test_call_timeout_int_max_lets_calls_work(void **state) {
    (void)state;
    rk_client *c = shared_client((rk_options){.command_timeout_ms = SHORT_TIMEOUT_MS});
    expect_ordinary_calls_work(c, &(rk_call_opts){.timeout_ms = INT_MAX});
    rk_client_free(c);
}

static void test_command_timeout_int_max_lets_calls_work_over_unix_socket(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = rk_client_new(&(rk_options){.unix_path = rkt_server_unix_path(&rkt_shared),
                                               .command_timeout_ms = INT_MAX});
    assert_non_null(c);
    expect_ordinary_calls_work(c, NULL);
    rk_client_free(c);
}

static void test_command_timeout_int_max_lets_calls_work_over_tls(void **state) {
    (void)state;
    rkt_shared_need();
    const rkt_tls_files *files = rkt_server_tls_files(&rkt_shared);
    if (files == NULL)
        skip(); /* no openssl to make certificates */
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_tls_port(&rkt_shared),
                                               .tls = {.enabled = true, .ca_file = files->ca_cert},
                                               .command_timeout_ms = INT_MAX});
    if (c == NULL && rk_error_last()->code == RK_EINVAL)
        skip(); /* built without TLS */
    assert_non_null(c);
    expect_ordinary_calls_work(c, NULL);
    rk_client_free(c);
}

static void test_int_max_connect_pool_and_health_check_values_let_calls_work(void **state) {
    (void)state;
    rk_client *c = shared_client((rk_options){.connect_timeout_ms = INT_MAX,
                                              .pool_timeout_ms = INT_MAX,
                                              .health_check_ms = INT_MAX,
                                              .command_timeout_ms = INT_MAX});
    expect_ordinary_calls_work(c, &(rk_call_opts){.timeout_ms = INT_MAX});
    rk_client_free(c);
}

/* ---- the idle health check ------------------------------------------------- */

/* Idle longer than this, a pooled connection is PINGed before use. */
#define HEALTH_CHECK_MS 100
/* Far under the 5 s connect timeout the health check used to wait. */
#define BOUND_MS 2500

/* A fake server that answers GET once, then lets the health check's PING
 * go unanswered (a silently dead link), then answers `more` steps. */
static rkt_fake *dead_after_first_get(const rkt_fake_step *more, size_t nmore) {
    rkt_fake_step steps[4] = {
        {.expect = (const char *[]){"GET", "k", NULL}, .reply = "$5\r\nfirst\r\n"},
        {.expect = (const char *[]){"PING", NULL}, .reply = NULL},
    };
    assert_true(nmore <= 2);
    if (nmore > 0)
        memcpy(steps + 2, more, nmore * sizeof(*more));
    rkt_fake *f = rkt_fake_start(steps, 2 + nmore, NULL);
    assert_non_null(f);
    return f;
}

/* GET k on c, which must answer want. */
static void expect_get(rk_client *c, const char *want) {
    rk_reply r;
    RKT_OK(rk_client_call(c, &r, "GET k"));
    assert_string_equal(rk_reply_str(&r), want);
    rk_reply_free(&r);
}

static void test_health_check_on_dead_link_is_bounded_by_call_timeout(void **state) {
    (void)state;
    rkt_fake *f = dead_after_first_get(NULL, 0);
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_fake_port(f));
    assert_non_null(p);
    rk_client *c =
        rk_client_new(&(rk_options){.port = rkt_proxy_port(p), .health_check_ms = HEALTH_CHECK_MS});
    assert_non_null(c);
    expect_get(c, "first");
    rkt_proxy_set_mode(p, RKT_PROXY_BLACKHOLE, 0); /* new connections too */
    rk_sleep_ms(2 * HEALTH_CHECK_MS);
    int64_t start = rk_now_ms();
    rk_reply r;
    int rc = rk_client_call_argv_opts(c, &r, &(rk_call_opts){.timeout_ms = 300},
                                      (const rk_str[]){RK_STR("GET"), RK_STR("k")}, 2);
    int64_t took = rk_now_ms() - start;
    RKT_RC(rc, RK_ETIMEOUT);
    assert_true(took < BOUND_MS);
    rk_client_free(c);
    rkt_proxy_stop(p);
    rkt_fake_free(f);
}

static void test_health_check_on_dead_link_is_bounded_by_command_timeout(void **state) {
    (void)state;
    rkt_fake_step again = {.expect = (const char *[]){"GET", "k", NULL},
                           .reply = "$5\r\nfresh\r\n"};
    rkt_fake *f = dead_after_first_get(&again, 1);
    rk_client *c = rk_client_new(&(rk_options){
        .port = rkt_fake_port(f), .health_check_ms = HEALTH_CHECK_MS, .command_timeout_ms = 500});
    assert_non_null(c);
    expect_get(c, "first");
    rk_sleep_ms(2 * HEALTH_CHECK_MS);
    int64_t start = rk_now_ms();
    expect_get(c, "fresh"); /* on a new connection, once the PING timed out */
    assert_true(rk_now_ms() - start < BOUND_MS);
    assert_null(rkt_fake_error(f));
    rk_client_free(c);
    rkt_fake_free(f);
}

/* ---- rk_sleep_ms ------------------------------------------------------------ */

/* Runs rk_sleep_ms(ms) in a child process that an alarm kills after 2 s:
 * true when it returned in time. */
static bool sleep_returns(int ms) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(2);
        rk_sleep_ms(ms);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void test_sleep_with_negative_ms_returns(void **state) {
    (void)state;
    assert_true(sleep_returns(-5));
}

/* ---- main ------------------------------------------------------------------- */

int main(void) {
    rkt_shared_opts.unix_socket = true;
    rkt_shared_opts.tls = rkt_have_binary("openssl");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blpop_forever_with_command_timeout_gets_element_pushed_later),
        cmocka_unit_test(test_blmove_forever_with_command_timeout_moves_element_pushed_later),
        cmocka_unit_test(test_xread_block_zero_with_command_timeout_gets_entry_added_later),
        cmocka_unit_test(test_raw_blpop_gets_an_element_pushed_after_the_command_timeout),
        cmocka_unit_test(test_raw_blpop_for_ever_waits_past_the_command_timeout),
        cmocka_unit_test(test_conn_blpop_gets_an_element_pushed_after_the_command_timeout),
        cmocka_unit_test(test_default_command_timeout_ends_a_call_never_answered),
        cmocka_unit_test(test_default_command_timeout_ends_a_conn_call_never_answered),
        cmocka_unit_test(test_default_command_timeout_ends_an_async_command_never_answered),
        cmocka_unit_test(test_conn_read_is_not_cut_by_the_default_command_timeout),
        cmocka_unit_test(test_blocking_timeout_past_long_long_counts_as_for_ever),
        cmocka_unit_test(test_command_timeout_int_max_lets_calls_work_over_tcp),
        cmocka_unit_test(test_call_timeout_int_max_lets_calls_work),
        cmocka_unit_test(test_command_timeout_int_max_lets_calls_work_over_unix_socket),
        cmocka_unit_test(test_command_timeout_int_max_lets_calls_work_over_tls),
        cmocka_unit_test(test_int_max_connect_pool_and_health_check_values_let_calls_work),
        cmocka_unit_test(test_health_check_on_dead_link_is_bounded_by_call_timeout),
        cmocka_unit_test(test_health_check_on_dead_link_is_bounded_by_command_timeout),
        cmocka_unit_test(test_sleep_with_negative_ms_returns),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
