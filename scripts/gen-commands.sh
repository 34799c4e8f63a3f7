#!/usr/bin/env bash
# Regenerates the typed command functions from a running Redis server.
#
#   scripts/gen-commands.sh [OUTDIR]
#
# Runs tools/gen-commands/gen_commands.py against $REDIS_URL (make commands
# starts a throwaway server for it), writing under OUTDIR (default: the
# source tree), then formats what it wrote with the repo's .clang-format.
# A rerun against the same server writes the same bytes.
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
