/* The writer's commands, byte for byte against hiredis's
 * redisFormatCommandArgv / redisFormatCommand, the reference C client.
 *
 * A separate test because it links libhiredis (-lhiredis); the rest of the
 * writer's tests are in test_writer.c. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "rediskit/rediskit.h"

/* Sends the writer's queue through rk_writer_iov / rk_writer_consume and
 * checks the bytes are hiredis's command; frees that command. */
static void assert_same_as_hiredis(rk_writer *w, char *hiredis_cmd, int hiredis_len) {
    assert_true(hiredis_len > 0);
    size_t len = (size_t)hiredis_len;
    assert_int_equal(rk_writer_pending(w), len);
    char *got = malloc(len);
    assert_non_null(got);
    size_t at = 0;
    struct iovec iov[8];
    for (int n; (n = rk_writer_iov(w, iov, 8)) > 0;) {
        size_t sent = 0;
        for (int i = 0; i < n; i++) {
            assert_true(at + sent + iov[i].iov_len <= len);
            memcpy(got + at + sent, iov[i].iov_base, iov[i].iov_len);
            sent += iov[i].iov_len;
        }
        rk_writer_consume(w, sent);
        at += sent;
    }
    assert_int_equal(at, len);
    assert_memory_equal(got, hiredis_cmd, len);
    free(got);
    redisFreeCommand(hiredis_cmd);
}

/* Formats the same command with both libraries and compares the bytes. */
#define ASSERT_FORMAT_LIKE_HIREDIS(w, ...)                                                         \
    do {                                                                                           \
        char *cmd_;                                                                                \
        int len_ = redisFormatCommand(&cmd_, __VA_ARGS__);                                         \
        assert_int_equal(rk_writer_format(w, __VA_ARGS__), RK_OK);                                 \
        assert_same_as_hiredis(w, cmd_, len_);                                                     \
    } while (0)

/* Encodes the command with both libraries, each in its own form (hiredis:
 * strings and lengths, NULL lens for C strings; rediskit: rk_str), and
 * compares the bytes. */
static void assert_argv_like_hiredis(int argc, const char **argv, const size_t *lens) {
    rk_writer *w = rk_writer_new(NULL);
    assert_non_null(w);
    rk_str *strs = calloc((size_t)argc, sizeof(*strs));
    assert_non_null(strs);
    for (int i = 0; i < argc; i++)
        strs[i] = lens ? rk_bin(argv[i], lens[i]) : rk_cstr(argv[i]);
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
    assert_int_equal(rk_writer_argv(w, strs, (size_t)argc), RK_OK);
    assert_same_as_hiredis(w, cmd, len);
    free(strs);
    rk_writer_free(w);
}

static void test_argv_matches_hiredis_for_plain_arguments(void **state) {
    (void)state;
    const char *set[] = {"SET", "key", "value"};
    assert_argv_like_hiredis(3, set, NULL);
    const char *ping[] = {"PING"};
    assert_argv_like_hiredis(1, ping, NULL);
}

static void test_argv_matches_hiredis_for_binary_and_empty_arguments(void **state) {
    (void)state;
    const char *argv[] = {"SET", "k\0y", "", "v\r\n\0"};
    const size_t lens[] = {3, 3, 0, 4};
    assert_argv_like_hiredis(4, argv, lens);
}

static void test_argv_matches_hiredis_for_many_arguments(void **state) {
    (void)state;
    const char *argv[300];
    argv[0] = "RPUSH";
    for (int i = 1; i < 300; i++)
        argv[i] = (i % 3) ? "element" : "";
    assert_argv_like_hiredis(300, argv, NULL);
}

static void test_argv_matches_hiredis_for_a_referenced_argument(void **state) {
    (void)state;
    char *big = malloc(100000);
    for (size_t i = 0; i < 100000; i++)
        big[i] = (char)(i * 7);
    const char *argv[] = {"SET", "k", big, "EX", "10"};
    const size_t lens[] = {3, 1, 100000, 2, 2};
    assert_argv_like_hiredis(5, argv, lens);
    free(big);
}

static void test_format_matches_hiredis_for_strings(void **state) {
    (void)state;
    rk_writer *w = rk_writer_new(NULL);
    assert_non_null(w);
    ASSERT_FORMAT_LIKE_HIREDIS(w, "SET %s %s", "key", "value");
    ASSERT_FORMAT_LIKE_HIREDIS(w, "SET %b %b", "k\0y", (size_t)3, "v\r\n", (size_t)3);
    ASSERT_FORMAT_LIKE_HIREDIS(w, "SET k %s", "");
    ASSERT_FORMAT_LIKE_HIREDIS(w, "SET %s%s x%sy", "ab", "cd", "ef");
    ASSERT_FORMAT_LIKE_HIREDIS(w, "  SET   a   b  ");
    ASSERT_FORMAT_LIKE_HIREDIS(w, "ECHO 100%% %%s");
    rk_writer_free(w);
}

static void test_format_matches_hiredis_for_numbers(void **state) {
    (void)state;
    rk_writer *w = rk_writer_new(NULL);
    assert_non_null(w);
    ASSERT_FORMAT_LIKE_HIREDIS(w, "SET key:%d %lld", 42, -5LL);
    ASSERT_FORMAT_LIKE_HIREDIS(w, "X %i %u %ld %lu %llu %x", -1, 3u, -4L, 5UL, 6ULL, 255u);
    ASSERT_FORMAT_LIKE_HIREDIS(w, "INCRBYFLOAT k %f", 1.5);
    ASSERT_FORMAT_LIKE_HIREDIS(w, "ZADD z %.2f m %g n", 2.5, 0.25);
    rk_writer_free(w);
}

static void test_format_matches_hiredis_for_every_integer_length(void **state) {
    (void)state;
    rk_writer *w = rk_writer_new(NULL);
    assert_non_null(w);
    ASSERT_FORMAT_LIKE_HIREDIS(w, "X %d %d %d %u", INT_MIN, INT_MAX, 0, UINT_MAX);
    ASSERT_FORMAT_LIKE_HIREDIS(w, "X %hhd %hhu %hd %hu", -129, 257, -32769, 65537);
    ASSERT_FORMAT_LIKE_HIREDIS(w, "X %ld %lu %lld %llu", LONG_MIN, ULONG_MAX, LLONG_MIN,
                               ULLONG_MAX);
    ASSERT_FORMAT_LIKE_HIREDIS(w, "X k:%d:%u: %i%i", -7, 8u, 1, 23);
    ASSERT_FORMAT_LIKE_HIREDIS(w, "X %05d %-4d| %+d % d %.3d %012u", 42, 7, 5, 6, 9, 99u);
    rk_writer_free(w);
}

/* hiredis knows no z, j or t modifier: the bytes are written out here. */
static void test_format_takes_size_intmax_and_ptrdiff_lengths(void **state) {
    (void)state;
    rk_writer *w = rk_writer_new(NULL);
    assert_non_null(w);
    assert_int_equal(rk_writer_format(w, "X %zu %zd %jd %ju %td", SIZE_MAX, (size_t)-3, INTMAX_MIN,
                                      UINTMAX_MAX, (ptrdiff_t)-4),
                     RK_OK);
    static const char want[] = "*6\r\n$1\r\nX\r\n$20\r\n18446744073709551615\r\n$2\r\n-3\r\n"
                               "$20\r\n-9223372036854775808\r\n$20\r\n18446744073709551615\r\n"
                               "$2\r\n-4\r\n";
    struct iovec iov[4];
    assert_int_equal(rk_writer_iov(w, iov, 4), 1);
    assert_int_equal(iov[0].iov_len, sizeof(want) - 1);
    assert_memory_equal(iov[0].iov_base, want, sizeof(want) - 1);
    rk_writer_free(w);
}

/* A word of the format is copied into the queue however long it is: only
 * the caller's %s and %b buffers may be referenced until sent. */
static void test_format_copies_its_own_words_and_references_arguments(void **state) {
    (void)state;
    rk_writer *w = rk_writer_new(&(rk_writer_opts){.ref_threshold = 4});
    assert_non_null(w);
    const char *arg = "argument";
    assert_int_equal(rk_writer_format(w, "LONGWORD %s", arg), RK_OK);
    struct iovec iov[4];
    assert_int_equal(rk_writer_iov(w, iov, 4), 3);
    assert_non_null(memmem(iov[0].iov_base, iov[0].iov_len, "LONGWORD", 8));
    assert_ptr_equal(iov[1].iov_base, arg);
    rk_writer_free(w);
}

static void test_format_matches_hiredis_for_a_long_string(void **state) {
    (void)state;
    char *big = malloc(50001);
    memset(big, 'q', 50000);
    big[50000] = '\0';
    rk_writer *w = rk_writer_new(NULL);
    assert_non_null(w);
    ASSERT_FORMAT_LIKE_HIREDIS(w, "SET k %s", big);
    ASSERT_FORMAT_LIKE_HIREDIS(w, "SET k pre:%s", big);
    rk_writer_free(w);
    free(big);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argv_matches_hiredis_for_plain_arguments),
        cmocka_unit_test(test_argv_matches_hiredis_for_binary_and_empty_arguments),
        cmocka_unit_test(test_argv_matches_hiredis_for_many_arguments),
        cmocka_unit_test(test_argv_matches_hiredis_for_a_referenced_argument),
        cmocka_unit_test(test_format_matches_hiredis_for_strings),
        cmocka_unit_test(test_format_matches_hiredis_for_numbers),
        cmocka_unit_test(test_format_matches_hiredis_for_every_integer_length),
        cmocka_unit_test(test_format_takes_size_intmax_and_ptrdiff_lengths),
        cmocka_unit_test(test_format_copies_its_own_words_and_references_arguments),
        cmocka_unit_test(test_format_matches_hiredis_for_a_long_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
