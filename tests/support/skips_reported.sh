#!/usr/bin/env bash
# The skips_reported test: a test program run where no redis-server can be
# found must say so to CTest, not pass. It must exit with 77 (CTest's
# SKIP_RETURN_CODE: "***Skipped"), and with RK_TEST_REQUIRE_SERVERS=1 (as
# in CI) fail with another non-zero status. See rkt_skip.h.
#
# usage: skips_reported.sh TEST_PROGRAM (one that needs redis-server)
set -uo pipefail

program=$1
empty=$(mktemp -d "${TMPDIR:-/tmp}/rk-nopath.XXXXXX")
trap 'rmdir "$empty"' EXIT
status=0

PATH=$empty RK_TEST_REQUIRE_SERVERS='' "$program" >"$empty.out" 2>&1
got=$?
if ((got != 77)); then
    cat "$empty.out"
    echo "without redis-server $program exited with $got, wanted 77 (skipped)" >&2
    status=1
fi
PATH=$empty RK_TEST_REQUIRE_SERVERS=1 "$program" >"$empty.out" 2>&1
got=$?
if ((got == 0 || got == 77)); then
    cat "$empty.out"
    echo "with RK_TEST_REQUIRE_SERVERS=1 and no redis-server $program exited with" \
        "$got, wanted a failure" >&2
    status=1
fi
rm -f "$empty.out"
exit $status
