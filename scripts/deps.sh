#!/usr/bin/env bash
# Checks that the Debian packages a make target needs are installed.
#
#   scripts/deps.sh PACKAGE...
#
# Silent when all are there. Otherwise, as root, installs the missing ones
# with apt-get; as anyone else, prints the command to run and fails.
# RK_SKIP_DEPS=1 skips the check (tools installed some other way);
# RK_DEPS_NO_INSTALL=1 never installs, as if not root.
set -euo pipefail

[[ ${RK_SKIP_DEPS:-0} == 1 ]] && exit 0
if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "rediskit: no dpkg-query (not Debian?); not checking packages: $*" >&2
    exit 0
fi

missing=()
for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) == 0 && ${RK_DEPS_NO_INSTALL:-0} != 1 ]]; then
    echo "rediskit: installing ${missing[*]}" >&2
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    exit 0
fi

echo "rediskit needs: sudo apt-get install -y ${missing[*]}"
exit 1
