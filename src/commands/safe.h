/* Internal: which commands can be repeated without effect (retry safety). */
#ifndef RK_SAFE_H
#define RK_SAFE_H

#include <stdbool.h>
#include <stddef.h>

#pragma GCC visibility push(hidden)

/* True when the command (argv[0], and argv[1] for a container command such
 * as OBJECT ENCODING) only reads, so sending it twice is harmless. */
bool rk_command_is_safe(int argc, const char *const *argv, const size_t *argvlen);

/* The same for a printf-style command format, judged by its literal
 * command name (and subcommand); a name given by a conversion is unsafe. */
bool rk_format_is_safe(const char *fmt);

#pragma GCC visibility pop

#endif
