#!/usr/bin/env python
"""Throughput of melplug's transformers presets against the transformers feature extractors they reproduce.

For every extractor melplug reproduces (``melplug._references.REFERENCES``:
the presets after the first nine of ``melplug.PRESETS``, plus whisper, ast
and w2v-bert), on the same float32 clips, each contestant in its own
subprocess (thread pools and JIT caches must not leak from one into another):

    melplug        ``fx = melplug.preset(name)``, then ``fx(clips)``: one call on the list of clips
                   (cohere-asr: ``preset("cohere-asr", dither=0.0)``, like its reference)
    transformers   the extractor called as users call it: one batched call
                   ``fe(clips, sampling_rate=sr, return_tensors="np")`` with ``fe = <Class>()``
                   (``CohereAsrFeatureExtractor(dither=0.0)``; ``GraniteSpeechFeatureExtractor``
                   takes no ``sampling_rate``/``return_tensors``: ``fe(clips)``, torch out).  Where
                   torch imports, ``torch.set_num_threads(2)`` first and transformers takes whatever
                   path it takes with torch present (its torch/torchaudio path where it has one).
                   Without torch the extractors that need it are reported as unavailable.
    rfft-bound     ``scipy.fft.rfft(frames, workers=cores)`` over the frames melplug computes for that
                   preset (frames per clip from its plan x its FFT size, float32), framed, windowed and
                   zero-padded beforehand: only the FFT is timed.

Input: 16 clips x 10 s of float32 noise (0.1 x standard normal, fixed seed) at
the extractor's rate (16 kHz; clvp 22.05 kHz), generated once and read by
every contestant.  Each time is the median of ``--repeats`` timed repeats
after warm-up calls (warm: compile and first-call costs are not counted), a
repeat running the call enough times to last ``--min-time`` seconds.
Throughput is clips per wall second.  The table also gives max|diff| of the
reference's output against melplug's (in the extractor's own units), a check
that both computed the same thing.

Usage::

    python benchmarks/bench_transformers.py --json transformers.json   # full run (a quiet machine)
    python benchmarks/bench_transformers.py --quick                    # smoke test: tiny sizes, seconds
    python benchmarks/bench_transformers.py --presets parakeet,lasr --repeats 7
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time

import _timing
import numpy as np
from _timing import MARKER, cores, error_text, fmt_num, measure, parse_list, print_machine

SEED = 20261205
CLIPS, SECONDS = 16, 10.0
QUICK_CLIPS, QUICK_SECONDS = 2, 2.0
TORCH_THREADS = 2
#: Packages whose versions the report prints.
VERSIONED = ("melplug", "numba", "llvmlite", "rocket-fft", "numpy", "scipy", "transformers", "torch", "torchaudio")
TORCH_NOTE = "torch is not installed (optional; the [bench] extra pins torch==2.13.0)"
#: The targets the presets are held to (same-run ratios).
TARGET_REF = 3.0  # >= 3x the transformers extractor
TARGET_BOUND = 0.6  # >= 0.6x the rfft bound
#: Options melplug's preset and the reference's constructor both get (like for like).
OPTIONS = {"cohere-asr": {"dither": 0.0}}
#: Extractors whose ``__call__`` takes only the clips (no sampling_rate / return_tensors).
CLIPS_ONLY = ("granite-speech",)
CONTESTANTS = ("transformers", "melplug", "rfft-bound")


def extractors() -> tuple[str, ...]:
    """The presets that reproduce a transformers extractor, in ``melplug.PRESETS`` order, then the older ones."""
    import melplug
    from melplug._references import REFERENCES

    new = [p for p in melplug.PRESETS[9:] if p in REFERENCES]
    return (*new, *(p for p in REFERENCES if p not in new))


def rate_of(name: str) -> int:
    from melplug._references import REFERENCES

    return int(REFERENCES[name].defaults.get("sampling_rate", 16000))


def shape(name: str, quick: bool) -> tuple[int, int]:
    clips, seconds = (QUICK_CLIPS, QUICK_SECONDS) if quick else (CLIPS, SECONDS)
    return clips, int(round(seconds * rate_of(name)))


# =========================================================================== input


def input_path(data_dir: str, rate: int) -> str:
    return os.path.join(data_dir, f"input_{rate}.npy")


def write_inputs(args, names: list[str]) -> None:
    """One ``(clips, n)`` float32 noise array per sampling rate."""
    for rate in sorted({rate_of(n) for n in names}):
        count, n = shape(next(p for p in names if rate_of(p) == rate), args.quick)
        rng = np.random.default_rng([SEED, rate])
        x = rng.standard_normal((count, n), dtype=np.float32)
        x *= np.float32(0.1)
        np.save(input_path(args.data_dir, rate), x)


def load_clips(data_dir: str, name: str) -> list[np.ndarray]:
    """The clips of extractor ``name`` as a list of contiguous 1-D float32 rows."""
    return list(np.load(input_path(data_dir, rate_of(name))))


# =========================================================================== contestants (run in workers)


def _melplug(name, clips, ncores):
    import melplug

    fx = melplug.preset(name, **OPTIONS.get(name, {}))
    return lambda: fx(clips)


def _transformers(name, clips, ncores):
    import transformers

    from melplug._references import REFERENCES

    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(TORCH_THREADS)
    ref = REFERENCES[name]
    fe = getattr(transformers, ref.cls)(**OPTIONS.get(name, {}))
    key = ref.output_key
    if name in CLIPS_ONLY:
        return lambda: fe(clips)[key]
    sr = rate_of(name)
    return lambda: fe(clips, sampling_rate=sr, return_tensors="np")[key]


def _rfft_bound(name, clips, ncores):
    """The preset's computed frames, framed, windowed and zero-padded beforehand; only the FFT is timed.

    Frames per clip and their geometry come from the preset's plan; samples a frame reads beyond the
    clip (centring, a fixed input length) are zeros here, whatever the preset pads with: the FFT's
    time does not depend on the values.
    """
    import scipy.fft

    import melplug
    from melplug import _geometry

    fx = melplug.preset(name)
    plan = fx.plan
    x = np.stack(clips)
    n = x.shape[1]
    computed = int(_geometry.plan_frames(plan, n)[0])
    length, hop, fft = plan.frame_length, plan.hop_length, plan.fft_length
    if plan.input_length:  # padded or cut to a fixed length first
        x = x[:, : plan.input_length]
    need = (computed - 1) * hop + length
    x = np.pad(x, ((0, 0), (plan.pad, max(0, need - x.shape[1] - plan.pad))))
    # where the frame sits in the FFT buffer: at its start (Kaldi-style) or centred
    start = 0 if fx.get_config()["window_position"] == "start" else (fft - length) // 2
    window = np.asarray(plan.window, dtype=np.float32)[start : start + length]
    frames = np.lib.stride_tricks.sliding_window_view(x, length, axis=-1)[:, ::hop][:, :computed]
    buf = np.zeros((x.shape[0] * computed, fft), dtype=np.float32)
    buf[:, start : start + length] = frames.reshape(-1, length) * window
    return lambda: scipy.fft.rfft(buf, axis=-1, workers=ncores)


SETUP = {"transformers": _transformers, "melplug": _melplug, "rfft-bound": _rfft_bound}
REQUIRES = {"transformers": ("transformers",), "melplug": ("melplug",), "rfft-bound": ("scipy",)}


def _as_array(out) -> np.ndarray:
    if isinstance(out, (list, tuple)):
        return np.stack([_as_array(o) for o in out])
    return out.numpy() if hasattr(out, "numpy") else np.asarray(out)


def _unavailable(exc: BaseException) -> bool:
    """An ImportError, transformers' "requires the torch/torchaudio library" error, or any error naming torch
    where torch is not installed (an extractor that uses ``torch`` without importing it: a NameError)."""
    text = str(exc).lower()
    if isinstance(exc, ImportError) or ("requires" in text and ("torch" in text or "library" in text)):
        return True
    return "torch" in text and importlib.util.find_spec("torch") is None


def worker(contestant: str, names: list[str], args) -> dict:
    """Time one contestant on some extractors in this process; save its outputs for the comparison."""
    ncores = cores()
    results = {}
    for name in names:
        try:
            clips = load_clips(args.data_dir, name)
            fn = SETUP[contestant](name, clips, ncores)
            t0 = time.perf_counter()
            fn()
            first = time.perf_counter() - t0
            r = measure(fn, args.repeats, args.warmup, args.min_time)
        except Exception as exc:  # noqa: BLE001 - any failure is reported as this contestant's row
            unavailable = _unavailable(exc)
            error = TORCH_NOTE if unavailable and importlib.util.find_spec("torch") is None else error_text(exc)
            results[name] = {"ok": False, "unavailable": unavailable, "error": error}
            continue
        out = _as_array(r.pop("out"))
        if contestant != "rfft-bound":
            np.save(os.path.join(args.data_dir, f"out_{contestant}_{name}.npy"), out)
        results[name] = dict(r, ok=True, first_call_s=first, shape=list(out.shape), dtype=str(out.dtype))
    return results


# =========================================================================== orchestration


def common_worker_args(args) -> list[str]:
    argv = ["--repeats", str(args.repeats), "--warmup", str(args.warmup), "--min-time", str(args.min_time)]
    return argv + ["--data-dir", args.data_dir] + (["--quick"] if args.quick else [])


def run_contestants(args, names: list[str], contestants: list[str]) -> dict:
    """``results[name][contestant]``, each contestant in its own process; absent modules are not started."""
    results = {n: {} for n in names}
    for contestant in contestants:
        missing = [m for m in REQUIRES[contestant] if importlib.util.find_spec(m) is None]
        if missing:
            for n in names:
                results[n][contestant] = {
                    "ok": False,
                    "unavailable": True,
                    "error": f"{', '.join(missing)} not installed",
                }
            continue
        t0 = time.perf_counter()
        argv = ["--worker", contestant, ",".join(names), *common_worker_args(args)]
        got = _timing.run_worker_process(__file__, argv, {}, args.timeout)
        for n in names:
            results[n][contestant] = (
                {"ok": False, "unavailable": False, "error": got["_error"]} if "_error" in got else got[n]
            )
        ok = sum(results[n][contestant]["ok"] for n in names)
        print(
            f"  ran {contestant:<13} on {len(names)} extractors {time.perf_counter() - t0:7.1f} s  {ok} ok",
            file=sys.stderr,
            flush=True,
        )
    return results


def derive(results: dict, data_dir: str, quick: bool) -> dict:
    """Per extractor: clips/s of each contestant, melplug / reference, melplug / bound, max|diff|."""
    rows = {}
    for name, got in results.items():
        count = shape(name, quick)[0]
        for r in got.values():
            if r.get("ok"):
                r["clips_per_s"] = count / r["seconds"]
        ref, ours, bound = (got.get(c, {}) for c in CONTESTANTS)
        row = {"contestants": got, "clips": count, "seconds_per_clip": shape(name, quick)[1] / rate_of(name)}
        if ours.get("ok") and ref.get("ok"):
            row["vs_reference"] = ours["clips_per_s"] / ref["clips_per_s"]
            a = np.load(os.path.join(data_dir, f"out_melplug_{name}.npy")).astype(np.float64)
            b = np.load(os.path.join(data_dir, f"out_transformers_{name}.npy")).astype(np.float64)
            row["max_abs_diff"] = float(np.max(np.abs(a - b))) if a.shape == b.shape else None
        if ours.get("ok") and bound.get("ok"):
            row["vs_bound"] = ours["clips_per_s"] / bound["clips_per_s"]
        rows[name] = row
    return rows


def print_table(rows: dict) -> None:
    from melplug._references import REFERENCES

    print()
    print(
        f"  {'extractor':<24} {'transformers class':<38} {'ref clips/s':>11} {'melplug clips/s':>15} "
        f"{'x ref':>7} {'x rfft bound':>12}  {'output':<12} max|diff|"
    )
    notes: dict[str, list[str]] = {}  # reason -> the rows it stopped
    for name, row in rows.items():
        c = row["contestants"]
        ref, ours = c.get("transformers", {}), c.get("melplug", {})
        ref_text = (
            fmt_num(ref["clips_per_s"]) if ref.get("ok") else "unavailable" if ref.get("unavailable") else "failed"
        )
        ours_text = fmt_num(ours["clips_per_s"]) if ours.get("ok") else "failed"
        ref_text, ours_text = (t if r else "-" for t, r in ((ref_text, ref), (ours_text, ours)))
        ratio = f"{row['vs_reference']:.3g}x" if "vs_reference" in row else "-"
        bound = f"{row['vs_bound']:.3g}x" if "vs_bound" in row else "-"
        out = "x".join(map(str, ours["shape"])) if ours.get("ok") else "-"
        diff = "-" if row.get("max_abs_diff", None) is None else f"{row['max_abs_diff']:.2g}"
        if "vs_reference" in row and row.get("max_abs_diff") is None:
            diff = "shapes differ: " + "x".join(map(str, ref["shape"]))
        print(
            f"  {name:<24} {REFERENCES[name].cls:<38} {ref_text:>11} {ours_text:>15} {ratio:>7} {bound:>12}  "
            f"{out:<12} {diff}"
        )
        for contestant, r in c.items():
            if not r.get("ok"):
                reason = f"{'unavailable' if r.get('unavailable') else 'failed'}: {r['error']}"
                notes.setdefault(reason, []).append(f"{name} ({contestant})")
    if notes:
        print()
        print("Not timed:")
        for reason, which in notes.items():
            print(f"  {', '.join(which)}: {reason}")


def print_targets(rows: dict, quick: bool) -> list[dict]:
    out = []
    for name, row in rows.items():
        for key, goal, what in (
            ("vs_reference", TARGET_REF, "x transformers"),
            ("vs_bound", TARGET_BOUND, "x rfft bound"),
        ):
            if key in row:
                out.append(
                    {"target": f"{name}: {what}", "value": row[key], "goal": f">= {goal:g}x", "met": row[key] >= goal}
                )
    below = [t for t in out if not t["met"]]
    print()
    note = " (--quick sizes: not meaningful)" if quick else ""
    print(f"Below target (>= {TARGET_REF:g}x transformers, >= {TARGET_BOUND:g}x the rfft bound){note}:")
    for t in below:
        print(f"  {t['target']:<44} {t['value']:>8.3g}  goal {t['goal']}")
    if not below:
        print("  none")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="tiny sizes (2 clips x 2 s), 1 repeat: a smoke test")
    ap.add_argument("--presets", default=None, help="comma-separated extractors (default: all)")
    ap.add_argument(
        "--contestants", default=",".join(CONTESTANTS), help=f"comma-separated, from {','.join(CONTESTANTS)}"
    )
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5, 1 with --quick)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up calls before the calibration call (default 1)")
    ap.add_argument("--min-time", type=float, default=None, help="seconds a repeat lasts at least (default 0.2)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per worker process")
    ap.add_argument("--json", help="write all results to this JSON file")
    ap.add_argument("--worker", nargs=2, metavar=("CONTESTANT", "EXTRACTORS"), help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    q = args.quick
    if args.repeats is None:
        args.repeats = 1 if q else 5
    if args.min_time is None:
        args.min_time = 0.0 if q else 0.2
    if args.timeout is None:
        args.timeout = 300.0 if q else 3600.0
    if args.repeats < 1:
        raise SystemExit(f"--repeats={args.repeats} is invalid: it must be >= 1")

    if args.worker:
        contestant, names = args.worker
        print(MARKER + json.dumps(worker(contestant, names.split(","), args)), flush=True)
        return 0

    everything = extractors()
    names = parse_list(args.presets, everything, "presets") if args.presets else list(everything)
    meta = _timing.machine_info(VERSIONED)
    command = "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:])
    clips, n = shape(names[0], q)
    print(f"melplug transformers presets benchmark -- {meta['date']}")
    print_machine(meta, command)
    print(
        f"timing: one batched call on {clips} clips x {n / rate_of(names[0]):g} s of float32 noise (clvp at "
        f"22.05 kHz, the others at 16 kHz), warm; median of {args.repeats} repeat(s) after a first call and "
        f"{max(1, args.warmup) + 1} warm-up call(s), a repeat lasting >= {args.min_time:g} s; melplug and the rfft "
        f"bound on {meta['cores']} cores, torch limited to {TORCH_THREADS} threads"
    )
    if importlib.util.find_spec("torch") is None:
        print(f"note: {TORCH_NOTE}; the extractors that need it are not timed")
    sys.stdout.flush()

    with tempfile.TemporaryDirectory(prefix="melplug-bench-transformers-") as data_dir:
        args.data_dir = data_dir
        write_inputs(args, names)
        results = run_contestants(args, names, parse_list(args.contestants, CONTESTANTS, "contestants"))
        rows = derive(results, data_dir, q)
    print_table(rows)
    goals = print_targets(rows, q)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load:
        print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    if args.json:
        doc = {
            "meta": meta,
            "command": command,
            "settings": {k: getattr(args, k) for k in ("quick", "repeats", "warmup", "min_time")},
            "torch_threads": TORCH_THREADS,
            "extractors": rows,
            "targets": goals,
            "loadavg_at_end": load,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
        print(f"\nwrote {args.json}")

    failed = [n for n, r in rows.items() if not r["contestants"].get("melplug", {"ok": True})["ok"]]
    if failed:
        print(f"\nmelplug failed: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
