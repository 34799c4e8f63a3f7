/* Internal: a client's topology, which node each command goes to.
 *
 * The client is a router: every command is routed by its topology to a
 * node (client/node.h), runs on a connection from that node's pool, and a
 * MOVED or ASK answer sends it on to the node named there, within the
 * call's retry loop. A topology is a small table of operations over state
 * of its own, so that the cluster (a slot map) and sentinel (a master
 * that moves) plug in beside the standalone one without touching the
 * callers: typed commands, pipelines, scripts, locks, scans and pub/sub
 * all reach servers through rk_client only. */
#ifndef RK_TOPOLOGY_H
#define RK_TOPOLOGY_H

#include <stdbool.h>

#include "client/node.h"

#pragma GCC visibility push(hidden)

/* What routing knows of a command. */
typedef struct rk_route {
    int slot;       /* its keys' hash slot (util/common.h), or RK_SLOT_NONE */
    unsigned flags; /* its RK_META_CMD_* flags (readonly...), 0 when unknown */
} rk_route;

typedef struct rk_topology_ops {
    const char *name;
    /* Whether route() reads rk_route.slot; when false the client does not
     * spend time finding a command's keys. */
    bool keyed;
    /* The node to send a command to; never NULL (a topology always has a
     * node to try, if only to learn it is down). */
    rk_node *(*route)(void *state, rk_nodes *nodes, const rk_route *route);
    /* A MOVED redirect said that slot is served by node `to` now. */
    void (*moved)(void *state, rk_nodes *nodes, int slot, rk_node *to);
    void (*destroy)(void *state);
} rk_topology_ops;

/* One server, the seed: every command goes there. Redirects it answers
 * are followed for the command that got them (so a client pointed at one
 * node of a cluster still gets its answers), but not remembered: that is
 * the cluster topology's job. */
extern const rk_topology_ops rk_topology_standalone;

#pragma GCC visibility pop

#endif
