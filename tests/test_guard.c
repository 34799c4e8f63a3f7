/* What keeps a pooled connection clean, and what every client and pipeline
 * entry point does with NULL. Commands that change their connection's
 * state are refused on pooled calls and in pipelines however the command
 * is spelled (a format conversion included), judged from the command as
 * built; a connection given back in MONITOR, subscribed, with CLIENT REPLY
 * OFF/SKIP or after a bare RESET is closed instead of pooled. Needs
 * redis-server; the server tests skip without it. */
#define _GNU_SOURCE

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "meta/classes.h"
#include "rediskit/client.h"
#include "rediskit/commands.h"
#include "rediskit/error.h"
#include "rediskit/pipeline.h"
#include "rediskit/reply.h"
#include "rediskit/writer.h"
#include "resp/writer_int.h"
#include "rkt_server.h"
#include "rkt_shared.h"

/* ---- helpers ------------------------------------------------------------ */

/* A client of one pooled connection to the shared server, so that every
 * call runs on the connection the previous one left. */
static rk_client *client_of_one_connection(int db, int protocol) {
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_shared),
                                               .pool_size = 1,
                                               .db = db,
                                               .protocol = protocol,
                                               .command_timeout_ms = 3000});
    assert_non_null(c);
    return c;
}

static rk_client *one_connection_client(int db) {
    return client_of_one_connection(db, 0);
}

/* Whether the client's next call runs in database db (its CLIENT INFO). */
static bool calls_run_in_db(rk_client *c, int db) {
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "CLIENT INFO"), RK_OK);
    char want[32];
    snprintf(want, sizeof want, " db=%d ", db);
    bool yes = strstr(rk_reply_str(&r), want) != NULL;
    rk_reply_free(&r);
    return yes;
}

/* Sets key to value through the client and reads it back through it. */
static void assert_set_then_get(rk_client *c, const char *key, const char *value) {
    assert_int_equal(rk_client_call(c, NULL, "SET %s %s", key, value), RK_OK);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "GET %s", key), RK_OK);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_STRING);
    assert_string_equal(rk_reply_str(&r), value);
    rk_reply_free(&r);
}

static size_t closed_connections(rk_client *c) {
    rk_pool_stats st;
    rk_client_pool_stats(c, &st);
    return st.closed;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- reading a command back (no server) -------------------------------- */

/* Arguments long enough to be referenced rather than copied are read back
 * from the caller's bytes. */
static void test_last_words_read_back_referenced_arguments(void **state) {
    (void)state;
    rk_writer *w = rk_writer_new(&(rk_writer_opts){.ref_threshold = 6});
    assert_non_null(w);
    assert_int_equal(rk_writer_args(w, "client", "reply", "OFF", "x", NULL), RK_OK);
    rk_str words[RK_WRITER_WORDS];
    assert_int_equal(rk_writer_last_words(w, words), 3);
    const char *expect[] = {"client", "reply", "OFF"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(words[i].len, strlen(expect[i]));
        assert_memory_equal(words[i].ptr, expect[i], words[i].len);
    }
    assert_int_equal(rk_writer_last_mode(w), RK_MODE_REPLY_OFF);
    rk_writer_clear(w);
    assert_int_equal(rk_writer_last_words(w, words), 0);
    rk_writer_free(w);
}

static void test_unqueue_last_leaves_the_queue_as_before(void **state) {
    (void)state;
    rk_writer *w = rk_writer_new(NULL);
    assert_non_null(w);
    assert_int_equal(rk_writer_format(w, "GET %s", "a"), RK_OK);
    size_t before = rk_writer_pending(w);
    assert_int_equal(rk_writer_format(w, "%s", "MULTI"), RK_OK);
    assert_int_equal(rk_writer_unqueue_last(w), RK_OK);
    assert_int_equal(rk_writer_pending(w), before);
    struct iovec iov[4];
    assert_int_equal(rk_writer_iov(w, iov, 4), 1);
    assert_memory_equal(iov[0].iov_base, "*2\r\n$3\r\nGET\r\n$1\r\na\r\n", before);
    assert_int_equal(rk_writer_unqueue_last(w), RK_EINVAL); /* only the last, once */
    rk_writer_free(w);
}

/* The generated quick look misses no connection-state command. */
static void test_stateful_lengths_cover_every_stateful_command(void **state) {
    (void)state;
    for (size_t i = 0; i < rk_meta_table_len; i++) {
        const rk_meta_command *e = &rk_meta_table[i];
        if (!(e->flags & RK_CMD_STATEFUL))
            continue;
        size_t n = strcspn(e->name, "|");
        if (!((rk_meta_stateful_lengths[e->name[0] & 31] >> n) & 1))
            fail_msg("%s is missing from rk_meta_stateful_lengths", e->name);
    }
}

/* ---- the pooled-call guard ---------------------------------------------- */

static void test_select_named_by_conversion_is_refused(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = one_connection_client(0);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "%s %s", "SELECT", "1"), RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_true(calls_run_in_db(c, 0));
    rk_client_free(c);
}

static void test_multi_named_by_conversion_is_refused(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = one_connection_client(0);
    assert_int_equal(rk_client_call(c, NULL, "%s", "MULTI"), RK_EINVAL);
    assert_int_equal(rk_client_call(c, NULL, "%b", "multi", (size_t)5), RK_EINVAL);
    assert_set_then_get(c, "guard:multi", "not-queued");
    rk_client_free(c);
}

static void test_client_reply_subcommand_by_conversion_is_refused(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = one_connection_client(0);
    assert_int_equal(rk_client_call(c, NULL, "CLIENT %s OFF", "REPLY"), RK_EINVAL);
    assert_int_equal(rk_client_call(c, NULL, "%s %s %s", "client", "reply", "skip"), RK_EINVAL);
    assert_set_then_get(c, "guard:reply", "answered");
    rk_client_free(c);
}

static void test_pipeline_refuses_select_and_keeps_the_rest(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = one_connection_client(0);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    assert_int_equal(rk_pipeline_append(p, "SET %s %s", "guard:pipe", "v"), RK_OK);
    assert_int_equal(rk_pipeline_append(p, "%s %s", "SELECT", "1"), RK_EINVAL);
    assert_int_equal(rk_pipeline_append_args(p, "select", "1", NULL), RK_EINVAL);
    assert_int_equal(rk_pipeline_append(p, "GET %s", "guard:pipe"), RK_OK);
    assert_int_equal(rk_pipeline_size(p), 2);
    assert_int_equal(rk_pipeline_exec(p), RK_OK);
    assert_string_equal(rk_reply_str(rk_pipeline_reply(p, 1)), "v");
    rk_pipeline_free(p);
    assert_true(calls_run_in_db(c, 0));
    rk_client_free(c);
}

static void test_transaction_refuses_subscribe(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = one_connection_client(0);
    rk_pipeline *p = rk_pipeline_new(c, &(rk_pipeline_opts){.transaction = true});
    assert_non_null(p);
    assert_int_equal(rk_pipeline_append(p, "%s %s", "SUBSCRIBE", "news"), RK_EINVAL);
    assert_int_equal(rk_pipeline_append(p, "INCR %s", "guard:tx"), RK_OK);
    assert_int_equal(rk_pipeline_exec(p), RK_OK);
    assert_int_equal(rk_pipeline_status(p, 0), RK_OK);
    rk_pipeline_free(p);
    assert_set_then_get(c, "guard:tx", "after");
    rk_client_free(c);
}

/* ---- giving connections back -------------------------------------------- */

/* Gives conn back to c and checks that the pool closed it rather than
 * keeping it, and that the next call on c works; then frees c. */
static void assert_release_closes(rk_client *c, rk_conn *conn, const char *key, const char *val) {
    rk_client_release(c, conn);
    assert_int_equal(closed_connections(c), 1);
    assert_set_then_get(c, key, val);
    rk_client_free(c);
}

static void test_release_drops_connection_left_in_monitor(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = one_connection_client(0);
    rk_conn *conn;
    assert_int_equal(rk_client_acquire(c, &conn), RK_OK);
    assert_int_equal(rk_monitor(conn), RK_OK);
    assert_release_closes(c, conn, "guard:monitor", "plain");
}

/* On RESP2 the subscription's confirmation is a plain reply, so nothing is
 * left unread to give the connection away. */
static void test_release_drops_connection_left_subscribed(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = client_of_one_connection(0, 2);
    rk_conn *conn;
    assert_int_equal(rk_client_acquire(c, &conn), RK_OK);
    rk_reply r;
    assert_int_equal(rk_conn_call(conn, &r, "%s %s", "SUBSCRIBE", "guard-news"), RK_OK);
    rk_reply_free(&r);
    assert_release_closes(c, conn, "guard:subscribed", "plain");
}

static void test_release_drops_connection_with_replies_off(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = one_connection_client(0);
    rk_conn *conn;
    assert_int_equal(rk_client_acquire(c, &conn), RK_OK);
    assert_int_equal(rk_clientreply(conn, RK_CLIENTREPLY_OFF), RK_OK);
    assert_release_closes(c, conn, "guard:reply-off", "answered");
}

/* CLIENT REPLY OFF sent as a plain command is known too: the call returns
 * at once instead of waiting for a reply that never comes. */
static void test_raw_client_reply_off_does_not_wait(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = one_connection_client(0);
    rk_conn *conn;
    assert_int_equal(rk_client_acquire(c, &conn), RK_OK);
    long long start = now_ms();
    assert_int_equal(rk_conn_call(conn, NULL, "CLIENT REPLY %s", "OFF"), RK_OK);
    assert_true(now_ms() - start < 2500); /* the old wait ran to the 3 s timeout */
    assert_release_closes(c, conn, "guard:raw-reply-off", "answered");
}

static void test_reset_makes_monitor_connection_poolable_again(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = one_connection_client(0);
    rk_conn *conn;
    assert_int_equal(rk_client_acquire(c, &conn), RK_OK);
    assert_int_equal(rk_monitor(conn), RK_OK);
    assert_int_equal(rk_reset(conn), RK_OK);
    rk_client_release(c, conn);
    assert_int_equal(closed_connections(c), 0);
    assert_set_then_get(c, "guard:reset", "plain");
    rk_client_free(c);
}

/* A bare RESET forgets the database the options chose: such a connection
 * is not pooled again. */
static void test_release_drops_connection_after_bare_reset(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = one_connection_client(2);
    rk_conn *conn;
    assert_int_equal(rk_client_acquire(c, &conn), RK_OK);
    assert_int_equal(rk_conn_call(conn, NULL, "RESET"), RK_OK);
    rk_client_release(c, conn);
    assert_int_equal(closed_connections(c), 1);
    assert_true(calls_run_in_db(c, 2));
    rk_client_free(c);
}

/* ---- NULL inputs --------------------------------------------------------- */

static int vcall(rk_client *c, rk_reply *reply, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = rk_client_vcall(c, reply, fmt, ap);
    va_end(ap);
    return rc;
}

/* The reply is nil and the error names the NULL client. */
static void assert_refused_for_null_client(int rc, const rk_reply *r) {
    assert_int_equal(rc, RK_EINVAL);
    assert_int_equal(rk_reply_type(r), RK_REPLY_NIL);
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "NULL client"));
}

static void test_calls_on_null_client_are_einval(void **state) {
    (void)state;
    const rk_str argv[] = {RK_STR("PING")};
    rk_reply r;
    r.type_ = RK_REPLY_STRING; /* must come back nil */
    assert_refused_for_null_client(rk_client_call(NULL, &r, "PING"), &r);
    r.type_ = RK_REPLY_STRING;
    assert_refused_for_null_client(vcall(NULL, &r, "PING"), &r);
    r.type_ = RK_REPLY_STRING;
    assert_refused_for_null_client(rk_client_call_args(NULL, &r, "PING", NULL), &r);
    r.type_ = RK_REPLY_STRING;
    assert_refused_for_null_client(rk_client_call_argv(NULL, &r, argv, 1), &r);
    r.type_ = RK_REPLY_STRING;
    assert_refused_for_null_client(rk_client_call_argv_opts(NULL, &r, NULL, argv, 1), &r);
    assert_int_equal(rk_client_call(NULL, NULL, "PING"), RK_EINVAL);
}

static void test_acquire_with_null_is_einval(void **state) {
    (void)state;
    rk_conn *conn = (rk_conn *)&conn;
    assert_int_equal(rk_client_acquire(NULL, &conn), RK_EINVAL);
    assert_null(conn);
    rk_client *c = rk_client_new(NULL); /* connects lazily: no server needed */
    assert_non_null(c);
    assert_int_equal(rk_client_acquire(c, NULL), RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "NULL"));
    rk_client_free(c);
}

static void test_client_accessors_take_null(void **state) {
    (void)state;
    rk_client_free(NULL);
    rk_client_release(NULL, NULL);
    assert_null(rk_client_options(NULL));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    rk_pool_stats st;
    memset(&st, 0xff, sizeof st);
    rk_client_pool_stats(NULL, &st);
    assert_int_equal(st.created, 0);
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    rk_client *c = rk_client_new(NULL);
    assert_non_null(c);
    rk_client_pool_stats(c, NULL);
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    rk_client_release(c, NULL);
    rk_client_free(c);
}

static void test_pipeline_new_refuses_null_client(void **state) {
    (void)state;
    assert_null(rk_pipeline_new(NULL, NULL));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "NULL client"));
    assert_int_equal(rk_transaction(NULL, NULL, 0, NULL, NULL, NULL, NULL), RK_EINVAL);
}

static int pipe_vappend(rk_pipeline *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = rk_pipeline_vappend(p, fmt, ap);
    va_end(ap);
    return rc;
}

static void test_pipeline_functions_take_null_pipeline(void **state) {
    (void)state;
    const rk_str argv[] = {RK_STR("PING")};
    const rk_str keys[] = {RK_STR("k")};
    rk_reply r;
    assert_int_equal(rk_pipeline_append(NULL, "PING"), RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "NULL pipeline"));
    assert_int_equal(pipe_vappend(NULL, "PING"), RK_EINVAL);
    assert_int_equal(rk_pipeline_append_args(NULL, "PING", NULL), RK_EINVAL);
    assert_int_equal(rk_pipeline_append_argv(NULL, argv, 1), RK_EINVAL);
    assert_int_equal(rk_pipeline_size(NULL), 0);
    assert_int_equal(rk_pipeline_exec(NULL), RK_EINVAL);
    assert_int_equal(rk_pipeline_replies(NULL), 0);
    assert_null(rk_pipeline_reply(NULL, 0));
    assert_int_equal(rk_pipeline_status(NULL, 0), RK_EINVAL);
    rk_pipeline_reset(NULL);
    rk_pipeline_free(NULL);
    assert_int_equal(rk_pipeline_watch(NULL, keys, 1), RK_EINVAL);
    assert_int_equal(rk_pipeline_unwatch(NULL), RK_EINVAL);
    r.type_ = RK_REPLY_STRING;
    assert_int_equal(rk_pipeline_call(NULL, &r, "GET k"), RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    r.type_ = RK_REPLY_STRING;
    assert_int_equal(rk_pipeline_call_argv(NULL, &r, argv, 1), RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_pipeline_multi(NULL), RK_EINVAL);
}

static void test_pipeline_null_arguments_are_einval(void **state) {
    (void)state;
    rk_client *c = rk_client_new(NULL);
    assert_non_null(c);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    assert_int_equal(rk_pipeline_append(p, NULL), RK_EINVAL);
    assert_int_equal(rk_pipeline_append_argv(p, NULL, 1), RK_EINVAL);
    assert_int_equal(
        rk_pipeline_append_argv(p, (const rk_str[]){RK_STR("GET"), (rk_str){0, NULL}}, 2),
        RK_EINVAL);
    assert_int_equal(rk_pipeline_watch(p, (const rk_str[]){RK_STR("a"), (rk_str){0, NULL}}, 2),
                     RK_EINVAL);
    assert_int_equal(rk_pipeline_size(p), 0);
    rk_pipeline_free(p);
    rk_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_words_read_back_referenced_arguments),
        cmocka_unit_test(test_unqueue_last_leaves_the_queue_as_before),
        cmocka_unit_test(test_stateful_lengths_cover_every_stateful_command),
        cmocka_unit_test(test_select_named_by_conversion_is_refused),
        cmocka_unit_test(test_multi_named_by_conversion_is_refused),
        cmocka_unit_test(test_client_reply_subcommand_by_conversion_is_refused),
        cmocka_unit_test(test_pipeline_refuses_select_and_keeps_the_rest),
        cmocka_unit_test(test_transaction_refuses_subscribe),
        cmocka_unit_test(test_release_drops_connection_left_in_monitor),
        cmocka_unit_test(test_release_drops_connection_left_subscribed),
        cmocka_unit_test(test_release_drops_connection_with_replies_off),
        cmocka_unit_test(test_raw_client_reply_off_does_not_wait),
        cmocka_unit_test(test_reset_makes_monitor_connection_poolable_again),
        cmocka_unit_test(test_release_drops_connection_after_bare_reset),
        cmocka_unit_test(test_calls_on_null_client_are_einval),
        cmocka_unit_test(test_acquire_with_null_is_einval),
        cmocka_unit_test(test_client_accessors_take_null),
        cmocka_unit_test(test_pipeline_new_refuses_null_client),
        cmocka_unit_test(test_pipeline_functions_take_null_pipeline),
        cmocka_unit_test(test_pipeline_null_arguments_are_einval),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
