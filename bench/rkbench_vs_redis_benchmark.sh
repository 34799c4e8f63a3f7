#!/usr/bin/env bash
# rk-bench against redis-benchmark on the same workload and the same server.
#
#   bench/rkbench_vs_redis_benchmark.sh [RK_BENCH_BINARY]
#
# Runs `-t set,get -n 200000 -c 50 -P 16 -q` with each tool, alternately,
# ROUNDS times each, keeps each tool's best requests per second for SET and
# for GET, and prints
#
#   RATIO rkbench_vs_redis_benchmark <rk-bench rps / redis-benchmark rps,
#                                     averaged over SET and GET>
#
# Both tools run one event-loop thread by default. redis-benchmark 7.0 has
# --threads, but in that mode its threads stop only on its 250 ms progress
# timer, so its elapsed time is rounded up to a multiple of 250 ms (200000
# requests done in 0.3 s are reported as taking 0.5 s): THREADS=2 passes
# --threads 2 to both tools anyway, for a look, not for the ratio.
#
# The server: REDIS_URL (redis://[user:pass@]host:port[/db], as
# scripts/with-redis.sh exports it; both tools take it with -u), else
# REDIS_HOST / REDIS_PORT (default 127.0.0.1:6379). The rk-bench binary:
# the argument, else RK_BENCH, else build-release/ or build/ of this tree.
# Knobs: ROUNDS (3), REQUESTS (200000), CLIENTS (50), PIPELINE (16),
# THREADS (0: no --threads option).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${ROUNDS:-3}
requests=${REQUESTS:-200000}
clients=${CLIENTS:-50}
pipeline=${PIPELINE:-16}
threads=${THREADS:-0}

find_rk_bench() {
    local candidate
    for candidate in "${1:-}" "${RK_BENCH:-}" "$here/build-release/tools/rk-bench" \
        "$here/build/tools/rk-bench"; do
        if [[ -n $candidate && -x $candidate ]]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if ! rk_bench=$(find_rk_bench "${1:-}"); then
    echo "rk-bench not found: pass its path, set RK_BENCH, or build it (tools/rk-bench)" >&2
    exit 2
fi
if ! command -v redis-benchmark >/dev/null; then
    echo "redis-benchmark not found (apt-get install redis-tools)" >&2
    exit 2
fi

if [[ -n ${REDIS_URL:-} ]]; then
    server=(-u "$REDIS_URL")
else
    server=(-h "${REDIS_HOST:-127.0.0.1}" -p "${REDIS_PORT:-6379}")
fi
# shellcheck disable=SC2054 # "set,get" is one argument, not two elements
workload=(-t set,get -n "$requests" -c "$clients" -P "$pipeline" -q)
if ((threads > 0)); then
    workload+=(--threads "$threads")
fi

# Runs one tool; prints "SET_RPS GET_RPS". redis-benchmark draws its
# progress with \r even into a pipe, so lines are split on \r as well.
run_tool() {
    local out set_rps get_rps
    if ! out=$("$@" "${server[@]}" "${workload[@]}" 2>&1); then
        echo "$1 failed:" >&2
        echo "$out" >&2
        return 1
    fi
    out=$(tr '\r' '\n' <<<"$out")
    set_rps=$(sed -n 's/^SET: \([0-9.]*\) requests per second.*/\1/p' <<<"$out" | tail -n 1)
    get_rps=$(sed -n 's/^GET: \([0-9.]*\) requests per second.*/\1/p' <<<"$out" | tail -n 1)
    if [[ -z $set_rps || -z $get_rps ]]; then
        echo "$1 printed no SET/GET result:" >&2
        echo "$out" >&2
        return 1
    fi
    echo "$set_rps $get_rps"
}

max() {
    awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'
}

rk_set=0 rk_get=0 rb_set=0 rb_get=0
echo "workload: ${workload[*]} (best of $rounds, alternating)"
for ((round = 1; round <= rounds; round++)); do
    res=$(run_tool "$rk_bench")
    read -r s g <<<"$res"
    echo "round $round rk-bench        SET $s GET $g"
    rk_set=$(max "$rk_set" "$s") rk_get=$(max "$rk_get" "$g")
    res=$(run_tool redis-benchmark)
    read -r s g <<<"$res"
    echo "round $round redis-benchmark SET $s GET $g"
    rb_set=$(max "$rb_set" "$s") rb_get=$(max "$rb_get" "$g")
done

echo "best rk-bench        SET $rk_set GET $rk_get"
echo "best redis-benchmark SET $rb_set GET $rb_get"
awk -v a="$rk_set" -v b="$rb_set" -v c="$rk_get" -v d="$rb_get" \
    'BEGIN { printf "RATIO rkbench_vs_redis_benchmark %.3f\n", (a / b + c / d) / 2 }'
