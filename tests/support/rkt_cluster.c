/* The shared 3-master cluster fixture (rkt_cluster.h). */
#include "rkt_cluster.h"

rkt_cluster rkt_cluster3;
bool rkt_cluster3_up;

int rkt_cluster3_setup(void **state) {
    (void)state;
    if (!rkt_require_binaries("redis-server", "redis-cli", NULL))
        return 0;
    rkt_cluster3_up = rkt_cluster_start(&rkt_cluster3, 3, 0, NULL) == 0;
    return rkt_cluster3_up ? 0 : -1;
}

int rkt_cluster3_teardown(void **state) {
    (void)state;
    if (rkt_cluster3_up)
        rkt_cluster_stop(&rkt_cluster3);
    rkt_cluster3_up = false;
    return 0;
}
