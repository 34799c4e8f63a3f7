/* rk-bench-compare, group "net": rediskit and hiredis over one connection
 * each to the same local redis-server (REDIS_URL), and redis-benchmark,
 * the server's own load tool, as the bound a client can hope to reach.
 *
 * The workload is SET and GET of 32-byte values on keys drawn from a space
 * of 1000 (the keys redis-benchmark -r 1000 makes), one command at a time
 * and in pipelines of 100. Every reply is checked. Besides the rates, the
 * client's own CPU time per command (getrusage of this thread, user + sys)
 * says how much of a machine each library costs at the same work. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <rediskit/alloc.h>
#include <rediskit/client.h>
#include <rediskit/commands/string.h>
#include <rediskit/conn.h>
#include <rediskit/error.h>
#include <rediskit/options.h>
#include <rediskit/version.h>

#include "bench.h"

#define DEPTH 100       /* commands per pipeline */
#define KEYS 1000       /* key space, as redis-benchmark -r 1000 */
#define VALUE_LEN 32    /* bytes per value, as redis-benchmark -d 32 */
#define KEY_SEQ 4096    /* precomputed random key order, a power of two */
#define SPLIT 3         /* each --reps repetition becomes SPLIT shorter runs */
#define MAX_RB_REPS 9   /* redis-benchmark runs, at most */
#define PLAIN_RB_REPS 3 /* runs of the informational plain redis-benchmark */

static const char *const workloads[] = {"net_unpipelined",        "net_unpipelined_format",
                                        "net_unpipelined_typed",  "net_pipelined",
                                        "net_vs_redis_benchmark", NULL};

/* ---- the workload ------------------------------------------------------- */

/* A command in the form each library takes it: argv and len for hiredis,
 * str for rediskit. */
typedef struct command {
    int argc;
    const char *argv[3];
    size_t len[3];
    rk_str str[3];
} command;

/* Keys, the value, the commands on them, and a random order to use them
 * in. Read only once built, so every side can share it. */
typedef struct workload {
    char keys[KEYS][20]; /* "key:000000000042", redis-benchmark's form */
    char value[VALUE_LEN];
    command set[KEYS], get[KEYS];
    uint16_t order[KEY_SEQ];
} workload;

static void workload_init(workload *w) {
    memset(w->value, 'x', sizeof(w->value)); /* redis-benchmark's data */
    for (int i = 0; i < KEYS; i++) {
        size_t n = (size_t)snprintf(w->keys[i], sizeof(w->keys[i]), "key:%012d", i);
        w->set[i] = (command){3,
                              {"SET", w->keys[i], w->value},
                              {3, n, VALUE_LEN},
                              {RK_STR("SET"), rk_bin(w->keys[i], n), rk_bin(w->value, VALUE_LEN)}};
        w->get[i] = (command){
            2, {"GET", w->keys[i], NULL}, {3, n, 0}, {RK_STR("GET"), rk_bin(w->keys[i], n)}};
    }
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < KEY_SEQ; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        w->order[i] = (uint16_t)((s >> 16) % KEYS);
    }
}

/* Where the server is, from REDIS_URL (redis://host:port[/...]). */
typedef struct server {
    char host[128];
    int port;
} server;

static int parse_url(const char *url, server *s) {
    const char *p = strncmp(url, "redis://", 8) == 0 ? url + 8 : NULL;
    if (p == NULL)
        return -1;
    const char *at = strchr(p, '@'); /* no credentials expected, but skip them */
    if (at)
        p = at + 1;
    size_t n;
    if (*p == '[') {
        n = strcspn(++p, "]");
        if (p[n] != ']')
            return -1;
    } else {
        n = strcspn(p, ":/?");
    }
    if (n == 0 || n >= sizeof(s->host))
        return -1;
    memcpy(s->host, p, n);
    s->host[n] = '\0';
    p += n + (p[n] == ']');
    s->port = *p == ':' ? atoi(p + 1) : 6379;
    /* The host goes into a shell command line (redis-benchmark): plain
     * names and addresses only. */
    if (strspn(s->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:-") != n)
        return -1;
    return s->port > 0 && s->port < 65536 ? 0 : -1;
}

/* ---- the connections ----------------------------------------------------- */

/* Everything the sides share: the workload and one connection per way of
 * calling (the pooled client, a bare rk_conn, a hiredis context). */
typedef struct net_env {
    const bench_opts *opts;
    const workload *w;
    rk_client *client;
    rk_conn *conn;
    redisContext *hi;
    unsigned pos;    /* next entry of w->order */
    uint64_t errors; /* replies that were not what the command gives */
} net_env;

/* The next key of the random order, as its number. */
static unsigned next_key(net_env *e) {
    return e->w->order[e->pos++ & (KEY_SEQ - 1)];
}

static const command *next_command(net_env *e, bool set) {
    unsigned k = next_key(e);
    return set ? &e->w->set[k] : &e->w->get[k];
}

static void rk_die(const char *what) {
    const rk_error *err = rk_error_last();
    bench_die("rediskit %s: %s (%s)", what, err->message, rk_strerror(err->code));
}

/* A SET answers +OK, a GET the 32-byte value (every key is set first). */
static bool rk_reply_right(const rk_reply *r, bool set) {
    if (set)
        return rk_reply_type(r) == RK_REPLY_STATUS && rk_reply_len(r) == 2;
    return rk_reply_type(r) == RK_REPLY_STRING && rk_reply_len(r) == VALUE_LEN;
}

static bool hi_reply_right(const redisReply *r, bool set) {
    if (set)
        return r->type == REDIS_REPLY_STATUS && r->len == 2;
    return r->type == REDIS_REPLY_STRING && r->len == VALUE_LEN;
}

static void env_connect(net_env *e, const server *s) {
    e->client = rk_client_new(&(rk_options){.host = s->host, .port = s->port, .pool_size = 1});
    if (e->client == NULL)
        rk_die("rk_client_new");
    e->conn = rk_conn_new(&(rk_options){.host = s->host, .port = s->port});
    if (e->conn == NULL)
        rk_die("rk_conn_new");
    if (rk_conn_connect(e->conn) != RK_OK)
        rk_die("rk_conn_connect");
    e->hi = redisConnect(s->host, s->port);
    if (e->hi == NULL || e->hi->err)
        bench_die("hiredis redisConnect %s:%d: %s", s->host, s->port,
                  e->hi ? e->hi->errstr : "out of memory");
}

static void env_close(net_env *e) {
    rk_client_free(e->client);
    rk_conn_free(e->conn);
    redisFree(e->hi);
}

/* Sets every key once, in both key spaces, so that each GET finds its
 * value. */
static void env_fill(net_env *e) {
    for (int i = 0; i < KEYS; i++) {
        if (rk_conn_append_argv(e->conn, e->w->set[i].str, 3) != RK_OK)
            rk_die("rk_conn_append_argv");
        if (rk_conn_append(e->conn, "SET key:%d %b", i, e->w->value, (size_t)VALUE_LEN) != RK_OK)
            rk_die("rk_conn_append");
    }
    for (int i = 0; i < 2 * KEYS; i++)
        if (rk_conn_read(e->conn, NULL) != RK_OK)
            rk_die("SET while filling the key space");
}

/* ---- one command at a time ---------------------------------------------- */

/* Each round is a SET then a GET of one random key: two commands. */
static uint64_t rk_client_round_trips(net_env *e, uint64_t rounds) {
    for (uint64_t i = 0; i < rounds; i++) {
        for (int set = 1; set >= 0; set--) {
            const command *c = next_command(e, set);
            rk_reply r;
            if (rk_client_call_argv(e->client, &r, c->str, (size_t)c->argc) != RK_OK)
                rk_die("rk_client_call_argv");
            e->errors += !rk_reply_right(&r, set);
            rk_reply_free(&r);
        }
    }
    return 2 * rounds;
}

static uint64_t rk_conn_round_trips(net_env *e, uint64_t rounds) {
    for (uint64_t i = 0; i < rounds; i++) {
        for (int set = 1; set >= 0; set--) {
            const command *c = next_command(e, set);
            rk_reply r;
            if (rk_conn_call_argv(e->conn, &r, c->str, (size_t)c->argc) != RK_OK)
                rk_die("rk_conn_call_argv");
            e->errors += !rk_reply_right(&r, set);
            rk_reply_free(&r);
        }
    }
    return 2 * rounds;
}

static uint64_t hi_round_trips(net_env *e, uint64_t rounds) {
    for (uint64_t i = 0; i < rounds; i++) {
        for (int set = 1; set >= 0; set--) {
            const command *c = next_command(e, set);
            redisReply *r = redisCommandArgv(e->hi, c->argc, (const char **)c->argv, c->len);
            if (r == NULL)
                bench_die("hiredis redisCommandArgv: %s", e->hi->errstr);
            e->errors += !hi_reply_right(r, set);
            freeReplyObject(r);
        }
    }
    return 2 * rounds;
}

/* ---- the everyday call, as users write it ------------------------------- */

/* The same SET then GET, with a printf-style format on both sides: the
 * README's rk_client_call against hiredis's redisCommand. The key is
 * formatted from its number, as the README's "GET key:%d": a second key
 * space of the same size ("key:42"), filled by env_fill too. */
#define SET_FORMAT "SET key:%d %b"
#define GET_FORMAT "GET key:%d"

static uint64_t rk_format_round_trips(net_env *e, uint64_t rounds) {
    for (uint64_t i = 0; i < rounds; i++) {
        for (int set = 1; set >= 0; set--) {
            unsigned k = next_key(e);
            rk_reply r;
            int rc =
                set ? rk_client_call(e->client, &r, SET_FORMAT, k, e->w->value, (size_t)VALUE_LEN)
                    : rk_client_call(e->client, &r, GET_FORMAT, k);
            if (rc != RK_OK)
                rk_die("rk_client_call");
            e->errors += !rk_reply_right(&r, set);
            rk_reply_free(&r);
        }
    }
    return 2 * rounds;
}

static uint64_t hi_format_round_trips(net_env *e, uint64_t rounds) {
    for (uint64_t i = 0; i < rounds; i++) {
        for (int set = 1; set >= 0; set--) {
            int k = (int)next_key(e);
            redisReply *r = set ? redisCommand(e->hi, SET_FORMAT, k, e->w->value, (size_t)VALUE_LEN)
                                : redisCommand(e->hi, GET_FORMAT, k);
            if (r == NULL)
                bench_die("hiredis redisCommand: %s", e->hi->errstr);
            e->errors += !hi_reply_right(r, set);
            freeReplyObject(r);
        }
    }
    return 2 * rounds;
}

/* The typed calls, binary safe: SET built by rk_cmd_set and run by
 * rk_client_run (its reply handed back and checked), and GET by
 * rk_cmd_get (the value read from the reply), against hiredis's
 * redisCommandArgv (hi_round_trips). */
static uint64_t rk_typed_round_trips(net_env *e, uint64_t rounds) {
    for (uint64_t i = 0; i < rounds; i++) {
        const command *c = next_command(e, true);
        rk_reply r;
        rk_command cmd;
        rk_cmd_set(&cmd, c->str[1], c->str[2], NULL);
        if (rk_client_run(e->client, &cmd, &r) != RK_OK)
            rk_die("rk_cmd_set");
        e->errors += !rk_reply_right(&r, true);
        rk_reply_free(&r);
        c = next_command(e, false);
        if (rk_client_run(e->client, rk_cmd_get(&cmd, c->str[1]), &r) != RK_OK)
            rk_die("rk_cmd_get");
        e->errors += rk_reply_len(&r) != VALUE_LEN;
        rk_reply_free(&r);
    }
    return 2 * rounds;
}

/* ---- pipelines ----------------------------------------------------------- */

/* Each round is a pipeline of DEPTH SETs, then one of DEPTH GETs, as
 * redis-benchmark -P DEPTH -t set,get runs them. */
static uint64_t rk_pipelines(net_env *e, uint64_t rounds) {
    for (uint64_t i = 0; i < rounds; i++) {
        for (int set = 1; set >= 0; set--) {
            for (int k = 0; k < DEPTH; k++) {
                const command *c = next_command(e, set);
                if (rk_conn_append_argv(e->conn, c->str, (size_t)c->argc) != RK_OK)
                    rk_die("rk_conn_append_argv");
            }
            for (int k = 0; k < DEPTH; k++) {
                rk_reply r;
                if (rk_conn_read(e->conn, &r) != RK_OK)
                    rk_die("rk_conn_read");
                e->errors += !rk_reply_right(&r, set);
                rk_reply_free(&r);
            }
        }
    }
    return 2 * DEPTH * rounds;
}

static uint64_t hi_pipelines(net_env *e, uint64_t rounds) {
    for (uint64_t i = 0; i < rounds; i++) {
        for (int set = 1; set >= 0; set--) {
            for (int k = 0; k < DEPTH; k++) {
                const command *c = next_command(e, set);
                if (redisAppendCommandArgv(e->hi, c->argc, (const char **)c->argv, c->len) !=
                    REDIS_OK)
                    bench_die("hiredis redisAppendCommandArgv: %s", e->hi->errstr);
            }
            for (int k = 0; k < DEPTH; k++) {
                void *r;
                if (redisGetReply(e->hi, &r) != REDIS_OK)
                    bench_die("hiredis redisGetReply: %s", e->hi->errstr);
                e->errors += !hi_reply_right(r, set);
                freeReplyObject(r);
            }
        }
    }
    return 2 * DEPTH * rounds;
}

/* ---- measuring ----------------------------------------------------------- */

/* One way of calling, as a side of bench_compare, which also keeps the
 * least CPU time per command over its runs, and the sums behind the mean
 * (the calibration's first, very short runs do not count; its last ones,
 * warm, do). */
typedef struct net_side {
    net_env *env;
    uint64_t (*body)(net_env *e, uint64_t rounds);
    double cpu_per_op; /* best, seconds; 0 until measured */
    double cpu_sum;    /* seconds, over the runs counted */
    uint64_t ops_sum;  /* commands, over the same runs */
} net_side;

static uint64_t side_rounds(void *ctx, uint64_t rounds) {
    net_side *s = ctx;
    double t0 = bench_now(), c0 = bench_thread_cpu();
    uint64_t ops = s->body(s->env, rounds);
    double spent = bench_thread_cpu() - c0, cpu = spent / (double)ops;
    if (bench_now() - t0 >= s->env->opts->rep_time / 20) {
        if (s->cpu_per_op == 0 || cpu < s->cpu_per_op)
            s->cpu_per_op = cpu;
        s->cpu_sum += spent;
        s->ops_sum += ops;
    }
    return ops;
}

/* The mean CPU time per command over the runs counted (0: none). */
static double cpu_mean(const net_side *s) {
    return s->ops_sum > 0 ? s->cpu_sum / (double)s->ops_sum : 0;
}

/* Allocation calls per command, warm. */
static double allocs_per_op(net_side *s, uint64_t rounds) {
    s->body(s->env, rounds);
    bench_alloc_start();
    uint64_t ops = s->body(s->env, rounds);
    uint64_t n = bench_alloc_stop();
    return n == UINT64_MAX ? -1 : (double)n / (double)ops;
}

static void check_errors(const net_env *e) {
    if (e->errors > 0)
        bench_die("%" PRIu64 " replies were not what SET or GET answer", e->errors);
}

/* "CPU per command: rediskit 1.23 us, hiredis 2.34 us" */
static const char *cpu_note(char *buf, size_t size, const char *a, double ca, const char *b,
                            double cb) {
    snprintf(buf, size, "client CPU per command: %s %.3f us, %s %.3f us", a, ca * 1e6, b, cb * 1e6);
    return buf;
}

static void measure_unpipelined(net_env *e) {
    net_side client = {.env = e, .body = rk_client_round_trips},
             conn = {.env = e, .body = rk_conn_round_trips},
             hi = {.env = e, .body = hi_round_trips};
    double a_client = allocs_per_op(&client, 200), a_conn = allocs_per_op(&conn, 200),
           a_hi = allocs_per_op(&hi, 200);
    bench_side sides[3] = {
        {side_rounds, &client, 0}, {side_rounds, &hi, 0}, {side_rounds, &conn, 0}};
    bench_compare(e->opts, sides, 3);
    check_errors(e);
    char note[160];
    bench_table_row(&(bench_row){.name = "net_unpipelined",
                                 .unit = "commands",
                                 .rk_rate = sides[0].rate,
                                 .hi_rate = sides[1].rate,
                                 .rk_allocs = a_client,
                                 .hi_allocs = a_hi,
                                 .ratio = true,
                                 .target_ratio = 1.0,
                                 .target_allocs = -1,
                                 .note = cpu_note(note, sizeof(note), "rk_client",
                                                  client.cpu_per_op, "hiredis", hi.cpu_per_op)});
    bench_table_row(&(bench_row){.name = "  bare rk_conn",
                                 .unit = "commands",
                                 .rk_rate = sides[2].rate,
                                 .hi_rate = sides[1].rate,
                                 .rk_allocs = a_conn,
                                 .hi_allocs = a_hi,
                                 .target_allocs = -1,
                                 .note = cpu_note(note, sizeof(note), "rk_conn", conn.cpu_per_op,
                                                  "hiredis", hi.cpu_per_op)});
}

/* The row NAME_cpu: CPU per command as rates, commands per CPU second, so
 * that its RATIO is hiredis's CPU per command over rediskit's. */
static void cpu_row(const char *name, const net_side *rk, const net_side *hi, double target,
                    const char *note) {
    char cpu_name[48];
    snprintf(cpu_name, sizeof(cpu_name), "%s_cpu", name);
    bench_table_row(&(bench_row){.name = cpu_name,
                                 .unit = "commands per CPU s",
                                 .rk_rate = rk->cpu_per_op > 0 ? 1 / rk->cpu_per_op : 0,
                                 .hi_rate = hi->cpu_per_op > 0 ? 1 / hi->cpu_per_op : 0,
                                 .rk_allocs = -1,
                                 .hi_allocs = -1,
                                 .ratio = true,
                                 .target_ratio = target,
                                 .target_allocs = -1,
                                 .note = note});
}

/* One rediskit way of calling against one hiredis way, interleaved: the
 * row NAME and the row NAME_cpu, each with its RATIO line. */
static void measure_pair(net_env *e, const char *name, const char *rk_label,
                         uint64_t (*rk_body)(net_env *e, uint64_t rounds),
                         uint64_t (*hi_body)(net_env *e, uint64_t rounds)) {
    net_side rk = {.env = e, .body = rk_body}, hi = {.env = e, .body = hi_body};
    double a_rk = allocs_per_op(&rk, 200), a_hi = allocs_per_op(&hi, 200);
    bench_side sides[2] = {{side_rounds, &rk, 0}, {side_rounds, &hi, 0}};
    bench_compare(e->opts, sides, 2);
    check_errors(e);
    bench_table_row(&(bench_row){.name = name,
                                 .unit = "commands",
                                 .rk_rate = sides[0].rate,
                                 .hi_rate = sides[1].rate,
                                 .rk_allocs = a_rk,
                                 .hi_allocs = a_hi,
                                 .ratio = true,
                                 .target_ratio = 1.0,
                                 .target_allocs = -1});
    char note[160], mean[160];
    cpu_row(name, &rk, &hi, 1.0,
            cpu_note(note, sizeof(note), rk_label, rk.cpu_per_op, "hiredis", hi.cpu_per_op));
    /* The least is what the row compares; the mean over the same
     * interleaved runs says the same with less noise from one lucky run
     * (informational, no target). */
    double m_rk = cpu_mean(&rk), m_hi = cpu_mean(&hi);
    snprintf(mean, sizeof(mean), "mean over the runs: %s %.3f us, hiredis %.3f us (ratio %.3f)",
             rk_label, m_rk * 1e6, m_hi * 1e6, m_rk > 0 ? m_hi / m_rk : 0);
    bench_note("%26s %s", "", mean);
}

/* Measures the pipelines; returns rediskit's best rate. */
static double measure_pipelined(net_env *e) {
    net_side rk = {.env = e, .body = rk_pipelines}, hi = {.env = e, .body = hi_pipelines};
    double a_rk = allocs_per_op(&rk, 10), a_hi = allocs_per_op(&hi, 10);
    bench_side sides[2] = {{side_rounds, &rk, 0}, {side_rounds, &hi, 0}};
    bench_compare(e->opts, sides, 2);
    check_errors(e);
    char note[160];
    bench_table_row(&(bench_row){.name = "net_pipelined",
                                 .unit = "commands",
                                 .rk_rate = sides[0].rate,
                                 .hi_rate = sides[1].rate,
                                 .rk_allocs = a_rk,
                                 .hi_allocs = a_hi,
                                 .ratio = true,
                                 .target_ratio = 1.1,
                                 .target_allocs = -1});
    cpu_row("net_pipelined", &rk, &hi, 1.4,
            cpu_note(note, sizeof(note), "rediskit", rk.cpu_per_op, "hiredis", hi.cpu_per_op));
    return sides[0].rate;
}

/* ---- redis-benchmark ------------------------------------------------------ */

/* rediskit's pipelines and redis-benchmark's, interleaved, on the same
 * number of commands; the best of each. */
static int measure_vs_redis_benchmark(net_env *e, const server *s, double rk_rate) {
    if (rk_rate <= 0) { /* pipelines not measured in this run: estimate */
        double t0 = bench_now();
        uint64_t ops = rk_pipelines(e, 20);
        rk_rate = (double)ops / (bench_now() - t0);
    }
    /* n SETs and n GETs, about two repetitions' worth: long enough for
     * redis-benchmark's millisecond clock. */
    double want = rk_rate * e->opts->rep_time * 2;
    uint64_t n = want < 20000 ? 20000 : want > 2e6 ? 2000000 : (uint64_t)want;
    n -= n % DEPTH;
    int reps = e->opts->reps < MAX_RB_REPS ? e->opts->reps : MAX_RB_REPS;
    char matched[64], plain[16];
    snprintf(matched, sizeof(matched), "-P %d -d %d -r %d", DEPTH, VALUE_LEN, KEYS);
    snprintf(plain, sizeof(plain), "-P %d", DEPTH);
    bench_rb_result best = {0}, literal = {0}, r;
    double best_rb = 0, best_literal = 0, best_rk = 0, rk_cpu = 0;
    for (int i = 0; i < reps; i++) {
        if (bench_redis_benchmark(s->host, s->port, n, matched, &r) != 0)
            return -1;
        if (bench_mixed_rate(r.set, r.get) > best_rb)
            best_rb = bench_mixed_rate(r.set, r.get), best = r;
        double t0 = bench_now(), c0 = bench_thread_cpu();
        uint64_t ops = rk_pipelines(e, n / DEPTH);
        double dt = bench_now() - t0, cpu = (bench_thread_cpu() - c0) / (double)ops;
        if ((double)ops / dt > best_rk)
            best_rk = (double)ops / dt;
        if (rk_cpu == 0 || cpu < rk_cpu)
            rk_cpu = cpu;
        if (i >= PLAIN_RB_REPS)
            continue;
        if (bench_redis_benchmark(s->host, s->port, n, plain, &r) != 0)
            return -1;
        if (bench_mixed_rate(r.set, r.get) > best_literal)
            best_literal = bench_mixed_rate(r.set, r.get), literal = r;
    }
    check_errors(e);
    char note[3][200];
    snprintf(note[0], sizeof(note[0]),
             "second column: redis-benchmark -c 1 %s -t set,get -n %" PRIu64
             " (SET %.0f/s, GET %.0f/s)",
             matched, n, best.set, best.get);
    snprintf(note[1], sizeof(note[1]),
             "redis-benchmark's whole process, CPU per command: %.3f us; rediskit's %.3f us",
             best.cpu / (double)(2 * n) * 1e6, rk_cpu * 1e6);
    snprintf(note[2], sizeof(note[2]),
             "redis-benchmark -c 1 -P %d -t set,get -n %" PRIu64
             " (3-byte value, one key): SET %.0f/s, GET %.0f/s",
             DEPTH, n, literal.set, literal.get);
    bench_table_row(&(bench_row){.name = "net_vs_redis_benchmark",
                                 .unit = "commands",
                                 .rk_rate = best_rk,
                                 .hi_rate = best_rb,
                                 .rk_allocs = -1,
                                 .hi_allocs = -1,
                                 .ratio = true,
                                 .target_ratio = 0.95,
                                 .target_allocs = -1,
                                 .note = note[0]});
    bench_note("%-26s %s", "", note[1]);
    bench_table_row(&(bench_row){.name = "  rb, plain -P 100",
                                 .unit = "commands",
                                 .rk_rate = best_rk,
                                 .hi_rate = best_literal,
                                 .rk_allocs = -1,
                                 .hi_allocs = -1,
                                 .target_allocs = -1,
                                 .note = note[2]});
    return 0;
}

/* ---- callgrind ------------------------------------------------------------ */

typedef struct cg_job {
    net_env *env;
    uint64_t (*body)(net_env *e, uint64_t rounds);
    uint64_t rounds;
} cg_job;

static void cg_run(void *arg) {
    cg_job *j = arg;
    j->body(j->env, j->rounds);
}

/* The bodies a child can run: mode and library as named on its command
 * line. */
static const struct child_body {
    const char *mode, *lib;
    uint64_t (*body)(net_env *e, uint64_t rounds);
} child_bodies[] = {
    {"pipelined", "rk", rk_pipelines},
    {"pipelined", "hi", hi_pipelines},
    {"unpipelined", "rk", rk_conn_round_trips},
    {"unpipelined", "rk-client", rk_client_round_trips},
    {"unpipelined", "hi", hi_round_trips},
    {"format", "rk-client", rk_format_round_trips},
    {"format", "hi", hi_format_round_trips},
    {"typed", "rk-client", rk_typed_round_trips},
    {"typed", "hi", hi_round_trips},
};

/* Child mode, also handy under perf, strace or callgrind (needs REDIS_URL):
 * PROG --child net MODE LIB ROUNDS, MODE and LIB as in child_bodies. */
static int net_child(int argc, char **argv) {
    const char *url = getenv("REDIS_URL");
    server s;
    if (argc != 3 || url == NULL || parse_url(url, &s) != 0)
        return 2;
    cg_job job = {.rounds = (uint64_t)atoll(argv[2])};
    for (size_t i = 0; i < sizeof(child_bodies) / sizeof(child_bodies[0]); i++)
        if (strcmp(argv[0], child_bodies[i].mode) == 0 && strcmp(argv[1], child_bodies[i].lib) == 0)
            job.body = child_bodies[i].body;
    if (job.body == NULL)
        return 2;
    static workload w;
    workload_init(&w);
    bench_opts opts = {.rep_time = 1};
    net_env e = {.opts = &opts, .w = &w};
    env_connect(&e, &s);
    env_fill(&e);
    job.env = &e;
    job.body(&e, job.rounds / 10 + 1); /* warm-up, not counted */
    bench_cg_region(cg_run, &job);
    check_errors(&e);
    env_close(&e);
    return 0;
}

/* Instructions per command on the client side, or -1. */
static double cg_per_op(const char *mode, const char *lib, uint64_t rounds, uint64_t ops) {
    char n[32];
    snprintf(n, sizeof(n), "%" PRIu64, rounds);
    const char *args[] = {mode, lib, n, NULL};
    uint64_t instr;
    if (bench_callgrind("net", args, &instr) != 0)
        return -1;
    return (double)instr / (double)ops;
}

/* One unpipelined row: rediskit's LIB against hiredis in MODE. */
static void cg_unpipelined_row(const char *name, const char *mode, const char *rk_lib) {
    double rk = cg_per_op(mode, rk_lib, 1000, 2000);
    double hi = cg_per_op(mode, "hi", 1000, 2000);
    if (rk > 0 && hi > 0)
        printf("  %-22s %13.1f %13.1f %7.2fx\n", name, rk, hi, hi / rk);
}

/* The pipelines are the reference; the plain unpipelined rows come with
 * --callgrind-all; the everyday calls (format, typed), whose cost per call
 * is all client, whenever they are measured. */
static void callgrind_rows(const bench_opts *opts, bool unpiped, bool format, bool typed,
                           bool piped) {
    unpiped = unpiped && opts->cg_all;
    if (!unpiped && !format && !typed && !piped)
        return;
    printf("\n  callgrind: client instructions per command (user space: library, libc; the\n"
           "  kernel's part of each system call is not counted)\n");
    printf("  %-22s %13s %13s %8s\n", "workload", "rediskit", "hiredis", "hi/rk");
    if (piped) {
        double rk = cg_per_op("pipelined", "rk", 50, 50 * 2 * DEPTH);
        double hi = cg_per_op("pipelined", "hi", 50, 50 * 2 * DEPTH);
        if (rk > 0 && hi > 0)
            printf("  %-22s %13.1f %13.1f %7.2fx\n", "net_pipelined", rk, hi, hi / rk);
    }
    if (unpiped) {
        cg_unpipelined_row("net_unpipelined", "unpipelined", "rk-client");
        double conn = cg_per_op("unpipelined", "rk", 1000, 2000);
        if (conn > 0)
            printf("  %-22s %13.1f\n", "  bare rk_conn", conn);
    }
    if (format)
        cg_unpipelined_row("net_unpipelined_format", "format", "rk-client");
    if (typed)
        cg_unpipelined_row("net_unpipelined_typed", "typed", "rk-client");
}

/* ---- the group ------------------------------------------------------------ */

#define STR2(x) #x
#define STR(x) STR2(x)
#define HIREDIS_VERSION STR(HIREDIS_MAJOR) "." STR(HIREDIS_MINOR) "." STR(HIREDIS_PATCH)

static const bench_group net_group;

static void describe(const bench_opts *fine, const server *s) {
    bench_note("one connection per library to %s:%d; SET and GET of %d-byte values on %d keys "
               "(key:%%012d),",
               s->host, s->port, VALUE_LEN, KEYS);
    bench_note("random order; every reply checked and freed. Rates in commands per second.");
    bench_note("  unpipelined: a SET then a GET, each waiting for its reply");
    bench_note(
        "    rediskit: rk_client (pool_size 1) rk_client_call_argv; info row: a bare rk_conn "
        "with");
    bench_note("              rk_conn_call_argv. hiredis: redisCommandArgv (blocking context)");
    bench_note(
        "  unpipelined_format: the same, as users write it: rk_client_call(c, &r, \"%s\", ...)",
        GET_FORMAT);
    bench_note("    against hiredis's redisCommand with the same formats");
    bench_note("  unpipelined_typed: rk_set_bin (reply checked), rk_get_bin (value copied out, "
               "freed)");
    bench_note("    against hiredis's redisCommandArgv");
    bench_note("  pipelined: %d SETs, then %d GETs, per round trip", DEPTH, DEPTH);
    bench_note("    rediskit: rk_conn_append_argv x%d, rk_conn_read x%d", DEPTH, DEPTH);
    bench_note("    hiredis : redisAppendCommandArgv x%d, redisGetReply x%d", DEPTH, DEPTH);
    bench_note("  timing: %d interleaved runs of ~%.3f s per side (each repetition split in %d), "
               "best rate;",
               fine->reps, fine->rep_time, SPLIT);
    bench_note("    CPU: getrusage(RUSAGE_THREAD) user + sys around each run, the least per "
               "command;");
    bench_note("    a NAME_cpu row's ratio is hiredis's CPU per command over rediskit's;");
    bench_note("    the unpipelined pairs also print the mean over the same runs (no target)");
    bench_note("  vs redis-benchmark: rediskit's pipelines and redis-benchmark runs interleaved, "
               "the same");
    bench_note("    commands (n SETs, n GETs); its rate for the mix: 2 / (1/SET + 1/GET)");
}

static int net_run(const bench_opts *opts, const char *url) {
    server s;
    if (parse_url(url, &s) != 0) {
        printf("  REDIS_URL=%s: expected redis://host:port\n", url);
        return -1;
    }
    bool unpiped = bench_selected(opts, &net_group, "net_unpipelined");
    bool format = bench_selected(opts, &net_group, "net_unpipelined_format");
    bool typed = bench_selected(opts, &net_group, "net_unpipelined_typed");
    bool piped = bench_selected(opts, &net_group, "net_pipelined");
    bool vs_rb = bench_selected(opts, &net_group, "net_vs_redis_benchmark");
    /* A loopback round trip is at the scheduler's mercy: more, shorter
     * interleaved runs give each side a better chance of a quiet one. */
    bench_opts fine = *opts;
    fine.reps *= SPLIT;
    fine.rep_time /= SPLIT;
    static workload w;
    workload_init(&w);
    net_env e = {.opts = &fine, .w = &w};
    env_connect(&e, &s);
    env_fill(&e);
    describe(&fine, &s);

    int status = 0;
    double rk_rate = 0;
    if (unpiped)
        measure_unpipelined(&e);
    if (format)
        measure_pair(&e, "net_unpipelined_format", "rk_client_call", rk_format_round_trips,
                     hi_format_round_trips);
    if (typed)
        measure_pair(&e, "net_unpipelined_typed", "rk_set/rk_get", rk_typed_round_trips,
                     hi_round_trips);
    if (format || typed) {
        /* Like for like: rediskit bounds every reply by its default command
         * timeout (5 s), which makes each blocking read arm a kernel timer;
         * hiredis by default waits for ever. The same two workloads with
         * hiredis given the same timeout (redisSetTimeout). */
        redisSetTimeout(e.hi, (struct timeval){.tv_sec = RK_DEFAULT_COMMAND_TIMEOUT_MS / 1000});
        if (format)
            measure_pair(&e, "net_unpipelined_format_same_timeout", "rk_client_call",
                         rk_format_round_trips, hi_format_round_trips);
        if (typed)
            measure_pair(&e, "net_unpipelined_typed_same_timeout", "rk_set/rk_get",
                         rk_typed_round_trips, hi_round_trips);
        redisSetTimeout(e.hi, (struct timeval){0});
    }
    if (piped)
        rk_rate = measure_pipelined(&e);
    if (vs_rb && measure_vs_redis_benchmark(&e, &s, rk_rate) != 0)
        status = -1;
    env_close(&e);
    if (opts->callgrind)
        callgrind_rows(opts, unpiped, format, typed, piped);
    return status;
}

static const bench_group net_group = {
    .name = "net",
    .order = 20,
    .title = "net: one connection to a local redis-server (rediskit " RK_VERSION_STRING
             " vs hiredis " HIREDIS_VERSION ", and redis-benchmark)",
    .workloads = workloads,
    .needs_server = true,
    .run = net_run,
    .child = net_child,
};
BENCH_GROUP(net_group)
