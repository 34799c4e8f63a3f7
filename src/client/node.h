/* Internal: the nodes of a client, one pool of connections each.
 *
 * A client talks to one or more servers: the one its options name (the
 * seed) and any other it learns of (a MOVED or ASK redirect today; a
 * cluster's slot map or a sentinel's master later). Each is an rk_node:
 * the client's settled options with the node's own address, a pool, and
 * in RK_MODE_MUX a multiplexed executor (async/mux.h) for the calls that
 * need no connection of their own.
 * Nodes are made on demand, found by address, and live as long as the
 * client (a topology that forgets nodes will add reference counts). */
#ifndef RK_NODE_H
#define RK_NODE_H

#include <pthread.h>

#include "async/mux.h"
#include "client/pool.h"
#include "net/net.h"
#include "rediskit/options.h"

#pragma GCC visibility push(hidden)

typedef struct rk_node rk_node;
struct rk_nodes;

struct rk_node {
    rk_options o;                 /* the client's settled options, this node's address */
    char *host;                   /* owned copy of o.host; NULL for the seed */
    rk_pool pool;                 /* this node's connections */
    rk_mux *mux;                  /* RK_MODE_MUX: this node's executor; else NULL */
    rk_node *next;                /* in rk_nodes */
    const struct rk_nodes *nodes; /* the client's list it is in */
};

/* The most nodes a client learns (beyond its seed). Nodes live as long as
 * the client, so without a bound a server naming a new address in every
 * redirect (hostile, or broken) would grow the list, and in RK_MODE_MUX
 * start an engine thread per node, without end. A Redis Cluster has at
 * most about a thousand masters. */
#define RK_NODES_LEARNED_MAX 1024

/* Every node of a client: the seed first, then the learned ones. */
typedef struct rk_nodes {
    rk_node seed;
    pthread_mutex_t mu;  /* guards the list after the seed */
    unsigned generation; /* the fork generation mu was made in (made anew in a child) */
    rk_node *learned;
    size_t nlearned;
    rk_tls_ctx *tls; /* the client's, shared by every node */
} rk_nodes;

/* Makes the seed node from the client's settled options (which must
 * outlive the nodes) and the client's TLS context. RK_ENOMEM. */
int rk_nodes_init(rk_nodes *nodes, const rk_options *settled, rk_tls_ctx *tls);

/* Stops every node's executor (RK_MODE_MUX): the calls in flight there
 * complete with RK_ECANCELED, later ones fail with RK_ECLOSED. */
void rk_nodes_stop(rk_nodes *nodes);

/* Closes every node's idle connections and frees the learned nodes. */
void rk_nodes_destroy(rk_nodes *nodes);

/* The node at host:port (TCP), made with an empty pool when it is new.
 * NULL with RK_ENOMEM, RK_EINVAL (a bad address) or RK_EREDIRECT (a new
 * node past RK_NODES_LEARNED_MAX). Thread safe. */
rk_node *rk_nodes_at(rk_nodes *nodes, const char *host, size_t host_len, int port);

/* The sum of every node's pool statistics. */
void rk_nodes_stats(rk_nodes *nodes, rk_pool_stats *sum);

#pragma GCC visibility pop

#endif
