/* The ABI of the options structs: a program built against an older,
 * shorter struct, or a newer, longer one, still works with this library
 * (options.h says how), and no field of a public options struct moves
 * (tests/abi/layout.txt). The old and new structs are declared here as
 * such programs would have them from their headers, and passed through
 * the parenthesized function names with their own sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "abi/layout.h"
#include "rediskit/rediskit.h"
#include "rkt_shared.h"

/* rk_options as a header had it before pool_size, pool_timeout_ms and
 * retry were appended. */
typedef struct old_options {
    const char *host;
    int port;
    const char *unix_path;
    const char *username;
    const char *password;
    rk_credentials_fn credentials;
    void *credentials_userdata;
    int db;
    int protocol;
    const char *client_name;
    int connect_timeout_ms;
    int command_timeout_ms;
    bool no_tcp_nodelay;
    int keepalive_s;
    int health_check_ms;
    rk_tls_options tls;
    rk_reader_opts limits;
    rk_push_fn on_push;
    void *push_userdata;
} old_options;

_Static_assert(offsetof(old_options, push_userdata) == offsetof(rk_options, push_userdata),
               "old_options is the start of rk_options");
_Static_assert(sizeof(old_options) < sizeof(rk_options), "old_options is shorter");

/* The structs as a newer header would have them: fields appended. */
typedef struct newer_options {
    rk_options base;
    int future;
    void *future_ptr;
} newer_options;

typedef struct newer_call_opts {
    rk_call_opts base;
    long long future;
} newer_call_opts;

typedef struct newer_pipeline_opts {
    rk_pipeline_opts base;
    int future;
} newer_pipeline_opts;

/* Bytes past an old struct, that the library must neither read nor write. */
#define GUARD 0xA5

/* Room for an rk_options whose first `used` bytes are the old struct and
 * whose rest is GUARD. */
typedef union options_room {
    rk_options aligned;
    unsigned char bytes[sizeof(rk_options)];
} options_room;

static void fill_room(options_room *room, const void *old, size_t used) {
    memset(room->bytes, GUARD, sizeof room->bytes);
    memcpy(room->bytes, old, used);
}

static void assert_guard_intact(const options_room *room, size_t used) {
    for (size_t i = used; i < sizeof room->bytes; i++)
        if (room->bytes[i] != GUARD)
            fail_msg("byte %zu past the old struct (%zu bytes) was written", i, used);
}

/* A failure: RK_EINVAL, with needle in the message. */
static void assert_einval_saying(int rc, const char *needle) {
    assert_int_equal(rc, RK_EINVAL);
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    if (strstr(rk_error_last()->message, needle) == NULL)
        fail_msg("message \"%s\" does not say \"%s\"", rk_error_last()->message, needle);
}

/* A constructor's failure: NULL and as assert_einval_saying. */
static void assert_refused(const void *made, const char *needle) {
    assert_null(made);
    assert_einval_saying(rk_error_last()->code, needle);
}

/* A client of a port nothing listens on: for what fails before connecting. */
static rk_client *unreachable_client(void) {
    rk_client *c = rk_client_new(&(rk_options){.port = 1});
    assert_non_null(c);
    return c;
}

/* PING through rk_client_call_argv_opts with opts of size bytes. */
static int ping_with(rk_client *c, const rk_call_opts *opts, size_t size, rk_reply *r) {
    const rk_str ping[] = {RK_STR("PING")};
    return (rk_client_call_argv_opts)(c, r, opts, ping, 1, size);
}

static rk_client *shared_client(void) {
    rkt_shared_need();
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_shared)});
    assert_non_null(c);
    return c;
}

/* A newer_options with a zero tail, for the shared server. */
static newer_options newer_for_shared(void) {
    newer_options n;
    memset(&n, 0, sizeof n);
    n.base.port = rkt_server_port(&rkt_shared);
    return n;
}

static void assert_ping_works(rk_client *c) {
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "PING"), RK_OK);
    assert_string_equal(rk_reply_str(&r), "PONG");
    rk_reply_free(&r);
}

/* ---- an older struct ------------------------------------------------- */

static void test_older_options_struct_gives_defaults_for_missing_fields(void **state) {
    (void)state;
    rkt_shared_need();
    old_options old = {.port = rkt_server_port(&rkt_shared), .db = 3};
    options_room room;
    fill_room(&room, &old, sizeof old);
    rk_client *c = (rk_client_new)(&room.aligned, sizeof old);
    assert_non_null(c);
    const rk_options *o = rk_client_options(c);
    assert_int_equal(o->db, 3);
    assert_int_equal(o->pool_size, RK_DEFAULT_POOL_SIZE);
    assert_int_equal(o->pool_timeout_ms, RK_DEFAULT_POOL_TIMEOUT_MS);
    assert_int_equal(o->retry.attempts, RK_DEFAULT_RETRY_ATTEMPTS);
    assert_ping_works(c);
    rk_client_free(c);
}

static void test_url_into_an_older_options_struct_writes_only_its_bytes(void **state) {
    (void)state;
    old_options old = {.connect_timeout_ms = 1234};
    options_room room;
    fill_room(&room, &old, sizeof old);
    char *storage;
    assert_int_equal(
        (rk_options_from_url)("redis://cache:7000/2", &room.aligned, &storage, sizeof old), RK_OK);
    memcpy(&old, room.bytes, sizeof old);
    assert_string_equal(old.host, "cache");
    assert_int_equal(old.port, 7000);
    assert_int_equal(old.db, 2);
    assert_int_equal(old.connect_timeout_ms, 1234);
    assert_guard_intact(&room, sizeof old);
    rk_free(storage);
}

static void test_url_option_an_older_struct_lacks_is_einval(void **state) {
    (void)state;
    old_options old = {0};
    options_room room;
    fill_room(&room, &old, sizeof old);
    char *storage;
    assert_einval_saying(
        (rk_options_from_url)("redis://cache?pool_size=4", &room.aligned, &storage, sizeof old),
        "older header");
    assert_null(storage);
    assert_guard_intact(&room, sizeof old);
}

static void test_pool_stats_into_an_older_struct_write_only_its_bytes(void **state) {
    (void)state;
    rk_client *c = unreachable_client();
    size_t used = offsetof(rk_pool_stats, waits); /* without waits and timeouts */
    unsigned char room[sizeof(rk_pool_stats)];
    memset(room, GUARD, sizeof room);
    (rk_client_pool_stats)(c, (rk_pool_stats *)(void *)room, used);
    for (size_t i = 0; i < used; i++)
        assert_int_equal(room[i], 0);
    for (size_t i = used; i < sizeof room; i++)
        assert_int_equal(room[i], GUARD);
    rk_client_free(c);
}

/* ---- a newer struct --------------------------------------------------- */

static void test_newer_options_with_a_zero_tail_work(void **state) {
    (void)state;
    rkt_shared_need();
    newer_options n = newer_for_shared();
    rk_client *c = (rk_client_new)(&n.base, sizeof n);
    assert_non_null(c);
    assert_ping_works(c);
    rk_client_free(c);
}

static void test_newer_options_with_a_field_set_are_einval(void **state) {
    (void)state;
    newer_options n = newer_for_shared();
    n.future = 1;
    assert_refused((rk_client_new)(&n.base, sizeof n), "newer");
    assert_refused((rk_conn_new)(&n.base, sizeof n), "newer");
}

static void test_options_of_size_zero_are_einval(void **state) {
    (void)state;
    rk_options o = {.port = 1};
    assert_refused((rk_client_new)(&o, 0), "size 0");
    assert_refused((rk_conn_new)(&o, 0), "size 0");
}

static void test_newer_call_opts_with_a_zero_tail_work(void **state) {
    (void)state;
    rk_client *c = shared_client();
    newer_call_opts n;
    memset(&n, 0, sizeof n);
    n.base.idempotent = true;
    rk_reply r;
    assert_int_equal(ping_with(c, &n.base, sizeof n, &r), RK_OK);
    assert_string_equal(rk_reply_str(&r), "PONG");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_newer_call_opts_with_a_field_set_are_einval(void **state) {
    (void)state;
    rk_client *c = unreachable_client();
    newer_call_opts n;
    memset(&n, 0, sizeof n);
    n.future = 1;
    rk_reply r;
    assert_einval_saying(ping_with(c, &n.base, sizeof n, &r), "newer");
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_client_free(c);
}

static void test_call_opts_of_size_zero_are_einval(void **state) {
    (void)state;
    rk_client *c = unreachable_client();
    rk_call_opts o = {.no_retry = true};
    rk_reply r;
    assert_einval_saying(ping_with(c, &o, 0, &r), "size 0");
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_client_free(c);
}

static void test_newer_pipeline_opts_with_a_zero_tail_work(void **state) {
    (void)state;
    rk_client *c = shared_client();
    newer_pipeline_opts n;
    memset(&n, 0, sizeof n);
    n.base.transaction = true;
    rk_pipeline *p = (rk_pipeline_new)(c, &n.base, sizeof n);
    assert_non_null(p);
    assert_int_equal(rk_pipeline_append(p, "PING"), RK_OK);
    assert_int_equal(rk_pipeline_exec(p), RK_OK);
    assert_string_equal(rk_reply_str(rk_pipeline_reply(p, 0)), "PONG");
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_newer_pipeline_opts_with_a_field_set_are_einval(void **state) {
    (void)state;
    rk_client *c = unreachable_client();
    newer_pipeline_opts n;
    memset(&n, 0, sizeof n);
    n.future = 1;
    assert_refused((rk_pipeline_new)(c, &n.base, sizeof n), "newer");
    rk_client_free(c);
}

static void test_pipeline_opts_of_size_zero_are_einval(void **state) {
    (void)state;
    rk_client *c = unreachable_client();
    rk_pipeline_opts o = {.transaction = true};
    assert_refused((rk_pipeline_new)(c, &o, 0), "size 0");
    rk_client_free(c);
}

/* ---- the layout guard ------------------------------------------------- */

/* One line of layout.txt. */
typedef struct recorded {
    char type[64], field[64];
    size_t value; /* the offset, or the size of a frozen struct */
} recorded;

/* ---- a loop adapter built against an older header ----------------------- */

/* rk_loop_ops as it was before attach_other was added: an adapter compiled
 * then passes this shorter table. */
typedef struct loop_ops_v1 {
    void (*watch)(void *data, int fd, int events);
    void (*timer)(void *data, int64_t delay_ms);
    void (*wake)(void *data);
    void (*detach)(void *data);
} loop_ops_v1;

static void no_watch(void *data, int fd, int events) {
    (void)data, (void)fd, (void)events;
}
static void no_timer(void *data, int64_t delay_ms) {
    (void)data, (void)delay_ms;
}

static void no_wake(void *data) {
    (void)data;
}

static void test_an_older_loop_table_attaches(void **state) {
    (void)state;
    rk_async *ac = rk_async_new(NULL, NULL);
    assert_non_null(ac);
    loop_ops_v1 old = {.watch = no_watch, .timer = no_timer};
    assert_int_equal(
        (rk_async_attach)(ac, (const rk_loop_ops *)(const void *)&old, NULL, sizeof old), RK_OK);
    rk_async_detach(ac);
    rk_async_free(ac);
}

static void test_a_newer_loop_table_with_an_operation_set_is_einval(void **state) {
    (void)state;
    rk_async *ac = rk_async_new(NULL, NULL);
    assert_non_null(ac);
    struct {
        rk_loop_ops known;
        void (*later)(void *data);
    } newer = {.known = {.watch = no_watch, .timer = no_timer}, .later = no_wake};
    assert_int_equal((rk_async_attach)(ac, &newer.known, NULL, sizeof newer), RK_EINVAL);
    newer.later = NULL;
    assert_int_equal((rk_async_attach)(ac, &newer.known, NULL, sizeof newer), RK_OK);
    rk_async_detach(ac);
    rk_async_free(ac);
}

/* The lines of tests/abi/layout.txt into *out (free it); returns how many. */
static size_t read_layout(recorded **out) {
    const char *dir = getenv("RK_TEST_SOURCE_DIR");
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s/abi/layout.txt", dir ? dir : "tests");
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot read %s", path);
    size_t n = 0, cap = 256;
    recorded *r = malloc(cap * sizeof(*r));
    assert_non_null(r);
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        assert_true(n < cap);
        if (sscanf(line, "%63s %63s %zu", r[n].type, r[n].field, &r[n].value) != 3)
            fail_msg("%s: cannot read the line \"%s\"", path, line);
        n++;
    }
    fclose(f);
    *out = r;
    return n;
}

static const rk_abi_field *field_named(const char *type, const char *field) {
    for (size_t i = 0; i < RK_ABI_NFIELDS; i++)
        if (strcmp(rk_abi_fields[i].type, type) == 0 && strcmp(rk_abi_fields[i].field, field) == 0)
            return &rk_abi_fields[i];
    return NULL;
}

static const rk_abi_struct *struct_named(const char *type) {
    for (size_t i = 0; i < RK_ABI_NSTRUCTS; i++)
        if (strcmp(rk_abi_structs[i].type, type) == 0)
            return &rk_abi_structs[i];
    return NULL;
}

static void test_no_field_of_a_public_options_struct_moved(void **state) {
    (void)state;
    recorded *r;
    size_t n = read_layout(&r);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(r[i].field, "frozen") == 0)
            continue;
        const rk_abi_field *f = field_named(r[i].type, r[i].field);
        if (f == NULL)
            fail_msg("%s.%s is gone (removed or renamed): a field of a public options struct "
                     "stays where it is, for programs built against it",
                     r[i].type, r[i].field);
        if (f->offset != r[i].value)
            fail_msg("%s.%s moved from offset %zu to %zu: a field was inserted before it. "
                     "Append new fields at the end of %s instead (see options.h)",
                     r[i].type, r[i].field, r[i].value, f->offset, r[i].type);
    }
    free(r);
}

static void test_every_field_has_its_line_in_the_layout(void **state) {
    (void)state;
    recorded *r;
    size_t n = read_layout(&r);
    for (size_t i = 0; i < RK_ABI_NFIELDS; i++) {
        const rk_abi_field *f = &rk_abi_fields[i];
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = strcmp(r[k].type, f->type) == 0 && strcmp(r[k].field, f->field) == 0;
        if (!found) {
            char line[256];
            rk_abi_field_line(f, line, sizeof line);
            fail_msg("%s.%s is not in tests/abi/layout.txt: append the line \"%s\" "
                     "(build/tests/abi_layout prints them all)",
                     f->type, f->field, line);
        }
    }
    free(r);
}

/* A field added to a struct but not to tests/abi/fields.h would escape the
 * guard: each struct's listed fields must end where the struct does. */
static void test_every_field_of_each_struct_is_listed(void **state) {
    (void)state;
    for (size_t s = 0; s < RK_ABI_NSTRUCTS; s++) {
        const rk_abi_struct *st = &rk_abi_structs[s];
        size_t end = 0;
        for (size_t i = 0; i < RK_ABI_NFIELDS; i++) {
            const rk_abi_field *f = &rk_abi_fields[i];
            if (strcmp(f->type, st->type) == 0 && f->offset + f->size > end)
                end = f->offset + f->size;
        }
        size_t padded = (end + st->align - 1) / st->align * st->align;
        if (padded != st->size)
            fail_msg("%s is %zu bytes but its fields in tests/abi/fields.h end at %zu: list "
                     "the missing field there (at the end of %s) and in layout.txt",
                     st->type, st->size, end, st->type);
    }
}

static void test_nested_options_structs_are_frozen(void **state) {
    (void)state;
    recorded *r;
    size_t n = read_layout(&r);
    size_t frozen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(r[i].field, "frozen") != 0)
            continue;
        const rk_abi_struct *st = struct_named(r[i].type);
        assert_non_null(st);
        assert_true(st->frozen);
        if (st->size != r[i].value)
            fail_msg("%s is nested in rk_options and frozen at %zu bytes, but is now %zu: "
                     "append the new setting to rk_options instead (see options.h)",
                     r[i].type, r[i].value, st->size);
        frozen++;
    }
    for (size_t s = 0; s < RK_ABI_NSTRUCTS; s++)
        frozen -= rk_abi_structs[s].frozen;
    assert_int_equal(frozen, 0); /* each frozen struct has its line */
    free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_older_options_struct_gives_defaults_for_missing_fields),
        cmocka_unit_test(test_an_older_loop_table_attaches),
        cmocka_unit_test(test_a_newer_loop_table_with_an_operation_set_is_einval),
        cmocka_unit_test(test_url_into_an_older_options_struct_writes_only_its_bytes),
        cmocka_unit_test(test_url_option_an_older_struct_lacks_is_einval),
        cmocka_unit_test(test_pool_stats_into_an_older_struct_write_only_its_bytes),
        cmocka_unit_test(test_newer_options_with_a_zero_tail_work),
        cmocka_unit_test(test_newer_options_with_a_field_set_are_einval),
        cmocka_unit_test(test_options_of_size_zero_are_einval),
        cmocka_unit_test(test_newer_call_opts_with_a_zero_tail_work),
        cmocka_unit_test(test_newer_call_opts_with_a_field_set_are_einval),
        cmocka_unit_test(test_call_opts_of_size_zero_are_einval),
        cmocka_unit_test(test_newer_pipeline_opts_with_a_zero_tail_work),
        cmocka_unit_test(test_newer_pipeline_opts_with_a_field_set_are_einval),
        cmocka_unit_test(test_pipeline_opts_of_size_zero_are_einval),
        cmocka_unit_test(test_no_field_of_a_public_options_struct_moved),
        cmocka_unit_test(test_every_field_has_its_line_in_the_layout),
        cmocka_unit_test(test_every_field_of_each_struct_is_listed),
        cmocka_unit_test(test_nested_options_structs_are_frozen),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
