/* Losing a reply on purpose, for retry tests: a command that reaches the
 * server (and runs) but whose reply never comes back.
 *
 *     rkt_dropper d;
 *     rkt_dropper_arm(&d, proxy, &srv);   // freezes srv
 *     rc = ... one call through proxy ...;  // the reply is lost
 *     rkt_dropper_join(&d);               // true when it was dropped
 *
 * The server is frozen until the command has gone through the proxy; then
 * the proxy drops every connection and the server is thawed, so the
 * command runs once and its reply is lost. */
#ifndef RKT_DROPPER_H
#define RKT_DROPPER_H

#include <pthread.h>
#include <stdbool.h>

#include "rkt_proxy.h"
#include "rkt_server.h"

/** rkt_server_freeze, then waits (up to 5 s) until the process really is
 *  stopped, so that nothing sent afterwards is answered before the thaw.
 *  Returns 0, or -1 (thawed again) when it did not stop. */
int rkt_server_freeze_stopped(rkt_server *srv);

typedef struct rkt_dropper {
    rkt_proxy *proxy;
    rkt_server *srv;
    unsigned long long bytes_up; /* forwarded before the command */
    bool dropped;
    pthread_t thread;
} rkt_dropper;

/** Freezes srv and arms the dropper for the next command sent through
 *  proxy. Returns 0, or -1 (srv thawed) when it could not. */
int rkt_dropper_arm(rkt_dropper *d, rkt_proxy *proxy, rkt_server *srv);

/** Waits for the drop (at most 10 s after arming) and thaws srv. Returns
 *  whether a command went through and was dropped. */
bool rkt_dropper_join(rkt_dropper *d);

#endif
