/* Hand-written connection commands: those whose reply the generated form
 * would get wrong. */
#include "commands/cmd_int.h"
#include "rediskit/commands.h"
#include "util/common.h"

int rk_client_reply(rk_conn *conn, rk_client_reply_mode mode) {
    static const char *const modes[] = {"ON", "OFF", "SKIP"};
    if (conn == NULL || mode < RK_CLIENT_REPLY_ON || mode > RK_CLIENT_REPLY_SKIP)
        return rk_fail(RK_EINVAL, "CLIENT REPLY: needs a connection and a mode");
    const char *argv[] = {"CLIENT", "REPLY", modes[mode - 1]};
    if (mode == RK_CLIENT_REPLY_ON)
        return rk_conn_call_argv(conn, NULL, 3, argv, NULL);
    int rc = rk_conn_append_argv(conn, 3, argv, NULL);
    return rc == RK_OK ? rk_conn_flush(conn) : rc;
}
