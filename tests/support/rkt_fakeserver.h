/* A scripted fake Redis server for tests.
 *
 * It listens on a free 127.0.0.1 port in a thread of its own and answers
 * each command it receives with the raw bytes of the next step of a script,
 * after checking the command against what the step expects. Every command
 * received is recorded for the test to inspect. It lets tests drive clients
 * (rediskit, redis-cli) through replies no real server would send, such as
 * the module commands' replies, or every RESP3 type. */
#ifndef RKT_FAKESERVER_H
#define RKT_FAKESERVER_H

#include <stdbool.h>
#include <stddef.h>

/** One step of a script: the command expected, and the bytes sent back. */
typedef struct rkt_fake_step {
    /** The command's arguments; NULL means any command. The command name
     *  (the first argument) matches without regard to case, the others
     *  byte for byte. */
    const char *const *expect;
    /** How many arguments expect holds; 0 means it is NULL-terminated. */
    int expect_argc;
    /** Each expected argument's length; NULL means strlen() of each. */
    const size_t *expect_lens;
    /** The raw RESP bytes to send back, sent as they are: they may hold
     *  several replies (a push and then the reply), or none (NULL). */
    const char *reply;
    /** How many bytes reply holds; 0 means strlen(reply). */
    size_t reply_len;
    /** Close the connection after sending the reply. */
    bool close_after;
} rkt_fake_step;

/** Options; zeroed fields mean the defaults beside them. */
typedef struct rkt_fake_opts {
    /** false: the connection handshake commands (HELLO, AUTH, SELECT,
     *  CLIENT, COMMAND, PING) are answered on their own, without using a
     *  step, unless the next step expects that very command name: HELLO
     *  with the server map (RESP3 after "HELLO 3", else RESP2), PING with
     *  PONG, COMMAND with an empty array, the others with OK.
     *  true: every command uses a step. */
    bool no_handshake;
    /** Send every reply one byte per write (TCP_NODELAY, a pause of
     *  RKT_FAKE_DRIBBLE_US between bytes), so that the client reads it
     *  in pieces split at every byte. false: each reply in one write. */
    bool dribble;
} rkt_fake_opts;

/** The pause between the bytes of a dribbled reply, in microseconds. */
#define RKT_FAKE_DRIBBLE_US 100

typedef struct rkt_fake rkt_fake;

/** Starts a fake server with a copy of the n steps (n may be 0; add more
 *  with rkt_fake_add) and opts (NULL = defaults). Returns it, or NULL
 *  after printing why to stderr. Stop and free it with rkt_fake_free. */
rkt_fake *rkt_fake_start(const rkt_fake_step *steps, size_t n, const rkt_fake_opts *opts);

/** Appends a step (copied) to the script, also while clients talk to the
 *  server. Returns 0, or -1 when out of memory. */
int rkt_fake_add(rkt_fake *f, const rkt_fake_step *step);

/** The port it listens on (127.0.0.1). */
int rkt_fake_port(const rkt_fake *f);

/** Waits until every step has been used, or timeout_ms passed. Returns
 *  true when the script is done. */
bool rkt_fake_wait_done(rkt_fake *f, int timeout_ms);

/** Steps not used yet. */
size_t rkt_fake_steps_left(rkt_fake *f);

/** The first failure seen: a command that did not match its step, a
 *  command that came when the script was over (both are answered with an
 *  "-ERR rkt_fake: ..." reply), or bytes that were not RESP commands (the
 *  connection is then closed). NULL when there was none. The string stays
 *  valid until rkt_fake_free. */
const char *rkt_fake_error(rkt_fake *f);

/** How many commands the server received, handshake commands included. */
size_t rkt_fake_commands(rkt_fake *f);

/** Command i (0 = the first received) as text: its arguments joined by
 *  single spaces, bytes outside printable ASCII written as \xNN. NULL when
 *  i is out of range. Valid until rkt_fake_free. */
const char *rkt_fake_command(rkt_fake *f, size_t i);

/** The arguments of command i, binary safe: *argv and *lens receive arrays
 *  valid until rkt_fake_free. Returns the argument count, or -1 when i is
 *  out of range. */
int rkt_fake_argv(rkt_fake *f, size_t i, const char *const **argv, const size_t **lens);

/** Closes the listener and every connection and joins the thread. The
 *  records stay readable. Safe to call twice. */
void rkt_fake_stop(rkt_fake *f);

/** Stops the server if it runs and frees it. NULL is allowed. */
void rkt_fake_free(rkt_fake *f);

#endif
