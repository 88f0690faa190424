#!/usr/bin/env python
"""Streaming: many streams fed 10 ms chunks, melplug's streams against kaldi-native-fbank's online API.

Workload: ``--streams`` streams (default 200) of ``--seconds`` s (default 2) of 16 kHz float32 speech-like
audio, fed in chunks of ``--chunk`` samples (default 160, 10 ms), Kaldi fbank (``melplug.preset("kaldi")``,
kaldi-native-fbank ``FbankOptions()`` with dither 0: the same numbers).  Every contestant runs in a fresh
process, warm (one untimed pass first), and reports stream-seconds of audio per wall second, the median of
``--repeats`` passes:

    knf            one ``kaldi_native_fbank.OnlineFbank`` per stream: ``accept_waveform(16000, chunk)`` with the
                   NumPy chunk, then every frame now ready read with ``get_frame`` (what a server must do)
    knf-list       the same, the chunk passed as a Python list (``chunk.tolist()`` included): its fastest input
    stream         one ``melplug.FeatureStream`` per stream: ``accept(chunk)`` returns the frames now final
    pool           one ``melplug.StreamPool``: each tick, one ``accept(ids, block)`` call for every stream, the
                   chunks a 2-D array (one row per stream)
    pool-list      the same, the chunks a list of 1-D arrays

What is timed is feeding every chunk and getting the frames back (knf: ``get_frame``; melplug: the arrays
returned); each stream's frames are then joined, untimed, and every melplug contestant's are checked bit for
bit against ``fx(clip)``, knf's within float32 rounding.  Then the latency of one pool tick (10 ms of audio
for each of ``--latency-streams`` streams, default 1 000): median and 99th percentile.

Usage::

    python benchmarks/bench_stream.py --json stream.json    # full run (a quiet machine)
    python benchmarks/bench_stream.py --quick               # smoke test: tiny sizes
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import _timing
import numpy as np
from _timing import MARKER, error_text, fmt_num, parse_list, print_machine

RATE = 16000
SEED = 20261205
CONTESTANTS = ("knf", "knf-list", "stream", "pool", "pool-list")
VERSIONED = ("melplug", "numpy", "numba", "kaldi-native-fbank")
#: The issue's goals: the pool >= 10x kaldi-native-fbank, one FeatureStream per stream >= 0.5x.
GOALS = {"pool": 10.0, "stream": 0.5}


def clips(streams: int, seconds: float) -> np.ndarray:
    """``(streams, samples)`` float32: noise bursts, tones and silences, different per stream."""
    rng = np.random.default_rng(SEED)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    out = np.empty((streams, n), dtype=np.float32)
    for s in range(streams):
        tone = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 3000) * t)
        gate = (np.sin(2 * np.pi * rng.uniform(1, 4) * t) > 0).astype(np.float64)
        out[s] = (gate * (tone + 0.05 * rng.standard_normal(n))).astype(np.float32)
    return out


def _feed_knf(x: np.ndarray, chunk: int, as_list: bool) -> list[list]:
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0
    out = []
    for row in x:
        f = knf.OnlineFbank(opts)
        frames, done = [], 0
        for i in range(0, row.shape[0], chunk):
            part = row[i : i + chunk]
            f.accept_waveform(RATE, part.tolist() if as_list else part)
            ready = f.num_frames_ready
            for j in range(done, ready):
                frames.append(f.get_frame(j))
            done = ready
        f.input_finished()
        frames += [f.get_frame(j) for j in range(done, f.num_frames_ready)]
        out.append(frames)
    return out


def _feed_streams(fx, x: np.ndarray, chunk: int) -> list[list]:
    out = []
    for row in x:
        s = fx.stream()
        parts = [s.accept(row[i : i + chunk]) for i in range(0, row.shape[0], chunk)]
        parts.append(s.finish())
        out.append(parts)
    return out


def _feed_pool(fx, x: np.ndarray, chunk: int, as_list: bool) -> list[list]:
    pool = fx.stream_pool()
    ids = np.array([pool.open() for _ in range(x.shape[0])])
    parts: list[list[np.ndarray]] = [[] for _ in ids]
    for i in range(0, x.shape[1], chunk):
        block = x[:, i : i + chunk]
        for part, frames in zip(parts, pool.accept(ids, list(block) if as_list else block), strict=True):
            part.append(frames)
    for part, frames in zip(parts, pool.finish(ids), strict=True):
        part.append(frames)
    pool.close(ids)
    return parts


def worker(contestant: str, args) -> dict:
    x = clips(args.streams, args.seconds)
    import melplug

    fx = melplug.preset("kaldi")
    run = {
        "knf": lambda: _feed_knf(x, args.chunk, False),
        "knf-list": lambda: _feed_knf(x, args.chunk, True),
        "stream": lambda: _feed_streams(fx, x, args.chunk),
        "pool": lambda: _feed_pool(fx, x, args.chunk, False),
        "pool-list": lambda: _feed_pool(fx, x, args.chunk, True),
    }[contestant]
    out = run()  # warm: kernels loaded, first-call costs paid
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    # Each stream's frames joined (after the timing: what was timed is feeding and getting the frames back).
    out = [np.asarray(p, np.float32) if contestant.startswith("knf") else np.concatenate(p) for p in out]
    want = fx(x)  # (streams, frames, bins): the offline call
    if contestant.startswith("knf"):
        err = max(float(np.max(np.abs(o - w))) for o, w in zip(out, want, strict=True))
        exact = None
    else:
        err = max(float(np.max(np.abs(o - w))) for o, w in zip(out, want, strict=True))
        exact = all(np.array_equal(o, w) for o, w in zip(out, want, strict=True))
    result = {"seconds": seconds, "times": times, "stream_s_per_s": args.streams * args.seconds / seconds}
    result.update(max_abs_diff=err, bit_exact=exact, ok=True)
    if contestant == "pool":
        result["latency"] = tick_latency(fx, args)
    return result


def tick_latency(fx, args) -> dict:
    """Seconds per pool tick: 10 ms of audio (``--chunk`` samples) for each of ``--latency-streams`` streams."""
    x = clips(args.latency_streams, max(args.chunk * 60 / RATE, 0.1))
    pool = fx.stream_pool()
    ids = np.array([pool.open() for _ in range(x.shape[0])])
    ticks = []
    for i in range(0, x.shape[1], args.chunk):
        block = np.ascontiguousarray(x[:, i : i + args.chunk])
        t0 = time.perf_counter()
        pool.accept(ids, block)
        ticks.append(time.perf_counter() - t0)
    ticks = ticks[10:] or ticks  # the first ticks fill the left edge
    return {
        "streams": int(x.shape[0]),
        "median_ms": 1e3 * statistics.median(ticks),
        "p99_ms": 1e3 * float(np.percentile(ticks, 99)),
        "ticks": len(ticks),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (4 streams x 0.2 s), 1 repeat: a smoke test")
    ap.add_argument("--streams", type=int, default=None, help="streams (default 200)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds of audio per stream (default 2)")
    ap.add_argument("--chunk", type=int, default=160, help="samples per chunk (default 160: 10 ms)")
    ap.add_argument("--latency-streams", type=int, default=None, help="streams of the tick latency (default 1000)")
    ap.add_argument("--contestants", default=",".join(CONTESTANTS), help=f"from {','.join(CONTESTANTS)}")
    ap.add_argument("--repeats", type=int, default=None, help="timed passes (default 3, 1 with --quick)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per worker process")
    ap.add_argument("--json", help="write all results to this JSON file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    q = args.quick
    args.streams = args.streams or (4 if q else 200)
    args.seconds = args.seconds or (0.2 if q else 2.0)
    args.latency_streams = args.latency_streams or (8 if q else 1000)
    args.repeats = args.repeats or (1 if q else 3)
    args.timeout = args.timeout or (300.0 if q else 1800.0)
    if args.worker:
        try:
            got = worker(args.worker, args)
        except Exception as exc:  # noqa: BLE001 - reported as this contestant's row
            got = {"ok": False, "error": error_text(exc)}
        print(MARKER + json.dumps(got), flush=True)
        return 0
    contestants = parse_list(args.contestants, CONTESTANTS, "contestants")
    meta = _timing.machine_info(VERSIONED)
    command = "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:])
    print(f"melplug streaming benchmark -- {meta['date']}")
    print_machine(meta, command)
    print(
        f"workload: {args.streams} streams x {args.seconds:g} s at 16 kHz in chunks of {args.chunk} samples, "
        f"Kaldi fbank; warm, median of {args.repeats} pass(es)"
    )
    sys.stdout.flush()
    common = ["--streams", str(args.streams), "--seconds", str(args.seconds), "--chunk", str(args.chunk)]
    common += ["--latency-streams", str(args.latency_streams), "--repeats", str(args.repeats)]
    results = {}
    for c in contestants:
        got = _timing.run_worker_process(__file__, ["--worker", c, *common], {}, args.timeout)
        results[c] = got if "_error" not in got else {"ok": False, "error": got["_error"]}
    base = results.get("knf", {})
    print(f"\n  {'contestant':<10} {'stream-s/s':>11} {'us/chunk':>9} {'x knf':>7} {'goal':>6}  exact  max|diff|")
    goals = []
    for c, r in results.items():
        if not r.get("ok"):
            print(f"  {c:<10} failed: {r.get('error')}")
            continue
        chunks = args.streams * args.seconds * RATE / args.chunk
        ratio = r["stream_s_per_s"] / base["stream_s_per_s"] if base.get("ok") else None
        r["vs_knf"] = ratio
        goal = GOALS.get(c)
        if goal is not None and ratio is not None:
            goals.append({"target": f"{c} x knf", "value": ratio, "goal": goal, "met": ratio >= goal})
        exact = "-" if r["bit_exact"] is None else ("yes" if r["bit_exact"] else "NO")
        print(
            f"  {c:<10} {fmt_num(r['stream_s_per_s']):>11} {1e6 * r['seconds'] / chunks:>9.2f} "
            f"{'-' if ratio is None else f'{ratio:.3g}x':>7} {'-' if goal is None else f'{goal:g}x':>6}  "
            f"{exact:<5}  {r['max_abs_diff']:.2g}"
        )
    lat = results.get("pool", {}).get("latency")
    if lat:
        print(
            f"\npool tick, {lat['streams']} streams x {args.chunk} samples: median {lat['median_ms']:.3f} ms, "
            f"p99 {lat['p99_ms']:.3f} ms ({lat['ticks']} ticks; real time needs < {1e3 * args.chunk / RATE:g} ms)"
        )
    below = [g for g in goals if not g["met"]]
    print(f"\nBelow target{' (--quick sizes: not meaningful)' if q else ''}:")
    for g in below:
        print(f"  {g['target']:<16} {g['value']:>8.3g}  goal >= {g['goal']:g}x")
    if not below:
        print("  none")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "command": command, "results": results, "targets": goals}, f, indent=2)
        print(f"\nwrote {args.json}")
    bad = [c for c, r in results.items() if not r.get("ok") or r.get("bit_exact") is False]
    if bad:
        print(f"\nfailed or not exact: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
