#!/usr/bin/env bash
# The runtime's tests under Miri (nightly), which checks for undefined
# behaviour, out-of-bounds access and overflow as the tests run. Slow, so
# not part of tests/all.sh; tests too slow for Miri are marked
# `#[cfg_attr(miri, ignore = "...")]` and show as ignored.
#
#   tests/miri.sh                      # every runtime test
#   tests/miri.sh --lib                # extra arguments go to `cargo miri test`
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri: installing the nightly miri component" >&2
    rustup +nightly component add miri rust-src
fi

# The tests read fixture files, which Miri's isolation forbids. Leaks are
# not checked: the runtime has no heap, and the oracle test leaks its model
# bytes on purpose (`Box::leak`, for the generated code's 'static reads).
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation -Zmiri-ignore-leaks}"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
status=0
# libm's x86 sqrt/fma are inline assembly, which Miri cannot run; its soft
# versions give the same, correctly rounded, results.
nice -n 10 cargo +nightly miri test -p tflm-runtime --features libm/force-soft-floats "$@" \
    2>&1 | tee "$log" || status=$?
secs=$(($(date +%s) - start))

# Sum libtest's "test result:" lines over every test binary.
read -r passed failed ignored < <(awk '
    /^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed/) p += $i
            if ($(i + 1) ~ /^failed/) f += $i
            if ($(i + 1) ~ /^ignored/) g += $i
        }
    }
    END { print p + 0, f + 0, g + 0 }' "$log")
if [ "$status" -eq 0 ]; then
    verdict=ok
else
    verdict="FAILED (exit $status)"
fi
echo "miri: $passed passed, $failed failed, $ignored ignored in ${secs}s: $verdict"
exit "$status"
