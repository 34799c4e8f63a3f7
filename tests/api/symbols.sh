#!/usr/bin/env bash
# The api_symbols test: counts the public symbols the typed commands cost.
# It lists the rk_ symbols librediskit.so exports (nm -D --defined-only),
# takes the commands from the generated table (src/commands/gen/table.c:
# per command its builder rk_cmd_<name> and its convenience rk_<name>, or
# a hand-written function), prints
#     symbols per command: X.XX (N symbols, M commands; H hand-written)
# and fails when X > 2.00, when an exported rk_cmd_ symbol is no command's
# builder, or when a command's function breaks the naming rule of
# rediskit/commands/common.h by starting with a public type's name and '_'
# (rk_client_, rk_pubsub_..., the way CLIENT LIST was rk_client_list next
# to rk_client_new).
#
# usage: symbols.sh LIBREDISKIT_SO SOURCE_DIR
set -euo pipefail

lib=${1:?usage: symbols.sh LIBREDISKIT_SO SOURCE_DIR}
src=${2:?usage: symbols.sh LIBREDISKIT_SO SOURCE_DIR}
table=$src/src/commands/gen/table.c
status=0

exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TWDBR]$/ && $3 ~ /^rk_/ {print $3}' | sort -u)

# Table rows, {"name", "builder" or NULL, "function", "kind", ...}, each on
# one line whatever the generator's wrapping.
rows=$(tr '\n' ' ' <"$table" | sed 's/= {/= {\n/; s/},/}\n/g' |
    sed -n 's/^ *{"\([^"]*\)", *\(NULL\|"[^"]*"\), *"\([^"]*\)", *"\([^"]*\)".*/\1 \2 \3 \4/p' |
    tr -d '"')
commands=$(wc -l <<<"$rows")
# The command symbols: builders and conveniences of generated commands,
# and the hand-written command functions ("hand"); the SUBSCRIBE family is
# rk_pubsub's methods ("pubsub"), not functions of its own.
wanted=$(awk '$4 != "pubsub" { if ($2 != "NULL") print $2; print $3 }' <<<"$rows" | sort -u)
hand=$(awk '$4 == "hand"' <<<"$rows" | wc -l)
symbols=$(comm -12 <(echo "$exported") <(echo "$wanted") | wc -l)

missing=$(comm -13 <(echo "$exported") <(echo "$wanted"))
if [[ -n $missing ]]; then
    echo "command functions the library does not export:" $missing
    status=1
fi
strays=$(comm -23 <(grep '^rk_cmd_' <<<"$exported") <(echo "$wanted"))
if [[ -n $strays ]]; then
    echo "exported rk_cmd_ symbols that are no command's builder:" $strays
    status=1
fi

# Public type names, from the headers (command option and group structs
# aside: they are named after commands), and the brief's list.
types=$(cat "$src"/include/rediskit/*.h |
    sed -n 's/.*typedef \(struct\|enum\|union\) \(rk_[a-z0-9_]*\) .*/\2/p; s/.*typedef struct \(rk_[a-z0-9_]*\);.*/\1/p' |
    cat - <(printf '%s\n' rk_client rk_conn rk_pipeline rk_pubsub rk_script rk_scanner rk_lock \
        rk_redlock rk_reply rk_reader rk_writer rk_command rk_cluster rk_sentinel rk_async) |
    sort -u)
for fn in $(awk '$4 != "pubsub" { if ($2 != "NULL") print $2; print $3 }' <<<"$rows"); do
    for t in $types; do
        if [[ $fn == "${t}_"* ]]; then
            echo "$fn starts with the type name ${t}_: commands must not look like methods"
            status=1
        fi
    done
done

ratio=$(awk -v n="$symbols" -v m="$commands" 'BEGIN { printf "%.2f", n / m }')
echo "symbols per command: $ratio ($symbols symbols, $commands commands; $hand hand-written)"
echo "exported rk_ symbols in all: $(wc -l <<<"$exported")"
if awk -v r="$ratio" 'BEGIN { exit !(r > 2.00) }'; then
    echo "more than 2 public symbols per command" >&2
    status=1
fi
exit $status
