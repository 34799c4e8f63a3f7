/* Internal: what the client must know of a command before sending it:
 * whether it can be repeated without effect (retry safety), and whether it
 * changes its connection's state (not for pooled one-shot calls). */
#ifndef RK_SAFE_H
#define RK_SAFE_H

#include <stdbool.h>
#include <stddef.h>

#pragma GCC visibility push(hidden)

/* True when the command (argv[0], and argv[1] for a container command such
 * as OBJECT ENCODING) only reads, so sending it twice is harmless. */
bool rk_command_is_safe(int argc, const char *const *argv, const size_t *argvlen);

/* The same for a printf-style command format (see rk_format_flags). */
bool rk_format_is_safe(const char *fmt);

/* Both facts at once, as RK_CMD_* bits: RK_CMD_STATEFUL when the command
 * changes the state of the connection it runs on (MULTI, WATCH, SELECT,
 * SUBSCRIBE, AUTH...), so that it must not run on a pooled connection
 * through a one-shot call. rk_format_flags judges a printf-style format by
 * its literal command name (and subcommand); a name given by a conversion
 * gets no flag. */
enum { RK_CMD_SAFE = 1, RK_CMD_STATEFUL = 2 };
unsigned rk_command_flags(int argc, const char *const *argv, const size_t *argvlen);
unsigned rk_format_flags(const char *fmt);
bool rk_command_is_stateful(int argc, const char *const *argv, const size_t *argvlen);

#pragma GCC visibility pop

#endif
