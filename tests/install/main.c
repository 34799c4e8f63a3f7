/* Links against an installed rediskit and checks that the library found at
 * run time is the one whose headers were compiled in, and that the typed
 * commands (generated headers in rediskit/commands/) are installed and
 * exported: a typed call refused before sending needs no server. */
#include <stdio.h>
#include <string.h>

#include <rediskit/rediskit.h>

int main(void) {
    printf("rediskit %s: %s\n", rk_version(), rk_strerror(RK_ETIMEOUT));
    if (strcmp(rk_version(), RK_VERSION_STRING) != 0) {
        fprintf(stderr, "headers say %s, library says %s\n", RK_VERSION_STRING, rk_version());
        return 1;
    }
    int rc = rk_set(NULL, "k", "v", &(rk_set_opts){.nx = true, .xx = true}, NULL);
    if (rc != RK_EINVAL) {
        fprintf(stderr, "rk_set with NX and XX returned %d, not RK_EINVAL\n", rc);
        return 1;
    }
    return strcmp(rk_strerror(RK_OK), "success") == 0 ? 0 : 1;
}
