/* Tests of rk-cli, the command-line tool, against redis-cli 7.0.
 *
 * Both programs run against the same real redis-server with the same
 * arguments (or the same stdin), and their stdout must be the same bytes,
 * on RESP2 and RESP3, raw and formatted, for every kind of reply the server
 * sends. rk-cli is $RK_TEST_BUILD_DIR/tools/rk-cli; tests skip without it
 * or without redis-cli. Interactive mode is driven through a pty. */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
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

#include "rkt_server.h"
#include "rkt_shared.h"

/* A guard against hangs, never a measure: a program that has not answered
 * within it has failed. */
#define GUARD_MS 60000

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- Text -------------------------------------------------------------- */

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

static void print_escaped(const char *label, const text *t) {
    fprintf(stderr, "%s (%zu bytes): \"", label, t->len);
    for (size_t i = 0; i < t->len; i++) {
        unsigned char c = (unsigned char)t->data[i];
        if (c == '\n')
            fprintf(stderr, "\\n");
        else if (c >= 0x20 && c < 0x7f && c != '\\')
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr, "\"\n");
}

static bool text_equal(const text *a, const text *b) {
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* ---- Child processes --------------------------------------------------- */

/* Children still running; the teardown of every test kills them, so a
 * failed assertion leaves none behind. */
static pid_t children[16];

static void child_started(pid_t pid) {
    for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
    kill(pid, SIGKILL);
    fail_msg("too many children");
}

/* Waits for a child (killing it past the guard) and forgets it. Returns
 * its exit status, or -1 when it died of a signal. */
static int child_reap(pid_t pid, bool kill_now) {
    if (kill_now)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
        if (children[i] == pid)
            children[i] = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static rkt_server extra_server; /* a server one test starts for itself */

static int teardown(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++)
        if (children[i] != 0)
            child_reap(children[i], true);
    rkt_server_stop(&extra_server);
    memset(&extra_server, 0, sizeof(extra_server));
    return 0;
}

typedef struct proc {
    pid_t pid;
    int in_fd, out_fd, err_fd; /* -1 once closed */
    const char *in;            /* stdin bytes still to write */
    size_t in_len;
} proc;

typedef struct proc_result {
    text out, err;
    int status; /* exit status, -1 when killed */
} proc_result;

static void proc_result_free(proc_result *r) {
    free(r->out.data);
    free(r->err.data);
}

static void exec_child(const char *prog, const char *const *args, int in, int out, int err) {
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        _exit(127);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    setenv("RKCLI_HISTFILE", "/dev/null", 1);
    char *argv[48] = {(char *)prog};
    for (size_t i = 0; args[i] != NULL && i < 46; i++)
        argv[i + 1] = (char *)args[i];
    execvp(prog, argv);
    _exit(127);
}

/* Starts prog with args; stdin gets `in` (or is empty when in is NULL). */
static proc spawn(const char *prog, const char *const *args, const char *in, size_t in_len) {
    int ip[2], op[2], ep[2];
    assert_int_equal(pipe2(ip, O_CLOEXEC), 0);
    assert_int_equal(pipe2(op, O_CLOEXEC), 0);
    assert_int_equal(pipe2(ep, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        exec_child(prog, args, ip[0], op[1], ep[1]);
    child_started(pid);
    close(ip[0]);
    close(op[1]);
    close(ep[1]);
    fcntl(ip[1], F_SETFL, O_NONBLOCK);
    proc p = {pid, ip[1], op[0], ep[0], in ? in : "", in ? in_len : 0};
    if (p.in_len == 0) {
        close(p.in_fd);
        p.in_fd = -1;
    }
    return p;
}

/* Moves bytes between the test and the child once poll said so. */
static void pump(proc *p, struct pollfd *fds, proc_result *r) {
    if (fds[0].revents && p->in_fd >= 0) {
        ssize_t n = write(p->in_fd, p->in, p->in_len);
        if (n > 0) {
            p->in += n;
            p->in_len -= (size_t)n;
        }
        if (p->in_len == 0 || (n < 0 && errno != EAGAIN)) {
            close(p->in_fd);
            p->in_fd = -1;
        }
    }
    int *fd[2] = {&p->out_fd, &p->err_fd};
    text *dst[2] = {&r->out, &r->err};
    for (int i = 0; i < 2; i++) {
        if (fds[i + 1].revents == 0 || *fd[i] < 0)
            continue;
        char buf[4096];
        ssize_t n = read(*fd[i], buf, sizeof(buf));
        if (n > 0) {
            text_add(dst[i], buf, (size_t)n);
        } else if (n == 0 || errno != EINTR) {
            close(*fd[i]);
            *fd[i] = -1;
        }
    }
}

/* Feeds stdin, collects stdout and stderr until the child closes them,
 * and reaps it (killed if it outlives the guard). */
static proc_result finish(proc *p) {
    proc_result r = {.status = -1};
    text_add(&r.out, "", 0);
    text_add(&r.err, "", 0);
    bool hung = false;
    while (p->out_fd >= 0 || p->err_fd >= 0) {
        struct pollfd fds[3] = {{.fd = p->in_fd, .events = POLLOUT},
                                {.fd = p->out_fd, .events = POLLIN},
                                {.fd = p->err_fd, .events = POLLIN}};
        int rc = poll(fds, 3, GUARD_MS);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0) {
            hung = true;
            break;
        }
        pump(p, fds, &r);
    }
    for (int *fd = &p->in_fd; fd <= &p->err_fd; fd++)
        if (*fd >= 0)
            close(*fd);
    r.status = child_reap(p->pid, hung);
    return r;
}

static proc_result run_prog(const char *prog, const char *const *args, const char *in,
                            size_t in_len) {
    proc p = spawn(prog, args, in, in_len);
    return finish(&p);
}

/* ---- The programs ------------------------------------------------------ */

static char rkcli_path[RKT_PATH_MAX];

/* rk-cli's path, or skips the test when it or redis-cli is missing. */
static const char *rkcli(void) {
    const char *build = getenv("RK_TEST_BUILD_DIR");
    snprintf(rkcli_path, sizeof(rkcli_path), "%s/tools/rk-cli", build ? build : ".");
    if (access(rkcli_path, X_OK) != 0) {
        char what[RKT_PATH_MAX + 16];
        snprintf(what, sizeof what, "%s not built", rkcli_path);
        rkt_skip_missing(what);
        skip();
    }
    if (!rkt_require_binaries("redis-cli", NULL))
        skip();
    return rkcli_path;
}

static void expect_same_output(const char *const *args, const char *in, size_t in_len) {
    proc_result ours = run_prog(rkcli(), args, in, in_len);
    proc_result theirs = run_prog("redis-cli", args, in, in_len);
    if (!text_equal(&ours.out, &theirs.out) || ours.status != theirs.status) {
        for (size_t i = 0; args[i]; i++)
            fprintf(stderr, "%s ", args[i]);
        fprintf(stderr, "\nexit: rk-cli %d, redis-cli %d\n", ours.status, theirs.status);
        print_escaped("rk-cli stdout   ", &ours.out);
        print_escaped("redis-cli stdout", &theirs.out);
        print_escaped("rk-cli stderr   ", &ours.err);
        print_escaped("redis-cli stderr", &theirs.err);
        fail_msg("rk-cli differs from redis-cli");
    }
    proc_result_free(&ours);
    proc_result_free(&theirs);
}

/* ---- The shared server ------------------------------------------------- */

/* rkt_shared, with DEBUG PROTOCOL enabled and a Unix socket (see main). */
static rkt_server *const srv = &rkt_shared;
static char port[16];

static void need_server(void) {
    rkt_shared_need();
    snprintf(port, sizeof(port), "%d", rkt_server_port(srv));
}

/* Runs a command on the shared server that must not fail. */
static void server_do(const char *const *argv) {
    need_server();
    int fd = rkt_server_connect(srv);
    assert_true(fd >= 0);
    int argc = 0;
    while (argv[argc])
        argc++;
    char *reply = rkt_raw_command(fd, RKT_RAW_TIMEOUT_MS, NULL, argc, argv);
    close(fd);
    assert_non_null(reply);
    if (reply[0] == '-')
        fail_msg("setup command failed: %s", reply);
    free(reply);
}

/* The same output on RESP2 and/or RESP3, in --raw and --no-raw. */
static void expect_same_in(bool resp2, bool resp3, const char *const *cmd) {
    need_server();
    const char *protos[] = {resp2 ? "-2" : NULL, resp3 ? "-3" : NULL};
    const char *modes[] = {"--raw", "--no-raw"};
    for (int p = 0; p < 2; p++) {
        for (int m = 0; m < 2 && protos[p]; m++) {
            const char *args[40] = {"-p", port, protos[p], modes[m]};
            size_t n = 4;
            for (size_t i = 0; cmd[i] && n < 39; i++)
                args[n++] = cmd[i];
            args[n] = NULL;
            expect_same_output(args, NULL, 0);
        }
    }
}

#define SAME(...) expect_same_in(true, true, ARGS(__VA_ARGS__))
#define SAME_RESP2(...) expect_same_in(true, false, ARGS(__VA_ARGS__))

/* The same output for the lines given on stdin, in both modes. */
static void expect_same_stdin(const char *lines, const char *proto) {
    need_server();
    expect_same_output(ARGS("-p", port, proto, "--raw"), lines, strlen(lines));
    expect_same_output(ARGS("-p", port, proto, "--no-raw"), lines, strlen(lines));
}

/* ---- Reply kinds ------------------------------------------------------- */

static void test_status_reply_like_redis_cli(void **state) {
    (void)state;
    SAME("SET", "t1:k", "v");
    SAME("PING");
}

static void test_error_replies_like_redis_cli_and_exit_zero(void **state) {
    (void)state;
    server_do(ARGS("SET", "t2:s", "text"));
    SAME("INCR", "t2:s");
    SAME("NOSUCHCOMMAND", "arg");
    proc_result r = run_prog(rkcli(), ARGS("-p", port, "INCR", "t2:s"), NULL, 0);
    assert_int_equal(r.status, 0);
    proc_result_free(&r);
}

static void test_integer_reply_like_redis_cli(void **state) {
    (void)state;
    server_do(ARGS("SET", "t3:n", "41"));
    SAME("INCRBY", "t3:n", "0");
    SAME("STRLEN", "t3:n");
    SAME("DECRBY", "t3:n", "0");
}

/* A value with NUL, newline, quote, backslash and high bytes. */
static void test_binary_bulk_string_like_redis_cli(void **state) {
    (void)state;
    need_server();
    static const char value[] = "a\0b\nc\"d\\e\x7f\xff\x01 end";
    const char *argv[] = {"SET", "t4:bin", value};
    size_t lens[] = {3, 6, sizeof(value) - 1};
    int fd = rkt_server_connect(srv);
    assert_true(fd >= 0);
    assert_int_equal(rkt_raw_send(fd, 3, argv, lens, RKT_RAW_TIMEOUT_MS), 0);
    char *reply = rkt_raw_read_reply(fd, RKT_RAW_TIMEOUT_MS, NULL);
    close(fd);
    assert_string_equal(reply, "+OK\r\n");
    free(reply);
    SAME("GET", "t4:bin");
    SAME("GETRANGE", "t4:bin", "0", "-1");
}

static void test_nil_reply_like_redis_cli(void **state) {
    (void)state;
    SAME("GET", "t5:missing");
    SAME("HGET", "t5:missing", "f");
}

static void test_empty_array_like_redis_cli(void **state) {
    (void)state;
    SAME("LRANGE", "t6:missing", "0", "-1");
    SAME("KEYS", "t6:nomatch*");
}

static void test_nested_arrays_like_redis_cli(void **state) {
    (void)state;
    server_do(ARGS("XADD", "t7:s", "1-1", "a", "1", "b", "2"));
    server_do(ARGS("XADD", "t7:s", "2-1", "c", "3"));
    SAME("COMMAND", "INFO", "GET");
    SAME("XRANGE", "t7:s", "-", "+");
    SAME("SCAN", "0", "MATCH", "t7:*", "COUNT", "1000");
    SAME("EVAL", "return {1,{2,{3,{}}},'x'}", "0");
}

static void test_map_like_redis_cli(void **state) {
    (void)state;
    server_do(ARGS("HSET", "t8:h", "f1", "v1", "f2", "v 2"));
    SAME("HGETALL", "t8:h");
    SAME("CONFIG", "GET", "maxmemory*");
    SAME("XINFO", "STREAM", "t8:none");
}

static void test_set_like_redis_cli(void **state) {
    (void)state;
    server_do(ARGS("SADD", "t9:s", "3", "1", "2"));
    SAME("SMEMBERS", "t9:s");
    SAME("SMEMBERS", "t9:none");
}

static void test_double_like_redis_cli(void **state) {
    (void)state;
    server_do(ARGS("ZADD", "t10:z", "1.5", "m", "-0.25", "n"));
    server_do(ARGS("SET", "t10:f", "2.5"));
    SAME("ZSCORE", "t10:z", "m");
    SAME("ZRANGE", "t10:z", "0", "-1", "WITHSCORES");
    SAME("INCRBYFLOAT", "t10:f", "0");
    SAME("EVAL", "redis.setresp(3); return {double=3.14}", "0");
}

static void test_boolean_like_redis_cli(void **state) {
    (void)state;
    SAME("EVAL", "redis.setresp(3); return true", "0");
    SAME("EVAL", "redis.setresp(3); return false", "0");
}

/* MEMORY DOCTOR and LATENCY DOCTOR are verbatim strings on RESP3 that stay
 * the same from one call to the next, and redis-cli prints them bare. */
static void test_verbatim_like_redis_cli(void **state) {
    (void)state;
    SAME("MEMORY", "DOCTOR");
    SAME("LATENCY", "DOCTOR");
    SAME("DEBUG", "PROTOCOL", "verbatim");
}

/* INFO, CLIENT LIST... print their text as it comes, errors included. */
static void test_bare_text_commands_like_redis_cli(void **state) {
    (void)state;
    SAME("INFO", "modules");
    SAME("INFO", "nosuchsection");
    SAME("CLIENT", "LIST", "badarg");
}

static void test_debug_protocol_replies_like_redis_cli(void **state) {
    (void)state;
    static const char *const kinds[] = {"string", "integer", "double", "null",  "array",
                                        "set",    "map",     "true",   "false", "push"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        SAME("DEBUG", "PROTOCOL", kinds[i]);
    /* redis-cli 7.0 cannot read these on RESP3. */
    SAME_RESP2("DEBUG", "PROTOCOL", "bignum");
    SAME_RESP2("DEBUG", "PROTOCOL", "attrib");
}

/* Checks rk-cli's stdout alone (for replies redis-cli 7.0 cannot read). */
static void expect_rkcli_out(const char *const *args, const char *want) {
    proc_result r = run_prog(rkcli(), args, NULL, 0);
    if (strcmp(r.out.data, want) != 0 || r.status != 0) {
        print_escaped("rk-cli stderr", &r.err);
        fail_msg("rk-cli printed \"%s\" (exit %d), not \"%s\"", r.out.data, r.status, want);
    }
    proc_result_free(&r);
}

static void test_big_number_shown_on_resp3(void **state) {
    (void)state;
    need_server();
    expect_rkcli_out(ARGS("-p", port, "-3", "--no-raw", "DEBUG", "PROTOCOL", "bignum"),
                     "(big number) 1234567999999999999999999999999999999\n");
    expect_rkcli_out(ARGS("-p", port, "-3", "--raw", "DEBUG", "PROTOCOL", "bignum"),
                     "1234567999999999999999999999999999999\n");
}

static void test_attribute_is_skipped_on_resp3(void **state) {
    (void)state;
    need_server();
    expect_rkcli_out(ARGS("-p", port, "-3", "--no-raw", "DEBUG", "PROTOCOL", "attrib"),
                     "\"Some real reply following the attribute\"\n");
}

static void test_pushes_shown_like_redis_cli_when_asked(void **state) {
    (void)state;
    need_server();
    for (int m = 0; m < 2; m++) {
        const char *mode = m ? "--raw" : "--no-raw";
        expect_same_output(
            ARGS("-p", port, "-3", mode, "--show-pushes", "yes", "DEBUG", "PROTOCOL", "push"), NULL,
            0);
        expect_same_output(
            ARGS("-p", port, "-3", mode, "--show-pushes", "no", "DEBUG", "PROTOCOL", "push"), NULL,
            0);
    }
}

/* ---- Commands from stdin ----------------------------------------------- */

static void test_stdin_lines_like_redis_cli(void **state) {
    (void)state;
    static const char lines[] = "SET t11:a 1\n"
                                "INCR t11:a\n"
                                "GET t11:a\n"
                                "\n"
                                "   \n"
                                "INCR t11:missing-type\n"
                                "DEL t11:a t11:missing-type\n"
                                "HSET t11:h f v\n"
                                "HGETALL t11:h\n"
                                "DEL t11:h\n"
                                "3 PING\n"
                                "0 PING\n"
                                "GET t11:a";
    expect_same_stdin(lines, "-2");
    expect_same_stdin(lines, "-3");
}

/* "help COMMAND" is answered from COMMAND DOCS with redis-cli's usage line
 * (tokens, [optional], a|b, "x [x ...]"), summary, since and group. */
static void test_help_command_like_redis_cli(void **state) {
    (void)state;
    static const char lines[] = "help SET\n"
                                "help xadd\n"
                                "help CLIENT KILL\n"
                                "help MIGRATE\n"
                                "help no-such-command\n";
    need_server();
    expect_same_output(ARGS("-p", port, "-2", "--no-raw"), lines, strlen(lines));
    expect_same_output(ARGS("-p", port, "-3", "--no-raw"), lines, strlen(lines));
}

/* "help @group" lists every command of the group; "help CLIENT" lists the
 * container and its subcommands. */
static void test_help_group_lists_its_commands_like_redis_cli(void **state) {
    (void)state;
    static const char lines[] = "help @string\nhelp @stream\nhelp client\nhelp @no-such-group\n";
    need_server();
    expect_same_output(ARGS("-p", port, "-2", "--no-raw"), lines, strlen(lines));
    expect_same_output(ARGS("-p", port, "-3", "--no-raw"), lines, strlen(lines));
}

/* redis-cli answers "help" on its command line too, without the server. */
static void test_help_in_one_shot_mode_like_redis_cli(void **state) {
    (void)state;
    need_server();
    expect_same_output(ARGS("-p", port, "--no-raw", "help", "set"), NULL, 0);
    expect_same_output(ARGS("-p", port, "--no-raw", "-r", "2", "HELP", "@bitmap"), NULL, 0);
}

/* Every command the server has, one "help NAME" each. */
static void test_help_of_every_command_like_redis_cli(void **state) {
    (void)state;
    need_server();
    proc_result names = run_prog("redis-cli", ARGS("-p", port, "COMMAND", "LIST"), NULL, 0);
    assert_int_equal(names.status, 0);
    text lines = {0};
    char *save = NULL;
    for (char *line = strtok_r(names.out.data, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        text_add(&lines, "help ", 5);
        text_add(&lines, line, strlen(line));
        text_add(&lines, "\n", 1);
    }
    assert_true(lines.len > 200 * strlen("help x\n"));
    expect_same_output(ARGS("-p", port, "--no-raw"), lines.data, lines.len);
    free(lines.data);
    proc_result_free(&names);
}

/* redis-cli colours its help even into a pipe; rk-cli's raw mode prints
 * the same text plain, one LF a line. */
static void test_help_in_raw_mode_is_plain_text(void **state) {
    (void)state;
    static const char lines[] = "help SET\nhelp @hyperloglog\n";
    need_server();
    proc_result ours = run_prog(rkcli(), ARGS("-p", port, "--raw"), lines, strlen(lines));
    proc_result theirs = run_prog("redis-cli", ARGS("-p", port), lines, strlen(lines));
    text plain = {0};
    for (size_t i = 0; i < theirs.out.len; i++) {
        char c = theirs.out.data[i];
        if (c == '\x1b')
            i += strcspn(theirs.out.data + i, "m"); /* a colour: ESC [ ... m */
        else if (c != '\r')
            text_add(&plain, &c, 1);
    }
    assert_non_null(strstr(ours.out.data, "\n  SET key value [NX|XX] [GET] [EX seconds|"));
    if (!text_equal(&ours.out, &plain)) {
        print_escaped("rk-cli --raw        ", &ours.out);
        print_escaped("redis-cli, uncoloured", &plain);
        fail_msg("raw help is not redis-cli's text without colours");
    }
    free(plain.data);
    proc_result_free(&ours);
    proc_result_free(&theirs);
}

/* Quoting as redis-cli parses it: escapes in double quotes, \' in single
 * quotes, quotes inside a word, and the lines it refuses. */
static void test_quoting_like_redis_cli(void **state) {
    (void)state;
    static const char lines[] = "SET t12:k \"a b\\x41\\n\"\n"
                                "GET t12:k\n"
                                "SET t12:k \"tab\\there\\r\\b\\a\\\\ \\\"q\\\" \\z \\xZZ \\x00\"\n"
                                "GET t12:k\n"
                                "SET t12:k 'it\\'s \"raw\" \\n'\n"
                                "GET t12:k\n"
                                "SET t12:k ab\"c d\"\n"
                                "GET t12:k\n"
                                "SET t12:k \"unbalanced\n"
                                "SET t12:k 'unbalanced\n"
                                "SET t12:k \"closed\"early\n"
                                "SET t12:k \"\"\n"
                                "STRLEN t12:k\n"
                                "\t SET \t t12:k  'x'  \r\n"
                                "GET t12:k\n";
    expect_same_stdin(lines, "-2");
}

/* ---- Connecting -------------------------------------------------------- */

static void test_connection_refused_exits_1_with_redis_cli_message(void **state) {
    (void)state;
    int free_port = rkt_free_port();
    assert_true(free_port > 0);
    char p[16], want[128];
    snprintf(p, sizeof(p), "%d", free_port);
    snprintf(want, sizeof(want), "Could not connect to Redis at 127.0.0.1:%d: Connection refused\n",
             free_port);
    proc_result ours = run_prog(rkcli(), ARGS("-p", p, "PING"), NULL, 0);
    assert_int_equal(ours.status, 1);
    assert_string_equal(ours.err.data, want);
    assert_string_equal(ours.out.data, "");
    proc_result theirs = run_prog("redis-cli", ARGS("-p", p, "PING"), NULL, 0);
    assert_string_equal(theirs.err.data, want);
    proc_result_free(&ours);
    proc_result_free(&theirs);
}

static void test_unix_socket_option_like_redis_cli(void **state) {
    (void)state;
    need_server();
    server_do(ARGS("SET", "t13:k", "over unix"));
    const char *path = rkt_server_unix_path(srv);
    expect_same_output(ARGS("-s", path, "--no-raw", "GET", "t13:k"), NULL, 0);
}

static void start_extra(const rkt_server_opts *o) {
    if (!rkt_require_binaries("redis-server", NULL))
        skip();
    assert_int_equal(rkt_server_start(&extra_server, o), 0);
}

static void test_password_option_like_redis_cli(void **state) {
    (void)state;
    rkcli();
    start_extra(&(rkt_server_opts){.requirepass = "s3cret"});
    char p[16];
    snprintf(p, sizeof(p), "%d", rkt_server_port(&extra_server));
    expect_same_output(ARGS("-p", p, "-a", "s3cret", "--no-raw", "PING"), NULL, 0);
    expect_same_output(ARGS("-p", p, "-a", "s3cret", "--user", "default", "PING"), NULL, 0);
}

/* redis-cli carries on unauthenticated after a refused password; rk-cli
 * stops there. */
static void test_wrong_password_exits_1_with_auth_message(void **state) {
    (void)state;
    const char *prog = rkcli();
    start_extra(&(rkt_server_opts){.requirepass = "s3cret"});
    char p[16];
    snprintf(p, sizeof(p), "%d", rkt_server_port(&extra_server));
    proc_result r =
        run_prog(prog, ARGS("-p", p, "-a", "wrong", "--no-auth-warning", "PING"), NULL, 0);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out.data, "");
    assert_non_null(strstr(r.err.data, "AUTH failed: WRONGPASS"));
    proc_result_free(&r);
}

static void test_db_option_selects_the_database(void **state) {
    (void)state;
    need_server();
    expect_rkcli_out(ARGS("-p", port, "-n", "3", "SET", "t14:k", "in db 3"), "OK\n");
    expect_same_output(ARGS("-p", port, "-n", "3", "--no-raw", "GET", "t14:k"), NULL, 0);
    expect_rkcli_out(ARGS("-p", port, "-n", "3", "GET", "t14:k"), "in db 3\n");
    expect_rkcli_out(ARGS("-p", port, "GET", "t14:k"), "\n");
}

static void test_url_option_like_redis_cli(void **state) {
    (void)state;
    rkcli();
    start_extra(&(rkt_server_opts){.requirepass = "pw"});
    char *reply = rkt_server_cmd(&extra_server, "SELECT", "2", NULL);
    free(reply);
    char url[128];
    /* redis-cli 7.0 sends an empty user name for "redis://:pw@": name one. */
    snprintf(url, sizeof(url), "redis://default:pw@127.0.0.1:%d/2", rkt_server_port(&extra_server));
    proc_result r = run_prog(rkcli(), ARGS("-u", url, "SET", "t15:k", "by url"), NULL, 0);
    assert_string_equal(r.out.data, "OK\n");
    proc_result_free(&r);
    expect_same_output(ARGS("-u", url, "--no-raw", "GET", "t15:k"), NULL, 0);
    expect_same_output(ARGS("-u", url, "--no-raw", "DBSIZE"), NULL, 0);
}

static void tls_same(const char *const *extra_args) {
    char p[16];
    snprintf(p, sizeof(p), "%d", rkt_server_tls_port(&extra_server));
    const rkt_tls_files *f = rkt_server_tls_files(&extra_server);
    const char *args[24] = {"--tls", "-p", p, "--cacert", f->ca_cert};
    size_t n = 5;
    for (size_t i = 0; extra_args[i]; i++)
        args[n++] = extra_args[i];
    args[n] = NULL;
    expect_same_output(args, NULL, 0);
}

static void test_tls_with_cacert_like_redis_cli(void **state) {
    (void)state;
    rkcli();
    if (!rkt_require_binaries("openssl", NULL))
        skip();
    start_extra(&(rkt_server_opts){.tls = true});
    tls_same(ARGS("--no-raw", "SET", "t16:k", "over TLS"));
    tls_same(ARGS("--no-raw", "-3", "GET", "t16:k"));
}

static void test_tls_client_certificate_like_redis_cli(void **state) {
    (void)state;
    rkcli();
    if (!rkt_require_binaries("openssl", NULL))
        skip();
    start_extra(&(rkt_server_opts){.tls = true, .tls_auth_clients = true});
    const rkt_tls_files *f = rkt_server_tls_files(&extra_server);
    tls_same(ARGS("--cert", f->client_cert, "--key", f->client_key, "--no-raw", "PING"));
}

/* ---- Options ----------------------------------------------------------- */

static void test_help_prints_usage_and_exits_0(void **state) {
    (void)state;
    proc_result r = run_prog(rkcli(), ARGS("--help"), NULL, 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out.data, "Usage: rk-cli [OPTIONS] [cmd [arg [arg ...]]]"));
    proc_result_free(&r);
}

static void test_unknown_option_exits_1_like_redis_cli(void **state) {
    (void)state;
    proc_result ours = run_prog(rkcli(), ARGS("--no-such-option"), NULL, 0);
    proc_result theirs = run_prog("redis-cli", ARGS("--no-such-option"), NULL, 0);
    assert_int_equal(ours.status, 1);
    assert_int_equal(theirs.status, 1);
    assert_string_equal(ours.err.data, theirs.err.data);
    proc_result_free(&ours);
    proc_result_free(&theirs);
}

/* -x: the last argument is all of stdin, binary safe. */
static void test_stdin_argument_like_redis_cli(void **state) {
    (void)state;
    need_server();
    static const char value[] = "line 1\nline 2\0after NUL\n";
    proc_result r =
        run_prog(rkcli(), ARGS("-p", port, "-x", "SET", "t17:k"), value, sizeof(value) - 1);
    assert_string_equal(r.out.data, "OK\n");
    proc_result_free(&r);
    SAME("GET", "t17:k");
    SAME("STRLEN", "t17:k");
}

static void test_exit_on_error_option_like_redis_cli(void **state) {
    (void)state;
    need_server();
    server_do(ARGS("SET", "t18:s", "text"));
    expect_same_output(ARGS("-p", port, "-e", "INCR", "t18:s"), NULL, 0);
    expect_same_output(ARGS("-p", port, "-e", "--no-raw", "INCR", "t18:s"), NULL, 0);
    expect_same_output(ARGS("-p", port, "-e", "GET", "t18:s"), NULL, 0);
}

static void test_repeat_option_like_redis_cli(void **state) {
    (void)state;
    need_server();
    expect_same_output(ARGS("-p", port, "-r", "3", "--no-raw", "ECHO", "again"), NULL, 0);
}

/* ---- SUBSCRIBE --------------------------------------------------------- */

/* Waits until `count` clients listen on the channel. */
static void wait_subscribers(const char *channel, const char *count) {
    char want[64];
    snprintf(want, sizeof(want), ":%s\r\n", count);
    for (int i = 0; i < GUARD_MS / 10; i++) {
        char *reply = rkt_server_cmd(srv, "PUBSUB", "NUMSUB", channel, NULL);
        bool done = reply && strstr(reply, want) != NULL;
        free(reply);
        if (done)
            return;
        usleep(10000);
    }
    fail_msg("subscribers never reached %s", count);
}

/* Both programs subscribe, get a message, and see the server close them. */
static void expect_same_subscription(const char *proto, const char *mode) {
    const char *const args[] = {"-p", port, proto, mode, "SUBSCRIBE", "t19:ch", "t19:other", NULL};
    proc ours = spawn(rkcli(), args, NULL, 0);
    proc theirs = spawn("redis-cli", args, NULL, 0);
    wait_subscribers("t19:other", "2");
    free(rkt_server_cmd(srv, "PUBLISH", "t19:ch", "hello \"world\"\n", NULL));
    free(rkt_server_cmd(srv, "CLIENT", "KILL", "TYPE", "pubsub", NULL));
    proc_result a = finish(&ours), b = finish(&theirs);
    if (!text_equal(&a.out, &b.out) || a.status != b.status) {
        print_escaped("rk-cli stdout   ", &a.out);
        print_escaped("redis-cli stdout", &b.out);
        fail_msg("SUBSCRIBE %s %s: rk-cli (exit %d) differs from redis-cli (exit %d)", proto, mode,
                 a.status, b.status);
    }
    assert_non_null(strstr(a.out.data, "world"));
    proc_result_free(&a);
    proc_result_free(&b);
}

static void test_subscribe_prints_messages_like_redis_cli(void **state) {
    (void)state;
    need_server();
    expect_same_subscription("-2", "--raw");
    expect_same_subscription("-2", "--no-raw");
    expect_same_subscription("-3", "--raw");
    expect_same_subscription("-3", "--no-raw");
}

/* ---- Interactive mode through a pty ------------------------------------ */

typedef struct pty_proc {
    pid_t pid;
    int fd;
    text seen;   /* everything the terminal showed */
    size_t done; /* how much of it a wait has consumed */
} pty_proc;

static void pty_start(pty_proc *p, const char *const *args) {
    const char *prog = rkcli();
    *p = (pty_proc){0};
    text_add(&p->seen, "", 0);
    struct winsize ws = {.ws_row = 24, .ws_col = 200};
    p->pid = forkpty(&p->fd, NULL, NULL, &ws);
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setenv("RKCLI_HISTFILE", "/dev/null", 1);
        setenv("TERM", "xterm", 1);
        char *argv[16] = {(char *)prog};
        for (size_t i = 0; args[i] && i < 14; i++)
            argv[i + 1] = (char *)args[i];
        execv(prog, argv);
        _exit(127);
    }
    child_started(p->pid);
}

static void pty_type(pty_proc *p, const char *s) {
    assert_int_equal(write(p->fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Reads the terminal until `needle` shows up after what earlier waits
 * consumed; fails if it never does. */
static void pty_wait_for(pty_proc *p, const char *needle) {
    for (;;) {
        char *hit = strstr(p->seen.data + p->done, needle);
        if (hit != NULL) {
            p->done = (size_t)(hit - p->seen.data) + strlen(needle);
            return;
        }
        struct pollfd pf = {.fd = p->fd, .events = POLLIN};
        char buf[4096];
        ssize_t n = poll(&pf, 1, GUARD_MS) > 0 ? read(p->fd, buf, sizeof(buf)) : -1;
        if (n <= 0) {
            print_escaped("terminal", &p->seen);
            fail_msg("\"%s\" never showed on the terminal", needle);
        }
        text_add(&p->seen, buf, (size_t)n);
    }
}

/* Reads what is left and reaps the program; returns its exit status. */
static int pty_finish(pty_proc *p) {
    char buf[4096];
    struct pollfd pf = {.fd = p->fd, .events = POLLIN};
    ssize_t n;
    while (poll(&pf, 1, GUARD_MS) > 0 && (n = read(p->fd, buf, sizeof(buf))) > 0)
        text_add(&p->seen, buf, (size_t)n);
    close(p->fd);
    free(p->seen.data);
    return child_reap(p->pid, false);
}

/* Types a line, waits for `reply`, then for the next prompt (typing
 * before it shows would reach the terminal before rk-cli's editor). */
static void pty_command(pty_proc *p, const char *line, const char *reply, const char *prompt) {
    pty_type(p, line);
    pty_wait_for(p, reply);
    pty_wait_for(p, prompt);
}

static void test_interactive_prompt_shows_address_and_db(void **state) {
    (void)state;
    need_server();
    pty_proc p;
    pty_start(&p, ARGS("-p", port));
    char prompt[64], db2[64], tx[64];
    snprintf(prompt, sizeof(prompt), "127.0.0.1:%s> ", port);
    snprintf(db2, sizeof(db2), "127.0.0.1:%s[2]> ", port);
    snprintf(tx, sizeof(tx), "127.0.0.1:%s[2](TX)> ", port);
    pty_wait_for(&p, prompt);
    pty_command(&p, "SET t20:k \"two words\"\r", "OK\r\n", prompt);
    pty_command(&p, "SELECT 2\r", "OK\r\n", db2);
    pty_command(&p, "MULTI\r", "OK\r\n", tx);
    pty_command(&p, "DISCARD\r", "OK\r\n", db2);
    pty_type(&p, "quit\r");
    assert_int_equal(pty_finish(&p), 0);
}

static void test_interactive_edits_and_recalls_lines(void **state) {
    (void)state;
    need_server();
    pty_proc p;
    pty_start(&p, ARGS("-p", port));
    pty_wait_for(&p, "> ");
    pty_command(&p, "ECHO one\r", "\"one\"\r\n", "> ");
    /* Up recalls the line; Ctrl-W drops "one"; "two" is typed instead. */
    pty_command(&p, "\x1b[A\x17two\r", "\"two\"\r\n", "> ");
    /* Left once, and a character typed in the middle. */
    pty_command(&p,
                "ECHO ac\x1b[D"
                "b\r",
                "\"abc\"\r\n", "> ");
    pty_type(&p, "\x04"); /* Ctrl-D on an empty line leaves */
    assert_int_equal(pty_finish(&p), 0);
}

/* A connection the server closed while rk-cli waited at the prompt is
 * reopened without a word, and the next command runs. */
static void test_interactive_reconnects_after_idle_drop(void **state) {
    (void)state;
    need_server();
    pty_proc p;
    pty_start(&p, ARGS("-p", port));
    pty_wait_for(&p, "> ");
    pty_command(&p, "ECHO before\r", "\"before\"\r\n", "> ");
    free(rkt_server_cmd(srv, "CLIENT", "KILL", "TYPE", "normal", NULL));
    pty_command(&p, "ECHO after\r", "\"after\"\r\n", "> ");
    assert_null(strstr(p.seen.data, "Error"));
    pty_type(&p, "exit\r");
    assert_int_equal(pty_finish(&p), 0);
}

/* Waits until the server runs `cmd` for some client. */
static void wait_client_running(const char *cmd) {
    for (int i = 0; i < GUARD_MS / 10; i++) {
        char *reply = rkt_server_cmd(srv, "CLIENT", "LIST", NULL);
        bool found = reply && strstr(reply, cmd) != NULL;
        free(reply);
        if (found)
            return;
        usleep(10000);
    }
    fail_msg("no client ever ran %s", cmd);
}

/* A connection lost during a command is reported as redis-cli reports it;
 * the prompt says "not connected" and the next command reconnects. */
static void test_interactive_reports_lost_connection(void **state) {
    (void)state;
    need_server();
    pty_proc p;
    pty_start(&p, ARGS("-p", port));
    pty_wait_for(&p, "> ");
    pty_type(&p, "BLPOP t21:none 0\r");
    wait_client_running("cmd=blpop");
    free(rkt_server_cmd(srv, "CLIENT", "KILL", "TYPE", "normal", NULL));
    pty_wait_for(&p, "Error: Server closed the connection\r\n");
    pty_wait_for(&p, "not connected> ");
    char prompt[64];
    snprintf(prompt, sizeof(prompt), "127.0.0.1:%s> ", port);
    pty_command(&p, "PING\r", "PONG\r\n", prompt);
    pty_type(&p, "quit\r");
    assert_int_equal(pty_finish(&p), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_status_reply_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_error_replies_like_redis_cli_and_exit_zero, teardown),
        cmocka_unit_test_teardown(test_integer_reply_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_binary_bulk_string_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_nil_reply_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_empty_array_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_nested_arrays_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_map_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_set_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_double_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_boolean_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_verbatim_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_bare_text_commands_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_debug_protocol_replies_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_big_number_shown_on_resp3, teardown),
        cmocka_unit_test_teardown(test_attribute_is_skipped_on_resp3, teardown),
        cmocka_unit_test_teardown(test_pushes_shown_like_redis_cli_when_asked, teardown),
        cmocka_unit_test_teardown(test_stdin_lines_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_help_command_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_help_group_lists_its_commands_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_help_in_one_shot_mode_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_help_of_every_command_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_help_in_raw_mode_is_plain_text, teardown),
        cmocka_unit_test_teardown(test_quoting_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_connection_refused_exits_1_with_redis_cli_message, teardown),
        cmocka_unit_test_teardown(test_unix_socket_option_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_password_option_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_wrong_password_exits_1_with_auth_message, teardown),
        cmocka_unit_test_teardown(test_db_option_selects_the_database, teardown),
        cmocka_unit_test_teardown(test_url_option_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_tls_with_cacert_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_tls_client_certificate_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_help_prints_usage_and_exits_0, teardown),
        cmocka_unit_test_teardown(test_unknown_option_exits_1_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_stdin_argument_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_exit_on_error_option_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_repeat_option_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_subscribe_prints_messages_like_redis_cli, teardown),
        cmocka_unit_test_teardown(test_interactive_prompt_shows_address_and_db, teardown),
        cmocka_unit_test_teardown(test_interactive_edits_and_recalls_lines, teardown),
        cmocka_unit_test_teardown(test_interactive_reconnects_after_idle_drop, teardown),
        cmocka_unit_test_teardown(test_interactive_reports_lost_connection, teardown),
    };
    static const char *const config[] = {"enable-debug-command yes", NULL};
    rkt_shared_opts = (rkt_server_opts){.unix_socket = true, .config = config};
    return cmocka_run_group_tests_name("rk-cli", tests, rkt_shared_setup, rkt_shared_teardown);
}
