#!/usr/bin/env bash
# Gives a copy of this repository its own name: `cargo generate` runs it (see
# cargo-generate.toml), or run it yourself in a fresh clone:
#
#   scripts/rename.sh coins            # in the repository's root
#
# NAME is one lowercase word (letters, then letters or digits): it is the package and binary
# name (`coins`), the Rust crate names (`coins_shared`...), the environment variables' prefix
# (`COINS_PORT`), the metric names (`coins_players`), the window title and main menu heading (`Coins`, `COINS`) and the types named
# after the game. The game gets a fresh random protocol id (so neither Skirmish's clients and
# tokens nor any other fork's reach its servers) and protocol version 1.
#
# `crates/net` and `crates/app` (`skirmish-net`, `skirmish-app`) keep their names: they are the
# template's, and take upgrades cleanly when left as they are.
set -euo pipefail

name="${1:-}"
if ! [[ "$name" =~ ^[a-z][a-z0-9]*$ ]] || [ "$name" = skirmish ]; then
    echo "usage: scripts/rename.sh NAME   (one lowercase word other than skirmish, like coins)" >&2
    exit 2
fi
cd "$(dirname "$0")/.."
title="${name^}"
upper="${name^^}"
protocol_id="0x$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F')"

# Every text file of the game, outside the two crates a fork keeps as they are.
files() {
    git ls-files --cached --others --exclude-standard 2>/dev/null ||
        find . -type f -not -path './.git/*' -not -path './target/*' | sed 's|^\./||'
}
files | grep -vE '^(crates/net|crates/app)/|^\.git/' | while IFS= read -r file; do
    [ -f "$file" ] || continue
    grep -Iq . "$file" 2>/dev/null || continue # binary or empty
    grep -qiE 'skirmish' "$file" || continue
    sed -i -E \
        -e 's/skirmish-(net|app)/\x01\1/g' \
        -e 's/skirmish_(net|app)/\x02\1/g' \
        -e "s/CARGO_BIN_EXE_skirmish/CARGO_BIN_EXE_${name}/g" \
        -e "s/skirmish_/${name}_/g" \
        -e "s/\\bskirmish\\b/${name}/g" \
        -e "s/\\bSkirmish\\b/${title}/g" \
        -e "s/SKIRMISH/${upper}/g" \
        -e 's/\x01(net|app)/skirmish-\1/g' \
        -e 's/\x02(net|app)/skirmish_\1/g' \
        "$file"
done

# Its own netcode identity.
protocol=crates/shared/src/protocol.rs
sed -i -E \
    -e "s/^pub const PROTOCOL_ID: u64 = .*;/pub const PROTOCOL_ID: u64 = ${protocol_id};/" \
    -e 's/^pub const PROTOCOL_VERSION: u16 = .*;/pub const PROTOCOL_VERSION: u16 = 1;/' \
    "$protocol"
grep -q "PROTOCOL_ID: u64 = ${protocol_id};" "$protocol"

echo "rename: the game is ${name} (${title}), protocol id ${protocol_id}"
