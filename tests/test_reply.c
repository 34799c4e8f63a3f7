/* Unit tests of reply accessors, rk_reply_dup and rk_reply_free
 * (src/resp/reply.c), and of the error and allocator basics they rest on
 * (rk_error_last, rk_strerror, rk_set_allocator); no server.
 *
 * Accessors asked for what a reply does not hold answer NULL, 0 or NaN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rediskit/rediskit.h"
#include "rkt_alloc.h"
#include "rkt_resp.h"

/* A string literal and its length, binary safe. */
#define LIT(s) s, sizeof(s) - 1

#define TEST(f) cmocka_unit_test_setup_teardown(f, rkt_alloc_setup, rkt_alloc_teardown)

#define PARSE(lit, out) rkt_parse(LIT(lit), out)

static void assert_encodes_to(const rk_reply *r, const char *wire, size_t len) {
    size_t got_len;
    char *got = rkt_encode(r, 3, &got_len);
    if (got_len != len || memcmp(got, wire, len) != 0)
        fail_msg("reply encodes to \"%.80s\", expected \"%.80s\"", got, wire);
    free(got);
}

/* ---- accessors ----------------------------------------------------- */

static void test_accessors_on_null_are_safe(void **state) {
    (void)state;
    assert_int_equal(rk_reply_type(NULL), RK_REPLY_NIL);
    assert_null(rk_reply_str(NULL));
    assert_int_equal(rk_reply_len(NULL), 0);
    assert_int_equal(rk_reply_int(NULL), 0);
    assert_true(isnan(rk_reply_double(NULL)));
    assert_false(rk_reply_bool(NULL));
    assert_null(rk_reply_at(NULL, 0));
    assert_null(rk_reply_map_key(NULL, 0));
    assert_null(rk_reply_map_value(NULL, 0));
    assert_null(rk_reply_map_get(NULL, "k"));
    assert_null(rk_reply_verbatim_format(NULL));
    assert_null(rk_reply_attr(NULL));
    assert_false(rk_reply_is_error(NULL));
    rk_reply_free(NULL);
}

static void test_string_accessors_on_an_integer_return_nothing(void **state) {
    (void)state;
    rk_reply r;
    PARSE(":12345678\r\n", &r);
    assert_null(rk_reply_str(&r));
    assert_int_equal(rk_reply_len(&r), 0);
    assert_null(rk_reply_verbatim_format(&r));
    assert_null(rk_reply_at(&r, 0));
    assert_null(rk_reply_map_key(&r, 0));
    assert_null(rk_reply_map_get(&r, "k"));
    assert_null(rk_reply_attr(&r));
    rk_reply_free(&r);
}

static void test_number_accessors_on_a_string_return_zero_or_nan(void **state) {
    (void)state;
    rk_reply r;
    PARSE("$2\r\n42\r\n", &r);
    assert_int_equal(rk_reply_int(&r), 0);
    assert_true(isnan(rk_reply_double(&r)));
    assert_false(rk_reply_bool(&r));
    rk_reply_free(&r);
}

static void test_element_accessors_on_a_long_string_return_null(void **state) {
    (void)state;
    rk_reply r;
    PARSE("$20\r\n01234567890123456789\r\n", &r);
    assert_null(rk_reply_at(&r, 3));
    assert_null(rk_reply_map_key(&r, 3));
    assert_null(rk_reply_map_value(&r, 3));
    assert_null(rk_reply_map_get(&r, "0"));
    rk_reply_free(&r);
}

static void test_reply_at_on_a_map_is_null(void **state) {
    (void)state;
    rk_reply r;
    PARSE("%1\r\n+a\r\n:1\r\n", &r);
    assert_null(rk_reply_at(&r, 0));
    rk_reply_free(&r);
}

static void test_map_accessors_on_an_array_are_null(void **state) {
    (void)state;
    rk_reply r;
    PARSE("*2\r\n+a\r\n:1\r\n", &r);
    assert_null(rk_reply_map_key(&r, 0));
    assert_null(rk_reply_map_value(&r, 0));
    assert_null(rk_reply_map_get(&r, "a"));
    rk_reply_free(&r);
}

static void test_reply_at_out_of_range_is_null(void **state) {
    (void)state;
    rk_reply r;
    PARSE("*2\r\n:1\r\n:2\r\n", &r);
    assert_non_null(rk_reply_at(&r, 1));
    assert_null(rk_reply_at(&r, 2));
    assert_null(rk_reply_at(&r, SIZE_MAX));
    rk_reply_free(&r);
}

static void test_map_key_and_value_out_of_range_are_null(void **state) {
    (void)state;
    rk_reply r;
    PARSE("%1\r\n+a\r\n:1\r\n", &r);
    assert_non_null(rk_reply_map_value(&r, 0));
    assert_null(rk_reply_map_key(&r, 1));
    assert_null(rk_reply_map_value(&r, 1));
    rk_reply_free(&r);
}

static void test_map_get_of_a_missing_key_is_null(void **state) {
    (void)state;
    rk_reply r;
    PARSE("%2\r\n+alpha\r\n:1\r\n$4\r\nbeta\r\n:2\r\n", &r);
    assert_null(rk_reply_map_get(&r, "gamma"));
    assert_null(rk_reply_map_get(&r, "alph"));
    assert_null(rk_reply_map_get(&r, "betax"));
    assert_null(rk_reply_map_get(&r, NULL));
    assert_true(rk_reply_int(rk_reply_map_get(&r, "beta")) == 2);
    rk_reply_free(&r);
}

static void test_map_get_skips_keys_that_are_not_strings(void **state) {
    (void)state;
    rk_reply r;
    PARSE("%2\r\n:1\r\n+int key\r\n$1\r\n1\r\n+string key\r\n", &r);
    assert_string_equal(rk_reply_str(rk_reply_map_get(&r, "1")), "string key");
    rk_reply_free(&r);
}

static void test_map_get_reads_an_attribute(void **state) {
    (void)state;
    rk_reply r;
    PARSE("|1\r\n+ttl\r\n:3600\r\n+OK\r\n", &r);
    assert_true(rk_reply_int(rk_reply_map_get(rk_reply_attr(&r), "ttl")) == 3600);
    assert_string_equal(rk_reply_str(rk_reply_map_key(rk_reply_attr(&r), 0)), "ttl");
    rk_reply_free(&r);
}

static void test_bool_reads_as_int_and_int_as_bool(void **state) {
    (void)state;
    rk_reply t, zero, seven;
    PARSE("#t\r\n", &t);
    PARSE(":0\r\n", &zero);
    PARSE(":7\r\n", &seven);
    assert_int_equal(rk_reply_int(&t), 1);
    assert_false(rk_reply_bool(&zero));
    assert_true(rk_reply_bool(&seven));
    assert_true(rk_reply_double(&seven) == 7.0);
}

static void test_is_error_only_for_errors(void **state) {
    (void)state;
    rk_reply err, blob, status;
    PARSE("-ERR x\r\n", &err);
    PARSE("!5\r\nERR y\r\n", &blob);
    PARSE("+ERR\r\n", &status);
    assert_true(rk_reply_is_error(&err));
    assert_true(rk_reply_is_error(&blob));
    assert_false(rk_reply_is_error(&status));
}

static void test_type_name_names_every_kind(void **state) {
    (void)state;
    static const struct {
        rk_type type;
        const char *name;
    } names[] = {
        {RK_REPLY_NIL, "nil"},           {RK_REPLY_STATUS, "status"},  {RK_REPLY_ERROR, "error"},
        {RK_REPLY_INTEGER, "integer"},   {RK_REPLY_STRING, "string"},  {RK_REPLY_ARRAY, "array"},
        {RK_REPLY_DOUBLE, "double"},     {RK_REPLY_BOOL, "bool"},      {RK_REPLY_BIGNUM, "bignum"},
        {RK_REPLY_VERBATIM, "verbatim"}, {RK_REPLY_MAP, "map"},        {RK_REPLY_SET, "set"},
        {RK_REPLY_PUSH, "push"},         {RK_REPLY_ATTR, "attribute"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_string_equal(rk_type_name(names[i].type), names[i].name);
}

static void test_type_name_of_an_unknown_kind_is_unknown(void **state) {
    (void)state;
    assert_string_equal(rk_type_name((rk_type)99), "unknown");
    assert_string_equal(rk_type_name((rk_type)-1), "unknown");
}

/* ---- free and dup -------------------------------------------------- */

static void test_zeroed_reply_is_nil_and_free_is_safe(void **state) {
    (void)state;
    rk_reply r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_null(rk_reply_str(&r));
    assert_int_equal(rk_reply_len(&r), 0);
    assert_null(rk_reply_attr(&r));
    rk_reply_free(&r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rkt_alloc_stats_now().frees, 0);
}

static void test_free_leaves_a_nil_reply_that_frees_again_safely(void **state) {
    (void)state;
    rk_reply r;
    PARSE("*1\r\n$10\r\n0123456789\r\n", &r);
    rk_reply_free(&r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_reply_len(&r), 0);
    rk_reply_free(&r);
}

static const char nested[] = "|1\r\n+source\r\n$7\r\nreplica\r\n"
                             "*3\r\n%2\r\n+name\r\n$12\r\nlong-name-12\r\n+tags\r\n~2\r\n+a\r\n"
                             "|1\r\n+ttl\r\n:60\r\n$9\r\nvalue-bbb\r\n"
                             "=15\r\ntxt:Some string\r\n,3.141592653589793\r\n";

static void test_dup_of_nested_reply_with_attributes_is_equal(void **state) {
    (void)state;
    rk_reply r, copy;
    rkt_parse(LIT(nested), &r);
    assert_int_equal(rk_reply_dup(&copy, &r), RK_OK);
    assert_encodes_to(&copy, LIT(nested));
    const rk_reply *tags = rk_reply_map_get(rk_reply_at(&copy, 0), "tags");
    assert_string_equal(rk_reply_verbatim_format(rk_reply_at(&copy, 1)), "txt");
    assert_true(rk_reply_int(rk_reply_map_get(rk_reply_attr(rk_reply_at(tags, 1)), "ttl")) == 60);
    assert_true(rk_reply_str(rk_reply_at(&copy, 2)) != rk_reply_str(rk_reply_at(&r, 2)));
    rk_reply_free(&copy);
    rk_reply_free(&r);
}

static void test_dup_is_one_allocation(void **state) {
    (void)state;
    rk_reply r, copy;
    rkt_parse(LIT(nested), &r);
    size_t before = rkt_alloc_calls();
    assert_int_equal(rk_reply_dup(&copy, &r), RK_OK);
    assert_int_equal(rkt_alloc_calls() - before, 1);
    rk_reply_free(&copy);
    rk_reply_free(&r);
}

static void test_dup_outlives_the_original(void **state) {
    (void)state;
    rk_reply r, copy;
    rkt_parse(LIT(nested), &r);
    assert_int_equal(rk_reply_dup(&copy, &r), RK_OK);
    rk_reply_free(&r);
    assert_encodes_to(&copy, LIT(nested));
    rk_reply_free(&copy);
}

static void test_dup_of_an_inline_scalar_allocates_nothing(void **state) {
    (void)state;
    rk_reply r, copy;
    PARSE("+OK\r\n", &r);
    size_t before = rkt_alloc_calls();
    assert_int_equal(rk_reply_dup(&copy, &r), RK_OK);
    assert_int_equal(rkt_alloc_calls(), before);
    assert_string_equal(rk_reply_str(&copy), "OK");
    rk_reply_free(&copy);
}

static void test_dup_of_an_element_is_independent(void **state) {
    (void)state;
    rk_reply r, copy;
    PARSE("*2\r\n:1\r\n%1\r\n+key\r\n$10\r\n0123456789\r\n", &r);
    assert_int_equal(rk_reply_dup(&copy, rk_reply_at(&r, 1)), RK_OK);
    rk_reply_free(&r);
    assert_encodes_to(&copy, LIT("%1\r\n+key\r\n$10\r\n0123456789\r\n"));
    rk_reply_free(&copy);
}

static void test_dup_without_memory_is_enomem_and_nil(void **state) {
    (void)state;
    rk_reply r, copy;
    PARSE("*1\r\n$10\r\n0123456789\r\n", &r);
    rkt_alloc_fail_nth(1);
    assert_int_equal(rk_reply_dup(&copy, &r), RK_ENOMEM);
    assert_int_equal(rk_reply_type(&copy), RK_REPLY_NIL);
    rk_reply_free(&copy);
    rk_reply_free(&r);
}

static void test_dup_of_null_is_einval(void **state) {
    (void)state;
    rk_reply copy;
    assert_int_equal(rk_reply_dup(&copy, NULL), RK_EINVAL);
    assert_int_equal(rk_reply_dup(NULL, &copy), RK_EINVAL);
}

/* ---- errors and the allocator -------------------------------------- */

static void test_error_last_reports_a_reader_failure(void **state) {
    (void)state;
    rk_reader *rd = rk_reader_new(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, LIT(":x\r\n")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), RK_EPROTO);
    const rk_error *e = rk_error_last();
    assert_int_equal(e->code, RK_EPROTO);
    assert_non_null(strstr(e->message, "integer"));
    assert_string_equal(e->prefix, "");
    rk_reader_free(rd);
}

static void test_error_last_reports_a_bad_argument(void **state) {
    (void)state;
    rk_writer *w = rk_writer_new(NULL);
    assert_int_equal(rk_writer_format(w, "GET %k"), RK_EINVAL);
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    assert_true(strlen(rk_error_last()->message) > 0);
    rk_writer_free(w);
}

static void test_error_clear_forgets_the_last_failure(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_depth = 5000};
    assert_null(rk_reader_new(&opts));
    rk_error_clear();
    assert_int_equal(rk_error_last()->code, RK_OK);
    assert_string_equal(rk_error_last()->message, "");
}

static void test_strerror_names_every_code(void **state) {
    (void)state;
    const char *seen[32];
    int n = 0;
    for (int code = RK_OK; code >= RK_EAGAIN; code--) {
        const char *name = rk_strerror(code);
        assert_non_null(name);
        assert_string_not_equal(name, rk_strerror(-999));
        for (int i = 0; i < n; i++)
            assert_string_not_equal(name, seen[i]);
        seen[n++] = name;
    }
    assert_int_equal(n, 19);
}

/* A typed command's nil must not read as the 1 of "a reply was produced"
 * (rk_reader_next, rk_pubsub_get_message, the iterators). */
static void test_nil_is_positive_and_not_one(void **state) {
    (void)state;
    assert_true(RK_NIL > 0);
    assert_int_not_equal(RK_NIL, 1);
    assert_string_equal(rk_strerror(RK_NIL), "nil value");
}

static void test_strerror_of_an_unknown_code_is_not_null(void **state) {
    (void)state;
    assert_non_null(rk_strerror(-999));
    assert_non_null(rk_strerror(1));
}

static void test_set_allocator_with_a_missing_function_is_einval(void **state) {
    (void)state;
    static const rk_allocator full = {malloc, calloc, realloc, free};
    for (int missing = 0; missing < 4; missing++) {
        rk_allocator a = full;
        switch (missing) {
        case 0: a.malloc_fn = NULL; break;
        case 1: a.calloc_fn = NULL; break;
        case 2: a.realloc_fn = NULL; break;
        default: a.free_fn = NULL; break;
        }
        assert_int_equal(rk_set_allocator(&a), RK_EINVAL);
        assert_int_equal(rk_error_last()->code, RK_EINVAL);
    }
    /* The counting allocator installed by the fixture is still in place. */
    size_t before = rkt_alloc_calls();
    void *p = rk_malloc(8);
    assert_int_equal(rkt_alloc_calls(), before + 1);
    rk_free(p);
}

static void test_set_allocator_null_restores_the_c_library(void **state) {
    (void)state;
    assert_int_equal(rk_set_allocator(NULL), RK_OK);
    size_t before = rkt_alloc_calls();
    void *p = rk_malloc(8);
    assert_non_null(p);
    rk_free(p);
    assert_int_equal(rkt_alloc_calls(), before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST(test_accessors_on_null_are_safe),
        TEST(test_string_accessors_on_an_integer_return_nothing),
        TEST(test_number_accessors_on_a_string_return_zero_or_nan),
        TEST(test_element_accessors_on_a_long_string_return_null),
        TEST(test_reply_at_on_a_map_is_null),
        TEST(test_map_accessors_on_an_array_are_null),
        TEST(test_reply_at_out_of_range_is_null),
        TEST(test_map_key_and_value_out_of_range_are_null),
        TEST(test_map_get_of_a_missing_key_is_null),
        TEST(test_map_get_skips_keys_that_are_not_strings),
        TEST(test_map_get_reads_an_attribute),
        TEST(test_bool_reads_as_int_and_int_as_bool),
        TEST(test_is_error_only_for_errors),
        TEST(test_type_name_names_every_kind),
        TEST(test_type_name_of_an_unknown_kind_is_unknown),
        TEST(test_zeroed_reply_is_nil_and_free_is_safe),
        TEST(test_free_leaves_a_nil_reply_that_frees_again_safely),
        TEST(test_dup_of_nested_reply_with_attributes_is_equal),
        TEST(test_dup_is_one_allocation),
        TEST(test_dup_outlives_the_original),
        TEST(test_dup_of_an_inline_scalar_allocates_nothing),
        TEST(test_dup_of_an_element_is_independent),
        TEST(test_dup_without_memory_is_enomem_and_nil),
        TEST(test_dup_of_null_is_einval),
        TEST(test_error_last_reports_a_reader_failure),
        TEST(test_error_last_reports_a_bad_argument),
        TEST(test_error_clear_forgets_the_last_failure),
        TEST(test_strerror_names_every_code),
        TEST(test_strerror_of_an_unknown_code_is_not_null),
        TEST(test_nil_is_positive_and_not_one),
        TEST(test_set_allocator_with_a_missing_function_is_einval),
        TEST(test_set_allocator_null_restores_the_c_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
