/* rk_client_run: a built command (rediskit/command.h) on the client.
 *
 * The command goes through the client's one call path (a pooled
 * connection, the retry policy, the refusal of commands that change their
 * connection's state), with the call's timeout stretched by the time a
 * blocking command may make the server wait. The reply gets the command's
 * shape and the nil rule; the command is released whatever happens. */
#include <limits.h>
#include <string.h>

#include "rediskit/client.h"
#include "resp/command_int.h"
#include "util/common.h"

/* A blocking command may hold its reply back for block_ms: the call's
 * timeout, when the client has one, is stretched by that much. */
static int call_timeout(rk_client *client, const rk_command_int *cmd) {
    int base = rk_client_options(client)->command_timeout_ms;
    if (cmd->block_ms == 0 || base <= 0)
        return 0;
    if (cmd->block_ms < 0 || cmd->block_ms > INT_MAX - base)
        return INT_MAX;
    return base + (int)cmd->block_ms;
}

int rk_client_run(rk_client *client, rk_command *cmd, rk_reply *reply) {
    rk_reply tmp;
    rk_reply *out = reply ? reply : &tmp;
    memset(out, 0, sizeof(*out));
    rk_command_int *c;
    int rc = rk_command_ready(cmd, &c);
    if (rc == RK_OK && client == NULL)
        rc = rk_fail(RK_EINVAL, "%s: NULL client", c->name);
    if (rc == RK_OK) {
        rk_call_opts opts = {.timeout_ms = call_timeout(client, c)};
        rc = rk_client_call_argv_opts(client, out, &opts, c->argv, c->argc);
        rc = rk_command_finish(c, rc, out);
    }
    rk_command_release(cmd);
    if (out == &tmp)
        rk_reply_free(&tmp);
    return rc;
}
