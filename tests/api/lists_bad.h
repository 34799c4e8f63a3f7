/* The old list conventions, which tests/api/lists.sh must refuse (the
 * api_lists_catches test): a count before its array, a lengths array
 * beside C strings, and a count before a list of structs it names. */
#include <stddef.h>

typedef struct rk_bad_filter {
    int kind;
} rk_bad_filter;

int rk_bad_subscribe(void *ps, size_t count, const char *const *channels, const size_t *lens);
int rk_bad_run(void *c, int nkeys, const char *const *keys, int nargs, const char *const *args);
int rk_bad_kill(void *c, size_t nfilters, const rk_bad_filter *filters);
