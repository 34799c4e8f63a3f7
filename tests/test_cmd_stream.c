/* Typed commands of the stream group (XADD, XRANGE, XREAD, consumer
 * groups, XPENDING, XCLAIM, XAUTOCLAIM, XINFO...) and typed calls queued in
 * pipelines and transactions, against a real redis-server on RESP2 and
 * RESP3: every reply must come in the one shape the library documents
 * (entries as [id, map of field -> value], XREAD a map of stream -> entries,
 * XINFO maps and arrays of maps). */
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

#include <cmocka.h>

#include "rkt_cmd.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---------------------------------------------------------- */

/* XADD key id field value; the id it got is copied to idout (may be NULL). */
static void add1(rk_client *c, const char *key, const char *id, const char *field,
                 const char *value, char *idout) {
    char *got = NULL;
    RKT_OK(rk_xadd(c, key, id, &(rk_xadd_field_value){rk_cstr(field), rk_cstr(value)}, 1, NULL,
                   &got, NULL));
    assert_non_null(got);
    if (idout != NULL)
        strcpy(idout, got);
    rk_free(got);
}

/* Entries n-0 for n in 1..count, each {"f": "v<n>"}. */
static void add_n(rk_client *c, const char *key, int count) {
    for (int i = 1; i <= count; i++) {
        char id[32], v[32];
        snprintf(id, sizeof(id), "%d-0", i);
        snprintf(v, sizeof(v), "v%d", i);
        add1(c, key, id, "f", v, NULL);
    }
}

static long long xlen(rk_client *c, const char *key) {
    long long n = -1;
    RKT_OK(rk_xlen(c, key, &n));
    return n;
}

static void expect_str(const rk_reply *r, const char *want) {
    assert_non_null(r);
    if (rk_reply_type(r) != RK_REPLY_STRING && rk_reply_type(r) != RK_REPLY_STATUS)
        fail_msg("expected a string \"%s\", got a %s", want, rk_type_name(rk_reply_type(r)));
    assert_string_equal(rk_reply_str(r), want);
}

/* An entry: [id, {field: value}] (id NULL: any). The map is checked for
 * one pair unless field is NULL. */
static void expect_entry(const rk_reply *e, const char *id, const char *field, const char *value) {
    assert_non_null(e);
    rkt_expect_shape(e, RK_REPLY_ARRAY, 2);
    assert_int_equal(rk_reply_type(rk_reply_at(e, 0)), RK_REPLY_STRING);
    if (id != NULL)
        expect_str(rk_reply_at(e, 0), id);
    const rk_reply *fields = rk_reply_at(e, 1);
    if (rk_reply_type(fields) != RK_REPLY_MAP)
        fail_msg("entry fields: expected a map, got a %s", rk_type_name(rk_reply_type(fields)));
    if (field != NULL)
        rkt_map_expect(fields, field, value);
}

/* An array of entries with these ids (each with field "f"). */
static void expect_ids(const rk_reply *entries, const char *const *ids, size_t n) {
    rkt_expect_shape(entries, RK_REPLY_ARRAY, n);
    for (size_t i = 0; i < n; i++)
        expect_entry(rk_reply_at(entries, i), ids[i], "f", NULL);
}

/* A stream s with entries 1-0..count-0 and a group g at 0. */
static void make_group(rk_client *c, int count) {
    add_n(c, "s", count);
    RKT_OK(rk_xgroupcreate(c, "s", "g", "0", NULL));
}

/* Reads every new entry of s for consumer (count of them expected). */
static void read_new(rk_client *c, const char *consumer, size_t count) {
    rk_reply r;
    RKT_OK(rk_xreadgroup(c, "g", consumer, (const char *[]){"s"}, 1, (const char *[]){">"}, 1, NULL,
                         &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 1);
    rkt_expect_shape(rkt_map_expect(&r, "s", NULL), RK_REPLY_ARRAY, count);
    rk_reply_free(&r);
}

/* ---- XADD ------------------------------------------------------------- */

static void test_xadd_null_id_generates_one(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *id = NULL;
    size_t len = 0;
    RKT_OK(rk_xadd(c, "s", NULL, &(rk_xadd_field_value){RK_STR("f"), RK_STR("v")}, 1, NULL, &id,
                   &len));
    assert_non_null(id);
    assert_int_equal(len, strlen(id));
    unsigned long long ms, seq;
    char end;
    assert_int_equal(sscanf(id, "%llu-%llu%c", &ms, &seq, &end), 2);
    assert_true(ms > 0);
    rk_reply r;
    RKT_OK(rk_xrange(c, "s", "-", "+", NULL, &r));
    expect_ids(&r, (const char *[]){id}, 1);
    rk_reply_free(&r);
    rk_free(id);
    rk_client_free(c);
}

static void test_xadd_explicit_id_is_kept(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *id = NULL;
    size_t len = 0;
    rk_xadd_field_value fv[] = {{RK_STR("a"), RK_STR("1")}, {RK_STR("b"), RK_STR("2")}};
    RKT_OK(rk_xadd(c, "s", "5-1", fv, N(fv), NULL, &id, &len));
    assert_string_equal(id, "5-1");
    assert_int_equal(len, 3);
    rk_free(id);
    /* an id not above the top one is the server's error */
    RKT_RC(rk_xadd(c, "s", "5-1", fv, 1, NULL, &id, NULL), RK_ESERVER);
    assert_null(id);
    assert_int_equal(xlen(c, "s"), 1);
    rk_client_free(c);
}

static void test_xadd_nomkstream_on_missing_stream_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    char *id = (char *)"untouched";
    RKT_RC(rk_xadd(c, "s", NULL, &(rk_xadd_field_value){RK_STR("f"), RK_STR("v")}, 1,
                   &(rk_xadd_opts){.nomkstream = true}, &id, NULL),
           RK_NIL);
    assert_null(id);
    long long n = -1;
    RKT_OK(rk_exists(c, (const char *[]){"s"}, 1, &n));
    assert_int_equal(n, 0);
    rk_client_free(c);
}

static void test_xadd_maxlen_equal_trims_to_exact_length(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 5);
    rk_xadd_trim trim = {.strategy = RK_TRIM_MAXLEN, .equal = true, .threshold = RK_STR("3")};
    RKT_OK(rk_xadd(c, "s", "6-0", &(rk_xadd_field_value){RK_STR("f"), RK_STR("v6")}, 1,
                   &(rk_xadd_opts){.trim = &trim}, NULL, NULL));
    rk_reply r;
    RKT_OK(rk_xrange(c, "s", "-", "+", NULL, &r));
    expect_ids(&r, (const char *[]){"4-0", "5-0", "6-0"}, 3);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xadd_minid_trims_entries_below_it(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 5);
    rk_xadd_trim trim = {.strategy = RK_TRIM_MINID, .threshold = RK_STR("3")};
    RKT_OK(rk_xadd(c, "s", "6-0", &(rk_xadd_field_value){RK_STR("f"), RK_STR("v6")}, 1,
                   &(rk_xadd_opts){.trim = &trim}, NULL, NULL));
    rk_reply r;
    RKT_OK(rk_xrange(c, "s", "-", "+", NULL, &r));
    expect_ids(&r, (const char *[]){"3-0", "4-0", "5-0", "6-0"}, 4);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ~ trims whole nodes only: a stream of a few entries (one node) keeps
 * them all, and LIMIT is accepted with it. */
static void test_xadd_approx_maxlen_with_limit_keeps_whole_nodes(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 5);
    rk_xadd_trim trim = {
        .strategy = RK_TRIM_MAXLEN, .approximately = true, .threshold = RK_STR("1"), .limit = 10};
    RKT_OK(rk_xadd(c, "s", "6-0", &(rk_xadd_field_value){RK_STR("f"), RK_STR("v6")}, 1,
                   &(rk_xadd_opts){.trim = &trim}, NULL, NULL));
    assert_int_equal(xlen(c, "s"), 6);
    rk_client_free(c);
}

/* LIMIT without ~ is refused by the server: proof that LIMIT 0 is sent when
 * limit_set says so. */
static void test_xadd_limit_set_zero_is_sent(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 2);
    rk_xadd_trim trim = {.strategy = RK_TRIM_MAXLEN,
                         .equal = true,
                         .threshold = RK_STR("1"),
                         .limit = 0,
                         .limit_set = true};
    RKT_RC(rk_xadd(c, "s", "3-0", &(rk_xadd_field_value){RK_STR("f"), RK_STR("v")}, 1,
                   &(rk_xadd_opts){.trim = &trim}, NULL, NULL),
           RK_ESERVER);
    assert_non_null(strstr(rk_error_last()->message, "LIMIT"));
    assert_int_equal(xlen(c, "s"), 2);
    rk_client_free(c);
}

static void test_xadd_bad_trim_block_is_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_xadd_field_value fv = {RK_STR("f"), RK_STR("v")};
    /* = and ~ together */
    rk_xadd_trim both = {
        .strategy = RK_TRIM_MAXLEN, .equal = true, .approximately = true, .threshold = RK_STR("1")};
    RKT_RC(rk_xadd(c, "s", NULL, &fv, 1, &(rk_xadd_opts){.trim = &both}, NULL, NULL), RK_EINVAL);
    /* no threshold */
    rk_xadd_trim none = {.strategy = RK_TRIM_MAXLEN};
    RKT_RC(rk_xadd(c, "s", NULL, &fv, 1, &(rk_xadd_opts){.trim = &none}, NULL, NULL), RK_EINVAL);
    /* no strategy */
    rk_xadd_trim nostrat = {.threshold = RK_STR("1")};
    RKT_RC(rk_xadd(c, "s", NULL, &fv, 1, &(rk_xadd_opts){.trim = &nostrat}, NULL, NULL), RK_EINVAL);
    /* no field */
    RKT_RC(rk_xadd(c, "s", NULL, &fv, 0, NULL, NULL, NULL), RK_EINVAL);
    long long n = -1;
    RKT_OK(rk_exists(c, (const char *[]){"s"}, 1, &n));
    assert_int_equal(n, 0);
    rk_client_free(c);
}

/* ---- XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XSETID ----------------------- */

static void test_xlen_counts_entries_and_is_zero_when_missing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    assert_int_equal(xlen(c, "s"), 0);
    add_n(c, "s", 3);
    assert_int_equal(xlen(c, "s"), 3);
    rk_client_free(c);
}

static void test_xrange_entries_are_id_and_field_map(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_xadd_field_value fv[] = {{RK_STR("name"), RK_STR("ann")}, {RK_STR("age"), RK_STR("33")}};
    RKT_OK(rk_xadd(c, "s", "1-0", fv, N(fv), NULL, NULL, NULL));
    add1(c, "s", "2-0", "name", "bob", NULL);
    rk_reply r;
    RKT_OK(rk_xrange(c, "s", "-", "+", NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    const rk_reply *e = rk_reply_at(&r, 0);
    expect_entry(e, "1-0", "name", "ann");
    rkt_expect_shape(rk_reply_at(e, 1), RK_REPLY_MAP, 2);
    rkt_map_expect(rk_reply_at(e, 1), "age", "33");
    expect_entry(rk_reply_at(&r, 1), "2-0", "name", "bob");
    rkt_expect_shape(rk_reply_at(rk_reply_at(&r, 1), 1), RK_REPLY_MAP, 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xrange_count_limits_entries(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 5);
    rk_reply r;
    RKT_OK(rk_xrange(c, "s", "2", "+", &(rk_xrange_opts){.count = 2}, &r));
    expect_ids(&r, (const char *[]){"2-0", "3-0"}, 2);
    rk_reply_free(&r);
    /* COUNT 0 is sent when count_set says so: Redis 7.0 answers nil */
    RKT_NIL(rk_xrange(c, "s", "-", "+", &(rk_xrange_opts){.count_set = true}, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xrevrange_returns_newest_first_with_count(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 4);
    rk_reply r;
    RKT_OK(rk_xrevrange(c, "s", "+", "-", &(rk_xrevrange_opts){.count = 3}, &r));
    expect_ids(&r, (const char *[]){"4-0", "3-0", "2-0"}, 3);
    expect_entry(rk_reply_at(&r, 0), "4-0", "f", "v4");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xdel_counts_only_existing_ids(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 3);
    long long n = -1;
    RKT_OK(rk_xdel(c, "s", (const char *[]){"2-0", "9-0"}, 2, &n));
    assert_int_equal(n, 1);
    rk_reply r;
    RKT_OK(rk_xrange(c, "s", "-", "+", NULL, &r));
    expect_ids(&r, (const char *[]){"1-0", "3-0"}, 2);
    rk_reply_free(&r);
    RKT_RC(rk_xdel(c, "s", NULL, 0, &n), RK_EINVAL);
    rk_client_free(c);
}

static void test_xtrim_maxlen_removes_oldest(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 5);
    long long n = -1;
    RKT_OK(rk_xtrim(c, "s", RK_TRIM_MAXLEN, "2", NULL, &n));
    assert_int_equal(n, 3);
    rk_reply r;
    RKT_OK(rk_xrange(c, "s", "-", "+", NULL, &r));
    expect_ids(&r, (const char *[]){"4-0", "5-0"}, 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xtrim_minid_equal_removes_ids_below(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 5);
    long long n = -1;
    RKT_OK(rk_xtrim(c, "s", RK_TRIM_MINID, "4-0", &(rk_xtrim_opts){.equal = true}, &n));
    assert_int_equal(n, 3);
    assert_int_equal(xlen(c, "s"), 2);
    rk_client_free(c);
}

/* ~ removes whole nodes only, and LIMIT caps the entries removed: a LIMIT
 * below the node's size (the 5 entries are one node) removes nothing,
 * while without LIMIT the whole node goes. */
static void test_xtrim_approx_limit_caps_removed_entries(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 5);
    long long n = -1;
    RKT_OK(rk_xtrim(c, "s", RK_TRIM_MAXLEN, "0",
                    &(rk_xtrim_opts){.approximately = true, .limit = 3}, &n));
    assert_int_equal(n, 0);
    assert_int_equal(xlen(c, "s"), 5);
    /* LIMIT with = is the server's error */
    RKT_RC(rk_xtrim(c, "s", RK_TRIM_MAXLEN, "0", &(rk_xtrim_opts){.equal = true, .limit = 3}, &n),
           RK_ESERVER);
    RKT_OK(rk_xtrim(c, "s", RK_TRIM_MAXLEN, "0", &(rk_xtrim_opts){.approximately = true}, &n));
    assert_int_equal(n, 5);
    assert_int_equal(xlen(c, "s"), 0);
    rk_client_free(c);
}

static void test_xtrim_bad_arguments_are_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 2);
    long long n = -1;
    RKT_RC(rk_xtrim(c, "s", (rk_trim)0, "1", NULL, &n), RK_EINVAL);
    RKT_RC(rk_xtrim(c, "s", (rk_trim)3, "1", NULL, &n), RK_EINVAL);
    RKT_RC(rk_xtrim(c, "s", RK_TRIM_MAXLEN, NULL, NULL, &n), RK_EINVAL);
    RKT_RC(rk_xtrim(c, "s", RK_TRIM_MAXLEN, "1",
                    &(rk_xtrim_opts){.equal = true, .approximately = true}, &n),
           RK_EINVAL);
    assert_int_equal(xlen(c, "s"), 2);
    rk_client_free(c);
}

static void test_xsetid_moves_last_id(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 2);
    RKT_OK(rk_xsetid(c, "s", "100-0", NULL));
    /* an id below the new last id is refused */
    RKT_RC(rk_xadd(c, "s", "50-0", &(rk_xadd_field_value){RK_STR("f"), RK_STR("v")}, 1, NULL, NULL,
                   NULL),
           RK_ESERVER);
    rk_reply r;
    RKT_OK(rk_xinfostream(c, "s", NULL, &r));
    rkt_map_expect(&r, "last-generated-id", "100-0");
    rk_reply_free(&r);
    /* below the top entry is the server's error */
    RKT_RC(rk_xsetid(c, "s", "1-0", NULL), RK_ESERVER);
    rk_client_free(c);
}

static void test_xsetid_sends_entriesadded_and_maxdeletedid(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 2);
    RKT_OK(rk_xsetid(c, "s", "10-0",
                     &(rk_xsetid_opts){.entriesadded = 7, .maxdeletedid = RK_STR("3-0")}));
    rk_reply r;
    RKT_OK(rk_xinfostream(c, "s", NULL, &r));
    assert_int_equal(rk_reply_int(rkt_map_expect(&r, "entries-added", NULL)), 7);
    rkt_map_expect(&r, "max-deleted-entry-id", "3-0");
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- XREAD ------------------------------------------------------------ */

static void test_xread_two_streams_gives_map_of_entries(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "a", 3);
    add1(c, "b", "7-0", "g", "x", NULL);
    rk_reply r;
    RKT_OK(rk_xread(c, (const char *[]){"a", "b"}, 2, (const char *[]){"1-0", "0"}, 2, NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 2);
    expect_ids(rkt_map_expect(&r, "a", NULL), (const char *[]){"2-0", "3-0"}, 2);
    const rk_reply *b = rkt_map_expect(&r, "b", NULL);
    rkt_expect_shape(b, RK_REPLY_ARRAY, 1);
    expect_entry(rk_reply_at(b, 0), "7-0", "g", "x");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xread_count_limits_each_stream(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "a", 3);
    add_n(c, "b", 3);
    rk_reply r;
    RKT_OK(rk_xread(c, (const char *[]){"a", "b"}, 2, (const char *[]){"0", "0"}, 2,
                    &(rk_xread_opts){.count = 1}, &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 2);
    expect_ids(rkt_map_expect(&r, "a", NULL), (const char *[]){"1-0"}, 1);
    expect_ids(rkt_map_expect(&r, "b", NULL), (const char *[]){"1-0"}, 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xread_keys_and_ids_of_unequal_length_is_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "a", 1);
    rk_reply r;
    RKT_RC(rk_xread(c, (const char *[]){"a", "b"}, 2, (const char *[]){"0"}, 1, NULL, &r),
           RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    RKT_RC(rk_xread(c, (const char *[]){"a"}, 1, (const char *[]){"0", "0"}, 2, NULL, &r),
           RK_EINVAL);
    RKT_RC(rk_xread(c, NULL, 0, NULL, 0, NULL, &r), RK_EINVAL);
    rk_client_free(c);
}

static void test_xread_block_without_new_data_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 1);
    rk_reply r;
    RKT_NIL(rk_xread(c, (const char *[]){"s"}, 1, (const char *[]){"$"}, 1,
                     &(rk_xread_opts){.block = 100}, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* Another thread waits for a client blocked on the server, then XADDs
 * (bounded: it adds anyway after a few seconds, so nothing hangs). */
typedef struct adder {
    pthread_t thread;
    bool saw_blocked;
} adder;

static void *adder_main(void *arg) {
    adder *a = arg;
    for (int i = 0; i < 500 && !a->saw_blocked; i++) {
        char *info = rkt_server_cmd(&rkt_shared, "INFO", "clients", NULL);
        if (info != NULL && strstr(info, "blocked_clients:1") != NULL)
            a->saw_blocked = true;
        free(info);
        if (!a->saw_blocked)
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    free(rkt_server_cmd(&rkt_shared, "XADD", "s", "99-0", "from", "thread", NULL));
    return NULL;
}

static void run_served_xread(void **state, const rk_xread_opts *opts) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 1);
    adder a = {0};
    assert_int_equal(pthread_create(&a.thread, NULL, adder_main, &a), 0);
    rk_reply r;
    int rc = rk_xread(c, (const char *[]){"s"}, 1, (const char *[]){"$"}, 1, opts, &r);
    pthread_join(a.thread, NULL);
    RKT_OK(rc);
    assert_true(a.saw_blocked);
    rkt_expect_shape(&r, RK_REPLY_MAP, 1);
    const rk_reply *s = rkt_map_expect(&r, "s", NULL);
    rkt_expect_shape(s, RK_REPLY_ARRAY, 1);
    expect_entry(rk_reply_at(s, 0), "99-0", "from", "thread");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xread_block_is_served_by_xadd_from_another_thread(void **state) {
    run_served_xread(state, &(rk_xread_opts){.block = 20000});
}

static void test_xread_block_zero_set_blocks_until_served(void **state) {
    run_served_xread(state, &(rk_xread_opts){.block = 0, .block_set = true});
}

/* ---- XGROUP ----------------------------------------------------------- */

static void test_xgroup_create_mkstream_creates_empty_stream(void **state) {
    rk_client *c = rkt_cmd_client(state);
    RKT_RC(rk_xgroupcreate(c, "s", "g", "$", NULL), RK_ESERVER);
    RKT_OK(rk_xgroupcreate(c, "s", "g", "$", &(rk_xgroupcreate_opts){.mkstream = true}));
    assert_int_equal(xlen(c, "s"), 0);
    long long n = -1;
    RKT_OK(rk_exists(c, (const char *[]){"s"}, 1, &n));
    assert_int_equal(n, 1);
    /* the same group again */
    RKT_RC(rk_xgroupcreate(c, "s", "g", "$", NULL), RK_ESERVER);
    assert_non_null(strstr(rk_error_last()->message, "BUSYGROUP"));
    rk_client_free(c);
}

static void test_xgroup_create_at_dollar_skips_history(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 2);
    RKT_OK(rk_xgroupcreate(c, "s", "g", NULL, NULL)); /* NULL id: $ */
    rk_reply r;
    RKT_NIL(rk_xreadgroup(c, "g", "alice", (const char *[]){"s"}, 1, (const char *[]){">"}, 1, NULL,
                          &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xgroup_create_at_zero_delivers_history(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 2);
    rk_reply r;
    RKT_OK(rk_xreadgroup(c, "g", "alice", (const char *[]){"s"}, 1, (const char *[]){">"}, 1, NULL,
                         &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 1);
    expect_ids(rkt_map_expect(&r, "s", NULL), (const char *[]){"1-0", "2-0"}, 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xgroup_createconsumer_is_one_then_zero(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 1);
    long long n = -1;
    RKT_OK(rk_xgroupcreateconsumer(c, "s", "g", "alice", &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_xgroupcreateconsumer(c, "s", "g", "alice", &n));
    assert_int_equal(n, 0);
    rk_reply r;
    RKT_OK(rk_xinfoconsumers(c, "s", "g", &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    rkt_map_expect(rk_reply_at(&r, 0), "name", "alice");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xgroup_delconsumer_returns_its_pending_count(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 3);
    read_new(c, "alice", 3);
    long long n = -1;
    RKT_OK(rk_xgroupdelconsumer(c, "s", "g", "alice", &n));
    assert_int_equal(n, 3);
    RKT_OK(rk_xgroupdelconsumer(c, "s", "g", "alice", &n));
    assert_int_equal(n, 0);
    rk_reply r;
    RKT_OK(rk_xinfoconsumers(c, "s", "g", &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xgroup_setid_rewinds_the_group(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 3);
    read_new(c, "alice", 3);
    RKT_OK(rk_xgroupsetid(c, "s", "g", "1-0", NULL));
    read_new(c, "alice", 2);
    /* NULL id: $, nothing more to deliver */
    RKT_OK(rk_xgroupsetid(c, "s", "g", "0", NULL));
    RKT_OK(rk_xgroupsetid(c, "s", "g", NULL, NULL));
    rk_reply r;
    RKT_NIL(rk_xreadgroup(c, "g", "alice", (const char *[]){"s"}, 1, (const char *[]){">"}, 1, NULL,
                          &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xgroup_destroy_is_one_then_zero(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 1);
    long long n = -1;
    RKT_OK(rk_xgroupdestroy(c, "s", "g", &n));
    assert_int_equal(n, 1);
    RKT_OK(rk_xgroupdestroy(c, "s", "g", &n));
    assert_int_equal(n, 0);
    rk_reply r;
    RKT_OK(rk_xinfogroups(c, "s", &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- XREADGROUP, XACK, XPENDING ----------------------------------------- */

static void test_xreadgroup_new_entries_become_pending(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 3);
    rk_reply r;
    RKT_OK(rk_xreadgroup(c, "g", "alice", (const char *[]){"s"}, 1, (const char *[]){">"}, 1,
                         &(rk_xreadgroup_opts){.count = 2}, &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 1);
    const rk_reply *s = rkt_map_expect(&r, "s", NULL);
    expect_ids(s, (const char *[]){"1-0", "2-0"}, 2);
    expect_entry(rk_reply_at(s, 1), "2-0", "f", "v2");
    rk_reply_free(&r);
    /* its history (id 0): the two pending entries */
    RKT_OK(rk_xreadgroup(c, "g", "alice", (const char *[]){"s"}, 1, (const char *[]){"0"}, 1, NULL,
                         &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 1);
    expect_ids(rkt_map_expect(&r, "s", NULL), (const char *[]){"1-0", "2-0"}, 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xreadgroup_noack_leaves_nothing_pending(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 2);
    rk_reply r;
    RKT_OK(rk_xreadgroup(c, "g", "alice", (const char *[]){"s"}, 1, (const char *[]){">"}, 1,
                         &(rk_xreadgroup_opts){.noack = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_MAP, 1);
    expect_ids(rkt_map_expect(&r, "s", NULL), (const char *[]){"1-0", "2-0"}, 2);
    rk_reply_free(&r);
    RKT_OK(rk_xpending(c, "s", "g", NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 4);
    assert_int_equal(rk_reply_int(rk_reply_at(&r, 0)), 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xack_acknowledges_pending_entries(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 3);
    read_new(c, "alice", 3);
    long long n = -1;
    RKT_OK(rk_xack(c, "s", "g", (const char *[]){"1-0", "2-0", "9-0"}, 3, &n));
    assert_int_equal(n, 2);
    RKT_OK(rk_xack(c, "s", "g", (const char *[]){"1-0"}, 1, &n));
    assert_int_equal(n, 0);
    rk_reply r;
    RKT_OK(rk_xpending(c, "s", "g", NULL, &r));
    assert_int_equal(rk_reply_int(rk_reply_at(&r, 0)), 1);
    rk_reply_free(&r);
    RKT_RC(rk_xack(c, "s", "g", NULL, 0, &n), RK_EINVAL);
    rk_client_free(c);
}

static void test_xpending_summary_counts_per_consumer(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 3);
    rk_reply r;
    RKT_OK(rk_xreadgroup(c, "g", "alice", (const char *[]){"s"}, 1, (const char *[]){">"}, 1,
                         &(rk_xreadgroup_opts){.count = 1}, &r));
    rk_reply_free(&r);
    read_new(c, "bob", 2);
    RKT_OK(rk_xpending(c, "s", "g", NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 4);
    assert_int_equal(rk_reply_type(rk_reply_at(&r, 0)), RK_REPLY_INTEGER);
    assert_int_equal(rk_reply_int(rk_reply_at(&r, 0)), 3);
    expect_str(rk_reply_at(&r, 1), "1-0");
    expect_str(rk_reply_at(&r, 2), "3-0");
    const rk_reply *cons = rk_reply_at(&r, 3);
    rkt_expect_shape(cons, RK_REPLY_ARRAY, 2);
    rkt_expect_shape(rk_reply_at(cons, 0), RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(rk_reply_at(cons, 0), 0), "alice");
    expect_str(rk_reply_at(rk_reply_at(cons, 0), 1), "1");
    expect_str(rk_reply_at(rk_reply_at(cons, 1), 0), "bob");
    expect_str(rk_reply_at(rk_reply_at(cons, 1), 1), "2");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xpending_summary_of_idle_group_has_nils(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 1);
    rk_reply r;
    RKT_OK(rk_xpending(c, "s", "g", NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 4);
    assert_int_equal(rk_reply_int(rk_reply_at(&r, 0)), 0);
    for (size_t i = 1; i < 4; i++)
        assert_int_equal(rk_reply_type(rk_reply_at(&r, i)), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xpending_extended_lists_entries(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 3);
    read_new(c, "alice", 3);
    rk_reply r;
    rk_xpending_idle f = {.start = RK_STR("-"), .end = RK_STR("+"), .count = 2};
    RKT_OK(rk_xpending(c, "s", "g", &(rk_xpending_opts){.idle = &f}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    for (size_t i = 0; i < 2; i++) {
        const rk_reply *e = rk_reply_at(&r, i);
        rkt_expect_shape(e, RK_REPLY_ARRAY, 4);
        expect_str(rk_reply_at(e, 0), i == 0 ? "1-0" : "2-0");
        expect_str(rk_reply_at(e, 1), "alice");
        assert_int_equal(rk_reply_type(rk_reply_at(e, 2)), RK_REPLY_INTEGER);
        assert_int_equal(rk_reply_type(rk_reply_at(e, 3)), RK_REPLY_INTEGER);
        assert_int_equal(rk_reply_int(rk_reply_at(e, 3)), 1);
    }
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xpending_extended_filters_by_consumer(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 3);
    rk_reply r;
    RKT_OK(rk_xreadgroup(c, "g", "alice", (const char *[]){"s"}, 1, (const char *[]){">"}, 1,
                         &(rk_xreadgroup_opts){.count = 1}, &r));
    rk_reply_free(&r);
    read_new(c, "bob", 2);
    rk_xpending_idle f = {
        .start = RK_STR("-"), .end = RK_STR("+"), .count = 10, .consumer = RK_STR("bob")};
    RKT_OK(rk_xpending(c, "s", "g", &(rk_xpending_opts){.idle = &f}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(rk_reply_at(&r, 0), 0), "2-0");
    expect_str(rk_reply_at(rk_reply_at(&r, 0), 1), "bob");
    expect_str(rk_reply_at(rk_reply_at(&r, 1), 0), "3-0");
    rk_reply_free(&r);
    rk_client_free(c);
}

/* IDLE of an hour: entries delivered just now are not that idle. */
static void test_xpending_extended_idle_filter_excludes_fresh_entries(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 2);
    read_new(c, "alice", 2);
    rk_reply r;
    rk_xpending_idle f = {.idle = 3600000, .start = RK_STR("-"), .end = RK_STR("+"), .count = 10};
    RKT_OK(rk_xpending(c, "s", "g", &(rk_xpending_opts){.idle = &f}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    /* IDLE 0 (idle_set) keeps them */
    f = (rk_xpending_idle){.idle_set = true, .start = RK_STR("-"), .end = RK_STR("+"), .count = 10};
    RKT_OK(rk_xpending(c, "s", "g", &(rk_xpending_opts){.idle = &f}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xpending_filters_without_start_or_end_are_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 1);
    rk_reply r;
    rk_xpending_idle f = {.end = RK_STR("+"), .count = 10};
    RKT_RC(rk_xpending(c, "s", "g", &(rk_xpending_opts){.idle = &f}, &r), RK_EINVAL);
    f = (rk_xpending_idle){.start = RK_STR("-"), .count = 10};
    RKT_RC(rk_xpending(c, "s", "g", &(rk_xpending_opts){.idle = &f}, &r), RK_EINVAL);
    rk_client_free(c);
}

/* ---- XCLAIM, XAUTOCLAIM ------------------------------------------------- */

static void test_xclaim_moves_entries_and_returns_them_with_maps(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 2);
    read_new(c, "alice", 2);
    rk_reply r;
    RKT_OK(rk_xclaim(c, "s", "g", "bob", "0", (const char *[]){"1-0", "2-0", "9-0"}, 3,
                     &(rk_xclaim_opts){.retrycount = 5}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_entry(rk_reply_at(&r, 0), "1-0", "f", "v1");
    expect_entry(rk_reply_at(&r, 1), "2-0", "f", "v2");
    rk_reply_free(&r);
    rk_xpending_idle f = {
        .start = RK_STR("-"), .end = RK_STR("+"), .count = 10, .consumer = RK_STR("bob")};
    RKT_OK(rk_xpending(c, "s", "g", &(rk_xpending_opts){.idle = &f}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    assert_int_equal(rk_reply_int(rk_reply_at(rk_reply_at(&r, 0), 3)), 5);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xclaim_justid_returns_ids_only(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 2);
    read_new(c, "alice", 2);
    rk_reply r;
    RKT_OK(rk_xclaim(c, "s", "g", "bob", "0", (const char *[]){"1-0", "2-0"}, 2,
                     &(rk_xclaim_opts){.justid = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(&r, 0), "1-0");
    expect_str(rk_reply_at(&r, 1), "2-0");
    rk_reply_free(&r);
    /* a min-idle-time of an hour claims nothing */
    RKT_OK(rk_xclaim(c, "s", "g", "carol", "3600000", (const char *[]){"1-0"}, 1, NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xautoclaim_gives_next_id_entries_and_deleted_ids(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 3);
    read_new(c, "alice", 3);
    long long n;
    RKT_OK(rk_xdel(c, "s", (const char *[]){"2-0"}, 1, &n));
    rk_reply r;
    RKT_OK(rk_xautoclaim(c, "s", "g", "bob", "0", "0-0", NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_str(rk_reply_at(&r, 0), "0-0");
    const rk_reply *entries = rk_reply_at(&r, 1);
    rkt_expect_shape(entries, RK_REPLY_ARRAY, 2);
    expect_entry(rk_reply_at(entries, 0), "1-0", "f", "v1");
    expect_entry(rk_reply_at(entries, 1), "3-0", "f", "v3");
    const rk_reply *deleted = rk_reply_at(&r, 2);
    rkt_expect_shape(deleted, RK_REPLY_ARRAY, 1);
    expect_str(rk_reply_at(deleted, 0), "2-0");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xautoclaim_count_and_justid(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 3);
    read_new(c, "alice", 3);
    rk_reply r;
    RKT_OK(rk_xautoclaim(c, "s", "g", "bob", "0", "-",
                         &(rk_xautoclaim_opts){.count = 2, .justid = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_str(rk_reply_at(&r, 0), "3-0");
    const rk_reply *ids = rk_reply_at(&r, 1);
    rkt_expect_shape(ids, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(ids, 0), "1-0");
    expect_str(rk_reply_at(ids, 1), "2-0");
    rkt_expect_shape(rk_reply_at(&r, 2), RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- XINFO ------------------------------------------------------------ */

static void test_xinfo_stream_is_a_map(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 3);
    rk_reply r;
    RKT_OK(rk_xinfostream(c, "s", NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_MAP);
    assert_int_equal(rk_reply_int(rkt_map_expect(&r, "length", NULL)), 3);
    assert_int_equal(rk_reply_int(rkt_map_expect(&r, "groups", NULL)), 1);
    rkt_map_expect(&r, "last-generated-id", "3-0");
    rkt_map_expect(&r, "first-entry", NULL);
    rkt_map_expect(&r, "last-entry", NULL);
    rk_reply_free(&r);
    RKT_RC(rk_xinfostream(c, "nope", NULL, &r), RK_ESERVER);
    rk_reply_free(&r); /* the error reply */
    rk_client_free(c);
}

/* first-entry and last-entry are entries: [id, map] as XRANGE gives them. */
static void test_xinfo_stream_first_and_last_entries_have_field_maps(void **state) {
    rk_client *c = rkt_cmd_client(state);
    add_n(c, "s", 3);
    rk_reply r;
    RKT_OK(rk_xinfostream(c, "s", NULL, &r));
    expect_entry(rkt_map_expect(&r, "first-entry", NULL), "1-0", "f", "v1");
    expect_entry(rkt_map_expect(&r, "last-entry", NULL), "3-0", "f", "v3");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xinfo_stream_full_count_limits_entries(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 3);
    rk_reply r;
    RKT_OK(rk_xinfostream(c, "s",
                          &(rk_xinfostream_opts){.full = &(rk_xinfostream_full){.count = 2}}, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_MAP);
    assert_int_equal(rk_reply_int(rkt_map_expect(&r, "length", NULL)), 3);
    const rk_reply *entries = rkt_map_expect(&r, "entries", NULL);
    rkt_expect_shape(entries, RK_REPLY_ARRAY, 2);
    expect_entry(rk_reply_at(entries, 0), "1-0", "f", "v1");
    rk_reply_free(&r);
    /* FULL without COUNT: every entry (the default COUNT is 10) */
    RKT_OK(rk_xinfostream(c, "s", &(rk_xinfostream_opts){.full = &(rk_xinfostream_full){0}}, &r));
    rkt_expect_shape(rkt_map_expect(&r, "entries", NULL), RK_REPLY_ARRAY, 3);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* In FULL, groups is an array of maps, each with consumers an array of maps
 * (RESP3's form), on both protocols. */
static void test_xinfo_stream_full_groups_are_maps(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 2);
    read_new(c, "alice", 2);
    rk_reply r;
    RKT_OK(rk_xinfostream(c, "s", &(rk_xinfostream_opts){.full = &(rk_xinfostream_full){0}}, &r));
    const rk_reply *groups = rkt_map_expect(&r, "groups", NULL);
    rkt_expect_shape(groups, RK_REPLY_ARRAY, 1);
    const rk_reply *g = rk_reply_at(groups, 0);
    rkt_map_expect(g, "name", "g");
    assert_int_equal(rk_reply_int(rkt_map_expect(g, "pel-count", NULL)), 2);
    const rk_reply *consumers = rkt_map_expect(g, "consumers", NULL);
    rkt_expect_shape(consumers, RK_REPLY_ARRAY, 1);
    rkt_map_expect(rk_reply_at(consumers, 0), "name", "alice");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xinfo_groups_is_array_of_maps(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 3);
    RKT_OK(rk_xgroupcreate(c, "s", "h", "$", NULL));
    read_new(c, "alice", 3);
    rk_reply r;
    RKT_OK(rk_xinfogroups(c, "s", &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    const rk_reply *g = rk_reply_at(&r, 0);
    rkt_map_expect(g, "name", "g");
    assert_int_equal(rk_reply_int(rkt_map_expect(g, "consumers", NULL)), 1);
    assert_int_equal(rk_reply_int(rkt_map_expect(g, "pending", NULL)), 3);
    rkt_map_expect(g, "last-delivered-id", "3-0");
    const rk_reply *h = rk_reply_at(&r, 1);
    rkt_map_expect(h, "name", "h");
    assert_int_equal(rk_reply_int(rkt_map_expect(h, "pending", NULL)), 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_xinfo_consumers_is_array_of_maps(void **state) {
    rk_client *c = rkt_cmd_client(state);
    make_group(c, 3);
    rk_reply r;
    RKT_OK(rk_xreadgroup(c, "g", "alice", (const char *[]){"s"}, 1, (const char *[]){">"}, 1,
                         &(rk_xreadgroup_opts){.count = 1}, &r));
    rk_reply_free(&r);
    read_new(c, "bob", 2);
    RKT_OK(rk_xinfoconsumers(c, "s", "g", &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    const rk_reply *a = rk_reply_at(&r, 0);
    rkt_map_expect(a, "name", "alice");
    assert_int_equal(rk_reply_int(rkt_map_expect(a, "pending", NULL)), 1);
    assert_int_equal(rk_reply_type(rkt_map_expect(a, "idle", NULL)), RK_REPLY_INTEGER);
    const rk_reply *b = rk_reply_at(&r, 1);
    rkt_map_expect(b, "name", "bob");
    assert_int_equal(rk_reply_int(rkt_map_expect(b, "pending", NULL)), 2);
    rk_reply_free(&r);
    RKT_RC(rk_xinfoconsumers(c, "s", "nogroup", &r), RK_ESERVER);
    rk_reply_free(&r); /* the error reply */
    rk_client_free(c);
}

/* ---- pipelines and transactions ---------------------------------------- */

/* Data for the shape checks: hash h, sorted set z, stream s. */
static void seed(rk_client *c) {
    rk_hset_field_value hv[] = {{RK_STR("a"), RK_STR("1")}, {RK_STR("b"), RK_STR("2")}};
    RKT_OK(rk_hset(c, "h", hv, N(hv), NULL));
    RKT_OK(rk_zadd(c, "z", (rk_zadd_score_member[]){{1.5, RK_STR("m")}}, 1, NULL, NULL));
    add_n(c, "s", 2);
}

/* Queues HGETALL h, ZSCORE z m, XRANGE s, XREAD s, XINFO GROUPS s, XLEN s. */
static void queue_reads(rk_pipeline *p) {
    rk_command cmd;
    RKT_OK(rk_pipeline_add(p, rk_cmd_hgetall(&cmd, RK_STR("h"))));
    RKT_OK(rk_pipeline_add(p, rk_cmd_zscore(&cmd, RK_STR("z"), RK_STR("m"))));
    RKT_OK(rk_pipeline_add(p, rk_cmd_xrange(&cmd, RK_STR("s"), RK_STR("-"), RK_STR("+"), NULL)));
    RKT_OK(rk_pipeline_add(p, rk_cmd_xread(&cmd, (const rk_str[]){RK_STR("s")}, 1,
                                           (const rk_str[]){RK_STR("0")}, 1, NULL)));
    RKT_OK(rk_pipeline_add(p, rk_cmd_xinfostream(&cmd, RK_STR("s"), NULL)));
    RKT_OK(rk_pipeline_add(p, rk_cmd_xlen(&cmd, RK_STR("s"))));
}

static void expect_reads(const rk_pipeline *p) {
    assert_int_equal(rk_pipeline_replies(p), 6);
    for (size_t i = 0; i < 6; i++)
        RKT_OK(rk_pipeline_status(p, i));
    const rk_reply *h = rk_pipeline_reply(p, 0);
    rkt_expect_shape(h, RK_REPLY_MAP, 2);
    rkt_map_expect(h, "a", "1");
    rkt_map_expect(h, "b", "2");
    const rk_reply *z = rk_pipeline_reply(p, 1);
    assert_int_equal(rk_reply_type(z), RK_REPLY_DOUBLE);
    assert_true(rk_reply_double(z) == 1.5);
    expect_ids(rk_pipeline_reply(p, 2), (const char *[]){"1-0", "2-0"}, 2);
    expect_entry(rk_reply_at(rk_pipeline_reply(p, 2), 0), "1-0", "f", "v1");
    const rk_reply *x = rk_pipeline_reply(p, 3);
    rkt_expect_shape(x, RK_REPLY_MAP, 1);
    expect_ids(rkt_map_expect(x, "s", NULL), (const char *[]){"1-0", "2-0"}, 2);
    const rk_reply *info = rk_pipeline_reply(p, 4);
    assert_int_equal(rk_reply_type(info), RK_REPLY_MAP);
    assert_int_equal(rk_reply_int(rkt_map_expect(info, "length", NULL)), 2);
    const rk_reply *len = rk_pipeline_reply(p, 5);
    assert_int_equal(rk_reply_type(len), RK_REPLY_INTEGER);
    assert_int_equal(rk_reply_int(len), 2);
}

static void test_pipe_typed_calls_have_the_direct_shapes(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed(c);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    queue_reads(p);
    assert_int_equal(rk_pipeline_size(p), 6);
    RKT_OK(rk_pipeline_exec(p));
    expect_reads(p);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_transaction_typed_calls_have_the_direct_shapes(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed(c);
    rk_pipeline *p = rk_pipeline_new(c, &(rk_pipeline_opts){.transaction = true});
    assert_non_null(p);
    queue_reads(p);
    RKT_OK(rk_pipeline_exec(p));
    expect_reads(p);
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* Writes and reads mixed: the pipe twins of XADD, XGROUP, XREADGROUP, XACK,
 * XPENDING, XCLAIM and XAUTOCLAIM in one pipeline give the direct forms. */
static void test_pipe_stream_group_calls_have_the_direct_shapes(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    rk_command cmd;
    assert_non_null(p);
    RKT_OK(rk_pipeline_add(p, rk_cmd_xadd(&cmd, RK_STR("s"), RK_STR("1-0"),
                                          &(rk_xadd_field_value){RK_STR("f"), RK_STR("v1")}, 1,
                                          NULL)));
    RKT_OK(rk_pipeline_add(p, rk_cmd_xadd(&cmd, RK_STR("s"), RK_STR("2-0"),
                                          &(rk_xadd_field_value){RK_STR("f"), RK_STR("v2")}, 1,
                                          NULL)));
    RKT_OK(
        rk_pipeline_add(p, rk_cmd_xgroupcreate(&cmd, RK_STR("s"), RK_STR("g"), RK_STR("0"), NULL)));
    RKT_OK(rk_pipeline_add(p, rk_cmd_xreadgroup(&cmd, RK_STR("g"), RK_STR("alice"),
                                                (const rk_str[]){RK_STR("s")}, 1,
                                                (const rk_str[]){RK_STR(">")}, 1, NULL)));
    RKT_OK(rk_pipeline_add(
        p, rk_cmd_xack(&cmd, RK_STR("s"), RK_STR("g"), (const rk_str[]){RK_STR("1-0")}, 1)));
    RKT_OK(
        rk_pipeline_add(p, rk_cmd_xclaim(&cmd, RK_STR("s"), RK_STR("g"), RK_STR("bob"), RK_STR("0"),
                                         (const rk_str[]){RK_STR("2-0")}, 1, NULL)));
    RKT_OK(rk_pipeline_add(p, rk_cmd_xautoclaim(&cmd, RK_STR("s"), RK_STR("g"), RK_STR("carol"),
                                                RK_STR("0"), RK_STR("0"), NULL)));
    RKT_OK(rk_pipeline_add(p, rk_cmd_xinfoconsumers(&cmd, RK_STR("s"), RK_STR("g"))));
    RKT_OK(rk_pipeline_add(p, rk_cmd_xadd(&cmd, RK_STR("nope"), (rk_str){0},
                                          &(rk_xadd_field_value){RK_STR("f"), RK_STR("v")}, 1,
                                          &(rk_xadd_opts){.nomkstream = true})));
    assert_int_equal(rk_pipeline_size(p), 9);
    RKT_OK(rk_pipeline_exec(p));
    for (size_t i = 0; i < 9; i++)
        RKT_OK(rk_pipeline_status(p, i));
    expect_str(rk_pipeline_reply(p, 0), "1-0");
    expect_str(rk_pipeline_reply(p, 2), "OK");
    const rk_reply *rg = rk_pipeline_reply(p, 3);
    rkt_expect_shape(rg, RK_REPLY_MAP, 1);
    expect_ids(rkt_map_expect(rg, "s", NULL), (const char *[]){"1-0", "2-0"}, 2);
    assert_int_equal(rk_reply_int(rk_pipeline_reply(p, 4)), 1);
    const rk_reply *cl = rk_pipeline_reply(p, 5);
    rkt_expect_shape(cl, RK_REPLY_ARRAY, 1);
    expect_entry(rk_reply_at(cl, 0), "2-0", "f", "v2");
    const rk_reply *ac = rk_pipeline_reply(p, 6);
    rkt_expect_shape(ac, RK_REPLY_ARRAY, 3);
    rkt_expect_shape(rk_reply_at(ac, 1), RK_REPLY_ARRAY, 1);
    expect_entry(rk_reply_at(rk_reply_at(ac, 1), 0), "2-0", "f", "v2");
    const rk_reply *cons = rk_pipeline_reply(p, 7);
    rkt_expect_shape(cons, RK_REPLY_ARRAY, 3);
    rkt_map_expect(rk_reply_at(cons, 0), "name", "alice");
    assert_int_equal(rk_reply_type(rk_pipeline_reply(p, 8)), RK_REPLY_NIL);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_pipe_typed_call_failing_its_checks_queues_nothing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    rk_command cmd;
    assert_non_null(p);
    RKT_OK(rk_pipeline_add(p, rk_cmd_set(&cmd, RK_STR("k"), RK_STR("v"), NULL)));
    assert_int_equal(rk_pipeline_size(p), 1);
    RKT_RC(rk_pipeline_add(p, rk_cmd_set(&cmd, RK_STR("k"), RK_STR("w"),
                                         &(rk_set_opts){.nx = true, .xx = true})),
           RK_EINVAL);
    RKT_RC(rk_pipeline_add(p, rk_cmd_xread(&cmd, (const rk_str[]){RK_STR("a"), RK_STR("b")}, 2,
                                           (const rk_str[]){RK_STR("0")}, 1, NULL)),
           RK_EINVAL);
    rk_xadd_trim both = {
        .strategy = RK_TRIM_MINID, .equal = true, .approximately = true, .threshold = RK_STR("1")};
    RKT_RC(rk_pipeline_add(p, rk_cmd_xadd(&cmd, RK_STR("s"), (rk_str){0},
                                          &(rk_xadd_field_value){RK_STR("f"), RK_STR("v")}, 1,
                                          &(rk_xadd_opts){.trim = &both})),
           RK_EINVAL);
    RKT_RC(rk_pipeline_add(p, rk_cmd_xtrim(&cmd, RK_STR("s"), (rk_trim)0, RK_STR("1"), NULL)),
           RK_EINVAL);
    assert_int_equal(rk_pipeline_size(p), 1);
    RKT_OK(rk_pipeline_add(p, rk_cmd_get(&cmd, RK_STR("k"))));
    RKT_OK(rk_pipeline_exec(p));
    assert_int_equal(rk_pipeline_replies(p), 2);
    expect_str(rk_pipeline_reply(p, 0), "OK");
    expect_str(rk_pipeline_reply(p, 1), "v");
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* XADD on a string key is WRONGTYPE; the commands around it keep their
 * shaped replies. */
static void check_error_in_the_middle(void **state, bool transaction) {
    rk_client *c = rkt_cmd_client(state);
    seed(c);
    RKT_OK(rk_set(c, "str", "x", NULL, NULL));
    rk_pipeline *p = rk_pipeline_new(c, &(rk_pipeline_opts){.transaction = transaction});
    rk_command cmd;
    assert_non_null(p);
    RKT_OK(rk_pipeline_add(p, rk_cmd_hgetall(&cmd, RK_STR("h"))));
    RKT_OK(
        rk_pipeline_add(p, rk_cmd_xadd(&cmd, RK_STR("str"), (rk_str){0},
                                       &(rk_xadd_field_value){RK_STR("f"), RK_STR("v")}, 1, NULL)));
    RKT_OK(rk_pipeline_add(p, rk_cmd_xrange(&cmd, RK_STR("s"), RK_STR("-"), RK_STR("+"), NULL)));
    RKT_OK(rk_pipeline_add(p, rk_cmd_xinfogroups(&cmd, RK_STR("str"))));
    RKT_OK(rk_pipeline_add(p, rk_cmd_zscore(&cmd, RK_STR("z"), RK_STR("m"))));
    RKT_OK(rk_pipeline_exec(p));
    assert_int_equal(rk_pipeline_replies(p), 5);
    RKT_OK(rk_pipeline_status(p, 0));
    RKT_RC(rk_pipeline_status(p, 1), RK_ESERVER);
    assert_true(rk_reply_is_error(rk_pipeline_reply(p, 1)));
    assert_non_null(strstr(rk_reply_str(rk_pipeline_reply(p, 1)), "WRONGTYPE"));
    RKT_OK(rk_pipeline_status(p, 2));
    RKT_RC(rk_pipeline_status(p, 3), RK_ESERVER);
    RKT_OK(rk_pipeline_status(p, 4));
    rkt_expect_shape(rk_pipeline_reply(p, 0), RK_REPLY_MAP, 2);
    expect_ids(rk_pipeline_reply(p, 2), (const char *[]){"1-0", "2-0"}, 2);
    assert_int_equal(rk_reply_type(rk_pipeline_reply(p, 4)), RK_REPLY_DOUBLE);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_pipe_server_error_leaves_other_replies_intact(void **state) {
    check_error_in_the_middle(state, false);
}

static void test_transaction_server_error_leaves_other_replies_intact(void **state) {
    check_error_in_the_middle(state, true);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        RKT_BOTH(test_xadd_null_id_generates_one),
        RKT_BOTH(test_xadd_explicit_id_is_kept),
        RKT_BOTH(test_xadd_nomkstream_on_missing_stream_is_nil),
        RKT_BOTH(test_xadd_maxlen_equal_trims_to_exact_length),
        RKT_BOTH(test_xadd_minid_trims_entries_below_it),
        RKT_BOTH(test_xadd_approx_maxlen_with_limit_keeps_whole_nodes),
        RKT_BOTH(test_xadd_limit_set_zero_is_sent),
        RKT_BOTH(test_xadd_bad_trim_block_is_einval),
        RKT_BOTH(test_xlen_counts_entries_and_is_zero_when_missing),
        RKT_BOTH(test_xrange_entries_are_id_and_field_map),
        RKT_BOTH(test_xrange_count_limits_entries),
        RKT_BOTH(test_xrevrange_returns_newest_first_with_count),
        RKT_BOTH(test_xdel_counts_only_existing_ids),
        RKT_BOTH(test_xtrim_maxlen_removes_oldest),
        RKT_BOTH(test_xtrim_minid_equal_removes_ids_below),
        RKT_BOTH(test_xtrim_approx_limit_caps_removed_entries),
        RKT_BOTH(test_xtrim_bad_arguments_are_einval),
        RKT_BOTH(test_xsetid_moves_last_id),
        RKT_BOTH(test_xsetid_sends_entriesadded_and_maxdeletedid),
        RKT_BOTH(test_xread_two_streams_gives_map_of_entries),
        RKT_BOTH(test_xread_count_limits_each_stream),
        RKT_BOTH(test_xread_keys_and_ids_of_unequal_length_is_einval),
        RKT_BOTH(test_xread_block_without_new_data_is_nil),
        RKT_BOTH(test_xread_block_is_served_by_xadd_from_another_thread),
        RKT_BOTH(test_xread_block_zero_set_blocks_until_served),
        RKT_BOTH(test_xgroup_create_mkstream_creates_empty_stream),
        RKT_BOTH(test_xgroup_create_at_dollar_skips_history),
        RKT_BOTH(test_xgroup_create_at_zero_delivers_history),
        RKT_BOTH(test_xgroup_createconsumer_is_one_then_zero),
        RKT_BOTH(test_xgroup_delconsumer_returns_its_pending_count),
        RKT_BOTH(test_xgroup_setid_rewinds_the_group),
        RKT_BOTH(test_xgroup_destroy_is_one_then_zero),
        RKT_BOTH(test_xreadgroup_new_entries_become_pending),
        RKT_BOTH(test_xreadgroup_noack_leaves_nothing_pending),
        RKT_BOTH(test_xack_acknowledges_pending_entries),
        RKT_BOTH(test_xpending_summary_counts_per_consumer),
        RKT_BOTH(test_xpending_summary_of_idle_group_has_nils),
        RKT_BOTH(test_xpending_extended_lists_entries),
        RKT_BOTH(test_xpending_extended_filters_by_consumer),
        RKT_BOTH(test_xpending_extended_idle_filter_excludes_fresh_entries),
        RKT_BOTH(test_xpending_filters_without_start_or_end_are_einval),
        RKT_BOTH(test_xclaim_moves_entries_and_returns_them_with_maps),
        RKT_BOTH(test_xclaim_justid_returns_ids_only),
        RKT_BOTH(test_xautoclaim_gives_next_id_entries_and_deleted_ids),
        RKT_BOTH(test_xautoclaim_count_and_justid),
        RKT_BOTH(test_xinfo_stream_is_a_map),
        RKT_BOTH(test_xinfo_stream_first_and_last_entries_have_field_maps),
        RKT_BOTH(test_xinfo_stream_full_count_limits_entries),
        RKT_BOTH(test_xinfo_stream_full_groups_are_maps),
        RKT_BOTH(test_xinfo_groups_is_array_of_maps),
        RKT_BOTH(test_xinfo_consumers_is_array_of_maps),
        RKT_BOTH(test_pipe_typed_calls_have_the_direct_shapes),
        RKT_BOTH(test_transaction_typed_calls_have_the_direct_shapes),
        RKT_BOTH(test_pipe_stream_group_calls_have_the_direct_shapes),
        RKT_BOTH(test_pipe_typed_call_failing_its_checks_queues_nothing),
        RKT_BOTH(test_pipe_server_error_leaves_other_replies_intact),
        RKT_BOTH(test_transaction_server_error_leaves_other_replies_intact),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
