/* What the client must know of a command before sending it.
 *
 * Safe: it changes nothing, so a retry after a lost reply cannot run it
 * twice to any effect. Stateful: it changes the state of the connection it
 * runs on (MULTI, WATCH, SELECT, SUBSCRIBE, AUTH...), which the next user
 * of a pooled connection would inherit. Both come from the generated
 * command table (src/commands/gen/table.c): safe is COMMAND INFO's
 * "readonly" (and not "write") plus the read-only server commands listed
 * in tools/gen-commands/spec.py; stateful is that file's CONNECTION and
 * HAND sets. Subcommands are "container|sub", as COMMAND INFO names them.
 * Callers judge a command as built (rk_writer_last_flags), never by the
 * format string it came from: "%s" may well be MULTI. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "commands/safe.h"
#include "commands/table.h"
#include "resp/writer_int.h"
#include "util/common.h"

enum { CMD_SAFE = 1, CMD_STATEFUL = 2 };

/* An open-addressing hash of the generated command table, built once: a lookup hashes
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
    for (size_t i = 0; i < rk_command_table_len; i++) {
        const rk_command_entry *e = &rk_command_table[i];
        unsigned flags = (e->flags & RK_CMDF_SAFE ? CMD_SAFE : 0) |
                         (e->flags & RK_CMDF_CONNECTION ? CMD_STATEFUL : 0);
        if (flags == 0)
            continue;
        const char *bar = strchr(e->name, '|');
        add(e->name, strlen(e->name), flags);
        if (bar)
            add(e->name, (size_t)(bar - e->name), CMD_CONTAINER);
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

/* Whether the command encoded last into w may be stateful, by its name's
 * first byte and length alone (the generated rk_command_stateful_lengths):
 * a few instructions, no lookup. */
static bool maybe_stateful(const rk_writer *w) {
    unsigned char first;
    size_t n;
    return rk_writer_last_name(w, &first, &n) && n < 64 &&
           (rk_command_stateful_lengths[lower(first) & 31] >> n) & 1;
}

/* The table lookup behind rk_writer_last_flags, out of its fast path. */
static unsigned __attribute__((noinline)) lookup_last(const rk_writer *w, unsigned want) {
    const char *words[RK_WRITER_WORDS];
    size_t len[RK_WRITER_WORDS];
    int n = rk_writer_last_words(w, words, len);
    return n > 0 ? rk_command_flags(RK_MIN(n, 2), words, len) & want : 0;
}

unsigned rk_writer_last_flags(const rk_writer *w, unsigned want) {
    if (!(want & RK_CMD_SAFE) && !maybe_stateful(w))
        return 0;
    return lookup_last(w, want);
}

/* Whether word (n bytes, any case) is name (lower case). */
static bool is(const char *word, size_t n, const char *name) {
    return same(&(slot){.name = name, .len = strlen(name)}, word, n, NULL, 0);
}

static int reply_mode(int n, const char *const *words, const size_t *len) {
    if (n < 3)
        return RK_MODE_SAME; /* the server refuses it */
    if (is(words[2], len[2], "on"))
        return RK_MODE_REPLY_ON;
    if (is(words[2], len[2], "off"))
        return RK_MODE_REPLY_OFF;
    return is(words[2], len[2], "skip") ? RK_MODE_REPLY_SKIP : RK_MODE_SAME;
}

int rk_writer_last_mode(const rk_writer *w) {
    const char *words[RK_WRITER_WORDS];
    size_t len[RK_WRITER_WORDS];
    if (!maybe_stateful(w))
        return RK_MODE_SAME;
    int n = rk_writer_last_words(w, words, len);
    if (n == 0)
        return RK_MODE_SAME;
    if (is(words[0], len[0], "monitor") || is(words[0], len[0], "subscribe") ||
        is(words[0], len[0], "psubscribe") || is(words[0], len[0], "ssubscribe"))
        return RK_MODE_STREAM;
    if (is(words[0], len[0], "reset"))
        return RK_MODE_RESET;
    if (n >= 2 && is(words[0], len[0], "client") && is(words[1], len[1], "reply"))
        return reply_mode(n, words, len);
    return RK_MODE_SAME;
}
