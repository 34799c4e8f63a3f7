/* rk-bench-compare: the driver. Parses the options, runs the registered
 * benchmark groups, prints the table and the RATIO lines, and provides the
 * shared mechanics of bench.h: interleaved timing, counting allocations
 * (by replacing malloc and friends in this program, and by giving rediskit
 * a counting allocator table), and re-running itself under callgrind. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rediskit/alloc.h>

#include "bench.h"

#define MAX_GROUPS 16
#define MAX_RATIOS 64
#define MAX_SIDES 8

static const bench_group *groups[MAX_GROUPS];
static int ngroups;

void bench_register(const bench_group *group) {
    if (ngroups == MAX_GROUPS) {
        fprintf(stderr, "rk-bench-compare: too many benchmark groups\n");
        exit(2);
    }
    groups[ngroups++] = group;
}

bool bench_selected(const bench_opts *opts, const bench_group *group, const char *workload) {
    return opts->only == NULL || strcmp(opts->only, group->name) == 0 ||
           strcmp(opts->only, workload) == 0;
}

_Noreturn void bench_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fprintf(stderr, "rk-bench-compare: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* ---- timing ---------------------------------------------------------- */

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Rounds that make one repetition last about opts->rep_time; the runs
 * made to find out also warm the caches and the allocator up. */
static uint64_t calibrate(const bench_opts *opts, const bench_side *side) {
    uint64_t rounds = 1;
    for (;;) {
        double t0 = bench_now();
        side->fn(side->ctx, rounds);
        double dt = bench_now() - t0;
        if (dt >= opts->rep_time / 10 || rounds >= (1u << 30)) {
            double want = (double)rounds * opts->rep_time / (dt > 0 ? dt : 1e-9);
            return want < 1 ? 1 : (uint64_t)want;
        }
        rounds *= 2;
    }
}

void bench_compare(const bench_opts *opts, bench_side *sides, int nsides) {
    uint64_t rounds[MAX_SIDES];
    if (nsides > MAX_SIDES)
        bench_die("bench_compare: more than %d sides", MAX_SIDES);
    for (int i = 0; i < nsides; i++) {
        rounds[i] = calibrate(opts, &sides[i]);
        sides[i].rate = 0;
    }
    for (int rep = 0; rep < opts->reps; rep++) {
        for (int i = 0; i < nsides; i++) {
            double t0 = bench_now();
            uint64_t items = sides[i].fn(sides[i].ctx, rounds[i]);
            double dt = bench_now() - t0;
            double rate = (double)items / (dt > 0 ? dt : 1e-9);
            if (rate > sides[i].rate)
                sides[i].rate = rate;
        }
    }
}

/* ---- allocation counting --------------------------------------------- */

/* hiredis 0.14 calls malloc() directly, so the program replaces the C
 * library's entry points with counting ones that forward to glibc's own
 * (__libc_malloc is what malloc is an alias of). Not with sanitizers,
 * which replace malloc themselves. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BENCH_NO_INTERPOSE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define BENCH_NO_INTERPOSE 1
#endif
#endif

static bool counting;
static uint64_t counted;

#ifndef BENCH_NO_INTERPOSE
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);

void *malloc(size_t size) {
    if (counting)
        counted++;
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    if (counting)
        counted++;
    return __libc_calloc(count, size);
}

void *realloc(void *ptr, size_t size) {
    if (counting)
        counted++;
    return __libc_realloc(ptr, size);
}

void free(void *ptr) {
    __libc_free(ptr);
}
#endif

void bench_alloc_start(void) {
    counted = 0;
    counting = true;
}

uint64_t bench_alloc_stop(void) {
    counting = false;
#ifdef BENCH_NO_INTERPOSE
    return UINT64_MAX;
#else
    return counted;
#endif
}

/* rediskit's allocator table: counts, then calls the (replaced) C library
 * functions, so that a rediskit run is counted twice, by both means, and
 * the two counts can be checked against each other. */
static uint64_t rk_counted;

static void *rk_count_malloc(size_t size) {
    rk_counted++;
    return malloc(size);
}

static void *rk_count_calloc(size_t count, size_t size) {
    rk_counted++;
    return calloc(count, size);
}

static void *rk_count_realloc(void *ptr, size_t size) {
    rk_counted++;
    return realloc(ptr, size);
}

uint64_t bench_rk_allocs(void) {
    return rk_counted;
}

/* ---- callgrind ------------------------------------------------------- */

bool bench_callgrind_available(void) {
    const char *path = getenv("PATH");
    if (path == NULL)
        return false;
    char dir[4096];
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && n < sizeof(dir) - 16) {
            memcpy(dir, path, n);
            strcpy(dir + n, "/valgrind");
            if (access(dir, X_OK) == 0)
                return true;
        }
        path += n + (path[n] == ':');
    }
    return false;
}

void __attribute__((noinline)) bench_cg_region(void (*fn)(void *arg), void *arg) {
    fn(arg);
    __asm__ volatile("" ::: "memory"); /* keep the call from being a tail call */
}

/* Reads everything fd gives into a growing string. */
static char *slurp(int fd) {
    size_t len = 0, cap = 4096;
    char *s = malloc(cap);
    for (;;) {
        if (s == NULL)
            return NULL;
        ssize_t n = read(fd, s + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (cap - len < 2) {
            char *ns = realloc(s, cap * 2);
            if (ns == NULL)
                free(s);
            s = ns;
            cap *= 2;
        }
    }
    s[len] = '\0';
    return s;
}

int bench_callgrind(const char *group, const char *const *args, uint64_t *instr) {
    /* The path itself: valgrind would read /proc/self/exe as its own. */
    char self[4096];
    ssize_t n_self = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n_self <= 0) {
        fprintf(stderr, "rk-bench-compare: readlink /proc/self/exe: %s\n", strerror(errno));
        return -1;
    }
    self[n_self] = '\0';
    const char *argv[32] = {"valgrind",
                            "--tool=callgrind",
                            "--callgrind-out-file=/dev/null",
                            "--toggle-collect=bench_cg_region",
                            self,
                            "--child",
                            group};
    int argc = 7;
    for (; *args && argc < 31; args++)
        argv[argc++] = *args;
    argv[argc] = NULL;

    int fds[2];
    if (pipe(fds) != 0) {
        fprintf(stderr, "rk-bench-compare: pipe: %s\n", strerror(errno));
        return -1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "rk-bench-compare: fork: %s\n", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execvp("valgrind", (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    char *out = slurp(fds[0]);
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    const char *at = out ? strstr(out, "Collected :") : NULL;
    unsigned long long n;
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && at &&
             sscanf(at, "Collected : %llu", &n) == 1;
    if (!ok) {
        fprintf(stderr, "rk-bench-compare: callgrind run failed:\n%s\n", out ? out : "");
        free(out);
        return -1;
    }
    *instr = n;
    free(out);
    return 0;
}

/* ---- output ---------------------------------------------------------- */

static struct {
    char name[48];
    double value;
} ratios[MAX_RATIOS];
static int nratios;
static char missed[2048];
static int targets; /* rows that had a target */

void bench_note(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("  ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* Whether the current group has printed the column heading yet. */
static bool heading_done;

static void print_heading(void) {
    printf("\n  %-26s %13s %13s %8s %7s   %s\n", "workload", "rediskit", "hiredis", "ratio",
           "target", "allocs/item rk | hi");
    heading_done = true;
}

/* "12.3 M/s" in a field of 13. */
static void print_rate(double rate) {
    if (rate <= 0) {
        printf(" %13s", "-");
        return;
    }
    const char *unit = "";
    if (rate >= 1e9)
        rate /= 1e9, unit = "G";
    else if (rate >= 1e6)
        rate /= 1e6, unit = "M";
    else if (rate >= 1e3)
        rate /= 1e3, unit = "k";
    printf(" %9.2f %s/s", rate, unit[0] ? unit : " ");
}

static void print_allocs(double allocs) {
    if (allocs < 0)
        printf("%7s", "-");
    else
        printf("%7.3f", allocs);
}

static void record_miss(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void record_miss(const char *fmt, ...) {
    size_t used = strlen(missed);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(missed + used, sizeof(missed) - used, fmt, ap);
    va_end(ap);
}

void bench_table_row(const bench_row *r) {
    if (!heading_done)
        print_heading();
    double ratio = r->hi_rate > 0 ? r->rk_rate / r->hi_rate : 0;
    bool ratio_ok = r->target_ratio <= 0 || ratio >= r->target_ratio;
    /* Allocations that could not be counted (a sanitizer build) are no miss. */
    bool allocs_ok = r->target_allocs < 0 || r->rk_allocs < 0 || r->rk_allocs <= r->target_allocs;
    printf("  %-26s", r->name);
    print_rate(r->rk_rate);
    print_rate(r->hi_rate);
    if (r->hi_rate > 0)
        printf(" %7.2fx", ratio);
    else
        printf(" %8s", "-");
    if (r->target_ratio > 0 || r->target_allocs >= 0)
        printf(" %7s   ", ratio_ok && allocs_ok ? "ok" : "MISSED");
    else
        printf(" %7s   ", "");
    print_allocs(r->rk_allocs);
    printf(" | ");
    print_allocs(r->hi_allocs);
    printf("  %s\n", r->unit);
    if (r->note)
        printf("  %-26s %s\n", "", r->note);
    fflush(stdout);

    if (r->target_ratio > 0 || r->target_allocs >= 0)
        targets++;
    if (!ratio_ok)
        record_miss("  %s: ratio %.2f, target >= %.1f\n", r->name, ratio, r->target_ratio);
    if (!allocs_ok)
        record_miss("  %s: rediskit %.3f allocations per item, target <= %.0f\n", r->name,
                    r->rk_allocs, r->target_allocs);
    if (r->ratio && r->hi_rate > 0 && nratios < MAX_RATIOS) {
        snprintf(ratios[nratios].name, sizeof(ratios[nratios].name), "%s", r->name);
        ratios[nratios++].value = ratio;
    }
}

/* ---- main ------------------------------------------------------------ */

static int compare_groups(const void *a, const void *b) {
    const bench_group *ga = *(const bench_group *const *)a;
    const bench_group *gb = *(const bench_group *const *)b;
    return (ga->order > gb->order) - (ga->order < gb->order);
}

static void usage(FILE *to) {
    fprintf(to, "usage: rk-bench-compare [options]\n"
                "  --quick          short runs (CI smoke test); no callgrind\n"
                "  --only NAME      run one group or one workload (see --list)\n"
                "  --callgrind      instruction counts per reply under valgrind\n"
                "                   (the default when valgrind is on the PATH)\n"
                "  --no-callgrind   skip them\n"
                "  --callgrind-all  instruction counts for every workload\n"
                "  --reps N         interleaved repetitions per side (default 7)\n"
                "  --time SECONDS   length of one repetition (default 0.15)\n"
                "  --chunk BYTES    most bytes one modelled read(2) gives (default 16384)\n"
                "  --list           list groups and workloads\n"
                "Groups that need a server read REDIS_URL (redis://host:port).\n");
}

static void list_groups(void) {
    for (int i = 0; i < ngroups; i++) {
        printf("%s%s:", groups[i]->name, groups[i]->needs_server ? " (needs REDIS_URL)" : "");
        for (const char *const *w = groups[i]->workloads; w && *w; w++)
            printf(" %s", *w);
        printf("\n");
    }
}

static bool name_known(const char *name) {
    for (int i = 0; i < ngroups; i++) {
        if (strcmp(groups[i]->name, name) == 0)
            return true;
        for (const char *const *w = groups[i]->workloads; w && *w; w++)
            if (strcmp(*w, name) == 0)
                return true;
    }
    return false;
}

static bool group_selected(const bench_opts *opts, const bench_group *g) {
    if (opts->only == NULL || strcmp(opts->only, g->name) == 0)
        return true;
    for (const char *const *w = g->workloads; w && *w; w++)
        if (strcmp(*w, opts->only) == 0)
            return true;
    return false;
}

static int run_child(int argc, char **argv) {
    for (int i = 0; i < ngroups; i++)
        if (strcmp(groups[i]->name, argv[0]) == 0 && groups[i]->child)
            return groups[i]->child(argc - 1, argv + 1);
    fprintf(stderr, "rk-bench-compare: no child mode for group %s\n", argv[0]);
    return 2;
}

/* Parses the command line into opts; returns -1 to exit with status 2,
 * 1 to exit with 0 (--help, --list), 0 to go on. */
static int parse_args(int argc, char **argv, bench_opts *opts) {
    int cg = -1; /* -1: default */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            opts->quick = true;
        } else if (strcmp(a, "--callgrind") == 0) {
            cg = 1;
        } else if (strcmp(a, "--no-callgrind") == 0) {
            cg = 0;
        } else if (strcmp(a, "--callgrind-all") == 0) {
            cg = 1;
            opts->cg_all = true;
        } else if (strcmp(a, "--list") == 0) {
            list_groups();
            return 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (val && strcmp(a, "--only") == 0) {
            opts->only = val, i++;
        } else if (val && strcmp(a, "--reps") == 0 && atoi(val) > 0) {
            opts->reps = atoi(val), i++;
        } else if (val && strcmp(a, "--time") == 0 && atof(val) > 0) {
            opts->rep_time = atof(val), i++;
        } else if (val && strcmp(a, "--chunk") == 0 && atol(val) > 0) {
            opts->chunk = (size_t)atol(val), i++;
        } else {
            fprintf(stderr, "rk-bench-compare: bad option %s\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (opts->only && !name_known(opts->only)) {
        fprintf(stderr, "rk-bench-compare: no group or workload named %s (see --list)\n",
                opts->only);
        return -1;
    }
    if (opts->quick) {
        opts->reps = opts->reps ? opts->reps : 1;
        opts->rep_time = opts->rep_time > 0 ? opts->rep_time : 0.02;
    }
    opts->reps = opts->reps ? opts->reps : 7;
    opts->rep_time = opts->rep_time > 0 ? opts->rep_time : 0.15;
    opts->chunk = opts->chunk ? opts->chunk : 16384;
    bool have_valgrind = bench_callgrind_available();
    if (cg == 1 && !have_valgrind) {
        printf("note: --callgrind asked for, but valgrind is not on the PATH: skipped\n");
    }
    opts->callgrind = have_valgrind && (cg == 1 || (cg == -1 && !opts->quick));
    return 0;
}

int main(int argc, char **argv) {
    static const rk_allocator counting_alloc = {rk_count_malloc, rk_count_calloc, rk_count_realloc,
                                                free};
    rk_set_allocator(&counting_alloc);
    qsort(groups, (size_t)ngroups, sizeof(groups[0]), compare_groups);
    if (argc >= 3 && strcmp(argv[1], "--child") == 0)
        return run_child(argc - 2, argv + 2);

    bench_opts opts = {0};
    int rc = parse_args(argc, argv, &opts);
    if (rc != 0)
        return rc < 0 ? 2 : 0;

    printf("rk-bench-compare: rediskit against hiredis, side by side in one process\n");
    printf("rates: best of %d interleaved runs of ~%.2f s per side; ratio = rediskit / "
           "hiredis\n",
           opts.reps, opts.rep_time);
    printf("allocs/item: malloc + calloc + realloc calls per reply (or command)\n");

    int status = 0;
    const char *url = getenv("REDIS_URL");
    for (int i = 0; i < ngroups; i++) {
        const bench_group *g = groups[i];
        if (!group_selected(&opts, g))
            continue;
        printf("\n== %s\n", g->title);
        heading_done = false;
        if (g->needs_server && (url == NULL || *url == '\0')) {
            printf("\n  skipped: needs a server; set REDIS_URL=redis://host:port "
                   "(make bench starts one)\n");
            continue;
        }
        if (g->run(&opts, url) != 0)
            status = 1;
    }

    printf("\n");
    if (missed[0])
        printf("targets missed:\n%s\n", missed);
    else if (targets > 0)
        printf("all targets met\n\n");
    for (int i = 0; i < nratios; i++)
        printf("RATIO %s %.2f\n", ratios[i].name, ratios[i].value);
    return status;
}
