/* rk-cli: connecting, running commands and printing replies. Replies are
 * printed with rk_reply_format, which matches redis-cli byte for byte; this
 * file adds what redis-cli decides around it: which commands print bare
 * text (INFO, CLIENT LIST...), pushes, SUBSCRIBE and MONITOR, and its
 * error messages. */
#define _GNU_SOURCE /* POLLRDHUP */

#include "session.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "rediskit/alloc.h"
#include "rediskit/error.h"
#include "rediskit/reader.h"
#include "util.h"

/* redis-cli sets a 15 s keepalive so long commands are not cut short. */
#define CLI_KEEPALIVE_S 15

/* ---- printing ---------------------------------------------------------- */

static void print_text(FILE *to, const char *text, size_t len) {
    fwrite(text, 1, len, to);
    fflush(to);
}

/* The reply in redis-cli's words; bare prints what --raw prints without the
 * newline that ends a reply (redis-cli's "verbatim" output). */
static void print_formatted(const rk_reply *r, bool raw, bool bare) {
    size_t len;
    char *text = rk_reply_format(r, raw || bare ? RK_FORMAT_RAW : 0, &len);
    if (text == NULL) {
        fputs("rk-cli: out of memory\n", stderr);
        exit(1);
    }
    if (bare && len > 0)
        len--;
    print_text(stdout, text, len);
    rk_free(text);
}

static bool arg_is(const cli_args *cmd, int i, const char *word) {
    return i < cmd->argc && strcasecmp(cmd->argv[i].ptr, word) == 0;
}

/* Commands whose text redis-cli prints as it comes, even on a terminal. */
static bool prints_bare(const cli_args *cmd) {
    static const char *const subs[][2] = {{"debug", "htstats"},       {"debug", "htstats-key"},
                                          {"memory", "malloc-stats"}, {"memory", "doctor"},
                                          {"client", "list"},         {"client", "info"},
                                          {"proxy", "info"}};
    if (arg_is(cmd, 0, "info") || arg_is(cmd, 0, "lolwut"))
        return true;
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (arg_is(cmd, 0, subs[i][0]) && arg_is(cmd, 1, subs[i][1]))
            return true;
    if (cmd->argc == 2 && arg_is(cmd, 0, "cluster"))
        return arg_is(cmd, 1, "nodes") || arg_is(cmd, 1, "info");
    if (arg_is(cmd, 0, "latency"))
        return (cmd->argc == 3 && arg_is(cmd, 1, "graph")) ||
               (cmd->argc == 2 && arg_is(cmd, 1, "doctor"));
    return false;
}

static void print_reply(const cli_session *s, const cli_args *cmd, const rk_reply *r) {
    if (rk_reply_type(r) == RK_REPLY_ERROR && s->cfg->exit_on_error && !s->interactive) {
        print_text(stderr, rk_reply_str(r), rk_reply_len(r));
        print_text(stderr, "\n", 1);
        return;
    }
    print_formatted(r, s->raw, cmd != NULL && prints_bare(cmd));
}

/* An "invalidate" push of client tracking, as redis-cli shows it on a
 * terminal: -> invalidate: 'k1', 'k2'. Returns false for any other push. */
static bool print_invalidate(const rk_reply *push) {
    const rk_reply *kind = rk_reply_at(push, 0), *keys = rk_reply_at(push, 1);
    if (rk_reply_len(push) != 2 || rk_reply_str(kind) == NULL ||
        strcmp(rk_reply_str(kind), "invalidate") != 0 || rk_reply_type(keys) != RK_REPLY_ARRAY)
        return false;
    fputs("-> invalidate: ", stdout);
    for (size_t i = 0; i < rk_reply_len(keys); i++) {
        const rk_reply *k = rk_reply_at(keys, i);
        printf(i > 0 ? ", '%s'" : "'%s'", rk_reply_str(k) ? rk_reply_str(k) : "");
    }
    print_text(stdout, "\n", 1);
    return true;
}

/* The connection's push callback: pushes are printed in SUBSCRIBE mode,
 * and between replies when --show-pushes says so. */
static void on_push(void *userdata, const rk_reply *push) {
    const cli_session *s = userdata;
    if (!s->streaming && !s->show_pushes)
        return;
    if (!s->streaming && !s->raw && print_invalidate(push))
        return;
    print_formatted(push, s->raw, false);
}

/* ---- errors in redis-cli's words ------------------------------------- */

/* The reason at the end of a library message ("connect to x failed:
 * Connection refused" gives "Connection refused").
 * TODO(library): rk_error carries no bare reason or errno, so a tool that
 * phrases its own messages has to cut the library's sentence. */
static const char *reason(const rk_error *e) {
    if (strstr(e->message, "closed by server") != NULL)
        return "Server closed the connection";
    if (e->code == RK_ETIMEOUT)
        return "Connection timed out";
    const char *colon = strrchr(e->message, ':');
    return colon && colon[1] == ' ' ? colon + 2 : e->message;
}

static void format_address(const cli_session *s, char *out, size_t size) {
    if (s->unix_path)
        snprintf(out, size, "%s", s->unix_path);
    else
        snprintf(out, size, strchr(s->host, ':') ? "[%s]:%d" : "%s:%d", s->host, s->port);
}

static void report_connect_error(const cli_session *s, int rc) {
    const rk_error *e = rk_error_last();
    char addr[1100];
    format_address(s, addr, sizeof(addr));
    if (rc == RK_EAUTH)
        fprintf(stderr, "AUTH failed: %s\n", e->message);
    else if (rc == RK_ESERVER && s->db != 0)
        fprintf(stderr, "SELECT %d failed: %s\n", s->db, e->message);
    else if (rc == RK_ETLS)
        fprintf(stderr, "Could not negotiate a TLS connection: %s\n", e->message);
    else
        fprintf(stderr, "Could not connect to Redis at %s: %s\n", addr, reason(e));
}

/* ---- the connection ---------------------------------------------------- */

void cli_session_init(cli_session *s, const cli_config *cfg, bool interactive) {
    *s = (cli_session){.cfg = cfg,
                       .host = cli_strdup(cfg->host),
                       .port = cfg->port,
                       .unix_path = cfg->unix_path,
                       .db = cfg->db,
                       .interactive = interactive};
}

void cli_session_free(cli_session *s) {
    rk_conn_free(s->conn);
    free(s->host);
    s->conn = NULL;
    s->host = NULL;
}

static void disconnect(cli_session *s) {
    rk_conn_free(s->conn);
    s->conn = NULL;
    s->in_multi = false;
}

static rk_options session_options(cli_session *s) {
    const cli_config *c = s->cfg;
    return (rk_options){.host = s->host,
                        .port = s->port,
                        .unix_path = s->unix_path,
                        .username = c->user,
                        .password = c->password,
                        .db = s->db,
                        .protocol = c->protocol,
                        .keepalive_s = CLI_KEEPALIVE_S,
                        .connect_timeout_ms = -1, /* as redis-cli: the system's */
                        .tls = {.enabled = c->tls,
                                .ca_file = c->cacert,
                                .ca_dir = c->cacertdir,
                                .cert_file = c->cert,
                                .key_file = c->key,
                                .server_name = c->sni,
                                .insecure = c->insecure},
                        .on_push = on_push,
                        .push_userdata = s};
}

int cli_session_connect(cli_session *s) {
    disconnect(s);
    rk_options o = session_options(s);
    rk_conn *c = rk_conn_new(&o);
    if (c == NULL) {
        fprintf(stderr, "rk-cli: %s\n", rk_error_last()->message);
        return -1;
    }
    int rc = rk_conn_connect(c);
    if (rc != RK_OK) {
        report_connect_error(s, rc);
        rk_conn_free(c);
        return -1;
    }
    s->conn = c;
    return 0;
}

void cli_session_set_address(cli_session *s, const char *host, int port) {
    disconnect(s);
    free(s->host);
    s->host = cli_strdup(host);
    s->port = port;
    s->unix_path = NULL;
}

/* True when the server has closed the idle connection (for example its
 * `timeout` expired, or it restarted): nothing was sent on it since. */
static bool closed_by_peer(const rk_conn *c) {
    struct pollfd p = {.fd = rk_conn_fd(c), .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* A command that failed without a reply: as redis-cli, say why and drop
 * the connection; the next command reconnects. */
static int connection_lost(cli_session *s) {
    fprintf(stderr, "Error: %s\n", reason(rk_error_last()));
    disconnect(s);
    return CLI_FAILED;
}

/* ---- state the prompt shows -------------------------------------------- */

static void track_state(cli_session *s, const cli_args *cmd, const rk_reply *r) {
    bool ok = rk_reply_type(r) != RK_REPLY_ERROR;
    if (cmd->argc == 2 && arg_is(cmd, 0, "select") && ok)
        s->db = atoi(cmd->argv[1].ptr);
    else if (cmd->argc == 1 && arg_is(cmd, 0, "multi") && ok)
        s->in_multi = true;
    else if (cmd->argc == 1 && (arg_is(cmd, 0, "exec") || arg_is(cmd, 0, "discard")))
        s->in_multi = false;
    else if (cmd->argc == 1 && arg_is(cmd, 0, "reset") && ok)
        s->db = 0, s->in_multi = false;
}

const char *cli_session_prompt(cli_session *s) {
    if (s->conn == NULL)
        return "not connected> ";
    char addr[1100];
    if (s->unix_path)
        snprintf(addr, sizeof(addr), "redis %s", s->unix_path);
    else
        format_address(s, addr, sizeof(addr));
    char db[24] = "";
    if (s->db != 0)
        snprintf(db, sizeof(db), "[%d]", s->db);
    snprintf(s->prompt, sizeof(s->prompt), "%s%s%s> ", addr, db, s->in_multi ? "(TX)" : "");
    return s->prompt;
}

/* ---- SUBSCRIBE and MONITOR ------------------------------------------- */

static bool is_subscribe(const cli_args *cmd) {
    return arg_is(cmd, 0, "subscribe") || arg_is(cmd, 0, "psubscribe") ||
           arg_is(cmd, 0, "ssubscribe");
}

/* On RESP3 every message is a push: the push callback prints them while
 * the call waits for a reply that only an error would bring. */
static int stream_pushes(cli_session *s, const cli_args *cmd) {
    rk_reply r;
    s->streaming = true;
    int rc = rk_conn_call_argv(s->conn, &r, cmd->argv, (size_t)cmd->argc);
    s->streaming = false;
    if (rc != RK_OK && rk_reply_type(&r) != RK_REPLY_ERROR) {
        connection_lost(s);
        return CLI_FATAL;
    }
    print_reply(s, cmd, &r);
    rk_reply_free(&r);
    return rc == RK_OK ? CLI_OK : CLI_SERVER_ERROR;
}

/* MONITOR, and SUBSCRIBE on RESP2: the server sends replies nobody asked
 * for; in subscriber mode the connection hands each over as it comes, and
 * they are printed until the server stops (or answers an error). */
static int stream_replies(cli_session *s, const cli_args *cmd) {
    rk_conn_set_pubsub(s->conn, true);
    int rc = rk_conn_append_argv(s->conn, cmd->argv, (size_t)cmd->argc);
    if (rc == RK_OK)
        rc = rk_conn_flush(s->conn);
    while (rc == RK_OK) {
        rk_reply r;
        rc = rk_conn_read(s->conn, &r);
        if (rc != RK_OK && rk_reply_type(&r) != RK_REPLY_ERROR)
            break;
        print_reply(s, NULL, &r);
        rk_reply_free(&r);
        if (rc != RK_OK) {
            disconnect(s);
            return CLI_SERVER_ERROR;
        }
    }
    fprintf(stderr, "Error: %s\n", reason(rk_error_last()));
    disconnect(s);
    return CLI_FATAL;
}

static int run_streaming(cli_session *s, const cli_args *cmd) {
    bool subscribe = is_subscribe(cmd);
    if (subscribe && !s->raw)
        fputs("Reading messages... (press Ctrl-C to quit)\n", stdout);
    if (subscribe && rk_conn_protocol(s->conn) == 3)
        return stream_pushes(s, cmd);
    return stream_replies(s, cmd);
}

/* ---- running a command ------------------------------------------------- */

/* Connects unless connected; false when that failed (and was reported). */
static bool ensure_connected(cli_session *s) {
    if (s->conn != NULL && closed_by_peer(s->conn))
        disconnect(s);
    return s->conn != NULL || cli_session_connect(s) == 0;
}

int cli_session_call(cli_session *s, const cli_args *cmd, rk_reply *r) {
    if (!ensure_connected(s))
        return CLI_FAILED;
    int rc = rk_conn_call_argv(s->conn, r, cmd->argv, (size_t)cmd->argc);
    if (rc != RK_OK && rk_reply_type(r) != RK_REPLY_ERROR)
        return connection_lost(s);
    return rc == RK_OK ? CLI_OK : CLI_SERVER_ERROR;
}

void cli_session_print(const cli_session *s, const cli_args *cmd, const rk_reply *r) {
    print_reply(s, cmd, r);
}

int cli_session_run(cli_session *s, const cli_args *cmd) {
    if (is_subscribe(cmd) || arg_is(cmd, 0, "monitor"))
        return ensure_connected(s) ? run_streaming(s, cmd) : CLI_FAILED;
    rk_reply r;
    int rc = cli_session_call(s, cmd, &r);
    if (rc == CLI_FAILED)
        return rc;
    print_reply(s, cmd, &r);
    track_state(s, cmd, &r);
    rk_reply_free(&r);
    return rc;
}
