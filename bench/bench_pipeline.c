/* rk-bench-compare, group "pipeline": rediskit's pipeline API against
 * hiredis's pipelining on one connection, on a real server (REDIS_URL).
 *
 * One round is 100 commands, SET and GET alternating (SET k:<j> <value>,
 * GET k:<j>, for 50 keys), sent together and their 100 replies read:
 *   rediskit: rk_pipeline_append_argv x100 + rk_pipeline_exec, on one
 *             pipeline reused round after round (each exec takes a
 *             connection from the client's pool and gives it back);
 *   hiredis : redisAppendCommandArgv x100 + redisGetReply x100 and
 *             freeReplyObject each, on one redisContext.
 * pipeline_typed is the same round queued as built typed commands
 * (rk_cmd_set, rk_cmd_get and rk_pipeline_add), which build each
 * command's argv on the stack before it is encoded.
 * Both speak RESP2 (the bytes on the wire are the same) and read every
 * reply as a caller would. Throughput is bound by the server and the
 * loopback as much as by the client, so the ratio is the client's share
 * of the round trip; callgrind counts the client's own instructions. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <rediskit/client.h>
#include <rediskit/commands.h>
#include <rediskit/error.h>
#include <rediskit/pipeline.h>
#include <rediskit/version.h>

#include "bench.h"

#define DEPTH 100
#define VALUE_SIZE 32

static const char *const workloads[] = {"pipeline_api", "pipeline_typed", NULL};

/* The 100 commands of a round, as argv, the same for both libraries: argv
 * and lens for hiredis, str for rediskit. */
typedef struct round_cmds {
    const char *argv[DEPTH][3];
    size_t lens[DEPTH][3];
    rk_str str[DEPTH][3];
    int argc[DEPTH];
    char keys[DEPTH / 2][16];
    char value[VALUE_SIZE + 1];
} round_cmds;

static void round_init(round_cmds *r) {
    memset(r->value, 'v', VALUE_SIZE);
    r->value[VALUE_SIZE] = '\0';
    for (int j = 0; j < DEPTH; j++) {
        char *key = r->keys[j / 2];
        snprintf(key, sizeof(r->keys[0]), "bp:%d", j / 2);
        bool set = j % 2 == 0;
        r->argv[j][0] = set ? "SET" : "GET";
        r->argv[j][1] = key;
        r->argv[j][2] = r->value;
        r->lens[j][0] = 3;
        r->lens[j][1] = strlen(key);
        r->lens[j][2] = VALUE_SIZE;
        for (int a = 0; a < 3; a++)
            r->str[j][a] = rk_bin(r->argv[j][a], r->lens[j][a]);
        r->argc[j] = set ? 3 : 2;
    }
}

typedef struct pipe_run {
    round_cmds cmds;
    rk_client *client;
    rk_pipeline *pipeline;
    redisContext *hi;
} pipe_run;

/* ---- the two sides ---------------------------------------------------- */

static uint64_t rk_rounds(void *ctx, uint64_t rounds) {
    pipe_run *r = ctx;
    for (uint64_t n = 0; n < rounds; n++) {
        for (int j = 0; j < DEPTH; j++)
            rk_pipeline_append_argv(r->pipeline, r->cmds.str[j], (size_t)r->cmds.argc[j]);
        int rc = rk_pipeline_exec(r->pipeline);
        if (rc != RK_OK)
            bench_die("rediskit pipeline: %s", rk_error_last()->message);
    }
    return rounds * DEPTH;
}

static uint64_t rk_typed_rounds(void *ctx, uint64_t rounds) {
    pipe_run *r = ctx;
    for (uint64_t n = 0; n < rounds; n++) {
        for (int j = 0; j < DEPTH; j += 2) {
            rk_command cmd;
            const rk_str *set = r->cmds.str[j];
            rk_pipeline_add(r->pipeline, rk_cmd_set(&cmd, set[1], set[2], NULL));
            rk_pipeline_add(r->pipeline, rk_cmd_get(&cmd, set[1]));
        }
        int rc = rk_pipeline_exec(r->pipeline);
        if (rc != RK_OK)
            bench_die("rediskit typed pipeline: %s", rk_error_last()->message);
    }
    return rounds * DEPTH;
}

static uint64_t hi_rounds(void *ctx, uint64_t rounds) {
    pipe_run *r = ctx;
    for (uint64_t n = 0; n < rounds; n++) {
        for (int j = 0; j < DEPTH; j++)
            redisAppendCommandArgv(r->hi, r->cmds.argc[j], r->cmds.argv[j], r->cmds.lens[j]);
        for (int j = 0; j < DEPTH; j++) {
            void *reply;
            if (redisGetReply(r->hi, &reply) != REDIS_OK)
                bench_die("hiredis pipeline: %s", r->hi->errstr);
            freeReplyObject(reply);
        }
    }
    return rounds * DEPTH;
}

/* ---- set-up and checks ------------------------------------------------ */

static int pipe_open(pipe_run *r, const char *url) {
    round_init(&r->cmds);
    r->client = rk_client_new_url(url, &(rk_options){.protocol = 2});
    if (r->client == NULL) {
        printf("  rediskit: %s\n", rk_error_last()->message);
        return -1;
    }
    r->pipeline = rk_pipeline_new(r->client, NULL);
    const rk_options *o = rk_client_options(r->client);
    r->hi = redisConnect(o->host, o->port);
    if (r->pipeline == NULL || r->hi == NULL || r->hi->err) {
        printf("  hiredis: cannot connect to %s:%d: %s\n", o->host, o->port,
               r->hi ? r->hi->errstr : "out of memory");
        return -1;
    }
    return 0;
}

static void pipe_close(pipe_run *r) {
    if (r->hi)
        redisFree(r->hi);
    rk_pipeline_free(r->pipeline);
    rk_client_free(r->client);
}

/* One round by each library: the same replies (OK, then the value). */
static bool pipe_verify(pipe_run *r) {
    rk_rounds(r, 1);
    for (int j = 0; j < DEPTH; j++) {
        const rk_reply *rr = rk_pipeline_reply(r->pipeline, (size_t)j);
        const char *want = j % 2 == 0 ? "OK" : r->cmds.value;
        if (rk_pipeline_status(r->pipeline, (size_t)j) != RK_OK ||
            strcmp(rk_reply_str(rr), want) != 0)
            return false;
    }
    for (int j = 0; j < DEPTH; j++)
        redisAppendCommandArgv(r->hi, r->cmds.argc[j], r->cmds.argv[j], r->cmds.lens[j]);
    bool same = true;
    for (int j = 0; j < DEPTH; j++) {
        redisReply *hr;
        if (redisGetReply(r->hi, (void **)&hr) != REDIS_OK)
            return false;
        const char *want = j % 2 == 0 ? "OK" : r->cmds.value;
        same = same && hr->str && strcmp(hr->str, want) == 0;
        freeReplyObject(hr);
    }
    return same;
}

static double allocs_per_command(pipe_run *r, uint64_t (*fn)(void *, uint64_t)) {
    fn(r, 1);
    bench_alloc_start();
    uint64_t n = fn(r, 10);
    uint64_t allocs = bench_alloc_stop();
    return allocs == UINT64_MAX ? -1 : (double)allocs / (double)n;
}

/* ---- callgrind ------------------------------------------------------- */

typedef struct cg_job {
    pipe_run *run;
    uint64_t (*fn)(void *, uint64_t);
    uint64_t rounds;
} cg_job;

static void cg_rounds(void *arg) {
    cg_job *j = arg;
    j->fn(j->run, j->rounds);
}

/* Child mode: PROG --child pipeline rk|hi ROUNDS (REDIS_URL set). Also
 * handy under perf. */
static int pipeline_child(int argc, char **argv) {
    const char *url = getenv("REDIS_URL");
    if (argc != 2 || url == NULL)
        return 2;
    pipe_run r = {0};
    if (pipe_open(&r, url) != 0)
        return 1;
    cg_job job = {.run = &r,
                  .fn = argv[0][0] == 'r' ? rk_rounds : hi_rounds,
                  .rounds = (uint64_t)atoll(argv[1])};
    job.fn(&r, 10); /* warm-up, not counted */
    bench_cg_region(cg_rounds, &job);
    pipe_close(&r);
    return 0;
}

static double cg_per_command(const char *lib) {
    const char *args[] = {lib, "200", NULL};
    uint64_t instr;
    if (bench_callgrind("pipeline", args, &instr) != 0)
        return -1;
    return (double)instr / (200.0 * DEPTH);
}

/* ---- the group ----------------------------------------------------- */

#define STR2(x) #x
#define STR(x) STR2(x)
#define HIREDIS_VERSION STR(HIREDIS_MAJOR) "." STR(HIREDIS_MINOR) "." STR(HIREDIS_PATCH)

static const bench_group pipeline_group;

static int pipeline_run(const bench_opts *opts, const char *url) {
    bench_note("pipeline_api: %d commands a round, SET bp:<j> <%d bytes> and GET bp:<j> "
               "alternating, RESP2;",
               DEPTH, VALUE_SIZE);
    bench_note("  rediskit: rk_pipeline_append_argv x%d + rk_pipeline_exec, one pipeline "
               "reused",
               DEPTH);
    bench_note("  hiredis : redisAppendCommandArgv x%d + redisGetReply x%d + freeReplyObject, "
               "one context",
               DEPTH, DEPTH);
    bench_note("pipeline_typed: the same round through rk_cmd_set / rk_cmd_get + rk_pipeline_add");
    pipe_run r = {0};
    if (pipe_open(&r, url) != 0) {
        pipe_close(&r);
        return -1;
    }
    if (!pipe_verify(&r)) {
        printf("  pipeline: rediskit and hiredis did not both get the expected replies\n");
        pipe_close(&r);
        return -1;
    }
    struct {
        const char *name;
        uint64_t (*fn)(void *, uint64_t);
    } rows[] = {{"pipeline_api", rk_rounds}, {"pipeline_typed", rk_typed_rounds}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (!bench_selected(opts, &pipeline_group, rows[i].name))
            continue;
        double rk_allocs = allocs_per_command(&r, rows[i].fn);
        double hi_allocs = allocs_per_command(&r, hi_rounds);
        bench_side sides[2] = {{rows[i].fn, &r, 0}, {hi_rounds, &r, 0}};
        bench_compare(opts, sides, 2);
        bench_table_row(&(bench_row){.name = rows[i].name,
                                     .unit = "commands",
                                     .rk_rate = sides[0].rate,
                                     .hi_rate = sides[1].rate,
                                     .rk_allocs = rk_allocs,
                                     .hi_allocs = hi_allocs,
                                     .ratio = true,
                                     .target_ratio = 1.0,
                                     .target_allocs = -1});
    }
    pipe_close(&r);

    if (opts->callgrind) {
        double rk = cg_per_command("rk"), hi = cg_per_command("hi");
        if (rk > 0 && hi > 0) {
            printf("\n  callgrind: client instructions per command (append, send, read, parse, "
                   "free),\n  200 rounds of %d after a warm-up\n",
                   DEPTH);
            printf("  %-22s %13s %13s %8s\n", "workload", "rediskit", "hiredis", "hi/rk");
            printf("  %-22s %13.1f %13.1f %7.2fx\n", "pipeline_api", rk, hi, hi / rk);
        }
    }
    return 0;
}

static const bench_group pipeline_group = {
    .name = "pipeline",
    .order = 30,
    .title = "pipeline: pipelines of 100 commands on a server (rediskit " RK_VERSION_STRING
             " vs hiredis " HIREDIS_VERSION ")",
    .workloads = workloads,
    .needs_server = true,
    .run = pipeline_run,
    .child = pipeline_child,
};
BENCH_GROUP(pipeline_group)
