/* Tests of rk-bench: its histogram (compiled in from tools/rk-bench/hist.c)
 * and the built binary (RK_TEST_BUILD_DIR/tools/rk-bench) run against a
 * real redis-server with a password, with small request counts. The binary
 * tests skip when the binary or redis-server is missing. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../tools/rk-bench/hist.c"
#include "rkt_server.h"

#define PASSWORD "bench-pw"
#define MAX_ARGS 32
#define MAX_ROWS 32
#define RUN_TIMEOUT_MS 120000

/* ---- the histogram ------------------------------------------------------ */

static void test_hist_bucket_holds_value_within_one_64th(void **state) {
    (void)state;
    unsigned prev = 0;
    for (uint64_t v = 0; v < 5000000; v += 1 + v / 100) {
        unsigned i = rkb_hist_index(v);
        uint64_t high = rkb_hist_bucket_high(i);
        assert_true(i >= prev);
        assert_true(high >= v);
        assert_true(high - v <= v / 64);
        prev = i;
    }
}

static void test_hist_percentiles_of_uniform_values(void **state) {
    (void)state;
    rkb_hist h;
    rkb_hist_reset(&h);
    for (uint64_t v = 1; v <= 10000; v++)
        rkb_hist_record(&h, v);
    uint64_t p50 = rkb_hist_percentile(&h, 50);
    assert_true(p50 >= 5000 && p50 <= 5000 + 5000 / 64);
    uint64_t p99 = rkb_hist_percentile(&h, 99);
    assert_true(p99 >= 9900 && p99 <= 9900 + 9900 / 64);
    assert_int_equal(rkb_hist_percentile(&h, 100), 10000);
    assert_int_equal(rkb_hist_percentile(&h, 0), 1);
    assert_int_equal(h.count, 10000);
    assert_true(rkb_hist_mean(&h) > 5000.4 && rkb_hist_mean(&h) < 5000.6);
}

static void test_hist_percentiles_are_monotonic(void **state) {
    (void)state;
    rkb_hist h;
    rkb_hist_reset(&h);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        rkb_hist_record(&h, (x % 1000) * (x % 1000) + 3);
    }
    uint64_t prev = 0;
    for (double p = 0; p <= 100; p += 0.1) {
        uint64_t v = rkb_hist_percentile(&h, p);
        assert_true(v >= prev);
        prev = v;
    }
    assert_int_equal(prev, h.max);
}

static void test_hist_merge_adds_counts_and_extremes(void **state) {
    (void)state;
    rkb_hist a, b;
    rkb_hist_reset(&a);
    rkb_hist_reset(&b);
    rkb_hist_record_n(&a, 10, 3);
    rkb_hist_record(&b, 2);
    rkb_hist_record(&b, 900);
    rkb_hist_merge(&a, &b);
    assert_int_equal(a.count, 5);
    assert_int_equal(a.min, 2);
    assert_int_equal(a.max, 900);
    assert_int_equal(a.sum, 932);
    assert_int_equal(rkb_hist_percentile(&a, 50), 10);
}

static void test_hist_huge_value_lands_in_last_bucket_with_exact_max(void **state) {
    (void)state;
    rkb_hist h;
    rkb_hist_reset(&h);
    rkb_hist_record(&h, UINT64_MAX / 2);
    assert_int_equal(h.buckets[RKB_HIST_BUCKETS - 1], 1);
    assert_int_equal(rkb_hist_percentile(&h, 99.9), UINT64_MAX / 2);
}

static void test_hist_empty_reports_zero(void **state) {
    (void)state;
    rkb_hist h;
    rkb_hist_reset(&h);
    assert_int_equal(rkb_hist_percentile(&h, 50), 0);
    assert_true(rkb_hist_mean(&h) == 0.0);
}

/* ---- running the binary -------------------------------------------------- */

typedef struct fixture {
    rkt_server srv;
    char bin[PATH_MAX];
    char out[PATH_MAX];
    char port[16];
} fixture;

static int group_setup(void **state) {
    const char *dir = getenv("RK_TEST_BUILD_DIR");
    fixture *f = calloc(1, sizeof(*f));
    *state = f;
    if (!f || !dir)
        return 0;
    snprintf(f->bin, sizeof(f->bin), "%s/tools/rk-bench", dir);
    if (access(f->bin, X_OK) != 0 || !rkt_have_binary("redis-server")) {
        f->bin[0] = '\0';
        return 0;
    }
    rkt_server_opts opts = {.requirepass = PASSWORD};
    if (rkt_server_start(&f->srv, &opts) != 0)
        return -1;
    snprintf(f->out, sizeof(f->out), "%s/bench.out", rkt_server_dir(&f->srv));
    snprintf(f->port, sizeof(f->port), "%d", rkt_server_port(&f->srv));
    return 0;
}

static int group_teardown(void **state) {
    fixture *f = *state;
    if (f)
        rkt_server_stop(&f->srv);
    free(f);
    return 0;
}

static fixture *need_binary(void **state) {
    fixture *f = *state;
    if (!f || !f->bin[0]) {
        rkt_skip_missing("rk-bench (RK_TEST_BUILD_DIR) or redis-server not found");
        skip();
    }
    return f;
}

static char *read_file(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *nb = realloc(buf, cap);
            assert_non_null(nb);
            buf = nb;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(fp);
    if (!buf)
        buf = calloc(1, 1);
    else
        buf[len] = '\0';
    return buf;
}

/* Runs rk-bench with the given arguments (NULL-terminated), without any
 * connection option added. Returns its exit status; *output (free it) gets
 * what it printed on stdout and stderr. */
static int run_raw(fixture *f, char **output, const char *arg0, ...) {
    const char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = f->bin;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && argc < MAX_ARGS - 1; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    unlink(f->out);
    int status = rkt_run(argv, f->out, RUN_TIMEOUT_MS);
    *output = read_file(f->out);
    assert_non_null(*output);
    if (status != 0)
        fprintf(stderr, "rk-bench exited %d:\n%s\n", status, *output);
    return status;
}

/* The same, connecting to the fixture's server with its password. */
#define RUN(f, out, ...) run_raw(f, out, "-p", (f)->port, "-a", PASSWORD, __VA_ARGS__, NULL)

/* One CSV row: the title and the numbers after it. */
typedef struct row {
    char title[64];
    double rps, avg, min, p50, p90, p99, p999, max;
    long requests, errors;
} row;

/* Parses the CSV output; returns the rows after checking the header. */
static int parse_csv(const char *text, row *rows, int max_rows) {
    assert_true(strncmp(text, "\"test\",\"rps\",", 13) == 0);
    const char *line = strchr(text, '\n');
    int n = 0;
    while (line && line[1] && n < max_rows) {
        line++;
        row *r = &rows[n];
        int got = sscanf(line,
                         "\"%63[^\"]\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\",\"%lf\","
                         "\"%lf\",\"%ld\",\"%ld\"",
                         r->title, &r->rps, &r->avg, &r->min, &r->p50, &r->p90, &r->p99, &r->p999,
                         &r->max, &r->requests, &r->errors);
        assert_int_equal(got, 11);
        n++;
        line = strchr(line, '\n');
    }
    return n;
}

static long server_integer(fixture *f, const char *arg0, ...) {
    const char *argv[8];
    int argc = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && argc < 8; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    int fd = rkt_server_connect(&f->srv);
    assert_true(fd >= 0);
    char *reply = rkt_raw_command(fd, RKT_RAW_TIMEOUT_MS, NULL, argc, argv);
    close(fd);
    assert_non_null(reply);
    assert_int_equal(reply[0], ':');
    long v = atol(reply + 1);
    free(reply);
    return v;
}

/* A number from INFO's "name:value" line. */
static long info_field(fixture *f, const char *section, const char *name) {
    int fd = rkt_server_connect(&f->srv);
    assert_true(fd >= 0);
    const char *argv[] = {"INFO", section};
    char *reply = rkt_raw_command(fd, RKT_RAW_TIMEOUT_MS, NULL, 2, argv);
    close(fd);
    assert_non_null(reply);
    char key[64];
    snprintf(key, sizeof(key), "\n%s:", name);
    const char *p = strstr(reply, key);
    assert_non_null(p);
    long v = atol(p + strlen(key));
    free(reply);
    return v;
}

static void flushall(fixture *f) {
    char *reply = rkt_server_cmd(&f->srv, "FLUSHALL", NULL);
    assert_non_null(reply);
    assert_string_equal(reply, "+OK\r\n");
    free(reply);
}

static void test_every_test_kind_reports_the_requested_count(void **state) {
    fixture *f = need_binary(state);
    static const char *titles[] = {"PING_MBULK",
                                   "SET",
                                   "GET",
                                   "INCR",
                                   "LPUSH",
                                   "RPUSH",
                                   "LPOP",
                                   "RPOP",
                                   "SADD",
                                   "HSET",
                                   "SPOP",
                                   "ZADD",
                                   "ZPOPMIN",
                                   "LPUSH (needed to benchmark LRANGE)",
                                   "LRANGE_100 (first 100 elements)",
                                   "MSET (10 keys)"};
    char *out;
    assert_int_equal(RUN(f, &out, "--csv", "-n", "300", "-c", "4", "-t",
                         "ping,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,"
                         "lrange_100,mset"),
                     0);
    row rows[MAX_ROWS];
    int n = parse_csv(out, rows, MAX_ROWS);
    assert_int_equal(n, sizeof(titles) / sizeof(titles[0]));
    for (int i = 0; i < n; i++) {
        assert_string_equal(rows[i].title, titles[i]);
        assert_int_equal(rows[i].requests, 300);
        assert_int_equal(rows[i].errors, 0);
        assert_true(rows[i].rps > 0);
    }
    free(out);
}

static void test_random_keys_stay_within_the_keyspace(void **state) {
    fixture *f = need_binary(state);
    flushall(f);
    char *out;
    assert_int_equal(RUN(f, &out, "-q", "-t", "set", "-n", "1000", "-r", "100"), 0);
    free(out);
    long keys = server_integer(f, "DBSIZE", NULL);
    assert_true(keys > 0 && keys <= 100);
    char *key = rkt_server_cmd(&f->srv, "RANDOMKEY", NULL);
    assert_non_null(key);
    assert_true(strncmp(key, "$16\r\nkey:000000000", 18) == 0); /* key:0000000000NN */
    free(key);
}

static void test_csv_has_a_header_and_one_row_per_test(void **state) {
    fixture *f = need_binary(state);
    char *out;
    assert_int_equal(RUN(f, &out, "--csv", "-n", "200", "-t", "ping,set,get"), 0);
    row rows[MAX_ROWS];
    assert_int_equal(parse_csv(out, rows, MAX_ROWS), 3);
    int lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 4);
    free(out);
}

static int count_of(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_json_has_the_fields_of_each_test(void **state) {
    fixture *f = need_binary(state);
    char *out;
    assert_int_equal(RUN(f, &out, "--json", "-n", "200", "-t", "set,get"), 0);
    assert_int_equal(out[0], '{');
    assert_non_null(strstr(out, "\"tool\": \"rk-bench\""));
    assert_non_null(strstr(out, "\"tests\": ["));
    assert_non_null(strstr(out, "\"test\": \"SET\""));
    assert_non_null(strstr(out, "\"test\": \"GET\""));
    assert_int_equal(count_of(out, "\"requests\": 200,"), 3); /* config + 2 tests */
    static const char *fields[] = {
        "\"rps\": ", "\"latency_ms\": ", "\"avg\": ",   "\"min\": ", "\"p50\": ",
        "\"p90\": ", "\"p99\": ",        "\"p99_9\": ", "\"max\": ", "\"errors\": 0"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        assert_int_equal(count_of(out, fields[i]), 2);
    assert_non_null(strstr(out, "]\n}\n"));
    free(out);
}

static void test_pipeline_of_16_completes_every_request(void **state) {
    fixture *f = need_binary(state);
    char *out;
    /* 1000 is not a multiple of 16: the last batch is short. */
    assert_int_equal(RUN(f, &out, "--csv", "-P", "16", "-c", "3", "-n", "1000", "-t", "incr"), 0);
    row rows[MAX_ROWS];
    assert_int_equal(parse_csv(out, rows, MAX_ROWS), 1);
    assert_int_equal(rows[0].requests, 1000);
    free(out);
}

static void test_pipelined_increments_all_reach_the_server(void **state) {
    fixture *f = need_binary(state);
    flushall(f);
    char *out;
    assert_int_equal(RUN(f, &out, "-q", "-P", "16", "-c", "5", "-n", "777", "incr", "counter"), 0);
    free(out);
    char *v = rkt_server_cmd(&f->srv, "GET", "counter", NULL);
    assert_non_null(v);
    assert_string_equal(v, "$3\r\n777\r\n");
    free(v);
}

static void test_two_threads_open_all_50_connections(void **state) {
    fixture *f = need_binary(state);
    long before = info_field(f, "stats", "total_connections_received");
    char *out;
    assert_int_equal(
        RUN(f, &out, "--csv", "-c", "50", "--threads", "2", "-P", "4", "-n", "5000", "-t", "set"),
        0);
    row rows[MAX_ROWS];
    assert_int_equal(parse_csv(out, rows, MAX_ROWS), 1);
    assert_int_equal(rows[0].requests, 5000);
    free(out);
    long after = info_field(f, "stats", "total_connections_received");
    assert_int_equal(after - before, 50 + 1); /* + the INFO connection itself */
}

static void test_latency_percentiles_are_monotonic(void **state) {
    fixture *f = need_binary(state);
    char *out;
    assert_int_equal(RUN(f, &out, "--csv", "-n", "3000", "-P", "3", "-t", "set,get,lpush"), 0);
    row rows[MAX_ROWS];
    int n = parse_csv(out, rows, MAX_ROWS);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        assert_true(r->min <= r->p50);
        assert_true(r->p50 <= r->p90);
        assert_true(r->p90 <= r->p99);
        assert_true(r->p99 <= r->p999);
        assert_true(r->p999 <= r->max);
        assert_true(r->min <= r->avg && r->avg <= r->max);
    }
    free(out);
}

static void test_custom_command_replaces_rand_int(void **state) {
    fixture *f = need_binary(state);
    flushall(f);
    char *out;
    assert_int_equal(RUN(f, &out, "-q", "-n", "100", "-r", "10", "sadd", "myset", "m:__rand_int__"),
                     0);
    assert_non_null(strstr(out, "sadd myset m:__rand_int__: "));
    free(out);
    long members = server_integer(f, "SCARD", "myset", NULL);
    assert_true(members > 0 && members <= 10);
}

static void test_url_option_connects_with_its_password(void **state) {
    fixture *f = need_binary(state);
    char url[128], *out;
    snprintf(url, sizeof(url), "redis://:%s@127.0.0.1:%s/0", PASSWORD, f->port);
    assert_int_equal(run_raw(f, &out, "-u", url, "-q", "-n", "100", "-t", "ping", NULL), 0);
    assert_non_null(strstr(out, "PING_MBULK: "));
    free(out);
}

static void test_connection_refused_exits_nonzero_with_a_message(void **state) {
    fixture *f = need_binary(state);
    int port = rkt_free_port();
    assert_true(port > 0);
    char port_s[16], *out;
    snprintf(port_s, sizeof(port_s), "%d", port);
    int status = run_raw(f, &out, "-p", port_s, "-q", "-n", "10", "-t", "ping", NULL);
    assert_int_equal(status, 1);
    assert_non_null(strstr(out, "rk-bench: could not connect"));
    assert_non_null(strstr(out, port_s));
    assert_null(strstr(out, "requests per second"));
    free(out);
}

static void test_wrong_password_exits_nonzero_with_a_message(void **state) {
    fixture *f = need_binary(state);
    char *out;
    int status = run_raw(f, &out, "-p", f->port, "-a", "wrong", "-q", "-n", "10", NULL);
    assert_int_equal(status, 1);
    assert_non_null(strstr(out, "rk-bench: "));
    assert_null(strstr(out, "requests per second"));
    free(out);
}

static void test_unknown_test_name_is_a_usage_error(void **state) {
    fixture *f = need_binary(state);
    char *out;
    assert_int_equal(RUN(f, &out, "-t", "set,nosuchtest"), 2);
    assert_non_null(strstr(out, "unknown test \"nosuchtest\""));
    free(out);
}

static void test_no_progress_line_when_stdout_is_not_a_terminal(void **state) {
    fixture *f = need_binary(state);
    char *out;
    assert_int_equal(RUN(f, &out, "-n", "20000", "-c", "2", "-t", "ping"), 0);
    assert_null(strchr(out, '\r'));
    assert_non_null(strstr(out, "====== PING_MBULK ======"));
    assert_non_null(strstr(out, "20000 requests completed"));
    free(out);
}

static void test_help_lists_the_options_and_exits_zero(void **state) {
    fixture *f = need_binary(state);
    char *out;
    assert_int_equal(run_raw(f, &out, "--help", NULL), 0);
    static const char *opts[] = {" -c ",        " -n ", " -P ",    " -d ",     " -r ", " -t ",
                                 " --threads ", " -q ", " --csv ", " --json ", " -u ", " --tls "};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        assert_non_null(strstr(out, opts[i]));
    free(out);
}

int main(void) {
    const struct CMUnitTest hist_tests[] = {
        cmocka_unit_test(test_hist_bucket_holds_value_within_one_64th),
        cmocka_unit_test(test_hist_percentiles_of_uniform_values),
        cmocka_unit_test(test_hist_percentiles_are_monotonic),
        cmocka_unit_test(test_hist_merge_adds_counts_and_extremes),
        cmocka_unit_test(test_hist_huge_value_lands_in_last_bucket_with_exact_max),
        cmocka_unit_test(test_hist_empty_reports_zero),
    };
    const struct CMUnitTest binary_tests[] = {
        cmocka_unit_test(test_every_test_kind_reports_the_requested_count),
        cmocka_unit_test(test_random_keys_stay_within_the_keyspace),
        cmocka_unit_test(test_csv_has_a_header_and_one_row_per_test),
        cmocka_unit_test(test_json_has_the_fields_of_each_test),
        cmocka_unit_test(test_pipeline_of_16_completes_every_request),
        cmocka_unit_test(test_pipelined_increments_all_reach_the_server),
        cmocka_unit_test(test_two_threads_open_all_50_connections),
        cmocka_unit_test(test_latency_percentiles_are_monotonic),
        cmocka_unit_test(test_custom_command_replaces_rand_int),
        cmocka_unit_test(test_url_option_connects_with_its_password),
        cmocka_unit_test(test_connection_refused_exits_nonzero_with_a_message),
        cmocka_unit_test(test_wrong_password_exits_nonzero_with_a_message),
        cmocka_unit_test(test_unknown_test_name_is_a_usage_error),
        cmocka_unit_test(test_no_progress_line_when_stdout_is_not_a_terminal),
        cmocka_unit_test(test_help_lists_the_options_and_exits_zero),
    };
    int failed = cmocka_run_group_tests_name("rk-bench histogram", hist_tests, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("rk-bench binary", binary_tests, group_setup, group_teardown);
    return failed;
}
