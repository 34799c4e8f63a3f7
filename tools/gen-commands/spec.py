# What the server's COMMAND DOCS cannot say, written by hand for the
# generator (gen_commands.py). Everything else comes from the server.
#
# Keys are command names as COMMAND DOCS spells them ("set",
# "config|get"). docs/DESIGN.md section 13 explains each table.

# Typed outputs. A command not listed returns its reply (an rk_reply *).
#   ok     - status reply; no output parameter
#   int    - long long *
#   double - double * (RK_NIL when the server says nil)
#   str    - char ** + size_t * (RK_NIL when nil), freed with rk_free
#   nint   - long long *, RK_NIL when nil
OUTPUT = {}


def _out(kind, names):
    for n in names.split():
        OUTPUT[n] = kind


_out("ok", """
    flushall flushdb mset rename lset ltrim setex psetex restore restore-asking
    hmset pfmerge xsetid xgroup|setid client|setname client|pause client|unpause
    client|no-evict config|set config|resetstat config|rewrite script|flush
    function|flush function|delete function|restore function|kill script|kill
    swapdb slowlog|reset memory|purge acl|setuser acl|save acl|load
    cluster|addslots cluster|addslotsrange cluster|delslots cluster|delslotsrange
    cluster|flushslots cluster|forget cluster|meet cluster|replicate cluster|reset
    cluster|saveconfig cluster|set-config-epoch cluster|setslot cluster|failover
    readonly readwrite asking select auth multi discard watch unwatch quit
    module|load module|loadex module|unload failover replicaof slaveof save
    xgroup|create
""")
_out("int", """
    append bitcount bitop bitpos dbsize decr decrby del exists expire expireat
    pexpire pexpireat persist ttl pttl expiretime pexpiretime touch unlink
    hdel hexists hincrby hlen hset hsetnx hstrlen incr incrby linsert llen lpush
    lpushx lrem move msetnx pfadd pfcount publish spublish rpush rpushx sadd scard
    sdiffstore setnx setrange sinterstore sismember smove srem strlen sunionstore
    zcard zcount zlexcount zrem zremrangebylex zremrangebyrank zremrangebyscore
    zdiffstore zinterstore zunionstore zrangestore zintercard sintercard
    xack xdel xlen xtrim geoadd geosearchstore copy renamenx lastsave getbit setbit wait
    client|id client|unblock client|getredir
    client|kill xgroup|createconsumer xgroup|delconsumer xgroup|destroy cluster|countkeysinslot
    cluster|keyslot cluster|count-failure-reports pubsub|numpat acl|deluser
    command|count latency|reset
    slowlog|len
""")
_out("nint", "zrank zrevrank memory|usage object|freq object|idletime object|refcount")
_out("double", "zscore zincrby incrbyfloat hincrbyfloat geodist")
_out("str", """
    get getdel getex getset getrange substr hget lindex lmove rpoplpush echo
    blmove brpoplpush
    randomkey type dump object|encoding client|getname client|list client|info
    memory|doctor memory|malloc-stats latency|doctor latency|graph lolwut
    cluster|nodes cluster|info cluster|myid script|load function|load
    acl|whoami acl|genpass acl|dryrun bgsave bgrewriteaof cluster|bumpepoch
    xadd
""")

# Reply shapes, applied to the reply on RESP2 and RESP3 alike (see
# src/resp/shape.c for the notation). A value is either a shape or a C
# expression choosing one at build time from the options struct `o`.
SHAPE = {
    "hgetall": '"m.."',
    "config|get": '"m.."',
    "memory|stats": '"{db.*={},dataset.percentage=d,peak.percentage=d,allocator-fragmentation.ratio=d,'
    'allocator-rss.ratio=d,rss-overhead.ratio=d,fragmentation=d}"',
    "function|stats": '"{running_script={},engines=m.{}}"',
    "function|list": '"a{functions=a{flags=s}}"',
    "module|list": '"a{}"',
    "acl|getuser": '"{flags=s,selectors=a{}}"',
    "acl|log": '"a{age-seconds=d}"',
    "client|trackinginfo": '"{flags=s}"',
    "latency|histogram": '"m.{histogram_usec=m..}"',
    "xinfo|stream": 'o->full ? "{entries=a(.m..),groups=a{consumers=a{}}}" '
    ': "{first-entry=(.m..),last-entry=(.m..)}"',
    "xinfo|groups": '"am.."',
    "xinfo|consumers": '"am.."',
    "command|docs": '"m.$D"',
    "command|info": '"a$I"',
    "command": '"a$I"',
    "command|getkeysandflags": '"a(.s)"',
    "lcs": '"m.."',
    "pubsub|numsub": '"m.."',
    "pubsub|shardnumsub": '"m.."',
    "hello": '"{modules=a{}}"',
    "cluster|shards": '"a{nodes=a{}}"',
    "cluster|links": '"a{}"',
    "cluster|slots": '"a(..*(...m..))"',
    "zmscore": '"ad"',
    "zscan": '"(.p.d)"',
    "hscan": '"(.m..)"',
    "geopos": '"a(dd)"',
    "smembers": '"s"',
    "sinter": '"s"',
    "sunion": '"s"',
    "sdiff": '"s"',
    "info": '"i"',
    "xrange": '"a(.m..)"',
    "xrevrange": '"a(.m..)"',
    "xclaim": '"a(.m..)"',
    "xautoclaim": '"(.a(.m..).)"',
    "xread": '"k.a(.m..)"',
    "xreadgroup": '"k.a(.m..)"',
    "zpopmin": '"p.d"',
    "zpopmax": '"p.d"',
    "bzpopmin": '"(..d)"',
    "bzpopmax": '"(..d)"',
    "zmpop": '"(.p.d)"',
    "bzmpop": '"(.p.d)"',
    "zrange": 'o->withscores ? "p.d" : "."',
    "zrangebyscore": 'o->withscores ? "p.d" : "."',
    "zrevrange": 'o->withscores ? "p.d" : "."',
    "zrevrangebyscore": 'o->withscores ? "p.d" : "."',
    "zunion": 'o->withscores ? "p.d" : "."',
    "zinter": 'o->withscores ? "p.d" : "."',
    "zdiff": 'o->withscores ? "p.d" : "."',
    "zrandmember": 'o->count && o->count->withscores ? "p.d" : "."',
    "hrandfield": 'o->count && o->count->withvalues ? "p.." : "."',
    "zadd": 'o->incr ? "d" : "."',
    "spop": 'o->count != 0 || o->count_set ? "s" : "."',
    "georadius": "rk_geo_shape(o->withcoord, o->withdist, o->withhash)",
    "georadius_ro": "rk_geo_shape(o->withcoord, o->withdist, o->withhash)",
    "georadiusbymember": "rk_geo_shape(o->withcoord, o->withdist, o->withhash)",
    "georadiusbymember_ro": "rk_geo_shape(o->withcoord, o->withdist, o->withhash)",
    "geosearch": "rk_geo_shape(o->withcoord, o->withdist, o->withhash)",
}

# Argument types the documentation gets wrong for a C caller: score
# bounds take "(1.5", "-inf" and "+inf"; weights are floats.
TYPE = {
    ("zcount", "min"): "string",
    ("zcount", "max"): "string",
    ("zrangebyscore", "min"): "string",
    ("zrangebyscore", "max"): "string",
    ("zrevrangebyscore", "min"): "string",
    ("zrevrangebyscore", "max"): "string",
    ("zremrangebyscore", "min"): "string",
    ("zremrangebyscore", "max"): "string",
    ("zinter", "weight"): "double",
    ("zunion", "weight"): "double",
    ("zinterstore", "weight"): "double",
    ("zunionstore", "weight"): "double",
    ("zincrby", "increment"): "double",
    ("scan", "cursor"): "cursor",
    ("sscan", "cursor"): "cursor",
    ("hscan", "cursor"): "cursor",
    ("zscan", "cursor"): "cursor",
}

# Arguments documented as free strings that are really a choice of tokens.
CHOICE = {
    ("bitop", "operation"): ("AND", "OR", "XOR", "NOT"),
}

# Choices the documentation calls "one of" but the server lets combine
# (EXPIRE XX GT is fine); RULES below says what it does refuse.
LOOSE = {
    ("expire", "condition"),
    ("pexpire", "condition"),
    ("expireat", "condition"),
    ("pexpireat", "condition"),
}

# Enums shared by every command whose choice has these tokens.
ENUM = {
    ("LEFT", "RIGHT"): ("rk_side", {"LEFT": "RK_LEFT", "RIGHT": "RK_RIGHT"}),
    ("M", "KM", "FT", "MI"): (
        "rk_geo_unit",
        {"M": "RK_GEO_M", "KM": "RK_GEO_KM", "FT": "RK_GEO_FT", "MI": "RK_GEO_MI"},
    ),
    ("MAXLEN", "MINID"): ("rk_trim", {"MAXLEN": "RK_TRIM_MAXLEN", "MINID": "RK_TRIM_MINID"}),
    ("MIN", "MAX"): ("rk_minmax", {"MIN": "RK_MIN", "MAX": "RK_MAX"}),
    ("SUM", "MIN", "MAX"): (
        "rk_aggregate",
        {"SUM": "RK_AGGREGATE_SUM", "MIN": "RK_AGGREGATE_MIN", "MAX": "RK_AGGREGATE_MAX"},
    ),
    ("AND", "OR", "XOR", "NOT"): (
        "rk_bitop_op",
        {"AND": "RK_BITOP_AND", "OR": "RK_BITOP_OR", "XOR": "RK_BITOP_XOR", "NOT": "RK_BITOP_NOT"},
    ),
}

# Names for repeated choices, whose documentation names are poor.
NAMES = {
    ("client|kill", "new-format"): "filter",
    ("bitfield", "operation"): "operation",
}

# Function names that would collide with another public name.
RENAME = {
    "type": "key_type",  # rk_type is the reply-kind enum
    "command": "commands",  # rk_command is the built-command type
}

# Combinations the server refuses that the documentation's grammar allows.
# (C condition over the options struct `o`, message.)
RULES = {
    "zadd": [
        ("o->nx && (o->gt || o->lt)", "GT, LT and NX cannot be combined"),
    ],
    "zrange": [
        ("o->limit && !o->byscore && !o->bylex", "LIMIT needs BYSCORE or BYLEX"),
    ],
    "zrangestore": [
        ("o->limit && !o->byscore && !o->bylex", "LIMIT needs BYSCORE or BYLEX"),
    ],
    "lcs": [
        ("o->len && o->idx", "LEN and IDX cannot be combined"),
    ],
    "expire": [
        ("o->nx && (o->xx || o->gt || o->lt)", "NX cannot be combined with XX, GT or LT"),
        ("o->gt && o->lt", "GT and LT cannot be combined"),
    ],
    "pexpire": [
        ("o->nx && (o->xx || o->gt || o->lt)", "NX cannot be combined with XX, GT or LT"),
        ("o->gt && o->lt", "GT and LT cannot be combined"),
    ],
    "expireat": [
        ("o->nx && (o->xx || o->gt || o->lt)", "NX cannot be combined with XX, GT or LT"),
        ("o->gt && o->lt", "GT and LT cannot be combined"),
    ],
    "pexpireat": [
        ("o->nx && (o->xx || o->gt || o->lt)", "NX cannot be combined with XX, GT or LT"),
        ("o->gt && o->lt", "GT and LT cannot be combined"),
    ],
}

# Commands that change the state of the connection they run on. They are
# generated for an rk_conn the caller holds (rk_client_acquire or
# rk_conn_new), not for the pooled client or a pipeline.
CONNECTION = set(
    """
    auth hello select multi exec discard watch unwatch quit
    readonly readwrite asking client|tracking client|caching client|no-evict
    client|setname
    sync psync replconf
""".split()
)

# Commands with a hand-written function instead of a generated one: the
# function, and what it is ("hand": a command function of src/commands;
# "pubsub": a method of rk_pubsub). The coverage test checks these exist.
HAND = {
    "subscribe": ("rk_pubsub_subscribe", "pubsub"),
    "unsubscribe": ("rk_pubsub_unsubscribe", "pubsub"),
    "psubscribe": ("rk_pubsub_psubscribe", "pubsub"),
    "punsubscribe": ("rk_pubsub_punsubscribe", "pubsub"),
    "ssubscribe": ("rk_pubsub_ssubscribe", "pubsub"),
    "sunsubscribe": ("rk_pubsub_sunsubscribe", "pubsub"),
    "client|reply": ("rk_clientreply", "hand"),
    "reset": ("rk_reset", "hand"),
    "monitor": ("rk_monitor", "hand"),
}

# How long a blocking command may keep the server from answering, in ms
# (negative: for ever), as a C expression over the build function's
# parameters and options `o`. The call's own timeout is stretched by it.
BLOCK = {
    "blpop": "rk_command_block_seconds(timeout)",
    "brpop": "rk_command_block_seconds(timeout)",
    "blmove": "rk_command_block_seconds(timeout)",
    "brpoplpush": "rk_command_block_seconds(timeout)",
    "blmpop": "rk_command_block_seconds(timeout)",
    "bzpopmin": "rk_command_block_seconds(timeout)",
    "bzpopmax": "rk_command_block_seconds(timeout)",
    "bzmpop": "rk_command_block_seconds(timeout)",
    "xread": "rk_command_block_ms(o->block, o->block_set)",
    "xreadgroup": "rk_command_block_ms(o->block, o->block_set)",
    "wait": "rk_command_block_ms(timeout, true)",
}

# Commands that only read although COMMAND INFO does not flag them
# readonly (server and connection introspection). With the readonly ones
# they are safe to retry after a lost reply (RK_CMDF_SAFE in the table).
READS = set(
    """
    acl|cat acl|getuser acl|list acl|users acl|whoami client|getname client|id
    client|info client|list cluster|countkeysinslot cluster|getkeysinslot
    cluster|info cluster|keyslot cluster|myid cluster|nodes cluster|shards
    cluster|slots command command|count command|docs command|getkeys
    command|info command|list config|get echo function|dump function|list
    function|stats info lastsave latency|history latency|latest memory|doctor
    memory|stats module|list ping pubsub|channels pubsub|numpat pubsub|numsub
    pubsub|shardchannels pubsub|shardnumsub role script|exists slowlog|get
    slowlog|len time
""".split()
)

# Arguments COMMAND DOCS leaves out.
ARGS = {
    "command|getkeys": [
        {"name": "command", "type": "string"},
        {"name": "arg", "type": "string", "flags": ["optional", "multiple"]},
    ],
    "command|getkeysandflags": [
        {"name": "command", "type": "string"},
        {"name": "arg", "type": "string", "flags": ["optional", "multiple"]},
    ],
}

# A sentence added to a generated function's comment, for what a caller
# must know that the server's description does not say.
NOTES = {
    "sync": "The connection then carries the replication stream (an RDB payload, then the "
    "write commands), which rediskit does not parse: close it once done.",
    "psync": "After +FULLRESYNC or +CONTINUE the connection carries the replication stream, "
    "which rediskit does not parse: close it once done.",
    "quit": "The server closes the connection after answering (deprecated since Redis 7.2).",
    "shutdown": "On success the server goes away and the call fails with a connection error.",
    "set": "With NX or XX, a SET that did not set the key answers nil: RK_NIL. With GET the "
    "reply is the old value, and RK_NIL says there was none (whether this SET set the key or "
    "not).",
}
