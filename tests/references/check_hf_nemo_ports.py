"""Hand check of :mod:`tests.references.hf_nemo_ports` against the real transformers extractors (needs torch).

Not a test (pytest does not collect it): run it in a venv with torch and transformers 5.25,
``cd /work/main && /work/torchvenv/bin/python tests/references/check_hf_nemo_ports.py``.

For each extractor, config and clip it prints the max abs difference of the port from

* ``f64``: the reference run in float64 (its module's ``torch.float32`` mapped to float64, ``Tensor.float``
  mapped to ``double``, the default dtype set to float64 so ``torch.hann_window`` is float64, the filter bank
  and Inkling's window rebuilt in float64, and ``pad``'s float64 -> float32 cast bypassed), which should be
  ~1e-12 or less;
* ``f32``: the default float32 reference, the float32 gap (also relative to the clip's largest |value|);

and whether the shapes, masks and NaN positions are identical.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import sys
import warnings
from pathlib import Path

import numpy as np
from transformers.audio_utils import mel_filter_bank
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import logging as hf_logging

try:
    import torch
    from transformers import (
        CohereAsrFeatureExtractor,
        InklingFeatureExtractor,
        NemotronAsrStreamingFeatureExtractor,
        ParakeetFeatureExtractor,
    )
except ImportError:  # pytest --doctest-modules imports this file in the torch-free venv: let it
    torch = None

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.references import hf_nemo_ports  # noqa: E402

MODULES = (
    {}
    if torch is None
    else {
        ParakeetFeatureExtractor: "transformers.models.parakeet.feature_extraction_parakeet",
        CohereAsrFeatureExtractor: "transformers.models.cohere_asr.feature_extraction_cohere_asr",
        NemotronAsrStreamingFeatureExtractor: (
            "transformers.models.nemotron_asr_streaming.feature_extraction_nemotron_asr_streaming"
        ),
        InklingFeatureExtractor: "transformers.models.inkling.feature_extraction_inkling",
    }
)


class _Float64Torch:
    """Stands in for ``torch`` in a reference module: ``torch.float32`` is float64, the rest is torch."""

    def __getattr__(self, name):
        return torch.float64 if name == "float32" else getattr(torch, name)


def _pad_one(batched, **_):
    """``SequenceFeatureExtractor.pad`` for one clip, without its float64 -> float32 cast."""
    return BatchFeature(
        {
            "input_features": torch.stack(list(batched["input_features"])),
            "audio_lengths": torch.tensor(batched["audio_lengths"]),
        }
    )


@contextlib.contextmanager
def float64_reference(fe):
    """Run ``fe`` in float64 inside this context (see the module docstring)."""
    module = importlib.import_module(MODULES[type(fe)])
    saved_torch, saved_float, saved_dtype = module.torch, torch.Tensor.float, torch.get_default_dtype()
    module.torch = _Float64Torch()
    torch.Tensor.float = torch.Tensor.double
    torch.set_default_dtype(torch.float64)
    fe.pad = _pad_one
    n_fft = fe.n_fft
    fe.mel_filters = torch.from_numpy(
        np.ascontiguousarray(
            mel_filter_bank(
                n_fft // 2 + 1, fe.feature_size, 0.0, fe.sampling_rate / 2, fe.sampling_rate, "slaney", "slaney"
            ).T
        )
    )
    if isinstance(fe, InklingFeatureExtractor):
        fe.window = torch.hann_window(fe.window_size, periodic=True, dtype=torch.float64)
    try:
        yield fe
    finally:
        module.torch, torch.Tensor.float = saved_torch, saved_float
        torch.set_default_dtype(saved_dtype)


def make_clip(kind, n, sr, seed):
    """A float32-representable float64 clip: ``noise``, ``tones``, ``burst`` (near-silence with a burst)."""
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
    else:
        raise ValueError(kind)
    return x.astype(np.float32).astype(np.float64)


def clips_for(sr, hop, win):
    """(name, clip) pairs: the signal kinds at 1 s, and the edge lengths with noise."""
    lengths = {
        f"{sr + 1}=1s+1": sr + 1,
        "0.45s": int(0.45 * sr) | 1,
        f"{7 * hop}=7hop": 7 * hop,
        f"{50 * hop}=50hop": 50 * hop,
        f"{win + 1}=win+1": win + 1,
        f"{2 * hop - 1}=2hop-1": 2 * hop - 1,
        f"{hop - 1}=hop-1": hop - 1,
        "1": 1,
        "0": 0,
    }
    out = [(f"{kind} 1s", make_clip(kind, sr, sr, seed)) for seed, kind in enumerate(["noise", "tones", "burst"])]
    out += [(f"noise {name}", make_clip("noise", n, sr, 10 + i)) for i, (name, n) in enumerate(lengths.items())]
    out.append(("burst 16001", make_clip("burst", 16001 * sr // 16000, sr, 3)))
    return out


def compare(port_out, ref_out, mask_key):
    """(max abs diff, max |ref|, shapes equal, masks equal, NaNs at the same places) for one clip."""
    port, ref = port_out["input_features"], np.asarray(ref_out["input_features"])[0].astype(np.float64)
    pmask, rmask = port_out[mask_key], np.asarray(ref_out[mask_key])[0]
    same_shape = port.shape == ref.shape and pmask.shape == rmask.shape
    same_mask = same_shape and bool(np.array_equal(pmask.astype(bool), rmask.astype(bool)))
    if not same_shape:
        return math.inf, math.nan, False, False, False
    nan_p, nan_r = np.isnan(port), np.isnan(ref)
    same_nan = bool(np.array_equal(nan_p, nan_r))
    finite = ~nan_r & ~nan_p
    diff = float(np.abs(port - ref)[finite].max()) if finite.any() else 0.0
    scale = float(np.abs(ref[finite]).max()) if finite.any() else math.nan
    return diff, scale, same_shape, same_mask, same_nan


def run(name, cls, port, config, mask_key="attention_mask", extra=None):
    """Compare ``port`` to ``cls(**config)`` (float64 and float32 runs) on the edge-case clips."""
    fe32 = cls(**config)
    fe64 = cls(**config)
    sr = fe32.sampling_rate
    hop = fe32.hop_length
    win = getattr(fe32, "win_length", getattr(fe32, "window_size", None))
    print(f"\n== {name} {config or '(defaults)'}: hop {hop}, win {win}, n_fft {fe32.n_fft}")
    worst64 = worst32 = worst32_rel = 0.0
    for label, clip in clips_for(sr, hop, win):
        try:
            p = port(clip, **config, **(extra or {}))
        except ValueError as err:
            p = err
        try:
            r32 = fe32([clip], sampling_rate=sr, return_tensors="np")
            with float64_reference(fe64):
                r64 = fe64([clip], sampling_rate=sr, return_tensors="np")
        except Exception as err:  # noqa: BLE001 - report the reference's refusal
            r32 = r64 = err
        if isinstance(p, Exception) or isinstance(r32, Exception):
            both = isinstance(p, Exception) and isinstance(r32, Exception)
            print(f"  {label:22s} n={clip.size:6d}  port: {p!r:.60}  ref: {r32!r:.60}  {'OK' if both else 'MISMATCH'}")
            continue
        d64, _, shape_ok, mask_ok, nan_ok = compare(p, r64, mask_key)
        d32, scale, shape32, mask32, _ = compare(p, r32, mask_key)
        keys_ok = set(p) == set(r32.keys())
        if "audio_chunk_index" in p:
            keys_ok = keys_ok and p["audio_chunk_index"] == r32["audio_chunk_index"]
        ok = shape_ok and mask_ok and nan_ok and shape32 and mask32 and keys_ok
        frames = p["input_features"].shape[0]
        valid = int(p[mask_key].sum())
        nan = " all-NaN" if np.isnan(p["input_features"]).all() else ""
        print(
            f"  {label:22s} n={clip.size:6d} frames={frames:4d} valid={valid:4d}  f64 {d64:.1e}  f32 {d32:.1e}"
            f" (rel {d32 / scale if scale else 0.0:.1e}){nan}  shapes/masks/NaNs/keys {'OK' if ok else 'MISMATCH'}"
        )
        worst64 = max(worst64, d64)
        worst32 = max(worst32, d32)
        if math.isfinite(scale) and scale > 0:
            worst32_rel = max(worst32_rel, d32 / scale)
    print(f"  -> worst: f64 {worst64:.1e}, f32 {worst32:.1e} abs, {worst32_rel:.1e} relative to max |value|")
    return worst64, worst32, worst32_rel


def check_cohere_threshold():
    """At the chunking threshold (30 s by default) the port still works; one sample over, it refuses."""
    fe = CohereAsrFeatureExtractor(dither=0.0)
    sr = fe.sampling_rate
    n = int((fe.max_audio_clip_s - fe.overlap_chunk_second) * sr)
    for length in (n, n + 1):
        clip = make_clip("noise", length, sr, 42)
        ref = fe([clip], sampling_rate=sr, return_tensors="np")
        try:
            port = hf_nemo_ports.cohere_asr(clip, dither=0.0)
            diff = compare(port, ref, "attention_mask")[0]
            print(f"  cohere n={length}: chunk index {ref['audio_chunk_index']}, port f32 diff {diff:.1e}")
        except ValueError as err:
            print(f"  cohere n={length}: chunk index {ref['audio_chunk_index']}, port refuses: {err}")
    try:
        hf_nemo_ports.cohere_asr(make_clip("noise", 1600, sr, 0))
    except ValueError as err:
        print(f"  cohere default dither: port refuses: {err}")


def check_filter_banks():
    """The float32 filter bank's offset from the float64 one, and its effect on the features.

    The effect: the float64 reference run with the reference's own float32 filter bank (cast to float64)
    against the port, on the 1 s noise and tones clips.
    """
    cases = [
        (ParakeetFeatureExtractor, hf_nemo_ports.parakeet, {}, "attention_mask"),
        (ParakeetFeatureExtractor, hf_nemo_ports.parakeet, {"feature_size": 128}, "attention_mask"),
        (NemotronAsrStreamingFeatureExtractor, hf_nemo_ports.nemotron_asr_streaming, {}, "attention_mask"),
        (InklingFeatureExtractor, hf_nemo_ports.inkling, {}, "input_features_mask"),
    ]
    for cls, port, config, mask_key in cases:
        fe = cls(**config)
        sr, n_fft, n_mels = fe.sampling_rate, fe.n_fft, fe.feature_size
        args = (n_fft // 2 + 1, n_mels, 0.0, sr / 2, sr, "slaney", "slaney")
        f64 = mel_filter_bank(*args)
        # the reference's bank: built in float32 (Inkling: built in float64, cast to float32)
        f32 = (f64 if cls is InklingFeatureExtractor else mel_filter_bank(*args, dtype=np.float32)).astype(np.float32)
        rel = np.abs(f32 - f64).max() / np.abs(f64).max()
        effect = 0.0
        for kind in ("noise", "tones"):
            clip = make_clip(kind, sr, sr, 0)
            with float64_reference(fe):
                fe.mel_filters = torch.from_numpy(np.ascontiguousarray(f32.T.astype(np.float64)))
                ref = fe([clip], sampling_rate=sr, return_tensors="np")
            diff, scale = compare(port(clip, **config), ref, mask_key)[:2]
            effect = max(effect, diff / scale)
        print(
            f"  {cls.__name__} {config}: float32 bank - float64 bank = {rel:.1e} of the largest weight;"
            f" float64 run with the float32 bank - port = {effect:.1e} of the largest |value|"
        )


if __name__ == "__main__":
    if torch is None:
        raise SystemExit("needs torch: run it with /work/torchvenv/bin/python")
    hf_logging.set_verbosity_error()
    warnings.simplefilter("ignore")
    P = hf_nemo_ports
    results = [
        run("Parakeet", ParakeetFeatureExtractor, P.parakeet, {}),
        run("Parakeet", ParakeetFeatureExtractor, P.parakeet, {"feature_size": 128}),
        run("Parakeet", ParakeetFeatureExtractor, P.parakeet, {"hop_length": 128, "n_fft": 400, "win_length": 320}),
        run("Parakeet", ParakeetFeatureExtractor, P.parakeet, {"n_fft": 511, "win_length": 400, "hop_length": 100}),
        run("Parakeet", ParakeetFeatureExtractor, P.parakeet, {"preemphasis": 0.0, "win_length": 512}),
        run("Parakeet", ParakeetFeatureExtractor, P.parakeet, {"preemphasis": None}),
        run(
            "Parakeet",
            ParakeetFeatureExtractor,
            P.parakeet,
            {"sampling_rate": 8000, "feature_size": 64, "n_fft": 256, "win_length": 200, "hop_length": 80},
        ),
        run("CohereAsr", CohereAsrFeatureExtractor, P.cohere_asr, {"dither": 0.0}),
        run(
            "CohereAsr", CohereAsrFeatureExtractor, P.cohere_asr, {"dither": 0.0, "feature_size": 80, "hop_length": 128}
        ),
        run("NemotronAsrStreaming", NemotronAsrStreamingFeatureExtractor, P.nemotron_asr_streaming, {}),
        run(
            "NemotronAsrStreaming",
            NemotronAsrStreamingFeatureExtractor,
            P.nemotron_asr_streaming,
            {"feature_size": 128},
        ),
        run(
            "NemotronAsrStreaming",
            NemotronAsrStreamingFeatureExtractor,
            P.nemotron_asr_streaming,
            {"mel_filters_dtype": "bfloat16", "feature_size": 128},
        ),
        run(
            "NemotronAsrStreaming",
            NemotronAsrStreamingFeatureExtractor,
            P.nemotron_asr_streaming,
            {"n_fft": 400, "win_length": 400, "hop_length": 100},
        ),
        run("Inkling", InklingFeatureExtractor, P.inkling, {}, mask_key="input_features_mask"),
        run("Inkling", InklingFeatureExtractor, P.inkling, {"feature_size": 128}, mask_key="input_features_mask"),
        run("Inkling", InklingFeatureExtractor, P.inkling, {"audio_token_duration_s": 0.02}, "input_features_mask"),
        run("Inkling", InklingFeatureExtractor, P.inkling, {"n_fft": 2048}, mask_key="input_features_mask"),
        run("Inkling", InklingFeatureExtractor, P.inkling, {"window_size_multiplier": 1.0}, "input_features_mask"),
    ]
    print("\n== CohereAsr chunking threshold and dither")
    check_cohere_threshold()
    print("\n== filter banks")
    check_filter_banks()
    print(
        "\nOVERALL worst: f64 %.1e, f32 %.1e abs, %.1e relative" % tuple(max(r[i] for r in results) for i in range(3))
    )
