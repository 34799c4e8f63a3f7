/* Typed commands of the sorted set and geo groups against a real server, on
 * RESP2 and RESP3: the arguments they send, the checks made before sending,
 * and the one reply shape both protocols give (scores as doubles,
 * WITHSCORES as [member, double] pairs, geo members as
 * [member, dist?, hash?, [lon, lat]?]). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rkt_cmd.h"

/* ---- helpers ------------------------------------------------------------ */

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* r is a string equal to s. */
static void expect_str(const rk_reply *r, const char *s) {
    if (r == NULL)
        fail_msg("expected \"%s\", got no element", s);
    if (rk_reply_type(r) != RK_REPLY_STRING)
        fail_msg("expected the string \"%s\", got a %s", s, rk_type_name(rk_reply_type(r)));
    assert_string_equal(rk_reply_str(r), s);
}

/* got is within eps of want. */
static void expect_close(double got, double want, double eps) {
    if (!(fabs(got - want) <= eps))
        fail_msg("expected %.17g (within %g), got %.17g", want, eps, got);
}

/* r is a double reply equal to d exactly. */
static void expect_double(const rk_reply *r, double d) {
    if (r == NULL)
        fail_msg("expected the double %.17g, got no element", d);
    if (rk_reply_type(r) != RK_REPLY_DOUBLE)
        fail_msg("expected the double %.17g, got a %s (%s)", d, rk_type_name(rk_reply_type(r)),
                 rk_reply_str(r) ? rk_reply_str(r) : "");
    double got = rk_reply_double(r);
    if (!(got == d))
        fail_msg("expected the double %.17g, got %.17g", d, got);
}

/* r is a double reply within eps of d. */
static void expect_near(const rk_reply *r, double d, double eps) {
    if (r == NULL)
        fail_msg("expected a double near %.17g, got no element", d);
    if (rk_reply_type(r) != RK_REPLY_DOUBLE)
        fail_msg("expected a double near %.17g, got a %s", d, rk_type_name(rk_reply_type(r)));
    double got = rk_reply_double(r);
    if (!(fabs(got - d) <= eps))
        fail_msg("expected a double near %.17g, got %.17g", d, got);
}

/* r is the pair [member, score] with score a double equal to score. */
static void expect_pair(const rk_reply *r, const char *member, double score) {
    if (r == NULL)
        fail_msg("expected the pair [%s, %g], got no element", member, score);
    rkt_expect_shape(r, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(r, 0), member);
    expect_double(rk_reply_at(r, 1), score);
}

/* r is an array of these member strings, in order. */
static void expect_members(const rk_reply *r, const char *const *members, size_t n) {
    rkt_expect_shape(r, RK_REPLY_ARRAY, n);
    for (size_t i = 0; i < n; i++)
        expect_str(rk_reply_at(r, i), members[i]);
}

/* r is [lon, lat], two doubles close to these (geohash precision). */
static void expect_lonlat(const rk_reply *r, double lon, double lat) {
    rkt_expect_shape(r, RK_REPLY_ARRAY, 2);
    expect_near(rk_reply_at(r, 0), lon, 1e-5);
    expect_near(rk_reply_at(r, 1), lat, 1e-5);
}

/* z = {a:1, b:2, c:3}, or any key. */
static void seed_abc(rk_client *c, const char *key) {
    long long n = -1;
    rk_reply r;
    RKT_OK(rk_zadd(c, key,
                   (rk_zadd_score_member[]){{1, RK_STR("a")}, {2, RK_STR("b")}, {3, RK_STR("c")}},
                   3, NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_INTEGER);
    n = rk_reply_int(&r);
    assert_int_equal(n, 3);
    rk_reply_free(&r);
}

static double score_of(rk_client *c, const char *key, const char *member) {
    double d = NAN;
    RKT_OK(rk_zscore(c, key, member, &d));
    return d;
}

static long long card(rk_client *c, const char *key) {
    long long n = -1;
    RKT_OK(rk_zcard(c, key, &n));
    return n;
}

/* Statistics reset, so cmdstat_<name> shows whether a command reached the
 * server since. */
static void reset_stats(void) {
    free(rkt_server_cmd(&rkt_shared, "CONFIG", "RESETSTAT", NULL));
}

static bool server_saw(const char *cmdstat) {
    char *info = rkt_server_cmd(&rkt_shared, "INFO", "commandstats", NULL);
    assert_non_null(info);
    bool seen = strstr(info, cmdstat) != NULL;
    free(info);
    return seen;
}

/* The Sicily of the Redis documentation. */
#define PALERMO_LON 13.361389
#define PALERMO_LAT 38.115556
#define CATANIA_LON 15.087269
#define CATANIA_LAT 37.502669

static void seed_sicily(rk_client *c) {
    long long n = -1;
    RKT_OK(rk_geoadd(c, "Sicily",
                     (rk_geoadd_longitude_latitude_member[]){
                         {PALERMO_LON, PALERMO_LAT, RK_STR("Palermo")},
                         {CATANIA_LON, CATANIA_LAT, RK_STR("Catania")},
                     },
                     2, NULL, &n));
    assert_int_equal(n, 2);
}

/* Sicily plus two points near the corners of a 400 km box around (15, 37). */
static void seed_sicily_edges(rk_client *c) {
    seed_sicily(c);
    long long n = -1;
    RKT_OK(rk_geoadd(c, "Sicily",
                     (rk_geoadd_longitude_latitude_member[]){
                         {12.758489, 38.788135, RK_STR("edge1")},
                         {17.241510, 38.788135, RK_STR("edge2")},
                     },
                     2, NULL, &n));
    assert_int_equal(n, 2);
}

/* ---- ZADD --------------------------------------------------------------- */

static void test_zadd_returns_the_number_of_new_members(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(
        rk_zadd(c, "z", (rk_zadd_score_member[]){{5, RK_STR("a")}, {4, RK_STR("d")}}, 2, NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_INTEGER);
    assert_int_equal(rk_reply_int(&r), 1);
    rk_reply_free(&r);
    assert_true(score_of(c, "z", "a") == 5);
    rk_client_free(c);
}

static void test_zadd_nx_adds_only_new_members(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zadd(c, "z", (rk_zadd_score_member[]){{9, RK_STR("a")}, {4, RK_STR("d")}}, 2,
                   &(rk_zadd_opts){.nx = true}, &r));
    assert_int_equal(rk_reply_int(&r), 1);
    rk_reply_free(&r);
    assert_true(score_of(c, "z", "a") == 1);
    assert_true(score_of(c, "z", "d") == 4);
    rk_client_free(c);
}

static void test_zadd_xx_updates_only_existing_members(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zadd(c, "z", (rk_zadd_score_member[]){{9, RK_STR("a")}, {4, RK_STR("d")}}, 2,
                   &(rk_zadd_opts){.xx = true}, &r));
    assert_int_equal(rk_reply_int(&r), 0);
    rk_reply_free(&r);
    assert_true(score_of(c, "z", "a") == 9);
    RKT_RC(rk_zscore(c, "z", "d", NULL), RK_NIL);
    rk_client_free(c);
}

static void test_zadd_gt_only_raises_scores(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zadd(c, "z", (rk_zadd_score_member[]){{0, RK_STR("a")}, {7, RK_STR("b")}}, 2,
                   &(rk_zadd_opts){.gt = true, .ch = true}, &r));
    assert_int_equal(rk_reply_int(&r), 1);
    rk_reply_free(&r);
    assert_true(score_of(c, "z", "a") == 1);
    assert_true(score_of(c, "z", "b") == 7);
    rk_client_free(c);
}

static void test_zadd_lt_only_lowers_scores(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zadd(c, "z", (rk_zadd_score_member[]){{0, RK_STR("a")}, {7, RK_STR("b")}}, 2,
                   &(rk_zadd_opts){.lt = true, .ch = true}, &r));
    assert_int_equal(rk_reply_int(&r), 1);
    rk_reply_free(&r);
    assert_true(score_of(c, "z", "a") == 0);
    assert_true(score_of(c, "z", "b") == 2);
    rk_client_free(c);
}

static void test_zadd_ch_counts_changed_and_added_members(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zadd(c, "z",
                   (rk_zadd_score_member[]){{1, RK_STR("a")}, {8, RK_STR("b")}, {4, RK_STR("d")}},
                   3, &(rk_zadd_opts){.ch = true}, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_INTEGER);
    assert_int_equal(rk_reply_int(&r), 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zadd_incr_returns_the_new_score_as_a_double(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zadd(c, "z", (rk_zadd_score_member[]){{0.5, RK_STR("b")}}, 1,
                   &(rk_zadd_opts){.incr = true}, &r));
    expect_double(&r, 2.5);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zadd_incr_with_nx_on_an_existing_member_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_NIL(rk_zadd(c, "z", (rk_zadd_score_member[]){{1, RK_STR("a")}}, 1,
                    &(rk_zadd_opts){.incr = true, .nx = true}, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    assert_true(score_of(c, "z", "a") == 1);
    rk_client_free(c);
}

static void test_zadd_nx_with_xx_is_einval_and_sends_nothing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    reset_stats();
    rk_reply r;
    RKT_RC(rk_zadd(c, "z", (rk_zadd_score_member[]){{9, RK_STR("a")}, {4, RK_STR("d")}}, 2,
                   &(rk_zadd_opts){.nx = true, .xx = true}, &r),
           RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_false(server_saw("cmdstat_zadd:"));
    assert_int_equal(card(c, "z"), 3);
    assert_true(score_of(c, "z", "a") == 1);
    rk_client_free(c);
}

static void test_zadd_gt_with_nx_is_einval_and_sends_nothing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    reset_stats();
    rk_reply r;
    RKT_RC(rk_zadd(c, "z", (rk_zadd_score_member[]){{9, RK_STR("a")}, {4, RK_STR("d")}}, 2,
                   &(rk_zadd_opts){.gt = true, .nx = true}, &r),
           RK_EINVAL);
    assert_false(server_saw("cmdstat_zadd:"));
    assert_int_equal(card(c, "z"), 3);
    assert_true(score_of(c, "z", "a") == 1);
    rk_client_free(c);
}

/* ---- scores ------------------------------------------------------------- */

static void test_zscore_gives_the_score_as_a_double(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    double d = 0;
    RKT_OK(rk_zscore(c, "z", "b", &d));
    assert_true(d == 2.0);
    rk_client_free(c);
}

static void test_zscore_of_a_missing_member_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    double d = 42;
    RKT_RC(rk_zscore(c, "z", "nope", &d), RK_NIL);
    RKT_RC(rk_zscore(c, "nokey", "a", &d), RK_NIL);
    rk_client_free(c);
}

static void test_zmscore_gives_doubles_and_nil_for_missing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zmscore(c, "z", (const char *[]){"c", "nope", "a"}, 3, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_double(rk_reply_at(&r, 0), 3);
    assert_int_equal(rk_reply_type(rk_reply_at(&r, 1)), RK_REPLY_NIL);
    expect_double(rk_reply_at(&r, 2), 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zincrby_returns_the_new_score(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    double d = 0;
    RKT_OK(rk_zincrby(c, "z", 4, "a", &d));
    assert_true(d == 5.0);
    rk_client_free(c);
}

static void test_zincrby_takes_a_fractional_increment(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    /* ZINCRBY's increment is a float: 2.5 must be sent as 2.5. */
    double inc = 2.5, d = 0;
    RKT_OK(rk_zincrby(c, "z", inc, "a", &d));
    if (d != 3.5)
        fail_msg("ZINCRBY z 2.5 a gave %g, wanted 3.5 (increment truncated?)", d);
    rk_client_free(c);
}

static void test_scores_round_trip_exactly(void **state) {
    rk_client *c = rkt_cmd_client(state);
    const double scores[] = {0.1,
                             1e-300,
                             INFINITY,
                             -INFINITY,
                             1.7976931348623157e308,
                             -2.2250738585072014e-308,
                             123456789.123456789};
    const char *members[] = {"m0", "m1", "m2", "m3", "m4", "m5", "m6"};
    rk_zadd_score_member sm[N(scores)];
    for (size_t i = 0; i < N(scores); i++)
        sm[i] = (rk_zadd_score_member){scores[i], rk_cstr(members[i])};
    rk_reply r;
    RKT_OK(rk_zadd(c, "z", sm, N(sm), NULL, &r));
    assert_int_equal(rk_reply_int(&r), (long long)N(sm));
    rk_reply_free(&r);
    for (size_t i = 0; i < N(scores); i++) {
        double d = NAN;
        RKT_OK(rk_zscore(c, "z", members[i], &d));
        if (!(d == scores[i]))
            fail_msg("%s: sent %.17g, read %.17g", members[i], scores[i], d);
    }
    RKT_OK(rk_zmscore(c, "z", members, N(members), &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, N(members));
    for (size_t i = 0; i < N(members); i++)
        expect_double(rk_reply_at(&r, i), scores[i]);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_withscores_scores_round_trip_exactly(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_zadd(c, "z",
                   (rk_zadd_score_member[]){{-INFINITY, RK_STR("lo")},
                                            {1e-300, RK_STR("tiny")},
                                            {0.1, RK_STR("tenth")},
                                            {INFINITY, RK_STR("hi")}},
                   4, NULL, &r));
    rk_reply_free(&r);
    RKT_OK(rk_zrange(c, "z", "0", "-1", &(rk_zrange_opts){.withscores = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 4);
    expect_pair(rk_reply_at(&r, 0), "lo", -INFINITY);
    expect_pair(rk_reply_at(&r, 1), "tiny", 1e-300);
    expect_pair(rk_reply_at(&r, 2), "tenth", 0.1);
    expect_pair(rk_reply_at(&r, 3), "hi", INFINITY);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- counting ----------------------------------------------------------- */

static void test_zcard_counts_members(void **state) {
    rk_client *c = rkt_cmd_client(state);
    assert_int_equal(card(c, "z"), 0);
    seed_abc(c, "z");
    assert_int_equal(card(c, "z"), 3);
    rk_client_free(c);
}

static void test_zcount_takes_exclusive_and_infinite_bounds(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    long long n = -1;
    RKT_OK(rk_zcount(c, "z", "(1", "+inf", &n));
    assert_int_equal(n, 2);
    RKT_OK(rk_zcount(c, "z", "-inf", "+inf", &n));
    assert_int_equal(n, 3);
    RKT_OK(rk_zcount(c, "z", "-inf", "(3", &n));
    assert_int_equal(n, 2);
    RKT_OK(rk_zcount(c, "z", "(1", "(3", &n));
    assert_int_equal(n, 1);
    rk_client_free(c);
}

static void test_zlexcount_counts_a_lex_range(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_zadd(c, "z",
                   (rk_zadd_score_member[]){{0, RK_STR("a")},
                                            {0, RK_STR("b")},
                                            {0, RK_STR("c")},
                                            {0, RK_STR("d")},
                                            {0, RK_STR("e")}},
                   5, NULL, &r));
    rk_reply_free(&r);
    long long n = -1;
    RKT_OK(rk_zlexcount(c, "z", "-", "+", &n));
    assert_int_equal(n, 5);
    RKT_OK(rk_zlexcount(c, "z", "[b", "(d", &n));
    assert_int_equal(n, 2);
    rk_client_free(c);
}

/* ---- ZRANGE and friends ------------------------------------------------- */

static void test_zrange_by_index(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zrange(c, "z", "0", "1", NULL, &r));
    expect_members(&r, (const char *[]){"a", "b"}, 2);
    rk_reply_free(&r);
    RKT_OK(rk_zrange(c, "z", "0", "-1", NULL, &r));
    expect_members(&r, (const char *[]){"a", "b", "c"}, 3);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zrange_byscore(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zrange(c, "z", "(1", "+inf", &(rk_zrange_opts){.byscore = true}, &r));
    expect_members(&r, (const char *[]){"b", "c"}, 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zrange_bylex(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_zadd(c, "z",
                   (rk_zadd_score_member[]){
                       {0, RK_STR("a")}, {0, RK_STR("b")}, {0, RK_STR("c")}, {0, RK_STR("d")}},
                   4, NULL, &r));
    rk_reply_free(&r);
    RKT_OK(rk_zrange(c, "z", "[b", "(d", &(rk_zrange_opts){.bylex = true}, &r));
    expect_members(&r, (const char *[]){"b", "c"}, 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zrange_rev(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zrange(c, "z", "0", "-1", &(rk_zrange_opts){.rev = true}, &r));
    expect_members(&r, (const char *[]){"c", "b", "a"}, 3);
    rk_reply_free(&r);
    RKT_OK(rk_zrange(c, "z", "+inf", "(1", &(rk_zrange_opts){.byscore = true, .rev = true}, &r));
    expect_members(&r, (const char *[]){"c", "b"}, 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zrange_byscore_with_limit(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zrange(c, "z", "-inf", "+inf",
                     &(rk_zrange_opts){.byscore = true, .limit = &(rk_zrange_limit){1, 1}}, &r));
    expect_members(&r, (const char *[]){"b"}, 1);
    rk_reply_free(&r);
    RKT_OK(rk_zrange(c, "z", "-", "+",
                     &(rk_zrange_opts){.bylex = true, .limit = &(rk_zrange_limit){0, 2}}, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ARRAY);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zrange_withscores_gives_member_double_pairs(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zrange(c, "z", "0", "-1", &(rk_zrange_opts){.withscores = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_pair(rk_reply_at(&r, 0), "a", 1);
    expect_pair(rk_reply_at(&r, 1), "b", 2);
    expect_pair(rk_reply_at(&r, 2), "c", 3);
    rk_reply_free(&r);
    RKT_OK(rk_zrange(
        c, "z", "+inf", "-inf",
        &(rk_zrange_opts){
            .byscore = true, .rev = true, .limit = &(rk_zrange_limit){0, 2}, .withscores = true},
        &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_pair(rk_reply_at(&r, 0), "c", 3);
    expect_pair(rk_reply_at(&r, 1), "b", 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zrange_limit_without_byscore_or_bylex_is_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    reset_stats();
    rk_reply r;
    RKT_RC(rk_zrange(c, "z", "0", "-1", &(rk_zrange_opts){.limit = &(rk_zrange_limit){0, 1}}, &r),
           RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_false(server_saw("cmdstat_zrange:"));
    rk_client_free(c);
}

static void test_zrangebyscore_withscores_gives_pairs(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(
        rk_zrangebyscore(c, "z", "(1", "+inf", &(rk_zrangebyscore_opts){.withscores = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_pair(rk_reply_at(&r, 0), "b", 2);
    expect_pair(rk_reply_at(&r, 1), "c", 3);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zrevrangebyscore_withscores_gives_pairs_highest_first(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zrevrangebyscore(c, "z", "+inf", "-inf",
                               &(rk_zrevrangebyscore_opts){
                                   .withscores = true, .limit = &(rk_zrevrangebyscore_limit){0, 2}},
                               &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_pair(rk_reply_at(&r, 0), "c", 3);
    expect_pair(rk_reply_at(&r, 1), "b", 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zrevrange_withscores_gives_pairs(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zrevrange(c, "z", 0, 0, &(rk_zrevrange_opts){.withscores = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    expect_pair(rk_reply_at(&r, 0), "c", 3);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zrangebylex_and_zrevrangebylex_with_limit(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_zadd(c, "z",
                   (rk_zadd_score_member[]){
                       {0, RK_STR("a")}, {0, RK_STR("b")}, {0, RK_STR("c")}, {0, RK_STR("d")}},
                   4, NULL, &r));
    rk_reply_free(&r);
    RKT_OK(rk_zrangebylex(c, "z", "-", "+",
                          &(rk_zrangebylex_opts){.limit = &(rk_zrangebylex_limit){1, 2}}, &r));
    expect_members(&r, (const char *[]){"b", "c"}, 2);
    rk_reply_free(&r);
    RKT_OK(rk_zrevrangebylex(c, "z", "+", "-",
                             &(rk_zrevrangebylex_opts){.limit = &(rk_zrevrangebylex_limit){0, 1}},
                             &r));
    expect_members(&r, (const char *[]){"d"}, 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zrank_and_zrevrank_give_positions(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    long long n = -1;
    RKT_OK(rk_zrank(c, "z", "c", &n));
    assert_int_equal(n, 2);
    RKT_OK(rk_zrevrank(c, "z", "c", &n));
    assert_int_equal(n, 0);
    rk_client_free(c);
}

static void test_zrank_and_zrevrank_of_a_missing_member_are_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    long long n = -1;
    RKT_RC(rk_zrank(c, "z", "nope", &n), RK_NIL);
    RKT_RC(rk_zrevrank(c, "z", "nope", &n), RK_NIL);
    RKT_RC(rk_zrank(c, "nokey", "a", &n), RK_NIL);
    rk_client_free(c);
}

/* ---- popping ------------------------------------------------------------ */

static void test_zpopmin_without_count_is_an_array_of_one_pair(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zpopmin(c, "z", NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    expect_pair(rk_reply_at(&r, 0), "a", 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zpopmin_with_count_gives_pairs_lowest_first(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zpopmin(c, "z", &(rk_zpopmin_opts){.count = 2}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_pair(rk_reply_at(&r, 0), "a", 1);
    expect_pair(rk_reply_at(&r, 1), "b", 2);
    rk_reply_free(&r);
    assert_int_equal(card(c, "z"), 1);
    rk_client_free(c);
}

static void test_zpopmax_with_count_one_is_still_an_array_of_pairs(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zpopmax(c, "z", &(rk_zpopmax_opts){.count = 1}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    expect_pair(rk_reply_at(&r, 0), "c", 3);
    rk_reply_free(&r);
    RKT_OK(rk_zpopmax(c, "z", &(rk_zpopmax_opts){.count = 5}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_pair(rk_reply_at(&r, 0), "b", 2);
    expect_pair(rk_reply_at(&r, 1), "a", 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zpopmin_of_a_missing_key_is_an_empty_array(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_zpopmin(c, "nokey", NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    RKT_OK(rk_zpopmin(c, "nokey", &(rk_zpopmin_opts){.count = 3}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_bzpopmin_gives_key_member_and_double(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_bzpopmin(c, (const char *[]){"empty", "z"}, 2, 1, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_str(rk_reply_at(&r, 0), "z");
    expect_str(rk_reply_at(&r, 1), "a");
    expect_double(rk_reply_at(&r, 2), 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_bzpopmax_gives_key_member_and_double(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_bzpopmax(c, (const char *[]){"z"}, 1, 0, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_str(rk_reply_at(&r, 0), "z");
    expect_str(rk_reply_at(&r, 1), "c");
    expect_double(rk_reply_at(&r, 2), 3);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_bzpopmin_timing_out_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_NIL(rk_bzpopmin(c, (const char *[]){"empty"}, 1, 0.05, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zmpop_gives_key_and_pairs(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zmpop(c, (const char *[]){"empty", "z"}, 2, RK_MIN, NULL, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(&r, 0), "z");
    rkt_expect_shape(rk_reply_at(&r, 1), RK_REPLY_ARRAY, 1);
    expect_pair(rk_reply_at(rk_reply_at(&r, 1), 0), "a", 1);
    rk_reply_free(&r);
    RKT_OK(rk_zmpop(c, (const char *[]){"z"}, 1, RK_MAX, &(rk_zmpop_opts){.count = 5}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(&r, 0), "z");
    rkt_expect_shape(rk_reply_at(&r, 1), RK_REPLY_ARRAY, 2);
    expect_pair(rk_reply_at(rk_reply_at(&r, 1), 0), "c", 3);
    expect_pair(rk_reply_at(rk_reply_at(&r, 1), 1), "b", 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zmpop_of_empty_keys_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_NIL(rk_zmpop(c, (const char *[]){"e1", "e2"}, 2, RK_MAX, NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_bzmpop_gives_key_and_pairs(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_bzmpop(c, 1, (const char *[]){"empty", "z"}, 2, RK_MAX, &(rk_bzmpop_opts){.count = 2},
                     &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(&r, 0), "z");
    const rk_reply *pairs = rk_reply_at(&r, 1);
    rkt_expect_shape(pairs, RK_REPLY_ARRAY, 2);
    expect_pair(rk_reply_at(pairs, 0), "c", 3);
    expect_pair(rk_reply_at(pairs, 1), "b", 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_bzmpop_timing_out_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_NIL(rk_bzmpop(c, 0.05, (const char *[]){"empty"}, 1, RK_MIN, NULL, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- set algebra -------------------------------------------------------- */

/* z1 = {a:1, b:2}, z2 = {b:3, c:4}. */
static void seed_two(rk_client *c) {
    rk_reply r;
    RKT_OK(rk_zadd(c, "z1", (rk_zadd_score_member[]){{1, RK_STR("a")}, {2, RK_STR("b")}}, 2, NULL,
                   &r));
    rk_reply_free(&r);
    RKT_OK(rk_zadd(c, "z2", (rk_zadd_score_member[]){{3, RK_STR("b")}, {4, RK_STR("c")}}, 2, NULL,
                   &r));
    rk_reply_free(&r);
}

static void test_zunion_withscores_and_fractional_weights(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_two(c);
    rk_reply r;
    RKT_OK(rk_zunion(
        c, (const char *[]){"z1", "z2"}, 2,
        &(rk_zunion_opts){.weights = (const double[]){1.5, 2}, .nweights = 2, .withscores = true},
        &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_pair(rk_reply_at(&r, 0), "a", 1.5);
    expect_pair(rk_reply_at(&r, 1), "c", 8);
    expect_pair(rk_reply_at(&r, 2), "b", 9);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zunion_aggregate_max(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_two(c);
    rk_reply r;
    RKT_OK(rk_zunion(c, (const char *[]){"z1", "z2"}, 2,
                     &(rk_zunion_opts){.aggregate = RK_AGGREGATE_MAX, .withscores = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_pair(rk_reply_at(&r, 0), "a", 1);
    expect_pair(rk_reply_at(&r, 1), "b", 3);
    expect_pair(rk_reply_at(&r, 2), "c", 4);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zinter_aggregate_min_withscores(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_two(c);
    rk_reply r;
    RKT_OK(rk_zinter(c, (const char *[]){"z1", "z2"}, 2,
                     &(rk_zinter_opts){.aggregate = RK_AGGREGATE_MIN, .withscores = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    expect_pair(rk_reply_at(&r, 0), "b", 2);
    rk_reply_free(&r);
    RKT_OK(rk_zinter(c, (const char *[]){"z1", "z2"}, 2, NULL, &r));
    expect_members(&r, (const char *[]){"b"}, 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zdiff_withscores(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_two(c);
    rk_reply r;
    RKT_OK(rk_zdiff(c, (const char *[]){"z1", "z2"}, 2, &(rk_zdiff_opts){.withscores = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    expect_pair(rk_reply_at(&r, 0), "a", 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zunionstore_counts_and_stores(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_two(c);
    long long n = -1;
    RKT_OK(rk_zunionstore(
        c, "dst", (const char *[]){"z1", "z2"}, 2,
        &(rk_zunionstore_opts){.weights = (const double[]){0.5, 1}, .nweights = 2}, &n));
    assert_int_equal(n, 3);
    assert_true(score_of(c, "dst", "a") == 0.5);
    assert_true(score_of(c, "dst", "b") == 4);
    rk_client_free(c);
}

static void test_zinterstore_counts_and_aggregates(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_two(c);
    long long n = -1;
    RKT_OK(rk_zinterstore(c, "dst", (const char *[]){"z1", "z2"}, 2,
                          &(rk_zinterstore_opts){.aggregate = RK_AGGREGATE_MAX}, &n));
    assert_int_equal(n, 1);
    assert_true(score_of(c, "dst", "b") == 3);
    rk_client_free(c);
}

static void test_zdiffstore_counts(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_two(c);
    long long n = -1;
    RKT_OK(rk_zdiffstore(c, "dst", (const char *[]){"z2", "z1"}, 2, &n));
    assert_int_equal(n, 1);
    assert_true(score_of(c, "dst", "c") == 4);
    rk_client_free(c);
}

static void test_zrangestore_counts(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    long long n = -1;
    RKT_OK(rk_zrangestore(c, "dst", "z", "0", "1", NULL, &n));
    assert_int_equal(n, 2);
    RKT_OK(rk_zrangestore(c, "dst2", "z", "+inf", "-inf",
                          &(rk_zrangestore_opts){
                              .byscore = true, .rev = true, .limit = &(rk_zrangestore_limit){0, 1}},
                          &n));
    assert_int_equal(n, 1);
    assert_true(score_of(c, "dst2", "c") == 3);
    rk_client_free(c);
}

static void test_zrangestore_limit_without_byscore_or_bylex_is_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    long long n = -1;
    RKT_RC(rk_zrangestore(c, "dst", "z", "0", "-1",
                          &(rk_zrangestore_opts){.limit = &(rk_zrangestore_limit){0, 1}}, &n),
           RK_EINVAL);
    assert_int_equal(card(c, "dst"), 0);
    rk_client_free(c);
}

static void test_zintercard_counts_with_and_without_limit(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z1");
    seed_abc(c, "z2");
    long long n = -1;
    RKT_OK(rk_zintercard(c, (const char *[]){"z1", "z2"}, 2, NULL, &n));
    assert_int_equal(n, 3);
    RKT_OK(
        rk_zintercard(c, (const char *[]){"z1", "z2"}, 2, &(rk_zintercard_opts){.limit = 2}, &n));
    assert_int_equal(n, 2);
    rk_client_free(c);
}

/* ---- random, removal, scan ---------------------------------------------- */

static void test_zrandmember_count_withscores_gives_pairs(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zrandmember(
        c, "z", &(rk_zrandmember_opts){.count = &(rk_zrandmember_count){3, .withscores = true}},
        &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    for (size_t i = 0; i < 3; i++) {
        const rk_reply *p = rk_reply_at(&r, i);
        rkt_expect_shape(p, RK_REPLY_ARRAY, 2);
        const char *m = rk_reply_str(rk_reply_at(p, 0));
        assert_non_null(m);
        assert_int_equal(strlen(m), 1);
        expect_double(rk_reply_at(p, 1), (double)(m[0] - 'a' + 1));
    }
    rk_reply_free(&r);
    /* a negative count may repeat members */
    RKT_OK(rk_zrandmember(
        c, "z", &(rk_zrandmember_opts){.count = &(rk_zrandmember_count){-5, .withscores = true}},
        &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 5);
    for (size_t i = 0; i < 5; i++)
        rkt_expect_shape(rk_reply_at(&r, i), RK_REPLY_ARRAY, 2);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_zrem_counts_removed_members(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    long long n = -1;
    RKT_OK(rk_zrem(c, "z", (const char *[]){"a", "nope", "c"}, 3, &n));
    assert_int_equal(n, 2);
    assert_int_equal(card(c, "z"), 1);
    rk_client_free(c);
}

static void test_zremrangebyrank_removes_by_position(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    long long n = -1;
    RKT_OK(rk_zremrangebyrank(c, "z", 0, 1, &n));
    assert_int_equal(n, 2);
    assert_true(score_of(c, "z", "c") == 3);
    rk_client_free(c);
}

static void test_zremrangebyscore_removes_by_score(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    long long n = -1;
    RKT_OK(rk_zremrangebyscore(c, "z", "(1", "+inf", &n));
    assert_int_equal(n, 2);
    assert_true(score_of(c, "z", "a") == 1);
    rk_client_free(c);
}

static void test_zremrangebylex_removes_by_name(void **state) {
    rk_client *c = rkt_cmd_client(state);
    rk_reply r;
    RKT_OK(rk_zadd(c, "z",
                   (rk_zadd_score_member[]){{0, RK_STR("a")}, {0, RK_STR("b")}, {0, RK_STR("c")}},
                   3, NULL, &r));
    rk_reply_free(&r);
    long long n = -1;
    RKT_OK(rk_zremrangebylex(c, "z", "[a", "(c", &n));
    assert_int_equal(n, 2);
    assert_int_equal(card(c, "z"), 1);
    rk_client_free(c);
}

static void test_zscan_one_step_gives_cursor_and_members_with_scores(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_reply r;
    RKT_OK(rk_zscan(c, "z", 0, &(rk_zscan_opts){.match = RK_STR("*"), .count = 100}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(&r, 0), "0");
    const rk_reply *els = rk_reply_at(&r, 1);
    /* A small set fits in one step: [member, score] pairs with double
     * scores, as every other scored reply. */
    rkt_expect_shape(els, RK_REPLY_ARRAY, 3);
    expect_pair(rk_reply_at(els, 0), "a", 1);
    expect_pair(rk_reply_at(els, 1), "b", 2);
    expect_pair(rk_reply_at(els, 2), "c", 3);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_pipelined_zrange_withscores_has_the_same_shape(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_abc(c, "z");
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    rk_command cmd;
    assert_non_null(p);
    RKT_OK(rk_pipeline_add(p, rk_cmd_zrange(&cmd, RK_STR("z"), RK_STR("0"), RK_STR("0"),
                                            &(rk_zrange_opts){.withscores = true})));
    RKT_OK(rk_pipeline_add(p, rk_cmd_zscore(&cmd, RK_STR("z"), RK_STR("b"))));
    RKT_OK(rk_pipeline_add(p, rk_cmd_zpopmax(&cmd, RK_STR("z"), NULL)));
    RKT_OK(rk_pipeline_exec(p));
    const rk_reply *r = rk_pipeline_reply(p, 0);
    rkt_expect_shape(r, RK_REPLY_ARRAY, 1);
    expect_pair(rk_reply_at(r, 0), "a", 1);
    expect_double(rk_pipeline_reply(p, 1), 2);
    r = rk_pipeline_reply(p, 2);
    rkt_expect_shape(r, RK_REPLY_ARRAY, 1);
    expect_pair(rk_reply_at(r, 0), "c", 3);
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* ---- GEOADD ------------------------------------------------------------- */

static void test_geoadd_nx_adds_only_new_members(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    long long n = -1;
    RKT_OK(rk_geoadd(c, "Sicily",
                     (rk_geoadd_longitude_latitude_member[]){
                         {10, 40, RK_STR("Palermo")}, {13.583333, 37.316667, RK_STR("Agrigento")}},
                     2, &(rk_geoadd_opts){.nx = true}, &n));
    assert_int_equal(n, 1);
    rk_reply r;
    RKT_OK(rk_geopos(c, "Sicily", (const char *[]){"Palermo"}, 1, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    expect_lonlat(rk_reply_at(&r, 0), PALERMO_LON, PALERMO_LAT);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_geoadd_xx_ch_counts_changed_members_only(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    long long n = -1;
    RKT_OK(rk_geoadd(c, "Sicily",
                     (rk_geoadd_longitude_latitude_member[]){
                         {10, 40, RK_STR("Palermo")}, {13.583333, 37.316667, RK_STR("Agrigento")}},
                     2, &(rk_geoadd_opts){.xx = true, .ch = true}, &n));
    assert_int_equal(n, 1);
    assert_int_equal(card(c, "Sicily"), 2);
    rk_reply r;
    RKT_OK(rk_geopos(c, "Sicily", (const char *[]){"Palermo"}, 1, &r));
    expect_lonlat(rk_reply_at(&r, 0), 10, 40);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_geoadd_nx_with_xx_is_einval_and_sends_nothing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    reset_stats();
    long long n = -1;
    RKT_RC(rk_geoadd(c, "Sicily",
                     (rk_geoadd_longitude_latitude_member[]){
                         {PALERMO_LON, PALERMO_LAT, RK_STR("Palermo")}},
                     1, &(rk_geoadd_opts){.nx = true, .xx = true}, &n),
           RK_EINVAL);
    assert_false(server_saw("cmdstat_geoadd:"));
    assert_int_equal(card(c, "Sicily"), 0);
    rk_client_free(c);
}

/* ---- GEODIST, GEOPOS, GEOHASH ------------------------------------------- */

static void test_geodist_gives_meters_as_a_double(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    double d = 0;
    RKT_OK(rk_geodist(c, "Sicily", "Palermo", "Catania", NULL, &d));
    expect_close(d, 166274.1516, 0.001);
    rk_client_free(c);
}

static void test_geodist_in_kilometers(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    double d = 0;
    RKT_OK(
        rk_geodist(c, "Sicily", "Palermo", "Catania", &(rk_geodist_opts){.unit = RK_GEO_KM}, &d));
    expect_close(d, 166.2742, 0.0001);
    RKT_OK(
        rk_geodist(c, "Sicily", "Palermo", "Catania", &(rk_geodist_opts){.unit = RK_GEO_MI}, &d));
    expect_close(d, 103.3182, 0.0001);
    rk_client_free(c);
}

static void test_geodist_of_a_missing_member_is_nil(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    double d = 0;
    RKT_RC(rk_geodist(c, "Sicily", "Palermo", "Atlantis", NULL, &d), RK_NIL);
    RKT_RC(rk_geodist(c, "nokey", "Palermo", "Catania", NULL, &d), RK_NIL);
    rk_client_free(c);
}

static void test_geopos_gives_lon_lat_doubles_and_nil_for_missing(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    rk_reply r;
    RKT_OK(rk_geopos(c, "Sicily", (const char *[]){"Palermo", "Atlantis", "Catania"}, 3, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_lonlat(rk_reply_at(&r, 0), PALERMO_LON, PALERMO_LAT);
    assert_int_equal(rk_reply_type(rk_reply_at(&r, 1)), RK_REPLY_NIL);
    expect_lonlat(rk_reply_at(&r, 2), CATANIA_LON, CATANIA_LAT);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_geohash_gives_geohash_strings(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    rk_reply r;
    RKT_OK(rk_geohash(c, "Sicily", (const char *[]){"Palermo", "Catania", "Atlantis"}, 3, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 3);
    expect_str(rk_reply_at(&r, 0), "sqc8b49rny0");
    expect_str(rk_reply_at(&r, 1), "sqdtr74hyu0");
    assert_int_equal(rk_reply_type(rk_reply_at(&r, 2)), RK_REPLY_NIL);
    rk_reply_free(&r);
    rk_client_free(c);
}

/* ---- GEOSEARCH ---------------------------------------------------------- */

static void test_geosearch_frommember_byradius_asc(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily_edges(c);
    rk_reply r;
    RKT_OK(rk_geosearch(c, "Sicily",
                        &(rk_geosearch_opts){.frommember = RK_STR("Palermo"),
                                             .byradius = &(rk_geosearch_byradius){200, RK_GEO_KM},
                                             .asc = true},
                        &r));
    expect_members(&r, (const char *[]){"Palermo", "edge1", "Catania"}, 3);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_geosearch_fromlonlat_bybox_asc_and_desc(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily_edges(c);
    rk_reply r;
    RKT_OK(rk_geosearch(c, "Sicily",
                        &(rk_geosearch_opts){.fromlonlat = &(rk_geosearch_fromlonlat){15, 37},
                                             .bybox = &(rk_geosearch_bybox){400, 400, RK_GEO_KM},
                                             .asc = true},
                        &r));
    expect_members(&r, (const char *[]){"Catania", "Palermo", "edge2", "edge1"}, 4);
    rk_reply_free(&r);
    RKT_OK(rk_geosearch(c, "Sicily",
                        &(rk_geosearch_opts){.fromlonlat = &(rk_geosearch_fromlonlat){15, 37},
                                             .bybox = &(rk_geosearch_bybox){400, 400, RK_GEO_KM},
                                             .desc = true},
                        &r));
    expect_members(&r, (const char *[]){"edge1", "edge2", "Palermo", "Catania"}, 4);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_geosearch_fromlonlat_byradius_in_meters(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily_edges(c);
    rk_reply r;
    RKT_OK(rk_geosearch(c, "Sicily",
                        &(rk_geosearch_opts){.fromlonlat = &(rk_geosearch_fromlonlat){15, 37},
                                             .byradius = &(rk_geosearch_byradius){100000, RK_GEO_M},
                                             .asc = true},
                        &r));
    expect_members(&r, (const char *[]){"Catania"}, 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_geosearch_count_and_count_any(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily_edges(c);
    rk_reply r;
    RKT_OK(rk_geosearch(c, "Sicily",
                        &(rk_geosearch_opts){.fromlonlat = &(rk_geosearch_fromlonlat){15, 37},
                                             .bybox = &(rk_geosearch_bybox){400, 400, RK_GEO_KM},
                                             .asc = true,
                                             .count = &(rk_geosearch_count){2, false}},
                        &r));
    expect_members(&r, (const char *[]){"Catania", "Palermo"}, 2);
    rk_reply_free(&r);
    RKT_OK(rk_geosearch(c, "Sicily",
                        &(rk_geosearch_opts){.fromlonlat = &(rk_geosearch_fromlonlat){15, 37},
                                             .bybox = &(rk_geosearch_bybox){400, 400, RK_GEO_KM},
                                             .count = &(rk_geosearch_count){1, true}},
                        &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    assert_int_equal(rk_reply_type(rk_reply_at(&r, 0)), RK_REPLY_STRING);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_geosearch_withdist_gives_member_and_double(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    rk_reply r;
    RKT_OK(rk_geosearch(c, "Sicily",
                        &(rk_geosearch_opts){.fromlonlat = &(rk_geosearch_fromlonlat){15, 37},
                                             .byradius = &(rk_geosearch_byradius){200, RK_GEO_KM},
                                             .asc = true,
                                             .withdist = true},
                        &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    const rk_reply *m = rk_reply_at(&r, 0);
    rkt_expect_shape(m, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(m, 0), "Catania");
    expect_near(rk_reply_at(m, 1), 56.4413, 0.001);
    m = rk_reply_at(&r, 1);
    rkt_expect_shape(m, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(m, 0), "Palermo");
    expect_near(rk_reply_at(m, 1), 190.4424, 0.001);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_geosearch_withcoord_gives_member_and_lon_lat(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    rk_reply r;
    RKT_OK(rk_geosearch(c, "Sicily",
                        &(rk_geosearch_opts){.frommember = RK_STR("Catania"),
                                             .byradius = &(rk_geosearch_byradius){1, RK_GEO_KM},
                                             .withcoord = true},
                        &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    const rk_reply *m = rk_reply_at(&r, 0);
    rkt_expect_shape(m, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(m, 0), "Catania");
    expect_lonlat(rk_reply_at(m, 1), CATANIA_LON, CATANIA_LAT);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_geosearch_withhash_gives_member_and_integer(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    rk_reply r;
    RKT_OK(rk_geosearch(c, "Sicily",
                        &(rk_geosearch_opts){.frommember = RK_STR("Palermo"),
                                             .byradius = &(rk_geosearch_byradius){1, RK_GEO_MI},
                                             .withhash = true},
                        &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    const rk_reply *m = rk_reply_at(&r, 0);
    rkt_expect_shape(m, RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(m, 0), "Palermo");
    assert_int_equal(rk_reply_type(rk_reply_at(m, 1)), RK_REPLY_INTEGER);
    assert_int_equal(rk_reply_int(rk_reply_at(m, 1)), 3479099956230698LL);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_geosearch_withdist_withhash_withcoord_order(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    rk_reply r;
    RKT_OK(rk_geosearch(c, "Sicily",
                        &(rk_geosearch_opts){.fromlonlat = &(rk_geosearch_fromlonlat){15, 37},
                                             .byradius = &(rk_geosearch_byradius){200, RK_GEO_KM},
                                             .asc = true,
                                             .withcoord = true,
                                             .withdist = true,
                                             .withhash = true},
                        &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    const rk_reply *m = rk_reply_at(&r, 0);
    rkt_expect_shape(m, RK_REPLY_ARRAY, 4);
    expect_str(rk_reply_at(m, 0), "Catania");
    expect_near(rk_reply_at(m, 1), 56.4413, 0.001);
    assert_int_equal(rk_reply_type(rk_reply_at(m, 2)), RK_REPLY_INTEGER);
    assert_int_equal(rk_reply_int(rk_reply_at(m, 2)), 3479447370796909LL);
    expect_lonlat(rk_reply_at(m, 3), CATANIA_LON, CATANIA_LAT);
    m = rk_reply_at(&r, 1);
    rkt_expect_shape(m, RK_REPLY_ARRAY, 4);
    expect_str(rk_reply_at(m, 0), "Palermo");
    expect_lonlat(rk_reply_at(m, 3), PALERMO_LON, PALERMO_LAT);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_geosearch_withdist_withcoord_shape(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    rk_reply r;
    RKT_OK(rk_geosearch(c, "Sicily",
                        &(rk_geosearch_opts){.frommember = RK_STR("Palermo"),
                                             .byradius = &(rk_geosearch_byradius){200, RK_GEO_KM},
                                             .desc = true,
                                             .withcoord = true,
                                             .withdist = true},
                        &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    const rk_reply *m = rk_reply_at(&r, 0);
    rkt_expect_shape(m, RK_REPLY_ARRAY, 3);
    expect_str(rk_reply_at(m, 0), "Catania");
    expect_near(rk_reply_at(m, 1), 166.2742, 0.001);
    expect_lonlat(rk_reply_at(m, 2), CATANIA_LON, CATANIA_LAT);
    m = rk_reply_at(&r, 1);
    rkt_expect_shape(m, RK_REPLY_ARRAY, 3);
    expect_str(rk_reply_at(m, 0), "Palermo");
    expect_double(rk_reply_at(m, 1), 0);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_geosearch_without_from_is_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    reset_stats();
    rk_reply r;
    RKT_RC(rk_geosearch(c, "Sicily",
                        &(rk_geosearch_opts){.byradius = &(rk_geosearch_byradius){200, RK_GEO_KM}},
                        &r),
           RK_EINVAL);
    RKT_RC(rk_geosearch(c, "Sicily", NULL, &r), RK_EINVAL);
    assert_false(server_saw("cmdstat_geosearch:"));
    rk_client_free(c);
}

static void test_geosearch_with_both_from_is_einval(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    reset_stats();
    rk_reply r;
    RKT_RC(rk_geosearch(c, "Sicily",
                        &(rk_geosearch_opts){.frommember = RK_STR("Palermo"),
                                             .fromlonlat = &(rk_geosearch_fromlonlat){15, 37},
                                             .byradius = &(rk_geosearch_byradius){200, RK_GEO_KM}},
                        &r),
           RK_EINVAL);
    assert_false(server_saw("cmdstat_geosearch:"));
    rk_client_free(c);
}

/* ---- GEOSEARCHSTORE ----------------------------------------------------- */

/* The stored count: an integer, whether a typed output or a reply. */
static void test_geosearchstore_counts_stored_members(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily_edges(c);
    rk_reply r;
    long long n = -1;
    RKT_OK(rk_geosearchstore(
        c, "dst", "Sicily",
        &(rk_geosearchstore_opts){.fromlonlat = &(rk_geosearchstore_fromlonlat){15, 37},
                                  .bybox = &(rk_geosearchstore_bybox){400, 400, RK_GEO_KM},
                                  .asc = true,
                                  .count = &(rk_geosearchstore_count){3, false}},
        &n));
    assert_int_equal(n, 3);
    assert_int_equal(card(c, "dst"), 3);
    /* GEOSEARCHSTORE without STOREDIST keeps the geohash scores */
    RKT_OK(rk_geopos(c, "dst", (const char *[]){"Catania"}, 1, &r));
    expect_lonlat(rk_reply_at(&r, 0), CATANIA_LON, CATANIA_LAT);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_geosearchstore_storedist_stores_distances(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    long long n = -1;
    RKT_OK(rk_geosearchstore(
        c, "dst", "Sicily",
        &(rk_geosearchstore_opts){.fromlonlat = &(rk_geosearchstore_fromlonlat){15, 37},
                                  .byradius = &(rk_geosearchstore_byradius){200, RK_GEO_KM},
                                  .storedist = true},
        &n));
    assert_int_equal(n, 2);
    expect_close(score_of(c, "dst", "Catania"), 56.4413, 0.001);
    expect_close(score_of(c, "dst", "Palermo"), 190.4424, 0.001);
    rk_client_free(c);
}

/* ---- GEORADIUS family --------------------------------------------------- */

static void test_georadius_finds_members_in_range(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    rk_reply r;
    RKT_OK(
        rk_georadius(c, "Sicily", 15, 37, 200, RK_GEO_KM, &(rk_georadius_opts){.asc = true}, &r));
    expect_members(&r, (const char *[]){"Catania", "Palermo"}, 2);
    rk_reply_free(&r);
    RKT_OK(rk_georadius(c, "Sicily", 15, 37, 100, RK_GEO_KM, NULL, &r));
    expect_members(&r, (const char *[]){"Catania"}, 1);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_georadius_withdist_withcoord_shape(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    rk_reply r;
    RKT_OK(rk_georadius(c, "Sicily", 15, 37, 200, RK_GEO_KM,
                        &(rk_georadius_opts){.withdist = true,
                                             .withcoord = true,
                                             .desc = true,
                                             .count = &(rk_georadius_count){1, false}},
                        &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    const rk_reply *m = rk_reply_at(&r, 0);
    rkt_expect_shape(m, RK_REPLY_ARRAY, 3);
    expect_str(rk_reply_at(m, 0), "Palermo");
    expect_near(rk_reply_at(m, 1), 190.4424, 0.001);
    expect_lonlat(rk_reply_at(m, 2), PALERMO_LON, PALERMO_LAT);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_georadius_store_counts_stored_members(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    rk_reply r;
    RKT_OK(rk_georadius(c, "Sicily", 15, 37, 200, RK_GEO_KM,
                        &(rk_georadius_opts){.storedist = RK_STR("dst")}, &r));
    assert_int_equal(rk_reply_type(&r), RK_REPLY_INTEGER);
    assert_int_equal(rk_reply_int(&r), 2);
    rk_reply_free(&r);
    expect_close(score_of(c, "dst", "Catania"), 56.4413, 0.001);
    rk_client_free(c);
}

static void test_georadius_ro_withdist(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    rk_reply r;
    RKT_OK(rk_georadius_ro(c, "Sicily", 15, 37, 200, RK_GEO_KM,
                           &(rk_georadius_ro_opts){.withdist = true, .asc = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 2);
    rkt_expect_shape(rk_reply_at(&r, 0), RK_REPLY_ARRAY, 2);
    expect_str(rk_reply_at(rk_reply_at(&r, 0), 0), "Catania");
    expect_near(rk_reply_at(rk_reply_at(&r, 0), 1), 56.4413, 0.001);
    expect_str(rk_reply_at(rk_reply_at(&r, 1), 0), "Palermo");
    expect_near(rk_reply_at(rk_reply_at(&r, 1), 1), 190.4424, 0.001);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_georadiusbymember_finds_members_near_a_member(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily_edges(c);
    rk_reply r;
    RKT_OK(rk_georadiusbymember(c, "Sicily", "Palermo", 200, RK_GEO_KM,
                                &(rk_georadiusbymember_opts){.asc = true}, &r));
    expect_members(&r, (const char *[]){"Palermo", "edge1", "Catania"}, 3);
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_georadiusbymember_ro_withhash_withcoord(void **state) {
    rk_client *c = rkt_cmd_client(state);
    seed_sicily(c);
    rk_reply r;
    RKT_OK(rk_georadiusbymember_ro(
        c, "Sicily", "Catania", 10, RK_GEO_KM,
        &(rk_georadiusbymember_ro_opts){.withhash = true, .withcoord = true}, &r));
    rkt_expect_shape(&r, RK_REPLY_ARRAY, 1);
    const rk_reply *m = rk_reply_at(&r, 0);
    rkt_expect_shape(m, RK_REPLY_ARRAY, 3);
    expect_str(rk_reply_at(m, 0), "Catania");
    assert_int_equal(rk_reply_int(rk_reply_at(m, 1)), 3479447370796909LL);
    expect_lonlat(rk_reply_at(m, 2), CATANIA_LON, CATANIA_LAT);
    rk_reply_free(&r);
    rk_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        RKT_BOTH(test_zadd_returns_the_number_of_new_members),
        RKT_BOTH(test_zadd_nx_adds_only_new_members),
        RKT_BOTH(test_zadd_xx_updates_only_existing_members),
        RKT_BOTH(test_zadd_gt_only_raises_scores),
        RKT_BOTH(test_zadd_lt_only_lowers_scores),
        RKT_BOTH(test_zadd_ch_counts_changed_and_added_members),
        RKT_BOTH(test_zadd_incr_returns_the_new_score_as_a_double),
        RKT_BOTH(test_zadd_incr_with_nx_on_an_existing_member_is_nil),
        RKT_BOTH(test_zadd_nx_with_xx_is_einval_and_sends_nothing),
        RKT_BOTH(test_zadd_gt_with_nx_is_einval_and_sends_nothing),
        RKT_BOTH(test_zscore_gives_the_score_as_a_double),
        RKT_BOTH(test_zscore_of_a_missing_member_is_nil),
        RKT_BOTH(test_zmscore_gives_doubles_and_nil_for_missing),
        RKT_BOTH(test_zincrby_returns_the_new_score),
        RKT_BOTH(test_zincrby_takes_a_fractional_increment),
        RKT_BOTH(test_scores_round_trip_exactly),
        RKT_BOTH(test_withscores_scores_round_trip_exactly),
        RKT_BOTH(test_zcard_counts_members),
        RKT_BOTH(test_zcount_takes_exclusive_and_infinite_bounds),
        RKT_BOTH(test_zlexcount_counts_a_lex_range),
        RKT_BOTH(test_zrange_by_index),
        RKT_BOTH(test_zrange_byscore),
        RKT_BOTH(test_zrange_bylex),
        RKT_BOTH(test_zrange_rev),
        RKT_BOTH(test_zrange_byscore_with_limit),
        RKT_BOTH(test_zrange_withscores_gives_member_double_pairs),
        RKT_BOTH(test_zrange_limit_without_byscore_or_bylex_is_einval),
        RKT_BOTH(test_zrangebyscore_withscores_gives_pairs),
        RKT_BOTH(test_zrevrangebyscore_withscores_gives_pairs_highest_first),
        RKT_BOTH(test_zrevrange_withscores_gives_pairs),
        RKT_BOTH(test_zrangebylex_and_zrevrangebylex_with_limit),
        RKT_BOTH(test_zrank_and_zrevrank_give_positions),
        RKT_BOTH(test_zrank_and_zrevrank_of_a_missing_member_are_nil),
        RKT_BOTH(test_zpopmin_without_count_is_an_array_of_one_pair),
        RKT_BOTH(test_zpopmin_with_count_gives_pairs_lowest_first),
        RKT_BOTH(test_zpopmax_with_count_one_is_still_an_array_of_pairs),
        RKT_BOTH(test_zpopmin_of_a_missing_key_is_an_empty_array),
        RKT_BOTH(test_bzpopmin_gives_key_member_and_double),
        RKT_BOTH(test_bzpopmax_gives_key_member_and_double),
        RKT_BOTH(test_bzpopmin_timing_out_is_nil),
        RKT_BOTH(test_zmpop_gives_key_and_pairs),
        RKT_BOTH(test_zmpop_of_empty_keys_is_nil),
        RKT_BOTH(test_bzmpop_gives_key_and_pairs),
        RKT_BOTH(test_bzmpop_timing_out_is_nil),
        RKT_BOTH(test_zunion_withscores_and_fractional_weights),
        RKT_BOTH(test_zunion_aggregate_max),
        RKT_BOTH(test_zinter_aggregate_min_withscores),
        RKT_BOTH(test_zdiff_withscores),
        RKT_BOTH(test_zunionstore_counts_and_stores),
        RKT_BOTH(test_zinterstore_counts_and_aggregates),
        RKT_BOTH(test_zdiffstore_counts),
        RKT_BOTH(test_zrangestore_counts),
        RKT_BOTH(test_zrangestore_limit_without_byscore_or_bylex_is_einval),
        RKT_BOTH(test_zintercard_counts_with_and_without_limit),
        RKT_BOTH(test_zrandmember_count_withscores_gives_pairs),
        RKT_BOTH(test_zrem_counts_removed_members),
        RKT_BOTH(test_zremrangebyrank_removes_by_position),
        RKT_BOTH(test_zremrangebyscore_removes_by_score),
        RKT_BOTH(test_zremrangebylex_removes_by_name),
        RKT_BOTH(test_zscan_one_step_gives_cursor_and_members_with_scores),
        RKT_BOTH(test_pipelined_zrange_withscores_has_the_same_shape),
        RKT_BOTH(test_geoadd_nx_adds_only_new_members),
        RKT_BOTH(test_geoadd_xx_ch_counts_changed_members_only),
        RKT_BOTH(test_geoadd_nx_with_xx_is_einval_and_sends_nothing),
        RKT_BOTH(test_geodist_gives_meters_as_a_double),
        RKT_BOTH(test_geodist_in_kilometers),
        RKT_BOTH(test_geodist_of_a_missing_member_is_nil),
        RKT_BOTH(test_geopos_gives_lon_lat_doubles_and_nil_for_missing),
        RKT_BOTH(test_geohash_gives_geohash_strings),
        RKT_BOTH(test_geosearch_frommember_byradius_asc),
        RKT_BOTH(test_geosearch_fromlonlat_bybox_asc_and_desc),
        RKT_BOTH(test_geosearch_fromlonlat_byradius_in_meters),
        RKT_BOTH(test_geosearch_count_and_count_any),
        RKT_BOTH(test_geosearch_withdist_gives_member_and_double),
        RKT_BOTH(test_geosearch_withcoord_gives_member_and_lon_lat),
        RKT_BOTH(test_geosearch_withhash_gives_member_and_integer),
        RKT_BOTH(test_geosearch_withdist_withhash_withcoord_order),
        RKT_BOTH(test_geosearch_withdist_withcoord_shape),
        RKT_BOTH(test_geosearch_without_from_is_einval),
        RKT_BOTH(test_geosearch_with_both_from_is_einval),
        RKT_BOTH(test_geosearchstore_counts_stored_members),
        RKT_BOTH(test_geosearchstore_storedist_stores_distances),
        RKT_BOTH(test_georadius_finds_members_in_range),
        RKT_BOTH(test_georadius_withdist_withcoord_shape),
        RKT_BOTH(test_georadius_store_counts_stored_members),
        RKT_BOTH(test_georadius_ro_withdist),
        RKT_BOTH(test_georadiusbymember_finds_members_near_a_member),
        RKT_BOTH(test_georadiusbymember_ro_withhash_withcoord),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
