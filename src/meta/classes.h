/* Internal: what the client must know of a command before sending it,
 * read from the command metadata table (src/meta/meta.h): whether it can be
 * repeated without effect (retry safety), whether it changes its
 * connection's state (not for pooled one-shot calls), and what it does to
 * the connection's mode. Nothing here needs the typed command API. */
#ifndef RK_META_CLASSES_H
#define RK_META_CLASSES_H

#include <stdbool.h>
#include <stddef.h>

#include "meta/meta.h"
#include "rediskit/writer.h"

#pragma GCC visibility push(hidden)

/* The classes, as bits of a command's row (rk_meta_command.flags):
 * RK_CMD_SAFE when it only reads, so sending it twice is harmless (the
 * server's own commands flagged readonly and not write, and the reads
 * tools/gen-commands/spec.py lists in READS; never a module's command);
 * RK_CMD_STATEFUL when it changes the state of the connection it runs on
 * (MULTI, WATCH, SELECT, SUBSCRIBE, AUTH...: spec.py's CONNECTION and HAND),
 * so that it must not run on a pooled connection through a one-shot call.
 * Commands learned at run time (rk_meta_learn) have neither. */
enum { RK_CMD_SAFE = RK_META_CMD_SAFE, RK_CMD_STATEFUL = RK_META_CMD_STATEFUL };

/* The classes of the command argv[0] (and argv[1] for a container command
 * such as OBJECT ENCODING; an unknown subcommand counts as its container),
 * in any case. 0 for an unknown
 * command or no command at all. A name spelled as the table spells a
 * subcommand ("client|reply") has that subcommand's classes, though the
 * server knows no such name (a pooled call refuses it at once rather than
 * send it). No allocation, no error set. Thread-safe. */
unsigned rk_command_flags(const rk_str *argv, size_t argc);
bool rk_command_is_safe(const rk_str *argv, size_t argc);
bool rk_command_is_stateful(const rk_str *argv, size_t argc);

/* The classes among `want` of the command encoded last into writer (read
 * back from its queue, so a name given by a format conversion counts like
 * any other); 0 when the last thing queued was not a command. Asking for
 * RK_CMD_STATEFUL alone is cheaper: most names are ruled out without a
 * lookup (rk_meta_stateful_lengths). */
unsigned rk_writer_last_flags(const rk_writer *writer, unsigned want);

/* What the command encoded last into writer does to the mode of the
 * connection it is sent on: RK_MODE_STREAM for MONITOR and SUBSCRIBE,
 * PSUBSCRIBE, SSUBSCRIBE (the server may then send what no command asked
 * for), RK_MODE_RESET for RESET, RK_MODE_REPLY_* for CLIENT REPLY
 * ON/OFF/SKIP, RK_MODE_SESSION for SELECT, AUTH, HELLO and CLIENT SETNAME
 * (the db, user, protocol or name are no longer what the options say),
 * CLIENT KILL (it may close this very connection) and every other
 * stateful command (QUIT, CLIENT TRACKING, READONLY, ASKING...),
 * RK_MODE_MULTI for MULTI and RK_MODE_TX_END for EXEC and DISCARD,
 * RK_MODE_WATCH for WATCH and RK_MODE_UNWATCH for UNWATCH, RK_MODE_SAME
 * for anything else. */
enum {
    RK_MODE_SAME,
    RK_MODE_STREAM,
    RK_MODE_RESET,
    RK_MODE_REPLY_ON,
    RK_MODE_REPLY_OFF,
    RK_MODE_REPLY_SKIP,
    RK_MODE_SESSION,
    RK_MODE_MULTI,
    RK_MODE_TX_END,
    RK_MODE_WATCH,
    RK_MODE_UNWATCH
};
int rk_writer_last_mode(const rk_writer *writer);

#pragma GCC visibility pop

#endif
