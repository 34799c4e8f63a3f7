/* Commands that are safe to send again: they change nothing, so a retry
 * after a lost reply cannot run them twice to any effect.
 *
 * The list is the Redis 7.0 commands flagged "readonly" (and not "write")
 * in COMMAND INFO, plus server commands that only read (PING, INFO...).
 * Subcommands are "container|sub", as COMMAND INFO names them. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commands/safe.h"

static const char *const safe_commands[] = {
    "acl|cat",
    "acl|getuser",
    "acl|list",
    "acl|users",
    "acl|whoami",
    "bitcount",
    "bitfield_ro",
    "bitpos",
    "client|getname",
    "client|id",
    "client|info",
    "client|list",
    "cluster|countkeysinslot",
    "cluster|getkeysinslot",
    "cluster|info",
    "cluster|keyslot",
    "cluster|myid",
    "cluster|nodes",
    "cluster|shards",
    "cluster|slots",
    "command",
    "command|count",
    "command|docs",
    "command|getkeys",
    "command|info",
    "command|list",
    "config|get",
    "dbsize",
    "dump",
    "echo",
    "eval_ro",
    "evalsha_ro",
    "exists",
    "expiretime",
    "fcall_ro",
    "function|dump",
    "function|list",
    "function|stats",
    "geodist",
    "geohash",
    "geopos",
    "georadius_ro",
    "georadiusbymember_ro",
    "geosearch",
    "get",
    "getbit",
    "getrange",
    "hexists",
    "hget",
    "hgetall",
    "hkeys",
    "hlen",
    "hmget",
    "hrandfield",
    "hscan",
    "hstrlen",
    "hvals",
    "info",
    "keys",
    "lastsave",
    "latency|history",
    "latency|latest",
    "lcs",
    "lindex",
    "llen",
    "lolwut",
    "lpos",
    "lrange",
    "memory|doctor",
    "memory|stats",
    "memory|usage",
    "mget",
    "module|list",
    "object|encoding",
    "object|freq",
    "object|idletime",
    "object|refcount",
    "pexpiretime",
    "pfcount",
    "ping",
    "pttl",
    "pubsub|channels",
    "pubsub|numpat",
    "pubsub|numsub",
    "pubsub|shardchannels",
    "pubsub|shardnumsub",
    "randomkey",
    "role",
    "scan",
    "scard",
    "script|exists",
    "sdiff",
    "sinter",
    "sintercard",
    "sismember",
    "slowlog|get",
    "slowlog|len",
    "smembers",
    "smismember",
    "sort_ro",
    "srandmember",
    "sscan",
    "strlen",
    "substr",
    "sunion",
    "time",
    "touch",
    "ttl",
    "type",
    "xinfo|consumers",
    "xinfo|groups",
    "xinfo|stream",
    "xlen",
    "xpending",
    "xrange",
    "xread",
    "xrevrange",
    "zcard",
    "zcount",
    "zdiff",
    "zinter",
    "zintercard",
    "zlexcount",
    "zmscore",
    "zrandmember",
    "zrange",
    "zrangebylex",
    "zrangebyscore",
    "zrank",
    "zrevrange",
    "zrevrangebylex",
    "zrevrangebyscore",
    "zrevrank",
    "zscan",
    "zscore",
    "zunion",
};

static int compare(const void *key, const void *elem) {
    return strcmp(key, *(const char *const *)elem);
}

/* Lower-cases argv[i] into dst (size n); false if it does not fit. */
static bool lower(char *dst, size_t n, const char *s, size_t len) {
    if (len >= n)
        return false;
    for (size_t i = 0; i < len; i++)
        dst[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    dst[len] = '\0';
    return true;
}

static bool lookup(const char *name) {
    return bsearch(name, safe_commands, sizeof(safe_commands) / sizeof(safe_commands[0]),
                   sizeof(safe_commands[0]), compare) != NULL;
}

bool rk_command_is_safe(int argc, const char *const *argv, const size_t *argvlen) {
    char name[64];
    if (argc < 1 || !lower(name, sizeof(name), argv[0], argvlen ? argvlen[0] : strlen(argv[0])))
        return false;
    if (lookup(name))
        return true;
    size_t n = strlen(name);
    if (argc < 2 || n + 1 >= sizeof(name))
        return false;
    name[n] = '|';
    if (!lower(name + n + 1, sizeof(name) - n - 1, argv[1], argvlen ? argvlen[1] : strlen(argv[1])))
        return false;
    return lookup(name);
}

bool rk_format_is_safe(const char *fmt) {
    char words[2][64];
    const char *argv[2];
    int argc = 0;
    const char *p = fmt;
    while (argc < 2) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " %");
        if (n == 0 || n >= sizeof(words[0]) || p[n] == '%')
            break;
        memcpy(words[argc], p, n);
        words[argc][n] = '\0';
        argv[argc] = words[argc];
        argc++;
        p += n;
    }
    return argc > 0 && rk_command_is_safe(argc, argv, NULL);
}
