/* The one constructor rule (error.h): every rk_x_new returns the object, or
 * NULL with the reason in rk_error_last(). Each constructor given a bad
 * argument returns NULL with RK_EINVAL and a message; each, with any one of
 * its allocations failing (tests/support/rkt_alloc.h), returns NULL with
 * RK_ENOMEM recorded, or succeeds, and leaks nothing. No server needed:
 * nothing here connects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rediskit/rediskit.h"
#include "rkt_alloc.h"

/* NULL, with RK_EINVAL and a message saying something. */
static void assert_einval(const void *made) {
    assert_null(made);
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    assert_true(rk_error_last()->message[0] != '\0');
}

/* A client to build the objects that need one (nothing listens on port 1:
 * none of them connects). */
static rk_client *any_client(void) {
    rk_client *c = rk_client_new(&(rk_options){.port = 1});
    assert_non_null(c);
    return c;
}

/* ---- a bad argument: NULL and RK_EINVAL --------------------------------- */

static void test_client_new_with_a_bad_port_is_einval(void **state) {
    (void)state;
    rk_error_clear();
    assert_einval(rk_client_new(&(rk_options){.port = 70000}));
}

static void test_client_new_url_with_an_unknown_scheme_is_einval(void **state) {
    (void)state;
    rk_error_clear();
    assert_einval(rk_client_new_url("http://cache:6379", NULL));
}

static void test_conn_new_with_a_bad_protocol_is_einval(void **state) {
    (void)state;
    rk_error_clear();
    assert_einval(rk_conn_new(&(rk_options){.protocol = 4}));
}

static void test_pipeline_new_without_a_client_is_einval(void **state) {
    (void)state;
    rk_error_clear();
    assert_einval(rk_pipeline_new(NULL, NULL));
}

static void test_pubsub_new_without_a_client_is_einval(void **state) {
    (void)state;
    rk_error_clear();
    assert_einval(rk_pubsub_new(NULL, NULL));
}

static void test_lock_new_with_an_empty_name_is_einval(void **state) {
    (void)state;
    rk_client *c = any_client();
    rk_error_clear();
    assert_einval(rk_lock_new(c, "", NULL));
    rk_client_free(c);
}

static void test_redlock_new_without_clients_is_einval(void **state) {
    (void)state;
    rk_client *c = any_client();
    rk_error_clear();
    assert_einval(rk_redlock_new(&c, 0, "name", NULL));
    rk_client_free(c);
}

static void test_scanner_new_without_options_is_einval(void **state) {
    (void)state;
    rk_client *c = any_client();
    rk_error_clear();
    assert_einval(rk_scanner_new(c, NULL));
    rk_client_free(c);
}

static void test_reader_new_with_too_deep_a_limit_is_einval(void **state) {
    (void)state;
    rk_error_clear();
    assert_einval(rk_reader_new(&(rk_reader_opts){.max_depth = 5000}));
}

static void test_writer_new_with_options_of_size_zero_is_einval(void **state) {
    (void)state;
    rk_error_clear();
    assert_einval((rk_writer_new)(&(rk_writer_opts){.ref_threshold = 64}, 0));
}

static void test_script_new_without_a_source_is_einval(void **state) {
    (void)state;
    rk_error_clear();
    assert_einval(rk_script_new(NULL, 3));
}

static void test_async_new_with_a_bad_port_is_einval(void **state) {
    (void)state;
    rk_error_clear();
    assert_einval(rk_async_new(&(rk_options){.port = 70000}, NULL));
}

static void test_loop_new_with_unknown_flags_is_einval(void **state) {
    (void)state;
    rk_error_clear();
    assert_einval(rk_loop_new(1u << 30));
}

/* ---- out of memory: NULL and RK_ENOMEM ---------------------------------- */

/* Makes one object (NULL on failure) with what it needs; frees it. */
typedef struct maker {
    const char *name;
    void *(*make)(rk_client *c);
    void (*drop)(void *obj);
} maker;

static void *make_client(rk_client *c) {
    (void)c;
    return rk_client_new(&(rk_options){.port = 1});
}
static void *make_client_url(rk_client *c) {
    (void)c;
    return rk_client_new_url("redis://user:pw@cache:1/2?client_name=x", NULL);
}
static void *make_conn(rk_client *c) {
    (void)c;
    return rk_conn_new(&(rk_options){.port = 1, .client_name = "x"});
}
static void *make_pipeline(rk_client *c) {
    return rk_pipeline_new(c, NULL);
}
static void *make_pubsub(rk_client *c) {
    return rk_pubsub_new(c, NULL);
}
static void *make_lock(rk_client *c) {
    return rk_lock_new(c, "name", &(rk_lock_opts){.watchdog = true, .ttl_ms = 1000});
}
static void *make_redlock(rk_client *c) {
    return rk_redlock_new(&c, 1, "name", NULL);
}
static void *make_scanner(rk_client *c) {
    return rk_scanner_new(c, &(rk_scanner_opts){.kind = RK_SCAN_KEYS, .match = "k*"});
}
static void *make_reader(rk_client *c) {
    (void)c;
    return rk_reader_new(NULL);
}
static void *make_writer(rk_client *c) {
    (void)c;
    return rk_writer_new(NULL);
}
static void *make_script(rk_client *c) {
    (void)c;
    return rk_script_new("return 1", 8);
}

static void *make_async(rk_client *c) {
    (void)c;
    return rk_async_new(&(rk_options){.port = 1}, &(rk_async_options){.max_inflight = 8});
}
static void *make_loop(rk_client *c) {
    (void)c;
    return rk_loop_new(0);
}

static void drop_async(void *o) {
    rk_async_free(o);
}
static void drop_loop(void *o) {
    rk_loop_free(o);
}
static void drop_client(void *o) {
    rk_client_free(o);
}
static void drop_conn(void *o) {
    rk_conn_free(o);
}
static void drop_pipeline(void *o) {
    rk_pipeline_free(o);
}
static void drop_pubsub(void *o) {
    rk_pubsub_free(o);
}
static void drop_lock(void *o) {
    rk_lock_free(o);
}
static void drop_redlock(void *o) {
    rk_redlock_free(o);
}
static void drop_scanner(void *o) {
    rk_scanner_free(o);
}
static void drop_reader(void *o) {
    rk_reader_free(o);
}
static void drop_writer(void *o) {
    rk_writer_free(o);
}
static void drop_script(void *o) {
    rk_script_free(o);
}

static const maker makers[] = {
    {"rk_client_new", make_client, drop_client},
    {"rk_client_new_url", make_client_url, drop_client},
    {"rk_conn_new", make_conn, drop_conn},
    {"rk_pipeline_new", make_pipeline, drop_pipeline},
    {"rk_pubsub_new", make_pubsub, drop_pubsub},
    {"rk_lock_new", make_lock, drop_lock},
    {"rk_redlock_new", make_redlock, drop_redlock},
    {"rk_scanner_new", make_scanner, drop_scanner},
    {"rk_reader_new", make_reader, drop_reader},
    {"rk_writer_new", make_writer, drop_writer},
    {"rk_script_new", make_script, drop_script},
    {"rk_async_new", make_async, drop_async},
    {"rk_loop_new", make_loop, drop_loop},
};

/* Makes the object with its 1st allocation failing, then its 2nd...: each
 * run returns the object or NULL with RK_ENOMEM recorded by that very call
 * (the error is cleared first), until one run makes no more allocations
 * than the one refused. The shared client's blocks are not counted. */
static void each_allocation_fails_with_the_reason(const maker *m, rk_client *c) {
    for (size_t failing = 1; failing < 200; failing++) {
        size_t failed = rkt_alloc_stats_now().failed;
        long live = rkt_alloc_live();
        rk_error_clear();
        rkt_alloc_fail_nth(failing);
        void *obj = m->make(c);
        rkt_alloc_fail_nth(0);
        bool refused = rkt_alloc_stats_now().failed != failed;
        if (obj == NULL && rk_error_last()->code != RK_ENOMEM)
            fail_msg("%s with allocation %zu failing: NULL with %s (\"%s\"), not RK_ENOMEM",
                     m->name, failing, rk_strerror(rk_error_last()->code),
                     rk_error_last()->message);
        if (obj == NULL && !refused)
            fail_msg("%s: NULL though no allocation failed", m->name);
        if (obj != NULL)
            m->drop(obj);
        if (rkt_alloc_live() != live)
            fail_msg("%s with allocation %zu failing: %ld block(s) leaked", m->name, failing,
                     rkt_alloc_live() - live);
        if (!refused)
            return;
    }
    fail_msg("%s: still allocating after 200 allocations", m->name);
}

static void test_every_constructor_out_of_memory_is_null_with_enomem(void **state) {
    (void)state;
    rk_client *c = any_client();
    for (size_t i = 0; i < sizeof makers / sizeof makers[0]; i++)
        each_allocation_fails_with_the_reason(&makers[i], c);
    rk_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_new_with_a_bad_port_is_einval),
        cmocka_unit_test(test_client_new_url_with_an_unknown_scheme_is_einval),
        cmocka_unit_test(test_conn_new_with_a_bad_protocol_is_einval),
        cmocka_unit_test(test_pipeline_new_without_a_client_is_einval),
        cmocka_unit_test(test_pubsub_new_without_a_client_is_einval),
        cmocka_unit_test(test_lock_new_with_an_empty_name_is_einval),
        cmocka_unit_test(test_redlock_new_without_clients_is_einval),
        cmocka_unit_test(test_scanner_new_without_options_is_einval),
        cmocka_unit_test(test_reader_new_with_too_deep_a_limit_is_einval),
        cmocka_unit_test(test_writer_new_with_options_of_size_zero_is_einval),
        cmocka_unit_test(test_script_new_without_a_source_is_einval),
        cmocka_unit_test(test_async_new_with_a_bad_port_is_einval),
        cmocka_unit_test(test_loop_new_with_unknown_flags_is_einval),
        cmocka_unit_test_setup_teardown(test_every_constructor_out_of_memory_is_null_with_enomem,
                                        rkt_alloc_setup, rkt_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
