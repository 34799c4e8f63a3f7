/* rk-bench-compare, group "pubsub": messages per second one subscriber
 * receives, rediskit (rk_pubsub_get_message) against hiredis (its sync
 * API: SUBSCRIBE, then a redisGetReply loop), under the same publisher.
 *
 * Each subscriber listens on its own channel; the runs alternate. A
 * publisher thread (hiredis, pipelining PUBLISH of 100-byte messages) sends
 * N messages as fast as the server takes them, and the subscriber's rate is
 * counted from its first message to its last. A second, informational row
 * publishes everything first and times the subscriber draining the
 * backlog: the client's own cost, with the server out of the way. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <rediskit/client.h>
#include <rediskit/error.h>
#include <rediskit/pubsub.h>
#include <rediskit/version.h>

#include "bench.h"

#define MSG_LEN 100        /* bytes per message */
#define BATCH 256          /* PUBLISH commands per pipeline round */
#define WAIT_MS 5000       /* a subscriber waiting longer gives up */
#define BACKLOG_MSGS 20000 /* ~3 MB: within the server's pub/sub buffer limits */

static const char *const workloads[] = {"pubsub", "pubsub_backlog", NULL};

/* ---- the publisher --------------------------------------------------- */

typedef struct publisher {
    redisContext *hi;
    const char *channel;
    char payload[MSG_LEN];
    uint64_t n;
} publisher;

/* Sends p->n PUBLISH commands, BATCH per round trip; dies on failure. */
static void publish_all(publisher *p) {
    for (uint64_t sent = 0; sent < p->n;) {
        uint64_t batch = p->n - sent < BATCH ? p->n - sent : BATCH;
        for (uint64_t i = 0; i < batch; i++)
            redisAppendCommand(p->hi, "PUBLISH %s %b", p->channel, p->payload, (size_t)MSG_LEN);
        for (uint64_t i = 0; i < batch; i++) {
            redisReply *r;
            if (redisGetReply(p->hi, (void **)&r) != REDIS_OK)
                bench_die("publisher: %s", p->hi->errstr);
            freeReplyObject(r);
        }
        sent += batch;
    }
}

static void *publisher_main(void *arg) {
    publish_all(arg);
    return NULL;
}

/* ---- the subscribers ------------------------------------------------- */

/* One side: receives n messages, noting when the first and last came. */
typedef struct subscriber {
    const char *channel;
    void (*receive)(struct subscriber *s, uint64_t n, double *first, double *last);
    rk_pubsub *rk;
    redisContext *hi;
} subscriber;

static void rk_receive(subscriber *s, uint64_t n, double *first, double *last) {
    for (uint64_t got = 0; got < n;) {
        rk_message m;
        int rc = rk_pubsub_get_message(s->rk, WAIT_MS, &m);
        if (rc != 1)
            bench_die("rediskit subscriber: %s", rc == 0 ? "no message" : rk_error_last()->message);
        if (m.kind != RK_MSG_MESSAGE)
            continue;
        if (m.data_len != MSG_LEN)
            bench_die("rediskit subscriber: a message of %zu bytes", m.data_len);
        if (got++ == 0)
            *first = bench_now();
    }
    *last = bench_now();
}

static void hi_receive(subscriber *s, uint64_t n, double *first, double *last) {
    for (uint64_t got = 0; got < n;) {
        redisReply *r;
        if (redisGetReply(s->hi, (void **)&r) != REDIS_OK)
            bench_die("hiredis subscriber: %s", s->hi->errstr);
        bool message = r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                       strcmp(r->element[0]->str, "message") == 0;
        if (message && r->element[2]->len != MSG_LEN)
            bench_die("hiredis subscriber: a message of %zu bytes", r->element[2]->len);
        freeReplyObject(r);
        if (message && got++ == 0)
            *first = bench_now();
    }
    *last = bench_now();
}

static void rk_subscribe(subscriber *s, rk_client *c) {
    s->rk = rk_pubsub_new(c, NULL);
    if (s->rk == NULL ||
        rk_pubsub_subscribe(s->rk, (const rk_str[]){rk_cstr(s->channel)}, 1) != RK_OK)
        bench_die("rediskit subscribe: %s", rk_error_last()->message);
    rk_message m;
    if (rk_pubsub_get_message(s->rk, WAIT_MS, &m) != 1 || m.kind != RK_MSG_SUBSCRIBE)
        bench_die("rediskit subscribe: no confirmation");
    s->receive = rk_receive;
}

static void hi_subscribe(subscriber *s, const rk_options *o) {
    s->hi = redisConnect(o->host, o->port);
    if (s->hi == NULL || s->hi->err)
        bench_die("hiredis connect %s:%d: %s", o->host, o->port, s->hi ? s->hi->errstr : "");
    redisSetTimeout(s->hi, (struct timeval){.tv_sec = WAIT_MS / 1000});
    redisReply *r = redisCommand(s->hi, "SUBSCRIBE %s", s->channel);
    if (r == NULL)
        bench_die("hiredis SUBSCRIBE: %s", s->hi->errstr);
    freeReplyObject(r);
    s->receive = hi_receive;
}

/* ---- runs ------------------------------------------------------------ */

/* Messages per second a subscriber received while `pub` published n, and
 * its CPU time per message in *cpu. With backlog, everything is published
 * (and queued by the server) first. */
static double run_once(subscriber *s, publisher *pub, uint64_t n, bool backlog, double *cpu) {
    pub->channel = s->channel;
    pub->n = n;
    double first = 0, last = 0, c0 = 0;
    if (backlog) {
        publish_all(pub);
        c0 = bench_thread_cpu();
        s->receive(s, n, &first, &last);
    } else {
        pthread_t t;
        if (pthread_create(&t, NULL, publisher_main, pub) != 0)
            bench_die("pthread_create failed");
        c0 = bench_thread_cpu();
        s->receive(s, n, &first, &last);
        pthread_join(t, NULL);
    }
    *cpu = (bench_thread_cpu() - c0) / (double)n;
    return last > first ? (double)(n - 1) / (last - first) : 0;
}

/* Best rate and least CPU per message of each side over opts->reps
 * alternating runs. */
static void compare(const bench_opts *opts, subscriber sides[2], publisher *pub, uint64_t n,
                    bool backlog, double rate[2], double cpu[2]) {
    rate[0] = rate[1] = 0;
    cpu[0] = cpu[1] = 1e9;
    for (int i = 0; i < 2; i++) /* warm-up: buffers grown, caches filled */
        run_once(&sides[i], pub, n / 4, backlog, &cpu[i]);
    for (int rep = 0; rep < opts->reps; rep++)
        for (int k = 0; k < 2; k++) {
            int i = k ^ (rep & 1); /* A B B A ...: drift hits both alike */
            double c, r = run_once(&sides[i], pub, n, backlog, &c);
            rate[i] = r > rate[i] ? r : rate[i];
            cpu[i] = c < cpu[i] ? c : cpu[i];
        }
}

static const char *cpu_note(char *buf, size_t size, const double cpu[2]) {
    snprintf(buf, size, "subscriber CPU per message: rediskit %.0f ns, hiredis %.0f ns",
             cpu[0] * 1e9, cpu[1] * 1e9);
    return buf;
}

/* Allocations per message of one backlog drain by each side. */
static void drain_allocs(subscriber sides[2], publisher *pub, double allocs[2]) {
    for (int i = 0; i < 2; i++) {
        pub->channel = sides[i].channel;
        pub->n = BACKLOG_MSGS;
        publish_all(pub);
        double first, last;
        uint64_t rk_before = bench_rk_allocs();
        bench_alloc_start();
        sides[i].receive(&sides[i], BACKLOG_MSGS, &first, &last);
        uint64_t all = bench_alloc_stop();
        if (i == 0)
            allocs[i] = (double)(bench_rk_allocs() - rk_before) / BACKLOG_MSGS;
        else
            allocs[i] = all == UINT64_MAX ? -1 : (double)all / BACKLOG_MSGS;
    }
}

static const bench_group pubsub_group;

static void describe(uint64_t n) {
    bench_note("one subscriber per library, each on its own channel, runs alternating;");
    bench_note("  publisher: a hiredis thread pipelining PUBLISH of %d-byte messages, %d per",
               MSG_LEN, BATCH);
    bench_note("             round trip, %llu messages per run", (unsigned long long)n);
    bench_note("  rediskit : rk_pubsub_get_message in a loop (borrowed messages, no handler),");
    bench_note("             on RESP2 like hiredis, so that both get the same bytes");
    bench_note("  hiredis  : redisCommand SUBSCRIBE, then redisGetReply + freeReplyObject");
    bench_note("rate: messages / subscriber wall time from its first message to its last");
    bench_note("pubsub_backlog (informational): %d messages published first, then drained",
               BACKLOG_MSGS);
    bench_note("  (the client's own cost, with the server out of the way)");
}

/* The RATIO row: the subscriber's rate while the publisher runs. */
static void measure_live(const bench_opts *opts, subscriber sides[2], publisher *pub, uint64_t n) {
    double rate[2], cpu[2];
    char note[128];
    compare(opts, sides, pub, n, false, rate, cpu);
    bench_table_row(&(bench_row){.name = "pubsub",
                                 .unit = "messages",
                                 .rk_rate = rate[0],
                                 .hi_rate = rate[1],
                                 .rk_allocs = -1,
                                 .hi_allocs = -1,
                                 .ratio = true,
                                 .target_ratio = 1.0,
                                 .target_allocs = -1,
                                 .note = cpu_note(note, sizeof(note), cpu)});
}

static void measure_backlog(const bench_opts *opts, subscriber sides[2], publisher *pub) {
    double rate[2], cpu[2], allocs[2] = {-1, -1};
    compare(opts, sides, pub, BACKLOG_MSGS, true, rate, cpu);
    drain_allocs(sides, pub, allocs);
    bench_table_row(&(bench_row){.name = "pubsub_backlog",
                                 .unit = "messages",
                                 .rk_rate = rate[0],
                                 .hi_rate = rate[1],
                                 .rk_allocs = allocs[0],
                                 .hi_allocs = allocs[1],
                                 .target_allocs = -1,
                                 .note = "(informational)"});
}

static int pubsub_run(const bench_opts *opts, const char *url) {
    /* RESP2, as hiredis 0.14 speaks: the server sends both the same bytes
     * (pushing RESP3 messages costs Redis 7.0 a little more). */
    rk_client *c = rk_client_new_url(url, &(rk_options){.protocol = 2});
    if (c == NULL) {
        printf("  REDIS_URL=%s: %s\n", url, rk_error_last()->message);
        return -1;
    }
    const rk_options *o = rk_client_options(c);
    if (o->unix_path || o->tls.enabled || o->password) {
        printf("  skipped: the hiredis side needs plain TCP without a password\n");
        rk_client_free(c);
        return 0;
    }
    uint64_t n = opts->quick ? 5000 : 100000;
    describe(n);
    publisher pub = {.hi = redisConnect(o->host, o->port)};
    if (pub.hi == NULL || pub.hi->err)
        bench_die("publisher connect %s:%d failed", o->host, o->port);
    memset(pub.payload, 'm', sizeof(pub.payload));
    subscriber sides[2] = {{.channel = "rk-bench:pubsub:rediskit"},
                           {.channel = "rk-bench:pubsub:hiredis"}};
    rk_subscribe(&sides[0], c);
    hi_subscribe(&sides[1], o);

    if (bench_selected(opts, &pubsub_group, "pubsub"))
        measure_live(opts, sides, &pub, n);
    if (bench_selected(opts, &pubsub_group, "pubsub_backlog"))
        measure_backlog(opts, sides, &pub);
    rk_pubsub_free(sides[0].rk);
    redisFree(sides[1].hi);
    redisFree(pub.hi);
    rk_client_free(c);
    return 0;
}

#define STR2(x) #x
#define STR(x) STR2(x)

static const bench_group pubsub_group = {
    .name = "pubsub",
    .order = 40,
    .title = "pubsub: one subscriber's message rate (rediskit " RK_VERSION_STRING
             " vs hiredis " STR(HIREDIS_MAJOR) "." STR(HIREDIS_MINOR) "." STR(HIREDIS_PATCH) ")",
    .workloads = workloads,
    .needs_server = true,
    .run = pubsub_run,
};
BENCH_GROUP(pubsub_group)
