/* Self-test of the test harness: real servers (TCP, unix, TLS, passwords,
 * ACL users, restart, kill, freeze, cluster, sentinel), the cleanup that
 * runs when a test process dies, the raw RESP helpers, and every mode of
 * the fault-injecting proxy. Needs redis-server and openssl; skips without. */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rkt_proxy.h"
#include "rkt_server.h"

#define PING_WIRE "*1\r\n$4\r\nPING\r\n"
#define BIG_LEN 100

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void need(const char *binary) {
    if (!rkt_require_binaries(binary, NULL))
        skip();
}

static bool path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* True once pid no longer runs (gone, or a zombie nobody reaped yet). */
static bool process_gone(pid_t pid) {
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    char path[64], stat_line[256] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    bool zombie = fgets(stat_line, sizeof stat_line, f) && strstr(stat_line, ") Z ");
    fclose(f);
    return zombie;
}

static bool gone_within(pid_t pid, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    while (!process_gone(pid)) {
        if (now_ms() >= deadline)
            return false;
        sleep_ms(10);
    }
    return true;
}

/* Reads until EOF, error or timeout. Returns the byte count; *err is 0 on
 * EOF, ETIMEDOUT on timeout, else the recv errno. */
static size_t read_until_end(int fd, char *buf, size_t cap, int timeout_ms, int *err) {
    size_t got = 0;
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(deadline - now_ms());
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) == 0) {
            *err = ETIMEDOUT;
            return got;
        }
        ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
        if (n > 0) {
            got += (size_t)n;
            if (got == cap) {
                *err = 0;
                return got;
            }
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        *err = n == 0 ? 0 : errno;
        return got;
    }
}

static char *command_on(int fd, int argc, const char *const *argv) {
    return rkt_raw_command(fd, RKT_RAW_TIMEOUT_MS, NULL, argc, argv);
}

/* ---- Servers ------------------------------------------------------------ */

static void test_tcp_server_answers_ping(void **state) {
    (void)state;
    need("redis-server");
    rkt_server srv;
    assert_int_equal(rkt_server_start(&srv, NULL), 0);
    assert_true(rkt_server_port(&srv) > 0);
    assert_true(rkt_server_pid(&srv) > 0);
    assert_null(rkt_server_unix_path(&srv));
    assert_int_equal(rkt_raw_ping("127.0.0.1", rkt_server_port(&srv), 2000), 0);
    char *reply = rkt_server_cmd(&srv, "SET", "greeting", "hello", NULL);
    assert_string_equal(reply, "+OK\r\n");
    free(reply);
    reply = rkt_server_cmd(&srv, "GET", "greeting", NULL);
    assert_string_equal(reply, "$5\r\nhello\r\n");
    free(reply);
    rkt_server_stop(&srv);
}

static void test_server_listens_on_ipv6_loopback_when_present(void **state) {
    (void)state;
    need("redis-server");
    if (!rkt_have_ipv6_loopback())
        skip();
    rkt_server srv;
    assert_int_equal(rkt_server_start(&srv, NULL), 0);
    assert_string_equal(rkt_server_bind_addrs(), "127.0.0.1 ::1");
    assert_int_equal(rkt_raw_ping("::1", rkt_server_port(&srv), 2000), 0);
    rkt_server_stop(&srv);
}

static void test_unix_socket_server_answers_ping(void **state) {
    (void)state;
    need("redis-server");
    rkt_server srv;
    rkt_server_opts o = {.unix_socket = true, .tcp_off = true};
    assert_int_equal(rkt_server_start(&srv, &o), 0);
    assert_int_equal(rkt_server_port(&srv), 0);
    const char *path = rkt_server_unix_path(&srv);
    assert_non_null(path);
    assert_int_equal(rkt_raw_ping_unix(path, 2000), 0);
    char *reply = rkt_server_cmd(&srv, "ECHO", "over unix", NULL);
    assert_string_equal(reply, "$9\r\nover unix\r\n");
    free(reply);
    rkt_server_stop(&srv);
}

static void test_tls_server_trusted_by_its_ca_only(void **state) {
    (void)state;
    need("redis-server");
    need("openssl");
    rkt_server srv;
    rkt_server_opts o = {.tls = true, .tcp_off = true};
    assert_int_equal(rkt_server_start(&srv, &o), 0);
    const rkt_tls_files *tls = rkt_server_tls_files(&srv);
    assert_non_null(tls);
    int port = rkt_server_tls_port(&srv);

    rkt_tls_client_opts good = {.ca_file = tls->ca_cert};
    assert_int_equal(rkt_tls_ping("127.0.0.1", port, &good), RKT_TLS_OK);
    good.verify_name = "localhost";
    assert_int_equal(rkt_tls_ping("127.0.0.1", port, &good), RKT_TLS_OK);
    if (rkt_have_ipv6_loopback())
        assert_int_equal(rkt_tls_ping("::1", port, &(rkt_tls_client_opts){.ca_file = tls->ca_cert}),
                         RKT_TLS_OK);

    rkt_tls_client_opts other = {.ca_file = tls->other_ca_cert};
    assert_int_equal(rkt_tls_ping("127.0.0.1", port, &other), RKT_TLS_EHANDSHAKE);
    rkt_tls_client_opts wrong_name = {.ca_file = tls->ca_cert, .verify_name = "example.org"};
    assert_int_equal(rkt_tls_ping("127.0.0.1", port, &wrong_name), RKT_TLS_EHANDSHAKE);
    rkt_server_stop(&srv);
}

static void test_mutual_tls_server_requires_client_cert(void **state) {
    (void)state;
    need("redis-server");
    need("openssl");
    rkt_server srv;
    rkt_server_opts o = {.tls = true, .tls_auth_clients = true};
    assert_int_equal(rkt_server_start(&srv, &o), 0);
    const rkt_tls_files *tls = rkt_server_tls_files(&srv);
    int port = rkt_server_tls_port(&srv);
    rkt_tls_client_opts with_cert = {
        .ca_file = tls->ca_cert, .cert_file = tls->client_cert, .key_file = tls->client_key};
    assert_int_equal(rkt_tls_ping("127.0.0.1", port, &with_cert), RKT_TLS_OK);
    rkt_tls_client_opts without = {.ca_file = tls->ca_cert};
    assert_int_not_equal(rkt_tls_ping("127.0.0.1", port, &without), RKT_TLS_OK);
    /* The plain port stays open next to the TLS one. */
    assert_int_equal(rkt_raw_ping("127.0.0.1", rkt_server_port(&srv), 2000), 0);
    rkt_server_stop(&srv);
}

static void test_tls_files_can_be_shared_between_servers(void **state) {
    (void)state;
    need("redis-server");
    need("openssl");
    char dir[] = "/tmp/rkt-tlsXXXXXX";
    assert_non_null(mkdtemp(dir));
    rkt_tls_files files;
    assert_int_equal(rkt_tls_make(dir, &files), 0);
    assert_true(path_exists(files.wrong_name_cert));
    rkt_server srv;
    rkt_server_opts o = {.tls = true, .tls_files = &files};
    assert_int_equal(rkt_server_start(&srv, &o), 0);
    rkt_tls_client_opts c = {.ca_file = files.ca_cert};
    assert_int_equal(rkt_tls_ping("127.0.0.1", rkt_server_tls_port(&srv), &c), RKT_TLS_OK);
    rkt_server_stop(&srv);
    assert_true(path_exists(files.ca_cert)); /* not the server's to remove */
    const char *rm[] = {"rm", "-rf", dir, NULL};
    assert_int_equal(rkt_run(rm, NULL, 10000), 0);
}

static void test_requirepass_server_says_noauth_until_auth(void **state) {
    (void)state;
    need("redis-server");
    rkt_server srv;
    rkt_server_opts o = {.requirepass = "s3cret"};
    assert_int_equal(rkt_server_start(&srv, &o), 0);
    int fd = rkt_raw_connect("127.0.0.1", rkt_server_port(&srv), 2000);
    assert_true(fd >= 0);
    const char *ping[] = {"PING"}, *auth[] = {"AUTH", "s3cret"};
    char *reply = command_on(fd, 1, ping);
    assert_non_null(reply);
    assert_memory_equal(reply, "-NOAUTH", 7);
    free(reply);
    reply = command_on(fd, 2, auth);
    assert_string_equal(reply, "+OK\r\n");
    free(reply);
    reply = command_on(fd, 1, ping);
    assert_string_equal(reply, "+PONG\r\n");
    free(reply);
    close(fd);
    reply = rkt_server_cmd(&srv, "PING", NULL); /* AUTHs by itself */
    assert_string_equal(reply, "+PONG\r\n");
    free(reply);
    rkt_server_stop(&srv);
}

static void test_acl_users_and_extra_config_are_applied(void **state) {
    (void)state;
    need("redis-server");
    const char *users[] = {"user alice on >alicepw ~* &* +@all", NULL};
    const char *config[] = {"maxmemory 12345678", NULL};
    rkt_server srv;
    rkt_server_opts o = {.acl_users = users, .config = config};
    assert_int_equal(rkt_server_start(&srv, &o), 0);
    int fd = rkt_server_connect(&srv);
    assert_true(fd >= 0);
    const char *auth_bad[] = {"AUTH", "alice", "nope"}, *auth[] = {"AUTH", "alice", "alicepw"};
    const char *whoami[] = {"ACL", "WHOAMI"};
    char *reply = command_on(fd, 3, auth_bad);
    assert_non_null(reply);
    assert_memory_equal(reply, "-WRONGPASS", 10);
    free(reply);
    reply = command_on(fd, 3, auth);
    assert_string_equal(reply, "+OK\r\n");
    free(reply);
    reply = command_on(fd, 2, whoami);
    assert_string_equal(reply, "$5\r\nalice\r\n");
    free(reply);
    close(fd);
    reply = rkt_server_cmd(&srv, "CONFIG", "GET", "maxmemory", NULL);
    char value[32];
    assert_int_equal(rkt_resp_field(reply, "maxmemory", value, sizeof value), 0);
    assert_string_equal(value, "12345678");
    free(reply);
    rkt_server_stop(&srv);
}

static void test_restart_keeps_port(void **state) {
    (void)state;
    need("redis-server");
    rkt_server srv;
    assert_int_equal(rkt_server_start(&srv, NULL), 0);
    int port = rkt_server_port(&srv);
    pid_t first = rkt_server_pid(&srv);
    assert_int_equal(rkt_server_restart(&srv), 0);
    assert_int_equal(rkt_server_port(&srv), port);
    assert_int_not_equal(rkt_server_pid(&srv), first);
    assert_true(gone_within(first, 5000));
    assert_int_equal(rkt_raw_ping("127.0.0.1", port, 2000), 0);
    rkt_server_stop(&srv);
}

static void test_kill_then_restart_then_stop(void **state) {
    (void)state;
    need("redis-server");
    rkt_server srv;
    assert_int_equal(rkt_server_start(&srv, NULL), 0);
    pid_t pid = rkt_server_pid(&srv);
    char dir[RKT_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", rkt_server_dir(&srv));
    rkt_server_kill(&srv);
    assert_int_equal(rkt_server_pid(&srv), 0);
    assert_true(gone_within(pid, 5000));
    assert_int_not_equal(rkt_raw_ping("127.0.0.1", rkt_server_port(&srv), 500), 0);
    assert_true(path_exists(dir));
    assert_int_equal(rkt_server_restart(&srv), 0);
    assert_int_equal(rkt_raw_ping("127.0.0.1", rkt_server_port(&srv), 2000), 0);
    rkt_server_kill(&srv);
    rkt_server_stop(&srv);
    assert_false(path_exists(dir));
    rkt_server_stop(&srv); /* twice is harmless */
}

static void test_frozen_server_does_not_answer_until_thawed(void **state) {
    (void)state;
    need("redis-server");
    rkt_server srv;
    assert_int_equal(rkt_server_start(&srv, NULL), 0);
    int fd = rkt_server_connect(&srv);
    assert_true(fd >= 0);
    rkt_server_freeze(&srv);
    const char *ping[] = {"PING"};
    assert_int_equal(rkt_raw_send(fd, 1, ping, NULL, 1000), 0);
    assert_null(rkt_raw_read_reply(fd, 300, NULL));
    rkt_server_thaw(&srv);
    char *reply = rkt_raw_read_reply(fd, RKT_RAW_TIMEOUT_MS, NULL);
    assert_string_equal(reply, "+PONG\r\n");
    free(reply);
    close(fd);
    rkt_server_freeze(&srv); /* stop must also end a frozen server */
    rkt_server_stop(&srv);
}

static void test_start_refuses_options_without_listener(void **state) {
    (void)state;
    rkt_server srv;
    rkt_server_opts o = {.tcp_off = true};
    assert_int_equal(rkt_server_start(&srv, &o), -1);
    assert_int_equal(rkt_server_pid(&srv), 0);
    rkt_server_stop(&srv);
}

static void test_bad_config_fails_start_and_leaves_nothing(void **state) {
    (void)state;
    need("redis-server");
    const char *config[] = {"no-such-directive yes", NULL};
    rkt_server srv;
    rkt_server_opts o = {.config = config};
    assert_int_equal(rkt_server_start(&srv, &o), -1);
    assert_int_equal(rkt_server_pid(&srv), 0);
}

/* ---- Cleanup when a test process dies ---------------------------------- */

enum death { DIE_ABORT, DIE_EXIT, DIE_SIGKILL };

/* A child starts a server, reports its pid and dir, then dies as told; the
 * server must not outlive it. */
static void check_server_dies_with_test_process(enum death how) {
    need("redis-server");
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(fds[0]);
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        rkt_server srv;
        char msg[RKT_PATH_MAX + 32] = "";
        if (rkt_server_start(&srv, NULL) == 0)
            snprintf(msg, sizeof msg, "%d %s", (int)rkt_server_pid(&srv), rkt_server_dir(&srv));
        ssize_t w = write(fds[1], msg, strlen(msg) + 1);
        (void)w;
        if (how == DIE_ABORT)
            abort();
        if (how == DIE_EXIT)
            exit(0);
        raise(SIGKILL);
        _exit(1);
    }
    close(fds[1]);
    char msg[RKT_PATH_MAX + 32] = "";
    ssize_t n = read(fds[0], msg, sizeof msg - 1);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    int pid = 0;
    char dir[RKT_PATH_MAX] = "";
    assert_true(n > 0);
    assert_int_equal(sscanf(msg, "%d %511s", &pid, dir), 2);
    assert_true(pid > 0);
    assert_true(gone_within(pid, 10000));
    if (how == DIE_SIGKILL) {
        /* Only PR_SET_PDEATHSIG ran; the temp dir is left behind. */
        const char *rm[] = {"rm", "-rf", dir, NULL};
        rkt_run(rm, NULL, 10000);
    }
    assert_false(path_exists(dir));
}

static void test_abort_stops_servers(void **state) {
    (void)state;
    check_server_dies_with_test_process(DIE_ABORT);
}

static void test_exit_stops_servers(void **state) {
    (void)state;
    check_server_dies_with_test_process(DIE_EXIT);
}

static void test_sigkill_of_test_process_kills_servers(void **state) {
    (void)state;
    check_server_dies_with_test_process(DIE_SIGKILL);
}

/* ---- Topologies --------------------------------------------------------- */

static void test_cluster_of_six_nodes_is_ok(void **state) {
    (void)state;
    need("redis-server");
    need("redis-cli");
    rkt_cluster c;
    assert_int_equal(rkt_cluster_start(&c, 3, 1, NULL), 0);
    assert_int_equal(c.n_nodes, 6);
    char *reply = rkt_server_cmd(&c.nodes[5], "CLUSTER", "INFO", NULL);
    assert_non_null(reply);
    assert_non_null(strstr(reply, "cluster_state:ok"));
    assert_non_null(strstr(reply, "cluster_size:3"));
    free(reply);
    rkt_cluster_stop(&c);
}

static void test_sentinel_group_knows_master(void **state) {
    (void)state;
    need("redis-server");
    need("redis-sentinel");
    rkt_sentinel_group g;
    assert_int_equal(rkt_sentinel_group_start(&g, NULL), 0);
    char *reply =
        rkt_server_cmd(&g.sentinels[0], "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster", NULL);
    char expect[64];
    snprintf(expect, sizeof expect, "*2\r\n$9\r\n127.0.0.1\r\n$%zu\r\n%d\r\n",
             (size_t)snprintf(NULL, 0, "%d", g.master.port), g.master.port);
    assert_string_equal(reply, expect);
    free(reply);
    rkt_sentinel_group_stop(&g);
}

/* ---- Raw RESP ----------------------------------------------------------- */

static void test_resp_reply_len_finds_reply_end(void **state) {
    (void)state;
    static const struct {
        const char *bytes;
        long len;
    } cases[] = {
        {"+OK\r\n", 5},
        {"+OK\r", 0},
        {"$5\r\nhello\r\n:1\r\n", 11},
        {"$5\r\nhel", 0},
        {"$-1\r\n", 5},
        {"*-1\r\n", 5},
        {"*2\r\n$1\r\na\r\n:7\r\n", 15},
        {"*2\r\n$1\r\na\r\n", 0},
        {"%1\r\n+k\r\n#t\r\n", 12},
        {"|1\r\n+ttl\r\n:3\r\n+v\r\n", 18},
        {">2\r\n+a\r\n_\r\n", 11},
        {"=7\r\ntxt:abc\r\n,1.5\r\n", 13},
        {"hello\r\n", -1},
        {"$3\r\nabcd\r\n", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long len = rkt_resp_reply_len(cases[i].bytes, strlen(cases[i].bytes));
        if (len != cases[i].len)
            print_error("case %zu: %ld, expected %ld\n", i, len, cases[i].len);
        assert_int_equal(len, cases[i].len);
    }
}

static void test_raw_read_reply_leaves_later_replies(void **state) {
    (void)state;
    need("redis-server");
    rkt_server srv;
    assert_int_equal(rkt_server_start(&srv, NULL), 0);
    int fd = rkt_server_connect(&srv);
    assert_true(fd >= 0);
    const char *echo1[] = {"ECHO", "one"}, *echo2[] = {"ECHO", "two"};
    assert_int_equal(rkt_raw_send(fd, 2, echo1, NULL, 1000), 0);
    assert_int_equal(rkt_raw_send(fd, 2, echo2, NULL, 1000), 0);
    size_t len = 0;
    char *a = rkt_raw_read_reply(fd, RKT_RAW_TIMEOUT_MS, &len);
    char *b = rkt_raw_read_reply(fd, RKT_RAW_TIMEOUT_MS, NULL);
    assert_string_equal(a, "$3\r\none\r\n");
    assert_int_equal(len, 9);
    assert_string_equal(b, "$3\r\ntwo\r\n");
    free(a);
    free(b);
    close(fd);
    rkt_server_stop(&srv);
}

static void test_have_binary(void **state) {
    (void)state;
    assert_true(rkt_have_binary("sh"));
    assert_false(rkt_have_binary("rkt-no-such-binary"));
    assert_true(rkt_require_binaries("sh", "true", NULL)); /* a missing one would skip */
    const char *fail[] = {"false", NULL}, *ok[] = {"true", NULL};
    assert_int_equal(rkt_run(fail, NULL, 5000), 1);
    assert_int_equal(rkt_run(ok, NULL, 5000), 0);
}

/* ---- Proxy -------------------------------------------------------------- */

static rkt_server proxy_upstream;

static int proxy_group_setup(void **state) {
    (void)state;
    if (!rkt_require_binaries("redis-server", NULL))
        return 0; /* each test skips */
    if (rkt_server_start(&proxy_upstream, NULL) < 0)
        return -1;
    char big[BIG_LEN + 1];
    memset(big, 'x', BIG_LEN);
    big[BIG_LEN] = '\0';
    char *reply = rkt_server_cmd(&proxy_upstream, "SET", "big", big, NULL);
    int rc = reply && strcmp(reply, "+OK\r\n") == 0 ? 0 : -1;
    free(reply);
    return rc;
}

static int proxy_group_teardown(void **state) {
    (void)state;
    rkt_server_stop(&proxy_upstream);
    return 0;
}

static rkt_proxy *proxy_in_mode(rkt_proxy_mode mode, long arg) {
    if (!rkt_server_pid(&proxy_upstream))
        skip();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&proxy_upstream));
    assert_non_null(p);
    rkt_proxy_set_mode(p, mode, arg);
    return p;
}

static int connect_proxy(const rkt_proxy *p) {
    int fd = rkt_raw_connect("127.0.0.1", rkt_proxy_port(p), 2000);
    assert_true(fd >= 0);
    return fd;
}

static void expect_pong(int fd) {
    const char *ping[] = {"PING"};
    char *reply = command_on(fd, 1, ping);
    assert_string_equal(reply, "+PONG\r\n");
    free(reply);
}

static void test_proxy_pass_forwards_and_counts(void **state) {
    (void)state;
    rkt_proxy *p = proxy_in_mode(RKT_PROXY_PASS, 0);
    int fd = connect_proxy(p);
    expect_pong(fd);
    rkt_proxy_stats st;
    rkt_proxy_get_stats(p, &st);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.active, 1);
    assert_int_equal(st.bytes_up, strlen(PING_WIRE));
    assert_int_equal(st.bytes_down, strlen("+PONG\r\n"));
    close(fd);
    rkt_proxy_stop(p);
}

static void test_proxy_pass_forwards_server_close(void **state) {
    (void)state;
    rkt_proxy *p = proxy_in_mode(RKT_PROXY_PASS, 0);
    int fd = connect_proxy(p);
    const char *quit[] = {"QUIT"};
    char *reply = command_on(fd, 1, quit);
    assert_string_equal(reply, "+OK\r\n");
    free(reply);
    char buf[16];
    int err = -1;
    assert_int_equal(read_until_end(fd, buf, sizeof buf, 5000, &err), 0);
    assert_int_equal(err, 0);
    close(fd);
    rkt_proxy_stop(p);
}

static void test_proxy_delay_holds_each_direction(void **state) {
    (void)state;
    const int delay = 150;
    rkt_proxy *p = proxy_in_mode(RKT_PROXY_DELAY, delay);
    int fd = connect_proxy(p);
    long long start = now_ms();
    expect_pong(fd);
    assert_true(now_ms() - start >= 2 * delay);
    close(fd);
    rkt_proxy_stop(p);
}

static void test_proxy_close_gives_eof(void **state) {
    (void)state;
    rkt_proxy *p = proxy_in_mode(RKT_PROXY_CLOSE, 0);
    int fd = connect_proxy(p);
    const char *ping[] = {"PING"};
    rkt_raw_send(fd, 1, ping, NULL, 1000); /* may fail: the proxy closes */
    char buf[16];
    int err = -1;
    assert_int_equal(read_until_end(fd, buf, sizeof buf, 5000, &err), 0);
    assert_int_equal(err, 0);
    close(fd);
    rkt_proxy_stop(p);
}

/* What a client of a proxy that resets at once sees: ECONNRESET, from
 * connect() itself when the RST arrives before connect() returns. */
static int reset_seen_by_client(const rkt_proxy *p) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)rkt_proxy_port(p))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int err = -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        err = errno;
    } else {
        char buf[16];
        assert_int_equal(read_until_end(fd, buf, sizeof buf, 5000, &err), 0);
    }
    close(fd);
    return err;
}

static void test_proxy_reset_gives_econnreset(void **state) {
    (void)state;
    rkt_proxy *p = proxy_in_mode(RKT_PROXY_RESET, 0);
    assert_int_equal(reset_seen_by_client(p), ECONNRESET);
    rkt_proxy_stop(p);
}

static void test_proxy_blackhole_never_answers(void **state) {
    (void)state;
    rkt_proxy *p = proxy_in_mode(RKT_PROXY_BLACKHOLE, 0);
    int fd = connect_proxy(p);
    const char *ping[] = {"PING"};
    assert_int_equal(rkt_raw_send(fd, 1, ping, NULL, 1000), 0);
    assert_null(rkt_raw_read_reply(fd, 300, NULL));
    rkt_proxy_stats st;
    rkt_proxy_get_stats(p, &st);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.bytes_up, 0);
    close(fd);
    rkt_proxy_stop(p);
}

/* GET big through a CUT proxy: the client must get exactly n bytes. */
static void check_cut(rkt_proxy_mode mode, long n, int expect_err) {
    rkt_proxy *p = proxy_in_mode(mode, n);
    int fd = connect_proxy(p);
    const char *get[] = {"GET", "big"};
    assert_int_equal(rkt_raw_send(fd, 2, get, NULL, 1000), 0);
    char buf[256];
    int err = -1;
    size_t got = read_until_end(fd, buf, sizeof buf, 5000, &err);
    assert_int_equal(got, (size_t)n);
    assert_int_equal(err, expect_err);
    assert_memory_equal(buf, "$100\r\nxxxxxxxxxxxxxxxxxxxx", (size_t)n);
    close(fd);
    rkt_proxy_stop(p);
}

static void test_proxy_cut_delivers_n_bytes_then_eof(void **state) {
    (void)state;
    check_cut(RKT_PROXY_CUT, 10, 0);
}

static void test_proxy_cut_zero_gives_eof_at_first_reply(void **state) {
    (void)state;
    check_cut(RKT_PROXY_CUT, 0, 0);
}

static void test_proxy_cut_reset_delivers_n_bytes_then_reset(void **state) {
    (void)state;
    check_cut(RKT_PROXY_CUT_RESET, 10, ECONNRESET);
}

static void test_proxy_mode_applies_to_new_connections_only(void **state) {
    (void)state;
    rkt_proxy *p = proxy_in_mode(RKT_PROXY_PASS, 0);
    int old_fd = connect_proxy(p);
    expect_pong(old_fd); /* accepted in PASS mode */
    rkt_proxy_set_mode(p, RKT_PROXY_CLOSE, 0);
    int new_fd = connect_proxy(p);
    char buf[16];
    int err = -1;
    assert_int_equal(read_until_end(new_fd, buf, sizeof buf, 5000, &err), 0);
    assert_int_equal(err, 0);
    expect_pong(old_fd);
    close(new_fd);
    close(old_fd);
    rkt_proxy_stop(p);
}

static void test_proxy_drop_all_closes_open_connections(void **state) {
    (void)state;
    rkt_proxy *p = proxy_in_mode(RKT_PROXY_PASS, 0);
    int a = connect_proxy(p), b = connect_proxy(p);
    expect_pong(a);
    expect_pong(b);
    rkt_proxy_drop_all(p);
    char buf[16];
    int err = -1;
    assert_int_equal(read_until_end(a, buf, sizeof buf, 5000, &err), 0);
    assert_int_equal(err, 0);
    assert_int_equal(read_until_end(b, buf, sizeof buf, 5000, &err), 0);
    assert_int_equal(err, 0);
    rkt_proxy_stats st;
    rkt_proxy_get_stats(p, &st);
    assert_int_equal(st.active, 0);
    int c = connect_proxy(p); /* new connections still work */
    expect_pong(c);
    close(a);
    close(b);
    close(c);
    rkt_proxy_stop(p);
}

static void test_proxy_reset_all_resets_open_connections(void **state) {
    (void)state;
    rkt_proxy *p = proxy_in_mode(RKT_PROXY_PASS, 0);
    int fd = connect_proxy(p);
    expect_pong(fd);
    rkt_proxy_reset_all(p);
    char buf[16];
    int err = -1;
    assert_int_equal(read_until_end(fd, buf, sizeof buf, 5000, &err), 0);
    assert_int_equal(err, ECONNRESET);
    close(fd);
    rkt_proxy_stop(p);
}

static void test_proxy_reset_when_upstream_refuses(void **state) {
    (void)state;
    int dead_port = rkt_free_port(); /* nothing listens there */
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", dead_port);
    assert_non_null(p);
    assert_int_equal(reset_seen_by_client(p), ECONNRESET);
    rkt_proxy_stop(p);
}

/* A non-blocking connect; true when it completes within timeout_ms. */
static bool connects_within(int fd, int port, int timeout_ms) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
        return true;
    if (errno != EINPROGRESS && errno != EALREADY)
        return false;
    struct pollfd w = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t len = sizeof err;
    return poll(&w, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
           err == 0;
}

static void test_proxy_not_accepting_makes_connects_hang(void **state) {
    (void)state;
    rkt_proxy *p = proxy_in_mode(RKT_PROXY_PASS, 0);
    rkt_proxy_set_accepting(p, false);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_false(connects_within(fd, rkt_proxy_port(p), 300));
    rkt_proxy_set_accepting(p, true);
    /* The client's next SYN retry (about 1 s, then 3 s) gets through. */
    bool connected = false;
    for (int i = 0; i < 100 && !connected; i++)
        connected = connects_within(fd, rkt_proxy_port(p), 100);
    assert_true(connected);
    close(fd);
    int again = connect_proxy(p);
    expect_pong(again);
    close(again);
    rkt_proxy_stop(p);
}

static void test_blackhole_listener_never_completes_connect(void **state) {
    (void)state;
    rkt_blackhole *b = rkt_blackhole_start();
    assert_non_null(b);
    for (int i = 0; i < 3; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_false(connects_within(fd, rkt_blackhole_port(b), 200));
        close(fd);
    }
    rkt_blackhole_stop(b);
}

int main(void) {
    const struct CMUnitTest server_tests[] = {
        cmocka_unit_test(test_have_binary),
        cmocka_unit_test(test_resp_reply_len_finds_reply_end),
        cmocka_unit_test(test_tcp_server_answers_ping),
        cmocka_unit_test(test_server_listens_on_ipv6_loopback_when_present),
        cmocka_unit_test(test_unix_socket_server_answers_ping),
        cmocka_unit_test(test_tls_server_trusted_by_its_ca_only),
        cmocka_unit_test(test_mutual_tls_server_requires_client_cert),
        cmocka_unit_test(test_tls_files_can_be_shared_between_servers),
        cmocka_unit_test(test_requirepass_server_says_noauth_until_auth),
        cmocka_unit_test(test_acl_users_and_extra_config_are_applied),
        cmocka_unit_test(test_raw_read_reply_leaves_later_replies),
        cmocka_unit_test(test_restart_keeps_port),
        cmocka_unit_test(test_kill_then_restart_then_stop),
        cmocka_unit_test(test_frozen_server_does_not_answer_until_thawed),
        cmocka_unit_test(test_start_refuses_options_without_listener),
        cmocka_unit_test(test_bad_config_fails_start_and_leaves_nothing),
        cmocka_unit_test(test_abort_stops_servers),
        cmocka_unit_test(test_exit_stops_servers),
        cmocka_unit_test(test_sigkill_of_test_process_kills_servers),
        cmocka_unit_test(test_cluster_of_six_nodes_is_ok),
        cmocka_unit_test(test_sentinel_group_knows_master),
    };
    const struct CMUnitTest proxy_tests[] = {
        cmocka_unit_test(test_proxy_pass_forwards_and_counts),
        cmocka_unit_test(test_proxy_pass_forwards_server_close),
        cmocka_unit_test(test_proxy_delay_holds_each_direction),
        cmocka_unit_test(test_proxy_close_gives_eof),
        cmocka_unit_test(test_proxy_reset_gives_econnreset),
        cmocka_unit_test(test_proxy_blackhole_never_answers),
        cmocka_unit_test(test_proxy_cut_delivers_n_bytes_then_eof),
        cmocka_unit_test(test_proxy_cut_zero_gives_eof_at_first_reply),
        cmocka_unit_test(test_proxy_cut_reset_delivers_n_bytes_then_reset),
        cmocka_unit_test(test_proxy_mode_applies_to_new_connections_only),
        cmocka_unit_test(test_proxy_drop_all_closes_open_connections),
        cmocka_unit_test(test_proxy_reset_all_resets_open_connections),
        cmocka_unit_test(test_proxy_reset_when_upstream_refuses),
        cmocka_unit_test(test_proxy_not_accepting_makes_connects_hang),
        cmocka_unit_test(test_blackhole_listener_never_completes_connect),
    };
    int failed = cmocka_run_group_tests_name("harness servers", server_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("harness proxy", proxy_tests, proxy_group_setup,
                                          proxy_group_teardown);
    return failed;
}
