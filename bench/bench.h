/* rk-bench-compare: rediskit and hiredis side by side, in one process.
 *
 * The program is a list of benchmark groups ("proto" in bench_proto.c, the
 * network part in its own file). A group registers itself with
 * BENCH_GROUP(); bench.c parses the options, runs every selected group, and
 * prints each result row as it comes and the `RATIO <name> <value>` lines
 * at the end. This header is the whole interface a group needs: timing
 * (interleaved best-of runs), allocation counting, the callgrind re-exec,
 * and the table. */
#ifndef RK_BENCH_H
#define RK_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the command line asked for. */
typedef struct bench_opts {
    bool quick;       /* --quick: short runs, for CI smoke tests */
    const char *only; /* --only NAME: one group or one workload, or NULL */
    bool callgrind;   /* instruction counts under valgrind (default: on
                         when valgrind is on the PATH and not --quick) */
    bool cg_all;      /* --callgrind-all: every workload, not only the one
                         each group names as its reference */
    int reps;         /* interleaved repetitions per side */
    double rep_time;  /* seconds per repetition per side */
    size_t chunk;     /* bytes one modelled read(2) delivers, at most */
} bench_opts;

/* A group of workloads. run() measures and prints; it returns 0, or -1
 * when something went wrong (a library failed, the libraries disagree),
 * which makes the program exit non-zero. A group that needs a server sets
 * needs_server; bench.c then passes REDIS_URL to run(), or skips the group
 * with a note when the variable is unset. child() is the entry point of a
 * re-executed copy of the program (see bench_callgrind); it may be NULL. */
typedef struct bench_group {
    const char *name;             /* "proto", "net" */
    int order;                    /* groups run in increasing order */
    const char *title;            /* one line for the table heading */
    const char *const *workloads; /* NULL-terminated, for --list/--only */
    bool needs_server;
    int (*run)(const bench_opts *opts, const char *redis_url);
    int (*child)(int argc, char **argv);
} bench_group;

void bench_register(const bench_group *group);

/* Registers a group before main() runs: BENCH_GROUP(proto_group); */
#define BENCH_GROUP(g)                                                                             \
    static void bench_register_##g(void) __attribute__((constructor));                             \
    static void bench_register_##g(void) {                                                         \
        bench_register(&(g));                                                                      \
    }

/* Whether --only selects this workload of this group. */
bool bench_selected(const bench_opts *opts, const bench_group *group, const char *workload);

/* ---- timing ---------------------------------------------------------- */

/* Seconds on a monotonic clock. */
double bench_now(void);

/* One side of a comparison: fn does `rounds` rounds of the workload and
 * returns how many items (replies, commands) it handled. */
typedef struct bench_side {
    uint64_t (*fn)(void *ctx, uint64_t rounds);
    void *ctx;
    double rate; /* out: best items per second */
} bench_side;

/* Calibrates each side to opts->rep_time per repetition, then runs
 * opts->reps repetitions, the sides interleaved (A B C A B C ...), and
 * keeps each side's best rate. */
void bench_compare(const bench_opts *opts, bench_side *sides, int nsides);

/* CPU seconds (user + system) the calling thread has used. */
double bench_thread_cpu(void);

/* ---- redis-benchmark (bench_server.c) --------------------------------- */

/* What one redis-benchmark run said, and the CPU it used. */
typedef struct bench_rb_result {
    double set, get; /* requests per second */
    double cpu;      /* seconds, user + system */
} bench_rb_result;

/* Runs `redis-benchmark -h HOST -p PORT -q -c 1 -t set,get -n N EXTRA`
 * (HOST a plain name or address: it goes into a shell command line).
 * Returns 0, or -1 after printing its output. */
int bench_redis_benchmark(const char *host, int port, uint64_t n, const char *extra,
                          bench_rb_result *res);

/* The rate of n SETs then n GETs, given each one's rate. */
double bench_mixed_rate(double set, double get);

/* ---- allocation counting --------------------------------------------- */

/* The program replaces malloc, calloc, realloc and free (hiredis calls
 * them directly) and counts every malloc, calloc and realloc call made
 * between bench_alloc_start() and bench_alloc_stop(), which returns the
 * count. bench_rk_allocs() counts the calls rediskit made through its
 * allocator table (rk_set_allocator) since the program started. */
void bench_alloc_start(void);
uint64_t bench_alloc_stop(void);
uint64_t bench_rk_allocs(void);

/* ---- callgrind ------------------------------------------------------- */

/* Whether instruction counts can be taken (valgrind is on the PATH). */
bool bench_callgrind_available(void);

/* Runs this program again under `valgrind --tool=callgrind` as
 * `PROG --child GROUP ARGS...` and returns the instructions executed inside
 * bench_cg_region() in *instr. Returns 0, or -1 (with a message printed). */
int bench_callgrind(const char *group, const char *const *args, uint64_t *instr);

/* The measured region of a child run: calls fn(arg). Only the instructions
 * executed inside it are counted (valgrind --toggle-collect). */
void bench_cg_region(void (*fn)(void *arg), void *arg);

/* ---- output ---------------------------------------------------------- */

/* One row of the table. */
typedef struct bench_row {
    const char *name; /* workload; also the RATIO name */
    const char *unit; /* what is counted: "replies", "commands" */
    double rk_rate;   /* rediskit items per second */
    double hi_rate;   /* hiredis items per second; 0 for no hiredis side */
    double rk_allocs; /* allocations per item; < 0 when not measured */
    double hi_allocs;
    bool ratio;           /* print `RATIO name rk_rate/hi_rate` at the end */
    double target_ratio;  /* 0 for none */
    double target_allocs; /* most rediskit allocations per item; < 0 none */
    const char *note;     /* shown under the row, or NULL */
} bench_row;

/* Prints a row as soon as it is measured (the column heading first, before
 * a group's first row); bench.c has printed the group's title. */
void bench_table_row(const bench_row *row);

/* Prints a line of text, indented to sit with the table: what a group
 * measures and how, before its rows; notes after them. */
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Stops the program with a message: for failures that make numbers
 * meaningless (a library refused the corpus). */
_Noreturn void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
