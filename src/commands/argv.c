/* rk_command_argv: a built command from an argument vector, with its
 * metadata row and its keys found from the command table (src/meta), as
 * the typed builders know theirs. The reply is left as the server sends
 * it (no shape): only the typed builders know their reply's shape. */
#include <ctype.h>
#include <string.h>

#include "meta/meta.h"
#include "resp/command_int.h"
#include "util/common.h"

/* Keys found at once; a command with more takes a heap array. */
#define KEYS_AT_ONCE 64

/* cmd->namebuf = the command's words as the server knows them, upper
 * case: "GET", or "CONFIG GET" for a container's subcommand. */
static void name_from(rk_command_int *cmd, const rk_str *argv, size_t argc, bool sub) {
    size_t n = 0;
    for (size_t w = 0; w < (sub ? 2u : 1u) && w < argc; w++) {
        if (w > 0 && n + 1 < sizeof(cmd->namebuf))
            cmd->namebuf[n++] = ' ';
        for (size_t i = 0; i < argv[w].len && n + 1 < sizeof(cmd->namebuf); i++)
            cmd->namebuf[n++] = (char)toupper((unsigned char)argv[w].ptr[i]);
    }
    cmd->namebuf[n] = '\0';
    cmd->name = cmd->namebuf;
}

/* Marks the keys the table finds in cmd's arguments. An argv the table
 * cannot read (wrong arity, a bad numkeys) gets no keys: the server will
 * say what is wrong with it. */
static void mark_keys(rk_command_int *cmd) {
    rk_key_ref at_once[KEYS_AT_ONCE], *refs = at_once;
    int n = rk_meta_keys(cmd->meta, cmd->argv, cmd->argc, refs, KEYS_AT_ONCE);
    if (n > KEYS_AT_ONCE) {
        refs = rk_malloc((size_t)n * sizeof(*refs));
        if (refs == NULL)
            rk_arg_fail(cmd, RK_ENOMEM, "out of memory finding the keys");
        else
            n = rk_meta_keys(cmd->meta, cmd->argv, cmd->argc, refs, n);
    }
    for (int i = 0; refs != NULL && i < n; i++)
        rk_arg_mark_key(cmd, (size_t)refs[i].pos);
    if (refs != at_once)
        rk_free(refs);
}

rk_command *rk_command_argv(rk_command *cmd, const rk_str *argv, size_t argc) {
    rk_command_int *c = rk_command_init(cmd, "rk_command_argv");
    if (c == NULL)
        return NULL;
    if (argv == NULL || argc == 0 || argv[0].ptr == NULL || argv[0].len == 0) {
        rk_arg_invalid(c, "a command needs at least its name");
        return cmd;
    }
    const rk_str *sub = argc > 1 ? &argv[1] : NULL;
    c->meta = rk_meta_find(argv[0].ptr, argv[0].len, NULL, 0);
    if (c->meta != NULL && (c->meta->flags & RK_META_CMD_CONTAINER) && sub && sub->ptr) {
        c->meta = rk_meta_find(argv[0].ptr, argv[0].len, sub->ptr, sub->len);
    }
    name_from(c, argv, argc, c->meta != NULL && c->meta->container != NULL);
    for (size_t i = 0; i < argc; i++)
        rk_arg_str(c, argv[i]);
    if (c->err == RK_OK && c->meta != NULL)
        mark_keys(c);
    return cmd;
}
