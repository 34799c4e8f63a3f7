/* Compiled by the api_pair_struct_bad test (tests/CMakeLists.txt) with
 * -std=c11 -pedantic-errors, which must FAIL: a pair struct filled as if
 * it held C strings and lengths (the trap of the old API, where it
 * compiled with a warning and crashed) puts a pointer where a length
 * belongs. */
#include "rediskit/rediskit.h"

int main(void) {
    const rk_hset_field_value fv[] = {{"f", 0, "v", 0}};
    rk_command cmd;
    rk_cmd_hset(&cmd, RK_STR("h"), fv, 1);
    rk_command_release(&cmd);
    return 0;
}
