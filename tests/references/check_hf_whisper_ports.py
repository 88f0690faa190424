"""Compare ``hf_whisper_ports`` with the real transformers extractors (needs torch; not a pytest module).

Run in a venv with torch and transformers 5.25::

    cd /work/main && /work/torchvenv/bin/python tests/references/check_hf_whisper_ports.py

For every extractor, config and clip it prints the max absolute difference of
the port from the reference run in float64 (its float32 casts and float32
default dtype patched to float64, the clip rounded to float32 first as the
reference rounds it) and from the default float32 reference, whether the
output keys, shapes, masks and integer outputs are identical, and checks that
the port refuses the clips the reference refuses.  It ends with the effect of
float32 filter banks alone, of float64 input clips, and a summary.  Not a test:
pytest's ``--doctest-modules`` only imports it, without torch.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import transformers

try:
    import torch
except ImportError:  # pytest --doctest-modules imports this file in the torch-free venv: let it
    torch = None

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hf_whisper_ports as ports  # noqa: E402

SR = 16000
MODULES = {
    "qwen3_asr": ("qwen3_asr", "Qwen3ASRFeatureExtractor"),
    "voxtral_realtime": ("voxtral_realtime", "VoxtralRealtimeFeatureExtractor"),
    "lasr": ("lasr", "LasrFeatureExtractor"),
    "phi4_multimodal": ("phi4_multimodal", "Phi4MultimodalFeatureExtractor"),
    "dots3_note": ("dots3_note", "Dots3NoteFeatureExtractor"),
}
FEATURE_KEY = {"phi4_multimodal": "audio_input_features"}


def make_clips():
    """Named float32 test clips (the references round their input to float32)."""
    rng = np.random.default_rng(1234)

    def tone(n, freqs):
        t = np.arange(n) / SR
        return sum(0.3 * np.sin(2 * math.pi * f * t + k) for k, f in enumerate(freqs))

    quiet = 1e-4 * rng.standard_normal(20000)
    quiet[9000:9800] += 0.8 * np.sin(2 * math.pi * 1000 * np.arange(800) / SR)
    clips = {
        "noise_16000": 0.1 * rng.standard_normal(16000),
        "tones_24000": tone(24000, [440.0, 3000.0]),
        "quiet_burst_20000": quiet,
        "short_3200": 0.2 * rng.standard_normal(3200),
        "odd_16001": 0.1 * rng.standard_normal(16001) + tone(16001, [1234.5]),
        "hop_mult_12800": tone(12800, [250.0, 7000.0]) + 0.01 * rng.standard_normal(12800),
        "window_401": 0.3 * rng.standard_normal(401),
        "window_513": 0.3 * rng.standard_normal(513),
        "silence_8000": np.zeros(8000),
    }
    return {name: np.asarray(x, dtype=np.float32) for name, x in clips.items()}


class _Float64Torch:
    """``torch`` as seen by a reference module, with float32/complex64 read as float64/complex128."""

    def __getattr__(self, name):
        if name == "float32":
            return torch.float64
        if name == "complex64":
            return torch.complex128
        return getattr(torch, name)


@contextlib.contextmanager
def float64_reference(module, cls):
    """Run ``module``'s extractor in float64: patched dtypes, float64 default dtype, float64 waveform."""
    original_torch = module.torch
    original_extract = cls._torch_extract_fbank_features
    original_default = torch.get_default_dtype()

    def extract(self, waveform, *args, **kwargs):
        if isinstance(waveform, torch.Tensor):
            waveform = waveform.to(torch.float64)
        else:
            waveform = np.asarray(waveform, dtype=np.float64)
        return original_extract(self, waveform, *args, **kwargs)

    module.torch = _Float64Torch()
    cls._torch_extract_fbank_features = extract
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        module.torch = original_torch
        cls._torch_extract_fbank_features = original_extract
        torch.set_default_dtype(original_default)


def reference(name, clip, config, call):
    """The real extractor on ``[clip]``, float32 as shipped, as a dict of batch-less NumPy arrays."""
    module_name, class_name = MODULES[name]
    fe = getattr(transformers, class_name)(**config)
    out = fe([clip], sampling_rate=SR, return_tensors="np", **call)
    return {k: np.asarray(v)[0] for k, v in out.items()}


def reference64(name, clip, config, call):
    """The real extractor on ``[clip]`` run in float64."""
    module_name, class_name = MODULES[name]
    module = importlib.import_module(f"transformers.models.{module_name}.feature_extraction_{module_name}")
    cls = getattr(module, class_name)
    with float64_reference(module, cls):
        return reference(name, clip, config, call)


def outcome(fn, *args, **kwargs):
    """``(fn(*args, **kwargs), None)`` or ``(None, "ExceptionType")``."""
    try:
        return fn(*args, **kwargs), None
    except Exception as exc:  # noqa: BLE001 - any refusal counts
        return None, type(exc).__name__


def compare(name, port, ref):
    """``(max abs diff of the features, max relative to max |ref|, structure identical?)``."""
    key = FEATURE_KEY.get(name, "input_features")
    same = set(port) == set(ref) and port[key].shape == ref[key].shape
    for k in set(port) & set(ref):
        if k != key:
            same = same and np.shape(port[k]) == np.shape(ref[k]) and np.array_equal(port[k], ref[k])
    if not same or port[key].size == 0:
        return (math.nan if not same else 0.0), 0.0, same
    diff = float(np.max(np.abs(port[key] - ref[key].astype(np.float64))))
    scale = float(np.max(np.abs(ref[key])))
    return diff, (diff / scale if scale else diff), same


CASES = {
    "qwen3_asr": [
        ({}, {}),
        ({}, {"return_attention_mask": True}),
        ({"feature_size": 80}, {"return_attention_mask": True}),
        ({"hop_length": 128, "n_fft": 512}, {"return_attention_mask": True}),
        ({"padding_value": 2.0**-7}, {"return_attention_mask": True}),
        ({"n_window": 8, "chunk_length": 5, "min_length": 0}, {"return_attention_mask": True}),
        (
            {"n_window": 0, "chunk_length": 1, "min_length": 0, "n_fft": 401, "hop_length": 100},
            {"return_attention_mask": True},
        ),
    ],
    "voxtral_realtime": [
        ({}, {}),
        ({}, {"return_attention_mask": True}),
        ({"feature_size": 80}, {"return_attention_mask": True}),
        ({"hop_length": 128, "n_fft": 512, "win_length": 512}, {"return_attention_mask": True}),
        ({"global_log_mel_max": None}, {"return_attention_mask": True}),
        ({"global_log_mel_max": 3.0, "n_fft": 401, "hop_length": 100}, {"return_attention_mask": True}),
    ],
    "lasr": [
        ({}, {}),
        ({}, {"return_attention_mask": True}),
        ({"feature_size": 80}, {"return_attention_mask": True}),
        ({"hop_length": 128, "win_length": 320, "n_fft": 400}, {"return_attention_mask": True}),
    ],
    "phi4_multimodal": [
        ({}, {}),
        ({"feature_size": 128}, {}),
        (
            {
                "hop_length": 128,
                "win_length": 320,
                "n_fft": 400,
                "preemphasis": 0.9,
                "audio_compression_rate": 4,
                "audio_feat_stride": 2,
                "mel_max_frequency": 8000,
            },
            {},
        ),
    ],
    "dots3_note": [
        ({}, {}),
        ({"feature_size": 80}, {}),
        ({"hop_length": 128, "n_fft": 512}, {}),
        ({"chunk_length": 1}, {}),
        ({"chunk_seconds": 2, "padding_value": 2.0**-7}, {}),
    ],
}


def check_refusals():
    """Clips / calls the reference refuses must be refused by the port, and their neighbours accepted."""
    rng = np.random.default_rng(7)
    rows = [
        ("voxtral_realtime", {}, {}, 200),  # reflect pad of 200 needs > 200 samples
        ("voxtral_realtime", {}, {}, 201),
        ("voxtral_realtime", {"n_fft": 512}, {}, 256),
        ("voxtral_realtime", {"n_fft": 512}, {}, 257),
        ("voxtral_realtime", {}, {"return_attention_mask": True}, 399),  # mask of length 0
        ("lasr", {}, {}, 399),  # unfold needs win_length samples
        ("lasr", {}, {"return_attention_mask": True}, 400),
        ("phi4_multimodal", {}, {}, 399),
        ("phi4_multimodal", {}, {}, 400),
        ("qwen3_asr", {"chunk_length": 0, "min_length": 0}, {}, 200),
        ("qwen3_asr", {"chunk_length": 0, "min_length": 0}, {}, 201),
        ("qwen3_asr", {}, {"return_attention_mask": False}, 16000),  # KeyError in the reference
        ("qwen3_asr", {"min_length": 0}, {"return_attention_mask": True}, 1),
        ("dots3_note", {"chunk_length": 1}, {}, 1),
        ("dots3_note", {"chunk_length": 1}, {}, 16000),
    ]
    ok = True
    for name, config, call, n in rows:
        clip = (0.1 * rng.standard_normal(n)).astype(np.float32)
        ref, ref_err = outcome(reference, name, clip, config, call)
        port, port_err = outcome(getattr(ports, name), clip, **config, **call)
        agree = (ref_err is None) == (port_err is None)
        if ref is not None and port is not None:
            agree = agree and compare(name, port, ref)[2]
        ok = ok and agree
        print(
            f"  {name:17s} {config!s:38s} {call!s:32s} n={n:6d}:"
            f" ref {ref_err or 'ok':12s} port {port_err or 'ok':12s} {'AGREE' if agree else 'DIFFER'}"
        )
    port, port_err = outcome(ports.dots3_note, np.zeros(SR + 1, np.float32), chunk_length=1)
    print(f"  dots3_note chunk_length=1 on {SR + 1} samples (reference splits into 2 chunks): port {port_err}")
    ok = ok and port_err == "ValueError"
    return ok


def filter_bank_effect(clips):
    """Port with its filter banks rounded to float32 vs the float64 reference: the effect of float32 banks."""
    original = ports.mel_filter_bank
    ports.mel_filter_bank = lambda **kw: original(**kw).astype(np.float32).astype(np.float64)
    try:
        for name in ["qwen3_asr", "voxtral_realtime", "phi4_multimodal", "dots3_note"]:
            worst = 0.0
            for clip_name in ["noise_16000", "tones_24000", "quiet_burst_20000"]:
                clip = clips[clip_name]
                ref = reference64(name, clip, {}, {})
                port = getattr(ports, name)(clip)
                worst = max(worst, compare(name, port, ref)[0])
            print(f"  {name:17s}: port with float32 filter bank vs float64 reference: max abs diff {worst:.3g}")
    finally:
        ports.mel_filter_bank = original


def input_rounding_effect(clips):
    """float64 clips: the references round them to float32 first, the ports do not."""
    for name in MODULES:
        clip = clips["tones_24000"].astype(np.float64) + 1e-3 * np.sin(np.arange(24000) * 0.1234567)
        ref = reference64(name, clip, {}, {})
        port = getattr(ports, name)(clip)
        print(
            f"  {name:17s}: float64 clip, port vs float64 reference (input rounded to float32):"
            f" {compare(name, port, ref)[0]:.3g}"
        )


def main():
    if torch is None:
        raise SystemExit("this check needs torch: run it with a venv that has torch and transformers 5.25")
    warnings.simplefilter("ignore", UserWarning)
    logging.disable(logging.WARNING)
    transformers.logging.set_verbosity_error()
    clips = make_clips()
    long_clips = {
        "long_31s": (0.1 * np.random.default_rng(5).standard_normal(31 * SR)).astype(np.float32),
        "exact_30s": (0.05 * np.random.default_rng(6).standard_normal(30 * SR)).astype(np.float32),
    }
    all_same = True
    summary = {}
    for name, cases in CASES.items():
        print(f"== {name}")
        worst64 = worst32 = worst32_rel = 0.0
        for config, call in cases:
            case_clips = dict(clips)
            if name == "qwen3_asr" and not config:
                case_clips.update(long_clips)
            for clip_name, clip in case_clips.items():
                if (
                    name == "dots3_note"
                    and clip.shape[0] > config.get("chunk_seconds", config.get("chunk_length", 60)) * SR
                ):
                    continue  # several chunks: the port refuses (checked under refusals)
                ref32, err32 = outcome(reference, name, clip, config, call)
                port, port_err = outcome(getattr(ports, name), clip, **config, **call)
                if err32 or port_err:
                    same = bool(err32) == bool(port_err)
                    all_same = all_same and same
                    print(f"  {config!s:60s} {call!s:32s} {clip_name:18s} ref {err32} port {port_err}")
                    continue
                ref64 = reference64(name, clip, config, call)
                d64, _, same64 = compare(name, port, ref64)
                d32, r32, same32 = compare(name, port, ref32)
                same = same64 and same32
                all_same = all_same and same
                worst64, worst32, worst32_rel = max(worst64, d64), max(worst32, d32), max(worst32_rel, r32)
                key = FEATURE_KEY.get(name, "input_features")
                extra = {
                    k: (v.tolist() if v.ndim == 0 else f"{int(np.sum(v))}/{v.size}")
                    for k, v in port.items()
                    if k != key
                }
                print(
                    f"  {config!s:60s} {call!s:32s} {clip_name:18s} shape {port[key].shape!s:12s} {extra!s:52s}"
                    f" f64 {d64:8.2e}  f32 {d32:8.2e}  {'identical' if same else 'STRUCTURE DIFFERS'}"
                )
        summary[name] = (worst64, worst32, worst32_rel)
    print("== refusals")
    refusals_ok = check_refusals()
    print("== float32 filter banks alone")
    filter_bank_effect(clips)
    print("== float64 input")
    input_rounding_effect(clips)
    print("== summary (max abs diff of the features over all cases)")
    for name, (d64, d32, r32) in summary.items():
        print(
            f"  {name:17s}: vs float64 reference {d64:.3g};"
            f" vs float32 reference {d32:.3g} ({r32:.3g} relative to max |ref|)"
        )
    print(f"  keys, shapes, masks and integer outputs identical: {all_same}; refusals agree: {refusals_ok}")
    return 0 if all_same and refusals_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
