/* Real redis-server / redis-sentinel processes for tests, and raw RESP.
 *
 * A test starts the servers it needs with rkt_server_start(): each gets a
 * fresh temp dir, free loopback ports and its own redis.conf, and is stopped
 * by rkt_server_stop(), or, if the test fails or crashes, by the harness's
 * exit and signal handlers (and PR_SET_PDEATHSIG when nothing else runs).
 * The raw RESP helpers talk to servers without the rediskit library. */
#ifndef RKT_SERVER_H
#define RKT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "rkt_skip.h"
#include "rkt_tls.h"

/* Typical use in a cmocka test:
 *
 *     if (!rkt_require_binaries("redis-server", NULL))
 *         skip();
 *     rkt_server srv;
 *     rkt_server_opts opts = {.unix_socket = true, .requirepass = "pw"};
 *     assert_int_equal(rkt_server_start(&srv, &opts), 0);
 *     char *reply = rkt_server_cmd(&srv, "SET", "k", "v", NULL);
 *     assert_string_equal(reply, "+OK\r\n");
 *     free(reply);
 *     ... connect the client under test to rkt_server_port(&srv) ...
 *     rkt_server_stop(&srv);
 */

/* ---- Programs ---------------------------------------------------------- */

/** True when name (e.g. "redis-server", "openssl") is an executable on PATH. */
bool rkt_have_binary(const char *name);

/** True when every named binary exists (NULL-terminated list); otherwise
 *  says "skipping: <names> not found on PATH" through rkt_skip_missing()
 *  (so the program exits as skipped, or under RK_TEST_REQUIRE_SERVERS the
 *  test fails there) and returns false, so a test can write
 *  `if (!rkt_require_binaries("redis-server", NULL)) skip();`. */
bool rkt_require_binaries(const char *first, ...);

/** True when ::1 can be bound here (IPv6 loopback present). Cached. */
bool rkt_have_ipv6_loopback(void);

/** Runs argv[0] (looked up on PATH, no shell) with stdin from /dev/null and
 *  stdout+stderr appended to out_path (or /dev/null when NULL), and waits
 *  up to timeout_ms (0 = 30000), then kills it. Returns its exit status
 *  (0..255), or -1 when it could not start, timed out or died of a signal. */
int rkt_run(const char *const *argv, const char *out_path, int timeout_ms);

/** Copies the last max_bytes of a file (a server log) to stderr. */
void rkt_print_tail(const char *path, size_t max_bytes);

/** A free TCP port on 127.0.0.1 (bind port 0, read it, close), or -1.
 *  Someone else may take it before you bind it; callers retry on failure. */
int rkt_free_port(void);

/* ---- Servers ----------------------------------------------------------- */

typedef enum rkt_server_kind {
    RKT_REDIS = 0,   /**< redis-server */
    RKT_SENTINEL = 1 /**< redis-sentinel (give "sentinel monitor ..." lines) */
} rkt_server_kind;

/** What to start. Zeroed fields mean the defaults written next to them.
 *  Every server gets: bind 127.0.0.1 (and ::1 when it works), save "",
 *  appendonly no, protected-mode no, dir and logfile in its temp dir. */
typedef struct rkt_server_opts {
    rkt_server_kind kind;           /**< RKT_REDIS */
    bool unix_socket;               /**< Also listen on <dir>/redis.sock; false. */
    bool tcp_off;                   /**< `port 0`: no plain TCP listener (then the
                                         server is reached over unix_socket or tls
                                         only); false = a free port. */
    bool tls;                       /**< tls-port on a second free port, with the
                                         certificates of tls_files or, when that is
                                         NULL, new ones made in <dir>/tls; false. */
    bool tls_auth_clients;          /**< `tls-auth-clients yes` (mutual TLS); false
                                         = `tls-auth-clients no`. */
    const rkt_tls_files *tls_files; /**< Certificates to reuse, or NULL. */
    const char *requirepass;        /**< NULL = none. rkt_server_connect()
                                         and rkt_server_cmd() AUTH with it. */
    const char *const *acl_users;   /**< NULL-terminated ACL lines such as
                                         "user alice on >pw ~* &* +@all". */
    const char *const *config;      /**< NULL-terminated extra redis.conf
                                         lines, written last (they win). */
    bool cluster;                   /**< cluster-enabled yes, nodes.conf, a free
                                         cluster-port, cluster-node-timeout 5000. */
    int ready_timeout_ms;           /**< How long start/restart wait for the server
                                         to answer; 0 = 10000. */
} rkt_server_opts;

/** A running (or stopped) server. Read it with the accessors; the fields
 *  are public only so that it can live on the stack. */
typedef struct rkt_server {
    pid_t pid; /* 0 when no process runs */
    rkt_server_kind kind;
    int port;         /* plain TCP, 0 when tcp_off */
    int tls_port;     /* 0 without TLS */
    int cluster_port; /* cluster bus, 0 without cluster */
    int ready_timeout_ms;
    bool tls_auth_clients;
    int slot;           /* registry slot + 1, 0 when not registered */
    char password[128]; /* requirepass, "" for none */
    char dir[RKT_PATH_MAX];
    char conf_path[RKT_PATH_MAX];
    char log_path[RKT_PATH_MAX];
    char out_path[RKT_PATH_MAX]; /* the process's stdout and stderr */
    char unix_path[108];         /* "" without a unix socket */
    rkt_tls_files tls;           /* valid when tls_port != 0 */
} rkt_server;

/** Starts a server as opts says (NULL = defaults) and waits until it
 *  answers PING (over TCP, else the unix socket, else TLS). Retries with new
 *  ports when the chosen ones turn out taken. Must be called from a thread
 *  that outlives the server: PR_SET_PDEATHSIG fires when the forking thread
 *  ends. Returns 0, or -1 after printing why and the log's tail to stderr
 *  (nothing is left running then). */
int rkt_server_start(rkt_server *srv, const rkt_server_opts *opts);

/** SIGTERM, a bounded wait (10 s), then SIGKILL; removes the temp dir.
 *  Safe on a killed or never-started (zeroed) server, and twice. */
void rkt_server_stop(rkt_server *srv);

/** SIGKILL now (a crash); keeps the temp dir so restart/stop still work. */
void rkt_server_kill(rkt_server *srv);

/** Stops the process if it runs (SIGTERM) and starts it again with the same
 *  config file (which the server may have rewritten), hence the same ports,
 *  then waits until it answers. Returns 0 or -1 (printed). */
int rkt_server_restart(rkt_server *srv);

/** SIGSTOP / SIGCONT: the server stays connected but stops answering
 *  (connects still complete through the kernel backlog). */
void rkt_server_freeze(rkt_server *srv);
void rkt_server_thaw(rkt_server *srv);

int rkt_server_port(const rkt_server *srv);
int rkt_server_tls_port(const rkt_server *srv);
pid_t rkt_server_pid(const rkt_server *srv);
const char *rkt_server_dir(const rkt_server *srv);
/** The unix socket path, or NULL without one. */
const char *rkt_server_unix_path(const rkt_server *srv);
/** The certificates the server uses, or NULL without TLS. */
const rkt_tls_files *rkt_server_tls_files(const rkt_server *srv);
/** "127.0.0.1 ::1" or "127.0.0.1": what the servers bind. */
const char *rkt_server_bind_addrs(void);

/** A raw socket to the server (TCP, else unix socket; not TLS), already
 *  AUTHed when it has a requirepass. Returns the fd (close() it) or -1. */
int rkt_server_connect(const rkt_server *srv);

/** One command, given as a NULL-terminated list of strings, sent on a new
 *  rkt_server_connect() socket. Returns the raw reply (malloc'd,
 *  NUL-terminated, e.g. "+OK\r\n"; free() it) or NULL on failure. */
char *rkt_server_cmd(const rkt_server *srv, const char *arg0, ...);

/* ---- Raw RESP ---------------------------------------------------------- */

/** Default timeout of the raw helpers when they take none. */
#define RKT_RAW_TIMEOUT_MS 5000

/** A blocking TCP socket connected to host:port (numeric or "localhost")
 *  within timeout_ms, or -1. Close it with close(). */
int rkt_raw_connect(const char *host, int port, int timeout_ms);

/** The same for a unix socket path. */
int rkt_raw_connect_unix(const char *path, int timeout_ms);

/** Encodes argv (argc strings; lens[i] bytes each, or strlen when lens is
 *  NULL) as a RESP array of bulk strings. Returns the bytes (malloc'd,
 *  free() them; *out_len = their count) or NULL when out of memory. */
char *rkt_resp_encode(int argc, const char *const *argv, const size_t *lens, size_t *out_len);

/** Sends argv (argc strings; lens[i] bytes each, or strlen when lens is
 *  NULL) as one RESP array of bulk strings. Returns 0 or -1. */
int rkt_raw_send(int fd, int argc, const char *const *argv, const size_t *lens, int timeout_ms);

/** Waits for one complete reply (RESP2 or RESP3) and consumes exactly its
 *  bytes, leaving later replies on the socket. Returns it malloc'd and
 *  NUL-terminated (*len = its length if len is not NULL), or NULL on
 *  timeout, EOF, error or malformed data. */
char *rkt_raw_read_reply(int fd, int timeout_ms, size_t *len);

/** rkt_raw_send() then rkt_raw_read_reply(). */
char *rkt_raw_command(int fd, int timeout_ms, size_t *len, int argc, const char *const *argv);

/** Connects, sends PING, and returns 0 if the answer is +PONG, else -1. */
int rkt_raw_ping(const char *host, int port, int timeout_ms);
int rkt_raw_ping_unix(const char *path, int timeout_ms);

/** Length of the first complete RESP reply in buf: > 0 when complete, 0 when
 *  more bytes are needed, -1 when the bytes are not RESP. */
long rkt_resp_reply_len(const char *buf, size_t len);

/** In a raw reply that is a flat array or map of field/value strings (e.g.
 *  SENTINEL MASTER, CONFIG GET), copies the value after field into out.
 *  Returns 0, or -1 when the field is absent. */
int rkt_resp_field(const char *reply, const char *field, char *out, size_t out_size);

/* ---- Topologies -------------------------------------------------------- */

#define RKT_CLUSTER_MAX_NODES 12

/** A Redis Cluster made of rkt_servers. */
typedef struct rkt_cluster {
    int n_nodes;
    int n_masters;
    rkt_server nodes[RKT_CLUSTER_MAX_NODES];
} rkt_cluster;

/** Starts masters * (1 + replicas) cluster-enabled servers (masters >= 3),
 *  joins them with `redis-cli --cluster create ... --cluster-replicas N
 *  --cluster-yes`, and waits (30 s) until every node reports cluster_state:ok
 *  and knows every node, and every replica is in sync. node_opts (may be
 *  NULL) applies to each node; cluster is forced on, TLS is not supported.
 *  After it, nodes[0..masters-1] are the masters redis-cli chose first, but
 *  ask CLUSTER NODES for the real roles. Returns 0 or -1 (all stopped). */
int rkt_cluster_start(rkt_cluster *c, int masters, int replicas, const rkt_server_opts *node_opts);
void rkt_cluster_stop(rkt_cluster *c);

#define RKT_SENTINELS 3

/** A master, one replica and three sentinels watching them. */
typedef struct rkt_sentinel_group {
    char master_name[64];
    rkt_server master;
    rkt_server replica;
    rkt_server sentinels[RKT_SENTINELS];
} rkt_sentinel_group;

/** Starts the group (quorum 2, down-after-milliseconds 1000,
 *  failover-timeout 5000) and waits (30 s) until the replica is in sync and
 *  every sentinel sees the replica and the two other sentinels.
 *  master_name NULL = "mymaster". Returns 0 or -1 (all stopped). */
int rkt_sentinel_group_start(rkt_sentinel_group *g, const char *master_name);
void rkt_sentinel_group_stop(rkt_sentinel_group *g);

#endif
