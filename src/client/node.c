/* The nodes of a client (see node.h): the seed, and a short list of the
 * nodes learned since, searched by address under a mutex (only redirects
 * reach for it; routing to the seed takes no lock). In RK_MODE_MUX each
 * node gets its executor when it is made. */
#include <string.h>

#include "client/node.h"
#include "util/common.h"

/* A node's pool, and its executor in RK_MODE_MUX (n->o set already). */
static int node_init(rk_node *n) {
    int rc = rk_pool_init(&n->pool, (size_t)n->o.pool_size);
    if (rc != RK_OK || n->o.mode != RK_MODE_MUX)
        return rc;
    n->mux = rk_mux_new(&n->o);
    if (n->mux != NULL)
        return RK_OK;
    rc = rk_error_last()->code;
    rk_pool_destroy(&n->pool);
    return rc;
}

static void node_destroy(rk_node *n) {
    rk_mux_free(n->mux);
    rk_pool_destroy(&n->pool);
}

/* Locks the list; in a forked child the lock is made anew first. */
static void lock_nodes(rk_nodes *nodes) {
    rk_mutex_after_fork(&nodes->mu, &nodes->generation);
    pthread_mutex_lock(&nodes->mu);
}

int rk_nodes_init(rk_nodes *nodes, const rk_options *settled, rk_tls_ctx *tls) {
    memset(nodes, 0, sizeof(*nodes));
    nodes->generation = rk_fork_generation();
    nodes->seed.o = *settled;
    nodes->seed.nodes = nodes;
    nodes->tls = tls;
    if (pthread_mutex_init(&nodes->mu, NULL) != 0)
        return rk_fail(RK_ENOMEM, "cannot create the client's node lock");
    int rc = node_init(&nodes->seed);
    if (rc != RK_OK)
        pthread_mutex_destroy(&nodes->mu);
    return rc;
}

void rk_nodes_stop(rk_nodes *nodes) {
    rk_mux_stop(nodes->seed.mux);
    lock_nodes(nodes);
    for (rk_node *n = nodes->learned; n; n = n->next)
        rk_mux_stop(n->mux);
    pthread_mutex_unlock(&nodes->mu);
}

void rk_nodes_destroy(rk_nodes *nodes) {
    node_destroy(&nodes->seed);
    while (nodes->learned) {
        rk_node *n = nodes->learned;
        nodes->learned = n->next;
        node_destroy(n);
        rk_free(n->host);
        rk_free(n);
    }
    pthread_mutex_destroy(&nodes->mu);
}

static bool same_address(const rk_node *n, const char *host, size_t host_len, int port) {
    return n->o.unix_path == NULL && n->o.port == port && strlen(n->o.host) == host_len &&
           memcmp(n->o.host, host, host_len) == 0;
}

/* A new node at host:port, otherwise as the seed. */
static rk_node *make_node(const rk_nodes *nodes, const char *host, size_t host_len, int port) {
    rk_node *n = rk_calloc(1, sizeof(*n));
    char *h = rk_malloc(host_len + 1);
    if (n == NULL || h == NULL) {
        rk_free(n);
        rk_free(h);
        rk_fail(RK_ENOMEM, "out of memory adding node %.*s:%d", (int)host_len, host, port);
        return NULL;
    }
    memcpy(h, host, host_len);
    h[host_len] = '\0';
    n->host = h;
    n->o = nodes->seed.o;
    n->o.host = h;
    n->o.port = port;
    n->o.unix_path = NULL;
    n->nodes = nodes;
    if (node_init(n) != RK_OK) {
        rk_free(h);
        rk_free(n);
        return NULL;
    }
    return n;
}

rk_node *rk_nodes_at(rk_nodes *nodes, const char *host, size_t host_len, int port) {
    if (host_len == 0 || port < 1 || port > 65535) {
        rk_fail(RK_EINVAL, "bad node address %.*s:%d", (int)host_len, host, port);
        return NULL;
    }
    if (same_address(&nodes->seed, host, host_len, port))
        return &nodes->seed;
    lock_nodes(nodes);
    rk_node *n = nodes->learned;
    while (n && !same_address(n, host, host_len, port))
        n = n->next;
    if (n == NULL && nodes->nlearned >= RK_NODES_LEARNED_MAX)
        rk_fail(RK_EREDIRECT, "redirected to %.*s:%d, past the %d nodes a client learns",
                (int)host_len, host, port, RK_NODES_LEARNED_MAX);
    else if (n == NULL && (n = make_node(nodes, host, host_len, port)) != NULL) {
        n->next = nodes->learned;
        nodes->learned = n;
        nodes->nlearned++;
    }
    pthread_mutex_unlock(&nodes->mu);
    return n;
}

static void add_stats(rk_pool_stats *sum, const rk_pool_stats *s) {
    sum->created += s->created;
    sum->closed += s->closed;
    sum->in_use += s->in_use;
    sum->idle += s->idle;
    sum->waits += s->waits;
    sum->timeouts += s->timeouts;
}

void rk_nodes_stats(rk_nodes *nodes, rk_pool_stats *sum) {
    rk_pool_get_stats(&nodes->seed.pool, sum);
    lock_nodes(nodes);
    for (rk_node *n = nodes->learned; n; n = n->next) {
        rk_pool_stats s;
        rk_pool_get_stats(&n->pool, &s);
        add_stats(sum, &s);
    }
    pthread_mutex_unlock(&nodes->mu);
}
