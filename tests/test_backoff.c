/* Tests of rk_backoff_delay: the exact exponential sequence, the bounds of
 * every kind over many attempts and seeds, that jitter really spreads, the
 * defaults of a zeroed policy, and that huge attempt numbers and previous
 * delays cannot overflow. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rediskit/options.h"

#define SEEDS 200
#define ATTEMPTS 40

static const rk_backoff every_kind[] = {RK_BACKOFF_DEFAULT,
                                        RK_BACKOFF_NONE,
                                        RK_BACKOFF_CONSTANT,
                                        RK_BACKOFF_EXPONENTIAL,
                                        RK_BACKOFF_FULL_JITTER,
                                        RK_BACKOFF_EQUAL_JITTER,
                                        RK_BACKOFF_DECORRELATED_JITTER};

/* min(cap, base * 2^(attempt - 1)), the slow obvious way. */
static int expected_exponential(int base, int cap, int attempt) {
    long double d = base;
    for (int i = 1; i < attempt && d < cap; i++)
        d *= 2;
    return d < cap ? (int)d : cap;
}

static void test_exponential_sequence_is_exact(void **state) {
    (void)state;
    rk_retry p = {.backoff = RK_BACKOFF_EXPONENTIAL, .base_ms = 10, .cap_ms = 1000};
    const int want[] = {10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000};
    unsigned seed = 1;
    for (int i = 0; i < 10; i++)
        assert_int_equal(rk_backoff_delay(&p, i + 1, 0, &seed), want[i]);
}

static void test_zeroed_policy_uses_defaults(void **state) {
    (void)state;
    rk_retry p = {.backoff = RK_BACKOFF_EXPONENTIAL};
    unsigned seed = 1;
    assert_int_equal(rk_backoff_delay(&p, 1, 0, &seed), RK_DEFAULT_RETRY_BASE_MS);
    assert_int_equal(rk_backoff_delay(&p, 2, 0, &seed), 2 * RK_DEFAULT_RETRY_BASE_MS);
    assert_int_equal(rk_backoff_delay(&p, 100, 0, &seed), RK_DEFAULT_RETRY_CAP_MS);
}

/* The default kind is equal jitter: [exp/2, exp]. */
static void test_default_kind_is_equal_jitter(void **state) {
    (void)state;
    rk_retry p = {0};
    for (unsigned s = 1; s <= SEEDS; s++) {
        unsigned seed = s;
        for (int a = 1; a <= ATTEMPTS; a++) {
            int exp = expected_exponential(RK_DEFAULT_RETRY_BASE_MS, RK_DEFAULT_RETRY_CAP_MS, a);
            int d = rk_backoff_delay(&p, a, 0, &seed);
            assert_in_range(d, exp / 2, exp);
        }
    }
    unsigned s1 = 42, s2 = 42;
    rk_retry equal = {.backoff = RK_BACKOFF_EQUAL_JITTER};
    for (int a = 1; a <= ATTEMPTS; a++)
        assert_int_equal(rk_backoff_delay(&p, a, 0, &s1), rk_backoff_delay(&equal, a, 0, &s2));
}

static void test_none_is_zero(void **state) {
    (void)state;
    rk_retry p = {.backoff = RK_BACKOFF_NONE, .base_ms = 100, .cap_ms = 1000};
    unsigned seed = 7;
    for (int a = 1; a <= ATTEMPTS; a++)
        assert_int_equal(rk_backoff_delay(&p, a, 50, &seed), 0);
}

static void test_constant_is_base_capped(void **state) {
    (void)state;
    rk_retry p = {.backoff = RK_BACKOFF_CONSTANT, .base_ms = 100, .cap_ms = 1000};
    unsigned seed = 7;
    for (int a = 1; a <= ATTEMPTS; a++)
        assert_int_equal(rk_backoff_delay(&p, a, 0, &seed), 100);
    p.cap_ms = 60;
    assert_int_equal(rk_backoff_delay(&p, 1, 0, &seed), 60);
}

/* Draws delays for each seed and attempt, checks each against
 * [lo(attempt), hi(attempt)] and returns how many distinct values came out
 * for the given attempt. */
static int check_jitter(rk_backoff kind, int base, int cap, int probe_attempt,
                        int (*lo)(int base, int cap, int attempt),
                        int (*hi)(int base, int cap, int attempt)) {
    rk_retry p = {.backoff = kind, .base_ms = base, .cap_ms = cap};
    static unsigned char seen[1 << 16];
    int distinct = 0;
    memset(seen, 0, sizeof(seen));
    for (unsigned s = 1; s <= SEEDS; s++) {
        unsigned seed = s;
        for (int a = 1; a <= ATTEMPTS; a++) {
            int d = rk_backoff_delay(&p, a, 0, &seed);
            assert_in_range(d, lo(base, cap, a), hi(base, cap, a));
            if (a == probe_attempt && !seen[d]++)
                distinct++;
        }
    }
    return distinct;
}

static int zero(int base, int cap, int attempt) {
    (void)base, (void)cap, (void)attempt;
    return 0;
}

static int half_exponential(int base, int cap, int attempt) {
    return expected_exponential(base, cap, attempt) / 2;
}

static void test_full_jitter_stays_in_zero_to_exponential(void **state) {
    (void)state;
    int distinct = check_jitter(RK_BACKOFF_FULL_JITTER, 10, 5000, 8, zero, expected_exponential);
    assert_true(distinct > SEEDS / 2); /* 200 draws from 0..1280 */
}

static void test_equal_jitter_stays_in_upper_half(void **state) {
    (void)state;
    int distinct =
        check_jitter(RK_BACKOFF_EQUAL_JITTER, 10, 5000, 8, half_exponential, expected_exponential);
    assert_true(distinct > SEEDS / 3); /* 200 draws from 640..1280 */
}

/* Over many seeds a jittered first delay reaches both ends of its range. */
static void test_jitter_covers_its_range(void **state) {
    (void)state;
    rk_retry p = {.backoff = RK_BACKOFF_FULL_JITTER, .base_ms = 4, .cap_ms = 100};
    int hits[5] = {0};
    for (unsigned s = 0; s < 1000; s++) {
        unsigned seed = s;
        hits[rk_backoff_delay(&p, 1, 0, &seed)]++;
    }
    for (int v = 0; v <= 4; v++)
        assert_true(hits[v] > 100); /* about 200 each */
}

static void test_decorrelated_jitter_bounds(void **state) {
    (void)state;
    rk_retry p = {.backoff = RK_BACKOFF_DECORRELATED_JITTER, .base_ms = 10, .cap_ms = 2000};
    int distinct = 0, reached_cap = 0;
    static unsigned char seen[2001];
    for (unsigned s = 1; s <= SEEDS; s++) {
        unsigned seed = s;
        int previous = 0;
        for (int a = 1; a <= ATTEMPTS; a++) {
            int d = rk_backoff_delay(&p, a, previous, &seed);
            int hi = previous ? previous * 3 : 30;
            assert_in_range(d, 10, hi < 2000 ? hi : 2000);
            reached_cap |= d == 2000;
            if (!seen[d]++)
                distinct++;
            previous = d;
        }
    }
    assert_true(reached_cap);
    assert_true(distinct > 500);
}

static void test_decorrelated_previous_zero_means_base(void **state) {
    (void)state;
    rk_retry p = {.backoff = RK_BACKOFF_DECORRELATED_JITTER, .base_ms = 50, .cap_ms = 10000};
    int lowest = INT_MAX, highest = 0;
    for (unsigned s = 0; s < 1000; s++) {
        unsigned seed = s;
        int d = rk_backoff_delay(&p, 1, 0, &seed);
        lowest = d < lowest ? d : lowest;
        highest = d > highest ? d : highest;
    }
    assert_in_range(lowest, 50, 55);
    assert_in_range(highest, 145, 150);
}

static void test_base_over_cap_gives_cap(void **state) {
    (void)state;
    unsigned seed = 3;
    for (size_t k = 0; k < sizeof(every_kind) / sizeof(every_kind[0]); k++) {
        rk_retry p = {.backoff = every_kind[k], .base_ms = 500, .cap_ms = 100};
        for (int a = 1; a <= ATTEMPTS; a++)
            assert_in_range(rk_backoff_delay(&p, a, 400, &seed), 0, 100);
    }
}

static void test_large_numbers_do_not_overflow(void **state) {
    (void)state;
    const int attempts[] = {31, 32, 33, 63, 64, 1000, INT_MAX};
    const int bases[] = {1, 8, INT_MAX / 2, INT_MAX};
    unsigned seed = 99;
    for (size_t k = 0; k < sizeof(every_kind) / sizeof(every_kind[0]); k++)
        for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++)
            for (size_t a = 0; a < sizeof(attempts) / sizeof(attempts[0]); a++) {
                rk_retry p = {.backoff = every_kind[k], .base_ms = bases[b], .cap_ms = INT_MAX};
                int d = rk_backoff_delay(&p, attempts[a], INT_MAX, &seed);
                assert_in_range(d, 0, INT_MAX);
            }
    rk_retry p = {.backoff = RK_BACKOFF_EXPONENTIAL, .base_ms = 3, .cap_ms = INT_MAX};
    assert_int_equal(rk_backoff_delay(&p, INT_MAX, 0, &seed), INT_MAX);
    assert_int_equal(rk_backoff_delay(&p, 30, 0, &seed), 3 << 29);
}

static void test_odd_inputs_are_safe(void **state) {
    (void)state;
    rk_retry p = {.backoff = RK_BACKOFF_EXPONENTIAL, .base_ms = -5, .cap_ms = -1};
    unsigned seed = 0;
    assert_int_equal(rk_backoff_delay(&p, 1, 0, &seed), RK_DEFAULT_RETRY_BASE_MS);
    assert_int_equal(rk_backoff_delay(&p, 0, 0, &seed), RK_DEFAULT_RETRY_BASE_MS);
    assert_int_equal(rk_backoff_delay(&p, -7, 0, &seed), RK_DEFAULT_RETRY_BASE_MS);
    assert_in_range(rk_backoff_delay(NULL, 3, 0, &seed), 16, 32); /* equal jitter */
    assert_in_range(rk_backoff_delay(NULL, 3, 0, NULL), 16, 32);
    p.backoff = (rk_backoff)99; /* unknown: the default */
    assert_in_range(rk_backoff_delay(&p, 3, 0, &seed), 16, 32);
    p.backoff = RK_BACKOFF_DECORRELATED_JITTER;
    assert_in_range(rk_backoff_delay(&p, 1, -100, &seed), 8, 24);
}

static void test_same_seed_same_delays(void **state) {
    (void)state;
    rk_retry p = {.backoff = RK_BACKOFF_FULL_JITTER, .base_ms = 10, .cap_ms = 100000};
    unsigned a = 1234, b = 1234;
    int differs_from_previous = 0, previous = -1;
    for (int i = 1; i <= 16; i++) {
        int d = rk_backoff_delay(&p, i, 0, &a);
        assert_int_equal(d, rk_backoff_delay(&p, i, 0, &b));
        differs_from_previous += d != previous;
        previous = d;
    }
    assert_int_equal(a, b);
    assert_int_not_equal(a, 1234); /* the seed moved */
    assert_true(differs_from_previous > 8);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exponential_sequence_is_exact),
        cmocka_unit_test(test_zeroed_policy_uses_defaults),
        cmocka_unit_test(test_default_kind_is_equal_jitter),
        cmocka_unit_test(test_none_is_zero),
        cmocka_unit_test(test_constant_is_base_capped),
        cmocka_unit_test(test_full_jitter_stays_in_zero_to_exponential),
        cmocka_unit_test(test_equal_jitter_stays_in_upper_half),
        cmocka_unit_test(test_jitter_covers_its_range),
        cmocka_unit_test(test_decorrelated_jitter_bounds),
        cmocka_unit_test(test_decorrelated_previous_zero_means_base),
        cmocka_unit_test(test_base_over_cap_gives_cap),
        cmocka_unit_test(test_large_numbers_do_not_overflow),
        cmocka_unit_test(test_odd_inputs_are_safe),
        cmocka_unit_test(test_same_seed_same_delays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
