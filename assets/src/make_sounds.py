"""Synthesises the game's sound effects as 16-bit mono WAV files (standard library only).

Deterministic: the same script always writes the same bytes. Usage: python3 make_sounds.py OUT_DIR
"""

import math
import random
import struct
import sys
import wave
from pathlib import Path

RATE = 22050


def write(path, samples):
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        peak = max(1e-9, max(abs(s) for s in samples))
        gain = 0.8 / peak
        out.writeframes(b"".join(struct.pack("<h", int(s * gain * 32767)) for s in samples))


def envelope(t, attack, decay):
    return min(1.0, t / attack) * math.exp(-t / decay)


def shot(rng):
    """A short laser-like zap: a falling square-ish tone plus a click of noise."""
    n = int(RATE * 0.16)
    out, phase = [], 0.0
    for i in range(n):
        t = i / RATE
        freq = 1400.0 * math.exp(-t * 18.0) + 220.0
        phase += 2 * math.pi * freq / RATE
        tone = math.tanh(3.0 * math.sin(phase))
        noise = rng.uniform(-1, 1) * math.exp(-t * 90.0)
        out.append((0.7 * tone + 0.5 * noise) * envelope(t, 0.002, 0.05))
    return out


def hit(rng):
    """A dull thump: a low sine drop with filtered noise."""
    n = int(RATE * 0.18)
    out, phase, low = [], 0.0, 0.0
    for i in range(n):
        t = i / RATE
        freq = 180.0 * math.exp(-t * 10.0) + 60.0
        phase += 2 * math.pi * freq / RATE
        low += 0.15 * (rng.uniform(-1, 1) - low)
        out.append((math.sin(phase) + 0.8 * low) * envelope(t, 0.001, 0.045))
    return out


def death(rng):
    """A descending, crackling burst."""
    n = int(RATE * 0.6)
    out, phase, low = [], 0.0, 0.0
    for i in range(n):
        t = i / RATE
        freq = 420.0 * math.exp(-t * 4.0) + 40.0
        phase += 2 * math.pi * freq / RATE
        low += 0.3 * (rng.uniform(-1, 1) - low)
        saw = (phase / math.pi) % 2.0 - 1.0
        out.append((0.6 * saw + 0.9 * low) * envelope(t, 0.003, 0.18))
    return out


def respawn(rng):
    """A rising two-note chime."""
    n = int(RATE * 0.35)
    out = []
    for i in range(n):
        t = i / RATE
        freq = 660.0 if t < 0.12 else 990.0
        local = t if t < 0.12 else t - 0.12
        out.append(math.sin(2 * math.pi * freq * t) * envelope(local, 0.004, 0.08))
    return out


def main():
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "../sounds")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, make in [("shot", shot), ("hit", hit), ("death", death), ("respawn", respawn)]:
        write(out_dir / f"{name}.wav", make(random.Random(name)))


if __name__ == "__main__":
    main()
