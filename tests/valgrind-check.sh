#!/bin/sh
# Run every Check program of a built tree under valgrind (no fork, so the
# tests run inside valgrind), failing on any error or definite leak.
# Usage: tests/valgrind-check.sh [BUILDDIR]   (default: .)
set -u
b=$(cd "${1:-.}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
export ECRM_PLUGIN_PATH="$b/plugins" ECRM_FIXTURE_DIR="$b/tests/fixtures"
export top_builddir="$b" top_srcdir="$src" CK_FORK=no
pass=0
fail=0
for t in "$b"/tests/check_*; do
    case "$t" in *.o | *.c | *.log | *.trs) continue ;; esac
    [ -x "$t" ] || continue
    if valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --error-exitcode=99 "$t" > "$t.valgrind.out" 2>&1; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "valgrind: $(basename "$t") failed:" >&2
        tail -n 40 "$t.valgrind.out" >&2
    fi
done
echo "valgrind: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
