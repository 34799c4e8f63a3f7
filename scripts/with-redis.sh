#!/usr/bin/env bash
# Runs a command with a Redis server to talk to.
#
#   scripts/with-redis.sh COMMAND [ARG...]
#
# If REDIS_URL is set, runs COMMAND as it is. Otherwise starts a throwaway
# redis-server on a free loopback port, in a temporary directory, exports
# REDIS_URL=redis://127.0.0.1:PORT, runs COMMAND, then stops the server and
# removes the directory, whether COMMAND succeeds, fails or is interrupted.
# Exits with COMMAND's status. REDIS_SERVER names another server binary.
set -euo pipefail

if (($# == 0)); then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi
if [[ -n ${REDIS_URL:-} ]]; then
    exec "$@"
fi

server_bin=${REDIS_SERVER:-redis-server}
dir=$(mktemp -d "${TMPDIR:-/tmp}/rk-redis.XXXXXX")
pid=""

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [[ -n $pid ]]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# True once the server answers PING; false if it died (port taken) or never
# answered within 10 seconds.
server_ready() {
    local i
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# Pick a random high port; if another process holds it, the server exits at
# once and we try the next one.
for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 40000))
    "$server_bin" --port "$port" --bind 127.0.0.1 --dir "$dir" \
        --save "" --appendonly no --daemonize no \
        --logfile "$dir/redis.log" </dev/null &
    pid=$!
    if server_ready "$port"; then
        break
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
done
if [[ -z $pid ]]; then
    echo "with-redis: could not start $server_bin; last log:" >&2
    cat "$dir/redis.log" >&2 2>/dev/null || true
    exit 1
fi

export REDIS_URL="redis://127.0.0.1:$port"
echo "with-redis: redis-server on $REDIS_URL (pid $pid)" >&2
status=0
"$@" || status=$?
exit "$status"
