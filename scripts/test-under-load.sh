#!/usr/bin/env bash
# Runs the README's test command while other processes keep every core busy, as on a shared CI
# machine or a newcomer's laptop mid-build. Tests must assert behaviour, not speed: this is how
# we check that they do.
#
#   scripts/test-under-load.sh [RUNS] [-- extra cargo test arguments]
#
# RUNS (default 5) full `cargo test --no-fail-fast` runs, each under load; prints one line per
# run and a summary, and exits non-zero if any run failed. The build happens first, unloaded, so
# the load lands on the tests, not on the compiler.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=5
if [[ $# -gt 0 && $1 != "--" ]]; then
    runs=$1
    shift
fi
[[ ${1:-} == "--" ]] && shift

cores=$(nproc 2>/dev/null || sysctl -n hw.ncpu)
logs=${TMPDIR:-/tmp}/skirmish-test-under-load
mkdir -p "$logs"

echo "== building the tests (unloaded)"
# (Doctests are compiled when they run, so those few compile under load.)
cargo test --workspace --no-run "$@" >"$logs/build.log" 2>&1 || {
    tail -40 "$logs/build.log"
    exit 1
}

# One busy loop per core, at the same priority as the tests: they get about half the machine.
load_pids=()
start_load() {
    for _ in $(seq "$cores"); do
        (while :; do :; done) &
        load_pids+=($!)
    done
}
stop_load() {
    for pid in ${load_pids[@]+"${load_pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
    load_pids=()
}
trap stop_load EXIT

passed=0
for run in $(seq "$runs"); do
    start_load
    began=$(date +%s)
    if cargo test --workspace --no-fail-fast "$@" >"$logs/run-$run.log" 2>&1; then
        result=passed
        passed=$((passed + 1))
    else
        result=FAILED
    fi
    stop_load
    took=$(($(date +%s) - began))
    echo "run $run/$runs: $result in ${took} s, $cores busy loops beside it (log: $logs/run-$run.log)"
    if [[ $result == FAILED ]]; then
        grep -E "^test .* FAILED|panicked at|^error" "$logs/run-$run.log" | head -20 || true
    fi
done
echo "== $passed of $runs runs passed under load"
[[ $passed -eq $runs ]]
