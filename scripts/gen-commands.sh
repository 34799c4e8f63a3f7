#!/usr/bin/env bash
# Regenerates the typed command functions from the checked-in spec.
#
#   scripts/gen-commands.sh [OUTDIR]
#
# Runs tools/gen-commands/gen_commands.py on spec/redis-7.0.15.json, writing
# under OUTDIR (default: the source tree). Needs python3 only: no server, no
# clang-format (the generator lays its output out itself), so a rerun on
# the same spec writes the same bytes on any machine. `make meta-refresh`
# is the one step that reads a live server; it rewrites spec/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root}

python3 "$root/tools/gen-commands/gen_commands.py" "$out"
