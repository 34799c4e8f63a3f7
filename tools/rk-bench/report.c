/* rk-bench: what the user sees.
 *
 * Text (a block per test, as redis-benchmark prints), quiet (one line per
 * test, redis-benchmark's exact shape, so scripts can read both tools the
 * same way), CSV (a header, then a row per test) and JSON (one document at
 * the end). Latencies are printed in milliseconds with 3 decimals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "rediskit/version.h"

/* One result reduced to numbers (milliseconds), kept for JSON. */
typedef struct summary {
    char *title;
    uint64_t requests, errors;
    double seconds, rps;
    double avg, min, p50, p90, p99, p999, max;
} summary;

static summary *kept;
static size_t nkept;
static int progress_width; /* characters of the progress line drawn */

int64_t rkb_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void rkb_describe_target(const rkb_config *cfg, char *buf, size_t size) {
    const rk_options *o = &cfg->conn;
    if (o->unix_path)
        snprintf(buf, size, "%s", o->unix_path);
    else
        snprintf(buf, size, "%s:%d", o->host ? o->host : RK_DEFAULT_HOST,
                 o->port ? o->port : RK_DEFAULT_PORT);
}

static double ms(uint64_t us) {
    return (double)us / 1000.0;
}

static summary summarize(const rkb_result *res) {
    const rkb_hist *h = res->hist;
    return (summary){
        .title = (char *)res->title,
        .requests = res->requests,
        .errors = res->errors,
        .seconds = res->seconds,
        .rps = res->rps,
        .avg = rkb_hist_mean(h) / 1000.0,
        .min = ms(h->count ? h->min : 0),
        .p50 = ms(rkb_hist_percentile(h, 50)),
        .p90 = ms(rkb_hist_percentile(h, 90)),
        .p99 = ms(rkb_hist_percentile(h, 99)),
        .p999 = ms(rkb_hist_percentile(h, 99.9)),
        .max = ms(h->max),
    };
}

/* ---- text -------------------------------------------------------------- */

static void print_distribution(const rkb_hist *h) {
    static const double points[] = {50, 75, 90, 95, 99, 99.9, 99.99, 100};
    printf("Latency by percentile distribution:\n");
    for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
        printf("%7.3f%% <= %.3f milliseconds\n", points[i], ms(rkb_hist_percentile(h, points[i])));
    printf("\n");
}

static void print_text(const rkb_config *cfg, const rkb_result *res, const summary *s) {
    printf("====== %s ======\n", s->title);
    printf("  %llu requests completed in %.3f seconds\n", (unsigned long long)s->requests,
           s->seconds);
    printf("  %d parallel clients\n  %d bytes payload\n", cfg->clients, cfg->datasize);
    printf("  pipeline: %d\n  threads: %d\n", cfg->pipeline, cfg->threads);
    if (s->errors)
        printf("  error replies: %llu\n", (unsigned long long)s->errors);
    printf("\n");
    print_distribution(res->hist);
    printf("Summary:\n  throughput summary: %.2f requests per second\n", s->rps);
    printf("  latency summary (msec):\n");
    printf("    %9s %9s %9s %9s %9s %9s %9s\n", "avg", "min", "p50", "p90", "p99", "p99.9", "max");
    printf("    %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n\n", s->avg, s->min, s->p50, s->p90,
           s->p99, s->p999, s->max);
}

static void print_quiet(const summary *s) {
    printf("%s: %.2f requests per second, p50=%.3f msec", s->title, s->rps, s->p50);
    if (s->errors)
        printf(", %llu error replies", (unsigned long long)s->errors);
    printf("\n");
}

/* ---- CSV --------------------------------------------------------------- */

/* A CSV field: quoted, inner quotes doubled. */
static void print_csv_text(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_csv(const summary *s) {
    print_csv_text(s->title);
    printf(",\"%.2f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%.3f\",\"%llu\","
           "\"%llu\"\n",
           s->rps, s->avg, s->min, s->p50, s->p90, s->p99, s->p999, s->max,
           (unsigned long long)s->requests, (unsigned long long)s->errors);
}

/* ---- JSON -------------------------------------------------------------- */

static void print_json_text(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_json_test(const summary *s, bool last) {
    printf("    {\"test\": ");
    print_json_text(s->title);
    printf(", \"requests\": %llu, \"errors\": %llu, \"seconds\": %.6f, \"rps\": %.2f,\n",
           (unsigned long long)s->requests, (unsigned long long)s->errors, s->seconds, s->rps);
    printf("     \"latency_ms\": {\"avg\": %.3f, \"min\": %.3f, \"p50\": %.3f, \"p90\": %.3f, "
           "\"p99\": %.3f, \"p99_9\": %.3f, \"max\": %.3f}}%s\n",
           s->avg, s->min, s->p50, s->p90, s->p99, s->p999, s->max, last ? "" : ",");
}

static void print_json(const rkb_config *cfg) {
    char target[300];
    rkb_describe_target(cfg, target, sizeof(target));
    printf("{\n  \"tool\": \"rk-bench\",\n  \"version\": \"%s\",\n  \"target\": ",
           RK_VERSION_STRING);
    print_json_text(target);
    printf(",\n  \"clients\": %d,\n  \"requests\": %ld,\n  \"pipeline\": %d,\n", cfg->clients,
           cfg->requests, cfg->pipeline);
    printf("  \"datasize\": %d,\n  \"keyspace\": ", cfg->datasize);
    if (cfg->randomkeys)
        printf("%ld", cfg->keyspace);
    else
        printf("null");
    printf(",\n  \"threads\": %d,\n  \"tls\": %s,\n  \"tests\": [\n", cfg->threads,
           cfg->conn.tls.enabled ? "true" : "false");
    for (size_t i = 0; i < nkept; i++)
        print_json_test(&kept[i], i + 1 == nkept);
    printf("  ]\n}\n");
}

static int keep(const summary *s) {
    summary *k = realloc(kept, (nkept + 1) * sizeof(*kept));
    if (!k)
        return -1;
    kept = k;
    kept[nkept] = *s;
    if (!(kept[nkept].title = strdup(s->title)))
        return -1;
    nkept++;
    return 0;
}

/* ---- entry points ------------------------------------------------------ */

void rkb_report_begin(const rkb_config *cfg) {
    if (cfg->format == RKB_CSV)
        printf("\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\","
               "\"p90_latency_ms\",\"p99_latency_ms\",\"p99_9_latency_ms\",\"max_latency_ms\","
               "\"requests\",\"errors\"\n");
}

int rkb_report_result(const rkb_config *cfg, const rkb_result *res) {
    summary s = summarize(res);
    switch (cfg->format) {
    case RKB_TEXT: print_text(cfg, res, &s); break;
    case RKB_QUIET: print_quiet(&s); break;
    case RKB_CSV: print_csv(&s); break;
    case RKB_JSON: return keep(&s);
    }
    fflush(stdout);
    return 0;
}

void rkb_report_end(const rkb_config *cfg) {
    if (cfg->format == RKB_JSON)
        print_json(cfg);
    for (size_t i = 0; i < nkept; i++)
        free(kept[i].title);
    free(kept);
    kept = NULL;
    nkept = 0;
    fflush(stdout);
}

void rkb_progress(const rkb_config *cfg, const char *title, uint64_t done, double seconds,
                  double rps_now) {
    if (!cfg->progress)
        return;
    int n =
        printf("%s: rps=%.1f (overall: %.1f) %llu/%ld requests\r", title, rps_now,
               seconds > 0 ? (double)done / seconds : 0.0, (unsigned long long)done, cfg->requests);
    if (n > progress_width)
        progress_width = n;
    fflush(stdout);
}

void rkb_progress_clear(const rkb_config *cfg) {
    if (!cfg->progress || progress_width == 0)
        return;
    printf("%*s\r", progress_width, "");
    progress_width = 0;
    fflush(stdout);
}
