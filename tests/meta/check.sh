#!/usr/bin/env bash
# The gen_meta_rerun test: regenerates the command metadata table from the
# checked-in spec/ into a temporary tree and fails when any generated file
# differs from the committed one by a byte. Hermetic: only python3 and
# spec/ are used, no server and no clang-format.
#
# usage: check.sh SOURCE_DIR
set -euo pipefail

src=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/rk-meta.XXXXXX")
trap 'rm -rf "$work"' EXIT

python3 "$src/tools/gen-meta/gen_meta.py" "$src" "$work"
status=0
for rel in src/meta/meta.h src/meta/table.c tests/meta/samples.h; do
    cmp -s "$src/$rel" "$work/$rel" || { diff -u "$src/$rel" "$work/$rel" | head -40; status=1; }
done
if ((status)); then
    echo "the metadata table differs from spec/: run 'make meta' and commit" >&2
fi
exit $status
