/* rk-cli: the interactive mode (a prompt, line editing, history), which is
 * also how commands read from a stdin that is not a terminal are run, one
 * a line, as redis-cli does. */
#ifndef RKCLI_REPL_H
#define RKCLI_REPL_H

#include "session.h"

/** Reads and runs lines until end of input or quit/exit. Returns the exit
 *  code: 0, or 1 when a SUBSCRIBE or MONITOR stream ended. */
int cli_repl(cli_session *s);

#endif
