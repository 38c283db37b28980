#!/usr/bin/env python3
"""Soak test: a real `skirmish server` plus N headless bot clients on loopback, for a bounded time.

Prints the server's tick time (p50/p99 from its Prometheus histogram), snapshots per second, bytes
per second per client, disconnects, and the server's resident memory at the start, the end and its
trend. Exits 1 when a bot disconnected unexpectedly or memory grew beyond the allowed trend.

    cargo build --release
    python3 scripts/soak.py --bots 64 --duration 120

Standard library only. Traffic stays on 127.0.0.1.
"""

import argparse
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url):
    with urllib.request.urlopen(url, timeout=2) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        samples[name_labels] = float(value)
    return samples


def rss_kib(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))


def buckets(samples):
    """Cumulative (upper bound in seconds, count) pairs of the tick histogram."""
    out = []
    for key, value in samples.items():
        match = re.fullmatch(r'skirmish_tick_seconds_bucket\{le="([^"]+)"\}', key)
        if match:
            bound = float("inf") if match.group(1) == "+Inf" else float(match.group(1))
            out.append((bound, value))
    return sorted(out)


def quantile(bucket_deltas, q):
    """The q-quantile by linear interpolation inside the histogram bucket that holds it."""
    total = bucket_deltas[-1][1]
    if total == 0:
        return float("nan")
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in bucket_deltas:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            span = count - lower_count
            frac = (rank - lower_count) / span if span else 1.0
            return lower_bound + (bound - lower_bound) * frac
        lower_bound, lower_count = bound, count
    return lower_bound


def slope(points):
    """Least-squares slope of (t, y) points."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / den if den else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=64)
    parser.add_argument("--duration", type=int, default=120, help="seconds of bot play")
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "skirmish"))
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument(
        "--max-growth-kib-per-min", type=float, default=512.0,
        help="fail when the server's RSS trend after warm-up exceeds this",
    )
    args = parser.parse_args()
    binary = os.environ.get("SKIRMISH_BIN", args.binary)
    if not Path(binary).exists():
        sys.exit(f"{binary} not found: run `cargo build --release` first (or set SKIRMISH_BIN)")

    port, metrics_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    server = subprocess.Popen(
        [binary, "server", "--insecure", "--bind", "127.0.0.1", "--port", str(port),
         "--max-clients", str(max(args.bots, 1)), "--metrics-addr", f"127.0.0.1:{metrics_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    bots = None
    try:
        deadline = time.time() + 20
        while True:
            try:
                scrape(metrics)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    sys.exit("the server did not start")
                time.sleep(0.2)
        bots_start = time.time()
        bots = subprocess.Popen(
            [binary, "bots", "--count", str(args.bots), "--connect", f"127.0.0.1:{port}",
             "--duration", str(args.duration)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        # Warm-up: everyone joined and the first allocations are done.
        warm_deadline = time.time() + 30
        while scrape(metrics).get("skirmish_players", 0) < args.bots:
            if time.time() > warm_deadline or bots.poll() is not None:
                sys.exit("the bots did not all join")
            time.sleep(0.5)
        time.sleep(2)
        start_time, start = time.time(), scrape(metrics)
        rss = [(0.0, rss_kib(server.pid))]
        last = start
        # Stop sampling before the bots leave: their exit is not the steady state.
        stop_at = bots_start + args.duration - 2 * args.sample
        while bots.poll() is None and time.time() < stop_at:
            time.sleep(args.sample)
            try:
                sample = scrape(metrics)
            except OSError:
                break
            if sample.get("skirmish_players", 0) < args.bots * 0.5:
                break  # the bots are leaving at the end of their run
            last = sample
            rss.append((time.time() - start_time, rss_kib(server.pid)))
        elapsed = max(rss[-1][0], 1e-9)
        bots_out, _ = bots.communicate(timeout=args.duration + 60)
        bots_ok = bots.returncode == 0
    finally:
        if bots and bots.poll() is None:
            bots.kill()
        server.terminate()
        server_exit = server.wait(timeout=10)

    deltas = [(b, c - dict(buckets(start)).get(b, 0.0)) for b, c in buckets(last)]
    ticks = deltas[-1][1] if deltas else 0
    snapshots = last.get("skirmish_snapshots_total", 0) - start.get("skirmish_snapshots_total", 0)
    bytes_out = last.get("skirmish_bytes_out_total", 0) - start.get("skirmish_bytes_out_total", 0)
    disconnects = sum(v for k, v in last.items() if k.startswith("skirmish_disconnects_total"))
    trend = slope(rss) * 60.0
    print(f"soak: {args.bots} bots for {elapsed:.0f} s measured (after warm-up)")
    print(f"  server frames     {ticks:.0f}  tick p50 {quantile(deltas, 0.5) * 1000:.3f} ms"
          f"  p99 {quantile(deltas, 0.99) * 1000:.3f} ms")
    print(f"  snapshots/s       {snapshots / elapsed:.0f} in all, "
          f"{snapshots / elapsed / max(args.bots, 1):.1f} per client")
    print(f"  bytes/s/client    {bytes_out / elapsed / max(args.bots, 1):.0f} out")
    print(f"  disconnects       {disconnects:.0f} during the run")
    print(f"  server RSS        {rss[0][1] / 1024:.1f} MiB at start, {rss[-1][1] / 1024:.1f} MiB "
          f"at end, trend {trend:+.0f} KiB/min over {len(rss)} samples")
    print("  RSS samples (s: MiB) " + ", ".join(f"{t:.0f}: {kib / 1024:.1f}" for t, kib in rss))
    print(f"  bots              {bots_out.strip().splitlines()[0] if bots_out.strip() else '?'}")
    print(f"  server exit code  {server_exit} after SIGTERM")
    failures = []
    if not bots_ok:
        failures.append("a bot failed to connect or lost its connection")
    if disconnects:
        failures.append(f"{disconnects:.0f} disconnects during the run")
    if trend > args.max_growth_kib_per_min:
        failures.append(f"memory grows {trend:.0f} KiB/min")
    if server_exit != 0:
        failures.append(f"server exit code {server_exit}")
    for failure in failures:
        print(f"FAIL: {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
