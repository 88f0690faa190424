"""Check :mod:`tests.references.hf_torchaudio_ports` against the real transformers extractors (run by hand).

Needs torch, torchaudio and transformers, so it is not a test (no ``test_``
prefix; pytest's ``--doctest-modules`` only imports it, which works without
torch); run it in the torch virtual environment::

    cd /work/main && /work/torchvenv/bin/python tests/references/check_hf_torchaudio_ports.py

For every extractor, configuration and clip it prints whether the port's
shapes, masks (and GraniteSpeech's ``audio_embed_sizes``) equal the
reference's, the max abs difference from the reference run in float64
(``f64``: float64 clip, torch default dtype float64 so that torchaudio builds
its windows and filter banks in float64, the extractor's float32 casts made
float64) and from the default float32 reference (``f32``), with the largest
feature for scale.  Clips whose length the reference refuses must make the
port raise too.  It exits non-zero on a mismatch or an ``f64`` difference above
1e-10 times ``max(1, largest feature)``.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path

import numpy as np

try:  # pytest's --doctest-modules imports this module in the torch-free venv too: it must import there
    import torch
    from transformers import (
        FunAsrNanoFeatureExtractor,
        GraniteSpeech5FeatureExtractor,
        GraniteSpeechFeatureExtractor,
        Speech2TextFeatureExtractor,
    )
    from transformers.utils import logging
except ImportError:
    torch = None

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: make ``tests`` importable
from tests.references import hf_torchaudio_ports as ports  # noqa: E402
from tests.references.signals import make_signal  # noqa: E402

F64_TOL = 1e-10


@contextlib.contextmanager
def float64_torch():
    """Default dtype float64, and ``Tensor.float()`` (the extractors' casts) made ``Tensor.double()``."""
    previous, float_method = torch.get_default_dtype(), torch.Tensor.float
    torch.set_default_dtype(torch.float64)
    torch.Tensor.float = lambda self, *args, **kwargs: self.double()
    try:
        yield
    finally:
        torch.Tensor.float = float_method
        torch.set_default_dtype(previous)


def clip(kind, n, sr, seed=0):
    """A float32-representable float64 clip (the float32 references cast their input)."""
    rng = np.random.default_rng(seed)
    if kind == "burst":  # near-silence (-100 dB noise) with a 0.1 s tone-and-noise burst in the middle
        x = 1e-5 * rng.standard_normal(n)
        start, stop = n // 2 - sr // 20, n // 2 + sr // 20
        t = np.arange(max(0, start), min(n, stop)) / sr
        x[max(0, start) : min(n, stop)] += 0.5 * np.sin(2 * np.pi * 440.0 * t) + 0.05 * rng.standard_normal(t.size)
    elif kind == "zeros":
        x = np.zeros(n)
    else:
        x = make_signal(kind, n, sr, seed)
    return x.astype(np.float32).astype(np.float64)


# --------------------------------------------------------------------------------------- the references, per clip


def ref_fun_asr_nano(config, x, sr, f64):
    if not f64:
        out = FunAsrNanoFeatureExtractor(**config)([x.astype(np.float32)], sampling_rate=sr, return_tensors="np")
        return {k: v[0] for k, v in out.items()}
    with float64_torch():
        fe = FunAsrNanoFeatureExtractor(**config)
        features = fe._apply_lfr(fe._extract_fbank_features(torch.from_numpy(x))).numpy()
    return {"input_features": features, "input_features_mask": np.ones(features.shape[0], dtype=np.int32)}


def ref_granite_speech(config, x, sr, f64):
    context = float64_torch() if f64 else contextlib.nullcontext()
    with context:
        out = GraniteSpeechFeatureExtractor(**config)([x if f64 else x.astype(np.float32)])
    return {
        "input_features": out["input_features"][0].numpy(),
        "audio_embed_sizes": out["audio_embed_sizes"][0],
        "input_features_mask": out["input_features_mask"][0].numpy(),
    }


def ref_granite_speech5(config, x, sr, f64):
    if not f64:
        out = GraniteSpeech5FeatureExtractor(**config)([x.astype(np.float32)], sampling_rate=sr, return_tensors="np")
        return {k: v[0] for k, v in out.items()}
    with float64_torch():
        fe = GraniteSpeech5FeatureExtractor(**config)
        features = fe._extract_features(torch.from_numpy(x)[None])[0].numpy()
    return {"input_features": features, "attention_mask": np.ones(features.shape[0], dtype=np.int64)}


def ref_speech_to_text(config, x, sr, f64):
    fe = Speech2TextFeatureExtractor(**config)
    if not f64:
        out = fe([x.astype(np.float32)], sampling_rate=sr, return_tensors="np")
        return {k: v[0] for k, v in out.items()}
    with float64_torch():
        features = fe._extract_fbank_features(x)
    if fe.do_ceptral_normalize:  # utterance_cmvn without its float32 cast
        if fe.normalize_means:
            features = features - features.mean(axis=0)
        if fe.normalize_vars:
            with np.errstate(divide="ignore", invalid="ignore"):
                features = features / features.std(axis=0)
    return {"input_features": features, "attention_mask": np.ones(features.shape[0], dtype=np.int32)}


# --------------------------------------------------------------------------------------- cases

KINDS = ("noise", "tones", "burst", "speech")
KALDI_LENGTHS = (401, 560, 4960, 7001, 16000, 16001, 16160)  # 401: one frame and a sample; 4960 = 31 hops
MEL_LENGTHS = (257, 401, 560, 4800, 4960, 7001, 16000, 16001, 16160)  # 257 = n_fft // 2 + 1

CASES = [
    # (name, port, reference, config, sampling rate, lengths, lengths the reference refuses)
    ("fun_asr_nano", ports.fun_asr_nano, ref_fun_asr_nano, {}, 16000, KALDI_LENGTHS, (399,)),
    (
        "fun_asr_nano",
        ports.fun_asr_nano,
        ref_fun_asr_nano,
        {"feature_size": 40, "num_frames_lfr": 5, "stride_lfr": 3, "window": "hanning"},
        16000,
        KALDI_LENGTHS,
        (),
    ),
    (
        "fun_asr_nano",
        ports.fun_asr_nano,
        ref_fun_asr_nano,
        {"num_frames_lfr": 4, "stride_lfr": 1, "window": "povey", "frame_length": 20, "frame_shift": 8},
        16000,
        KALDI_LENGTHS,
        (),
    ),
    (
        "fun_asr_nano",
        ports.fun_asr_nano,
        ref_fun_asr_nano,
        {"sampling_rate": 8000, "feature_size": 23, "num_frames_lfr": 3, "stride_lfr": 2, "window": "blackman"},
        8000,
        (201, 4000, 8001),
        (199,),
    ),
    (
        "fun_asr_nano",
        ports.fun_asr_nano,
        ref_fun_asr_nano,
        {"window": "rectangular", "num_frames_lfr": 1, "stride_lfr": 1},
        16000,
        (401, 16001),
        (),
    ),
    ("granite_speech", ports.granite_speech, ref_granite_speech, {}, 16000, MEL_LENGTHS, (256,)),
    (
        "granite_speech",
        ports.granite_speech,
        ref_granite_speech,
        {
            "hop_length": 128,
            "n_mels": 64,
            "win_length": 512,
            "projector_window_size": 10,
            "projector_downsample_rate": 2,
        },
        16000,
        MEL_LENGTHS,
        (),
    ),
    (
        "granite_speech",
        ports.granite_speech,
        ref_granite_speech,
        {"sampling_rate": 8000, "n_fft": 256, "win_length": 200, "hop_length": 80, "n_mels": 40},
        8000,
        (129, 4000, 4080, 8001),
        (128,),
    ),
    ("granite_speech5", ports.granite_speech5, ref_granite_speech5, {}, 16000, MEL_LENGTHS, (200, 256)),
    (
        "granite_speech5",
        ports.granite_speech5,
        ref_granite_speech5,
        {"hop_length": 100, "num_mel_bins": 64, "delta_win_length": 5, "logmel_floor_db": 6.0},
        16000,
        MEL_LENGTHS + (300, 16100),  # 300 and 16100: odd multiples of the hop, padded by a sample
        (),
    ),
    (
        "granite_speech5",
        ports.granite_speech5,
        ref_granite_speech5,
        {"delta_win_length": 4, "n_fft": 400, "win_length": 320},
        16000,
        (480, 4960, 16001),
        (),
    ),
    ("speech_to_text", ports.speech_to_text, ref_speech_to_text, {}, 16000, KALDI_LENGTHS, (399,)),
    (
        "speech_to_text",
        ports.speech_to_text,
        ref_speech_to_text,
        {"num_mel_bins": 40, "feature_size": 40, "normalize_vars": False},
        16000,
        KALDI_LENGTHS,
        (),
    ),
    ("speech_to_text", ports.speech_to_text, ref_speech_to_text, {"normalize_means": False}, 16000, (401, 16001), ()),
    (
        "speech_to_text",
        ports.speech_to_text,
        ref_speech_to_text,
        {"do_ceptral_normalize": False, "sampling_rate": 8000},
        8000,
        (200, 4001),
        (199,),
    ),
]


def compare(got, want):
    """(structure equal, max abs difference of the features, largest finite reference feature).

    NaNs and infinities (CMVN of a constant bin) must sit at the same places with the same values.
    """
    same = got.keys() == want.keys()
    diff, scale = 0.0, 0.0
    for key in want:
        g, w = got.get(key), np.asarray(want[key])
        if key == "input_features":
            same &= g.shape == w.shape
            if g.shape == w.shape and g.size:
                finite = np.isfinite(w)
                same &= bool(np.array_equal(g[~finite], w[~finite].astype(np.float64), equal_nan=True))
                if finite.any():
                    diff = float(np.abs(g[finite] - w[finite].astype(np.float64)).max())
                    scale = float(np.abs(w[finite]).max())
        else:
            same &= np.asarray(g).dtype == w.dtype and np.array_equal(g, w)
    return same, diff, scale


def raises(function, *args, **kwargs):
    """Whether the call raises (torch raises AssertionError, RuntimeError, ...; the ports ValueError)."""
    try:
        function(*args, **kwargs)
    except Exception:
        return True
    return False


def main():
    if torch is None:
        sys.exit("needs torch, torchaudio and transformers: run it with /work/torchvenv/bin/python")
    logging.set_verbosity_error()
    warnings.filterwarnings("ignore", "(invalid value|divide by zero)", RuntimeWarning)  # CMVN of a constant bin
    failures, worst = 0, {}
    for name, port, reference, config, sr, lengths, refused in CASES:
        print(f"\n{name} {config or '(defaults)'}")
        for i, n in enumerate(lengths):
            kinds = KINDS if n in (16000, 16001) else (KINDS[i % len(KINDS)],)
            for kind in kinds:
                x = clip(kind, n, sr, seed=i)
                got = port(x, **config)
                same64, d64, scale = compare(got, reference(config, x, sr, f64=True))
                same32, d32, _ = compare(got, reference(config, x, sr, f64=False))
                ok = same64 and same32 and d64 <= F64_TOL * max(1.0, scale)
                failures += not ok
                w = worst.setdefault(name, np.zeros(4))
                w[:] = np.maximum(w, [d64, d64 / max(1.0, scale), d32, d32 / max(1.0, scale)])
                shape = got["input_features"].shape
                print(
                    f"  {kind:6s} n={n:5d} {str(shape):11s} shapes+masks {'same' if same64 and same32 else 'DIFFER'}"
                    f"  f64 {d64:.1e}  f32 {d32:.1e}  (max |feature| {scale:.3g}){'' if ok else '  <-- FAIL'}"
                )
        for n in refused:
            x = clip("noise", n, sr)
            raised = [raises(reference, config, x, sr, f64=False), raises(port, x, **config)]
            failures += raised != [True, True]
            print(f"  n={n}: reference raises {raised[0]}, port raises {raised[1]}")
    # Digital silence: every bin is constant, CMVN divides a rounding residue by a zero std.  The sign of the
    # resulting infinities is round-off (the float32 reference gives -inf, float64 +inf); both must be non-finite.
    x = clip("zeros", 16000, 16000)
    got, want = ports.speech_to_text(x), ref_speech_to_text({}, x, 16000, f64=False)
    same = got["input_features"].shape == want["input_features"].shape and not (
        np.isfinite(got["input_features"]).any() or np.isfinite(want["input_features"]).any()
    )
    same &= np.array_equal(got["attention_mask"], want["attention_mask"])
    failures += not same
    print(f"\nspeech_to_text on digital silence: both entirely non-finite, masks equal: {same}")
    print("\nmax difference per extractor: f64 abs, f64 / max(1, |feature|), f32 abs, f32 / max(1, |feature|)")
    for name, w in worst.items():
        print(f"  {name:16s} " + "  ".join(f"{v:.1e}" for v in w))
    print(f"\n{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
