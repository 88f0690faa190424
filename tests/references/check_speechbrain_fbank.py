"""Hand check of :mod:`tests.references.speechbrain_fbank` against the real speechbrain (needs torch).

Not a test (pytest does not collect it): run it in a venv with torch 2.13 and speechbrain 1.1.2,
``cd /work/main && /work/torchvenv/bin/python tests/references/check_speechbrain_fbank.py``.

For each config and clip it prints the max abs difference of the port's ``fbank`` from

* ``f64``: ``speechbrain.lobes.features.Fbank`` built and run with the default dtype float64 (its window, mel points
  and frequency axis are then float64; a float64 input is not cast, as autocast is off), which should be ~1e-12 or
  less;
* ``f32``: the default float32 ``Fbank`` (also relative to the clip's largest |value|);
* ``norm``: the port's ``sentence_mean_norm`` of the port's features from ``InputNormalization(norm_type="sentence",
  std_norm=False)`` applied to the float64 reference features, in ``.train()`` and ``.eval()`` mode, with relative
  length ``torch.ones(1)`` and with none, twice (all four must agree exactly);

and whether the shapes are identical; then the filter bank matrix against ``Filterbank(log_mel=False)`` applied to
an identity spectrogram in float64.
"""

from __future__ import annotations

import contextlib
import math
import sys
import warnings
from pathlib import Path

import numpy as np

try:
    import speechbrain
    import torch
    from speechbrain.lobes.features import Fbank
    from speechbrain.processing.features import Filterbank, InputNormalization
except ImportError:  # pytest --doctest-modules imports this file in the torch-free venv: let it
    torch = None

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.references import speechbrain_fbank  # noqa: E402


@contextlib.contextmanager
def default_dtype(dtype):
    """Set torch's default dtype inside the context."""
    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


def sb_kwargs(config):
    """``Fbank`` keyword arguments for a port config (``f_max=None`` left to Fbank's own default)."""
    kw = {"sample_rate": 16000, "n_fft": 400, "n_mels": 80, "win_length": 25, "hop_length": 10, "f_min": 0}
    kw.update({k: v for k, v in config.items() if v is not None})
    return kw


def make_clip(kind, n, sr, seed):
    """A float32-representable float64 clip: ``noise``, ``tones``, ``burst`` (near-silence with a burst), ``zeros``."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    if kind == "noise":
        x = 0.1 * rng.standard_normal(n)
    elif kind == "tones":
        x = 0.3 * np.sin(2 * np.pi * 220.0 * t + 0.3) + 0.2 * np.sin(2 * np.pi * 1234.5 * t)
        x += 0.1 * np.sin(2 * np.pi * 0.43 * sr * t + 1.0) + 0.005 * rng.standard_normal(n)
    elif kind == "burst":
        x = 1e-5 * rng.standard_normal(n)
        start, stop = n // 3, n // 3 + max(1, n // 10)
        x[start:stop] += 0.5 * np.sin(2 * np.pi * 700.0 * t[start:stop]) * np.hanning(stop - start)
    elif kind == "zeros":
        x = np.zeros(n)
    else:
        raise ValueError(kind)
    return x.astype(np.float32).astype(np.float64)


def clips(sr, n_fft, hop):
    """(name, clip) pairs: the kinds at 1 s and 1 s + 1, and edge lengths with noise."""
    out = [
        (f"{kind} {n}", make_clip(kind, n, sr, seed))
        for seed, kind in enumerate(["noise", "tones", "burst", "zeros"])
        for n in (sr, sr + 1)
    ]
    lengths = (sr // 4 + 1, n_fft + 1, n_fft, hop + 1, hop, 100, 1, 0)
    out += [(f"noise {n}", make_clip("noise", n, sr, 10 + n)) for n in lengths]
    return out


def reference(fe, clip, dtype):
    """``fe(x[None])[0]`` as float64 ``(frames, n_mels)``, or the exception."""
    try:
        with default_dtype(dtype):
            out = fe(torch.from_numpy(clip).to(dtype)[None])
    except Exception as err:  # noqa: BLE001 - report the reference's refusal
        return err
    assert out.dtype == dtype, out.dtype
    return out[0].double().numpy()


def reference_norm(feats):
    """``InputNormalization(norm_type="sentence", std_norm=False)`` of float64 feats, four ways; max spread, result."""
    outs = []
    with default_dtype(torch.float64):
        norm = InputNormalization(norm_type="sentence", std_norm=False)
        x = torch.from_numpy(feats)[None]
        for mode in ("train", "eval"):
            getattr(norm, mode)()
            outs.append(norm(x, torch.ones(1))[0].numpy())
            outs.append(norm(x)[0].numpy())
            outs.append(norm(x, torch.ones(1), epoch=5)[0].numpy())
    spread = max(float(np.abs(o - outs[0]).max()) for o in outs)
    return spread, outs[0]


def run(config):
    """Compare the port to ``Fbank(**config)`` (float64 and float32) and the sentence normalisation, on the clips."""
    kw = sb_kwargs(config)
    print(f"\n== {config or '(port defaults)'} -> Fbank({kw})")
    fe32 = Fbank(**kw).eval()
    with default_dtype(torch.float64):
        fe64 = Fbank(**kw).eval()
    assert fe64.compute_STFT.window.dtype == torch.float64
    sr, hop, n_fft = kw["sample_rate"], fe32.compute_STFT.hop_length, kw["n_fft"]
    worst = [0.0] * 5
    all_ok = True
    for label, clip in clips(sr, n_fft, hop):
        try:
            port = speechbrain_fbank.fbank(clip, **config)
        except ValueError as err:
            port = err
        r32, r64 = reference(fe32, clip, torch.float32), reference(fe64, clip, torch.float64)
        if isinstance(port, Exception) or isinstance(r32, Exception) or isinstance(r64, Exception):
            both = isinstance(port, Exception) and isinstance(r32, Exception) and isinstance(r64, Exception)
            all_ok &= both
            print(f"  {label:12s} port: {port!r:.70}  ref: {r32!r:.70}  {'OK' if both else 'MISMATCH'}")
            continue
        ok = port.shape == r64.shape == r32.shape
        all_ok &= ok
        if not ok:
            print(f"  {label:12s} shapes port {port.shape} ref {r64.shape} / {r32.shape}  MISMATCH")
            continue
        scale = float(np.abs(r64).max())
        d64 = float(np.abs(port - r64).max())
        d32 = float(np.abs(port - r32).max())
        spread, rnorm = reference_norm(r64)
        dnorm = float(np.abs(speechbrain_fbank.sentence_mean_norm(port) - rnorm).max())
        all_ok &= spread == 0.0
        print(
            f"  {label:12s} frames={port.shape[0]:4d}  f64 {d64:.1e} (rel {d64 / scale:.1e})  f32 {d32:.1e}"
            f" (rel {d32 / scale:.1e})  norm {dnorm:.1e} (train/eval/lengths spread {spread:.0e})"
            f"  shapes {'OK' if ok else 'MISMATCH'}"
        )
        for i, v in enumerate((d64, d64 / scale, d32, d32 / scale, dnorm)):
            worst[i] = max(worst[i], v)
    print(
        f"  -> worst: f64 {worst[0]:.1e} ({worst[1]:.1e} rel), f32 {worst[2]:.1e} ({worst[3]:.1e} rel),"
        f" norm {worst[4]:.1e}  {'all OK' if all_ok else 'MISMATCHES'}"
    )
    return (*worst, all_ok)


def check_filterbank(sample_rate, n_fft, n_mels, f_min=0, f_max=None):
    """Max abs difference of ``filterbank_matrix`` from SpeechBrain's own (float64 and float32)."""
    f_max_sb = sample_rate // 2 if f_max is None else f_max
    port = speechbrain_fbank.filterbank_matrix(sample_rate, n_fft, n_mels, f_min, f_max)
    diffs = []
    for dtype in (torch.float64, torch.float32):
        with default_dtype(dtype):
            fb = Filterbank(
                n_mels=n_mels, log_mel=False, f_min=f_min, f_max=f_max_sb, n_fft=n_fft, sample_rate=sample_rate
            )
            ref = fb(torch.eye(n_fft // 2 + 1)[None])[0].double().numpy()
        diffs.append(float(np.abs(port - ref).max()) if port.shape == ref.shape else math.inf)
    print(
        f"  sr {sample_rate} n_fft {n_fft} n_mels {n_mels} f {f_min}..{f_max}: float64 {diffs[0]:.1e},"
        f" float32 {diffs[1]:.1e} (peak {port.max():.3f}, empty filters {int((port.max(axis=0) == 0).sum())})"
    )
    return diffs


CONFIGS = [
    {},
    {"n_mels": 40},
    {"sample_rate": 8000},
    {"sample_rate": 8000, "n_mels": 40},
    {"n_fft": 401, "win_length": 20, "hop_length": 12.5},
    {"f_min": 20, "f_max": 7600},
    {"n_fft": 512, "n_mels": 40},
]


if __name__ == "__main__":
    if torch is None:
        raise SystemExit("needs torch and speechbrain: run it with /work/torchvenv/bin/python")
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    print(f"speechbrain {speechbrain.__version__}, torch {torch.__version__}")
    results = [run(config) for config in CONFIGS]
    print("\n== filter banks")
    fb = [
        check_filterbank(16000, 400, 80),
        check_filterbank(16000, 400, 40),
        check_filterbank(8000, 400, 80),
        check_filterbank(8000, 400, 40),
        check_filterbank(16000, 401, 80),
        check_filterbank(16000, 400, 80, 20, 7600),
        check_filterbank(16000, 512, 40),
    ]
    w = [max(r[i] for r in results) for i in range(5)]
    print(
        f"\nOVERALL worst: f64 {w[0]:.1e} ({w[1]:.1e} rel), f32 {w[2]:.1e} ({w[3]:.1e} rel), norm {w[4]:.1e};"
        f" filter bank float64 {max(d[0] for d in fb):.1e}, float32 {max(d[1] for d in fb):.1e};"
        f" {'all shapes OK' if all(r[5] for r in results) else 'MISMATCHES'}"
    )
