/* Reply shapes (src/resp/shape.c) with no server: a reply read from
 * RESP2 bytes, bent into a shape, must equal the same reply read from the
 * RESP3 bytes a server would send; what does not fit a shape is left
 * alone; out of memory leaves the reply as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rediskit/alloc.h"
#include "rediskit/error.h"
#include "resp/shape.h"
#include "rkt_alloc.h"
#include "rkt_resp.h"

/* Reads `in`, bends it into shape, and compares it with `want` read. */
static void expect_shaped(const char *in, const char *shape, const char *want) {
    rk_reply got, expected;
    rkt_parse(in, strlen(in), &got);
    rkt_parse(want, strlen(want), &expected);
    assert_int_equal(rk_reshape(&got, shape), RK_OK);
    if (!rkt_same_reply(&got, &expected)) {
        char *g = rk_reply_format(&got, 0, NULL), *w = rk_reply_format(&expected, 0, NULL);
        print_error("shape %s\ngot:\n%swant:\n%s", shape, g, w);
        rk_free(g);
        rk_free(w);
        fail();
    }
    rk_reply_free(&got);
    rk_reply_free(&expected);
}

/* The shape leaves the reply exactly as it was read. */
static void expect_unchanged(const char *in, const char *shape) {
    expect_shaped(in, shape, in);
}

static void test_flat_array_becomes_a_map(void **state) {
    (void)state;
    expect_shaped("*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n", "m..",
                  "%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n");
}

static void test_resp3_map_keeps_its_form(void **state) {
    (void)state;
    expect_unchanged("%1\r\n$1\r\na\r\n$1\r\n1\r\n", "m..");
}

static void test_odd_length_array_is_not_a_map(void **state) {
    (void)state;
    expect_unchanged("*3\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n", "m..");
}

static void test_numeric_bulk_becomes_a_double_and_text_stays(void **state) {
    (void)state;
    expect_shaped("$3\r\n1.5\r\n", "d", ",1.5\r\n");
    expect_shaped("$4\r\n-inf\r\n", "d", ",-inf\r\n");
    expect_unchanged("$3\r\nabc\r\n", "d");
}

static void test_nil_and_errors_are_left_alone(void **state) {
    (void)state;
    const char *shapes[] = {"d", "s", "m..", "p.d", "i", "a(.m..)", "{x=d}", "$I"};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        expect_unchanged("$-1\r\n", shapes[i]);
        expect_unchanged("*-1\r\n", shapes[i]);
        expect_unchanged("-ERR no\r\n", shapes[i]);
        expect_unchanged(":7\r\n", shapes[i]);
    }
}

static void test_array_becomes_a_set(void **state) {
    (void)state;
    expect_shaped("*2\r\n$1\r\nx\r\n$1\r\ny\r\n", "s", "~2\r\n$1\r\nx\r\n$1\r\ny\r\n");
    expect_shaped("*0\r\n", "s", "~0\r\n");
}

/* ZRANGE WITHSCORES: RESP2 flat strings, RESP3 [member, double] pairs. */
static void test_withscores_pairs_match_resp3(void **state) {
    (void)state;
    const char *resp3 = "*2\r\n*2\r\n$1\r\na\r\n,1.5\r\n*2\r\n$1\r\nb\r\n,2\r\n";
    expect_shaped("*4\r\n$1\r\na\r\n$3\r\n1.5\r\n$1\r\nb\r\n$1\r\n2\r\n", "p.d", resp3);
    expect_unchanged(resp3, "p.d");
    expect_shaped("*0\r\n", "p.d", "*0\r\n");
}

/* A list that starts like RESP3's pairs but goes on with other things:
 * the pairs are shaped, the rest left alone (the fuzzer's first find). */
static void test_pairs_among_other_elements(void **state) {
    (void)state;
    expect_shaped("*4\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n+x\r\n*0\r\n*3\r\n:1\r\n:2\r\n:3\r\n", "p.d",
                  "*4\r\n*2\r\n$1\r\na\r\n,1\r\n+x\r\n*0\r\n*3\r\n:1\r\n:2\r\n:3\r\n");
}

/* ZPOPMIN without a count on RESP3 is one flat pair: still a list of pairs. */
static void test_single_flat_pair_becomes_a_list_of_one_pair(void **state) {
    (void)state;
    expect_shaped("*2\r\n$1\r\na\r\n,1\r\n", "p.d", "*1\r\n*2\r\n$1\r\na\r\n,1\r\n");
}

/* XREAD: RESP2 [[key, entries]...], RESP3 a map of key to entries, and each
 * entry's fields a map. */
static void test_xread_matches_resp3(void **state) {
    (void)state;
    const char *entry2 = "*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n";
    const char *entry3 = "*2\r\n$3\r\n1-0\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n";
    char in[256], want[256];
    snprintf(in, sizeof in, "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n%s", entry2);
    snprintf(want, sizeof want, "%%1\r\n$1\r\ns\r\n*1\r\n%s", entry3);
    expect_shaped(in, "k.a(.m..)", want);
    snprintf(in, sizeof in, "%%1\r\n$1\r\ns\r\n*1\r\n%s", entry2);
    expect_shaped(in, "k.a(.m..)", want);
}

static void test_tuple_shapes_only_its_positions(void **state) {
    (void)state;
    expect_shaped("*3\r\n$1\r\nk\r\n$1\r\nm\r\n$1\r\n3\r\n", "(..d)",
                  "*3\r\n$1\r\nk\r\n$1\r\nm\r\n,3\r\n");
    expect_shaped("*4\r\n$1\r\nk\r\n$1\r\nm\r\n$1\r\n3\r\n$1\r\n4\r\n", "(..d)",
                  "*4\r\n$1\r\nk\r\n$1\r\nm\r\n,3\r\n$1\r\n4\r\n");
}

/* A last part *X shapes its element and every one after it (CLUSTER
 * SLOTS: start, end, then any number of nodes). */
static void test_tuple_star_part_shapes_every_later_element(void **state) {
    (void)state;
    expect_shaped(
        "*4\r\n:0\r\n:9\r\n*2\r\n$1\r\na\r\n*0\r\n*2\r\n$1\r\nb\r\n*2\r\n$1\r\nh\r\n$1\r\nx\r\n",
        "(..*(.m..))",
        "*4\r\n:0\r\n:9\r\n*2\r\n$1\r\na\r\n%0\r\n*2\r\n$1\r\nb\r\n%1\r\n$1\r\nh\r\n$1\r\nx\r\n");
    expect_shaped("*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n", "(.*d)",
                  "*3\r\n$1\r\n1\r\n,2\r\n,3\r\n");
    expect_unchanged("*2\r\n:0\r\n:9\r\n", "(..*(.m..))");
}

static void test_keyed_map_shapes_values_by_key(void **state) {
    (void)state;
    expect_shaped("*6\r\n$5\r\nflags\r\n*1\r\n$2\r\non\r\n$4\r\nrate\r\n$3\r\n0.5\r\n"
                  "$4\r\nname\r\n$3\r\n1.5\r\n",
                  "{flags=s,rate=d}",
                  "%3\r\n$5\r\nflags\r\n~1\r\n$2\r\non\r\n$4\r\nrate\r\n,0.5\r\n"
                  "$4\r\nname\r\n$3\r\n1.5\r\n");
}

static void test_keyed_map_prefix_matches_every_key_it_starts(void **state) {
    (void)state;
    expect_shaped(
        "*4\r\n$4\r\ndb.0\r\n*2\r\n$1\r\nk\r\n:1\r\n$4\r\ndb.9\r\n*2\r\n$1\r\nk\r\n:2\r\n",
        "{db.*={}}",
        "%2\r\n$4\r\ndb.0\r\n%1\r\n$1\r\nk\r\n:1\r\n$4\r\ndb.9\r\n%1\r\n$1\r\nk\r\n:2\r\n");
}

/* COMMAND DOCS nests arguments in arguments: the named shape recurses. */
static void test_named_shape_recurses_into_nested_arguments(void **state) {
    (void)state;
    const char *in = "*2\r\n$3\r\nget\r\n"
                     "*2\r\n$9\r\narguments\r\n"
                     "*1\r\n*4\r\n$5\r\nflags\r\n*1\r\n$8\r\noptional\r\n"
                     "$9\r\narguments\r\n*1\r\n*2\r\n$5\r\nflags\r\n*0\r\n";
    const char *want = "%1\r\n$3\r\nget\r\n"
                       "%1\r\n$9\r\narguments\r\n"
                       "*1\r\n%2\r\n$5\r\nflags\r\n~1\r\n$8\r\noptional\r\n"
                       "$9\r\narguments\r\n*1\r\n%1\r\n$5\r\nflags\r\n~0\r\n";
    expect_shaped(in, "m.$D", want);
}

static void test_info_text_becomes_a_map_of_sections(void **state) {
    (void)state;
    const char *text = "# Server\r\nredis_version:7.0.15\r\nrun_id:ab:cd\r\n\r\n"
                       "# Keyspace\r\ndb0:keys=1,expires=0\r\n";
    char in[256], verbatim[256];
    snprintf(in, sizeof in, "$%zu\r\n%s\r\n", strlen(text), text);
    snprintf(verbatim, sizeof verbatim, "=%zu\r\ntxt:%s\r\n", strlen(text) + 4, text);
    const char *want = "%2\r\n"
                       "$6\r\nServer\r\n%2\r\n$13\r\nredis_version\r\n$6\r\n7.0.15\r\n"
                       "$6\r\nrun_id\r\n$5\r\nab:cd\r\n"
                       "$8\r\nKeyspace\r\n%1\r\n$3\r\ndb0\r\n$16\r\nkeys=1,expires=0\r\n";
    expect_shaped(in, "i", want);
    expect_shaped(verbatim, "i", want);
}

static void test_info_fields_before_any_section_go_in_an_unnamed_one(void **state) {
    (void)state;
    expect_shaped("$3\r\na:1\r\n", "i", "%1\r\n$0\r\n\r\n%1\r\n$1\r\na\r\n$1\r\n1\r\n");
    expect_shaped("$0\r\n\r\n", "i", "%0\r\n");
}

/* Whatever allocation fails, the reply is left as it was read. */
static void test_out_of_memory_leaves_the_reply_as_it_was(void **state) {
    (void)state;
    const char *in = "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n";
    for (size_t nth = 1;; nth++) {
        rk_reply r, orig;
        rkt_parse(in, strlen(in), &r);
        rkt_parse(in, strlen(in), &orig);
        size_t failed_before = rkt_alloc_stats_now().failed;
        rkt_alloc_fail_nth(nth);
        int rc = rk_reshape(&r, "k.a(.m..)");
        size_t failed = rkt_alloc_stats_now().failed - failed_before;
        rkt_alloc_fail_nth(0);
        if (rc == RK_OK) {
            assert_int_equal(failed, 0); /* every allocation had its turn */
            rk_reply_free(&r);
            rk_reply_free(&orig);
            break;
        }
        assert_int_equal(rc, RK_ENOMEM);
        assert_true(rkt_same_reply(&r, &orig));
        rk_reply_free(&r);
        rk_reply_free(&orig);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flat_array_becomes_a_map),
        cmocka_unit_test(test_resp3_map_keeps_its_form),
        cmocka_unit_test(test_odd_length_array_is_not_a_map),
        cmocka_unit_test(test_numeric_bulk_becomes_a_double_and_text_stays),
        cmocka_unit_test(test_nil_and_errors_are_left_alone),
        cmocka_unit_test(test_array_becomes_a_set),
        cmocka_unit_test(test_withscores_pairs_match_resp3),
        cmocka_unit_test(test_single_flat_pair_becomes_a_list_of_one_pair),
        cmocka_unit_test(test_pairs_among_other_elements),
        cmocka_unit_test(test_xread_matches_resp3),
        cmocka_unit_test(test_tuple_shapes_only_its_positions),
        cmocka_unit_test(test_tuple_star_part_shapes_every_later_element),
        cmocka_unit_test(test_keyed_map_shapes_values_by_key),
        cmocka_unit_test(test_keyed_map_prefix_matches_every_key_it_starts),
        cmocka_unit_test(test_named_shape_recurses_into_nested_arguments),
        cmocka_unit_test(test_info_text_becomes_a_map_of_sections),
        cmocka_unit_test(test_info_fields_before_any_section_go_in_an_unnamed_one),
        cmocka_unit_test_setup_teardown(test_out_of_memory_leaves_the_reply_as_it_was,
                                        rkt_alloc_setup, rkt_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
