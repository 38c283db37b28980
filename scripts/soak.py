#!/usr/bin/env python3
"""Soak test: a real `skirmish server` plus N headless bot clients on loopback, for a bounded time.

Prints the server's tick time (p50/p99 from its Prometheus histogram), snapshots per second, bytes
per second per client, disconnects, and the server's resident memory (RSS): when every bot has
joined, after the warm-up and at the end, its trend after the warm-up, and the memory per connected
bot. Exits 1 when a bot disconnected unexpectedly, the server did not exit cleanly, or memory grew
beyond the allowed trend.

The memory verdict (`memory_verdict`) ignores the warm-up: the first `--warmup` seconds after every
bot joined (default max(10 s, 20% of --duration)), when the server's first allocations land (a
release server goes from 59.4 to 60.8 MiB in its first 5 s with 64 bots, then stays flat). After
the warm-up it takes two robust estimates of the trend, the Theil-Sen slope (median of the slopes
between every pair of samples) and the rate between the medians of the first and the last third
of the samples, and fails only when both exceed --max-growth-kib-per-min: a steady leak raises
both, a single step near either end of the window raises neither. With fewer than 6 samples after
the warm-up the trend is not judged (a WARN line says so; use a longer --duration or a shorter
--sample). The verdict logic is pure and checked without a server by the self-test:

    cargo build --release
    python3 scripts/soak.py --bots 64 --duration 120
    python3 scripts/soak.py --self-test     # the verdict logic only: no server, no build

Standard library only. Traffic stays on 127.0.0.1.
"""

import argparse
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Fewer samples than this after the warm-up leave the memory trend unjudged.
MIN_TREND_SAMPLES = 6
# Theil-Sen is quadratic in the samples: thin longer series to this many, evenly spaced.
MAX_THEIL_SEN_POINTS = 400


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
    """Least-squares slope of (t, y) points: reported by the self-test only (one early step skews
    it, which is why the verdict does not use it)."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / den if den else 0.0


def median(values):
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return float("nan")
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def theil_sen(points):
    """Theil-Sen slope of (t, y) points: the median of the slopes between every pair. A step that
    splits off fewer than about 30% of the points leaves it at the slope of the rest."""
    if len(points) > MAX_THEIL_SEN_POINTS:
        last = len(points) - 1
        points = [points[round(i * last / (MAX_THEIL_SEN_POINTS - 1))]
                  for i in range(MAX_THEIL_SEN_POINTS)]
    slopes = [(y2 - y1) / (t2 - t1)
              for i, (t1, y1) in enumerate(points) for t2, y2 in points[i + 1:] if t2 != t1]
    return median(slopes) if slopes else 0.0


def thirds_slope(points):
    """The slope between the medians of the first and the last third of (t, y) points, in time
    order: a step inside either third moves neither median unless it covers most of that third."""
    k = len(points) // 3
    if k == 0:
        return 0.0
    first, last = points[:k], points[-k:]
    dt = median(t for t, _ in last) - median(t for t, _ in first)
    if dt <= 0:
        return 0.0
    return (median(y for _, y in last) - median(y for _, y in first)) / dt


def plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def default_warmup(duration):
    """Seconds after every bot joined that the memory trend ignores: max(10 s, 20% of the run)."""
    return max(10.0, 0.2 * duration)


def memory_verdict(rss, warmup, max_growth_kib_per_min, bots, idle_kib=None):
    """Judge the server's memory from `rss`, (seconds since every bot joined, KiB) samples in time
    order. Only samples at or after `warmup` count. Both the Theil-Sen slope and the slope between
    the medians of the first and the last third must exceed the limit to fail: a steady leak raises
    both, a single step near either end of the window neither. Fewer than MIN_TREND_SAMPLES after
    the warm-up leave the trend unjudged (`judged` False, `ok` True, `warning` says why).

    Returns a dict: the window's sample count, the two slopes and the judged growth (their
    minimum) in KiB/min, RSS after the warm-up and its median, the median per connected bot and per
    bot above `idle_kib` (the server's RSS before any bot came; None when unknown), `ok`, and
    `failure` / `warning` text or None."""
    window = [(t, kib) for t, kib in rss if t >= warmup]
    result = {
        "warmup_s": warmup,
        "samples": len(window),
        "limit_kib_per_min": max_growth_kib_per_min,
        "judged": len(window) >= MIN_TREND_SAMPLES,
        "theil_sen_kib_per_min": None,
        "thirds_kib_per_min": None,
        "growth_kib_per_min": None,
        "after_warmup_kib": window[0][1] if window else None,
        "median_kib": median(kib for _, kib in window) if window else None,
        "per_bot_kib": None,
        "per_bot_above_idle_kib": None,
        "ok": True,
        "failure": None,
        "warning": None,
    }
    if window and bots > 0:
        result["per_bot_kib"] = result["median_kib"] / bots
        if idle_kib is not None:
            result["per_bot_above_idle_kib"] = (result["median_kib"] - idle_kib) / bots
    if not result["judged"]:
        result["warning"] = (
            f"memory trend not judged: {plural(len(window), 'sample')} after the {warmup:.0f} s warm-up, "
            f"{MIN_TREND_SAMPLES} needed (use a longer --duration or a shorter --sample)")
        return result
    ts = theil_sen(window) * 60.0
    th = thirds_slope(window) * 60.0
    growth = min(ts, th)
    result.update(theil_sen_kib_per_min=ts, thirds_kib_per_min=th, growth_kib_per_min=growth)
    if growth > max_growth_kib_per_min:
        result["ok"] = False
        result["failure"] = (
            f"memory grows {growth:.0f} KiB/min after the {warmup:.0f} s warm-up "
            f"(Theil-Sen {ts:+.0f}, thirds {th:+.0f}; limit {max_growth_kib_per_min:.0f})")
    return result


def trend_text(verdict):
    """The verdict's trend as the soak report prints it."""
    if not verdict["judged"]:
        return (f"not judged: {plural(verdict['samples'], 'sample')} after the {verdict['warmup_s']:.0f} s "
                f"warm-up, {MIN_TREND_SAMPLES} needed")
    return (f"{verdict['growth_kib_per_min']:+.0f} KiB/min after the {verdict['warmup_s']:.0f} s "
            f"warm-up (Theil-Sen {verdict['theil_sen_kib_per_min']:+.0f}, "
            f"thirds {verdict['thirds_kib_per_min']:+.0f}; limit "
            f"{verdict['limit_kib_per_min']:.0f}) over {verdict['samples']} samples")


def self_test():
    """Check memory_verdict on synthetic RSS series shaped like real runs; 0 when all pass."""
    sample, bots, limit = 5.0, 64, 512.0
    rng = random.Random(7)

    def series(duration, kib_at, jitter_kib=0):
        # What main() samples: t = 0 when every bot joined, then every `sample` seconds until
        # 2 samples before the bots' end; RSS in whole 4 KiB pages.
        out, t = [], 0.0
        while t <= duration - 2 * sample:
            kib = kib_at(t) + rng.randint(-jitter_kib, jitter_kib)
            out.append((t, int(round(kib / 4)) * 4))
            t += sample
        return out

    mib = 1024
    # The report: 59.4 MiB when all had joined, 60.8 MiB from 5 s, flat for the next 40 s.
    reported = [(0.0, int(59.4 * mib))] + [(5.0 * i, int(60.8 * mib)) for i in range(1, 10)]
    cases = [
        # name, samples, run duration, warm-up (None: the default), expected: True pass, False
        # fail, None not judged
        ("(a) reported: +1.4 MiB in the first 5 s, then flat for 40 s",
         reported, 60, None, True),
        ("(a) the same with no warm-up: the estimators alone",
         reported, 60, 0.0, True),
        ("(a) the same step 5 s past the 24 s warm-up of a 120 s run",
         series(120, lambda t: 59.4 * mib + (1.4 * mib if t >= 30 else 0), 32), 120, None, True),
        ("(b) steady growth 1 MiB/min over a 60 s run",
         series(60, lambda t: 59.4 * mib + mib * t / 60, 32), 60, None, False),
        ("(b) steady growth 1 MiB/min over a 120 s run",
         series(120, lambda t: 59.4 * mib + mib * t / 60, 32), 120, None, False),
        ("(b) +1.4 MiB in the first 5 s, then 1 MiB/min",
         series(60, lambda t: 59.4 * mib + (1.4 * mib if t >= 5 else 0) + mib * t / 60, 32),
         60, None, False),
        ("(c) flat, +-64 KiB of noise, 60 s run",
         series(60, lambda t: 60.8 * mib, 64), 60, None, True),
        ("(c) flat, +-64 KiB of noise, 600 s run",
         series(600, lambda t: 60.8 * mib, 64), 600, None, True),
        ("slow growth 256 KiB/min, under the 512 KiB/min limit",
         series(120, lambda t: 59.4 * mib + 256 * t / 60, 32), 120, None, True),
        ("a 20 s run: too few samples after the warm-up",
         series(20, lambda t: 59.4 * mib + mib * t / 60), 20, None, None),
    ]
    print(f"self-test: memory verdict on synthetic RSS series ({sample:.0f} s samples, {bots} bots,"
          f" limit {limit:.0f} KiB/min)")
    failed = 0
    for name, rss, duration, warmup, expected in cases:
        warmup = default_warmup(duration) if warmup is None else warmup
        verdict = memory_verdict(rss, warmup, limit, bots, idle_kib=int(59.0 * mib))
        got = None if not verdict["judged"] else verdict["ok"]
        good = got == expected and (verdict["judged"] or verdict["warning"])
        failed += not good
        word = {True: "pass", False: "FAIL", None: "not judged"}
        print(f"  {'ok' if good else 'WRONG':5} {name}: {word[got]}"
              f"{'' if good else f' (expected {word[expected]})'}")
        print(f"        trend {trend_text(verdict)}; least squares over every sample "
              f"{slope(rss) * 60:+.0f} KiB/min")
    # Memory per connected bot, from the reported case: the median after the warm-up, 60.8 MiB,
    # over 64 bots, and 1.8 MiB above a 59.0 MiB idle server.
    verdict = memory_verdict(reported, default_warmup(60), limit, bots, idle_kib=int(59.0 * mib))
    per_bot_good = (abs(verdict["per_bot_kib"] - 60.8 * mib / bots) < 1
                    and abs(verdict["per_bot_above_idle_kib"] - 1.8 * mib / bots) < 1)
    failed += not per_bot_good
    print(f"  {'ok' if per_bot_good else 'WRONG':5} RSS per bot in (a): {verdict['per_bot_kib']:.0f}"
          f" KiB, {verdict['per_bot_above_idle_kib']:.0f} KiB above the idle server")
    total = len(cases) + 1
    print(f"self-test: {total - failed} of {total} checks passed")
    return 1 if failed else 0


def mib(kib):
    return "?" if kib is None else f"{kib / 1024:.1f}"


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
    parser.add_argument(
        "--warmup", type=float, default=None, metavar="SECONDS",
        help="seconds after every bot joined that the measurements and the memory trend ignore "
             "(default: max(10, 20%% of --duration))",
    )
    parser.add_argument(
        "--self-test", action="store_true",
        help="check the memory verdict on synthetic RSS series (no server) and exit",
    )
    args = parser.parse_args()
    if args.self_test:
        sys.exit(self_test())
    warmup = default_warmup(args.duration) if args.warmup is None else max(args.warmup, 0.0)
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
        idle_kib = rss_kib(server.pid)
        bots_start = time.time()
        bots = subprocess.Popen(
            [binary, "bots", "--count", str(args.bots), "--connect", f"127.0.0.1:{port}",
             "--duration", str(args.duration)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        warm_deadline = time.time() + 30
        while True:
            joined = scrape(metrics)
            if joined.get("skirmish_players", 0) >= args.bots:
                break
            if time.time() > warm_deadline or bots.poll() is not None:
                sys.exit("the bots did not all join")
            time.sleep(0.5)
        # t = 0 when everyone has joined. The warm-up (the first allocations) is sampled too, but
        # the measurements start after it and the memory trend ignores it.
        joined_time = time.time()
        rss = [(0.0, rss_kib(server.pid))]
        start = start_time = None
        last, last_time = joined, joined_time
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
            now = time.time()
            last, last_time = sample, now
            rss.append((now - joined_time, rss_kib(server.pid)))
            if start is None and now - joined_time >= warmup:
                start, start_time = sample, now
        after_warmup = start is not None and start_time < last_time
        if not after_warmup:  # the run ended inside the warm-up: measure from the join
            start, start_time = joined, joined_time
        elapsed = max(last_time - start_time, 1e-9)
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
    memory = memory_verdict(rss, warmup, args.max_growth_kib_per_min, args.bots, idle_kib)
    measured = (f"after the {warmup:.0f} s warm-up" if after_warmup
                else f"from the join: the run ended inside the {warmup:.0f} s warm-up")
    print(f"soak: {args.bots} bots for {elapsed:.0f} s measured ({measured})")
    print(f"  server frames     {ticks:.0f}  tick p50 {quantile(deltas, 0.5) * 1000:.3f} ms"
          f"  p99 {quantile(deltas, 0.99) * 1000:.3f} ms")
    print(f"  snapshots/s       {snapshots / elapsed:.0f} in all, "
          f"{snapshots / elapsed / max(args.bots, 1):.1f} per client")
    print(f"  bytes/s/client    {bytes_out / elapsed / max(args.bots, 1):.0f} out")
    print(f"  disconnects       {disconnects:.0f} during the run")
    print(f"  server RSS        {mib(idle_kib)} MiB idle, {mib(rss[0][1])} MiB when all joined, "
          f"{mib(memory['after_warmup_kib'])} MiB after warm-up, {mib(rss[-1][1])} MiB at end")
    print(f"  RSS trend         {trend_text(memory)}")
    if memory["per_bot_kib"] is None:
        print("  RSS per bot       ? (no sample after the warm-up)")
    else:
        print(f"  RSS per bot       {memory['per_bot_kib']:.0f} KiB ({mib(memory['median_kib'])} MiB "
              f"median after warm-up / {args.bots} bots), "
              f"{memory['per_bot_above_idle_kib']:.0f} KiB above the idle server")
    print("  RSS samples (s: MiB, | ends the warm-up) " + ", ".join(
        f"{'| ' if i and t >= warmup > rss[i - 1][0] else ''}{t:.0f}: {kib / 1024:.1f}"
        for i, (t, kib) in enumerate(rss)))
    print(f"  bots              {bots_out.strip().splitlines()[0] if bots_out.strip() else '?'}")
    print(f"  server exit code  {server_exit} after SIGTERM")
    failures = []
    if not bots_ok:
        failures.append("a bot failed to connect or lost its connection")
    if disconnects:
        failures.append(f"{disconnects:.0f} disconnects during the run")
    if memory["failure"]:
        failures.append(memory["failure"])
    if server_exit != 0:
        failures.append(f"server exit code {server_exit}")
    if memory["warning"]:
        print(f"WARN: {memory['warning']}")
    for failure in failures:
        print(f"FAIL: {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
