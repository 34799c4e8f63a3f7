/* What the client must know of a command before sending it.
 *
 * Safe: it changes nothing, so a retry after a lost reply cannot run it
 * twice to any effect. These are the Redis 7.0 commands flagged "readonly"
 * (and not "write") in COMMAND INFO, plus server commands that only read
 * (PING, INFO...).
 * Stateful: it changes the state of the connection it runs on (MULTI,
 * WATCH, SELECT, SUBSCRIBE, AUTH...), which the next user of a pooled
 * connection would inherit.
 * Subcommands are "container|sub", as COMMAND INFO names them. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "commands/safe.h"

enum { CMD_SAFE = 1, CMD_STATEFUL = 2 };

typedef struct command_class {
    const char *name;
    unsigned flags;
} command_class;

/* Sorted by name (kept so for reading; the lookup is hashed). */
static const command_class commands[] = {
    {"acl|cat", CMD_SAFE},
    {"acl|getuser", CMD_SAFE},
    {"acl|list", CMD_SAFE},
    {"acl|users", CMD_SAFE},
    {"acl|whoami", CMD_SAFE},
    {"asking", CMD_STATEFUL},
    {"auth", CMD_STATEFUL},
    {"bitcount", CMD_SAFE},
    {"bitfield_ro", CMD_SAFE},
    {"bitpos", CMD_SAFE},
    {"client|caching", CMD_STATEFUL},
    {"client|getname", CMD_SAFE},
    {"client|id", CMD_SAFE},
    {"client|info", CMD_SAFE},
    {"client|list", CMD_SAFE},
    {"client|no-evict", CMD_STATEFUL},
    {"client|reply", CMD_STATEFUL},
    {"client|tracking", CMD_STATEFUL},
    {"cluster|countkeysinslot", CMD_SAFE},
    {"cluster|getkeysinslot", CMD_SAFE},
    {"cluster|info", CMD_SAFE},
    {"cluster|keyslot", CMD_SAFE},
    {"cluster|myid", CMD_SAFE},
    {"cluster|nodes", CMD_SAFE},
    {"cluster|shards", CMD_SAFE},
    {"cluster|slots", CMD_SAFE},
    {"command", CMD_SAFE},
    {"command|count", CMD_SAFE},
    {"command|docs", CMD_SAFE},
    {"command|getkeys", CMD_SAFE},
    {"command|info", CMD_SAFE},
    {"command|list", CMD_SAFE},
    {"config|get", CMD_SAFE},
    {"dbsize", CMD_SAFE},
    {"discard", CMD_STATEFUL},
    {"dump", CMD_SAFE},
    {"echo", CMD_SAFE},
    {"eval_ro", CMD_SAFE},
    {"evalsha_ro", CMD_SAFE},
    {"exec", CMD_STATEFUL},
    {"exists", CMD_SAFE},
    {"expiretime", CMD_SAFE},
    {"fcall_ro", CMD_SAFE},
    {"function|dump", CMD_SAFE},
    {"function|list", CMD_SAFE},
    {"function|stats", CMD_SAFE},
    {"geodist", CMD_SAFE},
    {"geohash", CMD_SAFE},
    {"geopos", CMD_SAFE},
    {"georadius_ro", CMD_SAFE},
    {"georadiusbymember_ro", CMD_SAFE},
    {"geosearch", CMD_SAFE},
    {"get", CMD_SAFE},
    {"getbit", CMD_SAFE},
    {"getrange", CMD_SAFE},
    {"hello", CMD_STATEFUL},
    {"hexists", CMD_SAFE},
    {"hget", CMD_SAFE},
    {"hgetall", CMD_SAFE},
    {"hkeys", CMD_SAFE},
    {"hlen", CMD_SAFE},
    {"hmget", CMD_SAFE},
    {"hrandfield", CMD_SAFE},
    {"hscan", CMD_SAFE},
    {"hstrlen", CMD_SAFE},
    {"hvals", CMD_SAFE},
    {"info", CMD_SAFE},
    {"keys", CMD_SAFE},
    {"lastsave", CMD_SAFE},
    {"latency|history", CMD_SAFE},
    {"latency|latest", CMD_SAFE},
    {"lcs", CMD_SAFE},
    {"lindex", CMD_SAFE},
    {"llen", CMD_SAFE},
    {"lolwut", CMD_SAFE},
    {"lpos", CMD_SAFE},
    {"lrange", CMD_SAFE},
    {"memory|doctor", CMD_SAFE},
    {"memory|stats", CMD_SAFE},
    {"memory|usage", CMD_SAFE},
    {"mget", CMD_SAFE},
    {"module|list", CMD_SAFE},
    {"monitor", CMD_STATEFUL},
    {"multi", CMD_STATEFUL},
    {"object|encoding", CMD_SAFE},
    {"object|freq", CMD_SAFE},
    {"object|idletime", CMD_SAFE},
    {"object|refcount", CMD_SAFE},
    {"pexpiretime", CMD_SAFE},
    {"pfcount", CMD_SAFE},
    {"ping", CMD_SAFE},
    {"psubscribe", CMD_STATEFUL},
    {"psync", CMD_STATEFUL},
    {"pttl", CMD_SAFE},
    {"pubsub|channels", CMD_SAFE},
    {"pubsub|numpat", CMD_SAFE},
    {"pubsub|numsub", CMD_SAFE},
    {"pubsub|shardchannels", CMD_SAFE},
    {"pubsub|shardnumsub", CMD_SAFE},
    {"punsubscribe", CMD_STATEFUL},
    {"quit", CMD_STATEFUL},
    {"randomkey", CMD_SAFE},
    {"readonly", CMD_STATEFUL},
    {"readwrite", CMD_STATEFUL},
    {"replconf", CMD_STATEFUL},
    {"reset", CMD_STATEFUL},
    {"role", CMD_SAFE},
    {"scan", CMD_SAFE},
    {"scard", CMD_SAFE},
    {"script|exists", CMD_SAFE},
    {"sdiff", CMD_SAFE},
    {"select", CMD_STATEFUL},
    {"sinter", CMD_SAFE},
    {"sintercard", CMD_SAFE},
    {"sismember", CMD_SAFE},
    {"slowlog|get", CMD_SAFE},
    {"slowlog|len", CMD_SAFE},
    {"smembers", CMD_SAFE},
    {"smismember", CMD_SAFE},
    {"sort_ro", CMD_SAFE},
    {"srandmember", CMD_SAFE},
    {"sscan", CMD_SAFE},
    {"ssubscribe", CMD_STATEFUL},
    {"strlen", CMD_SAFE},
    {"subscribe", CMD_STATEFUL},
    {"substr", CMD_SAFE},
    {"sunion", CMD_SAFE},
    {"sunsubscribe", CMD_STATEFUL},
    {"sync", CMD_STATEFUL},
    {"time", CMD_SAFE},
    {"touch", CMD_SAFE},
    {"ttl", CMD_SAFE},
    {"type", CMD_SAFE},
    {"unsubscribe", CMD_STATEFUL},
    {"unwatch", CMD_STATEFUL},
    {"watch", CMD_STATEFUL},
    {"xinfo|consumers", CMD_SAFE},
    {"xinfo|groups", CMD_SAFE},
    {"xinfo|stream", CMD_SAFE},
    {"xlen", CMD_SAFE},
    {"xpending", CMD_SAFE},
    {"xrange", CMD_SAFE},
    {"xread", CMD_SAFE},
    {"xrevrange", CMD_SAFE},
    {"zcard", CMD_SAFE},
    {"zcount", CMD_SAFE},
    {"zdiff", CMD_SAFE},
    {"zinter", CMD_SAFE},
    {"zintercard", CMD_SAFE},
    {"zlexcount", CMD_SAFE},
    {"zmscore", CMD_SAFE},
    {"zrandmember", CMD_SAFE},
    {"zrange", CMD_SAFE},
    {"zrangebylex", CMD_SAFE},
    {"zrangebyscore", CMD_SAFE},
    {"zrank", CMD_SAFE},
    {"zrevrange", CMD_SAFE},
    {"zrevrangebylex", CMD_SAFE},
    {"zrevrangebyscore", CMD_SAFE},
    {"zrevrank", CMD_SAFE},
    {"zscan", CMD_SAFE},
    {"zscore", CMD_SAFE},
    {"zunion", CMD_SAFE},
};

/* An open-addressing hash of the table above, built once: a lookup hashes
 * the name lower-cased on the fly, with no copy and no string search. A
 * container command ("client" of "client|reply") is entered too, marked,
 * so that a subcommand is looked up only after a container. */
#define HASH_SLOTS 512 /* a power of two, over twice the entries */
#define CMD_CONTAINER 4

typedef struct slot {
    const char *name; /* "get", "client|reply", or a container's prefix */
    size_t len;       /* bytes of name that count */
    unsigned flags;
} slot;

static slot slots[HASH_SLOTS];
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static unsigned char lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* FNV-1a of name, lower-cased, then of "|sub" when sub is not NULL. */
static uint32_t hash_name(const char *name, size_t n, const char *sub, size_t m) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ lower((unsigned char)name[i])) * 16777619u;
    if (sub) {
        h = (h ^ '|') * 16777619u;
        for (size_t i = 0; i < m; i++)
            h = (h ^ lower((unsigned char)sub[i])) * 16777619u;
    }
    return h;
}

/* Whether entry e is name (and "|sub"), ignoring the case of the input. */
static bool same(const slot *e, const char *name, size_t n, const char *sub, size_t m) {
    size_t want = n + (sub ? m + 1 : 0);
    if (e->len != want)
        return false;
    const char *p = e->name;
    for (size_t i = 0; i < n; i++)
        if (p[i] != (char)lower((unsigned char)name[i]))
            return false;
    if (sub == NULL)
        return true;
    if (p[n] != '|')
        return false;
    for (size_t i = 0; i < m; i++)
        if (p[n + 1 + i] != (char)lower((unsigned char)sub[i]))
            return false;
    return true;
}

static slot *find(const char *name, size_t n, const char *sub, size_t m) {
    size_t at = hash_name(name, n, sub, m) & (HASH_SLOTS - 1);
    for (; slots[at].name; at = (at + 1) & (HASH_SLOTS - 1))
        if (same(&slots[at], name, n, sub, m))
            return &slots[at];
    return &slots[at]; /* the empty slot where it would go */
}

static void add(const char *name, size_t len, unsigned flags) {
    const char *bar = memchr(name, '|', len);
    slot *e = bar ? find(name, (size_t)(bar - name), bar + 1, len - (size_t)(bar - name) - 1)
                  : find(name, len, NULL, 0);
    if (e->name == NULL)
        *e = (slot){.name = name, .len = len};
    e->flags |= flags;
}

static void build_slots(void) {
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        const char *name = commands[i].name, *bar = strchr(name, '|');
        add(name, strlen(name), commands[i].flags);
        if (bar)
            add(name, (size_t)(bar - name), CMD_CONTAINER);
    }
}

/* The command's flags, by its name, or by "name|subcommand" for a
 * container command. */
static unsigned classify(int argc, const char *const *argv, const size_t *argvlen) {
    if (argc < 1 || argv[0] == NULL)
        return 0;
    pthread_once(&slots_once, build_slots);
    size_t n = argvlen ? argvlen[0] : strlen(argv[0]);
    unsigned flags = find(argv[0], n, NULL, 0)->flags;
    if (!(flags & CMD_CONTAINER) || argc < 2 || argv[1] == NULL)
        return flags;
    return flags | find(argv[0], n, argv[1], argvlen ? argvlen[1] : strlen(argv[1]))->flags;
}

unsigned rk_command_flags(int argc, const char *const *argv, const size_t *argvlen) {
    unsigned f = classify(argc, argv, argvlen);
    return (f & CMD_SAFE ? RK_CMD_SAFE : 0) | (f & CMD_STATEFUL ? RK_CMD_STATEFUL : 0);
}

bool rk_command_is_safe(int argc, const char *const *argv, const size_t *argvlen) {
    return classify(argc, argv, argvlen) & CMD_SAFE;
}

bool rk_command_is_stateful(int argc, const char *const *argv, const size_t *argvlen) {
    return classify(argc, argv, argvlen) & CMD_STATEFUL;
}

/* The literal command name and subcommand at the start of a format; a name
 * given by a conversion is not literal and ends the words. */
static int format_words(const char *fmt, char words[2][64], const char *argv[2]) {
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
    return argc;
}

unsigned rk_format_flags(const char *fmt) {
    char words[2][64];
    const char *argv[2];
    int argc = format_words(fmt, words, argv);
    return argc > 0 ? rk_command_flags(argc, argv, NULL) : 0;
}

bool rk_format_is_safe(const char *fmt) {
    return rk_format_flags(fmt) & RK_CMD_SAFE;
}
