/* rk-bench: the tests, as redis-benchmark 7.0 defines them.
 *
 * Each test is a command line written as words: "$D" stands for the value
 * (-d bytes of printable data), "$S" for the ZADD score (__rand_int__ with
 * -r, else 0). A test runs when -t names one of its selectors; LRANGE
 * tests are preceded by the LPUSH that fills the list they read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct test_def {
    const char *selectors; /* ",name,alias," as -t may say it */
    const char *title;
    const char *words; /* the command; see the file comment */
} test_def;

#define MSET_PAIR " key:" RKB_RAND " $D"

static const test_def tests[] = {
    {",ping,ping_mbulk,", "PING_MBULK", "PING"},
    {",set,", "SET", "SET key:" RKB_RAND " $D"},
    {",get,", "GET", "GET key:" RKB_RAND},
    {",incr,", "INCR", "INCR counter:" RKB_RAND},
    {",lpush,", "LPUSH", "LPUSH mylist $D"},
    {",rpush,", "RPUSH", "RPUSH mylist $D"},
    {",lpop,", "LPOP", "LPOP mylist"},
    {",rpop,", "RPOP", "RPOP mylist"},
    {",sadd,", "SADD", "SADD myset element:" RKB_RAND},
    {",hset,", "HSET", "HSET myhash element:" RKB_RAND " $D"},
    {",spop,", "SPOP", "SPOP myset"},
    {",zadd,", "ZADD", "ZADD myzset $S element:" RKB_RAND},
    {",zpopmin,", "ZPOPMIN", "ZPOPMIN myzset"},
    {",lrange,lrange_100,lrange_300,lrange_500,lrange_600,", "LPUSH (needed to benchmark LRANGE)",
     "LPUSH mylist $D"},
    {",lrange,lrange_100,", "LRANGE_100 (first 100 elements)", "LRANGE mylist 0 99"},
    {",lrange,lrange_300,", "LRANGE_300 (first 300 elements)", "LRANGE mylist 0 299"},
    {",lrange,lrange_500,", "LRANGE_500 (first 500 elements)", "LRANGE mylist 0 499"},
    {",lrange,lrange_600,", "LRANGE_600 (first 600 elements)", "LRANGE mylist 0 599"},
    {",mset,", "MSET (10 keys)",
     "MSET" MSET_PAIR MSET_PAIR MSET_PAIR MSET_PAIR MSET_PAIR MSET_PAIR MSET_PAIR MSET_PAIR
         MSET_PAIR MSET_PAIR},
};

#define NTESTS (sizeof(tests) / sizeof(tests[0]))

/* True when selectors (",a,b,") holds name (of len bytes). */
static bool has_selector(const char *selectors, const char *name, size_t len) {
    for (const char *p = strstr(selectors, ","); p; p = strstr(p + 1, ",")) {
        if (strncmp(p + 1, name, len) == 0 && p[1 + len] == ',')
            return true;
    }
    return false;
}

/* Calls fn on each lower-cased name of a comma list; stops at false. */
static bool each_name(const char *list, bool (*fn)(const char *, size_t, void *), void *arg) {
    char name[64];
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len > 0 && len < sizeof(name)) {
            for (size_t i = 0; i < len; i++)
                name[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] - 'A' + 'a' : p[i]);
            name[len] = '\0';
            if (!fn(name, len, arg))
                return false;
        } else if (len >= sizeof(name)) {
            fprintf(stderr, "rk-bench: unknown test \"%.*s\"\n", (int)len, p);
            return false;
        }
        p += len + (p[len] == ',');
    }
    return true;
}

static bool name_known(const char *name, size_t len, void *arg) {
    (void)arg;
    for (size_t i = 0; i < NTESTS; i++) {
        if (has_selector(tests[i].selectors, name, len))
            return true;
    }
    fprintf(stderr, "rk-bench: unknown test \"%s\" (see rk-bench --help)\n", name);
    return false;
}

/* each_name callback: stops (false) at the first name the test takes. */
static bool name_misses(const char *name, size_t len, void *arg) {
    return !has_selector(((const test_def *)arg)->selectors, name, len);
}

static bool selected(const rkb_config *cfg, const test_def *t) {
    return cfg->tests == NULL || !each_name(cfg->tests, name_misses, (void *)t);
}

/* Records where RKB_RAND occurs in argument a. False when out of memory. */
static bool find_patches(rkb_cmd *c, int a) {
    const char *s = c->argv[a].ptr;
    for (const char *p = strstr(s, RKB_RAND); p; p = strstr(p + RKB_RAND_LEN, RKB_RAND)) {
        int *pa = realloc(c->patch_arg, sizeof(int) * (size_t)(c->npatch + 1));
        if (pa)
            c->patch_arg = pa;
        size_t *po = realloc(c->patch_off, sizeof(size_t) * (size_t)(c->npatch + 1));
        if (po)
            c->patch_off = po;
        if (!pa || !po) {
            fprintf(stderr, "rk-bench: out of memory\n");
            return false;
        }
        c->patch_arg[c->npatch] = a;
        c->patch_off[c->npatch++] = (size_t)(p - s);
    }
    return true;
}

/* Adds one argument (copied). False when out of memory. */
static bool add_arg(rkb_cmd *c, const char *s, size_t len) {
    rk_str *av = realloc(c->argv, sizeof(*av) * (size_t)(c->argc + 1));
    if (av)
        c->argv = av;
    char *copy = malloc(len + 1);
    if (!av || !copy) {
        free(copy);
        fprintf(stderr, "rk-bench: out of memory\n");
        return false;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    c->argv[c->argc++] = rk_bin(copy, len);
    return true;
}

/* Adds an argument, noting its placeholders when -r asks for them. Args of
 * 16 KiB or more are referenced by the connection until sent, so they
 * cannot be rewritten per command: refused. */
static bool add_word(rkb_cmd *c, const rkb_config *cfg, const char *s, size_t len) {
    if (!add_arg(c, s, len))
        return false;
    if (!cfg->randomkeys)
        return true;
    if (!find_patches(c, c->argc - 1))
        return false;
    if (c->npatch > 0 && len >= 16 * 1024) {
        fprintf(stderr, "rk-bench: an argument holding " RKB_RAND " must be under 16 KiB\n");
        return false;
    }
    return true;
}

/* Printable filler for values, as redis-benchmark makes it. */
static char *make_data(int size) {
    char *d = malloc((size_t)size + 1);
    if (!d)
        return NULL;
    uint32_t state = 1234;
    for (int i = 0; i < size; i++) {
        state = state * 1103515245u + 12345u;
        d[i] = (char)('0' + ((state >> 16) & 63));
    }
    d[size] = '\0';
    return d;
}

static bool build_def(rkb_cmd *c, const rkb_config *cfg, const test_def *t, const char *data) {
    memset(c, 0, sizeof(*c));
    if (!(c->title = strdup(t->title)))
        return false;
    for (const char *p = t->words; *p;) {
        size_t len = strcspn(p, " ");
        bool ok;
        if (len == 2 && memcmp(p, "$D", 2) == 0)
            ok = add_arg(c, data, (size_t)cfg->datasize);
        else if (len == 2 && memcmp(p, "$S", 2) == 0)
            ok = cfg->randomkeys ? add_word(c, cfg, RKB_RAND, RKB_RAND_LEN) : add_arg(c, "0", 1);
        else
            ok = add_word(c, cfg, p, len);
        if (!ok)
            return false;
        p += len + (p[len] == ' ');
    }
    return true;
}

/* The command given on the command line; its title is its words. */
static bool build_custom(rkb_cmd *c, const rkb_config *cfg) {
    memset(c, 0, sizeof(*c));
    size_t tlen = 1;
    for (int i = 0; i < cfg->custom_argc; i++)
        tlen += strlen(cfg->custom_argv[i]) + 1;
    if (!(c->title = calloc(1, tlen)))
        return false;
    for (int i = 0; i < cfg->custom_argc; i++) {
        const char *a = cfg->custom_argv[i];
        if (i > 0)
            strcat(c->title, " ");
        strcat(c->title, a);
        if (!add_word(c, cfg, a, strlen(a)))
            return false;
    }
    return true;
}

void rkb_cmds_free(rkb_cmd *cmds, int n) {
    for (int i = 0; cmds && i < n; i++) {
        for (int a = 0; a < cmds[i].argc; a++)
            free((char *)cmds[i].argv[a].ptr);
        free(cmds[i].argv);
        free(cmds[i].patch_arg);
        free(cmds[i].patch_off);
        free(cmds[i].title);
    }
    free(cmds);
}

static int build_failed(rkb_cmd *cmds, int n, char *data) {
    rkb_cmds_free(cmds, n);
    free(data);
    return -1;
}

int rkb_cmds_build(const rkb_config *cfg, rkb_cmd **out) {
    *out = NULL;
    if (cfg->custom_argc == 0 && cfg->tests && !each_name(cfg->tests, name_known, NULL))
        return -1;
    rkb_cmd *cmds = calloc(NTESTS, sizeof(*cmds));
    char *data = make_data(cfg->datasize);
    if (!cmds || !data) {
        fprintf(stderr, "rk-bench: out of memory\n");
        return build_failed(cmds, 0, data);
    }
    int n = 0;
    if (cfg->custom_argc > 0 && !build_custom(&cmds[n++], cfg))
        return build_failed(cmds, n, data);
    for (size_t i = 0; cfg->custom_argc == 0 && i < NTESTS; i++) {
        if (selected(cfg, &tests[i]) && !build_def(&cmds[n++], cfg, &tests[i], data))
            return build_failed(cmds, n, data);
    }
    free(data);
    if (n == 0) {
        fprintf(stderr, "rk-bench: no test selected\n");
        return build_failed(cmds, n, NULL);
    }
    *out = cmds;
    return n;
}
