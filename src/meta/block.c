/* The blocking commands and where their timeout is: a small table read by
 * name, and the timeout parsed from the argument it points at. The command
 * timeout of a call stretches by the result (conn.c), so that a BLPOP with
 * a 30 s timeout is not cut after the 5 s default, and one that waits for
 * ever is not cut at all. */
#include <limits.h>
#include <stdbool.h>

#include "meta/block.h"
#include "meta/meta.h"
#include "resp/resp_int.h"
#include "resp/writer_int.h"
#include "util/common.h"

/* Where a command's timeout is. */
enum where {
    LAST_SECONDS,  /* the last argument, in seconds */
    FIRST_SECONDS, /* argv[1], in seconds */
    LAST_MS,       /* the last argument, in milliseconds */
    BLOCK_FROM_1,  /* BLOCK ms, among the options from argv[1] */
    BLOCK_FROM_4,  /* the same from argv[4], after GROUP group consumer */
};

static const struct {
    const char *name; /* lower case */
    enum where where;
} blocking[] = {
    {"blpop", LAST_SECONDS},   {"brpop", LAST_SECONDS},    {"brpoplpush", LAST_SECONDS},
    {"blmove", LAST_SECONDS},  {"bzpopmin", LAST_SECONDS}, {"bzpopmax", LAST_SECONDS},
    {"blmpop", FIRST_SECONDS}, {"bzmpop", FIRST_SECONDS},  {"wait", LAST_MS},
    {"waitaof", LAST_MS},      {"xread", BLOCK_FROM_1},    {"xreadgroup", BLOCK_FROM_4},
};

/* Longest wait taken literally: longer counts as for ever (about 285
 * years; a deadline stays far from overflowing). */
#define LONGEST_MS ((long long)1 << 53)

static bool is(rk_str word, const char *name) {
    return word.ptr != NULL && rk_meta_name_is(word.ptr, word.len, NULL, 0, name);
}

/* A timeout in seconds, fractions allowed ("0.5"). */
static long long seconds(rk_str s) {
    double v;
    if (s.ptr == NULL || rk_parse_double(s.ptr, s.len, &v) != 0 || !(v >= 0))
        return 0;
    if (v == 0 || v * 1000 >= (double)LONGEST_MS)
        return -1;
    long long ms = (long long)(v * 1000);
    return (double)ms < v * 1000 ? ms + 1 : ms; /* rounded up: never cut short */
}

/* A timeout in milliseconds. */
static long long millis(rk_str s) {
    long long v;
    if (s.ptr == NULL || rk_parse_ll(s.ptr, s.len, &v) != 0 || v < 0)
        return 0;
    return v == 0 || v >= LONGEST_MS ? -1 : v;
}

/* XREAD / XREADGROUP: the BLOCK option before STREAMS, 0 without one. */
static long long block_option(const rk_str *argv, size_t argc, size_t from) {
    for (size_t i = from; i + 1 < argc && !is(argv[i], "streams"); i++) {
        if (is(argv[i], "block"))
            return millis(argv[i + 1]);
        if (is(argv[i], "count"))
            i++; /* its value */
    }
    return 0;
}

long long rk_meta_block_ms(const rk_str *argv, size_t argc) {
    if (argv == NULL || argc < 2)
        return 0;
    for (size_t i = 0; i < RK_ARRAY_LEN(blocking); i++) {
        if (!is(argv[0], blocking[i].name))
            continue;
        switch (blocking[i].where) {
        case LAST_SECONDS: return seconds(argv[argc - 1]);
        case FIRST_SECONDS: return seconds(argv[1]);
        case LAST_MS: return millis(argv[argc - 1]);
        case BLOCK_FROM_1: return block_option(argv, argc, 1);
        case BLOCK_FROM_4: return block_option(argv, argc, 4);
        }
    }
    return 0;
}

/* Whether a name of this first byte and length may be in the table. */
static bool may_block(unsigned char first, size_t len) {
    switch (first | 0x20) {
    case 'b': return len >= 5 && len <= 10;
    case 'x': return len == 5 || len == 10;
    case 'w': return len == 4 || len == 7;
    default: return false;
    }
}

RK_HOT long long rk_writer_last_block_ms(const rk_writer *w) {
    unsigned char first;
    size_t len;
    if (!rk_writer_last_name(w, &first, &len) || !may_block(first, len))
        return 0;
    rk_str few[16];
    int n = rk_writer_last_argv(w, few, (int)RK_ARRAY_LEN(few));
    if (n <= (int)RK_ARRAY_LEN(few))
        return rk_meta_block_ms(few, (size_t)n);
    rk_str *all = rk_malloc((size_t)n * sizeof(*all));
    if (all == NULL) /* cannot tell: better wait than cut a blocking call */
        return -1;
    rk_writer_last_argv(w, all, n);
    long long ms = rk_meta_block_ms(all, (size_t)n);
    rk_free(all);
    return ms;
}
