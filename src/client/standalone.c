/* The standalone topology (see topology.h): one server. */
#include "client/topology.h"
#include "util/common.h"

RK_HOT static rk_node *standalone_route(void *state, rk_nodes *nodes, const rk_route *route) {
    RK_UNUSED(state);
    RK_UNUSED(route);
    return &nodes->seed;
}

static void standalone_moved(void *state, rk_nodes *nodes, int slot, rk_node *to) {
    RK_UNUSED(state);
    RK_UNUSED(nodes);
    RK_UNUSED(slot);
    RK_UNUSED(to);
}

static void standalone_destroy(void *state) {
    RK_UNUSED(state);
}

const rk_topology_ops rk_topology_standalone = {
    .name = "standalone",
    .keyed = false,
    .route = standalone_route,
    .moved = standalone_moved,
    .destroy = standalone_destroy,
};
