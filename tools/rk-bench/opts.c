/* rk-bench: the command line.
 *
 * The options are redis-benchmark's where it has them (-h -p -s -a --user
 * --dbnum -c -n -d -r -P -q --csv -l -e -t --threads and the TLS ones),
 * plus -u URL, --json and --resp3. Anything after the options is a command
 * to time instead of the built-in tests. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "rediskit/alloc.h"
#include "rediskit/error.h"
#include "rediskit/version.h"

#include "rediskit/options.h"

static const char usage_text[] =
    "Usage: rk-bench [options] [command [arg...]]\n"
    "\n"
    "A load generator for Redis built on rediskit, in the spirit of redis-benchmark.\n"
    "\n"
    "Connection:\n"
    " -h <host>          Server host (default 127.0.0.1)\n"
    " -p <port>          Server port (default 6379)\n"
    " -s <socket>        Unix socket (overrides host and port)\n"
    " -u <url>           redis://[user:pass@]host[:port][/db], rediss://..., unix:///path\n"
    " -a <password>      Password\n"
    " --user <name>      ACL user (with -a)\n"
    " --dbnum <db>       SELECT this database (default 0)\n"
    " --resp3            Speak RESP3 (default RESP2, as redis-benchmark)\n"
    " --tls              Use TLS\n"
    " --sni <host>       Server name for SNI and the certificate check\n"
    " --cacert <file>    CA certificate file to verify with\n"
    " --cacertdir <dir>  Directory of trusted CA certificates\n"
    " --insecure         Do not verify the server's certificate\n"
    " --cert <file>      Client certificate\n"
    " --key <file>       Client private key\n"
    "\n"
    "Load:\n"
    " -c <clients>       Parallel connections (default 50)\n"
    " -n <requests>      Requests per test (default 100000)\n"
    " -P <numreq>        Pipeline <numreq> requests per connection (default 1)\n"
    " -d <size>          Value size of SET/GET and friends in bytes (default 3)\n"
    " -r <keyspacelen>   Random keys: replace __rand_int__ in arguments with a\n"
    "                    12-digit number in [0, keyspacelen), new for every command\n"
    " -t <tests>         Comma-separated tests: ping, set, get, incr, lpush, rpush,\n"
    "                    lpop, rpop, sadd, hset, spop, zadd, zpopmin, lrange,\n"
    "                    lrange_100, lrange_300, lrange_500, lrange_600, mset\n"
    " --threads <n>      Threads, each running an event loop over a share of the\n"
    "                    connections (default 1)\n"
    " -l                 Loop: run the tests forever\n"
    "\n"
    "Output:\n"
    " -q                 Quiet: one line per test\n"
    " --csv              CSV: a header and one row per test\n"
    " --json             One JSON document with every test\n"
    " -e                 Print server error replies (at most one a second)\n"
    " --help             This help\n"
    " --version          The version\n"
    "\n"
    "Examples:\n"
    "  rk-bench -t set,get -n 200000 -c 50 -P 16 --threads 2 -q\n"
    "  rk-bench -u redis://:secret@10.0.0.5:6380/2 -t ping --json\n"
    "  rk-bench -r 10000 -n 10000 lpush mylist __rand_int__\n";

static void config_defaults(rkb_config *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->conn.protocol = 2;
    cfg->clients = 50;
    cfg->requests = 100000;
    cfg->pipeline = 1;
    cfg->datasize = 3;
    cfg->threads = 1;
    cfg->format = RKB_TEXT;
}

void rkb_config_free(rkb_config *cfg) {
    rk_free(cfg->url_storage);
    cfg->url_storage = NULL;
}

/* Reads a whole decimal number in [min, max]; false after saying why. */
static bool parse_long(const char *opt, const char *s, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "rk-bench: %s wants a number from %ld to %ld, not \"%s\"\n", opt, min, max,
                s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_int(const char *opt, const char *s, long min, long max, int *out) {
    long v;
    if (!parse_long(opt, s, min, max, &v))
        return false;
    *out = (int)v;
    return true;
}

static bool parse_url(rkb_config *cfg, const char *url) {
    rk_free(cfg->url_storage);
    cfg->url_storage = NULL;
    if (rk_options_from_url(url, &cfg->conn, &cfg->url_storage) == RK_OK)
        return true;
    fprintf(stderr, "rk-bench: bad URL: %s\n", rk_error_last()->message);
    return false;
}

/* Options that take no value. Returns false when opt is not one. */
static bool flag_option(rkb_config *cfg, const char *opt) {
    if (strcmp(opt, "-q") == 0)
        cfg->format = RKB_QUIET;
    else if (strcmp(opt, "--csv") == 0)
        cfg->format = RKB_CSV;
    else if (strcmp(opt, "--json") == 0)
        cfg->format = RKB_JSON;
    else if (strcmp(opt, "-l") == 0)
        cfg->loop = true;
    else if (strcmp(opt, "-e") == 0)
        cfg->show_errors = true;
    else if (strcmp(opt, "--resp3") == 0)
        cfg->conn.protocol = 3;
    else if (strcmp(opt, "--tls") == 0)
        cfg->conn.tls.enabled = true;
    else if (strcmp(opt, "--insecure") == 0)
        cfg->conn.tls.insecure = true;
    else
        return false;
    return true;
}

/* Options naming where and how to connect. 1 taken, 0 not one, -1 bad. */
static int conn_option(rkb_config *cfg, const char *opt, char *val) {
    rk_options *o = &cfg->conn;
    if (strcmp(opt, "-h") == 0)
        o->host = val;
    else if (strcmp(opt, "-p") == 0)
        return parse_int(opt, val, 1, 65535, &o->port) ? 1 : -1;
    else if (strcmp(opt, "-s") == 0)
        o->unix_path = val;
    else if (strcmp(opt, "-u") == 0)
        return parse_url(cfg, val) ? 1 : -1;
    else if (strcmp(opt, "-a") == 0)
        o->password = val;
    else if (strcmp(opt, "--user") == 0)
        o->username = val;
    else if (strcmp(opt, "--dbnum") == 0)
        return parse_int(opt, val, 0, INT_MAX, &o->db) ? 1 : -1;
    else
        return 0;
    return 1;
}

/* TLS options with a value. 1 taken, 0 not one. */
static int tls_option(rkb_config *cfg, const char *opt, char *val) {
    rk_tls_options *t = &cfg->conn.tls;
    if (strcmp(opt, "--sni") == 0)
        t->server_name = val;
    else if (strcmp(opt, "--cacert") == 0)
        t->ca_file = val;
    else if (strcmp(opt, "--cacertdir") == 0)
        t->ca_dir = val;
    else if (strcmp(opt, "--cert") == 0)
        t->cert_file = val;
    else if (strcmp(opt, "--key") == 0)
        t->key_file = val;
    else
        return 0;
    return 1;
}

/* Options shaping the load. 1 taken, 0 not one, -1 bad. */
static int load_option(rkb_config *cfg, const char *opt, char *val) {
    bool ok;
    if (strcmp(opt, "-c") == 0)
        ok = parse_int(opt, val, 1, 100000, &cfg->clients);
    else if (strcmp(opt, "-n") == 0)
        ok = parse_long(opt, val, 1, LONG_MAX / 2, &cfg->requests);
    else if (strcmp(opt, "-P") == 0)
        ok = parse_int(opt, val, 1, 1000000, &cfg->pipeline);
    else if (strcmp(opt, "-d") == 0)
        ok = parse_int(opt, val, 1, 1 << 30, &cfg->datasize);
    else if (strcmp(opt, "-r") == 0)
        ok = cfg->randomkeys = parse_long(opt, val, 0, LONG_MAX, &cfg->keyspace);
    else if (strcmp(opt, "--threads") == 0)
        ok = parse_int(opt, val, 0, 500, &cfg->threads);
    else if (strcmp(opt, "-t") == 0)
        ok = (cfg->tests = val) != NULL;
    else
        return 0;
    return ok ? 1 : -1;
}

/* Checks the options against each other once all are read. */
static int settle(rkb_config *cfg) {
    if (cfg->threads < 1)
        cfg->threads = 1;
    if (cfg->threads > cfg->clients)
        cfg->threads = cfg->clients;
    if (cfg->loop && cfg->format == RKB_JSON) {
        fprintf(stderr, "rk-bench: -l and --json do not go together (the document never ends)\n");
        return RKB_EXIT_USAGE;
    }
    cfg->progress = isatty(STDOUT_FILENO) && (cfg->format == RKB_TEXT || cfg->format == RKB_QUIET);
    return -1;
}

static int usage_error(const char *what, const char *opt) {
    fprintf(stderr, "rk-bench: %s \"%s\" (see rk-bench --help)\n", what, opt);
    return RKB_EXIT_USAGE;
}

int rkb_parse_args(rkb_config *cfg, int argc, char **argv) {
    config_defaults(cfg);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0) {
            fputs(usage_text, stdout);
            return RKB_EXIT_OK;
        }
        if (strcmp(opt, "--version") == 0 || strcmp(opt, "-v") == 0) {
            printf("rk-bench %s (rediskit)\n", RK_VERSION_STRING);
            return RKB_EXIT_OK;
        }
        if (flag_option(cfg, opt))
            continue;
        if (i + 1 >= argc)
            return usage_error("unknown option or missing value:", opt);
        char *val = argv[i + 1];
        int taken = conn_option(cfg, opt, val);
        if (taken == 0)
            taken = tls_option(cfg, opt, val);
        if (taken == 0)
            taken = load_option(cfg, opt, val);
        if (taken < 0)
            return RKB_EXIT_USAGE;
        if (taken == 0)
            return usage_error("unknown option", opt);
        i++;
    }
    cfg->custom_argc = argc - i;
    cfg->custom_argv = argv + i;
    return settle(cfg);
}
