/* rk-bench: what the parts of the load generator share.
 *
 * opts.c reads the command line into an rkb_config; tests.c turns it into
 * the list of commands to time (rkb_cmd); loop.c runs them on threads that
 * each drive their share of the connections with an epoll loop; report.c
 * prints the results (text, quiet, CSV, JSON) and the progress line. */
#ifndef RKB_BENCH_H
#define RKB_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "rediskit/options.h"
#include "rediskit/str.h"

/* Exit statuses. */
enum { RKB_EXIT_OK = 0, RKB_EXIT_FAIL = 1, RKB_EXIT_USAGE = 2 };

/* Output formats. */
typedef enum rkb_format { RKB_TEXT, RKB_QUIET, RKB_CSV, RKB_JSON } rkb_format;

/* The placeholder replaced by a 12-digit random number when -r is given. */
#define RKB_RAND "__rand_int__"
#define RKB_RAND_LEN 12

/** Everything the command line says. */
typedef struct rkb_config {
    rk_options conn;   /* how to connect (host, port, TLS, auth, db) */
    char *url_storage; /* strings of -u, freed with rk_free */
    int clients;       /* -c, default 50 */
    long requests;     /* -n, default 100000 */
    int pipeline;      /* -P, default 1 */
    int datasize;      /* -d, default 3 */
    bool randomkeys;   /* -r given */
    long keyspace;     /* -r N: random numbers in [0, N) */
    int threads;       /* --threads, default 1 */
    rkb_format format; /* -q, --csv, --json */
    bool loop;         /* -l */
    bool show_errors;  /* -e */
    bool progress;     /* a progress line: stdout is a terminal, text/quiet */
    const char *tests; /* -t list, NULL for every test */
    int custom_argc;   /* a command given after the options, or 0 */
    char **custom_argv;
} rkb_config;

/** Reads argv. Returns -1 to go on, or an exit status (after printing the
 *  help, the version or what is wrong). */
int rkb_parse_args(rkb_config *cfg, int argc, char **argv);

/** Frees what rkb_parse_args kept. */
void rkb_config_free(rkb_config *cfg);

/** One command to time. Arguments holding RKB_RAND are rewritten before
 *  each send when -r is given (patches: which argument, at which offset). */
typedef struct rkb_cmd {
    char *title; /* "SET", "MSET (10 keys)" */
    int argc;
    rk_str *argv; /* owned copies, NUL-terminated too */
    int npatch;
    int *patch_arg;
    size_t *patch_off;
} rkb_cmd;

/** The commands the configuration selects, in redis-benchmark's order.
 *  Returns the count (> 0) with *out to free with rkb_cmds_free, or -1
 *  after printing why (an unknown test name, out of memory). */
int rkb_cmds_build(const rkb_config *cfg, rkb_cmd **out);
void rkb_cmds_free(rkb_cmd *cmds, int n);

/** The outcome of one timed test. */
typedef struct rkb_result {
    const char *title;
    uint64_t requests; /* replies received */
    uint64_t errors;   /* of them, error replies */
    double seconds;
    double rps;
    rkb_hist *hist; /* latencies in microseconds (owned by the run) */
} rkb_result;

typedef struct rkb_run rkb_run;

/** Opens cfg->clients connections on cfg->threads threads and waits until
 *  every one is ready. Returns NULL after printing why (could not connect,
 *  refused password...). */
rkb_run *rkb_run_start(const rkb_config *cfg);

/** Times one command: cfg->requests requests in all, batches of
 *  cfg->pipeline per connection. Fills *res; returns 0, or -1 after
 *  printing why (a connection failed midway). */
int rkb_run_test(rkb_run *run, const rkb_cmd *cmd, rkb_result *res);

/** Stops the threads and closes every connection. NULL is allowed. */
void rkb_run_free(rkb_run *run);

/* ---- report.c ------------------------------------------------------ */

/** The microseconds of a monotonic clock. */
int64_t rkb_now_us(void);

/** Where cfg connects ("host:port" or the socket path), for messages. */
void rkb_describe_target(const rkb_config *cfg, char *buf, size_t size);

/** Prints what comes before the first result (the CSV header). */
void rkb_report_begin(const rkb_config *cfg);

/** Prints (or, for JSON, keeps) one result. Returns 0 or -1 (no memory). */
int rkb_report_result(const rkb_config *cfg, const rkb_result *res);

/** Prints what comes after the last result (the JSON document). */
void rkb_report_end(const rkb_config *cfg);

/** The progress line of a running test, redrawn in place. */
void rkb_progress(const rkb_config *cfg, const char *title, uint64_t done, double seconds,
                  double rps_now);

/** Clears the progress line, if one was drawn. */
void rkb_progress_clear(const rkb_config *cfg);

#endif
