#!/usr/bin/env python
"""Throughput of melplug's presets III (NeMo, SpeechBrain, WeSpeaker, SenseVoice, BEATs, EAT, Dasheng, Vocos,
BigVGAN) against the front ends they reproduce, called as those toolkits call them.

Each contestant runs in its own subprocess, on the same float32 clips (16 clips x 10 s of 0.1 x standard normal
noise, fixed seed, at the preset's rate: 24 kHz for vocos and bigvgan, 16 kHz for the others), warm (compile and
first-call costs not counted), median of ``--repeats`` timed repeats:

    melplug     ``fx = melplug.preset(name)``, then ``fx(clips)``: one call on the list of clips
    reference   the toolkit's own front end, on a (clips, samples) batch where it takes one; torch limited to
                2 threads (``torch.set_num_threads(2)``):
                  nemo               NeMo ``FilterbankFeatures`` (Parakeet/Canary settings, dither 0, eval), loaded
                                     from a NeMo checkout (``tests/references/check_nemo_features.py``) (torch)
                  speechbrain-fbank  ``speechbrain.lobes.features.Fbank(n_mels=80)`` then
                                     ``InputNormalization(norm_type="sentence", std_norm=False)`` (torch)
                  wespeaker          pyannote.audio's ``compute_fbank``: ``torch.vmap`` of
                                     ``torchaudio.compliance.kaldi.fbank`` on x 2**15, minus the mean (torch)
                  sensevoice         funasr_onnx ``WavFrontend`` (kaldi-native-fbank, numpy), per clip: its code
                                     as ``tests/references/funasr_frontend.py`` holds it (numpy/C++)
                  beats, eat         their ``preprocess``: ``kaldi.fbank`` per clip, then their scaling (torch)
                  dasheng            ``MelSpectrogram(...)`` + ``AmplitudeToDB(top_db=120)`` on the batch (torch)
                  vocos              ``vocos.feature_extractors.MelSpectrogramFeatures()`` on the batch (torch)
                  bigvgan            ``bigvgan.meldataset.mel_spectrogram`` on the batch (torch)
    rfft-bound  ``scipy.fft.rfft`` over the frames melplug computes (``bench_transformers._rfft_bound``)

Targets (issue: presets III): >= 5x a numpy/C++ reference, >= 2x a torch one, >= 0.6x the rfft bound.  The table
also gives max|diff| of the reference's output against melplug's, a check that both computed the same thing
(the batched dasheng floors a batch at its maximum; on noise clips of one level that is each clip's floor too).

Usage::

    python benchmarks/bench_toolkits.py --json toolkits.json   # full run (a quiet machine, torch and the toolkits)
    python benchmarks/bench_toolkits.py --quick                # smoke test
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import _timing
import numpy as np
from _timing import MARKER, cores, error_text, fmt_num, measure, parse_list, print_machine
from bench_transformers import TORCH_NOTE, _as_array, _rfft_bound, _unavailable

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261205
CLIPS, SECONDS = 16, 10.0
QUICK_CLIPS, QUICK_SECONDS = 2, 2.0
TORCH_THREADS = 2
NAMES = ("nemo", "speechbrain-fbank", "wespeaker", "sensevoice", "beats", "eat", "dasheng", "vocos", "bigvgan")
NUMPY_REFERENCES = ("sensevoice",)  # the others are torch-based
TARGET_NUMPY, TARGET_TORCH, TARGET_BOUND = 5.0, 2.0, 0.6
CONTESTANTS = ("reference", "melplug", "rfft-bound")
VERSIONED = ("melplug", "numba", "numpy", "scipy", "torch", "torchaudio", "speechbrain", "kaldi-native-fbank")


def rate_of(name: str) -> int:
    return 24000 if name in ("vocos", "bigvgan") else 16000


def shape(name: str, quick: bool) -> tuple[int, int]:
    clips, seconds = (QUICK_CLIPS, QUICK_SECONDS) if quick else (CLIPS, SECONDS)
    return clips, int(round(seconds * rate_of(name)))


def input_path(data_dir: str, rate: int) -> str:
    return os.path.join(data_dir, f"input_{rate}.npy")


def write_inputs(data_dir: str, names: list[str], quick: bool) -> None:
    for rate in sorted({rate_of(n) for n in names}):
        count, n = shape(next(p for p in names if rate_of(p) == rate), quick)
        x = np.random.default_rng([SEED, rate]).standard_normal((count, n), dtype=np.float32)
        np.save(input_path(data_dir, rate), x * np.float32(0.1))


# =========================================================================== contestants (run in workers)


def _melplug(name, clips, ncores):
    import melplug

    fx = melplug.preset(name)
    return lambda: fx(clips)


def _torch():
    import torch

    torch.set_num_threads(TORCH_THREADS)
    return torch


def _kaldi_per_clip(clips, after, **kwargs):
    torch = _torch()
    from torchaudio.compliance import kaldi

    batch = [torch.from_numpy(c).unsqueeze(0) for c in clips]

    def run():
        with torch.inference_mode():
            return after(torch.stack([kaldi.fbank(w, **kwargs) for w in batch]))

    return run


def _reference(name, clips, ncores):
    if name == "sensevoice":
        sys.path.insert(0, str(ROOT))
        from tests.references.funasr_frontend import wav_frontend

        return lambda: [wav_frontend(c) for c in clips]
    torch = _torch()
    x = torch.from_numpy(np.stack(clips))
    if name == "nemo":
        sys.path.insert(0, str(ROOT))
        from tests.references import check_nemo_features as nemo

        fe = nemo.build(nemo.load_nemo_features()[0], {}, float64=False)
        lengths = torch.full((x.shape[0],), x.shape[1])
        return lambda: fe(x, lengths)[0]
    if name == "speechbrain-fbank":
        from speechbrain.lobes.features import Fbank
        from speechbrain.processing.features import InputNormalization

        fbank, norm = Fbank(n_mels=80), InputNormalization(norm_type="sentence", std_norm=False)
        lengths = torch.ones(x.shape[0])

        def run():
            with torch.inference_mode():
                return norm(fbank(x), lengths)

        return run
    if name == "wespeaker":
        from functools import partial

        from torchaudio.compliance import kaldi

        fb = partial(kaldi.fbank, num_mel_bins=80, frame_length=25.0, frame_shift=10.0, dither=0.0,
                     sample_frequency=16000, window_type="hamming", use_energy=False)  # fmt: skip

        def run():  # pyannote's compute_fbank on (batch, channel, samples)
            with torch.inference_mode():
                feats = torch.vmap(fb)(x.unsqueeze(1) * (1 << 15))
                return feats - torch.mean(feats, dim=1, keepdim=True)

        return run
    if name == "beats":
        scaled = [c * np.float32(2**15) for c in clips]
        return _kaldi_per_clip(scaled, lambda f: (f - 15.41663) / (2 * 6.55582), num_mel_bins=128,
                               sample_frequency=16000, frame_length=25, frame_shift=10)  # fmt: skip
    if name == "eat":

        def eat(f):
            f = torch.nn.functional.pad(f, (0, 0, 0, max(0, 1024 - f.shape[1])))[:, :1024]
            return (f - -4.268) / (4.569 * 2)

        centred = [c - c.mean() for c in clips]
        return _kaldi_per_clip(centred, eat, htk_compat=True, sample_frequency=16000, use_energy=False,
                               window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10)  # fmt: skip
    if name == "dasheng":
        import torchaudio

        front = torch.nn.Sequential(
            torchaudio.transforms.MelSpectrogram(f_min=0, sample_rate=16000, win_length=512, center=True,
                                                 n_fft=512, f_max=8000, hop_length=160, n_mels=64),
            torchaudio.transforms.AmplitudeToDB(top_db=120),
        )  # fmt: skip
    elif name == "vocos":
        from vocos.feature_extractors import MelSpectrogramFeatures

        front = MelSpectrogramFeatures()
    else:  # bigvgan: its meldataset module alone (the package's __init__ imports more than it needs)
        sys.path.insert(0, str(ROOT))
        from tests.references.check_vocoder_mels import load_bigvgan_meldataset

        meldataset = load_bigvgan_meldataset()
        return lambda: meldataset.mel_spectrogram(x, 1024, 100, 24000, 256, 1024, 0, None)

    def run():
        with torch.inference_mode():
            return front(x)

    return run


SETUP = {"reference": _reference, "melplug": _melplug, "rfft-bound": _rfft_bound}


def worker(contestant: str, names: list[str], args) -> dict:
    """Time one contestant on some presets in this process; save its outputs for the comparison."""
    results = {}
    for name in names:
        try:
            clips = list(np.load(input_path(args.data_dir, rate_of(name))))
            fn = SETUP[contestant](name, clips, cores())
            r = measure(fn, args.repeats, args.warmup, args.min_time)
        except Exception as exc:  # noqa: BLE001 - any failure is reported as this contestant's row
            unavailable = _unavailable(exc) or isinstance(exc, (ImportError, FileNotFoundError, OSError))
            torchless = unavailable and importlib.util.find_spec("torch") is None
            results[name] = {
                "ok": False,
                "unavailable": unavailable,
                "error": TORCH_NOTE if torchless else error_text(exc),
            }
            continue
        out = _as_array(r.pop("out"))
        if contestant != "rfft-bound":
            np.save(os.path.join(args.data_dir, f"out_{contestant}_{name}.npy"), out)
        results[name] = dict(r, ok=True, shape=list(out.shape))
    return results


# =========================================================================== orchestration


def run_all(args, names: list[str], contestants: list[str]) -> dict:
    argv_common = ["--repeats", str(args.repeats), "--warmup", str(args.warmup), "--min-time", str(args.min_time)]
    argv_common += ["--data-dir", args.data_dir] + (["--quick"] if args.quick else [])
    rows = {n: {"contestants": {}} for n in names}
    for contestant in contestants:
        t0 = time.perf_counter()
        got = _timing.run_worker_process(__file__, ["--worker", contestant, ",".join(names), *argv_common], {},
                                         args.timeout)  # fmt: skip
        for n in names:
            r = {"ok": False, "unavailable": False, "error": got["_error"]} if "_error" in got else got[n]
            if r.get("ok"):
                r["clips_per_s"] = shape(n, args.quick)[0] / r["seconds"]
            rows[n]["contestants"][contestant] = r
        print(f"  ran {contestant:<10} {time.perf_counter() - t0:7.1f} s", file=sys.stderr, flush=True)
    for n, row in rows.items():
        ref, ours, bound = (row["contestants"].get(c, {}) for c in CONTESTANTS)
        if ours.get("ok") and ref.get("ok"):
            row["vs_reference"] = ours["clips_per_s"] / ref["clips_per_s"]
            a = np.load(os.path.join(args.data_dir, f"out_melplug_{n}.npy")).astype(np.float64)
            b = np.load(os.path.join(args.data_dir, f"out_reference_{n}.npy")).astype(np.float64)
            row["max_abs_diff"] = float(np.max(np.abs(a - b))) if a.shape == b.shape else None
        if ours.get("ok") and bound.get("ok"):
            row["vs_bound"] = ours["clips_per_s"] / bound["clips_per_s"]
    return rows


def report(rows: dict, quick: bool) -> list[dict]:
    print(f"\n  {'preset':<18} {'ref clips/s':>11} {'melplug clips/s':>15} {'x ref':>7} {'goal':>5} "
          f"{'x rfft bound':>12}  max|diff|")  # fmt: skip
    goals, notes = [], {}
    for name, row in rows.items():
        c = row["contestants"]
        ref, ours = c.get("reference", {}), c.get("melplug", {})
        target = TARGET_NUMPY if name in NUMPY_REFERENCES else TARGET_TORCH
        ref_text = fmt_num(ref["clips_per_s"]) if ref.get("ok") else "unavailable" if ref.get("unavailable") else "-"
        ours_text = fmt_num(ours["clips_per_s"]) if ours.get("ok") else "failed"
        ratio = f"{row['vs_reference']:.3g}x" if "vs_reference" in row else "-"
        bound = f"{row['vs_bound']:.3g}x" if "vs_bound" in row else "-"
        diff = "-" if row.get("max_abs_diff") is None else f"{row['max_abs_diff']:.2g}"
        print(f"  {name:<18} {ref_text:>11} {ours_text:>15} {ratio:>7} {target:>4g}x {bound:>12}  {diff}")
        for key, goal, what in (("vs_reference", target, "x reference"), ("vs_bound", TARGET_BOUND, "x rfft bound")):
            if key in row:
                goals.append({"target": f"{name}: {what}", "value": row[key], "goal": goal, "met": row[key] >= goal})
        for contestant, r in c.items():
            if not r.get("ok"):
                notes.setdefault(f"{'unavailable' if r.get('unavailable') else 'failed'}: {r['error']}", []).append(
                    f"{name} ({contestant})"
                )
    if notes:
        print("\nNot timed:")
        for reason, which in notes.items():
            print(f"  {', '.join(which)}: {reason}")
    below = [g for g in goals if not g["met"]]
    print(f"\nBelow target{' (--quick sizes: not meaningful)' if quick else ''}:")
    for g in below:
        print(f"  {g['target']:<36} {g['value']:>8.3g}  goal >= {g['goal']:g}x")
    if not below:
        print("  none")
    return goals


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (2 clips x 2 s), 1 repeat: a smoke test")
    ap.add_argument("--presets", default=None, help="comma-separated presets (default: all)")
    ap.add_argument("--contestants", default=",".join(CONTESTANTS), help=f"from {','.join(CONTESTANTS)}")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5, 1 with --quick)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up calls (default 1)")
    ap.add_argument("--min-time", type=float, default=None, help="seconds a repeat lasts at least (default 0.2)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per worker process")
    ap.add_argument("--json", help="write all results to this JSON file")
    ap.add_argument("--worker", nargs=2, metavar=("CONTESTANT", "PRESETS"), help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    q = args.quick
    args.repeats = args.repeats or (1 if q else 5)
    args.min_time = (0.0 if q else 0.2) if args.min_time is None else args.min_time
    args.timeout = args.timeout or (300.0 if q else 3600.0)
    if args.worker:
        contestant, names = args.worker
        print(MARKER + json.dumps(worker(contestant, names.split(","), args)), flush=True)
        return 0
    names = parse_list(args.presets, NAMES, "presets") if args.presets else list(NAMES)
    meta = _timing.machine_info(VERSIONED)
    command = "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:])
    clips, n = shape(names[0], q)
    print(f"melplug presets III benchmark -- {meta['date']}")
    print_machine(meta, command)
    print(f"timing: {clips} clips x {n / rate_of(names[0]):g} s of float32 noise, warm, median of {args.repeats} "
          f"repeat(s); melplug and the bound on {meta['cores']} cores, torch on {TORCH_THREADS} threads")  # fmt: skip
    if importlib.util.find_spec("torch") is None:
        print(f"note: {TORCH_NOTE}; the torch-based references are not timed")
    sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="melplug-bench-toolkits-") as data_dir:
        args.data_dir = data_dir
        write_inputs(data_dir, names, q)
        rows = run_all(args, names, parse_list(args.contestants, CONTESTANTS, "contestants"))
    goals = report(rows, q)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "command": command, "presets": rows, "targets": goals}, f, indent=2)
        print(f"\nwrote {args.json}")
    failed = [n for n, r in rows.items() if not r["contestants"].get("melplug", {"ok": True})["ok"]]
    if failed:
        print(f"\nmelplug failed: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
