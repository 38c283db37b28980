#!/usr/bin/env bash
# Drops the demo (the arena shooter) from a copy of this repository, leaving the netcode
# (`crates/net`), the app shell (`crates/app`) and Gems (`minimal/`) as the game, then builds and
# tests what is left. This is the guide's "start from Gems" step, run for real:
#
#   scripts/drop-demo.sh DEST           # make the copy in DEST (a new directory)
#   scripts/drop-demo.sh --check        # in a temporary directory, then build, test, and delete it
#
# In the copy:
#   - the demo's crates (`crates/shared`, `server`, `client`, `bench`), the root package (`src/`,
#     `tests/`, `examples/`, its tables in `Cargo.toml`), its art (`assets/`), its fuzz targets
#     (`fuzz/`: they decode the demo's messages) and its docs go;
#   - the Dockerfile, `deploy/`, `scripts/soak.py` and the release workflow serve Gems: the `gems` binary and its
#     `GEMS_*` variables;
#   - a short README says how to play and test it.
# --check then fails if any file left names the demo, if the build compiles a Bevy crate anew
# (every crate declares the features it needs itself, so dropping the demo changes none), or if
# a test fails.
set -euo pipefail

src="$(cd "$(dirname "$0")/.." && pwd)"
check=false
if [ "${1:-}" = "--check" ]; then
    check=true
    dest="$(mktemp -d "${TMPDIR:-/tmp}/gems-fork.XXXXXX")"
    trap 'rm -rf "$dest"' EXIT
elif [ -n "${1:-}" ]; then
    dest="$1"
    if [ -e "$dest" ] && [ -n "$(ls -A "$dest")" ]; then
        echo "drop-demo: $dest exists and is not empty" >&2
        exit 2
    fi
    mkdir -p "$dest"
else
    echo "usage: scripts/drop-demo.sh DEST | --check" >&2
    exit 2
fi

# The repository's files as they are now (committed or not), without build output.
(cd "$src" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$src" && xargs -0 cp --parents -t "$dest" 2>/dev/null || true)
cd "$dest"

rm -rf crates/shared crates/server crates/client crates/bench src tests examples assets fuzz
rm -f docs/TEMPLATE.md docs/screenshot.png docs/menu.png CHANGELOG.md
# This script's work is done: the copy's CI no longer runs it.
# and so is renaming: `scripts/rename.sh` (cargo generate's hook) renames the demo's crates.
rm -f scripts/drop-demo.sh scripts/first-hour.sh scripts/rename.sh scripts/cargo-generate.rhai
sed -i -e '/^\[hooks\]/,$d' cargo-generate.toml
sed -i -e '/drop-demo/d' -e '/first-hour/d' .ci/run

# The root manifest: a workspace of the netcode, the shell and the game; the root package's
# tables (from `[package]` to the profiles) and the demo's workspace dependencies go.
awk '
    /^\[package\]$/ { skip = 1 }
    /^# The dev profile/ { skip = 0 }
    /^skirmish-(shared|server|client|bench) = / { next }
    !skip { print }
' Cargo.toml >Cargo.toml.new
mv Cargo.toml.new Cargo.toml
sed -i -E \
    -e 's|^members = .*|members = ["crates/net", "crates/app", "minimal"]|' \
    -e 's|^default-members = .*|default-members = ["crates/net", "crates/app", "minimal"]|' \
    Cargo.toml

# Operations serve the `gems` binary.
sed -i -E \
    -e 's/SKIRMISH_/GEMS_/g' \
    -e 's|skirmish-server|gems-server|g' \
    -e 's|/usr/local/bin/skirmish|/usr/local/bin/gems|g' \
    -e 's|/out/skirmish|/out/gems|g' \
    -e 's|release/skirmish|release/gems|g' \
    -e 's|--bin skirmish|--bin gems|g' \
    -e 's|^  BIN: skirmish$|  BIN: gems|' \
    -e 's|`skirmish (server\|keygen\|bots\|healthcheck)|`gems \1|g' \
    -e 's|skirmish (server\|keygen\|bots\|healthcheck)|gems \1|g' \
    Dockerfile deploy/agones/*.yaml scripts/soak.py .github/workflows/*.yml
# The image builds only what the workspace has now.
sed -i -E -e '/^COPY (src|assets|examples|tests) /d' Dockerfile

cat >README.md <<'EOF'
# Gems

Ships steered with a helm collect gems: a multiplayer game on `skirmish-net` (the netcode,
`crates/net`) and `skirmish-app` (the app shell: launcher modes, server operations, menus,
connection screens and the network overlay, `crates/app`). The game is `minimal/`.

```sh
cargo run -p minimal-game   # play: hosts a local server and opens the game window
cargo test                  # every test
```

`cargo run -p minimal-game -- --help` lists the other modes: `server` (a headless dedicated
server, secure by default: `keygen`, `token`), `client`, `bots`, `healthcheck`.
EOF

if ! $check; then
    echo "drop-demo: the game without the demo is in $dest"
    exit 0
fi

echo "== drop-demo: cargo test (what is left)"
log="$(mktemp)"
cargo test --color never 2>&1 | tee "$log"
if grep -E '^\s+Compiling (bevy|wgpu|winit|naga|renet)' "$log"; then
    echo "drop-demo: dropping the demo rebuilt the crates above (a feature changed)" >&2
    exit 1
fi
rm -f "$log"

# After the build, which prunes the demo's packages from Cargo.lock.
echo "== drop-demo: no file left names the demo"
demo='skirmish[-_](shared|server|client|bench)\b|crates/(shared|server|client|bench)\b|tests/demo|skirmish::Skirmish|-p skirmish( |$)|--bin skirmish( |$)'
if grep -rIlE "$demo" . --exclude-dir=.git; then
    echo "drop-demo: the files above still name the demo" >&2
    grep -rInE "$demo" . --exclude-dir=.git | head -20 >&2
    exit 1
fi

echo "drop-demo: ok"
