/* Tests of rk_reply_format against the real redis-cli.
 *
 * Each test hands canned reply bytes to the fake server (rkt_fakeserver.h),
 * runs `redis-cli --no-raw` and `redis-cli --raw` against it, and checks
 * that rk_reply_format, given the same bytes through rk_reader, prints
 * exactly what redis-cli printed. Kinds redis-cli 7.0 cannot print (big
 * numbers, attributes, blob errors, nan) are pinned down without it. */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rediskit/alloc.h"
#include "rediskit/error.h"
#include "rediskit/reader.h"
#include "rediskit/reply.h"
#include "rkt_fakeserver.h"
#include "rkt_server.h"

/* A byte string literal and its length, NUL bytes included. */
#define BYTES(s) s, sizeof(s) - 1

#define CLI_TIMEOUT_MS 60000
#define SUBSCRIBE_HEADER "Reading messages... (press Ctrl-C to quit)\n"

/* ---- Text helpers ------------------------------------------------------ */

typedef struct text {
    char *data;
    size_t len;
} text;

static void text_add(text *t, const char *s, size_t n) {
    t->data = realloc(t->data, t->len + n + 1);
    assert_non_null(t->data);
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

/* Prints bytes to the test log, escaping what is not printable. */
static void print_escaped(const char *label, const char *s, size_t n) {
    fprintf(stderr, "%s (%zu bytes): \"", label, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fprintf(stderr, "\\n");
        else if (c >= 0x20 && c < 0x7f && c != '\\')
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr, "\"\n");
}

static void assert_same_bytes(const char *got, size_t got_len, const char *want, size_t want_len) {
    if (got_len == want_len && memcmp(got, want, got_len) == 0)
        return;
    print_escaped("rk_reply_format", got, got_len);
    print_escaped("redis-cli      ", want, want_len);
    fail_msg("rk_reply_format differs from redis-cli");
}

/* ---- Formatting the bytes with rediskit -------------------------------- */

/* Every reply in bytes formatted with flags, concatenated, as redis-cli
 * prints a stream of replies. redis-cli 7.0 drops a top-level push outside
 * subscribe mode, so pushes are kept only when `pushes` is set. */
static text format_all(const char *bytes, size_t len, unsigned flags, bool pushes) {
    text out = {0};
    text_add(&out, "", 0);
    rk_reader *rd = rk_reader_new(NULL);
    assert_non_null(rd);
    assert_int_equal(rk_reader_feed(rd, bytes, len), RK_OK);
    rk_reply r;
    while (rk_reader_next(rd, &r) == 1) {
        if (pushes || rk_reply_type(&r) != RK_REPLY_PUSH) {
            size_t n;
            char *s = rk_reply_format(&r, flags, &n);
            assert_non_null(s);
            text_add(&out, s, n);
            rk_free(s);
        }
        rk_reply_free(&r);
    }
    assert_int_equal(rk_reader_buffered(rd), 0);
    rk_reader_free(rd);
    return out;
}

/* The one reply in bytes, formatted (for the tests without redis-cli). */
static text format_one(const char *bytes, size_t len, unsigned flags) {
    return format_all(bytes, len, flags, true);
}

/* ---- Running redis-cli ------------------------------------------------- */

typedef struct cli_result {
    text out;
    text err;
    int status; /* exit status, or -1 when killed or not run */
} cli_result;

static void skip_without_cli(void) {
    if (!rkt_require_binaries("redis-cli", NULL))
        skip();
}

/* In the child: stdin from /dev/null, stdout and stderr to the pipes. */
static void exec_cli(char *const *argv, int out_fd, int err_fd) {
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(127);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execvp(argv[0], argv);
    _exit(127);
}

/* Reads both pipes until the child closes them or the deadline passes. */
static bool drain(int out_fd, int err_fd, cli_result *res) {
    struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
    text *dst[2] = {&res->out, &res->err};
    int open_fds = 2;
    while (open_fds > 0) {
        int rc = poll(p, 2, CLI_TIMEOUT_MS);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return false;
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || p[i].revents == 0)
                continue;
            char buf[4096];
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            if (n > 0) {
                text_add(dst[i], buf, (size_t)n);
            } else if (n == 0 || errno != EINTR) {
                p[i].fd = -1;
                open_fds--;
            }
        }
    }
    return true;
}

/* Runs redis-cli with args (NULL-terminated) and captures its output. The
 * process is always reaped: killed if it outlives CLI_TIMEOUT_MS. */
static cli_result run_cli(const char *const *args) {
    static char program[] = "redis-cli";
    char *argv[32] = {program};
    size_t argc = 1;
    while (args[argc - 1] && argc < 31) {
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    cli_result res = {.status = -1};
    text_add(&res.out, "", 0);
    text_add(&res.err, "", 0);
    int out_pipe[2], err_pipe[2];
    assert_int_equal(pipe2(out_pipe, O_CLOEXEC), 0);
    assert_int_equal(pipe2(err_pipe, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        exec_cli(argv, out_pipe[1], err_pipe[1]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    bool finished = drain(out_pipe[0], err_pipe[0], &res);
    close(out_pipe[0]);
    close(err_pipe[0]);
    if (!finished)
        kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (finished && WIFEXITED(status))
        res.status = WEXITSTATUS(status);
    return res;
}

static void cli_result_free(cli_result *res) {
    free(res->out.data);
    free(res->err.data);
}

/* ---- Comparing --------------------------------------------------------- */

typedef struct cli_case {
    const char *bytes; /* what the server answers */
    size_t len;
    bool resp3;     /* run redis-cli with -3 (it then sends HELLO 3) */
    bool subscribe; /* send SUBSCRIBE: redis-cli prints every push */
} cli_case;

/* redis-cli's stdout for the case in one mode (flags as for rk_reply_format). */
static cli_result cli_output(const cli_case *c, unsigned flags) {
    static const char *const get[] = {"GET", "k", NULL};
    static const char *const subscribe[] = {"SUBSCRIBE", "ch", NULL};
    rkt_fake_step step = {.expect = c->subscribe ? subscribe : get,
                          .reply = c->bytes,
                          .reply_len = c->len,
                          .close_after = c->subscribe};
    rkt_fake *f = rkt_fake_start(&step, 1, NULL);
    assert_non_null(f);
    char port[16];
    snprintf(port, sizeof(port), "%d", rkt_fake_port(f));
    const char *args[8] = {"-p", port, (flags & RK_FORMAT_RAW) ? "--raw" : "--no-raw"};
    size_t n = 3;
    if (c->resp3)
        args[n++] = "-3";
    args[n++] = c->subscribe ? subscribe[0] : get[0];
    args[n++] = c->subscribe ? subscribe[1] : get[1];
    cli_result res = run_cli(args);
    rkt_fake_stop(f);
    if (rkt_fake_error(f))
        fail_msg("fake server: %s", rkt_fake_error(f));
    rkt_fake_free(f);
    return res;
}

static void expect_like_cli_mode(const cli_case *c, unsigned flags) {
    cli_result cli = cli_output(c, flags);
    if (!c->subscribe && cli.status != 0) {
        print_escaped("redis-cli stderr", cli.err.data, cli.err.len);
        fail_msg("redis-cli exited with %d", cli.status);
    }
    text want = {0};
    text_add(&want, "", 0);
    if (c->subscribe && !(flags & RK_FORMAT_RAW))
        text_add(&want, SUBSCRIBE_HEADER, strlen(SUBSCRIBE_HEADER));
    text ours = format_all(c->bytes, c->len, flags, c->subscribe);
    text_add(&want, ours.data, ours.len);
    assert_same_bytes(want.data, want.len, cli.out.data, cli.out.len);
    free(ours.data);
    free(want.data);
    cli_result_free(&cli);
}

/* Both modes: terminal (--no-raw) and raw (--raw). */
static void expect_like_cli(const cli_case *c) {
    skip_without_cli();
    expect_like_cli_mode(c, 0);
    expect_like_cli_mode(c, RK_FORMAT_RAW);
}

static void expect_resp2(const char *bytes, size_t len) {
    expect_like_cli(&(cli_case){bytes, len, false, false});
}

static void expect_resp3(const char *bytes, size_t len) {
    expect_like_cli(&(cli_case){bytes, len, true, false});
}

/* The one reply in bytes formatted with flags equals want. */
static void expect_format(const char *bytes, size_t len, unsigned flags, const char *want,
                          size_t want_len) {
    text got = format_one(bytes, len, flags);
    assert_same_bytes(got.data, got.len, want, want_len);
    free(got.data);
}

/* ---- Scalars ----------------------------------------------------------- */

static void test_status_like_cli(void **state) {
    (void)state;
    expect_resp2(BYTES("+OK\r\n"));
    expect_resp2(BYTES("+\r\n"));
    expect_resp2(BYTES("+hello \"world\" \\ \x01\r\n"));
}

static void test_status_with_nul_stops_there_in_tty_mode_like_cli(void **state) {
    (void)state;
    expect_format(BYTES("+O\0K\r\n"), 0, BYTES("O\n"));
    expect_resp2(BYTES("+O\0K\r\n"));
}

static void test_error_like_cli(void **state) {
    (void)state;
    expect_resp2(BYTES("-ERR unknown command 'x'\r\n"));
    expect_resp2(BYTES("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"));
    expect_resp3(BYTES("-ERR b\0ad\r\n"));
}

static void test_integer_like_cli(void **state) {
    (void)state;
    expect_resp2(BYTES(":0\r\n"));
    expect_resp2(BYTES(":-42\r\n"));
    expect_resp2(BYTES(":9223372036854775807\r\n"));
    expect_resp2(BYTES(":-9223372036854775808\r\n"));
}

static void test_nil_like_cli(void **state) {
    (void)state;
    expect_resp2(BYTES("$-1\r\n"));
    expect_resp2(BYTES("*-1\r\n"));
    expect_resp3(BYTES("_\r\n"));
}

static void test_string_like_cli(void **state) {
    (void)state;
    expect_resp2(BYTES("$5\r\nhello\r\n"));
    expect_resp2(BYTES("$0\r\n\r\n"));
    expect_resp2(BYTES("$23\r\nsay \"hi\" to C:\\path now\r\n"));
}

static void test_string_escapes_like_cli(void **state) {
    (void)state;
    expect_resp2(BYTES("$14\r\n\n\r\t\a\b\0\x1b\x7f\x80\xff\"\\ ~\r\n"));
}

/* Every byte value, in a bulk string: the quoting is the same for all. */
static void test_string_with_every_byte_like_cli(void **state) {
    (void)state;
    char bytes[300];
    int n = sprintf(bytes, "$256\r\n");
    for (int c = 0; c < 256; c++)
        bytes[n++] = (char)c;
    memcpy(bytes + n, "\r\n", 2);
    expect_resp2(bytes, (size_t)n + 2);
}

static void test_double_like_cli(void **state) {
    (void)state;
    expect_resp3(BYTES(",3.14\r\n"));
    expect_resp3(BYTES(",-0.5\r\n"));
    expect_resp3(BYTES(",1e10\r\n"));
    expect_resp3(BYTES(",1.5E-3\r\n"));
    expect_resp3(BYTES(",inf\r\n"));
    expect_resp3(BYTES(",-inf\r\n"));
    expect_resp3(BYTES(",3\r\n"));
}

/* redis-cli 7.0 refuses nan ("Bad double value"); it is shown as received. */
static void test_double_nan_shown_as_received(void **state) {
    (void)state;
    expect_format(BYTES(",nan\r\n"), 0, BYTES("(double) nan\n"));
    expect_format(BYTES(",nan\r\n"), RK_FORMAT_RAW, BYTES("nan\n"));
}

static void test_bool_like_cli(void **state) {
    (void)state;
    expect_resp3(BYTES("#t\r\n"));
    expect_resp3(BYTES("#f\r\n"));
}

static void test_verbatim_prints_text_without_format_like_cli(void **state) {
    (void)state;
    expect_format(BYTES("=9\r\ntxt:a\"b\nc\r\n"), 0, BYTES("a\"b\nc\n"));
    expect_resp3(BYTES("=15\r\ntxt:hello\nworld\r\n"));
    expect_resp3(BYTES("=10\r\nmkd:# Hi\t\"\r\n"));
    expect_resp3(BYTES("=4\r\ntxt:\r\n"));
}

/* redis-cli 7.0 exits with "Unknown reply type" on a big number: it is
 * shown as a double is. */
static void test_bignum_shown_like_a_double(void **state) {
    (void)state;
    expect_format(BYTES("(3492890328409238509324850943850943825024385\r\n"), 0,
                  BYTES("(big number) 3492890328409238509324850943850943825024385\n"));
    expect_format(BYTES("(-12345678901234567890\r\n"), RK_FORMAT_RAW,
                  BYTES("-12345678901234567890\n"));
}

/* redis-cli 7.0 cannot read blob errors: they are shown as errors are. */
static void test_blob_error_shown_like_an_error(void **state) {
    (void)state;
    expect_format(BYTES("!21\r\nSYNTAX invalid syntax\r\n"), 0,
                  BYTES("(error) SYNTAX invalid syntax\n"));
    expect_format(BYTES("!5\r\nER\0rr\r\n"), RK_FORMAT_RAW, BYTES("ER\0rr\n\n"));
}

/* ---- Aggregates -------------------------------------------------------- */

static void test_empty_aggregates_like_cli(void **state) {
    (void)state;
    expect_resp2(BYTES("*0\r\n"));
    expect_resp3(BYTES("%0\r\n"));
    expect_resp3(BYTES("~0\r\n"));
    expect_resp3(BYTES("*3\r\n*0\r\n%0\r\n~0\r\n"));
    expect_resp3(BYTES("*1\r\n>0\r\n"));
}

static void test_array_of_every_scalar_like_cli(void **state) {
    (void)state;
    expect_resp2(BYTES("*6\r\n+OK\r\n-ERR x\r\n:7\r\n$3\r\nfoo\r\n$-1\r\n*-1\r\n"));
    expect_resp3(BYTES("*6\r\n,2.5\r\n#t\r\n_\r\n=7\r\ntxt:a\nb\r\n$0\r\n\r\n-ERR y\r\n"));
}

/* 10 and more elements widen the index column, right-aligned. */
static void test_index_width_like_cli(void **state) {
    (void)state;
    char bytes[4096];
    int counts[] = {9, 10, 12, 100, 101};
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        int n = sprintf(bytes, "*%d\r\n", counts[k]);
        for (int i = 0; i < counts[k]; i++)
            n += sprintf(bytes + n, ":%d\r\n", i);
        expect_resp2(bytes, (size_t)n);
    }
}

/* Nested arrays: each level indents by its own index width plus two. */
static void test_nested_arrays_like_cli(void **state) {
    (void)state;
    expect_resp2(BYTES("*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"));
    char bytes[8192];
    int n = sprintf(bytes, "*11\r\n");
    for (int i = 0; i < 11; i++) {
        n += sprintf(bytes + n, "*%d\r\n", i == 10 ? 12 : 2);
        for (int j = 0; j < (i == 10 ? 12 : 2); j++)
            n += sprintf(bytes + n, j == 3 ? "*2\r\n:%d\r\n*0\r\n" : "$2\r\nv%d\r\n", j % 10);
    }
    expect_resp2(bytes, (size_t)n);
}

/* A stream entry as XRANGE answers it, three levels deep. */
static void test_stream_reply_like_cli(void **state) {
    (void)state;
    expect_resp2(BYTES("*2\r\n*2\r\n$3\r\n1-0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"
                       "*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n"));
}

static void test_map_like_cli(void **state) {
    (void)state;
    expect_resp3(BYTES("%2\r\n+a\r\n:1\r\n$1\r\nb\r\n$2\r\nxy\r\n"));
    expect_resp3(BYTES("%1\r\n:1\r\n_\r\n"));
}

/* A value spanning lines starts on the line after its key. */
static void test_map_multiline_values_like_cli(void **state) {
    (void)state;
    expect_resp3(BYTES("%3\r\n+a\r\n*2\r\n:1\r\n:2\r\n+b\r\n*1\r\n*1\r\n:3\r\n"
                       "+c\r\n%2\r\n+x\r\n:1\r\n+y\r\n%1\r\n+z\r\n*2\r\n#t\r\n#f\r\n"));
    expect_resp3(BYTES("%2\r\n+e\r\n*0\r\n+f\r\n*1\r\n%1\r\n+k\r\n*0\r\n"));
}

/* A key spanning lines: only its last newline gives way to " => ". */
static void test_map_multiline_keys_like_cli(void **state) {
    (void)state;
    expect_resp3(BYTES("%1\r\n*2\r\n:1\r\n:2\r\n+v\r\n"));
    expect_resp3(BYTES("%1\r\n=9\r\ntxt:a\nb\nc\r\n*2\r\n:1\r\n:2\r\n"));
}

static void test_map_index_width_like_cli(void **state) {
    (void)state;
    char bytes[4096];
    int n = sprintf(bytes, "%%11\r\n");
    for (int i = 0; i < 11; i++)
        n += sprintf(bytes + n, i == 9 ? "$2\r\nk%d\r\n*2\r\n:1\r\n:2\r\n" : "$2\r\nk%d\r\n:1\r\n",
                     i % 10);
    expect_resp3(bytes, (size_t)n);
}

static void test_set_like_cli(void **state) {
    (void)state;
    expect_resp3(BYTES("~3\r\n$1\r\na\r\n:1\r\n~1\r\n+x\r\n"));
    expect_resp3(BYTES("*2\r\n~2\r\n+a\r\n+b\r\n%1\r\n+k\r\n~1\r\n+v\r\n"));
}

/* redis-cli 7.0 numbers a push's elements as an array's. */
static void test_nested_push_like_cli(void **state) {
    (void)state;
    expect_resp3(BYTES("*2\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n:1\r\n"));
}

/* In subscribe mode redis-cli prints each push as it arrives. */
static void test_push_in_subscribe_mode_like_cli(void **state) {
    (void)state;
    static const char bytes[] = ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
                                ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhi\0\n!\r\n"
                                ">0\r\n";
    expect_like_cli(&(cli_case){bytes, sizeof(bytes) - 1, true, true});
}

/* ---- Attributes -------------------------------------------------------- */

/* redis-cli 7.0 cannot read attributes (a protocol error). They are not
 * shown: the reply prints as it would without them. */
static void test_attribute_is_not_shown(void **state) {
    (void)state;
    expect_format(BYTES("|1\r\n+ttl\r\n:3600\r\n$3\r\nval\r\n"), 0, BYTES("\"val\"\n"));
    expect_format(BYTES("*2\r\n|1\r\n+a\r\n:1\r\n:5\r\n+OK\r\n"), 0,
                  BYTES("1) (integer) 5\n2) OK\n"));
    expect_format(BYTES("*2\r\n|1\r\n+a\r\n:1\r\n:5\r\n+OK\r\n"), RK_FORMAT_RAW, BYTES("5\nOK\n"));
}

static void test_attribute_given_alone_is_shown_as_a_map(void **state) {
    (void)state;
    rk_reader *rd = rk_reader_new(NULL);
    assert_non_null(rd);
    assert_int_equal(rk_reader_feed(rd, BYTES("|1\r\n+ttl\r\n:3600\r\n+OK\r\n")), RK_OK);
    rk_reply r;
    assert_int_equal(rk_reader_next(rd, &r), 1);
    char *s = rk_reply_format(rk_reply_attr(&r), 0, NULL);
    assert_string_equal(s, "1# ttl => (integer) 3600\n");
    rk_free(s);
    rk_reply_free(&r);
    rk_reader_free(rd);
}

/* ---- The result -------------------------------------------------------- */

static void test_raw_length_counts_nul_bytes(void **state) {
    (void)state;
    rk_reader *rd = rk_reader_new(NULL);
    assert_non_null(rd);
    assert_int_equal(rk_reader_feed(rd, BYTES("$3\r\na\0b\r\n")), RK_OK);
    rk_reply r;
    assert_int_equal(rk_reader_next(rd, &r), 1);
    size_t len = 99;
    char *s = rk_reply_format(&r, RK_FORMAT_RAW, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(s, "a\0b\n", 5);
    rk_free(s);
    s = rk_reply_format(&r, 0, &len);
    assert_string_equal(s, "\"a\\x00b\"\n");
    assert_int_equal(len, strlen(s));
    rk_free(s);
    rk_reply_free(&r);
    rk_reader_free(rd);
}

static void test_zeroed_reply_formats_as_nil(void **state) {
    (void)state;
    rk_reply r = {0};
    char *s = rk_reply_format(&r, 0, NULL);
    assert_string_equal(s, "(nil)\n");
    rk_free(s);
    s = rk_reply_format(&r, RK_FORMAT_RAW, NULL);
    assert_string_equal(s, "\n");
    rk_free(s);
}

/* An allocator that fails once `budget` allocations have been made. */
static long alloc_budget = -1;

static void *budget_malloc(size_t n) {
    if (alloc_budget == 0)
        return NULL;
    alloc_budget--;
    return malloc(n);
}

static void *budget_calloc(size_t count, size_t n) {
    if (alloc_budget == 0)
        return NULL;
    alloc_budget--;
    return calloc(count, n);
}

static void *budget_realloc(void *p, size_t n) {
    if (alloc_budget == 0)
        return NULL;
    alloc_budget--;
    return realloc(p, n);
}

/* Every allocation failing in turn gives NULL and RK_ENOMEM, until there
 * are enough to succeed; nothing leaks (under ASan) on the way. */
static void test_out_of_memory_returns_null(void **state) {
    (void)state;
    char bytes[8192];
    int n = sprintf(bytes, "*200\r\n");
    for (int i = 0; i < 200; i++)
        n += sprintf(bytes + n, "$10\r\nvalue-%04d\r\n", i);
    rk_reader *rd = rk_reader_new(NULL);
    assert_non_null(rd);
    assert_int_equal(rk_reader_feed(rd, bytes, (size_t)n), RK_OK);
    rk_reply r;
    assert_int_equal(rk_reader_next(rd, &r), 1);
    rk_allocator budget = {budget_malloc, budget_calloc, budget_realloc, free};
    assert_int_equal(rk_set_allocator(&budget), RK_OK);
    char *s = NULL;
    for (long allowed = 0; s == NULL && allowed < 100; allowed++) {
        alloc_budget = allowed;
        size_t len = 99;
        s = rk_reply_format(&r, 0, &len);
        if (s == NULL) {
            assert_int_equal(rk_error_last()->code, RK_ENOMEM);
            assert_int_equal(len, 0);
        }
    }
    rk_set_allocator(NULL);
    assert_non_null(s);
    free(s);
    rk_reply_free(&r);
    rk_reader_free(rd);
}

/* ---- The harness ------------------------------------------------------- */

/* redis-cli -3 sends HELLO 3 (answered by the fake server on its own),
 * then the command, and nothing else. */
static void test_cli_sends_hello_then_the_command(void **state) {
    (void)state;
    skip_without_cli();
    cli_result cli = {0};
    static const char *const get[] = {"GET", "k", NULL};
    rkt_fake_step step = {.expect = get, .reply = "$1\r\nv\r\n"};
    rkt_fake *f = rkt_fake_start(&step, 1, NULL);
    assert_non_null(f);
    char port[16];
    snprintf(port, sizeof(port), "%d", rkt_fake_port(f));
    cli = run_cli((const char *const[]){"-p", port, "-3", "--no-raw", "GET", "k", NULL});
    rkt_fake_stop(f);
    assert_int_equal(cli.status, 0);
    assert_string_equal(cli.out.data, "\"v\"\n");
    assert_null(rkt_fake_error(f));
    assert_int_equal(rkt_fake_steps_left(f), 0);
    assert_int_equal(rkt_fake_commands(f), 2);
    assert_string_equal(rkt_fake_command(f, 0), "HELLO 3");
    assert_string_equal(rkt_fake_command(f, 1), "GET k");
    rkt_fake_free(f);
    cli_result_free(&cli);
}

/* A command other than the step expects, or past the script's end, is
 * answered with an error and reported. */
static void test_fake_server_reports_unexpected_commands(void **state) {
    (void)state;
    static const char *const set[] = {"SET", "a", "b", NULL};
    rkt_fake_step step = {.expect = set, .reply = "+OK\r\n"};
    rkt_fake *f = rkt_fake_start(&step, 1, NULL);
    assert_non_null(f);
    int fd = rkt_raw_connect("127.0.0.1", rkt_fake_port(f), RKT_RAW_TIMEOUT_MS);
    assert_true(fd >= 0);
    char *reply =
        rkt_raw_command(fd, RKT_RAW_TIMEOUT_MS, NULL, 2, (const char *const[]){"GET", "a"});
    assert_non_null(reply);
    assert_string_equal(reply, "-ERR rkt_fake: unexpected command 'GET a'\r\n");
    free(reply);
    reply = rkt_raw_command(fd, RKT_RAW_TIMEOUT_MS, NULL, 1, (const char *const[]){"PING"});
    assert_string_equal(reply, "+PONG\r\n");
    free(reply);
    reply = rkt_raw_command(fd, RKT_RAW_TIMEOUT_MS, NULL, 1, (const char *const[]){"DEL"});
    assert_string_equal(reply, "-ERR rkt_fake: no step left for 'DEL'\r\n");
    free(reply);
    close(fd);
    rkt_fake_stop(f);
    assert_string_equal(rkt_fake_error(f), "step 0 expected 'SET a b', got 'GET a'");
    rkt_fake_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_like_cli),
        cmocka_unit_test(test_status_with_nul_stops_there_in_tty_mode_like_cli),
        cmocka_unit_test(test_error_like_cli),
        cmocka_unit_test(test_integer_like_cli),
        cmocka_unit_test(test_nil_like_cli),
        cmocka_unit_test(test_string_like_cli),
        cmocka_unit_test(test_string_escapes_like_cli),
        cmocka_unit_test(test_string_with_every_byte_like_cli),
        cmocka_unit_test(test_double_like_cli),
        cmocka_unit_test(test_double_nan_shown_as_received),
        cmocka_unit_test(test_bool_like_cli),
        cmocka_unit_test(test_verbatim_prints_text_without_format_like_cli),
        cmocka_unit_test(test_bignum_shown_like_a_double),
        cmocka_unit_test(test_blob_error_shown_like_an_error),
        cmocka_unit_test(test_empty_aggregates_like_cli),
        cmocka_unit_test(test_array_of_every_scalar_like_cli),
        cmocka_unit_test(test_index_width_like_cli),
        cmocka_unit_test(test_nested_arrays_like_cli),
        cmocka_unit_test(test_stream_reply_like_cli),
        cmocka_unit_test(test_map_like_cli),
        cmocka_unit_test(test_map_multiline_values_like_cli),
        cmocka_unit_test(test_map_multiline_keys_like_cli),
        cmocka_unit_test(test_map_index_width_like_cli),
        cmocka_unit_test(test_set_like_cli),
        cmocka_unit_test(test_nested_push_like_cli),
        cmocka_unit_test(test_push_in_subscribe_mode_like_cli),
        cmocka_unit_test(test_attribute_is_not_shown),
        cmocka_unit_test(test_attribute_given_alone_is_shown_as_a_map),
        cmocka_unit_test(test_raw_length_counts_nul_bytes),
        cmocka_unit_test(test_zeroed_reply_formats_as_nil),
        cmocka_unit_test(test_out_of_memory_returns_null),
        cmocka_unit_test(test_cli_sends_hello_then_the_command),
        cmocka_unit_test(test_fake_server_reports_unexpected_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
