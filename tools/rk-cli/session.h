/* rk-cli: one session with a server. It connects (and reconnects) an
 * rk_conn as the command line says, runs commands and prints their replies
 * exactly as redis-cli does, and keeps the state the prompt shows: the
 * selected database and whether a MULTI is open. */
#ifndef RKCLI_SESSION_H
#define RKCLI_SESSION_H

#include <stdbool.h>

#include "args.h"
#include "rediskit/conn.h"
#include "split.h"

typedef struct cli_session {
    const cli_config *cfg;
    rk_conn *conn; /* NULL while not connected */
    char *host;    /* owned; the "connect" command changes it */
    int port;
    const char *unix_path;
    int db;            /* selected now, and again after a reconnect */
    bool in_multi;     /* MULTI sent and not yet EXEC/DISCARD */
    bool raw;          /* raw output (--raw, or stdout is not a tty) */
    bool show_pushes;  /* print RESP3 pushes met between replies */
    bool interactive;  /* commands come from a prompt or stdin lines */
    bool streaming;    /* in SUBSCRIBE: every push is printed */
    char prompt[1200]; /* filled by cli_session_prompt */
} cli_session;

/** What cli_session_run did. */
enum {
    CLI_OK = 0,           /* the command ran and its reply was printed */
    CLI_SERVER_ERROR = 1, /* the server answered an error (printed) */
    CLI_FAILED = 2,       /* no reply: connecting or the connection failed */
    CLI_FATAL = 3         /* SUBSCRIBE/MONITOR ended: exit 1, as redis-cli */
};

void cli_session_init(cli_session *s, const cli_config *cfg, bool interactive);
void cli_session_free(cli_session *s);

/** (Re)connects as the session says, printing why it failed on stderr in
 *  redis-cli's words. Returns 0 or -1 (then not connected). */
int cli_session_connect(cli_session *s);

/** Points the session at another server (the "connect" command); the next
 *  cli_session_connect goes there. */
void cli_session_set_address(cli_session *s, const char *host, int port);

/** Runs one command and prints its reply. Connects first when not
 *  connected; a connection the server closed while idle is reopened
 *  without a word (the command was not sent on it). Returns a CLI_ code. */
int cli_session_run(cli_session *s, const cli_args *cmd);

/** Runs one command without printing its reply: CLI_OK or CLI_SERVER_ERROR
 *  with the reply (or error reply) in *r, to be freed with rk_reply_free;
 *  CLI_FAILED (nothing in *r) when connecting or the connection failed,
 *  which is reported as cli_session_run reports it. */
int cli_session_call(cli_session *s, const cli_args *cmd, rk_reply *r);

/** Prints a reply of cmd as cli_session_run would. */
void cli_session_print(const cli_session *s, const cli_args *cmd, const rk_reply *r);

/** "127.0.0.1:6379[2](TX)> ", "redis /path/sock> " or "not connected> ". */
const char *cli_session_prompt(cli_session *s);

#endif
