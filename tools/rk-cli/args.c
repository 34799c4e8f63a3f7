/* rk-cli: reads the command line into a cli_config. Each option is a row of
 * a table (its name, whether it takes a value, the function that applies
 * it); messages and exit codes are redis-cli's. */
#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rediskit/alloc.h"
#include "rediskit/error.h"
#include "rediskit/version.h"

/* Applies one option; returns 0, or -1 after printing what is wrong. */
typedef int (*opt_fn)(cli_config *cfg, const char *value);

typedef struct opt_def {
    const char *name;
    bool has_value;
    opt_fn apply;
} opt_def;

static const char usage_text[] =
    "Usage: rk-cli [OPTIONS] [cmd [arg [arg ...]]]\n"
    "  -h <hostname>      Server hostname (default: 127.0.0.1).\n"
    "  -p <port>          Server port (default: 6379).\n"
    "  -s <socket>        Server socket (overrides hostname and port).\n"
    "  -a <password>      Password to use when connecting to the server.\n"
    "                     You can also use the REDISCLI_AUTH environment\n"
    "                     variable to pass this password more safely.\n"
    "  --user <username>  ACL user name to authenticate as. Needs -a.\n"
    "  --pass <password>  Alias of -a.\n"
    "  -u <uri>           Server URI: redis://[user:password@]host[:port][/db],\n"
    "                     rediss://... for TLS, unix:///path/to.sock[?db=N].\n"
    "  -n <db>            Database number.\n"
    "  -2                 Speak RESP2 (the default).\n"
    "  -3                 Speak RESP3.\n"
    "  -r <repeat>        Run the command N times (-1: forever).\n"
    "  -i <interval>      With -r, wait <interval> seconds between runs.\n"
    "  -x                 Read the last argument from STDIN.\n"
    "  -e                 Exit with code 1 when the server answers an error.\n"
    "  --tls              Establish a secure TLS connection.\n"
    "  --sni <host>       Server name indication for TLS.\n"
    "  --cacert <file>    CA certificate file to verify with.\n"
    "  --cacertdir <dir>  Directory where trusted CA certificates are stored.\n"
    "                     Without either, the system's trusted roots are used.\n"
    "  --insecure         Allow insecure TLS connection by skipping cert validation.\n"
    "  --cert <file>      Client certificate to authenticate with.\n"
    "  --key <file>       Private key file to authenticate with.\n"
    "  --raw              Use raw formatting for replies (default when STDOUT is\n"
    "                     not a tty).\n"
    "  --no-raw           Force formatted output even when STDOUT is not a tty.\n"
    "  --quoted-input     Force input to be handled as quoted strings.\n"
    "  --show-pushes <yn> Whether to print RESP3 PUSH messages. Enabled by default\n"
    "                     when STDOUT is a tty.\n"
    "  --no-auth-warning  Don't warn about a password given on the command line.\n"
    "  --help             Output this help and exit.\n"
    "  --version          Output version and exit.\n"
    "\n"
    "Examples:\n"
    "  cat /etc/passwd | rk-cli -x set mypasswd\n"
    "  rk-cli -r 100 lpush mylist x\n"
    "  rk-cli -u redis://:secret@cache.local:6380/2 get key\n"
    "  rk-cli --quoted-input set '\"null-\\x00-separated\"' value\n"
    "\n"
    "When no command is given, rk-cli starts in interactive mode (or, when\n"
    "STDIN is not a terminal, runs the commands it reads there, one a line).\n"
    "Type \"help\" in interactive mode for information.\n";

/* ---- numbers ----------------------------------------------------------- */

static int parse_long(const char *s, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int set_port(cli_config *cfg, const char *v) {
    long port;
    if (parse_long(v, &port) < 0 || port < 0 || port > 65535) {
        fputs("Invalid server port.\n", stderr);
        return -1;
    }
    cfg->port = (int)port;
    return 0;
}

static int set_db(cli_config *cfg, const char *v) {
    long db;
    if (parse_long(v, &db) < 0 || db < 0 || db > 1000000) {
        fprintf(stderr, "Invalid database number: %s\n", v);
        return -1;
    }
    cfg->db = (int)db;
    return 0;
}

static int set_repeat(cli_config *cfg, const char *v) {
    if (parse_long(v, &cfg->repeat) < 0 || cfg->repeat == 0 || cfg->repeat < -1) {
        fprintf(stderr, "Invalid repeat count: %s\n", v);
        return -1;
    }
    return 0;
}

static int set_interval(cli_config *cfg, const char *v) {
    char *end;
    cfg->interval_s = strtod(v, &end);
    if (end == v || *end != '\0' || cfg->interval_s < 0) {
        fprintf(stderr, "Invalid interval: %s\n", v);
        return -1;
    }
    return 0;
}

/* ---- connection -------------------------------------------------------- */

static int set_host(cli_config *cfg, const char *v) {
    cfg->host = v;
    return 0;
}

static int set_socket(cli_config *cfg, const char *v) {
    cfg->unix_path = v;
    return 0;
}

static int set_password(cli_config *cfg, const char *v) {
    cfg->password = v;
    cfg->auth_warning = true;
    return 0;
}

static int set_user(cli_config *cfg, const char *v) {
    cfg->user = v;
    return 0;
}

static rk_options options_of(const cli_config *cfg) {
    return (rk_options){.host = cfg->host,
                        .port = cfg->port,
                        .unix_path = cfg->unix_path,
                        .username = cfg->user,
                        .password = cfg->password,
                        .db = cfg->db,
                        .tls = {.enabled = cfg->tls,
                                .ca_file = cfg->cacert,
                                .ca_dir = cfg->cacertdir,
                                .cert_file = cfg->cert,
                                .key_file = cfg->key,
                                .server_name = cfg->sni,
                                .insecure = cfg->insecure}};
}

/* Takes what the URL says over what was set before it; the strings it
 * sets live in url_storage until the configuration is freed. */
static int set_url(cli_config *cfg, const char *v) {
    rk_options o = options_of(cfg);
    char *storage;
    if (rk_options_from_url(v, &o, &storage) != RK_OK) {
        fprintf(stderr, "Invalid URI: %s\n", rk_error_last()->message);
        return -1;
    }
    if (o.password && (!cfg->password || strcmp(o.password, cfg->password) != 0))
        cfg->auth_warning = true;
    cfg->host = o.host;
    cfg->port = o.port;
    cfg->unix_path = o.unix_path;
    cfg->user = o.username;
    cfg->password = o.password;
    cfg->db = o.db;
    cfg->tls = o.tls.enabled;
    cfg->cacert = o.tls.ca_file;
    cfg->cacertdir = o.tls.ca_dir;
    cfg->cert = o.tls.cert_file;
    cfg->key = o.tls.key_file;
    cfg->sni = o.tls.server_name;
    cfg->insecure = o.tls.insecure;
    rk_free(cfg->url_storage);
    cfg->url_storage = storage;
    return 0;
}

/* ---- TLS --------------------------------------------------------------- */

static int set_tls(cli_config *cfg, const char *v) {
    (void)v;
    cfg->tls = true;
    return 0;
}

static int set_insecure(cli_config *cfg, const char *v) {
    (void)v;
    cfg->insecure = true;
    return 0;
}

static int set_sni(cli_config *cfg, const char *v) {
    cfg->sni = v;
    return 0;
}

static int set_cacert(cli_config *cfg, const char *v) {
    cfg->cacert = v;
    return 0;
}

static int set_cacertdir(cli_config *cfg, const char *v) {
    cfg->cacertdir = v;
    return 0;
}

static int set_cert(cli_config *cfg, const char *v) {
    cfg->cert = v;
    return 0;
}

static int set_key(cli_config *cfg, const char *v) {
    cfg->key = v;
    return 0;
}

/* ---- behaviour --------------------------------------------------------- */

static int set_resp2(cli_config *cfg, const char *v) {
    (void)v;
    cfg->protocol = 2;
    return 0;
}

static int set_resp3(cli_config *cfg, const char *v) {
    (void)v;
    cfg->protocol = 3;
    return 0;
}

static int set_raw(cli_config *cfg, const char *v) {
    (void)v;
    cfg->raw = 1;
    return 0;
}

static int set_no_raw(cli_config *cfg, const char *v) {
    (void)v;
    cfg->raw = 0;
    return 0;
}

static int set_stdin_arg(cli_config *cfg, const char *v) {
    (void)v;
    cfg->stdin_last_arg = true;
    return 0;
}

static int set_quoted(cli_config *cfg, const char *v) {
    (void)v;
    cfg->quoted_input = true;
    return 0;
}

static int set_exit_on_error(cli_config *cfg, const char *v) {
    (void)v;
    cfg->exit_on_error = true;
    return 0;
}

static int set_no_warning(cli_config *cfg, const char *v) {
    (void)v;
    cfg->no_auth_warning = true;
    return 0;
}

static int set_show_pushes(cli_config *cfg, const char *v) {
    if (strcmp(v, "yes") == 0 || strcmp(v, "y") == 0)
        cfg->show_pushes = 1;
    else if (strcmp(v, "no") == 0 || strcmp(v, "n") == 0)
        cfg->show_pushes = 0;
    else {
        fprintf(stderr, "Unknown --show-pushes value '%s' (valid: '[y]es', '[n]o')\n", v);
        return -1;
    }
    return 0;
}

static const opt_def options[] = {
    {"-h", true, set_host},
    {"-p", true, set_port},
    {"-s", true, set_socket},
    {"-a", true, set_password},
    {"--pass", true, set_password},
    {"--user", true, set_user},
    {"-u", true, set_url},
    {"-n", true, set_db},
    {"-2", false, set_resp2},
    {"-3", false, set_resp3},
    {"-r", true, set_repeat},
    {"-i", true, set_interval},
    {"-x", false, set_stdin_arg},
    {"-e", false, set_exit_on_error},
    {"--tls", false, set_tls},
    {"--sni", true, set_sni},
    {"--cacert", true, set_cacert},
    {"--cacertdir", true, set_cacertdir},
    {"--insecure", false, set_insecure},
    {"--cert", true, set_cert},
    {"--key", true, set_key},
    {"--raw", false, set_raw},
    {"--no-raw", false, set_no_raw},
    {"--quoted-input", false, set_quoted},
    {"--show-pushes", true, set_show_pushes},
    {"--no-auth-warning", false, set_no_warning},
};

static const opt_def *find_option(const char *name) {
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
        if (strcmp(options[i].name, name) == 0)
            return &options[i];
    return NULL;
}

static void print_version(void) {
    printf("rk-cli %s (rediskit %s)\n", RK_VERSION_STRING, rk_version());
}

static void config_defaults(cli_config *cfg) {
    *cfg = (cli_config){.host = RK_DEFAULT_HOST,
                        .port = RK_DEFAULT_PORT,
                        .protocol = 2,
                        .raw = -1,
                        .show_pushes = -1,
                        .repeat = 1};
}

/* Handles --help and --version; returns an exit code, or CLI_RUN. */
static int info_option(const char *arg) {
    if (strcmp(arg, "--help") == 0) {
        print_version();
        printf("\n%s", usage_text);
        return CLI_EXIT_OK;
    }
    if (strcmp(arg, "--version") == 0 || strcmp(arg, "-v") == 0) {
        print_version();
        return CLI_EXIT_OK;
    }
    return CLI_RUN;
}

int cli_parse_args(int argc, char **argv, cli_config *cfg) {
    config_defaults(cfg);
    int i = 1;
    for (; i < argc; i++) {
        int rc = info_option(argv[i]);
        if (rc != CLI_RUN)
            return rc;
        const opt_def *o = find_option(argv[i]);
        if (o == NULL && argv[i][0] != '-')
            break; /* the command */
        if (o == NULL || (o->has_value && i + 1 >= argc)) {
            fprintf(stderr, "Unrecognized option or bad number of args for: '%s'\n", argv[i]);
            return CLI_EXIT_FAIL;
        }
        if (o->apply(cfg, o->has_value ? argv[++i] : NULL) < 0)
            return CLI_EXIT_FAIL;
    }
    cfg->first_arg = i;
    if (cfg->password == NULL)
        cfg->password = getenv("REDISCLI_AUTH");
    if (cfg->no_auth_warning)
        cfg->auth_warning = false;
    return CLI_RUN;
}

void cli_config_free(cli_config *cfg) {
    rk_free(cfg->url_storage);
    cfg->url_storage = NULL;
}
