/* Commands learned at run time: rows for what the generated table lacks (a
 * module not in spec/, a newer server), read from a COMMAND INFO reply and
 * kept in a process-wide list under a mutex. I/O-free: whoever sends
 * COMMAND INFO hands the reply to rk_meta_learn. Each row is one allocation
 * (row, key specs and strings together) and lives until rk_meta_forget. */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "meta/meta.h"
#include "util/common.h"

typedef struct learned {
    struct learned *next;
    rk_meta_command cmd;
    rk_meta_keyspec specs[]; /* followed by the strings */
} learned;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static learned *head;

static const rk_meta_command *find_locked(const char *name, size_t len, const char *sub,
                                          size_t sublen) {
    for (const learned *l = head; l; l = l->next)
        if (rk_meta_name_is(name, len, sub, sublen, l->cmd.name))
            return &l->cmd;
    return NULL;
}

const rk_meta_command *rk_meta_learned(const char *name, size_t len, const char *sub,
                                       size_t sublen) {
    pthread_mutex_lock(&lock);
    const rk_meta_command *cmd = find_locked(name, len, sub, sublen);
    pthread_mutex_unlock(&lock);
    return cmd;
}

void rk_meta_forget(void) {
    pthread_mutex_lock(&lock);
    while (head) {
        learned *next = head->next;
        rk_free(head);
        head = next;
    }
    pthread_mutex_unlock(&lock);
}

/* ---- reading the reply -------------------------------------------------- */

static bool is_text(const rk_reply *r) {
    rk_type t = r ? rk_reply_type(r) : RK_REPLY_NIL;
    return t == RK_REPLY_STRING || t == RK_REPLY_STATUS || t == RK_REPLY_VERBATIM;
}

static bool is_list(const rk_reply *r) {
    rk_type t = r ? rk_reply_type(r) : RK_REPLY_NIL;
    return t == RK_REPLY_ARRAY || t == RK_REPLY_SET;
}

static bool text_is(const rk_reply *r, const char *s) {
    return is_text(r) && rk_reply_len(r) == strlen(s) &&
           memcmp(rk_reply_str(r), s, rk_reply_len(r)) == 0;
}

/* The value under key in a RESP3 map or a RESP2 flat [key, value...] list. */
static const rk_reply *field(const rk_reply *r, const char *key) {
    if (r && rk_reply_type(r) == RK_REPLY_MAP)
        return rk_reply_map_get(r, key);
    if (!is_list(r))
        return NULL;
    for (size_t i = 0; i + 1 < rk_reply_len(r); i += 2)
        if (text_is(rk_reply_at(r, i), key))
            return rk_reply_at(r, i + 1);
    return NULL;
}

static int field_int(const rk_reply *r, const char *key) {
    const rk_reply *v = field(r, key);
    return v && rk_reply_type(v) == RK_REPLY_INTEGER ? (int)rk_reply_int(v) : 0;
}

/* The bits of a list of names ("write", "@read"...), unknown names ignored. */
static uint32_t name_bits(const rk_reply *list, const rk_meta_name *names) {
    uint32_t bits = 0;
    for (size_t i = 0; is_list(list) && i < rk_reply_len(list); i++) {
        const rk_reply *e = rk_reply_at(list, i);
        if (!is_text(e))
            continue;
        const char *s = rk_reply_str(e);
        size_t len = rk_reply_len(e);
        if (len > 0 && s[0] == '@')
            s++, len--;
        for (const rk_meta_name *n = names; n->name; n++)
            if (rk_meta_name_is(s, len, NULL, 0, n->name))
                bits |= n->bit;
    }
    return bits;
}

/* Entry fields of COMMAND INFO, by position. */
enum { F_NAME, F_ARITY, F_FLAGS, F_FIRST, F_LAST, F_STEP, F_ACL, F_TIPS, F_SPECS, F_SUBS };

static size_t keyword_bytes(const rk_reply *spec) {
    const rk_reply *bs = field(spec, "begin_search");
    const rk_reply *kw = field(field(bs, "spec"), "keyword");
    return is_text(kw) ? rk_reply_len(kw) + 1 : 0;
}

/* Key specs of an entry: its own list, or for a server before 7.0 none. */
static const rk_reply *entry_specs(const rk_reply *e) {
    const rk_reply *s = rk_reply_len(e) > F_SPECS ? rk_reply_at(e, F_SPECS) : NULL;
    return is_list(s) ? s : NULL;
}

static void read_spec(const rk_reply *r, rk_meta_keyspec *ks, char **strings) {
    const rk_reply *bs = field(r, "begin_search"), *fk = field(r, "find_keys");
    const rk_reply *bspec = field(bs, "spec"), *fspec = field(fk, "spec");
    ks->flags = name_bits(field(r, "flags"), rk_meta_ks_flag_names);
    if (text_is(field(bs, "type"), "index")) {
        ks->begin = RK_META_BEGIN_INDEX;
        ks->index = (int16_t)field_int(bspec, "index");
    } else if (text_is(field(bs, "type"), "keyword") && is_text(field(bspec, "keyword"))) {
        const rk_reply *kw = field(bspec, "keyword");
        ks->begin = RK_META_BEGIN_KEYWORD;
        ks->index = (int16_t)field_int(bspec, "startfrom");
        memcpy(*strings, rk_reply_str(kw), rk_reply_len(kw) + 1);
        ks->keyword = *strings;
        *strings += rk_reply_len(kw) + 1;
    }
    ks->keystep = (int16_t)field_int(fspec, "keystep");
    if (text_is(field(fk, "type"), "range")) {
        ks->find = RK_META_FIND_RANGE;
        ks->lastkey = (int16_t)field_int(fspec, "lastkey");
        ks->limit = (int16_t)field_int(fspec, "limit");
    } else if (text_is(field(fk, "type"), "keynum")) {
        ks->find = RK_META_FIND_KEYNUM;
        ks->keynumidx = (int16_t)field_int(fspec, "keynumidx");
        ks->firstkey = (int16_t)field_int(fspec, "firstkey");
    }
}

/* A server before 7.0 gives first, last and step only: one range spec, as
 * the server itself derives it. */
static int legacy_spec(const rk_reply *e, rk_meta_keyspec *ks) {
    int first = (int)rk_reply_int(rk_reply_at(e, F_FIRST));
    int last = (int)rk_reply_int(rk_reply_at(e, F_LAST));
    if (first <= 0)
        return 0;
    *ks = (rk_meta_keyspec){.begin = RK_META_BEGIN_INDEX,
                            .find = RK_META_FIND_RANGE,
                            .index = (int16_t)first,
                            .lastkey = (int16_t)(last < 0 ? last : last - first),
                            .keystep = (int16_t)rk_reply_int(rk_reply_at(e, F_STEP))};
    return 1;
}

/* Checks the shape of one entry: name, arity, flags, first, last, step. */
static bool entry_ok(const rk_reply *e) {
    if (!is_list(e) || rk_reply_len(e) < 6 || !is_text(rk_reply_at(e, F_NAME)) ||
        rk_reply_len(rk_reply_at(e, F_NAME)) == 0)
        return false;
    for (int i = F_ARITY; i <= F_STEP; i++)
        if (i != F_FLAGS && rk_reply_type(rk_reply_at(e, i)) != RK_REPLY_INTEGER)
            return false;
    return true;
}

static const rk_reply *entry_list(const rk_reply *e, int i) {
    return rk_reply_len(e) > (size_t)i ? rk_reply_at(e, i) : NULL;
}

/* Builds the row of one entry in one allocation; NULL when out of memory. */
static learned *make_row(const rk_reply *e) {
    const rk_reply *name = rk_reply_at(e, F_NAME), *specs = entry_specs(e);
    size_t nspecs = specs ? rk_reply_len(specs) : 1, strings = 2 * (rk_reply_len(name) + 1);
    for (size_t i = 0; specs && i < nspecs; i++)
        strings += keyword_bytes(rk_reply_at(specs, i));
    learned *l = rk_calloc(1, sizeof *l + nspecs * sizeof(rk_meta_keyspec) + strings);
    if (!l)
        return NULL;
    char *s = (char *)&l->specs[nspecs];
    rk_meta_command *cmd = &l->cmd;
    for (size_t i = 0; i < rk_reply_len(name); i++)
        s[i] = (char)(rk_reply_str(name)[i] >= 'A' && rk_reply_str(name)[i] <= 'Z'
                          ? rk_reply_str(name)[i] + ('a' - 'A')
                          : rk_reply_str(name)[i]);
    cmd->name = s;
    const char *bar = memchr(s, '|', rk_reply_len(name));
    s += rk_reply_len(name) + 1;
    if (bar) {
        memcpy(s, cmd->name, (size_t)(bar - cmd->name));
        cmd->container = s;
        s += bar - cmd->name + 1;
    }
    cmd->arity = (int)rk_reply_int(rk_reply_at(e, F_ARITY));
    cmd->flags = name_bits(rk_reply_at(e, F_FLAGS), rk_meta_cmd_flag_names);
    cmd->acl = name_bits(entry_list(e, F_ACL), rk_meta_acl_names);
    cmd->tips = name_bits(entry_list(e, F_TIPS), rk_meta_tip_names);
    const rk_reply *subs = entry_list(e, F_SUBS);
    if (is_list(subs) && rk_reply_len(subs) > 0)
        cmd->flags |= RK_META_CMD_CONTAINER;
    cmd->since = "";
    cmd->keyspecs = l->specs;
    if (!specs)
        cmd->nkeyspecs = legacy_spec(e, l->specs);
    for (size_t i = 0; specs && i < nspecs; i++)
        read_spec(rk_reply_at(specs, i), &l->specs[i], &s);
    if (specs)
        cmd->nkeyspecs = (int)nspecs;
    return l;
}

rk_meta_command *rk_meta_parse_entry(const rk_reply *entry) {
    if (!entry_ok(entry)) {
        rk_fail(RK_EPROTO, "not a COMMAND INFO entry");
        return NULL;
    }
    learned *l = make_row(entry);
    if (!l) {
        rk_fail(RK_ENOMEM, "out of memory reading a COMMAND INFO entry");
        return NULL;
    }
    l->next = NULL;
    return &l->cmd;
}

void rk_meta_entry_free(rk_meta_command *cmd) {
    if (cmd)
        rk_free((char *)cmd - offsetof(learned, cmd));
}

/* Adds one entry and its subcommands, unless known. Returns how many rows
 * were added, or RK_ENOMEM. Called with the lock held. */
static int learn_entry(const rk_reply *e) {
    const rk_reply *name = rk_reply_at(e, F_NAME);
    const char *n = rk_reply_str(name);
    size_t len = rk_reply_len(name);
    int added = 0;
    if (!rk_meta_table_find(n, len, NULL, 0) && !find_locked(n, len, NULL, 0)) {
        learned *l = make_row(e);
        if (!l)
            return rk_fail(RK_ENOMEM, "out of memory learning a command");
        l->next = head;
        head = l;
        added = 1;
    }
    const rk_reply *subs = entry_list(e, F_SUBS);
    for (size_t i = 0; is_list(subs) && i < rk_reply_len(subs); i++) {
        const rk_reply *s = rk_reply_at(subs, i);
        if (!entry_ok(s))
            continue;
        int rc = learn_entry(s);
        if (rc < 0)
            return rc;
        added += rc;
    }
    return added;
}

int rk_meta_learn(const rk_reply *info) {
    if (!info || rk_reply_type(info) != RK_REPLY_ARRAY)
        return rk_fail(RK_EPROTO, "COMMAND INFO reply is not an array");
    for (size_t i = 0; i < rk_reply_len(info); i++) {
        const rk_reply *e = rk_reply_at(info, i);
        if (rk_reply_type(e) != RK_REPLY_NIL && !entry_ok(e))
            return rk_fail(RK_EPROTO, "COMMAND INFO entry %zu is not a command", i);
    }
    int added = 0;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < rk_reply_len(info); i++) {
        const rk_reply *e = rk_reply_at(info, i);
        if (rk_reply_type(e) == RK_REPLY_NIL)
            continue;
        int rc = learn_entry(e);
        if (rc < 0) {
            added = rc;
            break;
        }
        added += rc;
    }
    pthread_mutex_unlock(&lock);
    return added;
}
