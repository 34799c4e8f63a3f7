/* rk-cli: the read-run-print loop. A line is split with redis-cli's quoting
 * rules; "N COMMAND ..." repeats a command N times; quit, exit, connect,
 * clear and help are handled here; anything else goes to the server. On a
 * terminal, lines are edited with the line editor and kept in a history
 * file ($RKCLI_HISTFILE, else ~/.rkcli_history; /dev/null for none). */
#include "repl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "help.h"
#include "lineedit.h"
#include "util.h"

/* What handle_line tells the loop: go on, or exit with a code >= 0. */
#define REPL_CONTINUE (-1)

/* Commands slower than this print their time, as redis-cli's do. */
#define SLOW_COMMAND_MS 500

static char *history_path(void) {
    const char *env = getenv("RKCLI_HISTFILE");
    if (env != NULL && env[0] != '\0')
        return strcmp(env, "/dev/null") == 0 ? NULL : cli_strdup(env);
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0')
        return NULL;
    size_t n = strlen(home) + sizeof("/.rkcli_history");
    char *path = cli_realloc(NULL, n);
    snprintf(path, n, "%s/.rkcli_history", home);
    return path;
}

static bool word_is(const cli_args *a, int i, const char *word) {
    return i < a->argc && strcasecmp(a->argv[i].ptr, word) == 0;
}

static bool has_word(const cli_args *a, int from, const char *word) {
    for (int i = from; i < a->argc; i++)
        if (strcasecmp(a->argv[i].ptr, word) == 0)
            return true;
    return false;
}

/* Lines that carry a password stay out of the history, as in redis-cli. */
static bool holds_secret(const cli_args *a, int first) {
    if (word_is(a, first, "auth"))
        return true;
    if (word_is(a, first, "acl") && word_is(a, first + 1, "setuser"))
        return true;
    if (word_is(a, first, "hello") || word_is(a, first, "migrate"))
        return has_word(a, first + 1, "auth") || has_word(a, first + 1, "auth2");
    return word_is(a, first, "config") && word_is(a, first + 1, "set") &&
           (has_word(a, first + 2, "masterauth") || has_word(a, first + 2, "masteruser") ||
            has_word(a, first + 2, "requirepass"));
}

/* "N COMMAND ...": returns how many times (*times) and 1 for the words to
 * skip, 0 without a count, -1 for a bad count. */
static int repeat_prefix(const cli_args *a, long *times) {
    char *end;
    errno = 0;
    long n = strtol(a->argv[0].ptr, &end, 10);
    *times = 1;
    if (a->argc < 2 || end == a->argv[0].ptr || *end != '\0')
        return 0;
    if (errno != 0 || n <= 0)
        return -1;
    *times = n;
    return 1;
}

/* The words of a after the first `skip`, borrowed. */
static cli_args tail(const cli_args *a, int skip) {
    return (cli_args){.argc = a->argc - skip, .argv = a->argv + skip};
}

/* Runs a command `times` times; prints the time taken when it was slow
 * and the output is for a person. Returns the last CLI_ code. */
static int run_timed(cli_session *s, const cli_args *cmd, long times) {
    int64_t start = cli_now_ms();
    int rc = CLI_OK;
    for (long i = 0; i < times && rc != CLI_FATAL; i++)
        rc = cli_session_run(s, cmd);
    int64_t took = cli_now_ms() - start;
    if (took >= SLOW_COMMAND_MS && !s->raw && rc != CLI_FATAL) {
        printf("(%.2fs)\n", (double)took / 1000);
        fflush(stdout);
    }
    return rc;
}

/* Runs what the words say; returns an exit code or REPL_CONTINUE. */
static int run_words(cli_session *s, const cli_args *a, bool tty) {
    if (word_is(a, 0, "quit") || word_is(a, 0, "exit"))
        return 0;
    if (a->argc == 3 && word_is(a, 0, "connect")) {
        cli_session_set_address(s, a->argv[1].ptr, atoi(a->argv[2].ptr));
        cli_session_connect(s);
        return REPL_CONTINUE;
    }
    if (a->argc == 1 && word_is(a, 0, "clear")) {
        if (tty)
            le_clear_screen();
        return REPL_CONTINUE;
    }
    if (cli_is_help(a))
        return cli_help(s, a) == CLI_FATAL ? 1 : REPL_CONTINUE;
    long times;
    int skip = repeat_prefix(a, &times);
    if (skip < 0) {
        /* redis-cli's words, kept for scripts that look for them */
        fputs("Invalid redis-cli repeat command option value.\n", stdout);
        fflush(stdout);
        return REPL_CONTINUE;
    }
    cli_args cmd = tail(a, skip);
    return run_timed(s, &cmd, times) == CLI_FATAL ? 1 : REPL_CONTINUE;
}

static int handle_line(cli_session *s, const char *line, bool tty) {
    cli_args a;
    if (cli_split(line, &a) < 0) {
        fputs("Invalid argument(s)\n", stdout);
        fflush(stdout);
        if (tty)
            le_history_add(line);
        return REPL_CONTINUE;
    }
    if (a.argc == 0)
        return REPL_CONTINUE;
    long times;
    int skip = repeat_prefix(&a, &times);
    if (tty && !holds_secret(&a, skip < 0 ? 0 : skip))
        le_history_add(line);
    int rc = run_words(s, &a, tty);
    cli_args_free(&a);
    return rc;
}

int cli_repl(cli_session *s) {
    bool tty = isatty(STDIN_FILENO);
    char *hist = tty ? history_path() : NULL;
    if (hist != NULL)
        le_history_load(hist);
    cli_session_connect(s);
    int code = 0;
    char *line;
    while ((line = le_read(cli_session_prompt(s))) != NULL) {
        int rc = line[0] ? handle_line(s, line, tty) : REPL_CONTINUE;
        free(line);
        if (hist != NULL)
            le_history_save(hist);
        if (rc != REPL_CONTINUE) {
            code = rc;
            break;
        }
    }
    free(hist);
    le_history_free();
    return code;
}
