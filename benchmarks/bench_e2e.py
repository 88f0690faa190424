#!/usr/bin/env python
"""End to end: from audio to stored or streamed Whisper features, melplug against transformers, same rows.

Three workloads, each contestant in a fresh process (``--repeats`` passes, 9 for map and 3 for the others by
default, the median reported; compile and
first-call costs are paid in an untimed first pass):

    map   ``Dataset.map`` over a plain list column (64 clips of 5-30 s float32 at 16 kHz, saved to disk), num_proc=2,
          a new cache file each pass (``load_from_cache_file=False``):
            floor          a map that only writes zeros of Whisper's shape, reading its input as Arrow
                           (``with_format("arrow")``): what datasets itself costs
            melplug        ``melplug.hf.MelSpectrogram(extractor="whisper").map(ds, num_proc=2)``
            melplug-f16    the same with ``out_dtype="float16"``
            transformers   ``ds.map(lambda b: fe(b["audio"], sampling_rate=16000, return_tensors="np"), ...)``
    fly   on the fly, no stored features: 48 kHz FLAC bytes (64 clips of 5-15 s) -> 16 kHz -> Whisper features,
          batches of 16 read as ``ds.with_transform(...)[i:i + 16]``:
            melplug        ``melplug.hf.MelSpectrogram(extractor="whisper", resample=True)``; its time is also split
                           into decoding (soundfile), resampling (soxr) and features, each timed alone
            transformers   a transform decoding with soundfile, resampling with soxr, then
                           ``WhisperFeatureExtractor()(clips, sampling_rate=16000, return_tensors="np")``
    ray   Ray Data: ``read_audio`` of 48 kHz WAV files -> features -> ``write_parquet``, on a local 2-CPU cluster:
            melplug        ``map_batches(melplug.ray.MelSpectrogram, fn_constructor_kwargs=dict(extractor="whisper",
                           resample=True), compute=ActorPoolStrategy(size=2))``
            transformers   ``map_batches`` of a class resampling with soxr and calling ``WhisperFeatureExtractor``

Usage::

    python benchmarks/bench_e2e.py --json e2e.json     # full run (a quiet machine)
    python benchmarks/bench_e2e.py --quick             # smoke test: tiny sizes
    python benchmarks/bench_e2e.py --workloads map,fly
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time

import _timing
import numpy as np
from _timing import MARKER, error_text, fmt_num, parse_list, print_machine

SEED = 20261205
RATE, SOURCE_RATE = 16000, 48000
WORKLOADS = ("map", "fly", "ray")
CONTESTANTS = {
    "map": ("floor", "melplug", "melplug-f16", "transformers"),
    "fly": ("melplug", "transformers"),
    "ray": ("melplug", "transformers"),
}
TARGET_FLOOR = 1.25  # map: melplug within 1.25x the write-only floor
TARGET_FLY = 5.0  # fly: >= 5x transformers
VERSIONED = ("melplug", "numba", "numpy", "datasets", "pyarrow", "transformers", "soundfile", "soxr", "ray")


def sizes(quick: bool) -> dict:
    if quick:
        return {"map": (4, 1.0, 2.0), "fly": (4, 1.0, 2.0), "ray": (4, 1.0, 2.0), "batch": 2}
    return {"map": (64, 5.0, 30.0), "fly": (64, 5.0, 15.0), "ray": (32, 5.0, 15.0), "batch": 16}


def _lengths(count, lo, hi, rate, salt):
    rng = np.random.default_rng([SEED, salt])
    return (rng.uniform(lo, hi, count) * rate).astype(int)


def write_inputs(data_dir: str, quick: bool) -> None:
    """The map dataset (float32 list column), the FLAC bytes dataset and the WAV folder."""
    import datasets
    import soundfile as sf

    s = sizes(quick)
    rng = np.random.default_rng(SEED)
    clips = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in _lengths(*s["map"], RATE, 1)]
    feats = datasets.Features({"audio": datasets.List(datasets.Value("float32"))})
    datasets.Dataset.from_dict({"audio": clips}, features=feats).save_to_disk(os.path.join(data_dir, "map"))
    rows = []
    for n in _lengths(*s["fly"], SOURCE_RATE, 2):
        buf = __import__("io").BytesIO()
        sf.write(buf, (0.1 * rng.standard_normal(n)).astype(np.float32), SOURCE_RATE, format="FLAC")
        rows.append({"bytes": buf.getvalue(), "path": None})
    datasets.Dataset.from_dict({"audio": rows}).save_to_disk(os.path.join(data_dir, "fly"))
    wav = os.path.join(data_dir, "wav")
    os.makedirs(wav)
    for i, n in enumerate(_lengths(*s["ray"], SOURCE_RATE, 3)):
        sf.write(os.path.join(wav, f"{i:04d}.wav"), (0.1 * rng.standard_normal(n)).astype(np.float32), SOURCE_RATE)


# =========================================================================== contestants (run in workers)


def passes(chosen: int | None, quick: bool, workload: str) -> int:
    """Timed passes of a contestant: ``--repeats``, else 1 with ``--quick``, else 9 for ``map`` (a pass is
    0.15-0.3 s there, and its file writes vary by tens of ms from pass to pass) and 3 for the others."""
    return chosen or (1 if quick else 9 if workload == "map" else 3)


def _median_pass(run, repeats: int) -> dict:
    run()  # untimed: compile or load kernels, start pools, warm caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        rows = run()
        times.append(time.perf_counter() - t0)
    return {"seconds": float(np.median(times)), "rows": rows, "all_s": times}


def _map(contestant: str, data_dir: str, args) -> dict:
    import datasets

    datasets.disable_progress_bars()
    ds = datasets.load_from_disk(os.path.join(data_dir, "map"))
    kw = dict(num_proc=2, remove_columns=["audio"], load_from_cache_file=False)
    shape_feature = datasets.Features({"input_features": datasets.Array2D((80, 3000), "float32")})
    if contestant == "floor":

        def zeros(table):
            return {"input_features": np.zeros((table.num_rows, 80, 3000), np.float32)}

        def run():
            return len(ds.with_format("arrow").map(zeros, batched=True, features=shape_feature, **kw))
    elif contestant.startswith("melplug"):
        import melplug.hf

        mel = melplug.hf.MelSpectrogram(
            extractor="whisper", out_dtype="float16" if contestant.endswith("f16") else None
        )

        def run():
            return len(mel.map(ds, **kw))
    else:
        from transformers import WhisperFeatureExtractor

        fe = WhisperFeatureExtractor()

        def extract(batch):
            return {"input_features": fe(batch["audio"], sampling_rate=RATE, return_tensors="np")["input_features"]}

        def run():
            return len(ds.map(extract, batched=True, features=shape_feature, **kw))

    return _median_pass(run, args.repeats)


def _fly(contestant: str, data_dir: str, args) -> dict:
    import datasets

    ds = datasets.load_from_disk(os.path.join(data_dir, "fly"))
    batch = sizes(args.quick)["batch"]
    extra = {}
    if contestant == "melplug":
        import melplug.hf

        mel = melplug.hf.MelSpectrogram(extractor="whisper", resample=True)
        fly = ds.with_transform(mel)
    else:
        import io

        import soundfile as sf
        import soxr
        from transformers import WhisperFeatureExtractor

        fe = WhisperFeatureExtractor()

        def transform(b):
            clips = []
            for row in b["audio"]:
                x, rate = sf.read(io.BytesIO(row["bytes"]), dtype="float32")
                clips.append(soxr.resample(x, rate, RATE))
            return {"input_features": fe(clips, sampling_rate=RATE, return_tensors="np")["input_features"]}

        fly = ds.with_transform(transform)

    def run():
        n = 0
        for start in range(0, len(ds), batch):
            n += len(fly[start : start + batch]["input_features"])
        return n

    result = _median_pass(run, args.repeats)
    if contestant == "melplug":  # the share of each step, each timed alone over the same rows
        import io

        import soundfile as sf
        import soxr

        raw = ds[:]["audio"]
        t0 = time.perf_counter()
        decoded = [sf.read(io.BytesIO(r["bytes"]), dtype="float32")[0] for r in raw]
        extra["decode_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        clips = [soxr.resample(x, SOURCE_RATE, RATE) for x in decoded]
        extra["resample_s"] = time.perf_counter() - t0
        mel.mel(clips[:1])
        t0 = time.perf_counter()
        for start in range(0, len(clips), batch):
            mel.mel(clips[start : start + batch])
        extra["features_s"] = time.perf_counter() - t0
    return {**result, **extra}


def _ray(contestant: str, data_dir: str, args) -> dict:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    wav = os.path.join(data_dir, "wav")
    if contestant == "melplug":
        import melplug.ray

        fn, kwargs = melplug.ray.MelSpectrogram, dict(extractor="whisper", resample=True)
    else:
        fn, kwargs = _TransformersRay, {}

    def run():
        out = tempfile.mkdtemp(dir=data_dir)
        ds = ray.data.read_audio(wav)
        ds = ds.map_batches(fn, fn_constructor_kwargs=kwargs, batch_size=4, num_cpus=0.5,  # read tasks need CPUs
                            compute=ray.data.ActorPoolStrategy(size=2))  # fmt: skip
        ds.select_columns(["input_features"]).write_parquet(out)
        if not glob.glob(os.path.join(out, "*.parquet")):
            raise RuntimeError("write_parquet wrote nothing")
        return len(os.listdir(wav))  # rows: one per file

    try:
        return _median_pass(run, args.repeats)
    finally:
        ray.shutdown()


class _TransformersRay:
    """transformers' Whisper features of a ``read_audio`` batch, resampled with soxr first."""

    def __init__(self):
        from transformers import WhisperFeatureExtractor

        self.fe = WhisperFeatureExtractor()

    def __call__(self, batch):
        import soxr

        pairs = zip(batch["amplitude"], batch["sample_rate"], strict=True)
        clips = [soxr.resample(np.asarray(a).mean(axis=0), int(r), RATE) for a, r in pairs]
        batch = dict(batch)
        batch["input_features"] = self.fe(clips, sampling_rate=RATE, return_tensors="np")["input_features"]
        return batch


SETUP = {"map": _map, "fly": _fly, "ray": _ray}


def worker(workload: str, contestant: str, args) -> dict:
    try:
        return dict(SETUP[workload](contestant, args.data_dir, args), ok=True)
    except Exception as exc:  # noqa: BLE001 - reported as this contestant's row
        missing = isinstance(exc, ImportError)
        return {"ok": False, "unavailable": missing, "error": error_text(exc)}


# =========================================================================== orchestration


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat: a smoke test")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help=f"from {','.join(WORKLOADS)}")
    ap.add_argument(
        "--repeats", type=int, default=None, help="timed passes per contestant (default 9 for map, 3 others; 1 --quick)"
    )
    ap.add_argument("--timeout", type=float, default=None, help="seconds per worker process")
    ap.add_argument("--json", help="write all results to this JSON file")
    ap.add_argument("--worker", nargs=2, metavar=("WORKLOAD", "CONTESTANT"), help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    chosen = args.repeats
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.timeout = args.timeout or (180.0 if args.quick else 1800.0)
    if args.worker:
        print(MARKER + json.dumps(worker(*args.worker, args)), flush=True)
        return 0
    workloads = parse_list(args.workloads, WORKLOADS, "workloads")
    meta = _timing.machine_info(VERSIONED)
    command = "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:])
    print(f"melplug end-to-end benchmark -- {meta['date']}")
    print_machine(meta, command)
    s = sizes(args.quick)
    print(f"map: {s['map'][0]} clips of {s['map'][1]:g}-{s['map'][2]:g} s; fly: {s['fly'][0]} FLAC clips of "
          f"{s['fly'][1]:g}-{s['fly'][2]:g} s at 48 kHz, batches of {s['batch']}; ray: {s['ray'][0]} WAV files at "
          f"48 kHz; median of {passes(chosen, args.quick, 'map')} (map) or {args.repeats} pass(es) after an "
          "untimed one")  # fmt: skip
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="melplug-bench-e2e-") as data_dir:
        args.data_dir = data_dir
        write_inputs(data_dir, args.quick)
        common = ["--data-dir", data_dir] + (["--quick"] if args.quick else [])
        for workload in workloads:
            for contestant in CONTESTANTS[workload]:
                t0 = time.perf_counter()
                repeats = ["--repeats", str(passes(chosen, args.quick, workload))]
                argv = ["--worker", workload, contestant, *common, *repeats]
                got = _timing.run_worker_process(__file__, argv, {}, args.timeout)
                if "_error" in got:
                    got = {"ok": False, "unavailable": False, "error": got["_error"]}
                results.setdefault(workload, {})[contestant] = got
                print(f"  ran {workload}/{contestant:<13} {time.perf_counter() - t0:6.1f} s", file=sys.stderr)
    goals = report(results, args.quick)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "command": command, "results": results, "targets": goals}, f, indent=2)
        print(f"\nwrote {args.json}")
    failed = [f"{w}/{c}" for w, r in results.items() for c, x in r.items() if c.startswith("melplug") and not x["ok"]]
    if failed:
        print(f"\nmelplug failed: {failed}")
        return 1
    return 0


def report(results: dict, quick: bool) -> list[dict]:
    goals = []
    for workload, got in results.items():
        print(f"\n{workload}:  {'contestant':<14} {'seconds':>8} {'rows/s':>8}  ratio")
        base = got.get("floor" if workload == "map" else "transformers", {})
        for contestant, r in got.items():
            if not r.get("ok"):
                print(f"       {contestant:<14} {'unavailable' if r.get('unavailable') else 'failed'}: {r['error']}")
                continue
            rate = r["rows"] / r["seconds"]
            r["rows_per_s"] = rate
            ratio = ""
            if base.get("ok") and contestant != ("floor" if workload == "map" else "transformers"):
                if workload == "map":
                    r["vs_floor"] = r["seconds"] / base["seconds"]
                    ratio = f"{r['vs_floor']:.2f}x the floor's time"
                else:
                    r["vs_transformers"] = base["seconds"] / r["seconds"]
                    ratio = f"{r['vs_transformers']:.2f}x transformers"
            print(f"       {contestant:<14} {r['seconds']:8.3f} {fmt_num(rate):>8}  {ratio}")
            if "features_s" in r:
                parts = {k: r[k] for k in ("decode_s", "resample_s", "features_s")}
                total = sum(parts.values())
                print(
                    "         steps alone: "
                    + ", ".join(f"{k[:-2]} {v:.3f} s ({v / total:.0%})" for k, v in parts.items())
                )
        for c, key, goal, ok in (
            ("melplug", "vs_floor", TARGET_FLOOR, lambda v: v <= TARGET_FLOOR),
            ("melplug", "vs_transformers", TARGET_FLY, lambda v: v >= TARGET_FLY),
        ):
            value = got.get(c, {}).get(key)
            if value is not None and (workload == "fly" or key == "vs_floor"):
                goals.append({"target": f"{workload}: {c} {key}", "value": value, "goal": goal, "met": ok(value)})
    print(f"\nTargets{' (--quick sizes: not meaningful)' if quick else ''}:")
    for g in goals:
        print(f"  {g['target']:<36} {g['value']:6.2f}  goal {g['goal']:g}  {'met' if g['met'] else 'NOT met'}")
    return goals


if __name__ == "__main__":
    sys.exit(main())
