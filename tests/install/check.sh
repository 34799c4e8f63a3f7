#!/usr/bin/env bash
# The install_consumer test: installs a rediskit build tree into a temporary
# prefix, then builds and runs tests/install/ against it three times: through
# find_package(rediskit) (shared and static targets), through CMake's
# pkg-config module, and as the README says, with one
# `cc main.c $(pkg-config --cflags --libs rediskit)`, the program then run
# without LD_LIBRARY_PATH (the temporary prefix is no system one, so the
# pkg-config file must carry a run path). Removes everything it made.
#
# usage: check.sh BUILD_DIR CONSUMER_SRC CMAKE CC GENERATOR [SANITIZERS]
set -euo pipefail

build_dir=$1 consumer_src=$2 cmake=$3 cc=$4 generator=$5 sanitize=${6:-}

work=$(mktemp -d "${TMPDIR:-/tmp}/rk-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

flags=""
if [[ -n $sanitize ]]; then
    flags="-fsanitize=$sanitize -fno-omit-frame-pointer"
fi

"$cmake" --install "$build_dir" --prefix "$prefix" >"$work/install.log" ||
    { cat "$work/install.log"; exit 1; }

# Runs the consumer configured with the given cache settings.
consume() {
    local mode=$1 dir=$work/$1
    shift
    echo "== consumer via $mode"
    "$cmake" -S "$consumer_src" -B "$dir" -G "$generator" -DRK_CONSUMER="$mode" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$flags" \
        -DCMAKE_EXE_LINKER_FLAGS="$flags" "$@" >"$dir.log" 2>&1 ||
        { cat "$dir.log"; exit 1; }
    "$cmake" --build "$dir" >>"$dir.log" 2>&1 || { cat "$dir.log"; exit 1; }
    local exe
    for exe in "$dir"/consumer_*; do
        echo "-- $(basename "$exe")"
        "$exe"
    done
}

consume cmake -DCMAKE_PREFIX_PATH="$prefix"

pcdir=$(dirname "$(find "$prefix" -name rediskit.pc | head -n 1)")
PKG_CONFIG_PATH=$pcdir consume pkgconfig

echo "== consumer via cc \$(pkg-config --cflags --libs rediskit)"
# shellcheck disable=SC2046,SC2086 # flags and pkg-config's words are meant to split
"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror $flags "$consumer_src/main.c" \
    $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs rediskit) -o "$work/consumer_cc"
env -u LD_LIBRARY_PATH "$work/consumer_cc"
