/* Distributed locks against real servers: rk_lock on one server (mutual
 * exclusion across 16 threads and 4 processes, expiry and stale owners,
 * fencing tokens, blocking and non-blocking acquire, extend, the watchdog,
 * scripts reloaded after SCRIPT FLUSH) and rk_redlock on five servers
 * (instances down, a slow instance, validity). Needs redis-server; skips
 * without it. */
#define _GNU_SOURCE

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rediskit/client.h"
#include "rediskit/error.h"
#include "rediskit/lock.h"
#include "rediskit/reply.h"
#include "rkt_fakeserver.h"
#include "rkt_proxy.h"
#include "rkt_server.h"
#include "rkt_shared.h"

#define REDLOCK_N 5

/* The five independent servers of the Redlock tests (group setup). */
static rkt_server redlock_srv[REDLOCK_N];
static bool have_redlock;

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

static rk_client *client_of(const rkt_server *srv) {
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(srv)});
    assert_non_null(c);
    return c;
}

static rk_client *shared_client(void) {
    rkt_shared_need();
    return client_of(&rkt_shared);
}

static rk_lock *lock_of(rk_client *c, const char *name, rk_lock_opts opts) {
    rk_lock *l = rk_lock_new(c, name, &opts);
    assert_non_null(l);
    return l;
}

/* The raw reply of one command on srv, which the caller frees. */
static char *raw(const rkt_server *srv, const char *arg0, const char *arg1, const char *arg2) {
    char *r = rkt_server_cmd(srv, arg0, arg1, arg2, NULL);
    assert_non_null(r);
    return r;
}

/* The string value of key on srv (malloc'd), or NULL when it is missing. */
static char *server_get(const rkt_server *srv, const char *key) {
    char *r = raw(srv, "GET", key, NULL);
    if (r[0] != '$' || strcmp(r, "$-1\r\n") == 0) {
        free(r);
        return NULL;
    }
    char *v = strdup(strchr(r, '\n') + 1);
    free(r);
    v[strcspn(v, "\r")] = '\0';
    return v;
}

/* An integer command's answer (":N") on srv, e.g. EXISTS, PTTL. */
static long long server_int(const rkt_server *srv, const char *cmd, const char *key) {
    char *r = raw(srv, cmd, key, NULL);
    assert_int_equal(r[0], ':');
    long long v = atoll(r + 1);
    free(r);
    return v;
}

static void server_run(const rkt_server *srv, const char *a0, const char *a1, const char *a2) {
    free(raw(srv, a0, a1, a2));
}

/* Waits (up to 5 s) until key is gone from srv (reading it expires it). */
static void await_gone(const rkt_server *srv, const char *key) {
    long long deadline = now_ms() + 5000;
    while (server_int(srv, "EXISTS", key) != 0 && now_ms() < deadline)
        sleep_ms(10);
    assert_int_equal(server_int(srv, "EXISTS", key), 0);
}

/* How many times srv ran cmd ("evalsha", "eval") since its last
 * CONFIG RESETSTAT, from INFO commandstats. */
static long long calls_of(const rkt_server *srv, const char *cmd) {
    char *info = raw(srv, "INFO", "commandstats", NULL);
    char field[64];
    snprintf(field, sizeof field, "cmdstat_%s:calls=", cmd);
    const char *at = strstr(info, field);
    long long n = at ? atoll(at + strlen(field)) : 0;
    free(info);
    return n;
}

static bool is_hex_token(const char *t) {
    return t != NULL && strlen(t) == RK_LOCK_TOKEN_LEN &&
           strspn(t, "0123456789abcdef") == strlen(t);
}

/* ---- acquire and release ------------------------------------------------ */

static void test_acquire_sets_key_to_token_with_ttl(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *l = lock_of(c, "basic", (rk_lock_opts){.ttl_ms = 10000});
    assert_null(rk_lock_token(l));
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    assert_true(is_hex_token(rk_lock_token(l)));
    char *v = server_get(&rkt_shared, "basic");
    assert_string_equal(v, rk_lock_token(l));
    free(v);
    long long ttl = server_int(&rkt_shared, "PTTL", "basic");
    assert_true(ttl > 0 && ttl <= 10000);
    assert_int_equal(rk_lock_release(l), RK_OK);
    assert_int_equal(server_int(&rkt_shared, "EXISTS", "basic"), 0);
    assert_null(rk_lock_token(l));
    rk_lock_free(l);
    rk_client_free(c);
}

static void test_each_acquisition_gets_a_new_token(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *l = lock_of(c, "tokens", (rk_lock_opts){0});
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    char first[RK_LOCK_TOKEN_LEN + 1];
    strcpy(first, rk_lock_token(l));
    assert_int_equal(rk_lock_release(l), RK_OK);
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    assert_string_not_equal(rk_lock_token(l), first);
    assert_int_equal(rk_lock_release(l), RK_OK);
    rk_lock_free(l);
    rk_client_free(c);
}

static void test_acquiring_a_held_object_again_is_einval(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *l = lock_of(c, "reentry", (rk_lock_opts){.non_blocking = true});
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    assert_int_equal(rk_lock_acquire(l), RK_EINVAL);
    assert_int_equal(rk_lock_release(l), RK_OK);
    rk_lock_free(l);
    rk_client_free(c);
}

static void test_release_of_unheld_lock_is_enotowner(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *l = lock_of(c, "never-held", (rk_lock_opts){0});
    assert_int_equal(rk_lock_release(l), RK_ENOTOWNER);
    assert_int_equal(rk_error_last()->code, RK_ENOTOWNER);
    rk_lock_free(l);
    rk_client_free(c);
}

static void test_owned_and_locked_differ_between_owner_and_other(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *a = lock_of(c, "seen", (rk_lock_opts){0});
    rk_lock *b = lock_of(c, "seen", (rk_lock_opts){.non_blocking = true});
    assert_int_equal(rk_lock_acquire(a), RK_OK);
    bool owned, locked;
    assert_int_equal(rk_lock_owned(a, &owned), RK_OK);
    assert_true(owned);
    assert_int_equal(rk_lock_owned(b, &owned), RK_OK);
    assert_false(owned);
    assert_int_equal(rk_lock_locked(b, &locked), RK_OK);
    assert_true(locked);
    assert_int_equal(rk_lock_release(a), RK_OK);
    assert_int_equal(rk_lock_locked(b, &locked), RK_OK);
    assert_false(locked);
    rk_lock_free(a);
    rk_lock_free(b);
    rk_client_free(c);
}

static void test_ttl_reports_time_left_or_minus_two(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *l = lock_of(c, "ttl-left", (rk_lock_opts){.ttl_ms = 5000});
    long long ttl;
    assert_int_equal(rk_lock_ttl(l, &ttl), RK_OK);
    assert_int_equal(ttl, -2);
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    assert_int_equal(rk_lock_ttl(l, &ttl), RK_OK);
    assert_true(ttl > 0 && ttl <= 5000);
    assert_int_equal(rk_lock_release(l), RK_OK);
    rk_lock_free(l);
    rk_client_free(c);
}

/* ---- blocking ----------------------------------------------------------- */

static void test_non_blocking_acquire_fails_at_once_when_held(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *a = lock_of(c, "nb", (rk_lock_opts){0});
    /* A sleep of 10 s: had it waited even once, it would take that long. */
    rk_lock *b = lock_of(c, "nb", (rk_lock_opts){.non_blocking = true, .sleep_ms = 10000});
    assert_int_equal(rk_lock_acquire(a), RK_OK);
    long long start = now_ms();
    assert_int_equal(rk_lock_acquire(b), RK_ELOCKED);
    assert_true(now_ms() - start < 9000);
    assert_int_equal(rk_error_last()->code, RK_ELOCKED);
    assert_null(rk_lock_token(b));
    assert_int_equal(rk_lock_release(a), RK_OK);
    rk_lock_free(a);
    rk_lock_free(b);
    rk_client_free(c);
}

static void test_blocking_acquire_gives_up_at_its_timeout(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *a = lock_of(c, "bt", (rk_lock_opts){.ttl_ms = 30000});
    rk_lock *b = lock_of(c, "bt", (rk_lock_opts){.blocking_timeout_ms = 300, .sleep_ms = 40});
    assert_int_equal(rk_lock_acquire(a), RK_OK);
    long long start = now_ms();
    assert_int_equal(rk_lock_acquire(b), RK_ELOCKED);
    assert_true(now_ms() - start >= 300);
    assert_int_equal(rk_lock_release(a), RK_OK);
    rk_lock_free(a);
    rk_lock_free(b);
    rk_client_free(c);
}

/* The holder's lock object is handed to this thread, which releases it:
 * handing the object over hands over the lock. */
typedef struct release_later {
    rk_lock *lock;
    int delay_ms;
    int rc;
    long long released_at;
} release_later;

static void *release_after_delay(void *arg) {
    release_later *r = arg;
    sleep_ms(r->delay_ms);
    r->released_at = now_ms();
    r->rc = rk_lock_release(r->lock);
    return NULL;
}

static void test_blocking_acquire_succeeds_when_holder_releases(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *a = lock_of(c, "handover", (rk_lock_opts){.ttl_ms = 30000, .fencing = true});
    rk_lock *b =
        lock_of(c, "handover",
                (rk_lock_opts){.blocking_timeout_ms = 20000, .sleep_ms = 10, .fencing = true});
    assert_int_equal(rk_lock_acquire(a), RK_OK);
    long long fence_a = rk_lock_fence(a);
    release_later r = {.lock = a, .delay_ms = 200};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_after_delay, &r), 0);
    int rc = rk_lock_acquire(b);
    long long acquired_at = now_ms();
    pthread_join(t, NULL);
    assert_int_equal(r.rc, RK_OK);
    assert_int_equal(rc, RK_OK);
    assert_true(acquired_at >= r.released_at);
    assert_true(rk_lock_fence(b) > fence_a);
    assert_int_equal(rk_lock_release(b), RK_OK);
    rk_lock_free(a);
    rk_lock_free(b);
    rk_client_free(c);
}

/* ---- expiry, stale owners, fencing -------------------------------------- */

static void test_expired_lock_lets_next_owner_in(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *old = lock_of(c, "expiring", (rk_lock_opts){.ttl_ms = 200});
    rk_lock *next = lock_of(c, "expiring", (rk_lock_opts){.non_blocking = true});
    assert_int_equal(rk_lock_acquire(old), RK_OK);
    assert_int_equal(rk_lock_acquire(next), RK_ELOCKED);
    await_gone(&rkt_shared, "expiring");
    assert_int_equal(rk_lock_acquire(next), RK_OK);
    assert_int_equal(rk_lock_release(next), RK_OK);
    rk_lock_free(old);
    rk_lock_free(next);
    rk_client_free(c);
}

static void test_stale_owner_cannot_release_or_extend(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *old = lock_of(c, "stale", (rk_lock_opts){.ttl_ms = 200});
    rk_lock *next = lock_of(c, "stale", (rk_lock_opts){.ttl_ms = 30000});
    assert_int_equal(rk_lock_acquire(old), RK_OK);
    await_gone(&rkt_shared, "stale");
    assert_int_equal(rk_lock_acquire(next), RK_OK);
    assert_int_equal(rk_lock_extend(old, 10000, false), RK_ENOTOWNER);
    assert_int_equal(rk_lock_reacquire(old), RK_ENOTOWNER);
    assert_int_equal(rk_lock_release(old), RK_ENOTOWNER);
    assert_int_equal(rk_error_last()->code, RK_ENOTOWNER);
    /* The new owner's lock is untouched. */
    bool owned;
    assert_int_equal(rk_lock_owned(next, &owned), RK_OK);
    assert_true(owned);
    assert_true(server_int(&rkt_shared, "PTTL", "stale") > 10000);
    assert_int_equal(rk_lock_release(next), RK_OK);
    rk_lock_free(old);
    rk_lock_free(next);
    rk_client_free(c);
}

static void test_fencing_tokens_increase_across_owners(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock_opts opts = {.ttl_ms = 150, .fencing = true, .sleep_ms = 10};
    rk_lock *owners[3] = {lock_of(c, "fenced", opts), lock_of(c, "fenced", opts),
                          lock_of(c, "fenced", opts)};
    long long prev = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rk_lock_acquire(owners[i]), RK_OK); /* waits out the last */
        assert_true(rk_lock_fence(owners[i]) > prev);
        prev = rk_lock_fence(owners[i]);
    }
    /* The first two expired and were taken: their releases are refused. */
    assert_int_equal(rk_lock_release(owners[0]), RK_ENOTOWNER);
    assert_int_equal(rk_lock_release(owners[1]), RK_ENOTOWNER);
    assert_int_equal(rk_lock_release(owners[2]), RK_OK);
    assert_int_equal(rk_lock_fence(owners[2]), 0); /* released: no fence */
    for (int i = 0; i < 3; i++)
        rk_lock_free(owners[i]);
    rk_client_free(c);
}

/* A fenced acquire of lock "fenced-bad" with its counter set to value:
 * refused by the server with a message holding why, and the lock, which
 * the script had set before the counter failed, is free again. */
static void fenced_acquire_refused(const char *value, const char *why) {
    rk_client *c = shared_client();
    server_run(&rkt_shared, "DEL", "fenced-bad", NULL);
    server_run(&rkt_shared, "SET", "fenced-bad:ctr", value);
    rk_lock *l = lock_of(
        c, "fenced-bad",
        (rk_lock_opts){.fencing = true, .fence_key = "fenced-bad:ctr", .non_blocking = true});
    assert_int_equal(rk_lock_acquire(l), RK_ESERVER);
    assert_non_null(strstr(rk_error_last()->message, why));
    assert_null(rk_lock_token(l));
    assert_int_equal(server_int(&rkt_shared, "EXISTS", "fenced-bad"), 0);
    server_run(&rkt_shared, "DEL", "fenced-bad:ctr", NULL);
    rk_lock_free(l);
    rk_client_free(c);
}

/* A counter that INCR refuses (not a number): the script is not rolled
 * back, so it must undo its SET itself. */
static void test_fenced_acquire_failing_at_counter_leaves_lock_free(void **state) {
    (void)state;
    fenced_acquire_refused("not-a-number", "not an integer");
}

/* A counter at -1 would make the fencing token 0, the script's answer for
 * "held elsewhere": the acquire would report a lock it has just taken as
 * held by another. */
static void test_fenced_acquire_with_counter_below_zero_leaves_lock_free(void **state) {
    (void)state;
    fenced_acquire_refused("-1", "not positive");
}

static void test_fence_counter_lives_in_companion_key(void **state) {
    (void)state;
    rk_client *c = shared_client();
    server_run(&rkt_shared, "DEL", "{fc}:fence", NULL);
    server_run(&rkt_shared, "DEL", "tag{fc2}:fence", NULL);
    rk_lock *plain = lock_of(c, "fc", (rk_lock_opts){.fencing = true});
    rk_lock *tagged = lock_of(c, "tag{fc2}", (rk_lock_opts){.fencing = true});
    assert_int_equal(rk_lock_acquire(plain), RK_OK);
    assert_int_equal(rk_lock_acquire(tagged), RK_OK);
    assert_int_equal(rk_lock_fence(plain), 1);
    assert_int_equal(rk_lock_fence(tagged), 1);
    char *v = server_get(&rkt_shared, "{fc}:fence");
    assert_string_equal(v, "1");
    free(v);
    v = server_get(&rkt_shared, "tag{fc2}:fence");
    assert_string_equal(v, "1");
    free(v);
    assert_int_equal(server_int(&rkt_shared, "PTTL", "{fc}:fence"), -1); /* never expires */
    assert_int_equal(rk_lock_release(plain), RK_OK);
    assert_int_equal(rk_lock_release(tagged), RK_OK);
    rk_lock_free(plain);
    rk_lock_free(tagged);
    rk_client_free(c);
}

/* ---- extend ------------------------------------------------------------- */

static void test_extend_adds_to_time_left(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *l = lock_of(c, "ext-add", (rk_lock_opts){.ttl_ms = 10000});
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    assert_int_equal(rk_lock_extend(l, 50000, false), RK_OK);
    long long ttl = server_int(&rkt_shared, "PTTL", "ext-add");
    assert_true(ttl > 50000 && ttl <= 60000);
    assert_int_equal(rk_lock_release(l), RK_OK);
    rk_lock_free(l);
    rk_client_free(c);
}

static void test_extend_with_replace_sets_time_left(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *l = lock_of(c, "ext-replace", (rk_lock_opts){.ttl_ms = 60000});
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    assert_int_equal(rk_lock_extend(l, 5000, true), RK_OK);
    long long ttl = server_int(&rkt_shared, "PTTL", "ext-replace");
    assert_true(ttl > 0 && ttl <= 5000);
    assert_int_equal(rk_lock_release(l), RK_OK);
    rk_lock_free(l);
    rk_client_free(c);
}

static void test_reacquire_resets_time_left_to_ttl(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *l = lock_of(c, "reacq", (rk_lock_opts){.ttl_ms = 20000});
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    assert_int_equal(rk_lock_extend(l, 1000, true), RK_OK);
    assert_int_equal(rk_lock_reacquire(l), RK_OK);
    assert_true(server_int(&rkt_shared, "PTTL", "reacq") > 1000);
    assert_int_equal(rk_lock_release(l), RK_OK);
    rk_lock_free(l);
    rk_client_free(c);
}

static void test_lock_without_ttl_never_expires_and_refuses_extend(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *l = lock_of(c, "forever", (rk_lock_opts){.ttl_ms = -1});
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    assert_int_equal(server_int(&rkt_shared, "PTTL", "forever"), -1);
    assert_int_equal(rk_lock_extend(l, 1000, false), RK_EINVAL);
    assert_int_equal(rk_lock_reacquire(l), RK_EINVAL);
    assert_int_equal(rk_lock_release(l), RK_OK);
    assert_null(rk_lock_new(c, "forever", &(rk_lock_opts){.ttl_ms = -1, .watchdog = true}));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    rk_lock_free(l);
    rk_client_free(c);
}

/* ---- scripts ------------------------------------------------------------ */

static void test_scripts_reload_after_script_flush(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *l = lock_of(c, "flushed", (rk_lock_opts){.fencing = true});
    server_run(&rkt_shared, "SCRIPT", "FLUSH", NULL);
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    server_run(&rkt_shared, "SCRIPT", "FLUSH", NULL);
    assert_int_equal(rk_lock_extend(l, 1000, false), RK_OK);
    server_run(&rkt_shared, "SCRIPT", "FLUSH", NULL);
    assert_int_equal(rk_lock_release(l), RK_OK);
    assert_int_equal(server_int(&rkt_shared, "EXISTS", "flushed"), 0);
    rk_lock_free(l);
    rk_client_free(c);
}

/* Each script is EVALed once after a flush and found by EVALSHA from then
 * on: the SHA-1s in lock.c are those of the scripts. */
static void test_scripts_run_by_evalsha_once_loaded(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *l = lock_of(c, "cached", (rk_lock_opts){.fencing = true});
    server_run(&rkt_shared, "SCRIPT", "FLUSH", NULL);
    server_run(&rkt_shared, "CONFIG", "RESETSTAT", NULL);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(rk_lock_acquire(l), RK_OK);
        assert_int_equal(rk_lock_extend(l, 1000, false), RK_OK);
        assert_int_equal(rk_lock_release(l), RK_OK);
    }
    assert_int_equal(calls_of(&rkt_shared, "eval"), 3);    /* acquire, extend, release */
    assert_int_equal(calls_of(&rkt_shared, "evalsha"), 6); /* 3 NOSCRIPT, 3 found */
    rk_lock_free(l);
    rk_client_free(c);
}

/* ---- mutual exclusion --------------------------------------------------- */

#define MX_THREADS 16
#define MX_PROCS 4
#define MX_ROUNDS 50
#define MX_TOTAL ((MX_THREADS + MX_PROCS) * MX_ROUNDS)

/* A run of the shared workload: read-modify-write increments of "mx" with
 * or without the lock "mx-lock", acquired by SET NX PX or, with fencing, by
 * the acquire script. */
typedef struct mx_run {
    bool use_lock;
    bool fencing;
    long long fence_base; /* fence counter before the run */
} mx_run;

enum { MX_OK = 0, MX_CALL_FAILED = 1, MX_FENCE_WRONG = 2, MX_NO_CLIENT = 3 };

/* One increment the slow way: GET, a pause that invites a race, SET. */
static int mx_increment(rk_client *c, long long *seen) {
    rk_reply r;
    if (rk_client_call(c, &r, "GET mx") != RK_OK)
        return MX_CALL_FAILED;
    *seen = rk_reply_type(&r) == RK_REPLY_STRING ? atoll(rk_reply_str(&r)) : 0;
    rk_reply_free(&r);
    struct timespec pause = {0, 200000}; /* 0.2 ms */
    nanosleep(&pause, NULL);
    return rk_client_call(c, NULL, "SET mx %lld", *seen + 1) == RK_OK ? MX_OK : MX_CALL_FAILED;
}

/* MX_ROUNDS increments; under a fenced lock, each section's fencing token
 * must be fence_base + 1 + the value read: one acquisition per increment,
 * in the order of the increments. Returns an MX_ code. */
static int mx_rounds(rk_client *c, const mx_run *run) {
    rk_lock *l = NULL;
    if (run->use_lock) {
        l = rk_lock_new(c, "mx-lock",
                        &(rk_lock_opts){.ttl_ms = 60000,
                                        .sleep_ms = 1,
                                        .fencing = run->fencing,
                                        .blocking_timeout_ms = 60000});
        if (l == NULL)
            return MX_CALL_FAILED;
    }
    int rc = MX_OK;
    for (int i = 0; i < MX_ROUNDS && rc == MX_OK; i++) {
        long long seen = 0;
        if (l && rk_lock_acquire(l) != RK_OK) {
            rc = MX_CALL_FAILED;
            break;
        }
        rc = mx_increment(c, &seen);
        if (rc == MX_OK && run->fencing && rk_lock_fence(l) != run->fence_base + 1 + seen)
            rc = MX_FENCE_WRONG;
        if (l && rk_lock_release(l) != RK_OK && rc == MX_OK)
            rc = MX_CALL_FAILED;
    }
    rk_lock_free(l);
    return rc;
}

typedef struct mx_thread {
    rk_client *client;
    const mx_run *run;
    int rc;
    pthread_t thread;
} mx_thread;

static void *mx_thread_main(void *arg) {
    mx_thread *t = arg;
    t->rc = mx_rounds(t->client, t->run);
    return NULL;
}

/* A forked worker: waits until go_fd reads EOF, then runs the rounds with
 * a client of its own and exits with their MX_ code. No cmocka here. */
static void mx_child(int go_fd, const mx_run *run) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char b;
    while (read(go_fd, &b, 1) > 0)
        ;
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_shared)});
    int rc = c ? mx_rounds(c, run) : MX_NO_CLIENT;
    rk_client_free(c);
    _exit(rc);
}

/* Runs the workload on MX_THREADS threads and MX_PROCS processes at once
 * and returns the counter's final value; every worker must succeed. */
static long long mx_workload(bool use_lock, bool fencing) {
    server_run(&rkt_shared, "DEL", "mx", NULL);
    char *fence = server_get(&rkt_shared, "{mx-lock}:fence");
    mx_run run = {.use_lock = use_lock, .fencing = fencing, .fence_base = fence ? atoll(fence) : 0};
    free(fence);
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t pids[MX_PROCS];
    fflush(NULL);
    for (int i = 0; i < MX_PROCS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(go[1]);
            mx_child(go[0], &run);
        }
    }
    close(go[0]);
    rk_client *c = client_of(&rkt_shared);
    mx_thread t[MX_THREADS];
    int started = 0;
    for (; started < MX_THREADS; started++) {
        t[started] = (mx_thread){.client = c, .run = &run};
        if (pthread_create(&t[started].thread, NULL, mx_thread_main, &t[started]) != 0)
            break;
    }
    close(go[1]); /* the processes start */
    int failures = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(t[i].thread, NULL);
        failures += t[i].rc != MX_OK;
    }
    for (int i = 0; i < MX_PROCS; i++) {
        int status = -1;
        if (pids[i] < 0 || waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != MX_OK)
            failures++;
    }
    rk_client_free(c);
    assert_int_equal(started, MX_THREADS);
    assert_int_equal(failures, 0);
    char *v = server_get(&rkt_shared, "mx");
    long long count = v ? atoll(v) : 0;
    free(v);
    return count;
}

/* 16 threads x 50 + 4 processes x 50 = 1000 increments, each a GET and a
 * SET with a pause between: under the lock, none is lost. */
static void test_lock_makes_read_modify_write_exact_across_threads_and_processes(void **state) {
    (void)state;
    rkt_shared_need();
    long long count = mx_workload(true, false);
    fprintf(stderr, "mutual exclusion: %lld of %d increments counted with the lock\n", count,
            MX_TOTAL);
    assert_int_equal(count, MX_TOTAL);
}

/* The same through the fencing acquire script; and each section's fencing
 * token (checked inside it) follows the increments one for one. */
static void test_fenced_lock_is_exclusive_and_its_tokens_follow_the_sections(void **state) {
    (void)state;
    rkt_shared_need();
    long long count = mx_workload(true, true);
    fprintf(stderr, "mutual exclusion: %lld of %d increments counted with the fenced lock\n", count,
            MX_TOTAL);
    assert_int_equal(count, MX_TOTAL);
}

/* The same workload without the lock loses updates: what the test above
 * shows is the lock's doing. */
static void test_same_workload_without_lock_loses_updates(void **state) {
    (void)state;
    rkt_shared_need();
    long long count = mx_workload(false, false);
    fprintf(stderr, "without the lock: %lld of %d increments counted\n", count, MX_TOTAL);
    assert_true(count < MX_TOTAL);
}

/* ---- watchdog ----------------------------------------------------------- */

static void test_watchdog_keeps_lock_past_its_ttl(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *held = lock_of(c, "wd-keep", (rk_lock_opts){.ttl_ms = 600, .watchdog = true});
    rk_lock *other = lock_of(c, "wd-keep", (rk_lock_opts){.non_blocking = true});
    assert_int_equal(rk_lock_acquire(held), RK_OK);
    long long start = now_ms();
    int tries = 0, refused = 0;
    while (now_ms() - start < 2000) { /* more than three TTLs */
        sleep_ms(100);
        tries++;
        refused += rk_lock_acquire(other) == RK_ELOCKED;
    }
    assert_int_equal(refused, tries);
    bool owned;
    assert_int_equal(rk_lock_owned(held, &owned), RK_OK);
    assert_true(owned);
    assert_int_equal(rk_lock_release(held), RK_OK);
    rk_lock_free(held);
    rk_lock_free(other);
    rk_client_free(c);
}

static void test_watchdog_stops_after_release(void **state) {
    (void)state;
    rk_client *c = shared_client();
    rk_lock *l = lock_of(c, "wd-stop", (rk_lock_opts){.ttl_ms = 300, .watchdog = true});
    server_run(&rkt_shared, "CONFIG", "RESETSTAT", NULL);
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    sleep_ms(450); /* the watchdog has extended it at least once */
    assert_int_equal(rk_lock_release(l), RK_OK);
    long long scripts = calls_of(&rkt_shared, "evalsha");
    assert_true(scripts >= 2); /* an extension, and the release */
    sleep_ms(600);             /* two TTLs: six ticks of a running watchdog */
    assert_int_equal(calls_of(&rkt_shared, "evalsha"), scripts);
    assert_int_equal(server_int(&rkt_shared, "EXISTS", "wd-stop"), 0);
    rk_lock_free(l);
    rk_client_free(c);
}

typedef struct lost_note {
    atomic_int calls;
    atomic_int error;
    rk_lock *lock;
} lost_note;

static void note_lost(void *userdata, rk_lock *lock, int error) {
    lost_note *n = userdata;
    n->lock = lock;
    atomic_store(&n->error, error);
    atomic_fetch_add(&n->calls, 1);
}

static void test_watchdog_reports_lost_lock(void **state) {
    (void)state;
    rk_client *c = shared_client();
    lost_note note = {0};
    rk_lock *l =
        lock_of(c, "wd-lost",
                (rk_lock_opts){
                    .ttl_ms = 600, .watchdog = true, .on_lost = note_lost, .lost_userdata = &note});
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    server_run(&rkt_shared, "SET", "wd-lost", "intruder"); /* taken behind its back */
    long long deadline = now_ms() + 5000;
    while (atomic_load(&note.calls) == 0 && now_ms() < deadline)
        sleep_ms(10);
    assert_int_equal(atomic_load(&note.calls), 1);
    assert_int_equal(atomic_load(&note.error), RK_ENOTOWNER);
    assert_ptr_equal(note.lock, l);
    bool owned = true;
    assert_int_equal(rk_lock_owned(l, &owned), RK_OK);
    assert_false(owned);
    assert_int_equal(rk_lock_release(l), RK_ENOTOWNER);
    char *v = server_get(&rkt_shared, "wd-lost");
    assert_string_equal(v, "intruder"); /* not deleted by the stale release */
    free(v);
    rk_lock_free(l);
    rk_client_free(c);
}

/* ---- Redlock ------------------------------------------------------------ */

/* Restarts any Redlock server an earlier (maybe failed) test left down. */
static void need_redlock(void) {
    if (!have_redlock)
        skip();
    for (int i = 0; i < REDLOCK_N; i++)
        if (rkt_server_pid(&redlock_srv[i]) == 0)
            assert_int_equal(rkt_server_restart(&redlock_srv[i]), 0);
}

/* Clients of the five servers, with short connects as Redlock wants;
 * port_override[i] > 0 points client i elsewhere (a proxy). */
static void redlock_clients(rk_client *c[REDLOCK_N], const int *port_override) {
    for (int i = 0; i < REDLOCK_N; i++) {
        int port = port_override && port_override[i] > 0 ? port_override[i]
                                                         : rkt_server_port(&redlock_srv[i]);
        c[i] = rk_client_new(&(rk_options){.port = port, .connect_timeout_ms = 1000});
        assert_non_null(c[i]);
    }
}

static void free_clients(rk_client *c[REDLOCK_N]) {
    for (int i = 0; i < REDLOCK_N; i++)
        rk_client_free(c[i]);
}

static rk_redlock *redlock_of(rk_client *c[REDLOCK_N], const char *name, rk_redlock_opts o) {
    rk_redlock *rl = rk_redlock_new(c, REDLOCK_N, name, &o);
    assert_non_null(rl);
    return rl;
}

/* Generous per-instance timeout: sanitizer builds on a busy machine. */
static const rk_redlock_opts redlock_defaults = {
    .ttl_ms = 10000, .instance_timeout_ms = 500, .attempts = 2, .retry_delay_ms = 20};

static int instances_holding(const char *name, const char *token) {
    int n = 0;
    for (int i = 0; i < REDLOCK_N; i++) {
        if (rkt_server_pid(&redlock_srv[i]) == 0)
            continue;
        char *v = server_get(&redlock_srv[i], name);
        n += v != NULL && token != NULL && strcmp(v, token) == 0;
        free(v);
    }
    return n;
}

static int instances_with_key(const char *name) {
    int n = 0;
    for (int i = 0; i < REDLOCK_N; i++)
        if (rkt_server_pid(&redlock_srv[i]) != 0)
            n += server_int(&redlock_srv[i], "EXISTS", name) != 0;
    return n;
}

static void test_redlock_acquires_on_all_with_validity_below_ttl(void **state) {
    (void)state;
    need_redlock();
    rk_client *c[REDLOCK_N];
    redlock_clients(c, NULL);
    rk_redlock *rl = redlock_of(c, "rl-all", redlock_defaults);
    long long validity = -1;
    assert_int_equal(rk_redlock_acquire(rl, &validity), RK_OK);
    assert_true(validity > 0 && validity < 10000);
    assert_true(is_hex_token(rk_redlock_token(rl)));
    assert_int_equal(instances_holding("rl-all", rk_redlock_token(rl)), REDLOCK_N);
    for (size_t i = 0; i < REDLOCK_N; i++)
        assert_int_equal(rk_redlock_instance_status(rl, i), RK_OK);
    assert_int_equal(rk_redlock_release(rl), RK_OK);
    rk_redlock_free(rl);
    free_clients(c);
}

static void test_redlock_release_frees_every_instance(void **state) {
    (void)state;
    need_redlock();
    rk_client *c[REDLOCK_N];
    redlock_clients(c, NULL);
    rk_redlock *rl = redlock_of(c, "rl-release", redlock_defaults);
    assert_int_equal(rk_redlock_acquire(rl, NULL), RK_OK);
    assert_int_equal(rk_redlock_release(rl), RK_OK);
    assert_int_equal(instances_with_key("rl-release"), 0);
    assert_null(rk_redlock_token(rl));
    assert_int_equal(rk_redlock_release(rl), RK_ENOTOWNER);
    rk_redlock_free(rl);
    free_clients(c);
}

static void test_redlock_held_elsewhere_is_elocked(void **state) {
    (void)state;
    need_redlock();
    rk_client *c[REDLOCK_N];
    redlock_clients(c, NULL);
    rk_redlock *a = redlock_of(c, "rl-contended", redlock_defaults);
    rk_redlock *b = redlock_of(c, "rl-contended", redlock_defaults);
    assert_int_equal(rk_redlock_acquire(a, NULL), RK_OK);
    assert_int_equal(rk_redlock_acquire(b, NULL), RK_ELOCKED);
    for (size_t i = 0; i < REDLOCK_N; i++)
        assert_int_equal(rk_redlock_instance_status(b, i), RK_ELOCKED);
    /* b's clean-up after its failed rounds left a's keys alone. */
    assert_int_equal(instances_holding("rl-contended", rk_redlock_token(a)), REDLOCK_N);
    assert_int_equal(rk_redlock_release(a), RK_OK);
    rk_redlock_free(a);
    rk_redlock_free(b);
    free_clients(c);
}

static void test_redlock_acquires_with_two_instances_down(void **state) {
    (void)state;
    need_redlock();
    rk_client *c[REDLOCK_N];
    redlock_clients(c, NULL);
    rkt_server_kill(&redlock_srv[0]);
    rkt_server_kill(&redlock_srv[3]);
    rk_redlock *rl = redlock_of(c, "rl-two-down", redlock_defaults);
    long long validity = -1;
    int rc = rk_redlock_acquire(rl, &validity);
    int down0 = rk_redlock_instance_status(rl, 0), down3 = rk_redlock_instance_status(rl, 3);
    int held = instances_holding("rl-two-down", rk_redlock_token(rl));
    if (rc == RK_OK)
        rk_redlock_release(rl);
    rk_redlock_free(rl);
    free_clients(c);
    assert_int_equal(rkt_server_restart(&redlock_srv[0]), 0);
    assert_int_equal(rkt_server_restart(&redlock_srv[3]), 0);
    assert_int_equal(rc, RK_OK);
    assert_true(validity > 0 && validity < 10000);
    assert_int_equal(down0, RK_ECONNECT);
    assert_int_equal(down3, RK_ECONNECT);
    assert_int_equal(held, 3);
}

static void test_redlock_fails_with_three_down_and_leaves_nothing_locked(void **state) {
    (void)state;
    need_redlock();
    rk_client *c[REDLOCK_N];
    redlock_clients(c, NULL);
    for (int i = 0; i < 3; i++)
        rkt_server_kill(&redlock_srv[i]);
    rk_redlock *rl = redlock_of(c, "rl-three-down", redlock_defaults);
    int rc = rk_redlock_acquire(rl, NULL);
    int statuses[REDLOCK_N];
    for (size_t i = 0; i < REDLOCK_N; i++)
        statuses[i] = rk_redlock_instance_status(rl, i);
    const char *token = rk_redlock_token(rl);
    int left = instances_with_key("rl-three-down"); /* on the two still up */
    rk_redlock_free(rl);
    free_clients(c);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rkt_server_restart(&redlock_srv[i]), 0);
    assert_int_equal(rc, RK_ECONNECT); /* no refusal: the failures decide */
    assert_null(token);
    assert_int_equal(statuses[3], RK_OK); /* acquired there, then released */
    assert_int_equal(statuses[4], RK_OK);
    assert_int_equal(left, 0);
}

static void test_redlock_counts_slow_instance_as_failed(void **state) {
    (void)state;
    need_redlock();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&redlock_srv[4]));
    assert_non_null(p);
    rkt_proxy_set_mode(p, RKT_PROXY_DELAY, 1500); /* 3 s a round trip: > 500 ms and 1 s */
    int ports[REDLOCK_N] = {0, 0, 0, 0, rkt_proxy_port(p)};
    rk_client *c[REDLOCK_N];
    redlock_clients(c, ports);
    rk_redlock *rl = redlock_of(c, "rl-slow", redlock_defaults);
    long long validity = -1;
    int rc = rk_redlock_acquire(rl, &validity);
    int slow = rk_redlock_instance_status(rl, 4);
    int held = instances_holding("rl-slow", rk_redlock_token(rl));
    if (rc == RK_OK)
        rk_redlock_release(rl);
    rk_redlock_free(rl);
    free_clients(c);
    rkt_proxy_stop(p);
    assert_int_equal(rc, RK_OK);
    assert_int_equal(slow, RK_ETIMEOUT);
    assert_true(held >= 4);
    assert_true(validity > 0 && validity < 10000);
}

static void test_redlock_extend_renews_ttl_on_every_instance(void **state) {
    (void)state;
    need_redlock();
    rk_client *c[REDLOCK_N];
    redlock_clients(c, NULL);
    rk_redlock_opts o = redlock_defaults;
    o.ttl_ms = 3000;
    rk_redlock *rl = redlock_of(c, "rl-extend", o);
    assert_int_equal(rk_redlock_acquire(rl, NULL), RK_OK);
    long long validity = -1;
    assert_int_equal(rk_redlock_extend(rl, 60000, &validity), RK_OK);
    assert_true(validity > 3000 && validity < 60000);
    for (int i = 0; i < REDLOCK_N; i++)
        assert_true(server_int(&redlock_srv[i], "PTTL", "rl-extend") > 3000);
    assert_int_equal(rk_redlock_release(rl), RK_OK);
    rk_redlock_free(rl);
    free_clients(c);
}

static void test_redlock_extend_fails_without_majority(void **state) {
    (void)state;
    need_redlock();
    rk_client *c[REDLOCK_N];
    redlock_clients(c, NULL);
    rk_redlock *rl = redlock_of(c, "rl-extend-lost", redlock_defaults);
    assert_int_equal(rk_redlock_acquire(rl, NULL), RK_OK);
    for (int i = 0; i < 3; i++)
        server_run(&redlock_srv[i], "DEL", "rl-extend-lost", NULL); /* expired there */
    int rc = rk_redlock_extend(rl, 0, NULL);
    rk_redlock_release(rl);
    rk_redlock_free(rl);
    free_clients(c);
    assert_int_equal(rc, RK_ENOTOWNER);
}

/* ---- answers no real server sends ---------------------------------------- */

/* A fake server answering each command with the next of replies. */
static rkt_fake *fake_answering(const char *const *replies, size_t n) {
    rkt_fake_step steps[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        steps[i] = (rkt_fake_step){.reply = replies[i]};
    rkt_fake *f = rkt_fake_start(steps, n, NULL);
    assert_non_null(f);
    return f;
}

/* The scripts answer 0, 1 (or 2 for extend); the fencing acquire 0 or a
 * positive token. Any other number says the server is not running the
 * script we sent: RK_EPROTO, not a lost lock or an acquired one. */
static void test_lock_script_answer_out_of_range_is_eproto(void **state) {
    (void)state;
    static const char *const replies[] = {
        "+OK\r\n", ":7\r\n", /* acquire; release */
        "+OK\r\n", ":7\r\n", /* acquire; extend */
        ":-3\r\n", ":1\r\n", /* fenced acquire; its release */
    };
    rkt_fake *f = fake_answering(replies, 6);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(f)});
    assert_non_null(c);
    rk_lock *l = lock_of(c, "odd", (rk_lock_opts){.non_blocking = true});
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    assert_int_equal(rk_lock_release(l), RK_EPROTO);
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    assert_int_equal(rk_lock_extend(l, 1000, false), RK_EPROTO);
    rk_lock *fenced = lock_of(c, "odd2", (rk_lock_opts){.non_blocking = true, .fencing = true});
    assert_int_equal(rk_lock_acquire(fenced), RK_EPROTO);
    assert_null(rk_lock_token(fenced));
    assert_int_equal(rkt_fake_steps_left(f), 0); /* the fenced SET was released */
    assert_null(rkt_fake_error(f));
    rk_lock_free(fenced);
    rk_lock_free(l);
    rk_client_free(c);
    rkt_fake_free(f);
}

/* The key holding this owner's token followed by more bytes (after a NUL,
 * which a C string compare stops at) is someone else's value. */
static void test_owned_compares_the_whole_value(void **state) {
    (void)state;
    static const char *const set_ok[] = {"+OK\r\n"};
    rkt_fake *f = fake_answering(set_ok, 1);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(f)});
    assert_non_null(c);
    rk_lock *l = lock_of(c, "longer", (rk_lock_opts){.non_blocking = true});
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    char reply[64];
    int n = snprintf(reply, sizeof reply, "$%d\r\n%s", RK_LOCK_TOKEN_LEN + 2, rk_lock_token(l));
    memcpy(reply + n, "\0x\r\n", 5);
    assert_int_equal(rkt_fake_add(f, &(rkt_fake_step){.reply = reply, .reply_len = (size_t)n + 5}),
                     0);
    bool owned = true;
    assert_int_equal(rk_lock_owned(l, &owned), RK_OK);
    assert_false(owned);
    rk_lock_free(l);
    rk_client_free(c);
    rkt_fake_free(f);
}

/* The watchdog's extension answered with a number the script never gives
 * has not extended the lock: the watchdog tries again until the TTL has
 * run out and then reports the lock lost with RK_EPROTO (it used to take
 * any non-zero answer for a renewal and kept "holding" the lock). */
static void test_watchdog_takes_odd_answer_for_no_renewal(void **state) {
    (void)state;
    static const char *const set_ok[] = {"+OK\r\n"};
    rkt_fake *f = fake_answering(set_ok, 1);
    for (int i = 0; i < 60; i++)
        assert_int_equal(rkt_fake_add(f, &(rkt_fake_step){.reply = ":7\r\n"}), 0);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(f)});
    assert_non_null(c);
    lost_note note = {0};
    rk_lock *l = lock_of(
        c, "odd-wd",
        (rk_lock_opts){
            .ttl_ms = 1000, .watchdog = true, .on_lost = note_lost, .lost_userdata = &note});
    assert_int_equal(rk_lock_acquire(l), RK_OK);
    long long deadline = now_ms() + 30000;
    while (atomic_load(&note.calls) == 0 && now_ms() < deadline)
        sleep_ms(10);
    assert_int_equal(atomic_load(&note.calls), 1);
    assert_int_equal(atomic_load(&note.error), RK_EPROTO);
    rk_lock_free(l);
    rk_client_free(c);
    rkt_fake_free(f);
}

static void test_redlock_script_answer_out_of_range_is_eproto(void **state) {
    (void)state;
    static const char *const replies[] = {"+OK\r\n", ":7\r\n"}; /* acquire; release */
    rkt_fake *f = fake_answering(replies, 2);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(f)});
    assert_non_null(c);
    rk_redlock *rl = rk_redlock_new(&c, 1, "odd", &redlock_defaults);
    assert_non_null(rl);
    assert_int_equal(rk_redlock_acquire(rl, NULL), RK_OK);
    assert_int_equal(rk_redlock_release(rl), RK_EPROTO);
    assert_int_equal(rk_redlock_instance_status(rl, 0), RK_EPROTO);
    rk_redlock_free(rl);
    rk_client_free(c);
    rkt_fake_free(f);
}

/* A TTL under the drift a Redlock allows (TTL/100 + 2 ms) plus the 1 ms a
 * round counts at least could never give validity: every acquire would
 * end in RK_ETIMEOUT. It is refused up front, at rk_redlock_new and at
 * rk_redlock_extend; the first TTL that can leave validity, 4 ms, is
 * taken. */
static void test_redlock_ttl_that_leaves_no_validity_is_einval(void **state) {
    (void)state;
    static const char *const replies[] = {"+OK\r\n"}; /* never asked: no round runs */
    rkt_fake *f = fake_answering(replies, 1);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(f)});
    assert_non_null(c);
    for (int ttl = 1; ttl <= 3; ttl++) {
        rk_redlock_opts o = redlock_defaults;
        o.ttl_ms = ttl;
        assert_null(rk_redlock_new(&c, 1, "short", &o));
        assert_int_equal(rk_error_last()->code, RK_EINVAL);
        assert_non_null(strstr(rk_error_last()->message, "leaves no validity"));
    }
    rk_redlock_opts o = redlock_defaults;
    o.ttl_ms = 4;
    rk_redlock *rl = rk_redlock_new(&c, 1, "short", &o);
    assert_non_null(rl);
    assert_int_equal(rk_redlock_extend(rl, 3, NULL), RK_EINVAL);
    rk_redlock_free(rl);
    rk_client_free(c);
    rkt_fake_free(f);
}

/* ---- main --------------------------------------------------------------- */

static int setup(void **state) {
    if (rkt_shared_setup(state) != 0)
        return -1;
    if (!rkt_shared_running())
        return 0;
    for (int i = 0; i < REDLOCK_N; i++) {
        if (rkt_server_start(&redlock_srv[i], NULL) != 0) {
            for (int j = 0; j < i; j++)
                rkt_server_stop(&redlock_srv[j]);
            rkt_shared_teardown(state);
            return -1;
        }
    }
    have_redlock = true;
    return 0;
}

static int teardown(void **state) {
    if (have_redlock)
        for (int i = 0; i < REDLOCK_N; i++)
            rkt_server_stop(&redlock_srv[i]);
    have_redlock = false;
    return rkt_shared_teardown(state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acquire_sets_key_to_token_with_ttl),
        cmocka_unit_test(test_each_acquisition_gets_a_new_token),
        cmocka_unit_test(test_acquiring_a_held_object_again_is_einval),
        cmocka_unit_test(test_release_of_unheld_lock_is_enotowner),
        cmocka_unit_test(test_owned_and_locked_differ_between_owner_and_other),
        cmocka_unit_test(test_ttl_reports_time_left_or_minus_two),
        cmocka_unit_test(test_non_blocking_acquire_fails_at_once_when_held),
        cmocka_unit_test(test_blocking_acquire_gives_up_at_its_timeout),
        cmocka_unit_test(test_blocking_acquire_succeeds_when_holder_releases),
        cmocka_unit_test(test_expired_lock_lets_next_owner_in),
        cmocka_unit_test(test_stale_owner_cannot_release_or_extend),
        cmocka_unit_test(test_fencing_tokens_increase_across_owners),
        cmocka_unit_test(test_fence_counter_lives_in_companion_key),
        cmocka_unit_test(test_fenced_acquire_with_counter_below_zero_leaves_lock_free),
        cmocka_unit_test(test_fenced_acquire_failing_at_counter_leaves_lock_free),
        cmocka_unit_test(test_extend_adds_to_time_left),
        cmocka_unit_test(test_extend_with_replace_sets_time_left),
        cmocka_unit_test(test_reacquire_resets_time_left_to_ttl),
        cmocka_unit_test(test_lock_without_ttl_never_expires_and_refuses_extend),
        cmocka_unit_test(test_scripts_reload_after_script_flush),
        cmocka_unit_test(test_scripts_run_by_evalsha_once_loaded),
        cmocka_unit_test(test_lock_makes_read_modify_write_exact_across_threads_and_processes),
        cmocka_unit_test(test_fenced_lock_is_exclusive_and_its_tokens_follow_the_sections),
        cmocka_unit_test(test_same_workload_without_lock_loses_updates),
        cmocka_unit_test(test_watchdog_keeps_lock_past_its_ttl),
        cmocka_unit_test(test_watchdog_stops_after_release),
        cmocka_unit_test(test_watchdog_reports_lost_lock),
        cmocka_unit_test(test_redlock_acquires_on_all_with_validity_below_ttl),
        cmocka_unit_test(test_redlock_ttl_that_leaves_no_validity_is_einval),
        cmocka_unit_test(test_redlock_release_frees_every_instance),
        cmocka_unit_test(test_redlock_held_elsewhere_is_elocked),
        cmocka_unit_test(test_redlock_acquires_with_two_instances_down),
        cmocka_unit_test(test_redlock_fails_with_three_down_and_leaves_nothing_locked),
        cmocka_unit_test(test_redlock_counts_slow_instance_as_failed),
        cmocka_unit_test(test_redlock_extend_renews_ttl_on_every_instance),
        cmocka_unit_test(test_redlock_extend_fails_without_majority),
        cmocka_unit_test(test_lock_script_answer_out_of_range_is_eproto),
        cmocka_unit_test(test_redlock_script_answer_out_of_range_is_eproto),
        cmocka_unit_test(test_owned_compares_the_whole_value),
        cmocka_unit_test(test_watchdog_takes_odd_answer_for_no_renewal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
