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

RK_HOT static int send_on_client(void *client, const rk_command_int *c, rk_reply *out) {
    return rk_client_call_keyed(client, out, NULL, c->argv, c->argc, c->keys, c->nkeys);
}

RK_HOT int rk_client_run(rk_client *client, rk_command *cmd, rk_reply *reply) {
    return rk_command_run_with(client, "client", cmd, reply, send_on_client);
}
