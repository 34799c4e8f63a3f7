/* Numbers on the wire do not follow the application's locale.
 *
 * Under de_DE.UTF-8, whose decimal point is ',', every test checks that
 * doubles still go out with a '.' (typed commands, the printf-style
 * writer) and are still read back right (the reader, typed results). The
 * locale is used when installed; otherwise it is made with localedef into
 * a directory of the test's own (LOCPATH). If neither works, every test
 * is skipped as missing something (rkt_skip_missing: a failure in CI). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "rediskit/rediskit.h"
#include "rkt_cmd.h"
#include "rkt_server.h"

#define LIT(s) s, sizeof(s) - 1

static bool have_comma_locale;
static char made_dir[] = "/tmp/rkt-locale-XXXXXX";
static bool made;

static bool set_comma_locale(void) {
    return setlocale(LC_ALL, "de_DE.UTF-8") != NULL &&
           strcmp(localeconv()->decimal_point, ",") == 0;
}

/* Makes de_DE.UTF-8 in a directory of our own when it is not installed. */
static bool make_comma_locale(void) {
    if (!rkt_have_binary("localedef") || mkdtemp(made_dir) == NULL)
        return false;
    made = true;
    char out[64];
    snprintf(out, sizeof(out), "%s/de_DE.UTF-8", made_dir);
    const char *argv[] = {"localedef", "-i", "de_DE", "-f", "UTF-8", out, NULL};
    int status = rkt_run(argv, NULL, 120000);
    if (status != 0 && status != 1) /* 1: made, with warnings */
        return false;
    setenv("LOCPATH", made_dir, 1);
    return set_comma_locale();
}

static int locale_setup(void **state) {
    have_comma_locale = set_comma_locale() || make_comma_locale();
    return rkt_shared_setup(state);
}

static int locale_teardown(void **state) {
    setlocale(LC_ALL, "C");
    if (made) {
        const char *argv[] = {"rm", "-rf", made_dir, NULL};
        rkt_run(argv, NULL, 0);
    }
    return rkt_shared_teardown(state);
}

static void need_comma_locale(void) {
    if (have_comma_locale)
        return;
    rkt_skip_missing("no locale with a ',' decimal point: de_DE.UTF-8 is not installed and "
                     "localedef could not make it (Debian: locales)");
    skip();
}

/* ---- writing ------------------------------------------------------- */

static void test_zadd_sends_a_decimal_point_under_a_comma_locale(void **state) {
    need_comma_locale();
    rk_client *c = rkt_cmd_client(state);
    RKT_OK(rk_zadd(c, "z", (rk_zadd_score_member[]){{1.5, RK_STR("m")}}, 1, NULL, NULL));
    double score = 0;
    RKT_OK(rk_zscore(c, "z", "m", &score));
    assert_true(score == 1.5);
    rk_client_free(c);
}

/* The writer's bytes, joined, as a NUL-terminated string (free it). */
static char *written(const rk_writer *w) {
    struct iovec iov[8];
    int n = rk_writer_iov(w, iov, 8);
    assert_true(n > 0);
    char *s = calloc(1, rk_writer_pending(w) + 1);
    assert_non_null(s);
    for (int i = 0, at = 0; i < n; at += (int)iov[i].iov_len, i++)
        memcpy(s + at, iov[i].iov_base, iov[i].iov_len);
    return s;
}

static void test_writer_format_writes_numbers_in_the_c_locale(void **state) {
    (void)state;
    need_comma_locale();
    rk_writer *w = rk_writer_new(NULL);
    assert_non_null(w);
    assert_int_equal(rk_writer_format(w, "SET %f %g %'d", 1.5, 0.25, 1000000), RK_OK);
    char *s = written(w);
    assert_string_equal(s, "*4\r\n$3\r\nSET\r\n$8\r\n1.500000\r\n$4\r\n0.25\r\n$7\r\n1000000\r\n");
    free(s);
    rk_writer_free(w);
}

/* ---- reading ------------------------------------------------------- */

static void test_reader_reads_a_double_under_a_comma_locale(void **state) {
    (void)state;
    need_comma_locale();
    rk_reader *rd = rk_reader_new(NULL);
    assert_non_null(rd);
    assert_int_equal(rk_reader_feed(rd, LIT(",1.5\r\n")), RK_OK);
    rk_reply r;
    assert_int_equal(rk_reader_next(rd, &r), 1);
    assert_true(rk_reply_double(&r) == 1.5);
    rk_reply_free(&r);
    rk_reader_free(rd);
}

/* ZINCRBY's result is a bulk string on RESP2 and a double on RESP3; the
 * typed command returns a double from either. */
static void test_typed_double_result_reads_under_a_comma_locale(void **state) {
    need_comma_locale();
    rk_client *c = rkt_cmd_client(state);
    double score = 0;
    RKT_OK(rk_zincrby(c, "z", 2.25, "m", &score));
    assert_true(score == 2.25);
    rk_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        RKT_BOTH(test_zadd_sends_a_decimal_point_under_a_comma_locale),
        cmocka_unit_test(test_writer_format_writes_numbers_in_the_c_locale),
        cmocka_unit_test(test_reader_reads_a_double_under_a_comma_locale),
        RKT_BOTH(test_typed_double_result_reads_under_a_comma_locale),
    };
    return cmocka_run_group_tests(tests, locale_setup, locale_teardown);
}
