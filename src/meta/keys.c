/* Reading the command metadata table: finding a command's row by name
 * (the table's generated hash index, then the rows learned at run time)
 * and finding the keys of an argv from the row's key specs, the way the
 * server's COMMAND GETKEYS does, including its own rules for the few
 * commands whose specs cannot say (SORT, SORT_RO, MIGRATE). No allocation. */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "meta/meta.h"
#include "util/common.h"

static int lower(int c) {
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Whether the n bytes of s, in any case, begin the lower-case row. */
static bool begins(const char *s, size_t n, const char *row) {
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != (unsigned char)row[i] || row[i] == 0)
            return false; /* the second test: a NUL in s must not run past row */
    return true;
}

RK_HOT bool rk_meta_name_is(const char *name, size_t len, const char *sub, size_t sublen,
                            const char *row) {
    if (!begins(name, len, row))
        return false;
    row += len;
    if (!sub)
        return *row == 0;
    return *row == '|' && begins(sub, sublen, row + 1) && row[1 + sublen] == 0;
}

/* 32-bit FNV-1a of name, lower-cased, then of "|sub" when sub is not NULL:
 * the hash gen_meta.py built rk_meta_index with. */
static uint32_t hash_name(const char *name, size_t len, const char *sub, size_t sublen) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint32_t)lower((unsigned char)name[i])) * 16777619u;
    if (!sub)
        return h;
    h = (h ^ '|') * 16777619u;
    for (size_t i = 0; i < sublen; i++)
        h = (h ^ (uint32_t)lower((unsigned char)sub[i])) * 16777619u;
    return h;
}

const rk_meta_command *rk_meta_table_find(const char *name, size_t len, const char *sub,
                                          size_t sublen) {
    const size_t mask = RK_META_INDEX_SLOTS - 1;
    for (size_t at = hash_name(name, len, sub, sublen) & mask; rk_meta_index[at];
         at = (at + 1) & mask) {
        const rk_meta_command *row = &rk_meta_table[rk_meta_index[at] - 1];
        if (rk_meta_name_is(name, len, sub, sublen, row->name))
            return row;
    }
    return NULL;
}

int rk_meta_lookup(const char *name, size_t len, const char *sub, size_t sublen,
                   const rk_meta_command **out) {
    *out = NULL;
    if (!name || len == 0 || memchr(name, '|', len))
        return rk_fail(RK_EINVAL, "no command name");
    const rk_meta_command *cmd = rk_meta_find(name, len, NULL, 0);
    if (!cmd)
        return rk_fail(RK_EINVAL, "unknown command '%.*s'", (int)RK_MIN(len, 64), name);
    if ((cmd->flags & RK_META_CMD_CONTAINER) && sub) {
        cmd = rk_meta_find(name, len, sub, sublen);
        if (!cmd)
            return rk_fail(RK_EINVAL, "unknown subcommand '%.*s' of '%.*s'",
                           (int)RK_MIN(sublen, 64), sub, (int)RK_MIN(len, 64), name);
    }
    *out = cmd;
    return RK_OK;
}

int rk_meta_lookup_argv(const rk_str *argv, size_t argc, const rk_meta_command **out) {
    *out = NULL;
    if (argc < 1 || !argv || !argv[0].ptr)
        return rk_fail(RK_EINVAL, "no command name");
    bool has_sub = argc > 1 && argv[1].ptr;
    return rk_meta_lookup(argv[0].ptr, argv[0].len, has_sub ? argv[1].ptr : NULL,
                          has_sub ? argv[1].len : 0, out);
}

/* ---- finding keys ------------------------------------------------------- */

/* An argv and where its keys go: out has room for max, n have been found. */
typedef struct keyset {
    int argc;
    const rk_str *argv;
    rk_key_ref *out;
    int max;
    int n;
} keyset;

static void add_key(keyset *ks, int pos, uint32_t flags) {
    if (ks->n < ks->max)
        ks->out[ks->n] = (rk_key_ref){.pos = pos, .flags = flags};
    ks->n++;
}

/* Whether argument i is word, in any case. */
static bool arg_is(const keyset *ks, int i, const char *word) {
    rk_str a = ks->argv[i];
    if (a.len != strlen(word))
        return false;
    for (size_t j = 0; j < a.len; j++)
        if (lower((unsigned char)a.ptr[j]) != lower((unsigned char)word[j]))
            return false;
    return true;
}

/* Argument i as a whole decimal number (as the server's string2ll). */
static bool arg_number(const keyset *ks, int i, long long *v) {
    size_t len = ks->argv[i].len;
    const char *s = ks->argv[i].ptr;
    size_t j = (len > 0 && s[0] == '-') ? 1 : 0;
    if (len == j || len - j > 18 || (s[j] == '0' && len - j > 1))
        return false;
    long long n = 0;
    for (; j < len; j++) {
        if (s[j] < '0' || s[j] > '9')
            return false;
        n = n * 10 + (s[j] - '0');
    }
    *v = s[0] == '-' ? -n : n;
    return true;
}

/* Where a spec's search begins: the position of its first key, 0 when its
 * keyword is absent (the spec has no keys), -1 when it cannot be known. */
static int spec_begin(const keyset *ks, const rk_meta_keyspec *spec) {
    if (spec->begin == RK_META_BEGIN_INDEX)
        return spec->index;
    if (spec->begin != RK_META_BEGIN_KEYWORD || !spec->keyword)
        return -1;
    int from = spec->index, argc = ks->argc;
    int start = from > 0 ? from : argc + from, end = from > 0 ? argc - 1 : 1;
    for (int i = start; i != end; i = start <= end ? i + 1 : i - 1) {
        if (i >= argc || i < 1)
            break;
        if (arg_is(ks, i, spec->keyword))
            return i + 1;
    }
    return 0;
}

/* The keys one spec finds, added to ks; false when argv does not fit the
 * spec or the spec cannot say (the server's "invalid spec"). */
static bool spec_keys(keyset *ks, const rk_meta_command *cmd, const rk_meta_keyspec *spec) {
    int first = spec_begin(ks, spec), last, step = spec->keystep, argc = ks->argc;
    if (first == 0)
        return true;
    if (first < 0)
        return false;
    if (spec->find == RK_META_FIND_RANGE) {
        if (spec->lastkey >= 0)
            last = first + spec->lastkey;
        else if (spec->limit <= 0)
            last = argc + spec->lastkey;
        else
            last = first + ((argc - first) / spec->limit + spec->lastkey);
    } else if (spec->find == RK_META_FIND_KEYNUM) {
        long long numkeys;
        int at = first + spec->keynumidx;
        if (at >= argc || !arg_number(ks, at, &numkeys) || numkeys < 0 || numkeys > argc)
            return false;
        first += spec->firstkey;
        if (numkeys == 0)
            return true;
        last = first + (int)numkeys - 1;
    } else {
        return false;
    }
    if (last >= argc || last < first || first >= argc || step <= 0)
        return false;
    for (int i = first; i <= last; i += step) {
        if (i >= argc) {
            if (cmd->arity < 0 || (cmd->flags & RK_META_CMD_MODULE))
                continue;
            return false;
        }
        add_key(ks, i, spec->flags);
    }
    return true;
}

/* SORT's keys: the sorted key, and the key after the last STORE (BY and
 * GET patterns name keys only through the sorted values). */
static void sort_keys(keyset *ks, bool read_only) {
    static const struct {
        const char *name;
        int skip;
    } skip[] = {{"limit", 2}, {"get", 1}, {"by", 1}};
    int store = 0;
    add_key(ks, 1, RK_META_KS_RO | RK_META_KS_ACCESS);
    for (int i = 2; i < ks->argc && !read_only; i++) {
        for (size_t j = 0; j < RK_ARRAY_LEN(skip); j++) {
            if (arg_is(ks, i, skip[j].name)) {
                i += skip[j].skip;
                break;
            }
            if (arg_is(ks, i, "store") && i + 1 < ks->argc) {
                store = i + 1;
                break;
            }
        }
    }
    if (store)
        add_key(ks, store, RK_META_KS_OW | RK_META_KS_UPDATE);
}

/* MIGRATE's keys: the key at 3, or with an empty one there, those after
 * KEYS (past the COPY, REPLACE, AUTH and AUTH2 options). */
static bool migrate_keys(keyset *ks) {
    static const struct {
        const char *name;
        int skip;
    } skip[] = {{"copy", 0}, {"replace", 0}, {"auth", 1}, {"auth2", 2}};
    const uint32_t flags = RK_META_KS_RW | RK_META_KS_ACCESS | RK_META_KS_DELETE;
    int first = 3, num = 1;
    for (int i = 6; i < ks->argc; i++) {
        if (arg_is(ks, i, "keys")) {
            if (ks->argv[3].len > 0)
                return false;
            first = i + 1;
            num = ks->argc - first;
            break;
        }
        for (size_t j = 0; j < RK_ARRAY_LEN(skip); j++) {
            if (arg_is(ks, i, skip[j].name)) {
                i += skip[j].skip;
                break;
            }
        }
    }
    if (first >= ks->argc)
        return num == 0;
    for (int i = 0; i < num; i++)
        add_key(ks, first + i, flags);
    return true;
}

/* The server's own rules, for commands whose specs are incomplete or
 * unknown; false when cmd has none. */
static bool native_keys(keyset *ks, const rk_meta_command *cmd, int *result) {
    ks->n = 0;
    if (strcmp(cmd->name, "sort") == 0 || strcmp(cmd->name, "sort_ro") == 0) {
        sort_keys(ks, cmd->name[4] != '\0');
        *result = ks->n;
        return true;
    }
    if (strcmp(cmd->name, "migrate") == 0) {
        *result = migrate_keys(ks) ? ks->n : rk_fail(RK_EINVAL, "MIGRATE with a key and KEYS");
        return true;
    }
    return false;
}

int rk_meta_keys(const rk_meta_command *cmd, const rk_str *argv, size_t count, rk_key_ref *out,
                 int max) {
    if (!cmd || count < 1 || !argv || (max > 0 && !out))
        return rk_fail(RK_EINVAL, "rk_meta_keys: no command or argv");
    if (count > INT_MAX)
        return rk_fail(RK_EINVAL, "rk_meta_keys: %zu arguments", count);
    int argc = (int)count;
    if (cmd->flags & RK_META_CMD_NOINFO)
        return rk_fail(RK_EINVAL, "the keys of %s are not known: learn it from COMMAND INFO",
                       cmd->name);
    if ((cmd->arity > 0 && argc != cmd->arity) || (cmd->arity < 0 && argc < -cmd->arity))
        return rk_fail(RK_EINVAL, "wrong number of arguments for %s", cmd->name);
    for (int i = 0; i < argc; i++)
        if (!argv[i].ptr)
            return rk_fail(RK_EINVAL, "rk_meta_keys: argument %d is NULL", i);
    keyset ks = {argc, argv, out, max < 0 ? 0 : max, 0};
    for (int i = 0; i < cmd->nkeyspecs; i++) {
        const rk_meta_keyspec *spec = &cmd->keyspecs[i];
        int before = ks.n;
        bool ok = spec_keys(&ks, cmd, spec);
        bool partial = (spec->flags & RK_META_KS_INCOMPLETE) && ks.n > before;
        int result;
        if ((!ok || partial) && native_keys(&ks, cmd, &result))
            return result;
        if (!ok)
            return rk_fail(RK_EINVAL, "the arguments of %s do not fit its key specs", cmd->name);
    }
    return ks.n;
}
