/* rk_client_run: a built command (rediskit/command.h) on the client.
 *
 * The command goes through the client's one call path (a pooled
 * connection, the retry policy, the refusal of commands that change their
 * connection's state); the connection stretches the reply's deadline by
 * the time a blocking command may make the server wait, as for any call.
 * The reply gets the command's shape and the nil rule; the command is
 * released whatever happens. */
#include <string.h>

#include "client/client_int.h"
#include "rediskit/client.h"
#include "resp/command_int.h"
#include "util/common.h"

int rk_client_run(rk_client *client, rk_command *cmd, rk_reply *reply) {
    rk_reply tmp;
    rk_reply *out = reply ? reply : &tmp;
    memset(out, 0, sizeof(*out));
    rk_command_int *c;
    int rc = rk_command_ready(cmd, &c);
    if (rc == RK_OK && client == NULL)
        rc = rk_fail(RK_EINVAL, "%s: NULL client", c->name);
    if (rc == RK_OK) {
        rc = rk_client_call_keyed(client, out, NULL, c->argv, c->argc, c->keys, c->nkeys);
        rc = rk_command_finish(c, rc, out);
    }
    rk_command_release(cmd);
    if (out == &tmp)
        rk_reply_free(&tmp);
    return rc;
}
