/* rk-cli: a command-line client for Redis built on rediskit, a drop-in for
 * the everyday uses of redis-cli. With a command on the command line it
 * runs it once and prints the reply as redis-cli would; without one it
 * starts the interactive mode (or reads commands from stdin). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "help.h"
#include "repl.h"
#include "session.h"
#include "split.h"
#include "util.h"

/* All of stdin, for -x. */
static void read_stdin_arg(cli_args *cmd) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = cli_realloc(buf, cap);
        }
        ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    cli_args_push(cmd, buf ? buf : "", len);
    free(buf);
}

/* The command from argv, unquoted with --quoted-input. Returns 0, or -1
 * when an argument is not exactly one quoted string. */
static int command_args(const cli_config *cfg, int argc, char **argv, cli_args *cmd) {
    *cmd = (cli_args){0};
    for (int i = 0; i < argc; i++) {
        cli_args one;
        if (!cfg->quoted_input) {
            cli_args_push(cmd, argv[i], strlen(argv[i]));
            continue;
        }
        if (cli_split(argv[i], &one) < 0 || one.argc != 1) {
            cli_args_free(&one);
            cli_args_free(cmd);
            return -1;
        }
        cli_args_push(cmd, one.argv[0].ptr, one.argv[0].len);
        cli_args_free(&one);
    }
    if (cfg->stdin_last_arg)
        read_stdin_arg(cmd);
    return 0;
}

static void pause_seconds(double s) {
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0) {
    }
}

/* One-shot mode: exit 0 once the replies (or the help) are printed, 1 when
 * the server could not be reached or the connection failed (or, with -e,
 * on an error reply). */
static int run_once(cli_session *s, const cli_args *cmd) {
    const cli_config *cfg = s->cfg;
    if (cli_session_connect(s) < 0)
        return 1;
    if (cli_is_help(cmd)) /* answered once, whatever -r says, as redis-cli does */
        return cli_help(s, cmd) == CLI_FAILED ? 1 : 0;
    int code = 0;
    for (long i = 0; cfg->repeat < 0 || i < cfg->repeat; i++) {
        int rc = cli_session_run(s, cmd);
        if (rc == CLI_FAILED || rc == CLI_FATAL)
            return 1;
        if (rc == CLI_SERVER_ERROR && cfg->exit_on_error)
            code = 1;
        if (cfg->interval_s > 0)
            pause_seconds(cfg->interval_s);
    }
    return code;
}

static int run(cli_config *cfg, int argc, char **argv) {
    if (cfg->auth_warning)
        fputs("Warning: Using a password with '-a' or '-u' option on the command line "
              "interface may not be safe.\n",
              stderr);
    bool one_shot = cfg->first_arg < argc;
    cli_session s;
    cli_session_init(&s, cfg, !one_shot);
    s.raw = cfg->raw >= 0 ? cfg->raw == 1 : !isatty(STDOUT_FILENO);
    s.show_pushes = cfg->show_pushes >= 0 ? cfg->show_pushes == 1 : isatty(STDOUT_FILENO);
    int code;
    if (one_shot) {
        cli_args cmd;
        if (command_args(cfg, argc - cfg->first_arg, argv + cfg->first_arg, &cmd) < 0) {
            puts("Invalid quoted string");
            code = 1;
        } else {
            code = run_once(&s, &cmd);
            cli_args_free(&cmd);
        }
    } else {
        code = cli_repl(&s);
    }
    cli_session_free(&s);
    return code;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN); /* a closed connection is an error, not a death */
    cli_config cfg;
    int code = cli_parse_args(argc, argv, &cfg);
    if (code == CLI_RUN)
        code = run(&cfg, argc, argv);
    cli_config_free(&cfg);
    return code;
}
