/* Internal: what the client must know of a command before sending it:
 * whether it can be repeated without effect (retry safety), and whether it
 * changes its connection's state (not for pooled one-shot calls). */
#ifndef RK_SAFE_H
#define RK_SAFE_H

#include <stdbool.h>
#include <stddef.h>

#include "rediskit/writer.h"

#pragma GCC visibility push(hidden)

/* True when the command (argv[0], and argv[1] for a container command such
 * as OBJECT ENCODING) only reads, so sending it twice is harmless. */
bool rk_command_is_safe(int argc, const char *const *argv, const size_t *argvlen);

/* Both facts at once, as RK_CMD_* bits: RK_CMD_STATEFUL when the command
 * changes the state of the connection it runs on (MULTI, WATCH, SELECT,
 * SUBSCRIBE, AUTH...), so that it must not run on a pooled connection
 * through a one-shot call. */
enum { RK_CMD_SAFE = 1, RK_CMD_STATEFUL = 2 };
unsigned rk_command_flags(int argc, const char *const *argv, const size_t *argvlen);
bool rk_command_is_stateful(int argc, const char *const *argv, const size_t *argvlen);

/* The flags among `want` of the command encoded last into writer (read
 * back from its queue, so a name given by a format conversion counts like
 * any other); 0 when the last thing queued was not a command. Asking for
 * RK_CMD_STATEFUL alone is cheaper: most names are ruled out without a
 * lookup. */
unsigned rk_writer_last_flags(const rk_writer *writer, unsigned want);

/* What the command encoded last into writer does to the mode of the
 * connection it is sent on: RK_MODE_STREAM for MONITOR and SUBSCRIBE,
 * PSUBSCRIBE, SSUBSCRIBE (the server may then send what no command asked
 * for), RK_MODE_RESET for RESET, RK_MODE_REPLY_* for CLIENT REPLY
 * ON/OFF/SKIP, RK_MODE_SAME for anything else. */
enum {
    RK_MODE_SAME,
    RK_MODE_STREAM,
    RK_MODE_RESET,
    RK_MODE_REPLY_ON,
    RK_MODE_REPLY_OFF,
    RK_MODE_REPLY_SKIP
};
int rk_writer_last_mode(const rk_writer *writer);

#pragma GCC visibility pop

#endif
