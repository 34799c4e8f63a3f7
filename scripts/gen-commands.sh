#!/usr/bin/env bash
# Regenerates the typed command functions from a running Redis server.
#
#   scripts/gen-commands.sh [OUTDIR]
#
# Runs tools/gen-commands/gen_commands.py against $REDIS_URL (make commands
# starts a throwaway server for it), writing under OUTDIR (default: the
# source tree), then formats what it wrote with the repo's .clang-format,
# and records the server's and clang-format's versions in
# tools/gen-commands/generated-with. A rerun against the same server with
# the same clang-format writes the same bytes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root}
: "${REDIS_URL:?REDIS_URL must name the server to read the commands from}"

python3 "$root/tools/gen-commands/gen_commands.py" --url "$REDIS_URL" "$out"
files=("$out/include/rediskit/commands.h" "$out"/include/rediskit/commands/*.h
       "$out"/src/commands/gen/*.c)
generated=()
for f in "${files[@]}"; do
    grep -q "do not edit (make commands)" "$f" && generated+=("$f")
done
clang-format --style="file:$root/.clang-format" -i "${generated[@]}"

# The programs the output depends on, for tests/gen/check.sh: a rerun with
# another server or clang-format may differ without anything being wrong.
server=$(redis-cli -u "$REDIS_URL" INFO server | tr -d '\r' | sed -n 's/^redis_version://p')
formatter=$(clang-format --version | sed -n 's/.*clang-format version \([^ ]*\).*/\1/p')
mkdir -p "$out/tools/gen-commands"
cat >"$out/tools/gen-commands/generated-with" <<EOF
# Written by scripts/gen-commands.sh (make commands): what the generated
# commands were made with. tests/gen/check.sh compares a rerun with them
# only when it runs with these same versions.
redis-server $server
clang-format $formatter
EOF
