/* rk-cli: splitting a typed line into command arguments, with the quoting
 * rules of redis-cli (sdssplitargs): "double quotes" take the escapes \n \r
 * \t \b \a \xHH and \<any> for that character; 'single quotes' take only
 * \'. A closing quote must be followed by a blank or the end of the line. */
#ifndef RKCLI_SPLIT_H
#define RKCLI_SPLIT_H

#include <stddef.h>

#include "rediskit/str.h"

/** Arguments of one line, as the library's argv calls take them; each
 *  argv[i].ptr is an owned copy, NUL-terminated too (binary safe by len). */
typedef struct cli_args {
    int argc;
    rk_str *argv;
} cli_args;

/** Splits line into *out. Returns 0, or -1 for unbalanced quotes or a quote
 *  closed in the middle of a word (out is then empty); exits on out of
 *  memory. An empty or blank line gives argc 0. Free with cli_args_free. */
int cli_split(const char *line, cli_args *out);

/** Appends one argument (copied); exits on out of memory. */
void cli_args_push(cli_args *a, const char *s, size_t len);

void cli_args_free(cli_args *a);

#endif
