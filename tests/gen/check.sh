#!/usr/bin/env bash
# The gen_commands_rerun test: regenerates the typed commands from a
# throwaway redis-server into a temporary tree and fails when the result
# differs from what is committed (so a rerun on the same server changes
# nothing, and nobody edited generated files by hand). It also checks that
# every generated function is documented with the command's syntax,
# complexity or since-version, as the server describes it.
#
# The output depends on the redis-server and clang-format versions, which
# tools/gen-commands/generated-with records. A rerun with other versions
# proves nothing, so it is a skip (exit 77, CTest's SKIP_RETURN_CODE), not
# a failure, even under RK_TEST_REQUIRE_SERVERS=1: the programs are there,
# they are other versions. A missing program is a skip too, or a failure
# under RK_TEST_REQUIRE_SERVERS=1 (see tests/support/rkt_skip.h).
#
# usage: check.sh SOURCE_DIR
set -euo pipefail

src=$1
skip_code=77
stamp=tools/gen-commands/generated-with
status=0

# Each rk_<command>( prototype (not its _bin or rk_pipe_ twins, which point
# back to it) follows a comment with "Syntax:" and "Since" (Redis version).
undocumented=$(awk '
    /^\/\*\*/ { doc = "" }
    { doc = doc $0 }
    /^int rk_/ && !/^int rk_pipe_/ && !/_bin\(/ {
        if (doc !~ /Syntax:/ || doc !~ /Since/) { split($2, n, "("); print n[1] }
        doc = ""
    }' "$src"/include/rediskit/commands/[!c]*.h "$src"/include/rediskit/commands/c[!o]*.h)
documented=$(grep -h -c '^int rk_' "$src"/include/rediskit/commands/*.h | paste -sd+ | bc)
if [[ -n $undocumented ]]; then
    echo "generated functions without the command's documentation: $undocumented" >&2
    status=1
fi
echo "checked $documented generated prototypes"

# Ends the test as skipped for a reason, unless something already failed.
skip() {
    ((status == 0)) || exit $status
    echo "skipping: $*"
    exit $skip_code
}

missing=()
needed=(python3 clang-format redis-cli)
[[ -n ${REDIS_URL:-} ]] || needed+=("${REDIS_SERVER:-redis-server}")
for p in "${needed[@]}"; do
    command -v "$p" >/dev/null || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
    if [[ -n ${RK_TEST_REQUIRE_SERVERS:-} && ${RK_TEST_REQUIRE_SERVERS} != 0 ]]; then
        echo "${missing[*]} not found on PATH, and RK_TEST_REQUIRE_SERVERS=1 requires it" >&2
        exit 1
    fi
    skip "${missing[*]} not found on PATH"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rk-gen.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$src/scripts/with-redis.sh" "$src/scripts/gen-commands.sh" "$work" >"$work/log" 2>&1 || {
    cat "$work/log"
    exit 1
}
if [[ ! -e $src/$stamp ]]; then
    echo "$stamp is missing: run 'make commands' and commit" >&2
    exit 1
fi
# "redis-server 7.0.15, clang-format 14.0.6" from a stamp file
versions() { grep -v '^#' "$1" | paste -sd, | sed 's/,/, /g'; }
if ! cmp -s "$src/$stamp" "$work/$stamp"; then
    skip "the commands were generated with $(versions "$src/$stamp"); this machine has" \
        "$(versions "$work/$stamp"), so a rerun may differ and nothing was compared"
fi

diff -ru "$src/include/rediskit/commands.h" "$work/include/rediskit/commands.h" || status=1
for f in "$work"/include/rediskit/commands/*.h "$work"/src/commands/gen/*.c; do
    rel=${f#"$work"/}
    diff -u "$src/$rel" "$f" || status=1
done
# and nothing generated before is missing now
for f in "$src"/src/commands/gen/*.c; do
    [[ -e $work/${f#"$src"/} ]] || { echo "stale generated file: $f"; status=1; }
done
if ((status)); then
    echo "generated commands differ from a fresh run: run 'make commands' and commit" >&2
fi
exit $status
