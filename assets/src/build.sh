#!/usr/bin/env bash
# Renders the hand-written SVG sources here to the PNG sprites the game embeds (assets/sprites/).
# Needs rsvg-convert (Debian: librsvg2-bin). Run from anywhere; the PNGs are committed.
set -euo pipefail
cd "$(dirname "$0")"
for svg in *.svg; do
    rsvg-convert --format png --output "../sprites/${svg%.svg}.png" "$svg"
done
python3 make_sounds.py ../sounds
