/* What the groups that talk to a server share: CPU time of the calling
 * thread and of children, and running redis-benchmark, the server's own
 * load tool, to read its rates. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#include "bench.h"

static double seconds(const struct rusage *u) {
    return (double)(u->ru_utime.tv_sec + u->ru_stime.tv_sec) +
           (double)(u->ru_utime.tv_usec + u->ru_stime.tv_usec) * 1e-6;
}

double bench_thread_cpu(void) {
    struct rusage u;
    getrusage(RUSAGE_THREAD, &u);
    return seconds(&u);
}

static double children_cpu(void) {
    struct rusage u;
    getrusage(RUSAGE_CHILDREN, &u);
    return seconds(&u);
}

double bench_mixed_rate(double set, double get) {
    return 2 / (1 / set + 1 / get);
}

/* The rate after the last "NAME: " that is followed by "<rate> requests
 * per second" (redis-benchmark -q overwrites progress lines with \r). */
static double rb_rate(const char *out, const char *name) {
    char pat[32];
    snprintf(pat, sizeof(pat), "%s: ", name);
    double rate = 0;
    for (const char *p = strstr(out, pat); p; p = strstr(p + 1, pat)) {
        char *end;
        double v = strtod(p + strlen(pat), &end);
        if (strncmp(end, " requests per second", 20) == 0)
            rate = v;
    }
    return rate;
}

int bench_redis_benchmark(const char *host, int port, uint64_t n, const char *extra,
                          bench_rb_result *res) {
    char cmd[512], out[8192];
    snprintf(cmd, sizeof(cmd),
             "redis-benchmark -h %s -p %d -q -c 1 -t set,get -n %" PRIu64 " %s 2>&1", host, port, n,
             extra);
    fflush(stdout);
    double c0 = children_cpu();
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        return -1;
    size_t len = fread(out, 1, sizeof(out) - 1, f);
    while (fread(cmd, 1, sizeof(cmd), f) > 0) /* the rest, unread */
        ;
    int status = pclose(f);
    out[len] = '\0';
    res->cpu = children_cpu() - c0;
    res->set = rb_rate(out, "SET");
    res->get = rb_rate(out, "GET");
    if (status != 0 || res->set <= 0 || res->get <= 0) {
        printf("  redis-benchmark failed (status %d):\n%s\n", status, out);
        return -1;
    }
    return 0;
}
