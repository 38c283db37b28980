#!/usr/bin/env bash
# Runs the "Your first hour" commands of docs/TEMPLATE.md, read from the guide itself, in order,
# on a copy of this repository: the list stays true because `.ci/run` runs this. Each command
# must succeed; then the copy must carry the new name and the key file must be its owner's only.
#
#   scripts/first-hour.sh
set -euo pipefail

src="$(cd "$(dirname "$0")/.." && pwd)"
dest="$(mktemp -d "${TMPDIR:-/tmp}/first-hour.XXXXXX")"
trap 'rm -rf "$dest"' EXIT
(cd "$src" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$src" && xargs -0 cp --parents -t "$dest")

# The first ```sh block after the heading, one command a line, comments dropped.
commands="$(awk '
    /^## Your first hour/ { section = 1; next }
    section && /^## / { exit }
    section && /^```sh/ { block = 1; next }
    block && /^```/ { exit }
    block { sub(/[[:space:]]+#.*$/, ""); if (length($0)) print }
' "$src/docs/TEMPLATE.md")"
if [ -z "$commands" ]; then
    echo "first-hour: no commands found under '## Your first hour' in docs/TEMPLATE.md" >&2
    exit 1
fi

cd "$dest"
while IFS= read -r command; do
    echo "== first-hour: $command"
    bash -c "$command" </dev/null
done <<<"$commands"

echo "== first-hour: the copy is the new game's"
grep -q '^name = "coins"$' Cargo.toml
if [ -f server.key ]; then
    mode="$(stat -c %a server.key)"
    [ "$mode" = 600 ] || { echo "first-hour: server.key has mode $mode" >&2; exit 1; }
fi
echo "first-hour: ok"
