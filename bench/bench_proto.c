/* rk-bench-compare, group "proto": the protocol engines of rediskit and
 * hiredis on the same bytes, with no network.
 *
 * Each reader workload is a corpus of complete replies built in memory at
 * start-up. A pass feeds the whole corpus to a long-lived reader the way
 * each library reads a socket, taking and freeing every reply as a caller
 * does. The writer workload encodes SET and GET commands from argv. Every
 * workload is first checked: both libraries must see the same replies (or
 * produce the same bytes) before anything is timed. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <rediskit/error.h>
#include <rediskit/reader.h>
#include <rediskit/version.h>
#include <rediskit/writer.h>

#include "bench.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* Largest chunk a modelled read(2) can deliver: hiredis's stack buffer. */
#define HIREDIS_READ_BUF (16u * 1024)
/* Commands the writer queues before the "connection" sends them. */
#define WRITER_BATCH 64

static const char *const workloads[] = {"reader_small",
                                        "reader_bulk100",
                                        "reader_array1000",
                                        "reader_bulk1m",
                                        "reader_resp3",
                                        "writer",
                                        NULL};

/* ---- corpora --------------------------------------------------------- */

/* malloc that stops the program when memory runs out. */
static void *xmalloc(size_t size) {
    void *p = malloc(size);
    if (p == NULL)
        bench_die("out of memory building the workloads");
    return p;
}

/* A growable byte string for building corpora (plain malloc: built before
 * anything is counted). */
typedef struct bytes {
    char *data;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n) {
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n)
            cap *= 2;
        b->data = realloc(b->data, cap);
        if (b->data == NULL)
            bench_die("out of memory building a corpus");
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void putf(bytes *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(bytes *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    put(b, tmp, (size_t)n);
}

static void put_bulk(bytes *b, const char *s, size_t n) {
    putf(b, "$%zu\r\n", n);
    put(b, s, n);
    put(b, "\r\n", 2);
}

/* A small deterministic generator, so every run sees the same corpora. */
static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static void random_text(char *dst, size_t n) {
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (size_t i = 0; i < n; i++)
        dst[i] = alphabet[rng() % (sizeof(alphabet) - 1)];
}

typedef struct corpus {
    const char *name;
    const char *what; /* one line for the output */
    bytes b;
    uint64_t replies;
} corpus;

/* Status, integer, short bulk and nil replies in a random order. */
static void build_small(corpus *c) {
    c->what = "+OK, :<0..99999>, $5 hello, $-1 in random order";
    for (c->replies = 0; c->replies < 32768; c->replies++) {
        switch (rng() % 4) {
        case 0: put(&c->b, "+OK\r\n", 5); break;
        case 1: putf(&c->b, ":%u\r\n", rng() % 100000); break;
        case 2: put_bulk(&c->b, "hello", 5); break;
        default: put(&c->b, "$-1\r\n", 5); break;
        }
    }
}

static void build_bulk100(corpus *c) {
    c->what = "$100 bulk strings";
    char v[100];
    for (c->replies = 0; c->replies < 2560; c->replies++) {
        random_text(v, sizeof(v));
        put_bulk(&c->b, v, sizeof(v));
    }
}

static void build_array1000(corpus *c) {
    c->what = "*1000 arrays of $10 bulk strings";
    char v[10];
    for (c->replies = 0; c->replies < 16; c->replies++) {
        put(&c->b, "*1000\r\n", 7);
        for (int i = 0; i < 1000; i++) {
            random_text(v, sizeof(v));
            put_bulk(&c->b, v, sizeof(v));
        }
    }
}

static void build_bulk1m(corpus *c) {
    c->what = "$1048576 bulk strings";
    size_t n = 1024 * 1024;
    char *v = xmalloc(n);
    for (c->replies = 0; c->replies < 4; c->replies++) {
        random_text(v, n);
        put_bulk(&c->b, v, n);
    }
    free(v);
}

/* The same maps twice: as a RESP3 server sends them (%10, key => ,double)
 * and as a RESP2 server does (*20, the doubles as bulk strings). */
static void build_maps(corpus *resp3, corpus *resp2) {
    resp3->what = "%10 maps of $6 key => ,double (RESP3)";
    resp2->what = "*20 arrays: the same maps as a RESP2 server sends them";
    for (resp3->replies = 0; resp3->replies < 2048; resp3->replies++) {
        put(&resp3->b, "%10\r\n", 5);
        put(&resp2->b, "*20\r\n", 5);
        for (int i = 0; i < 10; i++) {
            char key[8], num[32];
            snprintf(key, sizeof(key), "key:%02d", i);
            int n = snprintf(num, sizeof(num), "%.4f", (double)(rng() % 10000000) / 1000.0 - 500.0);
            put_bulk(&resp3->b, key, 6);
            put_bulk(&resp2->b, key, 6);
            putf(&resp3->b, ",%s\r\n", num);
            put_bulk(&resp2->b, num, (size_t)n);
        }
    }
    resp2->replies = resp3->replies;
}

/* ---- the two read paths ---------------------------------------------- */

typedef struct reader_run {
    const corpus *c;
    size_t chunk;
    rk_reader *rk;
    redisReader *hi;
    bool borrowed;
} reader_run;

static void rk_check(int rc, const char *what) {
    if (rc < 0)
        bench_die("rediskit %s: %s", what, rk_error_last()->message);
}

/* rediskit's read path: read(2) straight into the reader's buffer
 * (rk_reader_space, modelled as a memcpy of at most opts->chunk bytes),
 * rk_reader_commit, then every complete reply out and freed. */
static uint64_t rk_pass(reader_run *r) {
    const char *src = r->c->b.data;
    size_t left = r->c->b.len;
    uint64_t n = 0;
    rk_reply reply;
    while (left > 0) {
        size_t avail;
        char *dst = rk_reader_space(r->rk, r->chunk, &avail);
        if (dst == NULL)
            rk_check(-1, "rk_reader_space");
        size_t k = MIN(MIN(avail, r->chunk), left);
        memcpy(dst, src, k);
        rk_check(rk_reader_commit(r->rk, k), "rk_reader_commit");
        src += k;
        left -= k;
        int rc;
        if (r->borrowed) {
            while ((rc = rk_reader_next_borrowed(r->rk, &reply)) == 1)
                n++;
        } else {
            while ((rc = rk_reader_next(r->rk, &reply)) == 1) {
                n++;
                rk_reply_free(&reply);
            }
        }
        rk_check(rc, "rk_reader_next");
    }
    return n;
}

/* hiredis's read path (redisBufferRead): read(2) into a 16 KiB stack
 * buffer, modelled as a memcpy, then redisReaderFeed copies it into the
 * reader's sds buffer; then redisReaderGetReply until it has no reply. */
static uint64_t hi_pass(reader_run *r) {
    const char *src = r->c->b.data;
    size_t left = r->c->b.len;
    uint64_t n = 0;
    char buf[HIREDIS_READ_BUF];
    while (left > 0) {
        size_t k = MIN(MIN(sizeof(buf), r->chunk), left);
        memcpy(buf, src, k);
        src += k;
        left -= k;
        if (redisReaderFeed(r->hi, buf, k) != REDIS_OK)
            bench_die("hiredis redisReaderFeed: %s", r->hi->errstr);
        for (;;) {
            void *reply;
            if (redisReaderGetReply(r->hi, &reply) != REDIS_OK)
                bench_die("hiredis redisReaderGetReply: %s", r->hi->errstr);
            if (reply == NULL)
                break;
            n++;
            freeReplyObject(reply);
        }
    }
    return n;
}

static uint64_t rk_rounds(void *ctx, uint64_t rounds) {
    uint64_t n = 0;
    for (uint64_t i = 0; i < rounds; i++)
        n += rk_pass(ctx);
    return n;
}

static uint64_t hi_rounds(void *ctx, uint64_t rounds) {
    uint64_t n = 0;
    for (uint64_t i = 0; i < rounds; i++)
        n += hi_pass(ctx);
    return n;
}

static void run_init(reader_run *r, const corpus *c, size_t chunk, bool borrowed) {
    *r = (reader_run){.c = c, .chunk = MIN(chunk, HIREDIS_READ_BUF), .borrowed = borrowed};
    r->rk = rk_reader_new(NULL);
    r->hi = redisReaderCreate();
    if (r->rk == NULL || r->hi == NULL)
        bench_die("cannot create the readers");
}

static void run_free(reader_run *r) {
    rk_reader_free(r->rk);
    redisReaderFree(r->hi);
}

/* ---- checking that both libraries read the same replies ---------------- */

/* What a reply tree holds, whichever library built it. A map counts as
 * its keys and values, as the RESP2 array a server sends instead. */
typedef struct digest {
    uint64_t replies, nodes, nils, strbytes, hash;
    long long intsum;
} digest;

static void digest_bytes(digest *d, const char *s, size_t n) {
    d->strbytes += n;
    for (size_t i = 0; i < n; i++)
        d->hash = (d->hash ^ (unsigned char)s[i]) * 0x100000001b3u;
}

static void digest_rk(digest *d, const rk_reply *r) {
    d->nodes++;
    switch (rk_reply_type(r)) {
    case RK_REPLY_NIL: d->nils++; break;
    case RK_REPLY_INTEGER: d->intsum += rk_reply_int(r); break;
    case RK_REPLY_ARRAY:
        for (size_t i = 0; i < rk_reply_len(r); i++)
            digest_rk(d, rk_reply_at(r, i));
        break;
    case RK_REPLY_MAP:
        for (size_t i = 0; i < rk_reply_len(r); i++) {
            digest_rk(d, rk_reply_map_key(r, i));
            digest_rk(d, rk_reply_map_value(r, i));
        }
        break;
    default: digest_bytes(d, rk_reply_str(r), rk_reply_len(r)); break;
    }
}

static void digest_hi(digest *d, const redisReply *r) {
    d->nodes++;
    switch (r->type) {
    case REDIS_REPLY_NIL: d->nils++; break;
    case REDIS_REPLY_INTEGER: d->intsum += r->integer; break;
    case REDIS_REPLY_ARRAY:
        for (size_t i = 0; i < r->elements; i++)
            digest_hi(d, r->element[i]);
        break;
    default: digest_bytes(d, r->str, (size_t)r->len); break;
    }
}

/* One pass through each library, in the benchmark's own chunking, taking
 * the digest of every reply. */
static digest verify_rk(reader_run *r) {
    digest d = {0};
    const char *src = r->c->b.data;
    size_t left = r->c->b.len;
    rk_reply reply;
    while (left > 0) {
        size_t avail;
        char *dst = rk_reader_space(r->rk, r->chunk, &avail);
        if (dst == NULL)
            rk_check(-1, "rk_reader_space");
        size_t k = MIN(MIN(avail, r->chunk), left);
        memcpy(dst, src, k);
        rk_check(rk_reader_commit(r->rk, k), "rk_reader_commit");
        src += k;
        left -= k;
        int rc;
        while ((rc = r->borrowed ? rk_reader_next_borrowed(r->rk, &reply)
                                 : rk_reader_next(r->rk, &reply)) == 1) {
            d.replies++;
            digest_rk(&d, &reply);
            rk_reply_free(&reply);
        }
        rk_check(rc, "rk_reader_next");
    }
    return d;
}

static digest verify_hi(reader_run *r) {
    digest d = {0};
    for (size_t off = 0; off < r->c->b.len; off += r->chunk) {
        size_t k = MIN(r->chunk, r->c->b.len - off);
        if (redisReaderFeed(r->hi, r->c->b.data + off, k) != REDIS_OK)
            bench_die("hiredis redisReaderFeed: %s", r->hi->errstr);
        void *reply;
        while (redisReaderGetReply(r->hi, &reply) == REDIS_OK && reply) {
            d.replies++;
            digest_hi(&d, reply);
            freeReplyObject(reply);
        }
        if (r->hi->err)
            bench_die("hiredis redisReaderGetReply: %s", r->hi->errstr);
    }
    return d;
}

static bool digest_equal(const digest *a, const digest *b) {
    return a->replies == b->replies && a->nodes == b->nodes && a->nils == b->nils &&
           a->strbytes == b->strbytes && a->hash == b->hash && a->intsum == b->intsum;
}

/* ---- measuring one reader workload ------------------------------------ */

/* Allocation calls per reply over a few warm passes, counted by replacing
 * malloc (both libraries) and, for rediskit, also through its allocator
 * table: the two counts must agree. */
static double allocs_per_reply(reader_run *r, bool rediskit, const char **warning) {
    int passes = r->c->replies >= 64 ? 4 : 8;
    uint64_t replies = 0;
    (rediskit ? rk_pass : hi_pass)(r); /* warm: buffers at their steady size */
    uint64_t rk_before = bench_rk_allocs();
    bench_alloc_start();
    for (int i = 0; i < passes; i++)
        replies += (rediskit ? rk_pass : hi_pass)(r);
    uint64_t n = bench_alloc_stop();
    if (n == UINT64_MAX)
        return -1;
    if (rediskit && bench_rk_allocs() - rk_before != n)
        *warning = "rediskit called malloc outside its allocator table";
    return (double)n / (double)replies;
}

/* Corpora for the RESP3 workload: rediskit reads `c`, hiredis `alt`. */
typedef struct reader_case {
    const char *name;
    corpus *c;
    corpus *alt;
    const char *note;
} reader_case;

static int measure_reader(const bench_opts *opts, const reader_case *rc) {
    const corpus *hc = rc->alt ? rc->alt : rc->c;
    reader_run rk, rkb, hi;
    run_init(&rk, rc->c, opts->chunk, false);
    run_init(&rkb, rc->c, opts->chunk, true);
    run_init(&hi, hc, opts->chunk, false);

    digest drk = verify_rk(&rk), drkb = verify_rk(&rkb), dhi = verify_hi(&hi);
    if (drk.replies != rc->c->replies || !digest_equal(&drk, &dhi) || !digest_equal(&drk, &drkb)) {
        printf("  %s: the libraries disagree: rediskit %" PRIu64 " replies %" PRIu64
               " nodes %" PRIu64 " bytes, borrowed %" PRIu64 "/%" PRIu64 "/%" PRIu64
               ", hiredis %" PRIu64 "/%" PRIu64 "/%" PRIu64 "\n",
               rc->name, drk.replies, drk.nodes, drk.strbytes, drkb.replies, drkb.nodes,
               drkb.strbytes, dhi.replies, dhi.nodes, dhi.strbytes);
        run_free(&rk), run_free(&rkb), run_free(&hi);
        return -1;
    }

    const char *warning = NULL;
    double rk_allocs = allocs_per_reply(&rk, true, &warning);
    double rkb_allocs = allocs_per_reply(&rkb, true, &warning);
    double hi_allocs = allocs_per_reply(&hi, false, &warning);

    bench_side sides[3] = {{rk_rounds, &rk, 0}, {hi_rounds, &hi, 0}, {rk_rounds, &rkb, 0}};
    bench_compare(opts, sides, 3);

    bench_table_row(&(bench_row){.name = rc->name,
                                 .unit = "replies",
                                 .rk_rate = sides[0].rate,
                                 .hi_rate = sides[1].rate,
                                 .rk_allocs = rk_allocs,
                                 .hi_allocs = hi_allocs,
                                 .ratio = true,
                                 .target_ratio = 2.0,
                                 .target_allocs = 1.0,
                                 .note = warning ? warning : rc->note});
    bench_table_row(&(bench_row){.name = "  borrowed",
                                 .unit = "replies",
                                 .rk_rate = sides[2].rate,
                                 .hi_rate = sides[1].rate,
                                 .rk_allocs = rkb_allocs,
                                 .hi_allocs = hi_allocs,
                                 .target_allocs = -1});
    run_free(&rk), run_free(&rkb), run_free(&hi);
    return 0;
}

/* rediskit on the RESP2 form of the maps, for the like-for-like figure. */
static void measure_reader_info(const bench_opts *opts, const char *name, const corpus *c,
                                const char *note) {
    reader_run rk, hi;
    run_init(&rk, c, opts->chunk, false);
    run_init(&hi, c, opts->chunk, false);
    const char *warning = NULL;
    double rk_allocs = allocs_per_reply(&rk, true, &warning);
    double hi_allocs = allocs_per_reply(&hi, false, &warning);
    bench_side sides[2] = {{rk_rounds, &rk, 0}, {hi_rounds, &hi, 0}};
    bench_compare(opts, sides, 2);
    bench_table_row(&(bench_row){.name = name,
                                 .unit = "replies",
                                 .rk_rate = sides[0].rate,
                                 .hi_rate = sides[1].rate,
                                 .rk_allocs = rk_allocs,
                                 .hi_allocs = hi_allocs,
                                 .target_allocs = -1,
                                 .note = warning ? warning : note});
    run_free(&rk), run_free(&hi);
}

/* hiredis 0.14 predates RESP3: returns its reader's complaint about a
 * RESP3 map, or NULL if it parsed one after all. */
static const char *hiredis_resp3_error(void) {
    static char msg[160];
    static const char map[] = "%1\r\n$1\r\na\r\n,1.5\r\n";
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    const char *result = NULL;
    if (redisReaderFeed(r, map, sizeof(map) - 1) != REDIS_OK ||
        redisReaderGetReply(r, &reply) != REDIS_OK) {
        snprintf(msg, sizeof(msg), "%s", r->errstr);
        result = msg;
    }
    if (reply)
        freeReplyObject(reply);
    redisReaderFree(r);
    return result;
}

/* ---- the writer ------------------------------------------------------ */

/* A command in the form each library takes it: argv and len for hiredis,
 * str for rediskit. */
typedef struct command {
    int argc;
    const char *argv[3];
    size_t len[3];
    rk_str str[3];
} command;

typedef struct writer_run {
    command *cmds;
    size_t ncmds;
    char *text; /* keys and values */
    rk_writer *w;
    uint64_t sink;
} writer_run;

/* SET key:<n> <16..100 random bytes> and GET key:<n>, alternating. */
static void writer_init(writer_run *r) {
    enum { PAIRS = 2048 };
    rng_state = 0x9e3779b97f4a7c15u;
    *r = (writer_run){.ncmds = 2 * PAIRS};
    r->cmds = xmalloc(r->ncmds * sizeof(command));
    r->text = xmalloc(PAIRS * (16 + 100));
    r->w = rk_writer_new(NULL);
    if (r->w == NULL)
        bench_die("out of memory building the writer workload");
    char *t = r->text;
    for (size_t i = 0; i < PAIRS; i++) {
        size_t klen = (size_t)sprintf(t, "key:%zu", i);
        const char *key = t;
        t += klen + 1;
        size_t vlen = 16 + rng() % 85;
        random_text(t, vlen);
        r->cmds[2 * i] = (command){3,
                                   {"SET", key, t},
                                   {3, klen, vlen},
                                   {RK_STR("SET"), rk_bin(key, klen), rk_bin(t, vlen)}};
        r->cmds[2 * i + 1] =
            (command){2, {"GET", key, NULL}, {3, klen, 0}, {RK_STR("GET"), rk_bin(key, klen)}};
        t += vlen;
    }
}

static void writer_free(writer_run *r) {
    rk_writer_free(r->w);
    free(r->cmds);
    free(r->text);
}

/* rediskit: each command into one reused writer; every WRITER_BATCH
 * commands the "connection" has sent the queue and clears it. */
static uint64_t rk_write_rounds(void *ctx, uint64_t rounds) {
    writer_run *r = ctx;
    for (uint64_t k = 0; k < rounds; k++) {
        for (size_t i = 0; i < r->ncmds; i++) {
            const command *c = &r->cmds[i];
            if (rk_writer_argv(r->w, c->str, (size_t)c->argc) != RK_OK)
                bench_die("rk_writer_argv: %s", rk_error_last()->message);
            if ((i + 1) % WRITER_BATCH == 0) {
                r->sink += rk_writer_pending(r->w);
                rk_writer_clear(r->w);
            }
        }
        r->sink += rk_writer_pending(r->w);
        rk_writer_clear(r->w);
    }
    return rounds * r->ncmds;
}

/* hiredis: redisFormatCommandArgv allocates a fresh buffer per command,
 * freed once it is queued. */
static uint64_t hi_write_rounds(void *ctx, uint64_t rounds) {
    writer_run *r = ctx;
    for (uint64_t k = 0; k < rounds; k++) {
        for (size_t i = 0; i < r->ncmds; i++) {
            const command *c = &r->cmds[i];
            char *cmd;
            int n = redisFormatCommandArgv(&cmd, c->argc, (const char **)c->argv, c->len);
            if (n < 0)
                bench_die("redisFormatCommandArgv failed");
            r->sink += (uint64_t)n;
            redisFreeCommand(cmd);
        }
    }
    return rounds * r->ncmds;
}

/* Both writers must produce the very same bytes. */
static bool writer_verify(writer_run *r) {
    bytes hb = {0}, rb = {0};
    rk_writer_clear(r->w);
    for (size_t i = 0; i < r->ncmds; i++) {
        const command *c = &r->cmds[i];
        char *cmd;
        int n = redisFormatCommandArgv(&cmd, c->argc, (const char **)c->argv, c->len);
        put(&hb, cmd, (size_t)n);
        redisFreeCommand(cmd);
        rk_check(rk_writer_argv(r->w, c->str, (size_t)c->argc), "rk_writer_argv");
        while (rk_writer_pending(r->w) > 0) {
            struct iovec iov[16];
            int k = rk_writer_iov(r->w, iov, 16);
            size_t sent = 0;
            for (int j = 0; j < k; j++) {
                put(&rb, iov[j].iov_base, iov[j].iov_len);
                sent += iov[j].iov_len;
            }
            rk_writer_consume(r->w, sent);
        }
    }
    bool same = hb.len == rb.len && memcmp(hb.data, rb.data, hb.len) == 0;
    free(hb.data);
    free(rb.data);
    return same;
}

static double write_allocs(writer_run *r, bool rediskit) {
    uint64_t (*fn)(void *, uint64_t) = rediskit ? rk_write_rounds : hi_write_rounds;
    fn(r, 1);
    bench_alloc_start();
    uint64_t n = fn(r, 4);
    uint64_t allocs = bench_alloc_stop();
    return allocs == UINT64_MAX ? -1 : (double)allocs / (double)n;
}

static int measure_writer(const bench_opts *opts) {
    writer_run r;
    writer_init(&r);
    if (!writer_verify(&r)) {
        printf("  writer: rediskit and hiredis encode different bytes\n");
        writer_free(&r);
        return -1;
    }
    double rk_allocs = write_allocs(&r, true);
    double hi_allocs = write_allocs(&r, false);
    bench_side sides[2] = {{rk_write_rounds, &r, 0}, {hi_write_rounds, &r, 0}};
    bench_compare(opts, sides, 2);
    bench_table_row(&(bench_row){.name = "writer",
                                 .unit = "commands",
                                 .rk_rate = sides[0].rate,
                                 .hi_rate = sides[1].rate,
                                 .rk_allocs = rk_allocs,
                                 .hi_allocs = hi_allocs,
                                 .ratio = true,
                                 .target_ratio = 1.5,
                                 .target_allocs = 1.0});
    writer_free(&r);
    return 0;
}

/* ---- callgrind ------------------------------------------------------- */

/* Builds the named corpus; every corpus starts from the same seed, so it
 * is the same whatever else is built (and in a child process). For
 * "reader_resp3", alt (if not NULL) receives the RESP2 form of the maps. */
static void build_corpus(corpus *c, corpus *alt, const char *name) {
    rng_state = 0x9e3779b97f4a7c15u;
    *c = (corpus){.name = name};
    if (strcmp(name, "reader_small") == 0) {
        build_small(c);
    } else if (strcmp(name, "reader_bulk100") == 0) {
        build_bulk100(c);
    } else if (strcmp(name, "reader_array1000") == 0) {
        build_array1000(c);
    } else if (strcmp(name, "reader_bulk1m") == 0) {
        build_bulk1m(c);
    } else if (strcmp(name, "reader_resp3") == 0 || strcmp(name, "reader_resp2") == 0) {
        corpus other = {.name = "reader_resp2"};
        bool resp3 = strcmp(name, "reader_resp3") == 0;
        if (resp3)
            build_maps(c, &other);
        else
            build_maps(&other, c);
        if (resp3 && alt)
            *alt = other;
        else
            free(other.b.data);
    } else {
        bench_die("no corpus named %s", name);
    }
}

typedef struct cg_job {
    reader_run *run;
    bool rediskit;
    int passes;
} cg_job;

static void cg_passes(void *arg) {
    cg_job *j = arg;
    for (int i = 0; i < j->passes; i++)
        (j->rediskit ? rk_pass : hi_pass)(j->run);
}

/* Child mode, also handy under perf:
 * PROG --child proto CORPUS rk|rk-borrowed|hi PASSES [CHUNK] */
static int proto_child(int argc, char **argv) {
    if (argc != 3 && argc != 4)
        return 2;
    size_t chunk = argc == 4 ? (size_t)atol(argv[3]) : HIREDIS_READ_BUF;
    corpus c;
    build_corpus(&c, NULL, argv[0]);
    reader_run r;
    run_init(&r, &c, chunk ? chunk : HIREDIS_READ_BUF, strcmp(argv[1], "rk-borrowed") == 0);
    cg_job job = {.run = &r, .rediskit = argv[1][0] == 'r', .passes = atoi(argv[2])};
    (job.rediskit ? rk_pass : hi_pass)(&r); /* warm-up, not counted */
    bench_cg_region(cg_passes, &job);
    run_free(&r);
    free(c.b.data);
    return 0;
}

/* Instructions per reply of one library on one corpus, or -1. */
static double cg_per_reply(const bench_opts *opts, const char *corpus_name, const char *lib,
                           uint64_t replies_per_pass) {
    char chunk[32];
    snprintf(chunk, sizeof(chunk), "%zu", opts->chunk);
    const char *args[] = {corpus_name, lib, "2", chunk, NULL};
    uint64_t instr;
    if (bench_callgrind("proto", args, &instr) != 0)
        return -1;
    return (double)instr / (double)(2 * replies_per_pass);
}

static void callgrind_rows(const bench_opts *opts, const reader_case *cases, int ncases) {
    int todo = 0;
    for (int i = 0; i < ncases; i++)
        todo += opts->cg_all || strcmp(cases[i].name, "reader_small") == 0;
    if (todo == 0)
        return;
    printf("\n  callgrind: instructions per reply, whole read path (modelled read copy, feed,\n"
           "  parse, build, free), 2 warm passes over the corpus, the chunking above\n");
    printf("  %-22s %13s %13s %8s\n", "workload", "rediskit", "hiredis", "hi/rk");
    for (int i = 0; i < ncases; i++) {
        const reader_case *rc = &cases[i];
        if (!opts->cg_all && strcmp(rc->name, "reader_small") != 0)
            continue;
        double rk = cg_per_reply(opts, rc->name, "rk", rc->c->replies);
        double rkb = cg_per_reply(opts, rc->name, "rk-borrowed", rc->c->replies);
        double hi = cg_per_reply(opts, rc->alt ? "reader_resp2" : rc->name, "hi", rc->c->replies);
        if (rk < 0 || hi < 0 || rkb < 0)
            continue;
        printf("  %-22s %13.1f %13.1f %7.2fx\n", rc->name, rk, hi, hi / rk);
        printf("  %-22s %13.1f %13s %7.2fx  (borrowed)\n", "", rkb, "", hi / rkb);
    }
}

/* ---- the group ----------------------------------------------------- */

#define STR2(x) #x
#define STR(x) STR2(x)
#define HIREDIS_VERSION STR(HIREDIS_MAJOR) "." STR(HIREDIS_MINOR) "." STR(HIREDIS_PATCH)

static const bench_group proto_group;

static bool selected(const bench_opts *opts, const char *workload) {
    return bench_selected(opts, &proto_group, workload);
}

static void describe(const bench_opts *opts, bool readers, bool writer) {
    size_t chunk = MIN(opts->chunk, HIREDIS_READ_BUF);
    if (readers) {
        bench_note("readers: each library as it reads a socket, a read(2) modelled by a memcpy "
                   "of at most %zu bytes;",
                   chunk);
        bench_note("  hiredis : memcpy into a 16 KiB stack buffer (redisBufferRead), "
                   "redisReaderFeed (copies it");
        bench_note("            into the reader's sds buffer), redisReaderGetReply until no "
                   "reply, freeReplyObject each");
        bench_note("  rediskit: rk_reader_space(rd, %zu), memcpy of min(avail, %zu, left) "
                   "straight into it,",
                   chunk, chunk);
        bench_note("            rk_reader_commit, rk_reader_next until it returns 0, "
                   "rk_reply_free each");
        bench_note("  \"borrowed\" rows: rediskit with rk_reader_next_borrowed, replies not "
                   "freed (informational)");
    }
    if (writer) {
        bench_note("writer: SET key:<n> <16..100 bytes> and GET key:<n>, alternating, from argv;");
        bench_note("  rediskit: rk_writer_argv into one reused writer, rk_writer_clear every %d "
                   "commands",
                   WRITER_BATCH);
        bench_note("            (as a connection does once it has sent them)");
        bench_note("  hiredis : redisFormatCommandArgv (a fresh buffer) + redisFreeCommand per "
                   "command; its");
        bench_note("            redisAppendCommandArgv would also copy it into c->obuf: not "
                   "counted");
    }
}

static int proto_run(const bench_opts *opts, const char *url) {
    (void)url;
    static const char *const readers[] = {"reader_small", "reader_bulk100", "reader_array1000",
                                          "reader_bulk1m", "reader_resp3"};
    enum { NREADERS = sizeof(readers) / sizeof(readers[0]) };
    corpus corpora[NREADERS] = {{0}}, resp2 = {0};
    reader_case cases[NREADERS];
    int ncases = 0;

    const char *resp3_err = NULL;
    char resp3_note[200] = "";
    for (int i = 0; i < NREADERS; i++) {
        if (!selected(opts, readers[i]))
            continue;
        reader_case *rc = &cases[ncases++];
        *rc = (reader_case){.name = readers[i], .c = &corpora[i]};
        build_corpus(rc->c, &resp2, readers[i]);
        if (strcmp(readers[i], "reader_resp3") == 0) {
            rc->alt = &resp2;
            resp3_err = hiredis_resp3_error();
            snprintf(resp3_note, sizeof(resp3_note),
                     "hiredis %s: its column reads the same maps as RESP2 sends them "
                     "(*20, doubles as $ bulk)",
                     resp3_err ? "cannot parse RESP3" : "parsed RESP3, yet");
            rc->note = resp3_note;
        }
    }
    bool writer = selected(opts, "writer");
    describe(opts, ncases > 0, writer);

    int status = 0;
    for (int i = 0; i < ncases; i++) {
        if (measure_reader(opts, &cases[i]) != 0)
            status = -1;
        if (cases[i].alt)
            measure_reader_info(opts, "  rediskit on RESP2", cases[i].alt,
                                "(informational) the same *20 bytes for both libraries");
    }
    if (writer && measure_writer(opts) != 0)
        status = -1;

    if (ncases > 0) {
        printf("\n");
        bench_note("corpora (the same bytes for both libraries; a pass feeds one corpus):");
    }
    for (int i = 0; i < ncases; i++) {
        bench_note("  %-18s %6" PRIu64 " replies, %8zu bytes: %s", cases[i].name,
                   cases[i].c->replies, cases[i].c->b.len, cases[i].c->what);
        if (cases[i].alt)
            bench_note("  %-18s %6" PRIu64 " replies, %8zu bytes: %s", "  (hiredis)", resp2.replies,
                       resp2.b.len, resp2.what);
    }
    if (resp3_err)
        bench_note("hiredis " HIREDIS_VERSION " given a RESP3 map says: \"%s\"", resp3_err);

    if (opts->callgrind && ncases > 0)
        callgrind_rows(opts, cases, ncases);
    for (int i = 0; i < NREADERS; i++)
        free(corpora[i].b.data);
    free(resp2.b.data);
    return status;
}

static const bench_group proto_group = {
    .name = "proto",
    .order = 10,
    .title = "proto: RESP reader and writer, no network (rediskit " RK_VERSION_STRING
             " vs hiredis " HIREDIS_VERSION ")",
    .workloads = workloads,
    .run = proto_run,
    .child = proto_child,
};
BENCH_GROUP(proto_group)
