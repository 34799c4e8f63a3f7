#!/usr/bin/env bash
# The gen_commands_rerun test: regenerates the typed commands from a
# throwaway redis-server into a temporary tree and fails when the result
# differs from what is committed (so a rerun on the same server changes
# nothing, and nobody edited generated files by hand).
#
# usage: check.sh SOURCE_DIR
set -euo pipefail

src=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/rk-gen.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$src/scripts/with-redis.sh" "$src/scripts/gen-commands.sh" "$work" >"$work/log" 2>&1 || {
    cat "$work/log"
    exit 1
}
status=0
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
