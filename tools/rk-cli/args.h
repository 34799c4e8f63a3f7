/* rk-cli: the command line. Options follow redis-cli's (-h -p -s -a --user
 * -u -n -2 -3 --tls ... --raw --no-raw), and the first argument that is not
 * an option starts the command to run. */
#ifndef RKCLI_ARGS_H
#define RKCLI_ARGS_H

#include <stdbool.h>

#include "rediskit/client.h"

/** What the command line asked for. Strings point into argv, the
 *  environment, or url_storage (the strings a -u URL was read into). */
typedef struct cli_config {
    const char *host;      /**< Default RK_DEFAULT_HOST. */
    int port;              /**< Default RK_DEFAULT_PORT. */
    const char *unix_path; /**< -s: used instead of host and port. */
    const char *user;      /**< --user: ACL user name. */
    const char *password;  /**< -a, --pass, -u, or $REDISCLI_AUTH. */
    int db;                /**< -n. */
    int protocol;          /**< -2 (default) or -3. */
    bool tls, insecure;
    const char *cacert, *cacertdir, *cert, *key, *sni;
    int raw;              /**< 1 --raw, 0 --no-raw, -1 raw unless stdout is a tty. */
    int show_pushes;      /**< 1 yes, 0 no, -1 when stdout is a tty. */
    long repeat;          /**< -r: times to run the command; -1 forever. */
    double interval_s;    /**< -i: pause between repeats. */
    bool stdin_last_arg;  /**< -x: the last argument is read from stdin. */
    bool quoted_input;    /**< --quoted-input: arguments are quoted strings. */
    bool exit_on_error;   /**< -e: exit 1 when the server answers an error. */
    bool auth_warning;    /**< A password came from the command line. */
    bool no_auth_warning; /**< --no-auth-warning. */
    char *url_storage;
    int first_arg; /**< Index of the command in argv; argc when none. */
} cli_config;

/** Results of cli_parse_args besides CLI_RUN: exit with 0 or 1. */
enum { CLI_RUN = -1, CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1 };

/** Fills cfg from argv. Returns CLI_RUN, or an exit code after printing
 *  the usage, the version or what is wrong (to stderr). */
int cli_parse_args(int argc, char **argv, cli_config *cfg);

/** Releases what cli_parse_args kept. */
void cli_config_free(cli_config *cfg);

#endif
