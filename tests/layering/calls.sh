#!/usr/bin/env bash
# The layering test for calls: no function of a layer calls (or takes the
# address of, or reads) anything defined in a layer above it. check.sh sees
# includes; a call through a public header is invisible there, so this one
# reads the compiled objects: for every object of the library, the symbols
# it uses but does not define (nm -u) must be defined in its own layer or
# below, or outside the library (libc, OpenSSL...).
#
# usage: calls.sh SOURCE_DIR OBJECT_DIR   (the build's CMakeFiles/rediskit_obj.dir)
set -euo pipefail

srcdir=${1:?usage: calls.sh SOURCE_DIR OBJECT_DIR}/src
objdir=${2:?usage: calls.sh SOURCE_DIR OBJECT_DIR}/src
LAYERS=(util resp meta net conn async client commands features)

# Known upward references, "object symbol": to be removed; the list may
# only shrink (one that no longer happens is reported too).
KNOWN=()

# Objects of sources that still exist (a moved file leaves its old object).
objects=$(find "$objdir" -name '*.o' | sort | while read -r o; do
    rel=${o#"$objdir"/}
    [[ -f $srcdir/${rel%.o} ]] && echo "$o"
done)
[[ -n $objects ]] || { echo "no objects under $objdir: build first"; exit 1; }

# "file symbol layer-rank-of-user layer-rank-of-definer" for every use of a
# symbol the library defines, one nm run for the definitions and one for
# the uses.
# shellcheck disable=SC2086
uses=$( {
    nm -A --defined-only -g $objects | awk '{print "D", $1, $NF}'
    nm -A -u $objects | awk '{print "U", $1, $NF}'
} | awk -v objdir="$objdir/" -v layers="${LAYERS[*]}" '
    BEGIN { n = split(layers, l, " "); for (i = 1; i <= n; i++) rank[l[i]] = i }
    {
        file = $2; sub(/:.*$/, "", file); sub("^" objdir, "", file); sub(/\.o$/, "", file)
        layer = file; sub(/\/.*$/, "", layer)
        if (!(layer in rank)) { print "BAD", file, layer; next }
        if ($1 == "D") home[$3] = rank[layer]; else { uf[++u] = file; us[u] = $3; ur[u] = rank[layer] }
    }
    END {
        for (i = 1; i <= u; i++)
            if (us[i] in home) print uf[i], us[i], ur[i], home[us[i]]
    }')

status=0
declare -A seen_known
if grep -q '^BAD ' <<<"$uses"; then
    grep '^BAD ' <<<"$uses" | while read -r _ file layer; do
        echo "src/$file: folder '$layer' is in no layer (see LAYERS in $0)"
    done
    exit 1
fi
count=$(grep -c . <<<"$uses" || true)
while read -r file sym from to; do
    ((to > from)) || continue
    pair="$file $sym"
    if printf '%s\n' "${KNOWN[@]}" | grep -qxF "$pair"; then
        seen_known[$pair]=1
    else
        echo "src/$file uses $sym of ${LAYERS[$((to - 1))]}: ${LAYERS[$((from - 1))]} may not reach up"
        status=1
    fi
done <<<"$uses"

for pair in "${KNOWN[@]}"; do
    if [[ -z ${seen_known[$pair]+x} ]]; then
        echo "known exception no longer happens, remove it from KNOWN: $pair"
        status=1
    fi
done

if ((status == 0)); then
    echo "calls ok: $count references between objects, layers ${LAYERS[*]}"
fi
exit $status
