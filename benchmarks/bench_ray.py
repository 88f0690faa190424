#!/usr/bin/env python
"""Ray Data: melplug's whisper stage against transformers' in the same pipeline, and against direct calls.

Workload: ``--files`` mono 16 kHz WAV files of ``--seconds`` each (speech-like,
written with soundfile), on a local cluster of ``--cpus`` CPUs.

Pipelines (each run twice per configuration; every run starts its own actor pool)
    read_audio -> map_batches(<stage>, batch_size, ActorPoolStrategy(size=N), num_cpus=C) -> materialize
    melplug        ``melplug.ray.MelSpectrogram(extractor="whisper")``
    transformers   a class holding ``WhisperFeatureExtractor()``, calling it on the batch's clips
                   (``sampling_rate=16000, return_tensors="np"``) on its numpy path, the reference
                   (it is forced when torch imports), in the same map_batches shape
    with N = 1 and 2 actors; C = (CPUs - 1) / N rounded down to a quarter, at least 0.25: actors
    holding every CPU starve read_audio's read tasks (ray-project/ray#44687).  Rows/s and audio s/s are
    of the whole pipeline, reading and decoding included, actor start-up included.

Per actor (melplug, from inside the actors)
    when its ``__init__`` finished (seconds after the pipeline started), how long the first batch took
    (kernels loaded from Numba's disk cache: the compiles counted there must be 0) and the median of
    the later batches, and the threads it used (the CPUs Ray assigned it, at least 1).

Engine overhead
    The same batches materialised first (``read_audio(...).materialize()``); the melplug stage alone
    (``map_batches(...).materialize()``) against calling melplug's NumPy API directly on the same
    arrays in this process, with the same total threads.

Usage::

    python benchmarks/bench_ray.py                 # 480 files x 10 s (the docs' numbers)
    python benchmarks/bench_ray.py --quick         # smoke test: tiny files, one run each
    python benchmarks/bench_ray.py --actors 1,2 --batch-size 16 --json ray.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import melplug  # noqa: E402
import melplug.ray  # noqa: E402
from integrations.ray_pipeline import actor_cpus  # noqa: E402

SR = 16000


class TimedMelplug(melplug.ray.MelSpectrogram):
    """melplug's stage, plus per-batch timing columns recorded inside the actor (pid, call seconds, compiles)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._calls = 0
        self._init_done = time.time()

    def __call__(self, batch):
        start = time.perf_counter()
        out = super().__call__(batch)
        seconds = time.perf_counter() - start
        self._calls += 1
        return _timed(out, self, seconds, _compiles())


class TransformersWhisper:
    """transformers' ``WhisperFeatureExtractor`` in the same map_batches shape (numpy path), with the same columns."""

    def __init__(self):
        import importlib

        from transformers import WhisperFeatureExtractor

        importlib.import_module(WhisperFeatureExtractor.__module__).is_torch_available = lambda: False
        self.fx = WhisperFeatureExtractor()
        self._calls = 0
        self._init_done = time.time()

    def __call__(self, batch):
        start = time.perf_counter()
        clips = [np.asarray(a).mean(axis=0, dtype=np.float32) for a in batch["amplitude"]]
        features = self.fx(clips, sampling_rate=SR, return_tensors="np")["input_features"]
        out = {**batch, "input_features": features}
        seconds = time.perf_counter() - start
        self._calls += 1
        return _timed(out, self, seconds, 0)


def _compiles() -> int:
    """Numba compiles so far in this process (cache misses of melplug's kernels)."""
    from melplug import _kernels

    total = 0
    for value in vars(_kernels).values():
        stats = getattr(value, "stats", None)
        if stats is not None and hasattr(stats, "cache_misses"):
            total += sum(stats.cache_misses.values())
    return total


def _timed(out: dict, stage, seconds: float, compiles: int) -> dict:
    n = len(out["amplitude"])
    threads = getattr(stage, "threads_per_call", None)
    extra = {
        "pid": np.full(n, os.getpid()),
        "call": np.full(n, stage._calls),
        "call_s": np.full(n, seconds),
        "init_done": np.full(n, stage._init_done),
        "compiles": np.full(n, compiles),
        "threads": np.full(n, -1 if threads is None else threads),
    }
    out = {k: v for k, v in out.items() if k != "amplitude"}  # keep the materialised result small
    return {**out, **extra}


def write_files(folder: str, count: int, seconds: float) -> None:
    import soundfile

    rng = np.random.default_rng(0)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    for i in range(count):
        x = 0.5 * np.sin(2 * np.pi * (rng.uniform(100, 300) + 800 * t) * t) + 0.05 * rng.standard_normal(n)
        soundfile.write(os.path.join(folder, f"clip{i:05d}.wav"), x.astype(np.float32), SR, subtype="PCM_16")


def run_pipeline(ray, make_source, stage, actors, cpus, batch_size):
    """``make_source() -> map_batches(stage) -> materialize``: wall seconds, rows, and per-actor times."""
    start_wall, start = time.time(), time.perf_counter()
    kwargs = {"fn_constructor_kwargs": {"extractor": "whisper"}} if stage is TimedMelplug else {}
    ds = make_source().map_batches(
        stage, batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=cpus, **kwargs
    )
    rows = ds.materialize()
    wall = time.perf_counter() - start
    table = rows.select_columns(["pid", "call", "call_s", "init_done", "compiles", "threads"]).to_pandas()
    per_actor = []
    for pid, group in table.groupby("pid"):
        calls = group.drop_duplicates("call").sort_values("call")
        per_actor.append(
            {
                "pid": int(pid),
                "init_done_after_s": float(calls["init_done"].iloc[0] - start_wall),
                "first_batch_s": float(calls["call_s"].iloc[0]),
                "later_batch_median_s": float(calls["call_s"].iloc[1:].median()) if len(calls) > 1 else None,
                "batches": len(calls),
                "busy_s": float(calls["call_s"].sum()),
                "compiles": int(calls["compiles"].max()),
                "threads": int(calls["threads"].iloc[0]),
            }
        )
    return {"wall_s": wall, "rows": rows.count(), "actors": per_actor}


def engine_overhead(ray, folder, actors_list, total_cpus, batch_size, repeats):
    """The melplug stage on materialised batches vs the NumPy API called directly on the same arrays."""
    source = ray.data.read_audio(folder).materialize()
    batches = [b["amplitude"] for b in source.iter_batches(batch_size=batch_size, batch_format="numpy")]
    clips = [b[:, 0] if b.dtype != object else [c.mean(axis=0) for c in b] for b in batches]  # mono
    fx = melplug.preset("whisper")
    results = []
    for actors in actors_list:
        cpus = actor_cpus(total_cpus, actors, None)
        threads = actors * max(1, int(cpus))
        stage = min(
            (run_pipeline(ray, lambda: source, TimedMelplug, actors, cpus, batch_size) for _ in range(repeats)),
            key=lambda r: r["wall_s"],
        )
        direct_s = []
        for _ in range(repeats):
            start = time.perf_counter()
            for audio in clips:
                fx(audio, num_threads=threads)
            direct_s.append(time.perf_counter() - start)
        ready = max(a["init_done_after_s"] for a in stage["actors"])
        busy = sum(a["busy_s"] for a in stage["actors"])
        first = sum(a["first_batch_s"] for a in stage["actors"])
        results.append(
            {
                "actors": actors,
                "threads": threads,
                "stage_s": stage["wall_s"],
                "actors_ready_s": ready,
                "busy_s": busy,
                "first_batches_s": first,
                "direct_s": min(direct_s),
            }
        )
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=None, help="default 480 (--quick 6)")
    parser.add_argument("--seconds", type=float, default=None, help="per file; default 10 (--quick 1)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--actors", default="1,2", help="actor pool sizes, comma-separated")
    parser.add_argument("--cpus", type=float, default=None, help="local cluster CPUs (default: all)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per configuration; default 2 (--quick 1)")
    parser.add_argument("--no-transformers", action="store_true")
    parser.add_argument("--json", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    files = args.files or (6 if args.quick else 480)
    seconds = args.seconds or (1.0 if args.quick else 10.0)
    repeats = args.repeats or (1 if args.quick else 2)
    actors_list = [int(a) for a in args.actors.split(",")]
    batch_size = 4 if args.quick and args.batch_size == 16 else args.batch_size

    import ray

    folder = tempfile.mkdtemp(prefix="melplug-bench-ray-")
    write_files(folder, files, seconds)
    audio = files * seconds
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": ROOT}})  # fmt: skip
    ray.data.DataContext.get_current().enable_progress_bars = False
    total = ray.cluster_resources()["CPU"]
    # Warm Numba's disk cache here, as docs/ray.md advises: then no actor compiles (the table's "compiles").
    warm = melplug.preset("whisper")
    warm(np.zeros((2, SR), np.float32))
    warm([np.zeros(SR, np.float32), np.zeros(SR // 2, np.float32)])
    stages = [("melplug", TimedMelplug)]
    if not args.no_transformers:
        try:
            import transformers  # noqa: F401

            stages.append(("transformers", TransformersWhisper))
        except ImportError:
            print("transformers unavailable: not installed")
    report = {"files": files, "seconds": seconds, "batch_size": batch_size, "cpus": total, "pipelines": []}
    print(
        f"{files} files x {seconds:g} s mono 16 kHz WAV ({audio:g} s of audio); whisper features; "
        f"batch_size={batch_size}; local cluster of {total:g} CPUs; "
        f"ray {ray.__version__}, melplug {melplug.__version__}"
    )
    header = (
        f"{'stage':13s} {'actors':>6s} {'CPU/actor':>9s} {'run':>3s} {'wall s':>7s} {'rows/s':>7s} {'audio s/s':>9s}"
    )
    print(f"\n{header}")
    try:
        for name, stage in stages:
            for actors in actors_list:
                cpus = actor_cpus(total, actors, None)
                for run in range(repeats):
                    res = run_pipeline(ray, lambda: ray.data.read_audio(folder), stage, actors, cpus, batch_size)
                    if res["rows"] != files:
                        raise SystemExit(f"FAILED: {name} gave {res['rows']} rows for {files} files")
                    res.update(stage=name, actors_n=actors, cpus=cpus, run=run + 1)
                    report["pipelines"].append(res)
                    print(
                        f"{name:13s} {actors:6d} {cpus:9g} {run + 1:3d} {res['wall_s']:7.2f} "
                        f"{files / res['wall_s']:7.1f} {audio / res['wall_s']:9.1f}"
                    )
        print("\nPer actor (seconds after the pipeline started; melplug's first batch loads kernels from the cache)")
        print(f"{'stage':13s} {'actors':>6s} {'run':>3s} {'pid':>7s} {'ready at s':>10s} {'1st batch s':>11s} "
              f"{'later batch s':>13s} {'batches':>7s} {'compiles':>8s} {'threads':>7s}")  # fmt: skip
        for res in report["pipelines"]:
            for a in res["actors"]:
                later = "-" if a["later_batch_median_s"] is None else f"{a['later_batch_median_s']:.3f}"
                print(
                    f"{res['stage']:13s} {res['actors_n']:6d} {res['run']:3d} {a['pid']:7d} "
                    f"{a['init_done_after_s']:10.2f} "
                    f"{a['first_batch_s']:11.3f} {later:>13s} {a['batches']:7d} {a['compiles']:8d} {a['threads']:7d}"
                )
        overhead_actors = actors_list[:1] if args.quick else actors_list  # --quick: one pool, to stay short
        overhead = engine_overhead(ray, folder, overhead_actors, total, batch_size, repeats)
        report["overhead"] = overhead
        print("\nEngine overhead: the melplug stage on materialised batches vs the NumPy API on the same arrays")
        print(
            f"{'actors':>6s} {'threads':>7s} {'stage s':>8s} {'actors ready s':>14s} {'in calls s':>10s} "
            f"{'1st batches s':>13s} {'direct s':>8s} {'stage/direct':>12s}"
        )
        for o in overhead:
            print(
                f"{o['actors']:6d} {o['threads']:7d} {o['stage_s']:8.2f} {o['actors_ready_s']:14.2f} "
                f"{o['busy_s']:10.3f} {o['first_batches_s']:13.3f} {o['direct_s']:8.3f} "
                f"{o['stage_s'] / o['direct_s']:11.1f}x"
            )
    finally:
        ray.shutdown()
    for name in {p["stage"] for p in report["pipelines"]}:
        best = {}
        for p in report["pipelines"]:
            if p["stage"] == name:
                best[p["actors_n"]] = max(best.get(p["actors_n"], 0.0), audio / p["wall_s"])
        report.setdefault("best_audio_s_per_s", {})[name] = best
    if "transformers" in report.get("best_audio_s_per_s", {}):
        print("\nBest audio s/s, melplug / transformers:")
        for actors in actors_list:
            m, t = report["best_audio_s_per_s"]["melplug"][actors], report["best_audio_s_per_s"]["transformers"][actors]
            print(f"  {actors} actor(s): {m:.1f} / {t:.1f} = {m / t:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=float)


if __name__ == "__main__":
    main()
