/* Unit tests of the RESP2/RESP3 reader (src/resp/reader.c); no server.
 *
 * Every type parses to the right kind and value; a corpus of replies of all
 * shapes parses the same whatever the split of the input, owned or borrowed;
 * allocation counts, limits, malformed input and out of memory are pinned
 * down. Every test runs under the counting allocator, whose teardown fails
 * the test when a block leaked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rediskit/rediskit.h"
#include "rkt_alloc.h"
#include "rkt_resp.h"

/* A string literal and its length, binary safe. */
#define LIT(s) s, sizeof(s) - 1
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* ---- fixtures and helpers ------------------------------------------ */

#define TEST(f) cmocka_unit_test_setup_teardown(f, rkt_alloc_setup, rkt_alloc_teardown)

static rk_reader *reader_with(const rk_reader_opts *opts) {
    rk_reader *rd = rk_reader_new(opts);
    assert_non_null(rd);
    return rd;
}

/* What the first rk_reader_next says about wire fed whole to a fresh
 * reader with opts: 1, 0, or the error code. */
static int first_result(const rk_reader_opts *opts, const char *wire, size_t len) {
    rk_reader *rd = reader_with(opts);
    rk_reply r;
    int rc = rk_reader_feed(rd, wire, len);
    if (rc == RK_OK)
        rc = rk_reader_next(rd, &r);
    if (rc == 1)
        rk_reply_free(&r);
    rk_reader_free(rd);
    return rc;
}

/* As first_result, feeding one byte at a time and asking for a reply after
 * each: the first reply or error, or 0 when the bytes ran out first. */
static int first_result_bytewise(const char *wire, size_t len) {
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        rc = rk_reader_feed(rd, wire + i, 1);
        if (rc == RK_OK)
            rc = rk_reader_next(rd, &r);
    }
    if (rc == 1)
        rk_reply_free(&r);
    rk_reader_free(rd);
    return rc;
}

static void assert_message_mentions(const char *what) {
    const char *msg = rk_error_last()->message;
    if (strstr(msg, what) == NULL)
        fail_msg("error message \"%s\" does not mention \"%s\"", msg, what);
}

/* After a failure the reader refuses everything until reset, then works. */
static void assert_refuses_until_reset(rk_reader *rd) {
    rk_reply r;
    size_t avail;
    assert_int_equal(rk_reader_feed(rd, LIT("+OK\r\n")), RK_EPROTO);
    assert_int_equal(rk_reader_next(rd, &r), RK_EPROTO);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_reader_next_borrowed(rd, &r), RK_EPROTO);
    assert_null(rk_reader_space(rd, 16, &avail));
    rk_reader_reset(rd);
    assert_int_equal(rk_reader_feed(rd, LIT("+OK\r\n")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    assert_string_equal(rk_reply_str(&r), "OK");
    rk_reply_free(&r);
}

/* A growable byte string for building wire input. */
typedef struct text {
    char *data;
    size_t len, cap;
} text;

static void text_put(text *t, const void *p, size_t n) {
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->data = realloc(t->data, t->cap);
        assert_non_null(t->data);
    }
    memcpy(t->data + t->len, p, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void text_puts(text *t, const char *s) {
    text_put(t, s, strlen(s));
}

static void text_repeat(text *t, const char *s, size_t times) {
    for (size_t i = 0; i < times; i++)
        text_puts(t, s);
}

/* xorshift64*: the same pseudo-random bytes on every machine. */
static uint64_t next_rand(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* "$len\r\n" and len pseudo-random bytes (CR, LF and NUL among them). */
static void text_random_bulk(text *t, size_t len, uint64_t seed) {
    char head[32];
    text_put(t, head, (size_t)snprintf(head, sizeof(head), "$%zu\r\n", len));
    for (size_t i = 0; i < len; i++) {
        char c = (char)(next_rand(&seed) >> 56);
        text_put(t, &c, 1);
    }
    text_puts(t, "\r\n");
}

/* ---- every type ---------------------------------------------------- */

static void test_reader_parses_simple_string(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("+OK\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_STATUS);
    assert_string_equal(rk_reply_str(&r), "OK");
    assert_int_equal(rk_reply_len(&r), 2);
    rk_reply_free(&r);
}

static void test_reader_parses_simple_error(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("-WRONGTYPE Operation against a key\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ERROR);
    assert_true(rk_reply_is_error(&r));
    assert_string_equal(rk_reply_str(&r), "WRONGTYPE Operation against a key");
    rk_reply_free(&r);
}

static void test_reader_parses_integer(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT(":-1234\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_INTEGER);
    assert_true(rk_reply_int(&r) == -1234);
    rk_reply_free(&r);
}

static void test_reader_parses_integer_limits(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT(":-9223372036854775808\r\n"), &r);
    assert_true(rk_reply_int(&r) == LLONG_MIN);
    rk_reply_free(&r);
    rkt_parse(LIT(":9223372036854775807\r\n"), &r);
    assert_true(rk_reply_int(&r) == LLONG_MAX);
    rk_reply_free(&r);
}

static void test_reader_parses_bulk_string(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("$11\r\nhello world\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_STRING);
    assert_string_equal(rk_reply_str(&r), "hello world");
    assert_int_equal(rk_reply_len(&r), 11);
    rk_reply_free(&r);
}

static void test_reader_parses_empty_bulk_string(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("$0\r\n\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_STRING);
    assert_string_equal(rk_reply_str(&r), "");
    assert_int_equal(rk_reply_len(&r), 0);
    rk_reply_free(&r);
}

static void test_reader_parses_binary_bulk_with_nul_and_crlf(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("$10\r\na\0b\r\nc\r\n\0d\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_STRING);
    assert_int_equal(rk_reply_len(&r), 10);
    assert_memory_equal(rk_reply_str(&r), "a\0b\r\nc\r\n\0d", 11);
    rk_reply_free(&r);
}

static void test_reader_parses_null_bulk_as_nil(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("$-1\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_null(rk_reply_str(&r));
    rk_reply_free(&r);
}

static void test_reader_parses_array(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("*3\r\n:1\r\n$3\r\nfoo\r\n*1\r\n+bar\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ARRAY);
    assert_int_equal(rk_reply_len(&r), 3);
    assert_true(rk_reply_int(rk_reply_at(&r, 0)) == 1);
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 1)), "foo");
    const rk_reply *inner = rk_reply_at(&r, 2);
    assert_int_equal(rk_reply_type(inner), RK_REPLY_ARRAY);
    assert_string_equal(rk_reply_str(rk_reply_at(inner, 0)), "bar");
    rk_reply_free(&r);
}

static void test_reader_parses_null_array_as_nil(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("*-1\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
}

static void test_reader_parses_empty_array(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("*0\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ARRAY);
    assert_int_equal(rk_reply_len(&r), 0);
    assert_null(rk_reply_at(&r, 0));
    rk_reply_free(&r);
}

static void test_reader_parses_resp3_null(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("_\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
}

static void test_reader_parses_double_keeping_its_text(void **state) {
    (void)state;
    static const struct {
        const char *wire, *text;
        double value;
    } cases[] = {
        {",1.5\r\n", "1.5", 1.5},
        {",-0.25\r\n", "-0.25", -0.25},
        {",1e300\r\n", "1e300", 1e300},
        {",10\r\n", "10", 10.0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rk_reply r;
        rkt_parse(cases[i].wire, strlen(cases[i].wire), &r);
        assert_int_equal(rk_reply_type(&r), RK_REPLY_DOUBLE);
        assert_string_equal(rk_reply_str(&r), cases[i].text);
        assert_true(rk_reply_double(&r) == cases[i].value);
        rk_reply_free(&r);
    }
}

static void test_reader_parses_double_infinities(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT(",inf\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_DOUBLE);
    assert_string_equal(rk_reply_str(&r), "inf");
    assert_true(isinf(rk_reply_double(&r)) && rk_reply_double(&r) > 0);
    rk_reply_free(&r);
    rkt_parse(LIT(",-inf\r\n"), &r);
    assert_string_equal(rk_reply_str(&r), "-inf");
    assert_true(isinf(rk_reply_double(&r)) && rk_reply_double(&r) < 0);
    rk_reply_free(&r);
}

static void test_reader_parses_double_nan(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT(",nan\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_DOUBLE);
    assert_string_equal(rk_reply_str(&r), "nan");
    assert_true(isnan(rk_reply_double(&r)));
    rk_reply_free(&r);
}

static void test_reader_parses_booleans(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("#t\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_BOOL);
    assert_true(rk_reply_bool(&r));
    assert_int_equal(rk_reply_int(&r), 1);
    rk_reply_free(&r);
    rkt_parse(LIT("#f\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_BOOL);
    assert_false(rk_reply_bool(&r));
    assert_int_equal(rk_reply_int(&r), 0);
    rk_reply_free(&r);
}

static void test_reader_parses_big_number(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("(3492890328409238509324850943850943825024385\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_BIGNUM);
    assert_string_equal(rk_reply_str(&r), "3492890328409238509324850943850943825024385");
    rk_reply_free(&r);
}

static void test_reader_parses_blob_error(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("!21\r\nSYNTAX invalid syntax\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ERROR);
    assert_true(rk_reply_is_error(&r));
    assert_string_equal(rk_reply_str(&r), "SYNTAX invalid syntax");
    assert_int_equal(rk_reply_len(&r), 21);
    rk_reply_free(&r);
}

static void test_reader_parses_verbatim_txt_without_its_prefix(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("=15\r\ntxt:Some string\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_VERBATIM);
    assert_string_equal(rk_reply_verbatim_format(&r), "txt");
    assert_string_equal(rk_reply_str(&r), "Some string");
    assert_int_equal(rk_reply_len(&r), 11);
    rk_reply_free(&r);
}

static void test_reader_parses_verbatim_mkd(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("=9\r\nmkd:# Hi!\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_VERBATIM);
    assert_string_equal(rk_reply_verbatim_format(&r), "mkd");
    assert_string_equal(rk_reply_str(&r), "# Hi!");
    rk_reply_free(&r);
}

static void test_reader_parses_map(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n*1\r\n:2\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_MAP);
    assert_int_equal(rk_reply_len(&r), 2);
    assert_string_equal(rk_reply_str(rk_reply_map_key(&r, 0)), "first");
    assert_true(rk_reply_int(rk_reply_map_value(&r, 0)) == 1);
    assert_string_equal(rk_reply_str(rk_reply_map_key(&r, 1)), "second");
    const rk_reply *second = rk_reply_map_get(&r, "second");
    assert_int_equal(rk_reply_type(second), RK_REPLY_ARRAY);
    assert_true(rk_reply_int(rk_reply_at(second, 0)) == 2);
    assert_true(rk_reply_int(rk_reply_map_get(&r, "first")) == 1);
    rk_reply_free(&r);
}

static void test_reader_parses_set(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("~3\r\n+orange\r\n+apple\r\n#t\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_SET);
    assert_int_equal(rk_reply_len(&r), 3);
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 1)), "apple");
    assert_true(rk_reply_bool(rk_reply_at(&r, 2)));
    rk_reply_free(&r);
}

static void test_reader_parses_push(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT(">3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_PUSH);
    assert_int_equal(rk_reply_len(&r), 3);
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 0)), "message");
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 2)), "hello");
    rk_reply_free(&r);
}

static void test_reader_attaches_attribute_to_the_next_top_level_reply(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
                  "*2\r\n:2039123\r\n:9543892\r\n"),
              &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ARRAY);
    assert_int_equal(rk_reply_len(&r), 2);
    assert_true(rk_reply_int(rk_reply_at(&r, 1)) == 9543892);
    const rk_reply *attr = rk_reply_attr(&r);
    assert_non_null(attr);
    assert_int_equal(rk_reply_type(attr), RK_REPLY_ATTR);
    assert_int_equal(rk_reply_len(attr), 1);
    const rk_reply *pop = rk_reply_map_get(attr, "key-popularity");
    assert_int_equal(rk_reply_type(pop), RK_REPLY_MAP);
    assert_true(rk_reply_double(rk_reply_map_get(pop, "a")) == 0.1923);
    assert_null(rk_reply_attr(rk_reply_at(&r, 0)));
    rk_reply_free(&r);
}

static void test_reader_attaches_attribute_inside_an_array(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("*2\r\n|1\r\n+ttl\r\n:3600\r\n$3\r\nval\r\n:7\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ARRAY);
    assert_int_equal(rk_reply_len(&r), 2);
    assert_null(rk_reply_attr(&r));
    const rk_reply *first = rk_reply_at(&r, 0);
    assert_string_equal(rk_reply_str(first), "val");
    assert_true(rk_reply_int(rk_reply_map_get(rk_reply_attr(first), "ttl")) == 3600);
    assert_null(rk_reply_attr(rk_reply_at(&r, 1)));
    rk_reply_free(&r);
}

static void test_reader_never_returns_an_attribute_alone(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, LIT("|1\r\n+a\r\n+b\r\n")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 0);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_reader_feed(rd, LIT("+OK\r\n")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_STATUS);
    assert_string_equal(rk_reply_str(rk_reply_map_get(rk_reply_attr(&r), "a")), "b");
    rk_reply_free(&r);
    rk_reader_free(rd);
}

static void test_reader_rejects_two_attributes_in_a_row(void **state) {
    (void)state;
    assert_int_equal(first_result(NULL, LIT("|1\r\n+a\r\n:1\r\n|1\r\n+b\r\n:2\r\n+x\r\n")),
                     RK_EPROTO);
}

static void test_reader_parses_streamed_string(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;2\r\nld\r\n;0\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_STRING);
    assert_string_equal(rk_reply_str(&r), "Hello world");
    assert_int_equal(rk_reply_len(&r), 11);
    rk_reply_free(&r);
}

static void test_reader_parses_streamed_array(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("*?\r\n:1\r\n$3\r\nfoo\r\n.\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ARRAY);
    assert_int_equal(rk_reply_len(&r), 2);
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 1)), "foo");
    rk_reply_free(&r);
}

static void test_reader_parses_streamed_map(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("%?\r\n+a\r\n:1\r\n+b\r\n:2\r\n.\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_MAP);
    assert_int_equal(rk_reply_len(&r), 2);
    assert_true(rk_reply_int(rk_reply_map_get(&r, "b")) == 2);
    rk_reply_free(&r);
}

static void test_reader_parses_streamed_set(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("~?\r\n+x\r\n+y\r\n+z\r\n.\r\n"), &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_SET);
    assert_int_equal(rk_reply_len(&r), 3);
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 2)), "z");
    rk_reply_free(&r);
}

static void test_reader_parses_nested_streamed_aggregates(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("*?\r\n~?\r\n:1\r\n.\r\n%?\r\n+k\r\n$?\r\n;3\r\nabc\r\n;5\r\ndefgh\r\n;0\r\n.\r\n"
                  "*?\r\n.\r\n.\r\n"),
              &r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ARRAY);
    assert_int_equal(rk_reply_len(&r), 3);
    const rk_reply *set = rk_reply_at(&r, 0);
    assert_int_equal(rk_reply_type(set), RK_REPLY_SET);
    assert_int_equal(rk_reply_len(set), 1);
    const rk_reply *map = rk_reply_at(&r, 1);
    assert_int_equal(rk_reply_type(map), RK_REPLY_MAP);
    assert_string_equal(rk_reply_str(rk_reply_map_get(map, "k")), "abcdefgh");
    const rk_reply *empty = rk_reply_at(&r, 2);
    assert_int_equal(rk_reply_type(empty), RK_REPLY_ARRAY);
    assert_int_equal(rk_reply_len(empty), 0);
    rk_reply_free(&r);
}

/* ---- incremental feeding ------------------------------------------- */

static void test_reader_resumes_after_split_in_crlf(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, LIT("+OK\r")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 0);
    assert_int_equal(rk_reader_feed(rd, LIT("\n")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    assert_string_equal(rk_reply_str(&r), "OK");
    rk_reply_free(&r);
    rk_reader_free(rd);
}

static void test_reader_resumes_after_split_in_bulk_payload(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, LIT("*2\r\n$11\r\nhello")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 0);
    assert_int_equal(rk_reader_feed(rd, LIT(" world\r\n:")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 0);
    assert_int_equal(rk_reader_feed(rd, LIT("5\r\n")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 0)), "hello world");
    assert_true(rk_reply_int(rk_reply_at(&r, 1)) == 5);
    rk_reply_free(&r);
    rk_reader_free(rd);
}

/* A RESP3 double as Redis sends one (%.17g) is longer than any length
 * line; it must survive arriving in two pieces. */
static void test_reader_accepts_long_double_split_before_its_cr(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, LIT(",-1.2345678901234567e-308")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 0);
    assert_int_equal(rk_reader_feed(rd, LIT("\r\n")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    assert_string_equal(rk_reply_str(&r), "-1.2345678901234567e-308");
    rk_reply_free(&r);
    rk_reader_free(rd);
}

/* A double's text is at most 351 bytes (rk_parse_double's limit): one
 * longer is refused whether its CR comes in the same read or not, and
 * one that long is read and converted, never kept to turn into NaN. */
static void test_reader_refuses_overlong_double_however_it_arrives(void **state) {
    (void)state;
    char wire[400];
    wire[0] = ',';
    memset(wire + 1, '0', 352);
    memcpy(wire + 353, "\r\n", 2);
    assert_int_equal(first_result(NULL, wire, 355), RK_EPROTO);
    assert_int_equal(first_result_bytewise(wire, 355), RK_EPROTO);
    wire[351] = '1';
    memcpy(wire + 352, "\r\n", 2); /* 351 bytes of text: the longest */
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, wire, 354), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    assert_true(rk_reply_double(&r) == 1.0);
    rk_reply_free(&r);
    rk_reader_free(rd);
    assert_int_equal(first_result_bytewise(wire, 354), 1);
}

static void test_reader_accepts_long_big_number_split_before_its_cr(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, LIT("(34928903284092385093248509")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 0);
    assert_int_equal(rk_reader_feed(rd, LIT("43850943825024385\r\n")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    assert_string_equal(rk_reply_str(&r), "3492890328409238509324850943850943825024385");
    rk_reply_free(&r);
    rk_reader_free(rd);
}

/* The corpus: replies of every type and shape, one after the other, with
 * the bytes rk_writer_reply(..., 3) must give back for each. Built once;
 * `expected` holds the replies parsed from the corpus fed whole. */
typedef struct corpus {
    text wire;
    char **canon;
    size_t *canon_len;
    size_t count;
    rk_reply *expected;
    size_t parsed;
} corpus;

static corpus cp;

static void corpus_add(const char *wire, size_t len, const char *canon, size_t canon_len) {
    cp.canon = realloc(cp.canon, (cp.count + 1) * sizeof(*cp.canon));
    cp.canon_len = realloc(cp.canon_len, (cp.count + 1) * sizeof(*cp.canon_len));
    if (canon == NULL) {
        canon = wire;
        canon_len = len;
    }
    cp.canon[cp.count] = malloc(canon_len + 1);
    memcpy(cp.canon[cp.count], canon, canon_len);
    cp.canon_len[cp.count] = canon_len;
    cp.count++;
    text_put(&cp.wire, wire, len);
}

static void corpus_add_text(text *t) {
    corpus_add(t->data, t->len, NULL, 0);
    free(t->data);
    *t = (text){0};
}

static const struct {
    const char *wire;
    size_t len;
    const char *canon; /* NULL: the same as wire */
    size_t canon_len;
} corpus_items[] = {
    {LIT("+OK\r\n"), NULL, 0},
    {LIT("-ERR unknown command 'foo'\r\n"), NULL, 0},
    {LIT(":0\r\n"), NULL, 0},
    {LIT(":-9223372036854775808\r\n"), NULL, 0},
    {LIT(":9223372036854775807\r\n"), NULL, 0},
    {LIT("$5\r\nhello\r\n"), NULL, 0},
    {LIT("$0\r\n\r\n"), NULL, 0},
    {LIT("$10\r\na\0b\r\nc\r\n\0d\r\n"), NULL, 0},
    {LIT("$-1\r\n"), LIT("_\r\n")},
    {LIT("*-1\r\n"), LIT("_\r\n")},
    {LIT("*0\r\n"), NULL, 0},
    {LIT("_\r\n"), NULL, 0},
    {LIT(",1.5\r\n"), NULL, 0},
    {LIT(",-1.2345678901234567e-308\r\n"), NULL, 0},
    {LIT(",-inf\r\n"), NULL, 0},
    {LIT(",nan\r\n"), NULL, 0},
    {LIT("#t\r\n"), NULL, 0},
    {LIT("#f\r\n"), NULL, 0},
    {LIT("(3492890328409238509324850943850943825024385\r\n"), NULL, 0},
    {LIT("!21\r\nSYNTAX invalid syntax\r\n"), LIT("-SYNTAX invalid syntax\r\n")},
    {LIT("!4\r\nE\r\nX\r\n"), NULL, 0},
    {LIT("=15\r\ntxt:Some string\r\n"), NULL, 0},
    {LIT("=7\r\nmkd:abc\r\n"), NULL, 0},
    {LIT("*3\r\n:1\r\n$3\r\nfoo\r\n*2\r\n+a\r\n-b\r\n"), NULL, 0},
    {LIT("%2\r\n+first\r\n:1\r\n+second\r\n*1\r\n,2.5\r\n"), NULL, 0},
    {LIT("%0\r\n"), NULL, 0},
    {LIT("~3\r\n:1\r\n:2\r\n+three\r\n"), NULL, 0},
    {LIT(">3\r\n+message\r\n+channel\r\n$5\r\nhello\r\n"), NULL, 0},
    {LIT("|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
         "*2\r\n:2039123\r\n:9543892\r\n"),
     NULL, 0},
    {LIT("*2\r\n|1\r\n+ttl\r\n:3600\r\n$3\r\nval\r\n:7\r\n"), NULL, 0},
    {LIT("|0\r\n:5\r\n"), NULL, 0},
    {LIT("|1\r\n+k\r\n|1\r\n+a\r\n+b\r\n+v\r\n$12\r\nannotated!!!\r\n"), NULL, 0},
    {LIT("$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;2\r\nld\r\n;0\r\n"), LIT("$11\r\nHello world\r\n")},
    {LIT("$?\r\n;0\r\n"), LIT("$0\r\n\r\n")},
    {LIT("*?\r\n:1\r\n:2\r\n.\r\n"), LIT("*2\r\n:1\r\n:2\r\n")},
    {LIT("%?\r\n+a\r\n:1\r\n+b\r\n$?\r\n;3\r\nxyz\r\n;0\r\n.\r\n"),
     LIT("%2\r\n+a\r\n:1\r\n+b\r\n$3\r\nxyz\r\n")},
    {LIT("~?\r\n.\r\n"), LIT("~0\r\n")},
    {LIT("*?\r\n~?\r\n:1\r\n.\r\n%?\r\n.\r\n*1\r\n*?\r\n+x\r\n.\r\n.\r\n"),
     LIT("*3\r\n~1\r\n:1\r\n%0\r\n*1\r\n*1\r\n+x\r\n")},
    {LIT("*?\r\n|1\r\n+a\r\n+b\r\n:1\r\n.\r\n"), LIT("*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n")},
    {LIT("|1\r\n+a\r\n+b\r\n*?\r\n:1\r\n.\r\n"), LIT("|1\r\n+a\r\n+b\r\n*1\r\n:1\r\n")},
};

static void build_corpus(void) {
    text t = {0};
    for (size_t i = 0; i < sizeof(corpus_items) / sizeof(corpus_items[0]); i++)
        corpus_add(corpus_items[i].wire, corpus_items[i].len, corpus_items[i].canon,
                   corpus_items[i].canon_len);
    text_random_bulk(&t, 1024 * 1024, 1); /* direct mode */
    corpus_add_text(&t);
    corpus_add(LIT("+after the big one\r\n"), NULL, 0);
    text_random_bulk(&t, 64 * 1024, 2); /* exactly the direct threshold */
    corpus_add_text(&t);
    text_random_bulk(&t, 64 * 1024 - 1, 3); /* just under it */
    corpus_add_text(&t);
    text_puts(&t, "*3\r\n");
    text_random_bulk(&t, 100000, 4); /* large, but not at the top */
    text_puts(&t, ":1\r\n_\r\n");
    corpus_add_text(&t);
    text_puts(&t, "|1\r\n+a\r\n+b\r\n");
    text_random_bulk(&t, 70000, 5); /* large, behind an attribute */
    corpus_add_text(&t);
    text_repeat(&t, "*1\r\n", 20);
    text_puts(&t, "%1\r\n+deep\r\n#t\r\n");
    corpus_add_text(&t);
    text_puts(&t, "*1000\r\n");
    text_repeat(&t, "$10\r\n0123456789\r\n", 1000);
    corpus_add_text(&t);
    text_puts(&t, "$?\r\n");
    for (int i = 0; i < 50; i++)
        text_puts(&t, ";7\r\nchunk\r\n\r\n");
    text_puts(&t, ";0\r\n");
    text t2 = {0};
    text_puts(&t2, "$350\r\n");
    text_repeat(&t2, "chunk\r\n", 50);
    text_puts(&t2, "\r\n");
    corpus_add(t.data, t.len, t2.data, t2.len);
    free(t.data);
    free(t2.data);
    corpus_add(LIT("+the end\r\n"), NULL, 0);

    cp.expected = calloc(cp.count, sizeof(rk_reply));
    rk_reader *rd = rk_reader_new(NULL);
    rk_reader_feed(rd, cp.wire.data, cp.wire.len);
    while (cp.parsed < cp.count && rk_reader_next(rd, &cp.expected[cp.parsed]) == 1)
        cp.parsed++;
    rk_reader_free(rd);
}

static int corpus_setup(void **state) {
    (void)state;
    build_corpus();
    return 0;
}

static int corpus_teardown(void **state) {
    (void)state;
    for (size_t i = 0; i < cp.count; i++) {
        free(cp.canon[i]);
        if (i < cp.parsed)
            rk_reply_free(&cp.expected[i]);
    }
    free(cp.canon);
    free(cp.canon_len);
    free(cp.expected);
    free(cp.wire.data);
    return 0;
}

/* Checks reply i of a corpus run against the whole parse and its bytes. */
static void check_corpus_reply(const rk_reply *r, size_t i) {
    if (i >= cp.count)
        fail_msg("more replies than the corpus holds (%zu)", cp.count);
    if (i >= cp.parsed || !rkt_same_reply(r, &cp.expected[i]))
        fail_msg("reply %zu differs from the corpus fed whole", i);
    size_t len;
    char *bytes = rkt_encode(r, 3, &len);
    if (len != cp.canon_len[i] || memcmp(bytes, cp.canon[i], len) != 0)
        fail_msg("reply %zu re-encodes to %zu bytes \"%.60s\", expected %zu \"%.60s\"", i, len,
                 bytes, cp.canon_len[i], cp.canon[i]);
    free(bytes);
}

typedef enum { VIA_FEED, VIA_SPACE } via;

typedef struct plan {
    via how;
    size_t chunk;  /* fixed chunk size, or 0 for random sizes */
    uint64_t seed; /* for random sizes */
    bool borrowed;
} plan;

/* A chunk size mostly small, sometimes medium, rarely large. */
static size_t random_chunk(uint64_t *seed) {
    uint64_t r = next_rand(seed);
    switch (r % 10) {
    case 0: return 1 + (size_t)(r >> 8) % 300000;
    case 1:
    case 2: return 1 + (size_t)(r >> 8) % 1024;
    default: return 1 + (size_t)(r >> 8) % 16;
    }
}

/* Feeds the corpus as the plan says, taking replies after every chunk,
 * and checks each and their number. */
static void run_corpus(const plan *pl) {
    rk_reader *rd = reader_with(NULL);
    uint64_t seed = pl->seed;
    size_t at = 0, got = 0;
    while (at < cp.wire.len) {
        size_t n = pl->chunk ? pl->chunk : random_chunk(&seed);
        n = MIN(n, cp.wire.len - at);
        if (pl->how == VIA_FEED) {
            assert_int_equal(rk_reader_feed(rd, cp.wire.data + at, n), RK_OK);
        } else {
            size_t avail = 0;
            char *dst = rk_reader_space(rd, n, &avail);
            assert_non_null(dst);
            n = MIN(n, avail);
            memcpy(dst, cp.wire.data + at, n);
            assert_int_equal(rk_reader_commit(rd, n), RK_OK);
        }
        at += n;
        rk_reply r;
        int rc;
        while ((rc = pl->borrowed ? rk_reader_next_borrowed(rd, &r) : rk_reader_next(rd, &r)) ==
               1) {
            check_corpus_reply(&r, got++);
            rk_reply_free(&r);
        }
        if (rc != 0)
            fail_msg("after %zu replies and %zu bytes: %s", got, at, rk_error_last()->message);
    }
    assert_int_equal(got, cp.count);
    assert_int_equal(rk_reader_buffered(rd), 0);
    rk_reader_free(rd);
}

static void test_corpus_fed_whole_gives_every_reply(void **state) {
    (void)state;
    plan pl = {.how = VIA_FEED, .chunk = cp.wire.len};
    run_corpus(&pl);
}

static void test_corpus_fed_byte_by_byte_gives_the_same_replies(void **state) {
    (void)state;
    plan pl = {.how = VIA_FEED, .chunk = 1};
    run_corpus(&pl);
}

static void test_corpus_fed_in_random_chunks_gives_the_same_replies(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        plan pl = {.how = VIA_FEED, .seed = seed * 7919};
        run_corpus(&pl);
    }
}

static void test_corpus_through_space_and_commit_in_small_chunks(void **state) {
    (void)state;
    for (size_t chunk = 1; chunk <= 7; chunk += 3) {
        plan pl = {.how = VIA_SPACE, .chunk = chunk};
        run_corpus(&pl);
    }
}

static void test_corpus_through_space_and_commit_in_big_chunks(void **state) {
    (void)state;
    plan pl = {.how = VIA_SPACE, .chunk = 64 * 1024};
    run_corpus(&pl);
    plan random = {.how = VIA_SPACE, .seed = 42};
    run_corpus(&random);
}

/* ---- borrowed replies ---------------------------------------------- */

static void test_borrowed_corpus_gives_the_same_replies(void **state) {
    (void)state;
    plan whole = {.how = VIA_FEED, .chunk = cp.wire.len, .borrowed = true};
    run_corpus(&whole);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        plan pl = {.how = VIA_FEED, .seed = seed, .borrowed = true};
        run_corpus(&pl);
    }
    plan space = {.how = VIA_SPACE, .chunk = 5, .borrowed = true};
    run_corpus(&space);
}

static void test_borrowed_strings_point_into_the_read_buffer(void **state) {
    (void)state;
    static const char wire[] = "*2\r\n$11\r\nhello world\r\n+OK\r\n";
    size_t len = sizeof(wire) - 1, avail;
    rk_reader *rd = reader_with(NULL);
    char *area = rk_reader_space(rd, len, &avail);
    assert_non_null(area);
    assert_true(avail >= len);
    memcpy(area, wire, len);
    assert_int_equal(rk_reader_commit(rd, len), RK_OK);
    rk_reply r;
    assert_int_equal(rk_reader_next_borrowed(rd, &r), 1);
    const char *hello = rk_reply_str(rk_reply_at(&r, 0));
    const char *ok = rk_reply_str(rk_reply_at(&r, 1));
    assert_string_equal(hello, "hello world");
    assert_string_equal(ok, "OK");
    assert_true(hello >= area && hello < area + len);
    assert_true(ok >= area && ok < area + len);
    rk_reader_free(rd);
}

static void test_borrowed_small_replies_allocate_nothing_after_warm_up(void **state) {
    (void)state;
    static const char batch[] = "+OK\r\n:1\r\n$5\r\nhello\r\n*3\r\n$3\r\nfoo\r\n:2\r\n_\r\n"
                                "%1\r\n+key\r\n$20\r\n01234567890123456789\r\n,1.5\r\n#t\r\n"
                                "*?\r\n:1\r\n.\r\n$?\r\n;3\r\nabc\r\n;9\r\ndefghijkl\r\n;0\r\n"
                                "|1\r\n+a\r\n+b\r\n~1\r\n+s\r\n";
    rk_reader *rd = reader_with(NULL);
    size_t warm = 0, replies = 0;
    for (int round = 0; round < 200; round++) {
        if (round == 1)
            warm = rkt_alloc_calls();
        assert_int_equal(rk_reader_feed(rd, batch, sizeof(batch) - 1), RK_OK);
        rk_reply r;
        while (rk_reader_next_borrowed(rd, &r) == 1)
            replies++;
    }
    assert_int_equal(replies, 200 * 10);
    assert_int_equal(rkt_alloc_calls(), warm);
    rk_reader_free(rd);
}

static void test_dup_of_borrowed_reply_survives_further_feeding(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    rk_reply borrowed, kept;
    assert_int_equal(rk_reader_feed(rd, LIT("*2\r\n$11\r\nhello world\r\n+OK\r\n")), RK_OK);
    assert_int_equal(rk_reader_next_borrowed(rd, &borrowed), 1);
    assert_int_equal(rk_reply_dup(&kept, &borrowed), RK_OK);
    for (int i = 0; i < 100; i++) {
        rk_reply r;
        assert_int_equal(rk_reader_feed(rd, LIT("*2\r\n$11\r\nXXXXXXXXXXX\r\n+NO\r\n")), RK_OK);
        assert_int_equal(rk_reader_next_borrowed(rd, &r), 1);
    }
    assert_int_equal(rk_reply_len(&kept), 2);
    assert_string_equal(rk_reply_str(rk_reply_at(&kept, 0)), "hello world");
    assert_string_equal(rk_reply_str(rk_reply_at(&kept, 1)), "OK");
    rk_reply_free(&kept);
    rk_reader_free(rd);
}

static void test_free_of_borrowed_reply_releases_nothing(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, LIT("*2\r\n$11\r\nhello world\r\n:1\r\n+OK\r\n")), RK_OK);
    assert_int_equal(rk_reader_next_borrowed(rd, &r), 1);
    size_t frees = rkt_alloc_stats_now().frees;
    rk_reply_free(&r);
    assert_int_equal(rkt_alloc_stats_now().frees, frees);
    assert_int_equal(rk_reader_next_borrowed(rd, &r), 1);
    assert_string_equal(rk_reply_str(&r), "OK");
    rk_reader_free(rd);
}

static void test_free_of_borrowed_large_bulk_releases_nothing(void **state) {
    (void)state;
    text t = {0};
    text_random_bulk(&t, 100000, 9);
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, t.data, 1000), RK_OK);
    assert_int_equal(rk_reader_next_borrowed(rd, &r), 0);
    assert_int_equal(rk_reader_feed(rd, t.data + 1000, t.len - 1000), RK_OK);
    assert_int_equal(rk_reader_next_borrowed(rd, &r), 1);
    assert_int_equal(rk_reply_len(&r), 100000);
    size_t frees = rkt_alloc_stats_now().frees;
    rk_reply_free(&r);
    assert_int_equal(rkt_alloc_stats_now().frees, frees);
    rk_reader_free(rd);
    free(t.data);
}

/* ---- memory given back --------------------------------------------- */

/* Feeds wire the way a connection does (rk_reader_space for 16 KiB, at
 * most that much committed), taking the replies after each piece,
 * borrowed or owned; returns how many it took. */
static size_t read_like_a_connection(rk_reader *rd, const char *wire, size_t len, bool borrowed) {
    size_t replies = 0;
    while (len > 0) {
        size_t avail;
        char *dst = rk_reader_space(rd, 16 * 1024, &avail);
        assert_non_null(dst);
        size_t n = avail < len ? avail : len;
        n = n < 16 * 1024 ? n : 16 * 1024;
        memcpy(dst, wire, n);
        assert_int_equal(rk_reader_commit(rd, n), RK_OK);
        wire += n;
        len -= n;
        rk_reply r;
        int rc;
        while ((rc = borrowed ? rk_reader_next_borrowed(rd, &r) : rk_reader_next(rd, &r)) == 1) {
            replies++;
            rk_reply_free(&r);
        }
        assert_int_equal(rc, 0);
    }
    return replies;
}

/* An array of n five-byte bulks: about 11 n bytes, n tokens, n nodes. */
static void text_array_of_bulks(text *t, size_t n) {
    char head[32];
    text_put(t, head, (size_t)snprintf(head, sizeof(head), "*%zu\r\n", n));
    text_repeat(t, "$5\r\nhello\r\n", n);
}

static void test_reader_gives_back_what_one_large_reply_grew(void **state) {
    (void)state;
    text big = {0};
    text_array_of_bulks(&big, 100000);
    for (int borrowed = 0; borrowed <= 1; borrowed++) {
        rk_reader *rd = reader_with(NULL);
        assert_int_equal(read_like_a_connection(rd, LIT("+OK\r\n"), borrowed), 1);
        long long small = rkt_alloc_stats_now().bytes;
        assert_int_equal(read_like_a_connection(rd, big.data, big.len, borrowed), 1);
        long long grown = rkt_alloc_stats_now().bytes;
        assert_true(grown > small + 2 * 1024 * 1024); /* buffer and tape (and nodes) */
        for (int i = 0; i < 64; i++) /* two windows of 32: the second needs little */
            assert_int_equal(read_like_a_connection(rd, LIT(":1\r\n"), borrowed), 1);
        long long after = rkt_alloc_stats_now().bytes;
        if (after > small + 128 * 1024)
            fail_msg("borrowed %d: %lld bytes after 64 small replies, %lld before the large one",
                     borrowed, after, small);
        rk_reader_free(rd);
    }
    free(big.data);
}

static void test_reader_keeps_its_memory_while_large_replies_keep_coming(void **state) {
    (void)state;
    text big = {0};
    text_array_of_bulks(&big, 20000);
    rk_reader *rd = reader_with(NULL);
    size_t warm = 0;
    for (int round = 0; round < 20; round++) {
        if (round == 1)
            warm = rkt_alloc_calls();
        assert_int_equal(read_like_a_connection(rd, big.data, big.len, true), 1);
        for (int i = 0; i < 10; i++)
            assert_int_equal(read_like_a_connection(rd, LIT("+OK\r\n"), true), 1);
    }
    assert_int_equal(rkt_alloc_calls(), warm); /* nothing trimmed and grown again */
    rk_reader_free(rd);
    free(big.data);
}

/* ---- allocation counts --------------------------------------------- */

/* Allocation calls rk_reader_next makes to hand out the one reply in wire,
 * in steady state: the same reply is read once first, so that what the
 * reader keeps and reuses (its read buffer, its token tape) is not counted,
 * as it is not per reply. */
static size_t allocations_to_read(const char *wire, size_t len) {
    rk_reader *rd = reader_with(NULL);
    rk_reply warm;
    assert_int_equal(rk_reader_feed(rd, wire, len), RK_OK);
    assert_int_equal(rk_reader_next(rd, &warm), 1);
    rk_reply_free(&warm);
    assert_int_equal(rk_reader_feed(rd, wire, len), RK_OK);
    size_t before = rkt_alloc_calls();
    rk_reply r;
    assert_int_equal(rk_reader_next(rd, &r), 1);
    size_t n = rkt_alloc_calls() - before;
    rk_reply_free(&r);
    rk_reader_free(rd);
    return n;
}

static void test_status_ok_allocates_nothing(void **state) {
    (void)state;
    assert_int_equal(allocations_to_read(LIT("+OK\r\n")), 0);
}

static void test_integer_allocates_nothing(void **state) {
    (void)state;
    assert_int_equal(allocations_to_read(LIT(":-9223372036854775808\r\n")), 0);
}

static void test_nil_allocates_nothing(void **state) {
    (void)state;
    assert_int_equal(allocations_to_read(LIT("$-1\r\n")), 0);
    assert_int_equal(allocations_to_read(LIT("_\r\n")), 0);
}

static void test_bulk_of_seven_bytes_allocates_nothing(void **state) {
    (void)state;
    assert_int_equal(allocations_to_read(LIT("$7\r\n1234567\r\n")), 0);
}

static void test_boolean_allocates_nothing(void **state) {
    (void)state;
    assert_int_equal(allocations_to_read(LIT("#t\r\n")), 0);
}

static void test_short_double_allocates_nothing(void **state) {
    (void)state;
    assert_int_equal(allocations_to_read(LIT(",1.5\r\n")), 0);
}

static void test_longer_bulk_allocates_one_block(void **state) {
    (void)state;
    assert_int_equal(allocations_to_read(LIT("$8\r\n12345678\r\n")), 1);
}

static void test_array_of_1000_bulks_allocates_one_block(void **state) {
    (void)state;
    text t = {0};
    text_puts(&t, "*1000\r\n");
    text_repeat(&t, "$12\r\nvalue:123456\r\n", 1000);
    assert_int_equal(allocations_to_read(t.data, t.len), 1);
    free(t.data);
}

static void test_nested_map_allocates_one_block(void **state) {
    (void)state;
    assert_int_equal(allocations_to_read(LIT("%2\r\n+name\r\n$12\r\nsome-value-1\r\n+inner\r\n"
                                             "%1\r\n+list\r\n*2\r\n$10\r\n0123456789\r\n"
                                             "~1\r\n,3.14159265358979\r\n")),
                     1);
}

static void test_reply_free_releases_every_block(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    rk_reply *all = calloc(cp.count, sizeof(rk_reply));
    long before = 0;
    for (int round = 0; round < 2; round++) { /* the first grows the reader */
        assert_int_equal(rk_reader_feed(rd, cp.wire.data, cp.wire.len), RK_OK);
        before = rkt_alloc_live();
        size_t n = 0;
        while (n < cp.count && rk_reader_next(rd, &all[n]) == 1)
            n++;
        assert_int_equal(n, cp.count);
        assert_true(rkt_alloc_live() > before);
        for (size_t i = 0; i < n; i++)
            rk_reply_free(&all[i]);
    }
    assert_int_equal(rkt_alloc_live(), before);
    free(all);
    rk_reader_free(rd);
}

static void test_reader_freed_mid_reply_leaks_nothing(void **state) {
    (void)state;
    text big = {0};
    text_random_bulk(&big, 200000, 11);
    const struct {
        const char *wire;
        size_t len;
    } halves[] = {
        {LIT("*3\r\n$20\r\n01234567890123456789\r\n:1\r\n")},
        {LIT("*?\r\n$?\r\n;3\r\nabc\r\n;2\r\nde\r\n")},
        {LIT("|1\r\n+a\r\n+b\r\n")},
        {big.data, 5000},
    };
    for (size_t i = 0; i < sizeof(halves) / sizeof(halves[0]); i++) {
        rk_reader *rd = reader_with(NULL);
        rk_reply r;
        assert_int_equal(rk_reader_feed(rd, halves[i].wire, halves[i].len), RK_OK);
        assert_int_equal(rk_reader_next(rd, &r), 0);
        rk_reader_free(rd);
        assert_int_equal(rkt_alloc_live(), 0);
    }
    free(big.data);
}

static void test_reader_freed_with_a_reply_on_loan_leaks_nothing(void **state) {
    (void)state;
    text big = {0};
    text_random_bulk(&big, 200000, 12);
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, big.data, 100), RK_OK);
    assert_int_equal(rk_reader_next_borrowed(rd, &r), 0);
    assert_int_equal(rk_reader_feed(rd, big.data + 100, big.len - 100), RK_OK);
    assert_int_equal(rk_reader_next_borrowed(rd, &r), 1);
    rk_reader_free(rd);
    assert_int_equal(rkt_alloc_live(), 0);
    free(big.data);
}

/* ---- nesting ------------------------------------------------------- */

static void test_reader_reads_100_nested_arrays_with_max_depth_128(void **state) {
    (void)state;
    text t = {0};
    text_repeat(&t, "*1\r\n", 100);
    text_puts(&t, ":42\r\n");
    rk_reader_opts opts = {.max_depth = 128};
    rk_reader *rd = reader_with(&opts);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, t.data, t.len), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    const rk_reply *node = &r;
    for (int level = 0; level < 100; level++) {
        assert_int_equal(rk_reply_type(node), RK_REPLY_ARRAY);
        node = rk_reply_at(node, 0);
    }
    assert_true(rk_reply_int(node) == 42);
    rk_reply_free(&r);
    rk_reader_free(rd);
    free(t.data);
}

/* COMMAND DOCS answers with maps of arrays of maps, ten levels deep for
 * commands whose arguments nest (a "oneof" of "block"s). */
static void test_reader_reads_a_command_docs_shape(void **state) {
    (void)state;
    rk_reply r;
    rkt_parse(LIT("%1\r\n$6\r\nclient\r\n"
                  "%2\r\n+summary\r\n+A container\r\n+subcommands\r\n"
                  "%1\r\n$11\r\nclient|kill\r\n"
                  "%2\r\n+summary\r\n+Terminates open connections.\r\n+arguments\r\n"
                  "*1\r\n%3\r\n+name\r\n+filter\r\n+type\r\n+oneof\r\n+arguments\r\n"
                  "*1\r\n%3\r\n+name\r\n+new-format\r\n+type\r\n+oneof\r\n+arguments\r\n"
                  "*2\r\n%2\r\n+name\r\n+skipme\r\n+type\r\n+block\r\n"
                  "%3\r\n+name\r\n+maxage\r\n+type\r\n+integer\r\n+since\r\n+7.4.0\r\n"),
              &r);
    const rk_reply *kill = rk_reply_map_get(
        rk_reply_map_get(rk_reply_map_get(&r, "client"), "subcommands"), "client|kill");
    const rk_reply *filter = rk_reply_at(rk_reply_map_get(kill, "arguments"), 0);
    assert_string_equal(rk_reply_str(rk_reply_map_get(filter, "type")), "oneof");
    const rk_reply *fmt = rk_reply_at(rk_reply_map_get(filter, "arguments"), 0);
    const rk_reply *maxage = rk_reply_at(rk_reply_map_get(fmt, "arguments"), 1);
    assert_string_equal(rk_reply_str(rk_reply_map_get(maxage, "since")), "7.4.0");
    rk_reply_free(&r);
}

static void test_reader_allows_64_levels_by_default(void **state) {
    (void)state;
    text t = {0};
    text_repeat(&t, "*1\r\n", 64);
    text_puts(&t, ":1\r\n");
    assert_int_equal(first_result(NULL, t.data, t.len), 1);
    free(t.data);
}

static void test_reader_rejects_65_levels_by_default(void **state) {
    (void)state;
    text t = {0};
    text_repeat(&t, "*1\r\n", 65);
    text_puts(&t, ":1\r\n");
    assert_int_equal(first_result(NULL, t.data, t.len), RK_EPROTO);
    assert_message_mentions("max_depth");
    free(t.data);
}

static void test_reader_new_rejects_max_depth_over_4096(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_depth = 4097};
    assert_null(rk_reader_new(&opts));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
}

static void test_reader_new_rejects_max_memory_under_4096(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_memory = 4095};
    assert_null(rk_reader_new(&opts));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    assert_message_mentions("max_memory");
}

/* ---- limits -------------------------------------------------------- */

static void test_reader_max_bulk_is_a_sticky_protocol_error(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_bulk = 8};
    rk_reader *rd = reader_with(&opts);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, LIT("$8\r\n12345678\r\n$9\r\n123456789\r\n")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    rk_reply_free(&r);
    assert_int_equal(rk_reader_next(rd, &r), RK_EPROTO);
    assert_message_mentions("max_bulk");
    assert_refuses_until_reset(rd);
    rk_reader_free(rd);
}

static void test_reader_max_bulk_bounds_a_streamed_string_in_total(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_bulk = 8};
    assert_int_equal(first_result(&opts, LIT("$?\r\n;5\r\n12345\r\n;3\r\n678\r\n;0\r\n")), 1);
    assert_int_equal(first_result(&opts, LIT("$?\r\n;5\r\n12345\r\n;4\r\n6789\r\n;0\r\n")),
                     RK_EPROTO);
    assert_message_mentions("max_bulk");
}

static void test_reader_max_elements_is_a_sticky_protocol_error(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_elements = 3};
    rk_reader *rd = reader_with(&opts);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, LIT("*3\r\n:1\r\n:2\r\n:3\r\n*4\r\n")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    rk_reply_free(&r);
    assert_int_equal(rk_reader_next(rd, &r), RK_EPROTO);
    assert_message_mentions("max_elements");
    assert_refuses_until_reset(rd);
    rk_reader_free(rd);
}

static void test_reader_max_elements_counts_map_pairs(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_elements = 2};
    assert_int_equal(first_result(&opts, LIT("%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n")), 1);
    assert_int_equal(first_result(&opts, LIT("%3\r\n")), RK_EPROTO);
    assert_message_mentions("max_elements");
}

static void test_reader_max_elements_bounds_a_streamed_array(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_elements = 2};
    assert_int_equal(first_result(&opts, LIT("*?\r\n:1\r\n:2\r\n.\r\n")), 1);
    assert_int_equal(first_result(&opts, LIT("*?\r\n:1\r\n:2\r\n:3\r\n.\r\n")), RK_EPROTO);
    assert_message_mentions("max_elements");
}

static void test_reader_max_elements_bounds_a_streamed_map(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_elements = 2};
    assert_int_equal(first_result(&opts, LIT("%?\r\n:1\r\n:2\r\n:3\r\n:4\r\n.\r\n")), 1);
    assert_int_equal(first_result(&opts, LIT("%?\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n:6\r\n.\r\n")),
                     RK_EPROTO);
    assert_message_mentions("max_elements");
}

static void test_reader_max_depth_is_a_sticky_protocol_error(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_depth = 3};
    rk_reader *rd = reader_with(&opts);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, LIT("*1\r\n*1\r\n*1\r\n:1\r\n*1\r\n*1\r\n*1\r\n*0\r\n")),
                     RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    rk_reply_free(&r);
    assert_int_equal(rk_reader_next(rd, &r), RK_EPROTO);
    assert_message_mentions("max_depth");
    assert_refuses_until_reset(rd);
    rk_reader_free(rd);
}

static void test_reader_max_buffer_is_a_sticky_protocol_error(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_buffer = 1024};
    rk_reader *rd = reader_with(&opts);
    rk_reply r;
    text t = {0};
    text_random_bulk(&t, 1024 - 9, 13); /* "$1015\r\n" + 1015 + "\r\n": 1024 bytes */
    assert_int_equal(t.len, 1024);
    assert_int_equal(rk_reader_feed(rd, t.data, t.len), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    rk_reply_free(&r);
    free(t.data);
    t = (text){0};
    text_random_bulk(&t, 2000, 14);
    assert_int_equal(rk_reader_feed(rd, t.data, 20), RK_OK); /* known too big from its header */
    assert_int_equal(rk_reader_next(rd, &r), RK_EPROTO);
    assert_message_mentions("1024");
    assert_refuses_until_reset(rd);
    rk_reader_free(rd);
    free(t.data);
}

/* ---- the memory one reply may cost ---------------------------------- */

#define MIB (1024 * 1024)

/* Feeds wire in 64 KiB pieces, asking for a reply after each, until one
 * comes or the reader fails: returns 1 (the reply is in *r), the error,
 * or 0 when the bytes ran out first. */
static int feed_in_pieces(rk_reader *rd, const char *wire, size_t len, rk_reply *r) {
    int rc = 0;
    for (size_t at = 0; at < len && rc == 0; at += 64 * 1024) {
        rc = rk_reader_feed(rd, wire + at, MIN(64 * 1024, len - at));
        if (rc == RK_OK)
            rc = rk_reader_next(rd, r);
    }
    return rc;
}

/* Bytes live at the peak since the counting allocator was installed. */
static long long peak_bytes(void) {
    return rkt_alloc_stats_now().peak;
}

/* Each "_" costs 3 bytes of input but 24 bytes of tape and a 40-byte node:
 * a stream of them must be refused before the memory reaches the limit,
 * not after the buffer holds max_buffer bytes. */
static void test_reader_stream_of_nulls_is_refused_before_passing_max_memory(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_memory = 16 * MIB};
    rk_reader *rd = reader_with(&opts);
    text t = {0};
    text_puts(&t, "*?\r\n");
    text_repeat(&t, "_\r\n", 2000000); /* 6 MB of input, 128 MB of reply */
    rk_reply r;
    assert_int_equal(feed_in_pieces(rd, t.data, t.len, &r), RK_EPROTO);
    assert_message_mentions("max_memory");
    assert_true(peak_bytes() <= 16 * MIB);
    assert_refuses_until_reset(rd);
    rk_reader_free(rd);
    free(t.data);
}

/* An aggregate that announces more elements than the limit can hold is
 * refused at its header, before any element arrives: 20 million nodes of
 * 40 bytes are over the default of 512 MiB. */
static void test_reader_default_max_memory_refuses_20_million_announced_elements(void **state) {
    (void)state;
    assert_int_equal(first_result(NULL, LIT("*20000000\r\n_\r\n")), RK_EPROTO);
    assert_message_mentions("max_memory limit of 536870912 bytes");
    assert_true(peak_bytes() < MIB);
}

/* A bulk string inside an aggregate is copied out of the buffer: its
 * length counts twice, and is known from its header. */
static void test_reader_bulk_in_an_array_over_max_memory_is_refused_at_its_header(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_memory = 16 * MIB};
    assert_int_equal(first_result(&opts, LIT("*1\r\n$9000000\r\nabc")), RK_EPROTO);
    assert_message_mentions("max_memory");
    assert_true(peak_bytes() < MIB);
}

/* 100 000 small strings and a 4 MB one in one reply cost about 16 MB:
 * under a 16 MiB limit they parse. The limit counts the reply's bytes
 * once; the read buffer, grown by doubling, may hold up to as much again. */
static void test_reader_reply_under_max_memory_parses_within_it(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_memory = 16 * MIB};
    rk_reader *rd = reader_with(&opts);
    text t = {0};
    text_puts(&t, "*100001\r\n");
    text_repeat(&t, "$5\r\nhello\r\n", 100000);
    text_random_bulk(&t, 4000000, 21);
    rk_reply r;
    assert_int_equal(feed_in_pieces(rd, t.data, t.len, &r), 1);
    assert_int_equal(rk_reply_len(&r), 100001);
    assert_string_equal(rk_reply_str(rk_reply_at(&r, 99999)), "hello");
    assert_int_equal(rk_reply_len(rk_reply_at(&r, 100000)), 4000000);
    assert_true(peak_bytes() <= 16 * MIB + (long long)t.len);
    rk_reply_free(&r);
    rk_reader_free(rd);
    free(t.data);
}

/* A reply that is one bulk string costs its length: max_bulk bounds it,
 * whether it arrives in pieces (received into its own block) or whole. */
static void test_reader_top_level_bulk_larger_than_max_memory_parses(void **state) {
    (void)state;
    rk_reader_opts opts = {.max_memory = 1 * MIB};
    text t = {0};
    text_random_bulk(&t, 3 * MIB, 22);
    for (int whole = 0; whole <= 1; whole++) {
        rk_reader *rd = reader_with(&opts);
        rk_reply r;
        int rc = whole ? rk_reader_feed(rd, t.data, t.len) : feed_in_pieces(rd, t.data, t.len, &r);
        if (whole && rc == RK_OK)
            rc = rk_reader_next(rd, &r);
        assert_int_equal(rc, 1);
        assert_int_equal(rk_reply_len(&r), 3 * MIB);
        rk_reply_free(&r);
        rk_reader_free(rd);
    }
    free(t.data);
}

/* A header announcing a huge bulk is 13 bytes: the block that receives it
 * must grow as its bytes arrive, not be allocated whole at the header. */
static void test_reader_announced_huge_bulk_costs_only_what_arrived(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    text t = {0};
    text_puts(&t, "$536870911\r\n");
    text_repeat(&t, "x", 100000);
    rk_reply r;
    assert_int_equal(feed_in_pieces(rd, t.data, t.len, &r), 0);
    assert_true(peak_bytes() < 8 * MIB);
    rk_reader_free(rd);
    free(t.data);
}

/* A bulk larger than the first direct block arrives whole and intact
 * through the block's regrowth, fed in pieces. */
static void test_reader_top_level_bulk_grows_its_block_as_it_arrives(void **state) {
    (void)state;
    text t = {0};
    text_random_bulk(&t, 20 * MIB + 7, 23);
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(feed_in_pieces(rd, t.data, t.len, &r), 1);
    assert_int_equal(rk_reply_len(&r), 20 * MIB + 7);
    const char *payload = strstr(t.data, "\r\n") + 2;
    assert_memory_equal(rk_reply_str(&r), payload, 20 * MIB + 7);
    rk_reply_free(&r);
    rk_reader_free(rd);
    free(t.data);
}

/* ---- malformed input ----------------------------------------------- */

static const struct {
    const char *name;
    const char *wire;
    size_t len;
} malformed[] = {
    {"unknown type byte", LIT("?foo\r\n")},
    {"CR followed by another byte", LIT("+OK\rX")},
    {"bulk followed by other bytes", LIT("$3\r\nfooXY")},
    {"integer with a letter", LIT(":12a\r\n")},
    {"empty integer", LIT(":\r\n")},
    {"integer with a NUL", LIT(":1\0\r\n")},
    {"bulk length -2", LIT("$-2\r\n")},
    {"array length -5", LIT("*-5\r\n")},
    {"integer overflow", LIT(":99999999999999999999\r\n")},
    {"bulk length overflow", LIT("$99999999999999999999\r\n")},
    {"double of letters", LIT(",abc\r\n")},
    {"double with a trailing letter", LIT(",1.5x\r\n")},
    {"boolean x", LIT("#x\r\n")},
    {"null with a payload", LIT("_x\r\n")},
    {"big number with a letter", LIT("(12a\r\n")},
    {"verbatim shorter than its format", LIT("=3\r\ntxt\r\n")},
    {"verbatim without ':'", LIT("=6\r\ntxtabc\r\n")},
    {"map length -1", LIT("%-1\r\n")},
    {"streamed attribute", LIT("|?\r\n")},
    {"streamed push", LIT(">?\r\n")},
    {"streamed blob error", LIT("!?\r\n")},
    {"bad chunk length", LIT("$?\r\n;x\r\n")},
    {"chunk in a streamed array", LIT("*?\r\n:1\r\n;3\r\n")},
    {"'.' at the top level", LIT(".\r\n")},
    {"'.' inside a counted array", LIT("*2\r\n:1\r\n.\r\n")},
    {"streamed map with an odd count", LIT("%?\r\n+a\r\n.\r\n")},
    {"attribute before '.'", LIT("*?\r\n|1\r\n+a\r\n+b\r\n.\r\n")},
    {"overlong length line", LIT("$1234567890123456789012345")},
    {"overlong count line", LIT("*0000000000000000000000000")},
    {"NUL byte", LIT("\0")},
    {"NUL type byte after a reply", LIT("+OK\r\n\0\r\n")},
};

static void test_reader_rejects_malformed_input(void **state) {
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        int rc = 0;
        rk_reader *rd = reader_with(NULL);
        rk_reply r;
        assert_int_equal(rk_reader_feed(rd, malformed[i].wire, malformed[i].len), RK_OK);
        while ((rc = rk_reader_next(rd, &r)) == 1)
            rk_reply_free(&r);
        rk_reader_free(rd);
        const char *msg = rk_error_last()->message;
        if (rc != RK_EPROTO || strstr(msg, "protocol error") == NULL) {
            print_error("%s: got %d \"%s\"\n", malformed[i].name, rc, rc < 0 ? msg : "");
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_reader_rejects_malformed_input_fed_byte_by_byte(void **state) {
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        const char *wire = malformed[i].wire;
        size_t len = malformed[i].len;
        if (len > 5 && memcmp(wire, "+OK\r\n", 5) == 0)
            wire += 5, len -= 5; /* the reply before the fault */
        int rc = first_result_bytewise(wire, len);
        if (rc != RK_EPROTO) {
            print_error("%s: got %d\n", malformed[i].name, rc);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* A line's end is looked for 8 bytes at a time (reader.c): every length
 * from empty to past three words, of a status, an integer, a double and
 * a bulk's length, read whole and byte by byte, with a reply after it so
 * that the search has bytes to spare; and a bare LF at every place is
 * refused, never taken for the line's end nor skipped. */
static void test_reader_finds_line_ends_at_every_position(void **state) {
    (void)state;
    for (size_t n = 0; n <= 30; n++) {
        char wire[96], digits[32];
        for (size_t i = 0; i < n; i++)
            digits[i] = (char)('1' + i % 9);
        digits[n] = '\0';
        int len = snprintf(wire, sizeof wire, "+%s\r\n:7\r\n", digits);
        rk_reader *rd = reader_with(NULL);
        rk_reply r;
        assert_int_equal(rk_reader_feed(rd, wire, (size_t)len), RK_OK);
        assert_int_equal(rk_reader_next(rd, &r), 1);
        assert_int_equal(rk_reply_len(&r), n);
        assert_memory_equal(rk_reply_str(&r), digits, n);
        rk_reply_free(&r);
        assert_int_equal(rk_reader_next(rd, &r), 1);
        assert_int_equal(rk_reply_int(&r), 7);
        rk_reader_free(rd);
        assert_int_equal(first_result_bytewise(wire, (size_t)len), 1);
        if (n >= 1 && n <= 18) { /* an integer, and a bulk of that many digits' length */
            len = snprintf(wire, sizeof wire, ":%s\r\n+OK\r\n", digits);
            assert_int_equal(first_result(NULL, wire, (size_t)len), 1);
            assert_int_equal(first_result_bytewise(wire, (size_t)len), 1);
            len = snprintf(wire, sizeof wire, ",%s.5\r\n+OK\r\n", digits);
            rd = reader_with(NULL);
            assert_int_equal(rk_reader_feed(rd, wire, (size_t)len), RK_OK);
            assert_int_equal(rk_reader_next(rd, &r), 1);
            assert_int_equal(rk_reply_type(&r), RK_REPLY_DOUBLE);
            rk_reply_free(&r);
            rk_reader_free(rd);
        }
        for (size_t at = 0; at <= n; at++) { /* "+dd\ndd\r\n": a bare LF */
            len = snprintf(wire, sizeof wire, "+%.*s\n%s\r\n:7\r\n", (int)at, digits, digits + at);
            assert_int_equal(first_result(NULL, wire, (size_t)len), RK_EPROTO);
            len = snprintf(wire, sizeof wire, "*1\r\n:%.*s\n%s\r\n:7\r\n", (int)at, digits,
                           digits + at);
            assert_int_equal(first_result(NULL, wire, (size_t)len), RK_EPROTO);
        }
    }
}

static void test_reader_rejects_lf_without_cr(void **state) {
    (void)state;
    assert_int_equal(first_result(NULL, LIT("+OK\n")), RK_EPROTO);
}

static void test_reader_rejects_bulk_followed_by_lf_without_cr(void **state) {
    (void)state;
    assert_int_equal(first_result(NULL, LIT("$3\r\nfoo\n")), RK_EPROTO);
}

static void test_reader_rejects_overlong_length_line_without_waiting(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, LIT("*1234567890123456789012")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), RK_EPROTO);
    assert_message_mentions("too long");
    rk_reader_free(rd);
}

static void test_reader_error_message_gives_the_stream_offset(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(rk_reader_feed(rd, LIT("+OK\r\n")), RK_OK);
        assert_int_equal(rk_reader_next(rd, &r), 1);
    }
    assert_int_equal(rk_reader_feed(rd, LIT("?x\r\n")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), RK_EPROTO);
    assert_message_mentions("offset 5000");
    rk_reader_free(rd);
}

/* Random bytes (biased towards RESP's own characters to get deep into
 * the parser) must give replies or RK_EPROTO, and never crash. */
static void test_reader_survives_random_garbage(void **state) {
    (void)state;
    static const char resp_chars[] = "+-:$*%~>|_,#(!=;.?\r\n\r\n0123456789-tfx";
    rk_reader_opts opts = {.max_bulk = 1 << 20};
    for (uint64_t seed = 1; seed <= 3000; seed++) {
        uint64_t s = seed * 0x9E3779B97F4A7C15ull;
        char buf[64];
        size_t len = 1 + next_rand(&s) % sizeof(buf);
        for (size_t i = 0; i < len; i++) {
            uint64_t x = next_rand(&s);
            buf[i] = (x & 1) ? resp_chars[(x >> 8) % (sizeof(resp_chars) - 1)] : (char)(x >> 56);
        }
        rk_reader *rd = reader_with(&opts);
        int rc = 0;
        for (size_t at = 0; at < len && rc >= 0;) {
            size_t n = 1 + next_rand(&s) % 8;
            n = MIN(n, len - at);
            rc = rk_reader_feed(rd, buf + at, n);
            at += n;
            rk_reply r;
            while (rc >= 0 && (rc = rk_reader_next(rd, &r)) == 1) {
                assert_true(rkt_same_reply(&r, &r));
                rk_reply_free(&r);
            }
        }
        assert_true(rc == 0 || rc == RK_EPROTO);
        rk_reader_free(rd);
    }
}

/* Valid replies with a few bytes changed, dropped or cut off must give
 * replies or RK_EPROTO, and never crash. */
static void test_reader_survives_mutated_replies(void **state) {
    (void)state;
    size_t kinds = sizeof(corpus_items) / sizeof(corpus_items[0]);
    for (uint64_t seed = 1; seed <= 4000; seed++) {
        uint64_t s = seed * 0xD1B54A32D192ED03ull;
        char buf[256];
        size_t len = corpus_items[seed % kinds].len;
        memcpy(buf, corpus_items[seed % kinds].wire, len);
        for (int m = 1 + (int)(next_rand(&s) % 3); m > 0 && len > 1; m--) {
            uint64_t x = next_rand(&s);
            size_t at = (size_t)(x >> 16) % len;
            if (x % 3 == 0)
                buf[at] = (char)(x >> 8);
            else if (x % 3 == 1)
                memmove(buf + at, buf + at + 1, --len - at);
            else
                len = at + 1;
        }
        rk_reader *rd = reader_with(NULL);
        int rc = rk_reader_feed(rd, buf, len);
        rk_reply r;
        while (rc >= 0 && (rc = rk_reader_next(rd, &r)) == 1) {
            assert_true(rkt_same_reply(&r, &r));
            rk_reply_free(&r);
        }
        assert_true(rc == 0 || rc == RK_EPROTO);
        rk_reader_free(rd);
    }
}

/* ---- reset, buffered, zero-copy feeding ---------------------------- */

static void test_reset_drops_a_half_read_reply(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, LIT("*2\r\n:1\r\n")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 0);
    rk_reader_reset(rd);
    assert_int_equal(rk_reader_buffered(rd), 0);
    assert_int_equal(rk_reader_feed(rd, LIT("+OK\r\n")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_STATUS);
    rk_reply_free(&r);
    rk_reader_free(rd);
}

static void test_reset_drops_a_half_received_large_bulk(void **state) {
    (void)state;
    text t = {0};
    text_random_bulk(&t, 100000, 15);
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, t.data, 5000), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 0);
    rk_reader_reset(rd);
    assert_int_equal(rk_reader_buffered(rd), 0);
    assert_int_equal(rk_reader_feed(rd, LIT(":7\r\n")), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    assert_true(rk_reply_int(&r) == 7);
    rk_reader_free(rd);
    free(t.data);
}

static void test_buffered_counts_bytes_not_yet_returned(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_buffered(rd), 0);
    assert_int_equal(rk_reader_feed(rd, LIT("+OK\r\n:1\r\n$5\r\nhel")), RK_OK);
    assert_int_equal(rk_reader_buffered(rd), 16);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    assert_int_equal(rk_reader_buffered(rd), 11);
    assert_int_equal(rk_reader_next(rd, &r), 1);
    assert_int_equal(rk_reader_buffered(rd), 7);
    assert_int_equal(rk_reader_next(rd, &r), 0);
    assert_int_equal(rk_reader_buffered(rd), 7);
    rk_reader_free(rd);
}

/* A caller deciding whether a connection is idle asks rk_reader_buffered;
 * it must not say 0 while a large bulk's header has been taken. */
static void test_buffered_counts_a_large_bulk_being_received(void **state) {
    (void)state;
    text t = {0};
    text_random_bulk(&t, 100000, 16);
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, t.data, 9), RK_OK); /* "$100000\r\n" */
    assert_int_equal(rk_reader_next(rd, &r), 0);
    assert_int_equal(rk_reader_buffered(rd), 9);
    assert_int_equal(rk_reader_feed(rd, t.data + 9, 1000), RK_OK);
    assert_int_equal(rk_reader_next(rd, &r), 0);
    assert_int_equal(rk_reader_buffered(rd), 1009);
    rk_reader_free(rd);
    free(t.data);
}

/* While a large bulk arrives straight into its reply's block, the space
 * offered is the rest of that bulk (CRLF included), even if more is asked
 * for: a read into it can never run past the reply. */
static void test_space_is_the_rest_of_a_large_bulk_being_received(void **state) {
    (void)state;
    text t = {0};
    text_random_bulk(&t, 100000, 17);
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, t.data, 1000), RK_OK); /* header + 991 bytes */
    assert_int_equal(rk_reader_next(rd, &r), 0);
    size_t avail = 0;
    assert_non_null(rk_reader_space(rd, 200000, &avail));
    assert_int_equal(avail, 100000 + 2 - 991);
    rk_reader_free(rd);
    free(t.data);
}

static void test_commit_of_more_than_the_space_is_einval(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    size_t avail = 0;
    assert_non_null(rk_reader_space(rd, 10, &avail));
    assert_int_equal(rk_reader_commit(rd, avail + 1), RK_EINVAL);
    assert_int_equal(rk_reader_buffered(rd), 0);
    rk_reader_free(rd);
}

/* ---- out of memory ------------------------------------------------- */

static void test_next_without_memory_for_an_aggregate_is_enomem(void **state) {
    (void)state;
    rk_reader *rd = reader_with(NULL);
    rk_reply r;
    assert_int_equal(rk_reader_feed(rd, LIT("*2\r\n$10\r\n0123456789\r\n:1\r\n")), RK_OK);
    rkt_alloc_fail_nth(1);
    assert_int_equal(rk_reader_next(rd, &r), RK_ENOMEM);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_error_last()->code, RK_ENOMEM);
    assert_int_equal(rkt_alloc_stats_now().failed, 1);
    rk_reader_free(rd);
}

static void test_reader_new_without_memory_returns_null(void **state) {
    (void)state;
    for (size_t nth = 1; nth <= 2; nth++) {
        rkt_alloc_fail_nth(nth);
        assert_null(rk_reader_new(NULL));
        assert_int_equal(rk_error_last()->code, RK_ENOMEM);
        assert_int_equal(rkt_alloc_live(), 0);
    }
}

/* Fails each allocation in turn while reading a varied stream: every run
 * ends in replies or RK_ENOMEM, and leaks nothing. */
static void test_reader_survives_every_failed_allocation(void **state) {
    (void)state;
    text t = {0};
    text_puts(
        &t, "+OK\r\n*2\r\n$10\r\n0123456789\r\n:1\r\n$?\r\n;9\r\n123456789\r\n;0\r\n"
            "%?\r\n+a\r\n*?\r\n$8\r\nabcdefgh\r\n.\r\n.\r\n|1\r\n+a\r\n+b\r\n$9\r\nattached!\r\n");
    text_random_bulk(&t, 70000, 18);
    text_puts(&t, ":1\r\n");
    for (size_t nth = 1; nth < 1000; nth++) {
        size_t failed = rkt_alloc_stats_now().failed;
        rkt_alloc_fail_nth(nth);
        rk_reader *rd = rk_reader_new(NULL);
        int rc = 0;
        for (size_t at = 0; rd && at < t.len && rc >= 0; at += 7) {
            rc = rk_reader_feed(rd, t.data + at, MIN(7, t.len - at));
            rk_reply r;
            for (int i = 0; i < 2 && rc >= 0; i++) {
                bool borrowed = (at / 7 + (size_t)i) % 2;
                rc = borrowed ? rk_reader_next_borrowed(rd, &r) : rk_reader_next(rd, &r);
                if (rc == 1 && !borrowed)
                    rk_reply_free(&r);
            }
        }
        assert_true(rc >= 0 || rc == RK_ENOMEM);
        rk_reader_free(rd);
        rkt_alloc_fail_nth(0);
        assert_int_equal(rkt_alloc_live(), 0);
        if (rkt_alloc_stats_now().failed == failed)
            break; /* this run needed fewer allocations: all were tried */
    }
    free(t.data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST(test_reader_parses_simple_string),
        TEST(test_reader_parses_simple_error),
        TEST(test_reader_parses_integer),
        TEST(test_reader_parses_integer_limits),
        TEST(test_reader_parses_bulk_string),
        TEST(test_reader_parses_empty_bulk_string),
        TEST(test_reader_parses_binary_bulk_with_nul_and_crlf),
        TEST(test_reader_parses_null_bulk_as_nil),
        TEST(test_reader_parses_array),
        TEST(test_reader_parses_null_array_as_nil),
        TEST(test_reader_parses_empty_array),
        TEST(test_reader_parses_resp3_null),
        TEST(test_reader_parses_double_keeping_its_text),
        TEST(test_reader_parses_double_infinities),
        TEST(test_reader_parses_double_nan),
        TEST(test_reader_parses_booleans),
        TEST(test_reader_parses_big_number),
        TEST(test_reader_parses_blob_error),
        TEST(test_reader_parses_verbatim_txt_without_its_prefix),
        TEST(test_reader_parses_verbatim_mkd),
        TEST(test_reader_parses_map),
        TEST(test_reader_parses_set),
        TEST(test_reader_parses_push),
        TEST(test_reader_attaches_attribute_to_the_next_top_level_reply),
        TEST(test_reader_attaches_attribute_inside_an_array),
        TEST(test_reader_never_returns_an_attribute_alone),
        TEST(test_reader_rejects_two_attributes_in_a_row),
        TEST(test_reader_parses_streamed_string),
        TEST(test_reader_parses_streamed_array),
        TEST(test_reader_parses_streamed_map),
        TEST(test_reader_parses_streamed_set),
        TEST(test_reader_parses_nested_streamed_aggregates),
        TEST(test_reader_resumes_after_split_in_crlf),
        TEST(test_reader_resumes_after_split_in_bulk_payload),
        TEST(test_reader_accepts_long_double_split_before_its_cr),
        TEST(test_reader_accepts_long_big_number_split_before_its_cr),
        TEST(test_reader_refuses_overlong_double_however_it_arrives),
        TEST(test_corpus_fed_whole_gives_every_reply),
        TEST(test_corpus_fed_byte_by_byte_gives_the_same_replies),
        TEST(test_corpus_fed_in_random_chunks_gives_the_same_replies),
        TEST(test_corpus_through_space_and_commit_in_small_chunks),
        TEST(test_corpus_through_space_and_commit_in_big_chunks),
        TEST(test_borrowed_corpus_gives_the_same_replies),
        TEST(test_borrowed_strings_point_into_the_read_buffer),
        TEST(test_borrowed_small_replies_allocate_nothing_after_warm_up),
        TEST(test_dup_of_borrowed_reply_survives_further_feeding),
        TEST(test_free_of_borrowed_reply_releases_nothing),
        TEST(test_free_of_borrowed_large_bulk_releases_nothing),
        TEST(test_reader_gives_back_what_one_large_reply_grew),
        TEST(test_reader_keeps_its_memory_while_large_replies_keep_coming),
        TEST(test_status_ok_allocates_nothing),
        TEST(test_integer_allocates_nothing),
        TEST(test_nil_allocates_nothing),
        TEST(test_bulk_of_seven_bytes_allocates_nothing),
        TEST(test_boolean_allocates_nothing),
        TEST(test_short_double_allocates_nothing),
        TEST(test_longer_bulk_allocates_one_block),
        TEST(test_array_of_1000_bulks_allocates_one_block),
        TEST(test_nested_map_allocates_one_block),
        TEST(test_reply_free_releases_every_block),
        TEST(test_reader_freed_mid_reply_leaks_nothing),
        TEST(test_reader_freed_with_a_reply_on_loan_leaks_nothing),
        TEST(test_reader_reads_100_nested_arrays_with_max_depth_128),
        TEST(test_reader_reads_a_command_docs_shape),
        TEST(test_reader_allows_64_levels_by_default),
        TEST(test_reader_rejects_65_levels_by_default),
        TEST(test_reader_new_rejects_max_depth_over_4096),
        TEST(test_reader_new_rejects_max_memory_under_4096),
        TEST(test_reader_max_bulk_is_a_sticky_protocol_error),
        TEST(test_reader_max_bulk_bounds_a_streamed_string_in_total),
        TEST(test_reader_max_elements_is_a_sticky_protocol_error),
        TEST(test_reader_max_elements_counts_map_pairs),
        TEST(test_reader_max_elements_bounds_a_streamed_array),
        TEST(test_reader_max_elements_bounds_a_streamed_map),
        TEST(test_reader_max_depth_is_a_sticky_protocol_error),
        TEST(test_reader_max_buffer_is_a_sticky_protocol_error),
        TEST(test_reader_stream_of_nulls_is_refused_before_passing_max_memory),
        TEST(test_reader_default_max_memory_refuses_20_million_announced_elements),
        TEST(test_reader_bulk_in_an_array_over_max_memory_is_refused_at_its_header),
        TEST(test_reader_reply_under_max_memory_parses_within_it),
        TEST(test_reader_top_level_bulk_larger_than_max_memory_parses),
        TEST(test_reader_announced_huge_bulk_costs_only_what_arrived),
        TEST(test_reader_top_level_bulk_grows_its_block_as_it_arrives),
        TEST(test_reader_rejects_malformed_input),
        TEST(test_reader_rejects_malformed_input_fed_byte_by_byte),
        TEST(test_reader_finds_line_ends_at_every_position),
        TEST(test_reader_rejects_lf_without_cr),
        TEST(test_reader_rejects_bulk_followed_by_lf_without_cr),
        TEST(test_reader_rejects_overlong_length_line_without_waiting),
        TEST(test_reader_error_message_gives_the_stream_offset),
        TEST(test_reader_survives_random_garbage),
        TEST(test_reader_survives_mutated_replies),
        TEST(test_reset_drops_a_half_read_reply),
        TEST(test_reset_drops_a_half_received_large_bulk),
        TEST(test_buffered_counts_bytes_not_yet_returned),
        TEST(test_buffered_counts_a_large_bulk_being_received),
        TEST(test_space_is_the_rest_of_a_large_bulk_being_received),
        TEST(test_commit_of_more_than_the_space_is_einval),
        TEST(test_next_without_memory_for_an_aggregate_is_enomem),
        TEST(test_reader_new_without_memory_returns_null),
        TEST(test_reader_survives_every_failed_allocation),
    };
    return cmocka_run_group_tests(tests, corpus_setup, corpus_teardown);
}
