#!/usr/bin/env bash
# The layering test: every part of src/ uses only the parts below it, and no
# header chain loops. It reads the #include "..." lines of src/**/*.{c,h}
# and fails on
#   - an include that reaches up a layer (src/net including src/conn ...),
#   - a folder of src/ that is in no layer (add it to LAYERS below),
#   - an include cycle between src files.
# Public headers ("rediskit/...") are the API and may be included anywhere.
#
# usage: check.sh SOURCE_DIR
set -euo pipefail

src=${1:?usage: check.sh SOURCE_DIR}/src

# Bottom to top; a file may include its own layer and those before it.
LAYERS=(util resp meta net conn async client commands features)

# Known upward includes, "from-file to-file": to be removed by the core
# reshape. Anything listed here that no longer happens is reported too, so
# the list only shrinks.
KNOWN=()

declare -A rank
for i in "${!LAYERS[@]}"; do
    rank[${LAYERS[$i]}]=$i
done

status=0
edges=$(mktemp "${TMPDIR:-/tmp}/rk-layering.XXXXXX")
trap 'rm -f "$edges"' EXIT

declare -A seen_known
while IFS= read -r file; do
    rel=${file#"$src"/}
    layer=${rel%%/*}
    if [[ -z ${rank[$layer]+x} ]]; then
        echo "src/$rel: folder '$layer' is in no layer (see LAYERS in $0)"
        status=1
        continue
    fi
    while IFS= read -r inc; do
        case $inc in
        rediskit/*) continue ;;     # the public API
        */*) target=$inc ;;         # from src/
        *) target=${rel%/*}/$inc ;; # beside the file
        esac
        echo "$rel $target" >>"$edges"
        to=${target%%/*}
        [[ -n ${rank[$to]+x} ]] || continue # reported when its own files are read
        if ((rank[$to] > rank[$layer])); then
            pair="$rel $target"
            if printf '%s\n' "${KNOWN[@]}" | grep -qxF "$pair"; then
                seen_known[$pair]=1
            else
                echo "src/$rel includes $target: $layer may not reach up to $to"
                status=1
            fi
        fi
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file")
done < <(find "$src" -name '*.[ch]' | sort)

for pair in "${KNOWN[@]}"; do
    if [[ -z ${seen_known[$pair]+x} ]]; then
        echo "known exception no longer happens, remove it from KNOWN: $pair"
        status=1
    fi
done

# tsort names the files of any loop on stderr.
loops=$(tsort "$edges" 2>&1 >/dev/null | sed -e '/input contains a loop/d' -e 's/^tsort: /  /') || true
if [[ -n $loops ]]; then
    echo "include cycle:"
    echo "$loops"
    status=1
fi

if ((status == 0)); then
    echo "layering ok: $(wc -l <"$edges") includes, layers ${LAYERS[*]}"
fi
exit $status
