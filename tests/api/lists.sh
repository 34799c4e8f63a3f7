#!/usr/bin/env bash
# The api_lists test: every list in the public API is an array followed by
# its count, and a binary-safe string is an rk_str (rediskit/str.h). It
# preprocesses the public headers (include/rediskit/*.h and commands/*.h;
# the header-only adapters need third-party headers and take no lists),
# keeps what they declare themselves, and reads every parameter list there
# (prototypes, function pointer types and members). It fails on
#   - a count before its array: an integer parameter named like a count
#     (n, count, argc, num..., nkeys, ..._count) that follows no array of
#     its own and is followed by one, as in the old
#     rk_pubsub_subscribe(ps, count, channels, lens);
#   - a `const size_t *` parameter: a lengths array beside C strings, the
#     old convention of binary-safe lists (an rk_str array replaces both).
# Deliberate exceptions are listed in EXCEPTIONS below, each with a reason
# (there are none).
#
# usage: lists.sh CC SOURCE_DIR [HEADER...]
#   With HEADERs, checks those instead of the public headers (the
#   api_lists_catches test runs it on tests/api/lists_bad.h, which must fail).
set -euo pipefail

cc=${1:?usage: lists.sh CC SOURCE_DIR [HEADER...]}
src=${2:?usage: lists.sh CC SOURCE_DIR [HEADER...]}
src=$(realpath "$src")
shift 2
if (($# > 0)); then
    headers=("$@")
else
    headers=("$src"/include/rediskit/*.h "$src"/include/rediskit/commands/*.h)
fi

# "function: reason", one a line; the function is the one the parameter
# list belongs to (for a function pointer type, the type's name).
EXCEPTIONS='
'

tu=$(mktemp)
trap 'rm -f "$tu"' EXIT
for h in "${headers[@]}"; do
    printf '#include "%s"\n' "$(realpath "$h")" >>"$tu"
done

# What our headers declare, comments and macros gone, as one line; the
# line markers say which file each line comes from.
dirs=$(for h in "${headers[@]}"; do dirname "$(realpath "$h")"; done | sort -u)
text=$("$cc" -E -std=c11 -I "$src/include" -x c "$tu" | awk -v dirs="$dirs" '
    BEGIN { n = split(dirs, d, "\n") }
    /^# [0-9]+ "/ {
        f = $3; gsub(/"/, "", f); ours = 0
        for (i = 1; i <= n; i++) if (index(f, d[i] "/") == 1) ours = 1
        next
    }
    ours { printf "%s ", $0 }')

# Each parameter list, named for its function (for a function pointer
# type or member, the name in the parentheses before it), is checked; a
# nested list (a function pointer parameter) shows as "()" in its parent.
# An array is a parameter of type T ** (or T *const *), T [], or a const
# pointer to rk_str or to numbers (or any pointer a count nX / X_count
# names: X); a count is an integer parameter named n, count, argc,
# num..., nX or X_count.
out=$(awk -v text="$text" -v exceptions="$EXCEPTIONS" '
    function trim(s) { gsub(/^ +| +$/, "", s); gsub(/  +/, " ", s); return s }
    function is_array(p) {
        return p ~ /\*.*\*/ || p ~ /\[/ ||
            p ~ /^const (rk_str|long long|double|int|unsigned|size_t|long) ?(const )?\*/
    }
    function is_count(p) {
        return p ~ /^(const )?(size_t|int|unsigned|unsigned int|long|long long|unsigned long|unsigned long long) (n|count|argc|num[a-z_]*|n[a-z]+|[a-z_]*_count)$/
    }
    # nfilters before `const rk_x *filters`: the count names the list.
    function names_its_list(count, p,    c, a) {
        c = count; sub(/.* /, "", c); a = p; sub(/.*[ *]/, "", a)
        return c == "n" a || c == a "_count"
    }
    function check(fn, params,    ps, n, i, p) {
        if (index(exceptions, "\n" fn ":") > 0) return
        lists++
        n = split(params, ps, ",")
        for (i = 1; i <= n; i++) ps[i] = trim(ps[i])
        # open: an array just seen, its count not yet; a count closes it,
        # or else claims the array after it (the old order)
        open = 0
        for (i = 1; i <= n; i++) {
            p = ps[i]
            if (p ~ /^(const size_t|size_t const) ?(const )?\*/)
                printf "%s: `%s` is a lengths array: take an rk_str array instead\n", fn, p
            if (is_count(p) && !open && i < n &&
                (is_array(ps[i + 1]) || names_its_list(p, ps[i + 1]))) {
                printf "%s: count `%s` comes before its array `%s`: put the array first, then its count\n", fn, p, ps[i + 1]
                i++
                continue
            }
            open = is_array(p) ? 1 : is_count(p) ? 0 : open
        }
    }
    BEGIN {
        depth = 0; word = ""; prev = ""; inner = "?"
        for (i = 1; i <= length(text); i++) {
            c = substr(text, i, 1)
            if (c ~ /[A-Za-z0-9_]/) {
                word = word c
                if (depth > 0) buf[depth] = buf[depth] c
                continue
            }
            if (word != "") { prev = word; lastword[depth] = word; word = "" ; prevc = "w" }
            if (c == "(") {
                owner[depth + 1] = prevc == "w" ? prev : inner
                depth++; buf[depth] = ""; lastword[depth] = "?"
                prevc = "("
                continue
            }
            if (c == ")" && depth > 0) {
                check(owner[depth], buf[depth])
                inner = lastword[depth]
                depth--
                if (depth > 0) buf[depth] = buf[depth] "()"
                prevc = ")"
                continue
            }
            if (depth > 0) buf[depth] = buf[depth] c
            if (c != " ") prevc = c
        }
        printf "parameter lists checked: %d\n", lists
    }')
echo "$out"
if (($# == 0)) && (($(sed -n 's/^parameter lists checked: //p' <<<"$out") < 100)); then
    echo "fewer than 100 parameter lists in the public headers: the check reads nothing" >&2
    exit 1
fi
grep -q ': ' <<<"$(grep -v '^parameter lists checked' <<<"$out")" && exit 1
exit 0
