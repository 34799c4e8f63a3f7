/* Compiled by the api_pair_struct_good test (tests/CMakeLists.txt) with
 * -std=c11 -pedantic-errors: a pair struct filled with rk_str compiles. */
#include "rediskit/rediskit.h"

int main(void) {
    const rk_hset_field_value fv[] = {{RK_STR("f"), RK_STR("v")}};
    rk_command cmd;
    rk_cmd_hset(&cmd, RK_STR("h"), fv, 1);
    rk_command_release(&cmd);
    return 0;
}
