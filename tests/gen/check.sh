#!/usr/bin/env bash
# The gen_commands_rerun test: regenerates the typed commands from the
# checked-in spec into a temporary tree and fails when the result differs
# from what is committed (so a rerun changes nothing, and nobody edited
# generated files by hand). It also checks that every generated function is
# documented with the command's syntax, complexity or since-version, as the
# spec describes it.
#
# The generator needs python3 only and reads no server, so the result does
# not depend on what else is installed. A missing python3 is a skip (exit
# 77, CTest's SKIP_RETURN_CODE), or a failure under
# RK_TEST_REQUIRE_SERVERS=1 (see tests/support/rkt_skip.h).
#
# usage: check.sh SOURCE_DIR
set -euo pipefail

src=$1
skip_code=77
status=0

# Each command's builder, rk_cmd_<command>( (or (rk_cmd_<command>)( when
# it takes an options struct), follows a comment with "Syntax:" and "Since"
# (Redis version) that documents it and its convenience, declared next.
undocumented=$(awk '
    /^\/\*\*/ { doc = "" }
    { doc = doc $0 }
    /^rk_command \*\(?rk_cmd_/ {
        if (doc !~ /Syntax:/ || doc !~ /Since/) { split($2, n, "("); print n[1] n[2] }
        doc = ""
    }' "$src"/include/rediskit/commands/[!c]*.h "$src"/include/rediskit/commands/c[!o]*.h)
documented=$(cat "$src"/include/rediskit/commands/*.h | grep -c '^rk_command \*(\?rk_cmd_')
if [[ -n $undocumented ]]; then
    echo "generated functions without the command's documentation: $undocumented" >&2
    status=1
fi
echo "checked $documented generated prototypes"

if ! command -v python3 >/dev/null; then
    ((status == 0)) || exit $status
    if [[ -n ${RK_TEST_REQUIRE_SERVERS:-} && ${RK_TEST_REQUIRE_SERVERS} != 0 ]]; then
        echo "python3 not found on PATH, and RK_TEST_REQUIRE_SERVERS=1 requires it" >&2
        exit 1
    fi
    echo "skipping: python3 not found on PATH"
    exit $skip_code
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rk-gen.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$src/scripts/gen-commands.sh" "$work" >"$work/log" 2>&1 || {
    cat "$work/log"
    exit 1
}

diff -ru "$src/include/rediskit/commands.h" "$work/include/rediskit/commands.h" || status=1
# the options structs' recorded layout (fields only ever appended) is current
diff -u "$src/tools/gen-commands/opts_layout.json" "$work/tools/gen-commands/opts_layout.json" ||
    status=1
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
