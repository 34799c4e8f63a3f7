/* Hand-written connection commands: those whose reply the generated form
 * would get wrong. */
#include <string.h>

#include "conn/conn_int.h"
#include "rediskit/commands.h"
#include "util/common.h"

int rk_clientreply(rk_conn *conn, rk_clientreply_mode mode) {
    static const char *const modes[] = {"ON", "OFF", "SKIP"};
    if (conn == NULL || mode < RK_CLIENTREPLY_ON || mode > RK_CLIENTREPLY_SKIP)
        return rk_fail(RK_EINVAL, "CLIENT REPLY: needs a connection and a mode");
    const rk_str argv[] = {RK_STR("CLIENT"), RK_STR("REPLY"), rk_cstr(modes[mode - 1])};
    return rk_conn_call_argv(conn, NULL, argv, 3);
}

/* The server's RESET forgets the protocol, user, database and name the
 * connection was set up with (and ends subscriptions, MULTI, WATCH and
 * CLIENT REPLY OFF); the connection then sets itself up again. */
int rk_reset(rk_conn *conn) {
    if (conn == NULL)
        return rk_fail(RK_EINVAL, "RESET: needs a connection");
    const rk_str argv[] = {RK_STR("RESET")};
    bool streaming = rk_conn_in_pubsub(conn); /* MONITOR lines, messages */
    int rc = rk_conn_append_argv(conn, argv, 1);
    if (rc == RK_OK)
        rc = rk_conn_flush(conn);
    while (rc == RK_OK) { /* what was streaming may arrive before +RESET */
        rk_reply r;
        rc = rk_conn_read(conn, &r);
        bool done = rc == RK_OK && rk_reply_type(&r) == RK_REPLY_STATUS &&
                    strcmp(rk_reply_str(&r), "RESET") == 0;
        /* Replies still expected after this one: it answered a command
         * appended before RESET, and is dropped (as rk_conn_call does),
         * an error reply too. */
        bool earlier = !streaming && rk_conn_pending(conn) > 0;
        if (rc == RK_ESERVER && earlier && !rk_conn_is_broken(conn))
            rc = RK_OK;
        else if (rc == RK_OK && !done && !streaming && !earlier)
            rc = rk_fail(RK_EPROTO, "RESET: expected +RESET, got a %s reply",
                         rk_type_name(rk_reply_type(&r)));
        rk_reply_free(&r);
        if (done)
            break;
    }
    return rc == RK_OK ? rk_conn_redo_handshake(conn) : rc;
}

/* MONITOR's lines are replies nobody asked for: the connection goes into
 * subscriber mode, which hands them to rk_conn_read as they come. */
int rk_monitor(rk_conn *conn) {
    if (conn == NULL)
        return rk_fail(RK_EINVAL, "MONITOR: needs a connection");
    const rk_str argv[] = {RK_STR("MONITOR")};
    rk_reply r;
    int rc = rk_conn_call_argv(conn, &r, argv, 1);
    if (rc == RK_OK && rk_reply_type(&r) != RK_REPLY_STATUS)
        rc = rk_fail(RK_EPROTO, "MONITOR: expected +OK, got a %s reply",
                     rk_type_name(rk_reply_type(&r)));
    rk_reply_free(&r);
    if (rc == RK_OK)
        rk_conn_set_pubsub(conn, true);
    return rc;
}
