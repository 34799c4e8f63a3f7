/* rk_conn_run: a built command (rediskit/command.h) on a held connection.
 *
 * The connection layer's runner: report a build error without sending,
 * send the command, read its reply, give it the command's shape, and apply
 * the nil rule; the command is released whatever happens. */
#include <string.h>

#include "rediskit/conn.h"
#include "resp/command_int.h"
#include "util/common.h"

static int send_on_conn(void *conn, const rk_command_int *c, rk_reply *out) {
    return rk_conn_call_argv(conn, out, c->argv, c->argc);
}

int rk_conn_run(rk_conn *conn, rk_command *cmd, rk_reply *reply) {
    return rk_command_run_with(conn, "connection", cmd, reply, send_on_conn);
}
