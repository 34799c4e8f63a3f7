/* rk-bench: a Redis load generator built on rediskit.
 *
 * Reads the options, opens the connections, runs each selected test (or
 * the command given on the line) and prints the results. Exits 0, 1 when
 * the server cannot be reached or a connection fails, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

/* Runs every test once. 0, or -1 after a failure was printed. */
static int run_all(const rkb_config *cfg, rkb_run *run, const rkb_cmd *cmds, int n) {
    for (int i = 0; i < n; i++) {
        rkb_result res;
        if (rkb_run_test(run, &cmds[i], &res) < 0)
            return -1;
        if (rkb_report_result(cfg, &res) < 0) {
            fprintf(stderr, "rk-bench: out of memory\n");
            return -1;
        }
    }
    return 0;
}

static int bench(const rkb_config *cfg) {
    rkb_cmd *cmds;
    int n = rkb_cmds_build(cfg, &cmds);
    if (n < 0)
        return RKB_EXIT_USAGE;
    rkb_run *run = rkb_run_start(cfg);
    if (!run) {
        rkb_cmds_free(cmds, n);
        return RKB_EXIT_FAIL;
    }
    rkb_report_begin(cfg);
    int rc;
    do {
        rc = run_all(cfg, run, cmds, n);
    } while (rc == 0 && cfg->loop);
    if (rc == 0)
        rkb_report_end(cfg);
    rkb_run_free(run);
    rkb_cmds_free(cmds, n);
    return rc == 0 ? RKB_EXIT_OK : RKB_EXIT_FAIL;
}

int main(int argc, char **argv) {
    rkb_config cfg;
    int rc = rkb_parse_args(&cfg, argc, argv);
    if (rc < 0)
        rc = bench(&cfg);
    rkb_config_free(&cfg);
    return rc;
}
