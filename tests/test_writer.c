/* Unit tests of the RESP writer (src/resp/writer.c); no server.
 *
 * Commands from argv, argument lists and printf-style formats give exactly
 * the expected wire bytes; large arguments are referenced, not copied, and
 * the queue drains in order through rk_writer_iov / rk_writer_consume;
 * replies are encoded for RESP3 and lowered for RESP2 as writer.h says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rediskit/rediskit.h"
#include "rkt_alloc.h"
#include "rkt_resp.h"

/* A string literal and its length, binary safe. */
#define LIT(s) s, sizeof(s) - 1

#define TEST(f) cmocka_unit_test_setup_teardown(f, rkt_alloc_setup, rkt_alloc_teardown)

/* ---- helpers ------------------------------------------------------- */

static rk_writer *writer_with(size_t ref_threshold) {
    rk_writer_opts opts = {.ref_threshold = ref_threshold};
    rk_writer *w = rk_writer_new(&opts);
    assert_non_null(w);
    return w;
}

static void assert_drains_to(rk_writer *w, const char *expected, size_t len) {
    size_t got_len;
    char *got = rkt_drain(w, &got_len);
    if (got_len != len || memcmp(got, expected, len) != 0)
        fail_msg("queued %zu bytes \"%.80s\", expected %zu \"%.80s\"", got_len, got, len, expected);
    free(got);
}

#define ASSERT_QUEUED(w, lit) assert_drains_to(w, LIT(lit))

/* A refused call must leave the queue as it was: pending unchanged and
 * only what came before still queued. */
static void assert_refused_and_unchanged(rk_writer *w, int rc) {
    assert_int_equal(rc, RK_EINVAL);
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    assert_int_equal(rk_writer_pending(w), 14);
    ASSERT_QUEUED(w, "*1\r\n$4\r\nPING\r\n");
}

static rk_writer *writer_holding_ping(void) {
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_args(w, "PING", NULL), RK_OK);
    assert_int_equal(rk_writer_pending(w), 14);
    return w;
}

/* Whether some queued iovec starts at p (an argument was referenced). */
static bool queue_references(const rk_writer *w, const void *p) {
    struct iovec iov[64];
    int n = rk_writer_iov(w, iov, 64);
    for (int i = 0; i < n; i++)
        if (iov[i].iov_base == p)
            return true;
    return false;
}

/* Whether some queued iovec lies inside the caller's [p, p + len). */
static bool queue_points_into(const rk_writer *w, const char *p, size_t len) {
    struct iovec iov[64];
    int n = rk_writer_iov(w, iov, 64);
    for (int i = 0; i < n; i++) {
        const char *b = iov[i].iov_base;
        if (b >= p && b < p + len)
            return true;
    }
    return false;
}

/* "$len\r\n" + data + "\r\n" appended to out at *at. */
static void put_bulk(char *out, size_t *at, const char *data, size_t len) {
    *at += (size_t)sprintf(out + *at, "$%zu\r\n", len);
    memcpy(out + *at, data, len);
    *at += len;
    memcpy(out + *at, "\r\n", 2);
    *at += 2;
}

/* The bytes rk_writer_reply gives for the reply parsed from wire. */
static void assert_reply_encodes_to(const char *wire, size_t len, int protocol,
                                    const char *expected, size_t expected_len) {
    rk_reply r;
    rkt_parse(wire, len, &r);
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_reply(w, &r, protocol), RK_OK);
    assert_drains_to(w, expected, expected_len);
    rk_writer_free(w);
    rk_reply_free(&r);
}

/* ---- argv and argument lists --------------------------------------- */

static void test_argv_encodes_a_command(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    const rk_str argv[] = {RK_STR("SET"), RK_STR("key"), RK_STR("value")};
    assert_int_equal(rk_writer_argv(w, argv, 3), RK_OK);
    ASSERT_QUEUED(w, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
    rk_writer_free(w);
}

static void test_argv_with_lengths_is_binary_safe(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    const rk_str argv[] = {RK_STR("SET"), RK_STR("k\0y"), RK_STR("v\r\n\0")};
    assert_int_equal(rk_writer_argv(w, argv, 3), RK_OK);
    ASSERT_QUEUED(w, "*3\r\n$3\r\nSET\r\n$3\r\nk\0y\r\n$4\r\nv\r\n\0\r\n");
    rk_writer_free(w);
}

static void test_argv_encodes_empty_arguments(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    const rk_str argv[] = {RK_STR("SET"), RK_STR(""), RK_STR("")};
    assert_int_equal(rk_writer_argv(w, argv, 3), RK_OK);
    ASSERT_QUEUED(w, "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$0\r\n\r\n");
    rk_writer_free(w);
}

static void test_commands_queue_one_after_the_other(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    const rk_str get[] = {RK_STR("GET"), RK_STR("k")};
    assert_int_equal(rk_writer_argv(w, get, 2), RK_OK);
    assert_int_equal(rk_writer_args(w, "INCR", "n", NULL), RK_OK);
    assert_int_equal(rk_writer_format(w, "DEL %s", "k"), RK_OK);
    ASSERT_QUEUED(w, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n"
                     "*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n");
    rk_writer_free(w);
}

static void test_argv_with_no_arguments_is_einval_and_changes_nothing(void **state) {
    (void)state;
    rk_writer *w = writer_holding_ping();
    const rk_str argv[] = {RK_STR("SET")};
    assert_refused_and_unchanged(w, rk_writer_argv(w, argv, 0));
    rk_writer_free(w);
}

static void test_argv_with_a_null_argument_is_einval_and_changes_nothing(void **state) {
    (void)state;
    rk_writer *w = writer_holding_ping();
    const rk_str argv[] = {RK_STR("SET"), RK_STR("k"), (rk_str){0, NULL}};
    assert_refused_and_unchanged(w, rk_writer_argv(w, argv, 3));
    rk_writer_free(w);
}

/* The length is refused before any byte is read: no 512 MiB needed. */
static void test_argv_with_an_argument_over_rk_str_max_is_einval_and_changes_nothing(void **state) {
    (void)state;
    rk_writer *w = writer_holding_ping();
    const rk_str argv[] = {RK_STR("SET"), RK_STR("k"), rk_bin("v", RK_STR_MAX + 1)};
    assert_refused_and_unchanged(w, rk_writer_argv(w, argv, 3));
    assert_non_null(strstr(rk_error_last()->message, "RK_STR_MAX"));
    rk_writer_free(w);
}

static void test_args_encodes_a_null_terminated_list(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_args(w, "HSET", "h", "f", "", NULL), RK_OK);
    ASSERT_QUEUED(w, "*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nf\r\n$0\r\n\r\n");
    rk_writer_free(w);
}

#define TEN "a", "bb", "ccc", "d", "e", "f", "g", "h", "i", "j"

/* The expected wire form of "CMD" followed by `tens` times the TEN list. */
static size_t tens_command(char *out, int tens) {
    static const char *const ten[] = {TEN};
    size_t at = (size_t)sprintf(out, "*%d\r\n", 1 + 10 * tens);
    put_bulk(out, &at, "CMD", 3);
    for (int t = 0; t < tens; t++)
        for (int i = 0; i < 10; i++)
            put_bulk(out, &at, ten[i], strlen(ten[i]));
    return at;
}

static void test_args_encodes_more_than_64_arguments(void **state) {
    (void)state;
    char expected[4096];
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_args(w, "CMD", TEN, TEN, TEN, TEN, TEN, TEN, TEN, NULL), RK_OK);
    assert_drains_to(w, expected, tens_command(expected, 7));
    assert_int_equal(rk_writer_args(w, "CMD", TEN, TEN, TEN, TEN, TEN, TEN, TEN, TEN, TEN, TEN, TEN,
                                    TEN, TEN, NULL),
                     RK_OK);
    assert_drains_to(w, expected, tens_command(expected, 13));
    rk_writer_free(w);
}

static void test_args_without_arguments_is_einval_and_changes_nothing(void **state) {
    (void)state;
    rk_writer *w = writer_holding_ping();
    assert_refused_and_unchanged(w, rk_writer_args(w, NULL));
    rk_writer_free(w);
}

/* ---- printf-style formats ------------------------------------------ */

static void test_format_splits_arguments_on_spaces(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_format(w, "SET key value"), RK_OK);
    ASSERT_QUEUED(w, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
    rk_writer_free(w);
}

static void test_format_ignores_leading_trailing_and_repeated_spaces(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_format(w, "   SET   key  value   "), RK_OK);
    ASSERT_QUEUED(w, "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
    rk_writer_free(w);
}

static void test_format_s_inserts_a_c_string(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_format(w, "SET %s %s", "my key", "v"), RK_OK);
    ASSERT_QUEUED(w, "*3\r\n$3\r\nSET\r\n$6\r\nmy key\r\n$1\r\nv\r\n");
    rk_writer_free(w);
}

static void test_format_b_inserts_binary_bytes(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_format(w, "SET %b %b", "k\0y", (size_t)3, "v\r\n", (size_t)3),
                     RK_OK);
    ASSERT_QUEUED(w, "*3\r\n$3\r\nSET\r\n$3\r\nk\0y\r\n$3\r\nv\r\n\r\n");
    rk_writer_free(w);
}

static void test_format_signed_integer_conversions(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_format(w, "X %d %i %ld %lld", INT_MIN, -2, LONG_MIN, LLONG_MIN),
                     RK_OK);
    ASSERT_QUEUED(w, "*5\r\n$1\r\nX\r\n$11\r\n-2147483648\r\n$2\r\n-2\r\n"
                     "$20\r\n-9223372036854775808\r\n$20\r\n-9223372036854775808\r\n");
    rk_writer_free(w);
}

static void test_format_unsigned_integer_conversions(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_format(w, "X %u %lu %llu %zu %x", UINT_MAX, ULONG_MAX, ULLONG_MAX,
                                      SIZE_MAX, 255u),
                     RK_OK);
    ASSERT_QUEUED(w, "*6\r\n$1\r\nX\r\n$10\r\n4294967295\r\n$20\r\n18446744073709551615\r\n"
                     "$20\r\n18446744073709551615\r\n$20\r\n18446744073709551615\r\n$2\r\nff\r\n");
    rk_writer_free(w);
}

static void test_format_floating_conversions(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_format(w, "X %f %.2f %g %g", 1.5, 2.5, 0.0001, 1e300), RK_OK);
    ASSERT_QUEUED(w, "*5\r\n$1\r\nX\r\n$8\r\n1.500000\r\n$4\r\n2.50\r\n$6\r\n0.0001\r\n"
                     "$6\r\n1e+300\r\n");
    rk_writer_free(w);
}

static void test_format_double_percent_is_a_percent_sign(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_format(w, "ECHO 100%% %%"), RK_OK);
    ASSERT_QUEUED(w, "*3\r\n$4\r\nECHO\r\n$4\r\n100%\r\n$1\r\n%\r\n");
    rk_writer_free(w);
}

static void test_format_interpolates_inside_an_argument(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_format(w, "GET key:%d:%s:%b", 42, "x", "\0y", (size_t)2), RK_OK);
    ASSERT_QUEUED(w, "*2\r\n$3\r\nGET\r\n$11\r\nkey:42:x:\0y\r\n");
    rk_writer_free(w);
}

static void test_format_lone_empty_s_is_an_empty_argument(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_format(w, "SET k %s", ""), RK_OK);
    ASSERT_QUEUED(w, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    rk_writer_free(w);
}

static void test_format_empty_b_is_an_empty_argument(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_format(w, "SET k %b", NULL, (size_t)0), RK_OK);
    ASSERT_QUEUED(w, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    rk_writer_free(w);
}

static void test_format_unknown_conversion_is_einval_and_changes_nothing(void **state) {
    (void)state;
    rk_writer *w = writer_holding_ping();
    assert_refused_and_unchanged(w, rk_writer_format(w, "SET k %k", 1));
    assert_int_equal(rk_writer_args(w, "PING", NULL), RK_OK);
    assert_refused_and_unchanged(w, rk_writer_format(w, "SET k %"));
    rk_writer_free(w);
}

/* A length modifier a floating conversion does not take ("%llf", "%hf",
 * "%zg"...) is refused: printf would read a long double, or the C
 * standard leaves it undefined, where the caller passed a double, and
 * the command would carry garbage. "%lf" is a double, as in printf. */
static void test_format_float_with_an_integer_length_is_einval_and_changes_nothing(void **state) {
    (void)state;
    rk_writer *w = writer_holding_ping();
    static const char *const bad[] = {"SET k %llf", "SET k %hf", "SET k %hhg",
                                      "SET k %ze",  "SET k %ta", "SET k %jG"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused_and_unchanged(w, rk_writer_format(w, bad[i], 1.5));
        if (strstr(rk_error_last()->message, "length") == NULL)
            fail_msg("%s: %s", bad[i], rk_error_last()->message);
        assert_int_equal(rk_writer_args(w, "PING", NULL), RK_OK); /* the check drained it */
    }
    assert_int_equal(rk_writer_format(w, "SET k %lf", 1.5), RK_OK);
    assert_int_equal(rk_writer_format(w, "SET k %Lf", (long double)2.5), RK_OK);
    ASSERT_QUEUED(w, "*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8\r\n1.500000\r\n"
                     "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8\r\n2.500000\r\n");
    rk_writer_free(w);
}

static void test_format_null_s_is_einval_and_changes_nothing(void **state) {
    (void)state;
    rk_writer *w = writer_holding_ping();
    assert_refused_and_unchanged(w, rk_writer_format(w, "SET k %s", (const char *)NULL));
    rk_writer_free(w);
}

static void test_format_null_b_with_a_length_is_einval_and_changes_nothing(void **state) {
    (void)state;
    rk_writer *w = writer_holding_ping();
    assert_refused_and_unchanged(w, rk_writer_format(w, "SET k %b", NULL, (size_t)3));
    rk_writer_free(w);
}

static void test_format_empty_is_einval_and_changes_nothing(void **state) {
    (void)state;
    rk_writer *w = writer_holding_ping();
    assert_refused_and_unchanged(w, rk_writer_format(w, ""));
    assert_int_equal(rk_writer_args(w, "PING", NULL), RK_OK);
    assert_refused_and_unchanged(w, rk_writer_format(w, "    "));
    rk_writer_free(w);
}

static void test_format_null_is_einval_and_changes_nothing(void **state) {
    (void)state;
    rk_writer *w = writer_holding_ping();
    assert_refused_and_unchanged(w, rk_writer_format(w, NULL));
    rk_writer_free(w);
}

static void test_raw_queues_bytes_unchanged(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_raw(w, LIT("PING\r\n\0")), RK_OK);
    ASSERT_QUEUED(w, "PING\r\n\0");
    rk_writer_free(w);
}

/* ---- references and draining --------------------------------------- */

static void test_argument_at_the_threshold_is_referenced(void **state) {
    (void)state;
    static const char big[] = "0123456789abcdef"; /* 16 bytes */
    rk_writer *w = writer_with(16);
    assert_int_equal(rk_writer_args(w, "SET", "k", big, NULL), RK_OK);
    assert_true(queue_references(w, big));
    ASSERT_QUEUED(w, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$16\r\n0123456789abcdef\r\n");
    rk_writer_free(w);
}

static void test_argument_below_the_threshold_is_copied(void **state) {
    (void)state;
    static const char small[] = "0123456789abcde"; /* 15 bytes */
    rk_writer *w = writer_with(16);
    assert_int_equal(rk_writer_args(w, "SET", "k", small, NULL), RK_OK);
    assert_false(queue_points_into(w, small, sizeof(small)));
    rk_writer_free(w);
}

static void test_default_threshold_is_16_kib(void **state) {
    (void)state;
    char *big = malloc(16384), *under = malloc(16383);
    memset(big, 'b', 16384);
    memset(under, 'u', 16383);
    rk_writer *w = rk_writer_new(NULL);
    assert_non_null(w);
    const rk_str argv[] = {RK_STR("MSET"), RK_STR("a"), rk_bin(big, 16384), RK_STR("b"),
                           rk_bin(under, 16383)};
    assert_int_equal(rk_writer_argv(w, argv, 5), RK_OK);
    assert_true(queue_references(w, big));
    assert_false(queue_points_into(w, under, 16383));
    rk_writer_free(w);
    free(big);
    free(under);
}

static void test_format_lone_s_at_the_threshold_is_referenced(void **state) {
    (void)state;
    static const char big[] = "0123456789abcdef";
    rk_writer *w = writer_with(16);
    assert_int_equal(rk_writer_format(w, "SET k %s", big), RK_OK);
    assert_true(queue_references(w, big));
    assert_int_equal(rk_writer_format(w, "SET k %b", big, (size_t)16), RK_OK);
    assert_true(queue_references(w, big));
    rk_writer_free(w);
}

static void test_format_argument_from_pieces_is_copied_even_when_long(void **state) {
    (void)state;
    static const char big[] = "0123456789abcdef0123456789abcdef";
    rk_writer *w = writer_with(16);
    assert_int_equal(rk_writer_format(w, "SET k x%s", big), RK_OK);
    assert_int_equal(rk_writer_format(w, "SET k %s%s", big, big), RK_OK);
    assert_int_equal(rk_writer_format(w, "SET k %s%d", big, 7), RK_OK);
    assert_false(queue_points_into(w, big, sizeof(big)));
    ASSERT_QUEUED(w, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$33\r\nx0123456789abcdef0123456789abcdef\r\n"
                     "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$64\r\n0123456789abcdef0123456789abcdef"
                     "0123456789abcdef0123456789abcdef\r\n"
                     "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$33\r\n0123456789abcdef0123456789abcdef7\r\n");
    rk_writer_free(w);
}

static void test_size_max_threshold_copies_everything(void **state) {
    (void)state;
    char *big = malloc(100000);
    memset(big, 'x', 100000);
    rk_writer *w = writer_with(SIZE_MAX);
    const rk_str argv[] = {RK_STR("SET"), RK_STR("k"), rk_bin(big, 100000)};
    assert_int_equal(rk_writer_argv(w, argv, 3), RK_OK);
    assert_false(queue_points_into(w, big, 100000));
    struct iovec iov[4];
    assert_int_equal(rk_writer_iov(w, iov, 4), 1);
    rk_writer_free(w);
    free(big);
}

/* Queues commands mixing copied and referenced arguments (threshold 16)
 * and writes the bytes they must send into expected. */
static size_t queue_mixed(rk_writer *w, char *expected, const char *big1, const char *big2) {
    size_t at = 0;
    const rk_str argv[] = {RK_STR("SET"), RK_STR("k"), rk_bin(big1, 40)};
    assert_int_equal(rk_writer_argv(w, argv, 3), RK_OK);
    at += (size_t)sprintf(expected, "*3\r\n");
    for (int i = 0; i < 3; i++)
        put_bulk(expected, &at, argv[i].ptr, argv[i].len);
    const rk_str two[] = {RK_STR("MSET"), rk_bin(big1, 40), rk_bin(big2, 20), RK_STR("small")};
    assert_int_equal(rk_writer_argv(w, two, 4), RK_OK);
    at += (size_t)sprintf(expected + at, "*4\r\n");
    for (int i = 0; i < 4; i++)
        put_bulk(expected, &at, two[i].ptr, two[i].len);
    assert_int_equal(rk_writer_format(w, "APPEND k %s", big2), RK_OK);
    at += (size_t)sprintf(expected + at, "*3\r\n");
    put_bulk(expected, &at, "APPEND", 6);
    put_bulk(expected, &at, "k", 1);
    put_bulk(expected, &at, big2, 20);
    return at;
}

static void test_iov_with_a_small_max_returns_a_prefix(void **state) {
    (void)state;
    static const char big1[] = "0123456789012345678901234567890123456789";
    static const char big2[] = "abcdefghijabcdefghij";
    char expected[1024];
    rk_writer *w = writer_with(16);
    size_t len = queue_mixed(w, expected, big1, big2);
    struct iovec iov[2];
    assert_int_equal(rk_writer_iov(w, iov, 1), 1);
    assert_true(iov[0].iov_len < len);
    assert_memory_equal(iov[0].iov_base, expected, iov[0].iov_len);
    assert_int_equal(rk_writer_iov(w, iov, 2), 2);
    assert_true(iov[1].iov_base == big1);
    assert_memory_equal(iov[1].iov_base, expected + iov[0].iov_len, iov[1].iov_len);
    assert_int_equal(rk_writer_pending(w), len);
    rk_writer_free(w);
}

/* Sends step bytes at a time: takes them from the iovecs, consumes them,
 * and checks the whole stream arrives in order. */
static void drain_in_steps(rk_writer *w, const char *expected, size_t len, size_t step) {
    char *got = malloc(len);
    size_t at = 0;
    while (at < len) {
        struct iovec iov[3];
        int n = rk_writer_iov(w, iov, 3);
        assert_true(n > 0);
        size_t take = 0;
        for (int i = 0; i < n && take < step; i++) {
            size_t k = iov[i].iov_len < step - take ? iov[i].iov_len : step - take;
            assert_true(at + take + k <= len);
            memcpy(got + at + take, iov[i].iov_base, k);
            take += k;
        }
        rk_writer_consume(w, take);
        at += take;
        assert_int_equal(rk_writer_pending(w), len - at);
    }
    assert_memory_equal(got, expected, len);
    assert_int_equal(rk_writer_iov(w, (struct iovec[1]){{0}}, 1), 0);
    free(got);
}

static void test_consume_in_any_steps_delivers_the_stream_in_order(void **state) {
    (void)state;
    static const char big1[] = "0123456789012345678901234567890123456789";
    static const char big2[] = "abcdefghijabcdefghij";
    static const size_t steps[] = {1, 7, 13, 40, 41, 1000};
    char expected[1024];
    rk_writer *w = writer_with(16);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        size_t len = queue_mixed(w, expected, big1, big2);
        drain_in_steps(w, expected, len, steps[i]);
    }
    rk_writer_free(w);
}

static void test_drained_writer_is_reusable(void **state) {
    (void)state;
    static const char big1[] = "0123456789012345678901234567890123456789";
    static const char big2[] = "abcdefghijabcdefghij";
    char expected[1024];
    rk_writer *w = writer_with(16);
    size_t len = queue_mixed(w, expected, big1, big2);
    drain_in_steps(w, expected, len, 11);
    assert_int_equal(rk_writer_pending(w), 0);
    assert_int_equal(rk_writer_args(w, "PING", NULL), RK_OK);
    ASSERT_QUEUED(w, "*1\r\n$4\r\nPING\r\n");
    rk_writer_free(w);
}

static void test_clear_empties_the_queue(void **state) {
    (void)state;
    static const char big[] = "0123456789abcdef";
    rk_writer *w = writer_with(16);
    assert_int_equal(rk_writer_args(w, "SET", "k", big, NULL), RK_OK);
    rk_writer_consume(w, 5);
    rk_writer_clear(w);
    assert_int_equal(rk_writer_pending(w), 0);
    struct iovec iov[2];
    assert_int_equal(rk_writer_iov(w, iov, 2), 0);
    assert_int_equal(rk_writer_args(w, "PING", NULL), RK_OK);
    ASSERT_QUEUED(w, "*1\r\n$4\r\nPING\r\n");
    rk_writer_free(w);
}

/* A pipeline that keeps sending while new commands arrive may never see
 * its queue empty; the sent bytes must not pile up in the buffer. */
static void test_writer_memory_stays_bounded_when_the_queue_never_empties(void **state) {
    (void)state;
    rk_writer *w = writer_with(0);
    for (int i = 0; i < 100000; i++) {
        assert_int_equal(rk_writer_args(w, "SET", "key", "value", NULL), RK_OK);
        rk_writer_consume(w, rk_writer_pending(w) - 1); /* one byte stays unsent */
    }
    assert_int_equal(rk_writer_pending(w), 1);
    assert_true(rkt_alloc_stats_now().largest < 64 * 1024);
    rk_writer_free(w);
}

/* ---- out of memory ------------------------------------------------- */

static void test_writer_new_without_memory_returns_null(void **state) {
    (void)state;
    rkt_alloc_fail_nth(1);
    assert_null(rk_writer_new(NULL));
    assert_int_equal(rk_error_last()->code, RK_ENOMEM);
}

static void test_argv_without_memory_leaves_the_queue_unchanged(void **state) {
    (void)state;
    rk_writer *w = writer_holding_ping();
    char *big = calloc(1, 10000);
    const rk_str argv[] = {RK_STR("SET"), RK_STR("k"), rk_bin(big, 10000)};
    rkt_alloc_fail_nth(1);
    assert_int_equal(rk_writer_argv(w, argv, 3), RK_ENOMEM);
    assert_int_equal(rk_writer_pending(w), 14);
    ASSERT_QUEUED(w, "*1\r\n$4\r\nPING\r\n");
    rk_writer_free(w);
    free(big);
}

static void test_format_without_memory_leaves_the_queue_unchanged(void **state) {
    (void)state;
    char big[3000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    size_t refused = 0;
    for (size_t nth = 1; nth <= 10; nth++) {
        rk_writer *w = writer_holding_ping();
        rkt_alloc_fail_nth(nth);
        int rc = rk_writer_format(w, "SET k:%d x%s", 1, big);
        rkt_alloc_fail_nth(0);
        if (rc == RK_OK) {
            rk_writer_free(w);
            break; /* every allocation of the call was tried */
        }
        refused++;
        assert_int_equal(rc, RK_ENOMEM);
        assert_int_equal(rk_writer_pending(w), 14);
        ASSERT_QUEUED(w, "*1\r\n$4\r\nPING\r\n");
        rk_writer_free(w);
    }
    assert_true(refused >= 2);
}

static void test_args_without_memory_for_a_long_list_is_enomem(void **state) {
    (void)state;
    rk_writer *w = writer_holding_ping();
    rkt_alloc_fail_nth(1);
    assert_int_equal(rk_writer_args(w, "CMD", TEN, TEN, TEN, TEN, TEN, TEN, TEN, NULL), RK_ENOMEM);
    assert_int_equal(rk_writer_pending(w), 14);
    ASSERT_QUEUED(w, "*1\r\n$4\r\nPING\r\n");
    rk_writer_free(w);
}

/* ---- replies ------------------------------------------------------- */

static const struct {
    const char *wire;
    size_t len;
} resp3_kinds[] = {
    {LIT("+OK\r\n")},
    {LIT("-ERR wrong\r\n")},
    {LIT("!4\r\nE\r\nX\r\n")},
    {LIT(":-42\r\n")},
    {LIT("$5\r\nhello\r\n")},
    {LIT("$0\r\n\r\n")},
    {LIT("$8\r\na\0b\r\nc\r\n\r\n")},
    {LIT("_\r\n")},
    {LIT(",1e300\r\n")},
    {LIT(",-inf\r\n")},
    {LIT("#t\r\n")},
    {LIT("#f\r\n")},
    {LIT("(3492890328409238509324850943850943825024385\r\n")},
    {LIT("=15\r\ntxt:Some string\r\n")},
    {LIT("*3\r\n:1\r\n*0\r\n_\r\n")},
    {LIT("%2\r\n+a\r\n:1\r\n$1\r\nb\r\n%1\r\n+c\r\n~1\r\n#t\r\n")},
    {LIT("~2\r\n+x\r\n,2.5\r\n")},
    {LIT(">3\r\n+message\r\n+chan\r\n$2\r\nhi\r\n")},
    {LIT("|1\r\n+ttl\r\n:3600\r\n$3\r\nval\r\n")},
    {LIT("*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n|1\r\n+c\r\n|1\r\n+d\r\n+e\r\n+f\r\n%0\r\n")},
};

static void test_reply_round_trips_every_kind_in_resp3(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(resp3_kinds) / sizeof(resp3_kinds[0]); i++) {
        assert_reply_encodes_to(resp3_kinds[i].wire, resp3_kinds[i].len, 3, resp3_kinds[i].wire,
                                resp3_kinds[i].len);
    }
}

static void test_reply_in_resp2_lowers_a_map_to_an_array(void **state) {
    (void)state;
    assert_reply_encodes_to(LIT("%2\r\n+a\r\n:1\r\n+b\r\n%1\r\n+c\r\n:2\r\n"), 2,
                            LIT("*4\r\n+a\r\n:1\r\n+b\r\n*2\r\n+c\r\n:2\r\n"));
}

static void test_reply_in_resp2_lowers_a_double_to_a_bulk(void **state) {
    (void)state;
    assert_reply_encodes_to(LIT(",1.5\r\n"), 2, LIT("$3\r\n1.5\r\n"));
    assert_reply_encodes_to(LIT(",-inf\r\n"), 2, LIT("$4\r\n-inf\r\n"));
}

static void test_reply_in_resp2_lowers_a_boolean_to_an_integer(void **state) {
    (void)state;
    assert_reply_encodes_to(LIT("#t\r\n"), 2, LIT(":1\r\n"));
    assert_reply_encodes_to(LIT("#f\r\n"), 2, LIT(":0\r\n"));
}

static void test_reply_in_resp2_lowers_nil_to_a_null_bulk(void **state) {
    (void)state;
    assert_reply_encodes_to(LIT("_\r\n"), 2, LIT("$-1\r\n"));
    assert_reply_encodes_to(LIT("*2\r\n_\r\n*-1\r\n"), 2, LIT("*2\r\n$-1\r\n$-1\r\n"));
}

static void test_reply_in_resp2_lowers_verbatim_to_a_bulk_without_format(void **state) {
    (void)state;
    assert_reply_encodes_to(LIT("=15\r\ntxt:Some string\r\n"), 2, LIT("$11\r\nSome string\r\n"));
}

static void test_reply_in_resp2_lowers_sets_pushes_and_big_numbers(void **state) {
    (void)state;
    assert_reply_encodes_to(LIT("~2\r\n:1\r\n:2\r\n"), 2, LIT("*2\r\n:1\r\n:2\r\n"));
    assert_reply_encodes_to(LIT(">2\r\n+message\r\n+x\r\n"), 2, LIT("*2\r\n+message\r\n+x\r\n"));
    assert_reply_encodes_to(LIT("(12345678901234567890\r\n"), 2,
                            LIT("$20\r\n12345678901234567890\r\n"));
}

static void test_reply_in_resp2_drops_attributes(void **state) {
    (void)state;
    assert_reply_encodes_to(LIT("|1\r\n+ttl\r\n:3600\r\n$3\r\nval\r\n"), 2, LIT("$3\r\nval\r\n"));
    assert_reply_encodes_to(LIT("*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n"), 2,
                            LIT("*2\r\n:1\r\n:2\r\n"));
}

static void test_reply_in_resp2_keeps_resp2_kinds(void **state) {
    (void)state;
    static const char wire[] = "*5\r\n+OK\r\n-ERR x\r\n:7\r\n$3\r\nfoo\r\n*0\r\n";
    assert_reply_encodes_to(wire, sizeof(wire) - 1, 2, wire, sizeof(wire) - 1);
}

static void test_reply_with_a_bad_protocol_is_einval(void **state) {
    (void)state;
    rk_reply r = {0};
    rk_writer *w = writer_with(0);
    assert_int_equal(rk_writer_reply(w, &r, 4), RK_EINVAL);
    assert_int_equal(rk_writer_reply(w, NULL, 3), RK_EINVAL);
    assert_int_equal(rk_writer_pending(w), 0);
    rk_writer_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST(test_argv_encodes_a_command),
        TEST(test_argv_with_lengths_is_binary_safe),
        TEST(test_argv_encodes_empty_arguments),
        TEST(test_commands_queue_one_after_the_other),
        TEST(test_argv_with_no_arguments_is_einval_and_changes_nothing),
        TEST(test_argv_with_a_null_argument_is_einval_and_changes_nothing),
        TEST(test_argv_with_an_argument_over_rk_str_max_is_einval_and_changes_nothing),
        TEST(test_args_encodes_a_null_terminated_list),
        TEST(test_args_encodes_more_than_64_arguments),
        TEST(test_args_without_arguments_is_einval_and_changes_nothing),
        TEST(test_format_splits_arguments_on_spaces),
        TEST(test_format_ignores_leading_trailing_and_repeated_spaces),
        TEST(test_format_s_inserts_a_c_string),
        TEST(test_format_b_inserts_binary_bytes),
        TEST(test_format_signed_integer_conversions),
        TEST(test_format_unsigned_integer_conversions),
        TEST(test_format_floating_conversions),
        TEST(test_format_double_percent_is_a_percent_sign),
        TEST(test_format_interpolates_inside_an_argument),
        TEST(test_format_lone_empty_s_is_an_empty_argument),
        TEST(test_format_empty_b_is_an_empty_argument),
        TEST(test_format_unknown_conversion_is_einval_and_changes_nothing),
        TEST(test_format_float_with_an_integer_length_is_einval_and_changes_nothing),
        TEST(test_format_null_s_is_einval_and_changes_nothing),
        TEST(test_format_null_b_with_a_length_is_einval_and_changes_nothing),
        TEST(test_format_empty_is_einval_and_changes_nothing),
        TEST(test_format_null_is_einval_and_changes_nothing),
        TEST(test_raw_queues_bytes_unchanged),
        TEST(test_argument_at_the_threshold_is_referenced),
        TEST(test_argument_below_the_threshold_is_copied),
        TEST(test_default_threshold_is_16_kib),
        TEST(test_format_lone_s_at_the_threshold_is_referenced),
        TEST(test_format_argument_from_pieces_is_copied_even_when_long),
        TEST(test_size_max_threshold_copies_everything),
        TEST(test_iov_with_a_small_max_returns_a_prefix),
        TEST(test_consume_in_any_steps_delivers_the_stream_in_order),
        TEST(test_drained_writer_is_reusable),
        TEST(test_clear_empties_the_queue),
        TEST(test_writer_memory_stays_bounded_when_the_queue_never_empties),
        TEST(test_writer_new_without_memory_returns_null),
        TEST(test_argv_without_memory_leaves_the_queue_unchanged),
        TEST(test_format_without_memory_leaves_the_queue_unchanged),
        TEST(test_args_without_memory_for_a_long_list_is_enomem),
        TEST(test_reply_round_trips_every_kind_in_resp3),
        TEST(test_reply_in_resp2_lowers_a_map_to_an_array),
        TEST(test_reply_in_resp2_lowers_a_double_to_a_bulk),
        TEST(test_reply_in_resp2_lowers_a_boolean_to_an_integer),
        TEST(test_reply_in_resp2_lowers_nil_to_a_null_bulk),
        TEST(test_reply_in_resp2_lowers_verbatim_to_a_bulk_without_format),
        TEST(test_reply_in_resp2_lowers_sets_pushes_and_big_numbers),
        TEST(test_reply_in_resp2_drops_attributes),
        TEST(test_reply_in_resp2_keeps_resp2_kinds),
        TEST(test_reply_with_a_bad_protocol_is_einval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
