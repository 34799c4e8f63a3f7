/* rk_scanner: the SCAN, SSCAN, HSCAN and ZSCAN iterators against a real
 * server on RESP2 and RESP3 (whole walks, filters, scores, binary keys,
 * errors, resuming from a cursor), and against a scripted fake server for
 * malformed batches and RESP3 double scores. */
#define _GNU_SOURCE

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rediskit/client.h"
#include "rediskit/error.h"
#include "rediskit/reply.h"
#include "rediskit/scan.h"
#include "rkt_fakeserver.h"
#include "rkt_server.h"
#include "rkt_shared.h"

static const int resp2 = 2, resp3 = 3;

/* ---- helpers ------------------------------------------------------------ */

static int proto(void **state) {
    return *(const int *)*state;
}

static rk_client *client_at(int port, int protocol) {
    rk_client *c = rk_client_new(&(rk_options){.port = port, .protocol = protocol});
    if (c == NULL)
        fail_msg("rk_client_new: %s", rk_error_last()->message);
    return c;
}

static rk_client *shared_client(void **state) {
    return client_at(rkt_server_port(&rkt_shared), proto(state));
}

static void call_ok(rk_client *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = rk_client_vcall(c, NULL, fmt, ap);
    va_end(ap);
    if (rc != RK_OK)
        fail_msg("%s: %s", fmt, rk_error_last()->message);
}

/* Runs a Lua loop `for i = 0, n - 1 do <body> end` on the server. */
static void fill(rk_client *c, int n, const char *body) {
    char script[256];
    snprintf(script, sizeof script, "for i = 0, %d do %s end", n - 1, body);
    call_ok(c, "EVAL %s 0", script);
}

static rk_scanner *scan_new(rk_client *c, rk_scanner_opts opts) {
    rk_scanner *it = rk_scanner_new(c, &opts);
    if (it == NULL)
        fail_msg("rk_scanner_new: %s", rk_error_last()->message);
    return it;
}

/* The number after prefix in s (len bytes), or -1 when s is not that. */
static long number_after(const char *prefix, const char *s, size_t len) {
    size_t p = strlen(prefix);
    if (len <= p || len - p > 9 || memcmp(s, prefix, p) != 0)
        return -1;
    long v = 0;
    for (size_t i = p; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Walks it to the end, marking seen[k] for each "<prefix>k" (k < n);
 * fails on anything else. Returns the number of items (with repeats). */
static size_t drain_numbered(rk_scanner *it, const char *prefix, bool *seen, long n) {
    rk_scan_item item;
    size_t items = 0;
    int rc;
    while ((rc = rk_scanner_next(it, &item)) == 1) {
        long k = number_after(prefix, item.str, item.len);
        if (k < 0 || k >= n)
            fail_msg("unexpected element %.*s", (int)item.len, item.str);
        seen[k] = true;
        items++;
    }
    if (rc != 0)
        fail_msg("rk_scanner_next: %d %s", rc, rk_error_last()->message);
    return items;
}

static void assert_all_seen(const bool *seen, long n) {
    for (long k = 0; k < n; k++)
        if (!seen[k])
            fail_msg("element %ld never returned", k);
}

/* How many times the server has run cmd (e.g. "hscan") since CONFIG
 * RESETSTAT. */
static long calls_of(rk_client *c, const char *cmd) {
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "INFO commandstats"), RK_OK);
    char field[64];
    snprintf(field, sizeof field, "cmdstat_%s:calls=", cmd);
    const char *at = strstr(rk_reply_str(&r), field);
    long calls = at ? strtol(at + strlen(field), NULL, 10) : 0;
    rk_reply_free(&r);
    return calls;
}

/* ---- SCAN --------------------------------------------------------------- */

static void test_scan_count_10_returns_each_of_1000_keys(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    fill(c, 1000, "redis.call('SET', 'k:' .. i, i)");
    rk_scanner *it = scan_new(c, (rk_scanner_opts){.count = 10});
    bool seen[1000] = {false};
    assert_true(drain_numbered(it, "k:", seen, 1000) >= 1000);
    assert_all_seen(seen, 1000);
    rk_scanner_free(it);
    rk_client_free(c);
}

static void test_scan_match_returns_only_matching_keys(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    fill(c, 200, "redis.call('SET', 'in:' .. i, i); redis.call('SET', 'out:' .. i, i)");
    rk_scanner *it = scan_new(c, (rk_scanner_opts){.match = "in:*", .count = 50});
    bool seen[200] = {false};
    drain_numbered(it, "in:", seen, 200); /* fails on any out: key */
    assert_all_seen(seen, 200);
    rk_scanner_free(it);
    rk_client_free(c);
}

static void test_scan_type_returns_only_hashes(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    fill(c, 100, "redis.call('HSET', 'h:' .. i, 'f', i); redis.call('SET', 's:' .. i, i)");
    rk_scanner *it = scan_new(c, (rk_scanner_opts){.type = "hash", .count = 20});
    bool seen[100] = {false};
    drain_numbered(it, "h:", seen, 100);
    assert_all_seen(seen, 100);
    rk_scanner_free(it);
    rk_client_free(c);
}

static void test_scan_of_empty_database_ends_at_once(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_scanner *it = scan_new(c, (rk_scanner_opts){0});
    rk_scan_item item;
    assert_int_equal(rk_scanner_next(it, &item), 0);
    assert_int_equal(rk_scanner_next(it, &item), 0); /* and stays over */
    assert_int_equal(rk_scanner_cursor(it), 0);
    rk_scanner_free(it);
    rk_client_free(c);
}

/* ---- SSCAN, HSCAN, ZSCAN -------------------------------------------------- */

static void test_sscan_returns_each_of_500_members(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    fill(c, 500, "redis.call('SADD', 'set', 'm' .. i)");
    rk_scanner *it = scan_new(c, (rk_scanner_opts){.kind = RK_SCAN_SET, .key = "set", .count = 10});
    bool seen[500] = {false};
    drain_numbered(it, "m", seen, 500);
    assert_all_seen(seen, 500);
    rk_scanner_free(it);
    rk_client_free(c);
}

static void test_hscan_pairs_each_of_300_fields_with_its_value(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    fill(c, 300, "redis.call('HSET', 'hash', 'f' .. i, 'v' .. i)");
    rk_scanner *it =
        scan_new(c, (rk_scanner_opts){.kind = RK_SCAN_HASH, .key = "hash", .count = 10});
    bool seen[300] = {false};
    rk_scan_item item;
    int rc;
    while ((rc = rk_scanner_next(it, &item)) == 1) {
        long k = number_after("f", item.str, item.len);
        assert_true(k >= 0 && k < 300);
        assert_int_equal(number_after("v", item.value, item.value_len), k);
        seen[k] = true;
    }
    assert_int_equal(rc, 0);
    assert_all_seen(seen, 300);
    rk_scanner_free(it);
    rk_client_free(c);
}

static const struct {
    const char *member;
    const char *score; /* as ZADD takes it */
    double value;
} zscores[] = {
    {"neg", "-1.5", -1.5},
    {"tenth", "0.1", 0.1},
    {"third", "0.3333333333333333", 0.3333333333333333},
    {"big", "1e300", 1e300},
    {"tiny", "-2.5e-300", -2.5e-300},
    {"zero", "0", 0.0},
    {"inf", "+inf", INFINITY},
    {"ninf", "-inf", -INFINITY},
};

/* Adds the members above to key, and `padding` members more (p0...). */
static void add_zscores(rk_client *c, const char *key, int padding) {
    for (size_t i = 0; i < sizeof zscores / sizeof zscores[0]; i++)
        call_ok(c, "ZADD %s %s %s", key, zscores[i].score, zscores[i].member);
    char body[96];
    snprintf(body, sizeof body, "redis.call('ZADD', '%s', i, 'p' .. i)", key);
    if (padding > 0)
        fill(c, padding, body);
}

/* Walks a ZSCAN of key and checks every member of zscores has its exact
 * score and each padding member p<i> the score i. */
static void check_zscores(rk_client *c, const char *key, int padding) {
    rk_scanner *it = scan_new(c, (rk_scanner_opts){.kind = RK_SCAN_ZSET, .key = key, .count = 10});
    size_t n = sizeof zscores / sizeof zscores[0], found = 0;
    rk_scan_item item;
    int rc;
    while ((rc = rk_scanner_next(it, &item)) == 1) {
        long p = number_after("p", item.str, item.len);
        if (p >= 0) {
            assert_true(p < padding && item.score == (double)p);
            continue;
        }
        size_t i = 0;
        while (i < n && strcmp(item.str, zscores[i].member) != 0)
            i++;
        assert_true(i < n);
        if (item.score != zscores[i].value)
            fail_msg("%s: score %.17g, want %.17g", item.str, item.score, zscores[i].value);
        found++;
    }
    assert_int_equal(rc, 0);
    assert_true(found >= n);
    rk_scanner_free(it);
}

static void test_zscan_small_zset_gives_exact_scores(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    add_zscores(c, "zsmall", 0); /* listpack encoding */
    check_zscores(c, "zsmall", 0);
    rk_client_free(c);
}

static void test_zscan_large_zset_gives_exact_scores(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    add_zscores(c, "zlarge", 300); /* skiplist encoding */
    check_zscores(c, "zlarge", 300);
    rk_client_free(c);
}

static void test_small_hash_comes_in_one_batch(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    call_ok(c, "HSET small a 1 b 2 c 3");
    call_ok(c, "CONFIG RESETSTAT");
    rk_scanner *it = scan_new(c, (rk_scanner_opts){.kind = RK_SCAN_HASH, .key = "small"});
    rk_scan_item item;
    int items = 0;
    while (rk_scanner_next(it, &item) == 1) {
        assert_int_equal(item.len, 1);
        assert_int_equal(item.value_len, 1);
        assert_int_equal(item.value[0] - '1', item.str[0] - 'a');
        items++;
    }
    assert_int_equal(items, 3);
    assert_int_equal(calls_of(c, "hscan"), 1);
    rk_scanner_free(it);
    rk_client_free(c);
}

static void test_missing_key_ends_at_once(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_scan_kind kinds[] = {RK_SCAN_SET, RK_SCAN_HASH, RK_SCAN_ZSET};
    for (size_t i = 0; i < 3; i++) {
        rk_scanner *it = scan_new(c, (rk_scanner_opts){.kind = kinds[i], .key = "nothing-here"});
        rk_scan_item item;
        assert_int_equal(rk_scanner_next(it, &item), 0);
        rk_scanner_free(it);
    }
    rk_client_free(c);
}

/* ---- binary keys -------------------------------------------------------- */

static void test_binary_keys_with_nul_bytes_round_trip(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    static const char key[] = "b\0in\0key", field[] = "f\0x", value[] = "v\0\xff";
    assert_int_equal(rk_client_call(c, NULL, "HSET %b %b %b", key, sizeof key - 1, field,
                                    sizeof field - 1, value, sizeof value - 1),
                     RK_OK);
    rk_scanner *keys = scan_new(c, (rk_scanner_opts){.match = "b*"});
    rk_scan_item item;
    assert_int_equal(rk_scanner_next(keys, &item), 1);
    assert_memory_equal(item.str, key, sizeof key);
    assert_int_equal(item.len, sizeof key - 1);
    assert_int_equal(rk_scanner_next(keys, &item), 0);
    rk_scanner_free(keys);
    rk_scanner *h =
        scan_new(c, (rk_scanner_opts){.kind = RK_SCAN_HASH, .key = key, .key_len = sizeof key - 1});
    assert_int_equal(rk_scanner_next(h, &item), 1);
    assert_int_equal(item.len, sizeof field - 1);
    assert_memory_equal(item.str, field, sizeof field - 1);
    assert_int_equal(item.value_len, sizeof value - 1);
    assert_memory_equal(item.value, value, sizeof value - 1);
    assert_int_equal(rk_scanner_next(h, &item), 0);
    rk_scanner_free(h);
    rk_client_free(c);
}

/* ---- errors --------------------------------------------------------------- */

static void test_sscan_of_string_is_eserver_wrongtype(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    call_ok(c, "SET str v");
    rk_scanner *it = scan_new(c, (rk_scanner_opts){.kind = RK_SCAN_SET, .key = "str"});
    rk_scan_item item;
    assert_int_equal(rk_scanner_next(it, &item), RK_ESERVER);
    assert_string_equal(rk_error_last()->prefix, "WRONGTYPE");
    rk_scanner_free(it);
    rk_client_free(c);
}

static void test_failed_batch_is_fetched_again_on_next_call(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    call_ok(c, "SET s v");
    rk_scanner *it = scan_new(c, (rk_scanner_opts){.kind = RK_SCAN_SET, .key = "s"});
    rk_scan_item item;
    assert_int_equal(rk_scanner_next(it, &item), RK_ESERVER);
    call_ok(c, "DEL s");
    call_ok(c, "SADD s only");
    assert_int_equal(rk_scanner_next(it, &item), 1);
    assert_memory_equal(item.str, "only", 5);
    assert_int_equal(rk_scanner_next(it, &item), 0);
    rk_scanner_free(it);
    rk_client_free(c);
}

static void test_bad_options_are_einval(void **state) {
    (void)state;
    rk_client *c = client_at(6379, 2); /* never connects */
    const rk_scanner_opts bad[] = {
        {.kind = RK_SCAN_KEYS, .key = "k"},
        {.kind = RK_SCAN_HASH},
        {.kind = RK_SCAN_SET, .key = "k", .type = "set"},
        {.count = -1},
        {.kind = (rk_scan_kind)9},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rk_error_clear();
        assert_null(rk_scanner_new(c, &bad[i]));
        assert_int_equal(rk_error_last()->code, RK_EINVAL);
    }
    assert_null(rk_scanner_new(c, NULL));
    assert_null(rk_scanner_new(NULL, &(rk_scanner_opts){0}));
    rk_client_free(c);
}

/* ---- resuming ----------------------------------------------------------- */

static void test_resuming_mid_batch_from_cursor_misses_no_key(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    fill(c, 1000, "redis.call('SET', 'k:' .. i, i)");
    rk_scanner_opts opts = {.match = "k:*", .count = 10};
    rk_scanner *first = scan_new(c, opts);
    bool seen[1000] = {false};
    rk_scan_item item;
    for (int i = 0; i < 25; i++) { /* into the third batch or so */
        assert_int_equal(rk_scanner_next(first, &item), 1);
        long k = number_after("k:", item.str, item.len);
        assert_true(k >= 0 && k < 1000);
        seen[k] = true;
    }
    opts.cursor = rk_scanner_cursor(first);
    assert_true(opts.cursor != 0);
    rk_scanner_free(first);
    rk_scanner *rest = scan_new(c, opts);
    drain_numbered(rest, "k:", seen, 1000);
    assert_all_seen(seen, 1000);
    assert_int_equal(rk_scanner_cursor(rest), 0);
    rk_scanner_free(rest);
    rk_client_free(c);
}

/* ---- replies no real server sends ----------------------------------------- */

static rkt_fake *fake_with(const char *reply) {
    const rkt_fake_step step = {.reply = reply};
    rkt_fake *f = rkt_fake_start(&step, 1, NULL);
    assert_non_null(f);
    return f;
}

static void test_malformed_batch_is_eproto(void **state) {
    static const char *const replies[] = {
        "+OK\r\n",                                      /* not an array */
        "*1\r\n$1\r\n0\r\n",                            /* one element */
        "*2\r\n:0\r\n*0\r\n",                           /* integer cursor */
        "*2\r\n$2\r\n1x\r\n*0\r\n",                     /* cursor not decimal */
        "*2\r\n$21\r\n123456789012345678901\r\n*0\r\n", /* cursor too long */
        "*2\r\n$1\r\n0\r\n$1\r\na\r\n",                 /* elements not an array */
        "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nf\r\n",           /* odd count for HSCAN */
        "*2\r\n$1\r\n0\r\n*2\r\n:1\r\n$1\r\nv\r\n",     /* integer field */
    };
    for (size_t i = 0; i < sizeof replies / sizeof replies[0]; i++) {
        rkt_fake *f = fake_with(replies[i]);
        rk_client *c = client_at(rkt_fake_port(f), proto(state));
        rk_scanner *it = scan_new(c, (rk_scanner_opts){.kind = RK_SCAN_HASH, .key = "h"});
        rk_scan_item item;
        if (rk_scanner_next(it, &item) != RK_EPROTO)
            fail_msg("reply %zu was not refused", i);
        rk_scanner_free(it);
        rk_client_free(c);
        rkt_fake_free(f);
    }
}

/* A server that answers the cursor it was sent (with an empty batch)
 * would keep the walk going for ever: its second such batch is refused. */
static void test_cursor_that_does_not_move_is_eproto(void **state) {
    const rkt_fake_step step = {.reply = "*2\r\n$1\r\n7\r\n*0\r\n"};
    const rkt_fake_step steps[] = {step, step, step};
    rkt_fake *f = rkt_fake_start(steps, 3, NULL);
    assert_non_null(f);
    rk_client *c = client_at(rkt_fake_port(f), proto(state));
    rk_scanner *it = scan_new(c, (rk_scanner_opts){.match = "k*"});
    rk_scan_item item;
    assert_int_equal(rk_scanner_next(it, &item), RK_EPROTO);
    assert_int_equal(rkt_fake_steps_left(f), 1); /* SCAN 0, then SCAN 7 once */
    assert_int_equal(rk_scanner_cursor(it), 7);
    rk_scanner_free(it);
    rk_client_free(c);
    rkt_fake_free(f);
}

static void test_zscan_scores_may_be_resp3_doubles(void **state) {
    rkt_fake *f = fake_with("*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n,-2.5\r\n$1\r\nb\r\n,inf\r\n");
    rk_client *c = client_at(rkt_fake_port(f), proto(state));
    rk_scanner *it = scan_new(c, (rk_scanner_opts){.kind = RK_SCAN_ZSET, .key = "z"});
    rk_scan_item item;
    assert_int_equal(rk_scanner_next(it, &item), 1);
    assert_true(item.score == -2.5);
    assert_int_equal(rk_scanner_next(it, &item), 1);
    assert_true(isinf(item.score) && item.score > 0);
    assert_int_equal(rk_scanner_next(it, &item), 0);
    rk_scanner_free(it);
    rk_client_free(c);
    rkt_fake_free(f);
}

static void test_options_are_sent_in_order(void **state) {
    rkt_fake *f = fake_with("*2\r\n$1\r\n0\r\n*0\r\n");
    rk_client *c = client_at(rkt_fake_port(f), proto(state));
    rk_scanner *it =
        scan_new(c, (rk_scanner_opts){.match = "a*", .count = 7, .type = "zset", .cursor = 42});
    rk_scan_item item;
    assert_int_equal(rk_scanner_next(it, &item), 0);
    size_t n = rkt_fake_commands(f);
    assert_string_equal(rkt_fake_command(f, n - 1), "SCAN 42 MATCH a* COUNT 7 TYPE zset");
    rk_scanner_free(it);
    rk_client_free(c);
    rkt_fake_free(f);
}

/* ---- main --------------------------------------------------------------- */

static int flush_shared(void **state) {
    (void)state;
    if (rkt_shared_running())
        free(rkt_server_cmd(&rkt_shared, "FLUSHALL", NULL));
    return 0;
}

/* Each test twice: on RESP2 and on RESP3. */
#define BOTH(f)                                                                                    \
    {#f "/resp2", f, flush_shared, NULL, (void *)&resp2}, {                                        \
#f "/resp3", f, flush_shared, NULL, (void *)&resp3                                         \
    }

int main(void) {
    const struct CMUnitTest tests[] = {
        BOTH(test_scan_count_10_returns_each_of_1000_keys),
        BOTH(test_scan_match_returns_only_matching_keys),
        BOTH(test_scan_type_returns_only_hashes),
        BOTH(test_scan_of_empty_database_ends_at_once),
        BOTH(test_sscan_returns_each_of_500_members),
        BOTH(test_hscan_pairs_each_of_300_fields_with_its_value),
        BOTH(test_zscan_small_zset_gives_exact_scores),
        BOTH(test_zscan_large_zset_gives_exact_scores),
        BOTH(test_small_hash_comes_in_one_batch),
        BOTH(test_missing_key_ends_at_once),
        BOTH(test_binary_keys_with_nul_bytes_round_trip),
        BOTH(test_sscan_of_string_is_eserver_wrongtype),
        BOTH(test_failed_batch_is_fetched_again_on_next_call),
        BOTH(test_resuming_mid_batch_from_cursor_misses_no_key),
        BOTH(test_malformed_batch_is_eproto),
        BOTH(test_cursor_that_does_not_move_is_eproto),
        BOTH(test_zscan_scores_may_be_resp3_doubles),
        BOTH(test_options_are_sent_in_order),
        cmocka_unit_test(test_bad_options_are_einval),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
