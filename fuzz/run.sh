#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time (default 60 s each) on the seed
# corpora. Works on the stable toolchain: RUSTC_BOOTSTRAP lets cargo-fuzz pass its sanitizer flag.
#
#   cargo install cargo-fuzz          # once
#   fuzz/run.sh [SECONDS]             # or: fuzz/run.sh 10 client_message
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(client_message server_message renet_packet netcode_server_packet netcode_client_packet netcode_tokens)
fi
# Seeds: real encoded messages and renet packets, written by an example of the main workspace.
(cd .. && cargo run --quiet --example fuzz_seeds)
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/skirmish-fuzz-target}"
for target in "${targets[@]}"; do
    echo "== $target for ${seconds}s"
    cargo fuzz run "$target" --sanitizer none "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096
done
