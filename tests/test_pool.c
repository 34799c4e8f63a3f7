/* The pool behind rk_client, against real servers: many threads sharing one
 * client, waiting for and timing out on an exhausted pool, the counters,
 * broken connections discarded, reconnecting after a server restart, and
 * fork() (the child never touches the parent's sockets), and the pool's
 * lock failing to be made (this file stands in for pthread_mutex_init).
 * Needs redis-server; skips without it. */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
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

#include "client/node.h"
#include "client/pool.h"
#include "client/topology.h"
#include "rediskit/client.h"
#include "rediskit/conn.h"
#include "rediskit/error.h"
#include "rediskit/pipeline.h"
#include "rediskit/reply.h"
#include "rkt_proxy.h"
#include "rkt_server.h"
#include "rkt_shared.h"

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

static rk_client *pooled_client(int port, int pool_size, int pool_timeout_ms) {
    rk_client *c = rk_client_new(
        &(rk_options){.port = port, .pool_size = pool_size, .pool_timeout_ms = pool_timeout_ms});
    assert_non_null(c);
    return c;
}

static rk_pool_stats stats_of(rk_client *c) {
    rk_pool_stats st;
    rk_client_pool_stats(c, &st);
    return st;
}

/* The server-side id of the connection the next call uses. */
static long long client_id(rk_client *c) {
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "CLIENT ID"), RK_OK);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_INTEGER);
    return rk_reply_int(&r);
}

static long long conn_id(rk_conn *conn) {
    rk_reply r;
    assert_int_equal(rk_conn_call(conn, &r, "CLIENT ID"), RK_OK);
    return rk_reply_int(&r);
}

/* A call made on a thread of its own, with what it returned. */
typedef struct bg_call {
    rk_client *client;
    const char *command;
    int rc;
    int error_code; /* rk_error_last()->code on that thread */
    long long elapsed_ms;
    pthread_t thread;
} bg_call;

static void *run_call(void *arg) {
    bg_call *b = arg;
    long long start = now_ms();
    b->rc = rk_client_call(b->client, NULL, b->command);
    b->elapsed_ms = now_ms() - start;
    b->error_code = rk_error_last()->code;
    return NULL;
}

static void start_call(bg_call *b, rk_client *c, const char *command) {
    *b = (bg_call){.client = c, .command = command};
    assert_int_equal(pthread_create(&b->thread, NULL, run_call, b), 0);
}

/* ---- threads ------------------------------------------------------------ */

#define THREADS 16
#define ROUNDS 1500

/* One thread's SET/GET loop over keys and values of its own. Counts every
 * reply that is not exactly what this thread asked for. */
typedef struct worker {
    rk_client *client;
    int id;
    int failures;
    char first_failure[256];
    pthread_t thread;
} worker;

static void note_failure(worker *w, int round, const char *what, int rc) {
    if (w->failures++ == 0)
        snprintf(w->first_failure, sizeof w->first_failure, "thread %d round %d: %s (rc %d: %s)",
                 w->id, round, what, rc, rk_error_last()->message);
}

static void worker_round(worker *w, int i, unsigned *seed) {
    char key[32], value[64];
    snprintf(key, sizeof key, "w%d:k%d", w->id, i % 32);
    snprintf(value, sizeof value, "w%d-r%d-%u", w->id, i, (unsigned)rand_r(seed));
    rk_reply r;
    int rc = (i & 1) ? rk_client_call(w->client, &r, "SET %s %s", key, value)
                     : rk_client_call_args(w->client, &r, "SET", key, value, NULL);
    if (rc != RK_OK || strcmp(rk_reply_str(&r), "OK") != 0)
        note_failure(w, i, "SET", rc);
    rk_reply_free(&r);
    const rk_str argv[] = {RK_STR("GET"), rk_cstr(key)};
    rc = (i & 2) ? rk_client_call_argv(w->client, &r, argv, 2)
                 : rk_client_call(w->client, &r, "GET %s", key);
    if (rc != RK_OK || rk_reply_type(&r) != RK_REPLY_STRING || strcmp(rk_reply_str(&r), value) != 0)
        note_failure(w, i, "GET gave another value", rc);
    rk_reply_free(&r);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    unsigned seed = (unsigned)w->id * 2654435761u;
    for (int i = 0; i < ROUNDS; i++)
        worker_round(w, i, &seed);
    return NULL;
}

static void run_threads_sharing_client(int pool_size) {
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), pool_size, 30000);
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.client = c, .id = i};
        assert_int_equal(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(w[i].thread, NULL);
        if (w[i].failures)
            print_error("%d failures, first: %s\n", w[i].failures, w[i].first_failure);
        failures += w[i].failures;
    }
    assert_int_equal(failures, 0);
    rk_pool_stats st = stats_of(c);
    assert_int_equal(st.in_use, 0);
    assert_true(st.created >= 1 && st.created <= (size_t)pool_size);
    assert_int_equal(st.closed, 0);
    assert_int_equal(st.idle, st.created);
    assert_int_equal(st.timeouts, 0);
    rk_client_free(c);
}

static void test_threads_share_a_pool_of_4(void **state) {
    (void)state;
    run_threads_sharing_client(4);
}

static void test_threads_share_a_pool_of_16(void **state) {
    (void)state;
    run_threads_sharing_client(16);
}

/* ---- waiting ------------------------------------------------------------ */

static void test_exhausted_pool_fails_with_epool_after_timeout(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 2, 300);
    rk_conn *a, *b;
    assert_int_equal(rk_client_acquire(c, &a), RK_OK);
    assert_int_equal(rk_client_acquire(c, &b), RK_OK);
    bg_call call;
    start_call(&call, c, "PING");
    pthread_join(call.thread, NULL);
    assert_int_equal(call.rc, RK_EPOOL);
    assert_int_equal(call.error_code, RK_EPOOL);
    assert_true(call.elapsed_ms >= 300);
    assert_true(call.elapsed_ms < 10000);
    rk_pool_stats st = stats_of(c);
    assert_int_equal(st.waits, 1);
    assert_int_equal(st.timeouts, 1);
    assert_int_equal(st.in_use, 2);
    rk_client_release(c, a);
    rk_client_release(c, b);
    rk_client_free(c);
}

/* A connection lent by one client and given back to another is refused
 * and left alone, as the header says of any connection the client did
 * not lend: the other client's pool (which may be gone by then) is not
 * this one's to fill. Given back to its own client, it is pooled. */
static void test_connection_given_back_to_another_client_is_refused(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *a = pooled_client(rkt_server_port(&rkt_shared), 2, 0);
    rk_client *b = pooled_client(rkt_server_port(&rkt_shared), 2, 0);
    rk_conn *conn;
    assert_int_equal(rk_client_acquire(a, &conn), RK_OK);
    rk_client_release(b, conn);
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    assert_int_equal(stats_of(a).in_use, 1);
    assert_int_equal(stats_of(a).idle, 0);
    rk_client_release(a, conn);
    assert_int_equal(stats_of(a).in_use, 0);
    assert_int_equal(stats_of(a).idle, 1);
    rk_client_free(b);
    rk_client_free(a);
}

/* A pipeline that finds no free connection says so for every command: each
 * status is RK_EPOOL, none left from the run before. */
static void test_pipeline_on_exhausted_pool_fails_each_command_with_epool(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 1, 100);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    assert_int_equal(rk_pipeline_append(p, "PING"), RK_OK);
    assert_int_equal(rk_pipeline_exec(p), RK_OK); /* status 0: RK_OK */
    rk_conn *a;
    assert_int_equal(rk_client_acquire(c, &a), RK_OK);
    assert_int_equal(rk_pipeline_append(p, "PING"), RK_OK);
    assert_int_equal(rk_pipeline_exec(p), RK_EPOOL);
    assert_int_equal(rk_pipeline_replies(p), 1);
    assert_int_equal(rk_pipeline_status(p, 0), RK_EPOOL);
    assert_int_equal(rk_reply_type(rk_pipeline_reply(p, 0)), RK_REPLY_NIL);
    rk_client_release(c, a);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_acquire_on_exhausted_pool_fails_with_epool(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 1, 100);
    rk_conn *a, *b = (rk_conn *)&b;
    assert_int_equal(rk_client_acquire(c, &a), RK_OK);
    assert_int_equal(rk_client_acquire(c, &b), RK_EPOOL);
    assert_null(b);
    rk_client_release(c, a);
    rk_client_free(c);
}

static void test_release_wakes_a_waiting_call(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 1, 20000);
    rk_conn *only;
    assert_int_equal(rk_client_acquire(c, &only), RK_OK);
    bg_call call;
    start_call(&call, c, "SET waiter woke");
    for (long long deadline = now_ms() + 10000; stats_of(c).waits == 0 && now_ms() < deadline;)
        sleep_ms(1);
    assert_int_equal(stats_of(c).waits, 1); /* it is waiting now */
    rk_client_release(c, only);
    pthread_join(call.thread, NULL);
    assert_int_equal(call.rc, RK_OK);
    assert_true(call.elapsed_ms < 15000); /* woken, not by its own timeout */
    rk_pool_stats st = stats_of(c);
    assert_int_equal(st.created, 1); /* it got the released connection */
    assert_int_equal(st.timeouts, 0);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.idle, 1);
    char *raw = rkt_server_cmd(&rkt_shared, "GET", "waiter", NULL);
    assert_string_equal(raw, "$4\r\nwoke\r\n");
    free(raw);
    rk_client_free(c);
}

/* ---- counters ----------------------------------------------------------- */

static void test_new_client_opens_no_connection(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 4, 0);
    rk_pool_stats st = stats_of(c);
    assert_int_equal(st.created, 0);
    assert_int_equal(st.idle, 0);
    assert_int_equal(st.in_use, 0);
    rk_client_free(c);
}

static void test_stats_count_connections_in_use_and_idle(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 4, 0);
    rk_conn *a, *b;
    assert_int_equal(rk_client_acquire(c, &a), RK_OK);
    assert_int_equal(rk_client_acquire(c, &b), RK_OK);
    assert_true(rk_conn_is_ready(a) && rk_conn_is_ready(b));
    rk_pool_stats st = stats_of(c);
    assert_int_equal(st.created, 2);
    assert_int_equal(st.in_use, 2);
    assert_int_equal(st.idle, 0);
    rk_client_release(c, a);
    st = stats_of(c);
    assert_int_equal(st.in_use, 1);
    assert_int_equal(st.idle, 1);
    rk_client_release(c, b);
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK); /* reuses one */
    st = stats_of(c);
    assert_int_equal(st.created, 2);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.idle, 2);
    assert_int_equal(st.closed, 0);
    assert_int_equal(st.waits, 0);
    rk_client_free(c);
}

static void test_most_recently_used_connection_is_taken_first(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 4, 0);
    rk_conn *a, *b;
    assert_int_equal(rk_client_acquire(c, &a), RK_OK);
    assert_int_equal(rk_client_acquire(c, &b), RK_OK);
    long long id_b = conn_id(b);
    rk_client_release(c, a);
    rk_client_release(c, b); /* b is the warmest now */
    assert_int_equal(client_id(c), id_b);
    rk_client_free(c);
}

static void test_closed_connection_is_not_pooled(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 4, 0);
    rk_conn *a;
    assert_int_equal(rk_client_acquire(c, &a), RK_OK);
    rk_conn_close(a);
    rk_client_release(c, a);
    rk_pool_stats st = stats_of(c);
    assert_int_equal(st.closed, 1);
    assert_int_equal(st.idle, 0);
    assert_int_equal(st.in_use, 0);
    rk_client_free(c);
}

static void test_connection_with_unread_reply_is_not_pooled(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 4, 0);
    rk_conn *a;
    assert_int_equal(rk_client_acquire(c, &a), RK_OK);
    long long id_a = conn_id(a);
    assert_int_equal(rk_conn_append(a, "PING"), RK_OK);
    assert_int_equal(rk_conn_flush(a), RK_OK);
    rk_client_release(c, a); /* its PONG was never read */
    assert_int_equal(stats_of(c).closed, 1);
    assert_true(client_id(c) != id_a); /* and the next call gets a clean one */
    rk_client_free(c);
}

/* How many PINGs the shared server has run since its stats were reset. */
static long server_pings(void) {
    char *info = rkt_server_cmd(&rkt_shared, "INFO", "commandstats", NULL);
    assert_non_null(info);
    const char *at = strstr(info, "cmdstat_ping:calls=");
    long n = at ? atol(at + strlen("cmdstat_ping:calls=")) : 0;
    free(info);
    return n;
}

static void test_connection_idle_past_health_check_is_pinged_first(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c =
        rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_shared), .health_check_ms = 1000});
    assert_non_null(c);
    long long id = client_id(c);
    long before = server_pings();
    sleep_ms(1100);
    assert_int_equal(client_id(c), id); /* the same connection, checked */
    assert_int_equal(server_pings(), before + 1);
    assert_int_equal(client_id(c), id); /* used just now: no PING */
    assert_int_equal(server_pings(), before + 1);
    rk_client_free(c);
}

/* A timeout set on an acquired connection is the borrower's business: the
 * pool's later calls get the client's command timeout again. */
static void test_timeout_set_on_acquired_connection_ends_at_release(void **state) {
    (void)state;
    rkt_shared_need();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(p);
    rkt_proxy_set_mode(p, RKT_PROXY_DELAY, 100); /* a round trip takes >= 200 ms */
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_proxy_port(p),
                                               .pool_size = 1,
                                               .command_timeout_ms = 20000,
                                               .retry = {.attempts = 1}});
    assert_non_null(c);
    rk_conn *conn;
    assert_int_equal(rk_client_acquire(c, &conn), RK_OK);
    rk_conn_set_timeout(conn, 20);
    rk_client_release(c, conn);
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK);
    assert_int_equal(stats_of(c).created, 1); /* on that same connection */
    rk_client_free(c);
    rkt_proxy_stop(p);
}

static void test_killed_connection_is_discarded_not_reused(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 4, 0);
    long long first = client_id(c);
    char id[32];
    snprintf(id, sizeof id, "%lld", first);
    char *killed = rkt_server_cmd(&rkt_shared, "CLIENT", "KILL", "ID", id, NULL);
    assert_string_equal(killed, ":1\r\n");
    free(killed);
    long long second = client_id(c);
    assert_true(second != first);
    rk_pool_stats st = stats_of(c);
    assert_int_equal(st.created, 2);
    assert_int_equal(st.closed, 1);
    assert_int_equal(st.idle, 1);
    rk_client_free(c);
}

static void test_call_after_server_restart_reconnects(void **state) {
    (void)state;
    if (!rkt_require_binaries("redis-server", NULL))
        skip();
    rkt_server srv;
    assert_int_equal(rkt_server_start(&srv, NULL), 0);
    rk_client *c = pooled_client(rkt_server_port(&srv), 4, 0);
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK);
    long long used = now_ms();
    assert_int_equal(rkt_server_restart(&srv), 0);
    long long idle = now_ms() - used;
    if (idle < 150)
        sleep_ms((int)(150 - idle)); /* idle long enough to be checked */
    /* A write, so that no retry could hide a failure. */
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "INCR after-restart"), RK_OK);
    assert_int_equal(rk_reply_int(&r), 1);
    rk_pool_stats st = stats_of(c);
    assert_int_equal(st.created, 2);
    assert_int_equal(st.closed, 1);
    rk_client_free(c);
    rkt_server_stop(&srv);
}

/* ---- fork --------------------------------------------------------------- */

enum { CHILD_OK = 0, CHILD_CALL_FAILED = 10, CHILD_SAME_ID = 11, CHILD_NO_FORK = 12 };

/* In a child: the id of the connection the client gives it, compared with
 * the parent's. No cmocka here: the child reports through its status. */
static int child_checks_own_connection(rk_client *c, long long parent_id) {
    rk_reply r;
    if (rk_client_call(c, &r, "CLIENT ID") != RK_OK || rk_reply_type(&r) != RK_REPLY_INTEGER)
        return CHILD_CALL_FAILED;
    return rk_reply_int(&r) == parent_id ? CHILD_SAME_ID : CHILD_OK;
}

/* Forks; the child runs child_checks_own_connection and _exits with its
 * result; the parent returns the child's exit status. */
static int fork_and_check(rk_client *c, long long parent_id, rk_conn *release_in_child) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return CHILD_NO_FORK;
    if (pid == 0) {
        if (release_in_child)
            rk_client_release(c, release_in_child);
        _exit(child_checks_own_connection(c, parent_id));
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void test_forked_child_uses_its_own_connection(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 4, 0);
    long long parent_id = client_id(c); /* now idle in the pool */
    assert_int_equal(fork_and_check(c, parent_id, NULL), CHILD_OK);
    rk_client_free(c);
}

static void test_parent_connection_survives_forked_child(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 4, 0);
    long long parent_id = client_id(c);
    assert_int_equal(fork_and_check(c, parent_id, NULL), CHILD_OK);
    /* Same connection, still in sync: the child never wrote to it or closed
     * it for the parent. */
    assert_int_equal(client_id(c), parent_id);
    assert_int_equal(rk_client_call(c, NULL, "SET after-fork yes"), RK_OK);
    assert_int_equal(client_id(c), parent_id);
    rk_pool_stats st = stats_of(c);
    assert_int_equal(st.created, 1);
    assert_int_equal(st.closed, 0);
    /* The server still lists it, last used by our CLIENT ID. */
    char id[32], want[64];
    snprintf(id, sizeof id, "%lld", parent_id);
    snprintf(want, sizeof want, "id=%lld ", parent_id);
    char *list = rkt_server_cmd(&rkt_shared, "CLIENT", "LIST", "ID", id, NULL);
    assert_non_null(strstr(list, want));
    assert_non_null(strstr(list, " cmd=client|id "));
    free(list);
    rk_client_free(c);
}

static void test_child_freeing_the_client_leaves_parent_connection_alone(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 4, 0);
    long long parent_id = client_id(c);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        rk_client_free(c); /* closes the child's copies of the sockets */
        _exit(CHILD_OK);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == CHILD_OK);
    assert_int_equal(client_id(c), parent_id);
    assert_int_equal(stats_of(c).closed, 0);
    rk_client_free(c);
}

static void test_connection_acquired_before_fork_is_closed_when_child_releases_it(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 4, 0);
    rk_conn *held;
    assert_int_equal(rk_client_acquire(c, &held), RK_OK);
    long long held_id = conn_id(held);
    /* The child gives it back and must then get a connection of its own. */
    assert_int_equal(fork_and_check(c, held_id, held), CHILD_OK);
    assert_int_equal(conn_id(held), held_id); /* untouched for the parent */
    rk_client_release(c, held);
    assert_int_equal(client_id(c), held_id);
    rk_client_free(c);
}

/* A thread of the parent holding the client's node list lock. */
typedef struct lock_holder {
    pthread_mutex_t *mu;
    pthread_mutex_t gate;
    pthread_cond_t cv;
    bool locked, release;
} lock_holder;

static void *hold_lock(void *arg) {
    lock_holder *h = arg;
    pthread_mutex_lock(h->mu);
    pthread_mutex_lock(&h->gate);
    h->locked = true;
    pthread_cond_broadcast(&h->cv);
    while (!h->release)
        pthread_cond_wait(&h->cv, &h->gate);
    pthread_mutex_unlock(&h->gate);
    pthread_mutex_unlock(h->mu);
    return NULL;
}

/* A fork while another thread holds the lock of the client's node list
 * (reading the pool statistics, following a redirect): in the child that
 * thread does not exist, and the lock must not stay held for ever. The
 * child's statistics call returns (an alarm ends a child that hangs). */
static void test_child_is_not_stuck_on_a_node_lock_held_at_fork(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 4, 0);
    lock_holder h = {.mu = &rk_client_nodes(c)->mu};
    pthread_mutex_init(&h.gate, NULL);
    pthread_cond_init(&h.cv, NULL);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hold_lock, &h), 0);
    pthread_mutex_lock(&h.gate);
    while (!h.locked)
        pthread_cond_wait(&h.cv, &h.gate);
    pthread_mutex_unlock(&h.gate);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        rk_pool_stats st;
        rk_client_pool_stats(c, &st);
        _exit(rk_client_call(c, NULL, "PING") == RK_OK ? CHILD_OK : CHILD_CALL_FAILED);
    }
    pthread_mutex_lock(&h.gate);
    h.release = true;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.gate);
    pthread_join(t, NULL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status)); /* not killed by the alarm */
    assert_int_equal(WEXITSTATUS(status), CHILD_OK);
    pthread_cond_destroy(&h.cv);
    pthread_mutex_destroy(&h.gate);
    rk_client_free(c);
}

/* What a child does with a pipeline that was watching when it forked. */
typedef enum { CHILD_FREES, CHILD_EXECS } child_use;

/* Forks while p watches, lets the child use p (`use`), and returns the
 * child's exit status: 0 when what it did was refused or sent nothing. */
static int fork_with_watching_pipeline(rk_pipeline *p, child_use use) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return CHILD_NO_FORK;
    if (pid == 0) {
        int rc = RK_ECLOSED;
        if (use == CHILD_EXECS) {
            rk_pipeline_multi(p);
            rk_pipeline_append(p, "SET pool:fork:watched child");
            rc = rk_pipeline_exec(p);
        }
        rk_pipeline_free(p);
        _exit(rc == RK_ECLOSED ? CHILD_OK : CHILD_CALL_FAILED);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* The connection a watching pipeline holds is its parent's in a forked
 * child: whatever the child does with the pipeline must not reach it. An
 * UNWATCH (freeing it) or an EXEC (running it) from the child would end
 * the parent's watch, and the parent's transaction would then run over a
 * key changed meanwhile. */
static void child_use_of_watching_pipeline_leaves_parents_watch(child_use use) {
    rkt_shared_need();
    rk_client *c = pooled_client(rkt_server_port(&rkt_shared), 4, 0);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    const rk_str key = RK_STR("pool:fork:watched");
    assert_int_equal(rk_pipeline_watch(p, &key, 1), RK_OK);
    assert_int_equal(fork_with_watching_pipeline(p, use), CHILD_OK);
    free(rkt_server_cmd(&rkt_shared, "SET", "pool:fork:watched", "changed", NULL));
    assert_int_equal(rk_pipeline_multi(p), RK_OK);
    assert_int_equal(rk_pipeline_append(p, "SET pool:fork:watched parent"), RK_OK);
    assert_int_equal(rk_pipeline_exec(p), RK_EWATCH);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_child_freeing_a_watching_pipeline_leaves_the_parents_watch(void **state) {
    (void)state;
    child_use_of_watching_pipeline_leaves_parents_watch(CHILD_FREES);
}

static void test_child_running_a_watching_pipeline_is_eclosed(void **state) {
    (void)state;
    child_use_of_watching_pipeline_leaves_parents_watch(CHILD_EXECS);
}

/* ---- the pool's lock failing ------------------------------------------- */

/* This file's pthread_mutex_init and pthread_cond_init/destroy stand in
 * for the C library's (the executable's own definitions come first): they
 * count condition variables made and destroyed, and make a lock fail to
 * be made on demand. */
static bool fail_mutex_init;
static int conds_live;

int pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a) {
    static int (*real)(pthread_mutex_t *, const pthread_mutexattr_t *);
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "pthread_mutex_init");
    return fail_mutex_init ? EAGAIN : real(m, a);
}

int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *a) {
    static int (*real)(pthread_cond_t *, const pthread_condattr_t *);
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "pthread_cond_init");
    int rc = real(c, a);
    conds_live += rc == 0;
    return rc;
}

int pthread_cond_destroy(pthread_cond_t *c) {
    static int (*real)(pthread_cond_t *);
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "pthread_cond_destroy");
    conds_live--;
    return real(c);
}

static void test_pool_init_whose_lock_fails_leaves_no_condition_variable(void **state) {
    (void)state;
    rk_pool p;
    int before = conds_live;
    fail_mutex_init = true;
    int rc = rk_pool_init(&p, 2);
    fail_mutex_init = false;
    assert_int_equal(rc, RK_ENOMEM);
    assert_int_equal(conds_live, before);
}

/* In a forked child the pool's lock is made anew; when that fails the
 * pool says so instead of using the parent's lock, and works once the
 * lock can be made. The child reports through its exit status. */
static int child_takes_while_the_lock_fails(rk_pool *p) {
    rk_conn *conn;
    fail_mutex_init = true;
    int rc = rk_pool_take(p, 0, &conn);
    fail_mutex_init = false;
    if (rc != RK_ENOMEM)
        return 1;
    if (rk_pool_take(p, 0, &conn) != RK_OK || conn != NULL)
        return 2;
    rk_pool_drop(p, NULL);
    return 0;
}

static void test_pool_reset_after_fork_reports_a_lock_it_could_not_make(void **state) {
    (void)state;
    rk_pool p;
    assert_int_equal(rk_pool_init(&p, 1), RK_OK);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_takes_while_the_lock_fails(&p));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    rk_pool_destroy(&p);
}

/* ---- main --------------------------------------------------------------- */

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_share_a_pool_of_4),
        cmocka_unit_test(test_threads_share_a_pool_of_16),
        cmocka_unit_test(test_exhausted_pool_fails_with_epool_after_timeout),
        cmocka_unit_test(test_acquire_on_exhausted_pool_fails_with_epool),
        cmocka_unit_test(test_pipeline_on_exhausted_pool_fails_each_command_with_epool),
        cmocka_unit_test(test_connection_given_back_to_another_client_is_refused),
        cmocka_unit_test(test_release_wakes_a_waiting_call),
        cmocka_unit_test(test_new_client_opens_no_connection),
        cmocka_unit_test(test_stats_count_connections_in_use_and_idle),
        cmocka_unit_test(test_most_recently_used_connection_is_taken_first),
        cmocka_unit_test(test_closed_connection_is_not_pooled),
        cmocka_unit_test(test_connection_with_unread_reply_is_not_pooled),
        cmocka_unit_test(test_connection_idle_past_health_check_is_pinged_first),
        cmocka_unit_test(test_timeout_set_on_acquired_connection_ends_at_release),
        cmocka_unit_test(test_killed_connection_is_discarded_not_reused),
        cmocka_unit_test(test_call_after_server_restart_reconnects),
        cmocka_unit_test(test_forked_child_uses_its_own_connection),
        cmocka_unit_test(test_parent_connection_survives_forked_child),
        cmocka_unit_test(test_child_freeing_the_client_leaves_parent_connection_alone),
        cmocka_unit_test(test_connection_acquired_before_fork_is_closed_when_child_releases_it),
        cmocka_unit_test(test_child_freeing_a_watching_pipeline_leaves_the_parents_watch),
        cmocka_unit_test(test_child_running_a_watching_pipeline_is_eclosed),
        cmocka_unit_test(test_child_is_not_stuck_on_a_node_lock_held_at_fork),
        cmocka_unit_test(test_pool_init_whose_lock_fails_leaves_no_condition_variable),
        cmocka_unit_test(test_pool_reset_after_fork_reports_a_lock_it_could_not_make),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
