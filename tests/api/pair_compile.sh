#!/usr/bin/env bash
# The api_pair_structs test: a pair struct of the typed API cannot be filled
# wrongly without a compile error. With -std=c11 -pedantic-errors,
# tests/api/pair_good.c ({RK_STR("f"), RK_STR("v")}) must compile and
# tests/api/pair_bad.c ({"f", 0, "v", 0}, C strings and lengths) must not,
# failing on the pointer given where a length belongs.
#
# usage: pair_compile.sh CC SOURCE_DIR
set -euo pipefail

cc=${1:?usage: pair_compile.sh CC SOURCE_DIR}
src=${2:?usage: pair_compile.sh CC SOURCE_DIR}
flags=(-std=c11 -pedantic-errors -fsyntax-only -I "$src/include")

if ! "$cc" "${flags[@]}" "$src/tests/api/pair_good.c"; then
    echo "pair_good.c does not compile: the rk_str pair struct is broken" >&2
    exit 1
fi
if out=$("$cc" "${flags[@]}" "$src/tests/api/pair_bad.c" 2>&1); then
    echo 'pair_bad.c compiles: {"f", 0, "v", 0} must be a compile error' >&2
    exit 1
fi
if ! grep -qiE 'integer from pointer|incompatible pointer to integer' <<<"$out"; then
    echo "pair_bad.c failed for another reason than the pointer given for a length:" >&2
    echo "$out" >&2
    exit 1
fi
echo "pair structs: {RK_STR(...), RK_STR(...)} compiles, {\"f\", 0, \"v\", 0} does not"
