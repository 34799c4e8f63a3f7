/* The harness of the async suites: see rkt_async_env.h. */
#include "rkt_async_env.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rkt_server.h"
#include "rkt_shared.h"
#include "util/common.h"

void record(rk_async *ac, int status, rk_reply *r, void *ud) {
    result *res = ud;
    res->calls++;
    res->status = status;
    res->type = r ? rk_reply_type(r) : RK_REPLY_NIL;
    res->str[0] = '\0';
    if (r && rk_reply_type(r) == RK_REPLY_INTEGER)
        res->integer = rk_reply_int(r);
    /* An array (BLPOP's) records its last element. */
    const rk_reply *s = r && rk_reply_type(r) == RK_REPLY_ARRAY && rk_reply_len(r) > 0
                            ? rk_reply_at(r, rk_reply_len(r) - 1)
                            : r;
    if (s && rk_reply_str(s))
        snprintf(res->str, sizeof(res->str), "%.*s", (int)rk_reply_len(s), rk_reply_str(s));
    else if (r == NULL) /* a failure: what rk_error_last() said of it */
        snprintf(res->str, sizeof(res->str), "%s", rk_error_last()->message);
    if (res->action == ACT_FREE) {
        rk_async_free(ac);
        res->e->ac = NULL;
    } else if (res->action == ACT_DISCONNECT) {
        rk_async_disconnect(ac);
    }
}

rk_async *new_client(env *e, rk_options o, const rk_async_options *ao) {
    rk_async *ac = rk_async_new(&o, ao);
    if (ac == NULL)
        fail_msg("rk_async_new: %s", rk_error_last()->message);
    assert_int_equal(e->k->attach(e->loop, ac), RK_OK);
    return ac;
}

/* A loop of the test's kind and a client of the shared server. */
void env_open(env *e, void **state, const rk_async_options *ao) {
    rkt_shared_need();
    e->k = *state;
    e->loop = e->k->create();
    assert_non_null(e->loop);
    e->ac = new_client(e, (rk_options){.port = rkt_server_port(&rkt_shared)}, ao);
}

void env_close(env *e) {
    rk_async_free(e->ac);
    e->k->destroy(e->loop);
}

/* Runs the loop until *count reaches want; fails after WAIT_MS. */
void wait_count(env *e, const int *count, int want) {
    int64_t end = rk_now_ms() + WAIT_MS;
    while (*count < want) {
        if (rk_now_ms() > end)
            fail_msg("%s: waited %d ms for %d completions, saw %d", e->k->name, WAIT_MS, want,
                     *count);
        assert_int_equal(e->k->run_once(e->loop), 0);
    }
}

/* Runs the loop about ms more, so that a second completion would show. */
void run_for(env *e, int ms) {
    int64_t end = rk_now_ms() + ms;
    while (rk_now_ms() < end)
        assert_int_equal(e->k->run_once(e->loop), 0);
}

/* Runs the loop until the counter at `field` of the client's stats (an
 * offset into rk_async_stats) reaches n; fails after WAIT_MS. */
static void wait_stat(env *e, size_t field, uint64_t n, const char *what) {
    int64_t end = rk_now_ms() + WAIT_MS;
    for (;;) {
        rk_async_stats st;
        rk_async_get_stats(e->ac, &st);
        uint64_t v;
        memcpy(&v, (const char *)&st + field, sizeof(v));
        if (v >= n)
            return;
        if (rk_now_ms() > end)
            fail_msg("%s: %llu %s after %d ms, not %llu", e->k->name, (unsigned long long)v, what,
                     WAIT_MS, (unsigned long long)n);
        assert_int_equal(e->k->run_once(e->loop), 0);
    }
}

/* Runs the loop until the client has made n connections. */
void wait_connects(env *e, uint64_t n) {
    wait_stat(e, offsetof(rk_async_stats, connects), n, "connections");
}

/* Runs the loop until the client has sent n commands (rk_async_stats). */
void wait_sent(env *e, uint64_t n) {
    wait_stat(e, offsetof(rk_async_stats, commands), n, "commands sent");
}

/* Runs the loop until the client has connected. */
void wait_connected(env *e) {
    wait_connects(e, 1);
}

rk_async_id submit_call(env *e, rk_async_call call, const char *const *words) {
    rk_str argv[8];
    size_t n = 0;
    while (words[n]) {
        argv[n] = rk_cstr(words[n]);
        n++;
    }
    call.callback = record;
    rk_async_id id = rk_async_submit(e->ac, &call, argv, n);
    if (id <= 0)
        fail_msg("rk_async_submit %s: %s", words[0], rk_error_last()->message);
    return id;
}

rk_async_id submit(env *e, result *res, int timeout_ms, const char *const *words) {
    return submit_call(e, (rk_async_call){.userdata = res, .timeout_ms = timeout_ms}, words);
}

rkt_proxy *proxied_open(env *e, void **state, rk_options o) {
    rkt_shared_need();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(p);
    e->k = *state;
    e->loop = e->k->create();
    o.port = rkt_proxy_port(p);
    e->ac = new_client(e, o, NULL);
    assert_int_equal(rk_async_connect(e->ac), RK_OK);
    wait_connected(e);
    return p;
}

void proxied_close(env *e, rkt_proxy *p) {
    env_close(e);
    rkt_proxy_stop(p);
}

void hold_server(env *e, result *sleeping) {
    submit(e, sleeping, 0, CMD("DEBUG", "SLEEP", "0.3"));
}

void cut_in_flight(env *e, rkt_proxy *p) {
    run_for(e, 100);
    rkt_proxy_drop_all(p);
}

int rkt_async_run(const char *what, const struct CMUnitTest *tests, size_t n) {
    const char *loop = getenv("RKT_ASYNC_LOOP"), *only = getenv("RKT_ASYNC_TESTS");
    struct CMUnitTest *picked = calloc(n ? n : 1, sizeof(*picked));
    assert_non_null(picked);
    int failed = 0;
    for (size_t i = 0; rkt_loop_kinds[i]; i++) {
        const rkt_loop_kind *k = rkt_loop_kinds[i];
        size_t m = 0;
        for (size_t t = 0; t < n; t++) {
            if (only && !strstr(tests[t].name, only))
                continue;
            picked[m] = tests[t];
            picked[m++].initial_state = (void *)k;
        }
        if (m == 0 || (loop && strcmp(loop, k->name) != 0))
            continue;
        char name[64];
        snprintf(name, sizeof(name), "%s on %s", what, k->name);
        failed += _cmocka_run_group_tests(name, picked, m, rkt_shared_setup, rkt_shared_teardown);
    }
    free(picked);
    return failed;
}
