/* rk_conn_run: a built command (rediskit/command.h) on a held connection.
 *
 * The connection layer's runner: report a build error without sending,
 * send the command, read its reply, give it the command's shape, and apply
 * the nil rule; the command is released whatever happens. */
#include <string.h>

#include "rediskit/conn.h"
#include "resp/command_int.h"
#include "util/common.h"

int rk_conn_run(rk_conn *conn, rk_command *cmd, rk_reply *reply) {
    rk_reply tmp;
    rk_reply *out = reply ? reply : &tmp;
    memset(out, 0, sizeof(*out));
    rk_command_int *c;
    int rc = rk_command_ready(cmd, &c);
    if (rc == RK_OK && conn == NULL)
        rc = rk_fail(RK_EINVAL, "%s: NULL connection", c->name);
    if (rc == RK_OK) {
        rc = rk_conn_call_argv(conn, out, c->argv, c->argc);
        rc = rk_command_finish(c, rc, out);
    }
    rk_command_release(cmd);
    if (out == &tmp)
        rk_reply_free(&tmp);
    return rc;
}
