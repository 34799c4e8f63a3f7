/* rk-cli: its own help, and help for commands built from COMMAND DOCS.
 * Each command (and subcommand) becomes an entry: its name in capitals, a
 * usage line made from its argument tree, its summary, the version it came
 * in and its group. The usage line follows redis-cli 7.0's notation: a
 * token before its value, [optional], a|b for one of, "x [x ...]" for
 * repeats. The reply is read as RESP3 maps or RESP2 flat arrays alike. */
#include "help.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rediskit/reply.h"
#include "rediskit/version.h"
#include "util.h"

static const char help_text[] =
    "rk-cli %s (rediskit). Type a command and its arguments, e.g.\n"
    "    SET greeting \"hello world\\n\"\n"
    "Quote arguments with \"...\" (escapes: \\n \\r \\t \\b \\a \\\\ \\\" \\xHH) or\n"
    "with '...' (escape: \\'). \"3 INCR counter\" runs a command 3 times.\n"
    "\n"
    "    help COMMAND        usage, summary and version of COMMAND\n"
    "    help @GROUP         the same for each command of GROUP, e.g. @string\n"
    "    connect HOST PORT   switch to another server\n"
    "    clear               clear the screen\n"
    "    quit, exit          leave (so do Ctrl-C and Ctrl-D)\n";

/* One command's help; name and params are owned, the rest borrowed from
 * the COMMAND DOCS reply. */
typedef struct entry {
    char *name; /* "CLIENT KILL" */
    char *params;
    const char *summary, *since, *group;
} entry;

typedef struct entries {
    entry *v;
    size_t n, cap;
} entries;

/* ---- reading maps of either protocol ---------------------------------- */

/* Pairs in a RESP3 map, or a RESP2 array of key, value, key, value... */
static size_t pair_count(const rk_reply *r) {
    if (rk_reply_type(r) == RK_REPLY_MAP)
        return rk_reply_len(r);
    return rk_reply_type(r) == RK_REPLY_ARRAY ? rk_reply_len(r) / 2 : 0;
}

static const rk_reply *pair_key(const rk_reply *r, size_t i) {
    return rk_reply_type(r) == RK_REPLY_MAP ? rk_reply_map_key(r, i) : rk_reply_at(r, 2 * i);
}

static const rk_reply *pair_value(const rk_reply *r, size_t i) {
    return rk_reply_type(r) == RK_REPLY_MAP ? rk_reply_map_value(r, i) : rk_reply_at(r, 2 * i + 1);
}

/* The value under key, or NULL. */
static const rk_reply *field(const rk_reply *r, const char *key) {
    for (size_t i = 0; i < pair_count(r); i++) {
        const char *k = rk_reply_str(pair_key(r, i));
        if (k != NULL && strcmp(k, key) == 0)
            return pair_value(r, i);
    }
    return NULL;
}

/* The string under key, or "" (a field left out, or not a string). */
static const char *text(const rk_reply *r, const char *key) {
    const char *s = rk_reply_str(field(r, key));
    return s ? s : "";
}

/* Whether the argument's flags (an array, or a RESP3 set) hold flag. */
static bool has_flag(const rk_reply *arg, const char *flag) {
    const rk_reply *flags = field(arg, "flags");
    for (size_t i = 0; flags != NULL && i < rk_reply_len(flags); i++) {
        const char *f = rk_reply_str(rk_reply_at(flags, i));
        if (f != NULL && strcmp(f, flag) == 0)
            return true;
    }
    return false;
}

/* ---- the usage line ---------------------------------------------------- */

static void put_args(cli_buf *b, const rk_reply *args, const char *sep);

/* One argument: its own text (a name, or its children joined), then
 * " [again ...]" when it repeats, its token before, brackets around when
 * it is optional. A pure token is its token alone. */
static void put_arg(cli_buf *b, const rk_reply *arg) {
    const char *type = text(arg, "type"), *token = text(arg, "token");
    if (field(arg, "token") != NULL && token[0] == '\0')
        token = "\"\""; /* an empty token (MIGRATE's key) is typed as "" */
    cli_buf self = {0};
    if (strcmp(type, "block") == 0)
        put_args(&self, field(arg, "arguments"), " ");
    else if (strcmp(type, "oneof") == 0)
        put_args(&self, field(arg, "arguments"), "|");
    else if (strcmp(type, "pure-token") != 0)
        cli_buf_puts(&self, text(arg, "name"));
    const char *body = self.buf ? self.buf : "";

    bool optional = has_flag(arg, "optional");
    if (optional)
        cli_buf_puts(b, "[");
    if (token[0] != '\0')
        cli_buf_puts(b, token);
    if (token[0] != '\0' && body[0] != '\0')
        cli_buf_puts(b, " ");
    cli_buf_puts(b, body);
    if (has_flag(arg, "multiple")) {
        cli_buf_puts(b, " [");
        if (has_flag(arg, "multiple_token") && token[0] != '\0') {
            cli_buf_puts(b, token);
            cli_buf_puts(b, " ");
        }
        cli_buf_puts(b, body);
        cli_buf_puts(b, " ...]");
    }
    if (optional)
        cli_buf_puts(b, "]");
    free(self.buf);
}

static void put_args(cli_buf *b, const rk_reply *args, const char *sep) {
    for (size_t i = 0; args != NULL && i < rk_reply_len(args); i++) {
        if (i > 0)
            cli_buf_puts(b, sep);
        put_arg(b, rk_reply_at(args, i));
    }
}

/* ---- entries ----------------------------------------------------------- */

/* "client|kill" as redis-cli names it: "CLIENT KILL". */
static char *display_name(const char *name) {
    char *out = cli_strdup(name);
    for (char *p = out; *p; p++)
        *p = *p == '|' ? ' ' : (char)toupper((unsigned char)*p);
    return out;
}

static void add_entry(entries *es, const char *name, const rk_reply *doc) {
    if (es->n == es->cap) {
        es->cap = es->cap ? es->cap * 2 : 256;
        es->v = cli_realloc(es->v, es->cap * sizeof(*es->v));
    }
    cli_buf params = {0};
    put_args(&params, field(doc, "arguments"), " ");
    es->v[es->n++] = (entry){.name = display_name(name),
                             .params = params.buf ? params.buf : cli_strdup(""),
                             .summary = text(doc, "summary"),
                             .since = text(doc, "since"),
                             .group = text(doc, "group")};
}

/* Every command of the COMMAND DOCS reply, and its subcommands. */
static void collect(entries *es, const rk_reply *docs) {
    for (size_t i = 0; i < pair_count(docs); i++) {
        const char *name = rk_reply_str(pair_key(docs, i));
        const rk_reply *doc = pair_value(docs, i);
        if (name == NULL)
            continue;
        add_entry(es, name, doc);
        collect(es, field(doc, "subcommands"));
    }
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static void free_entries(entries *es) {
    for (size_t i = 0; i < es->n; i++) {
        free(es->v[i].name);
        free(es->v[i].params);
    }
    free(es->v);
}

/* ---- matching and printing --------------------------------------------- */

/* Whether the entry's name starts with the words (case aside), word by
 * word: "client" matches "CLIENT" and "CLIENT KILL", not "CLIENTS". */
static bool name_matches(const char *name, const cli_args *a) {
    for (int i = 1; i < a->argc; i++) {
        size_t n = strcspn(name, " ");
        if (n != a->argv[i].len || strncasecmp(name, a->argv[i].ptr, n) != 0)
            return false;
        name += n;
        if (*name == ' ')
            name++;
        else if (i + 1 < a->argc)
            return false;
    }
    return true;
}

static void print_entry(const entry *e, bool with_group, bool raw) {
    /* bold name, grey usage, yellow labels, as redis-cli on a terminal */
    const char *nl = raw ? "\n" : "\r\n";
    const char *bold = raw ? "" : "\x1b[1m", *grey = raw ? "" : "\x1b[90m";
    const char *yellow = raw ? "" : "\x1b[33m", *off = raw ? "" : "\x1b[0m";
    printf("%s  %s%s%s %s%s%s%s", nl, bold, e->name, off, grey, e->params, off, nl);
    printf("  %ssummary:%s %s%s", yellow, off, e->summary, nl);
    printf("  %ssince:%s %s%s", yellow, off, e->since, nl);
    if (with_group)
        printf("  %sgroup:%s %s%s", yellow, off, e->group, nl);
}

static void print_matches(const entries *es, const cli_args *a, bool raw) {
    bool group = a->argv[1].ptr[0] == '@';
    for (size_t i = 0; i < es->n; i++) {
        const entry *e = &es->v[i];
        if (group ? strcasecmp(e->group, a->argv[1].ptr + 1) == 0 : name_matches(e->name, a))
            print_entry(e, !group, raw);
    }
    fputs(raw ? "\n" : "\r\n", stdout);
    fflush(stdout);
}

bool cli_is_help(const cli_args *a) {
    return a->argc > 0 &&
           (strcasecmp(a->argv[0].ptr, "help") == 0 || strcmp(a->argv[0].ptr, "?") == 0);
}

/* Every command's help, from the server. */
static int command_help(cli_session *s, const cli_args *a) {
    cli_args docs = {0};
    cli_args_push(&docs, "COMMAND", 7);
    cli_args_push(&docs, "DOCS", 4);
    rk_reply r;
    int rc = cli_session_call(s, &docs, &r);
    if (rc == CLI_OK && pair_count(&r) == 0)
        rc = CLI_SERVER_ERROR; /* no COMMAND DOCS before Redis 7: say what came */
    if (rc == CLI_SERVER_ERROR)
        cli_session_print(s, &docs, &r);
    if (rc == CLI_OK) {
        entries es = {0};
        collect(&es, &r);
        qsort(es.v, es.n, sizeof(*es.v), by_name);
        print_matches(&es, a, s->raw);
        free_entries(&es);
    }
    if (rc != CLI_FAILED)
        rk_reply_free(&r);
    cli_args_free(&docs);
    return rc;
}

int cli_help(cli_session *s, const cli_args *a) {
    if (a->argc > 1)
        return command_help(s, a);
    printf(help_text, RK_VERSION_STRING);
    fflush(stdout);
    return CLI_OK;
}
