/* rk-cli: "help", "help COMMAND" and "help @group", interactive or
 * one-shot. The last two are answered as redis-cli 7.0 answers them (a
 * usage line, summary, since and group per command), but from the server's
 * own COMMAND DOCS rather than a table built into the tool, so the help
 * always matches the server asked. */
#ifndef RKCLI_HELP_H
#define RKCLI_HELP_H

#include <stdbool.h>

#include "session.h"
#include "split.h"

/** Whether the command is rk-cli's own "help" (or "?"), which
 *  cli_help answers instead of the server. */
bool cli_is_help(const cli_args *a);

/** "help" alone prints rk-cli's help. Otherwise prints the help for the
 *  words after "help" in a: every command or subcommand whose name starts
 *  with those words (HELP CLIENT lists CLIENT and its subcommands), or with
 *  "@group" every command of that group. Output is byte for byte redis-cli's (colours and CRLF) in
 *  formatted mode, and the same text without colours, one LF a line, in raw
 *  mode. Nothing matching prints an empty line, as in redis-cli. Returns a
 *  CLI_ code; a server that refuses COMMAND DOCS has its error printed. */
int cli_help(cli_session *s, const cli_args *a);

#endif
