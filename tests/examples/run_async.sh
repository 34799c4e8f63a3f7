#!/usr/bin/env bash
# Runs the async examples (examples/async_loop.c and examples/adapters/) against
# a throwaway redis-server and checks each ends with the counter it should
# read: the README's claim that each loop has a working example.
#
# usage: run_async.sh SOURCE_DIR EXAMPLES_BUILD_DIR
set -euo pipefail
src=${1:?usage: run_async.sh SOURCE_DIR EXAMPLES_BUILD_DIR}
bin=${2:?usage: run_async.sh SOURCE_DIR EXAMPLES_BUILD_DIR}

run() {
    local status=0
    for name in async_loop:10000 async_libevent:1000 async_libuv:1000 async_libev:1000; do
        local prog=${name%%:*} want=${name##*:}
        if [[ ! -x $bin/$prog ]]; then
            echo "$prog was not built (is its library installed?)"
            status=1
            continue
        fi
        local out
        out=$(timeout 60 "$bin/$prog" 2>&1) || { echo "$prog failed:"; echo "$out"; status=1; continue; }
        if grep -qx "GET counter: $want (success)" <<<"$out"; then
            echo "$prog: ok"
        else
            echo "$prog: expected 'GET counter: $want (success)', got:"
            echo "$out"
            status=1
        fi
    done
    return $status
}

export -f run
export bin
"$src/scripts/with-redis.sh" bash -c run
