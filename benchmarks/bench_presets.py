#!/usr/bin/env python
"""Throughput of melplug's presets against their reference front-ends, in the same run on the same input.

Every preset is timed against the library it reproduces and
against a bare-FFT bound, on the same float32 clips: speech-like signals
(glottal pulse trains through vowel formants, fricative noise, pauses, a
-60 dB noise floor) from a fixed seed, generated once and read by every
contestant.  Each contestant runs in its own subprocess (thread pools, JIT
caches and patched modules must not leak from one into another); each
measurement is the median of ``--repeats`` timed repeats after a warm-up, a
repeat running the call enough times to last ``--min-time`` seconds.
Throughput is audio seconds per wall second; every clip is as long as the
workload says (whisper's are 30 s, so no padding is counted as audio).

Presets and contestants (``kind``: numpy/C++ reference, torch-based reference, bound)
    whisper   32 clips x 30 s at 16 kHz
              melplug              ``melplug.preset("whisper")(clips)``: the list, one parallel call
              transformers         ``WhisperFeatureExtractor()(clips, sampling_rate=16000, return_tensors="np")``,
                                   its numpy path (forced when torch is importable)
              transformers-torch   the same call on its torch path                      (torch only)
              torch-stft           Whisper's front-end in torch: ``torch.stft`` of the clips padded to
                                   30 s, mel matmul, log10, max - 8 floor, (x + 4) / 4  (torch only)
    kaldi     64 clips x 5 s
              melplug              ``melplug.preset("kaldi")(clips)``
              kaldi-native-fbank   ``OnlineFbank(FbankOptions())``, dither 0, one object per clip fed
                                   ``accept_waveform(sr, clip.tolist())`` (faster than a numpy array,
                                   which pybind converts element by element); it holds the GIL, so
                                   threads do not help it
              torchaudio           ``torchaudio.compliance.kaldi.fbank`` per clip        (torch only)
    ast       16 clips x 10 s
              melplug              ``melplug.preset("ast")(clips)``
              kaldi-native-fbank   a C++ stand-in: ``window_type="hanning"``, **80** bins (Kaldi refuses
                                   128 at 16 kHz: one band is empty), rows padded/cut to 1024, AST's
                                   scaling; compared with ``melplug.preset("ast", num_mel_bins=80)``.
                                   The real reference, transformers' ``ASTFeatureExtractor``, needs torch
                                   and torchaudio:
              torchaudio           ``ASTFeatureExtractor()(clips, ...)`` on its torchaudio path  (torch only)
    w2v-bert  16 clips x 10 s
              melplug              ``melplug.preset("w2v-bert")(clips)``
              transformers         ``SeamlessM4TFeatureExtractor()(clips, sampling_rate=16000,
                                   return_tensors="np")`` (numpy whether or not torch imports)
    librosa   16 clips x 10 s at 22.05 kHz
              melplug              ``melplug.preset("librosa")(clips)``
              librosa              ``librosa.feature.melspectrogram(y=batch, sr=22050)`` on the 2-D batch
                                   (its fastest form; the numbers are per clip either way)
    librosa-mfcc  the librosa clips
              melplug              ``melplug.preset("librosa-mfcc")(clips)``
              librosa              ``librosa.feature.mfcc(y=clip, sr=22050)`` per clip, as its fastest
                                   form: one batched ``melspectrogram``, then per clip ``mfcc(S=power_to_db(mel))``
                                   (its top_db floor is per call: a batch call would floor every clip at the
                                   batch's maximum; a loop of ``mfcc(y=clip)`` calls is ~2x slower)
    torchaudio  16 clips x 10 s at 16 kHz
              melplug              ``melplug.preset("torchaudio")(clips)``
              torchaudio           ``torchaudio.transforms.MelSpectrogram()(batch)``, torch on every core
                                                                                        (torch only)
    kaldi-mfcc  the kaldi clips
              melplug              ``melplug.preset("kaldi-mfcc")(clips)``
              kaldi-native-fbank   ``OnlineMfcc(MfccOptions())``, dither 0, per clip (as for kaldi)
              torchaudio           ``torchaudio.compliance.kaldi.mfcc(use_energy=True, energy_floor=0)`` per
                                   clip (Kaldi's MfccOptions defaults)                  (torch only)
    keras     workload B of ``bench_mel.py`` (16 x 10 s of noise, Keras defaults), melplug and the rfft
              bound only: a no-regression check; Keras and the other peers are in ``bench_mel.py``.
    every preset  rfft-bound  ``scipy.fft.rfft(frames, workers=cores)`` of the preset's frames, framed,
                              windowed and zero-padded to its FFT size beforehand (float32; whisper: 400
                              samples -> FFT 400, the Kaldi presets 400 -> 512); only the FFT is timed.

The numpy/C++ references run on one core (transformers loops over frames in
NumPy; kaldi-native-fbank holds the GIL) while melplug and the bound use all
of them: the end-to-end section compares them on equal cores.

End to end
    ``melplug.hf.MelSpectrogram(extractor="whisper").map(ds, num_proc=N)`` against
    ``ds.map(<WhisperFeatureExtractor call>, batched=True, num_proc=N)`` on the same in-memory
    dataset (32 rows x 30 s, ``with_format("numpy")``), each in a fresh process: the first map
    (kernels and modules not yet used by the parent process), then the median of warm maps
    (the parent has called the extractor once, so forked workers inherit it).

Cold start (fresh processes, ``NUMBA_CACHE_DIR`` = a new temporary directory)
    Empty cache: the first call of ``preset("kaldi")`` (a list and a 1-D clip), float32 and
    float64 each in its own process and cache: the compile time per dtype.  Then, on the cache
    the float32 process filled (kaldi only), a fresh process calls ``preset("kaldi")``, then
    ``preset("whisper")`` and the other selected presets: each first call's time, and what
    Numba compiled (``stats.cache_misses`` of every melplug kernel, ``_kernels._mel_units``
    named); options are plan values, so the answer must be nothing.

Usage::

    python benchmarks/bench_presets.py --json presets.json          # full run (a quiet machine)
    python benchmarks/bench_presets.py --quick                      # smoke test: tiny sizes, seconds
    python benchmarks/bench_presets.py --presets whisper,kaldi --repeats 7 --no-cold
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import _timing
import numpy as np
from _timing import MARKER, cores, error_text, fmt_num, measure, parse_list, print_machine

SAMPLING_RATE = 16000
LIBROSA_RATE = 22050
SEED = 20250301
#: Packages whose versions the report prints.
VERSIONED = (
    "melplug",
    "numba",
    "llvmlite",
    "rocket-fft",
    "numpy",
    "scipy",
    "transformers",
    "kaldi-native-fbank",
    "datasets",
    "torch",
    "torchaudio",
    "librosa",
)
TORCH_NOTE = "torch is not installed (optional; the [bench] extra pins torch==2.13.0)"

#: The targets set for the presets (same-run ratios).
TARGET_NUMPY_REF = 5.0  # >= 5x the fastest numpy/C++ reference
TARGET_TORCH_REF = 2.0  # >= 2x torch-based paths
TARGET_BOUND = 0.6  # >= 0.6x the rfft bound
TARGET_COMPILE_S = 6.0  # cold compile per dtype
#: The kernels after phase 1 (melplug._kernels._phases): each compiled where a call first needs it.
FINISHING_KERNELS = ("_finish", "_finish_cepstra", "_finish_normalize", "_finish_expand")
TARGET_MFCC_COST = 1.2  # an MFCC preset costs <= 1.2x its mel preset
#: MFCC presets and their mel presets (same clips, so the cost ratio is like for like).
MFCC_OF = {"librosa-mfcc": "librosa", "kaldi-mfcc": "kaldi"}

#: AST's defaults in transformers' ASTFeatureExtractor (AudioSet statistics, 1024 rows).
AST_MEAN, AST_STD, AST_ROWS = -4.2677393, 4.5689974, 1024


@dataclass(frozen=True)
class Case:
    """One preset's workload: ``clips`` equal-length clips of ``seconds`` (``quick_*`` for ``--quick``)."""

    preset: str
    clips: int
    seconds: float
    quick_clips: int
    quick_seconds: float
    units: str
    reference: str
    rate: int = SAMPLING_RATE
    input: str = ""  # another case whose clips this one reads ("": its own)

    def shape(self, quick: bool) -> tuple[int, int]:
        clips, seconds = (self.quick_clips, self.quick_seconds) if quick else (self.clips, self.seconds)
        return clips, int(round(seconds * self.rate))

    def audio_seconds(self, quick: bool) -> float:
        clips, n = self.shape(quick)
        return clips * n / self.rate


CASES = {
    "whisper": Case(
        "whisper", 32, 30.0, 2, 30.0, "(log10 mel + 4) / 4", "transformers WhisperFeatureExtractor, numpy path"
    ),
    "kaldi": Case("kaldi", 64, 5.0, 4, 1.0, "ln mel power", "kaldi-native-fbank OnlineFbank, dither 0"),
    "ast": Case(
        "ast", 16, 10.0, 2, 2.0, "AST-scaled ln mel", "transformers ASTFeatureExtractor, torchaudio path (torch only)"
    ),
    "w2v-bert": Case(
        "w2v-bert", 16, 10.0, 2, 2.0, "per-bin normalised ln mel", "transformers SeamlessM4TFeatureExtractor"
    ),
    "librosa": Case(
        "librosa",
        16,
        10.0,
        2,
        2.0,
        "mel power (relative to the clip max)",
        "librosa.feature.melspectrogram",
        rate=LIBROSA_RATE,
    ),
    "torchaudio": Case(
        "torchaudio",
        16,
        10.0,
        2,
        2.0,
        "mel power (relative to the clip max)",
        "torchaudio.transforms.MelSpectrogram (torch only)",
    ),
    "librosa-mfcc": Case(
        "librosa-mfcc", 16, 10.0, 2, 2.0, "dB cepstra", "librosa.feature.mfcc", rate=LIBROSA_RATE, input="librosa"
    ),
    "kaldi-mfcc": Case(
        "kaldi-mfcc", 64, 5.0, 4, 1.0, "ln cepstra", "kaldi-native-fbank OnlineMfcc, dither 0", input="kaldi"
    ),
    # Workload B of bench_mel.py, on its noise input: shape and seconds are read from there.
    "keras": Case("keras", 0, 0.0, 0, 0.0, "dB", "keras.layers.MelSpectrogram: see bench_mel.py"),
}
#: The end-to-end Dataset.map workload (whisper).
E2E_ROWS, E2E_QUICK_ROWS, E2E_SECONDS = 32, 4, 30.0


# =========================================================================== input


def speech_like(n: int, rng: np.random.Generator, sr: int = SAMPLING_RATE) -> np.ndarray:
    """``n`` float32 samples at ``sr`` Hz that look like speech to a filter bank.

    Syllables of 80-300 ms, each a vowel (a glottal pulse train with a
    drifting f0 of 90-220 Hz through three formant resonators) or a
    fricative (high-passed noise), with gaps, longer pauses every few
    syllables and a noise floor 60 dB below the peak (so the signal stays
    within ~70 dB, where float32 round-off is below the references' own
    disagreement).
    """
    from scipy.signal import lfilter

    vowels = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410))
    knots = rng.uniform(90.0, 220.0, size=n // (sr // 4) + 2)
    f0 = np.interp(np.arange(n), np.linspace(0, n, len(knots)), knots)
    pulses = np.diff(np.floor(np.cumsum(f0 / sr)), prepend=0.0)
    source = lfilter([1.0], [1.0, -0.9], pulses)  # glottal roll-off
    out = np.zeros(n)
    i, syllable = 0, 0
    while i < n:
        length = min(int(rng.uniform(0.08, 0.3) * sr), n - i)
        envelope = np.hanning(length + 2)[1:-1] ** 0.5
        if rng.random() < 0.75:
            seg = source[i : i + length]
            for f, bw in zip(vowels[rng.integers(len(vowels))], (80.0, 100.0, 150.0), strict=True):
                r = np.exp(-np.pi * bw / sr)
                seg = lfilter([1.0 - r], [1.0, -2.0 * r * np.cos(2.0 * np.pi * f / sr), r * r], seg)
            seg = seg / (np.abs(seg).max() + 1e-12)
        else:
            seg = 0.3 * np.diff(rng.standard_normal(length + 1))  # fricative: high-passed noise
        out[i : i + length] = seg * envelope * rng.uniform(0.3, 1.0)
        syllable += 1
        gap = rng.uniform(0.3, 0.8) if syllable % int(rng.integers(4, 9)) == 0 else rng.uniform(0.02, 0.12)
        i += length + int(gap * sr)
    out /= np.abs(out).max() + 1e-12
    out += 1e-3 * rng.standard_normal(n)
    return (0.5 * out).astype(np.float32)


def make_clips(count: int, n: int, salt: int, sr: int = SAMPLING_RATE) -> np.ndarray:
    """``(count, n)`` float32 speech-like clips at ``sr``; clip ``i`` depends only on (SEED, salt, i, n, sr)."""
    out = np.empty((count, n), dtype=np.float32)
    for i in range(count):
        out[i] = speech_like(n, np.random.default_rng([SEED, salt, i]), sr)
    return out


def input_path(data_dir: str, name: str) -> str:
    return os.path.join(data_dir, f"input_{name}.npy")


def load_clips(data_dir: str, name: str) -> list[np.ndarray]:
    """The clips of preset ``name`` as a list of contiguous 1-D float32 rows (views of one array)."""
    case = CASES.get(name)
    return list(np.load(input_path(data_dir, case.input or name if case else name)))


# =========================================================================== contestants (run in workers)


def _melplug(preset, clips, ncores):
    import melplug

    fx = melplug.preset(preset)
    return lambda: fx(clips)


def _force_numpy_path(module: str) -> None:
    """transformers takes its torch path whenever torch imports; the numpy path is the reference."""
    import importlib

    importlib.import_module(module).is_torch_available = lambda: False


def _transformers(preset, clips, ncores):
    if preset == "whisper":
        from transformers import WhisperFeatureExtractor

        _force_numpy_path(WhisperFeatureExtractor.__module__)
        fe = WhisperFeatureExtractor()
    else:
        from transformers import SeamlessM4TFeatureExtractor

        fe = SeamlessM4TFeatureExtractor()
    return lambda: fe(clips, sampling_rate=SAMPLING_RATE, return_tensors="np")["input_features"]


def _transformers_torch(preset, clips, ncores):
    import torch
    from transformers import WhisperFeatureExtractor

    torch.set_num_threads(ncores)
    fe = WhisperFeatureExtractor()
    return lambda: fe(clips, sampling_rate=SAMPLING_RATE, return_tensors="np")["input_features"]


def _torch_stft(preset, clips, ncores):
    import torch
    from transformers import WhisperFeatureExtractor

    torch.set_num_threads(ncores)
    fe = WhisperFeatureExtractor()  # for its constants and mel matrix only
    n, n_fft, hop = fe.n_samples, fe.n_fft, fe.hop_length
    filters = torch.from_numpy(np.ascontiguousarray(fe.mel_filters.T, dtype=np.float32))
    window = torch.hann_window(n_fft)

    def run():
        with torch.inference_mode():
            x = torch.from_numpy(np.stack([np.pad(c[:n], (0, max(0, n - len(c)))) for c in clips]))
            stft = torch.stft(x, n_fft, hop, window=window, return_complex=True)
            log_spec = torch.clamp(filters @ (stft[..., :-1].abs() ** 2), min=1e-10).log10()
            log_spec = torch.maximum(log_spec, log_spec.amax(dim=(-2, -1), keepdim=True) - 8.0)
            return ((log_spec + 4.0) / 4.0).numpy()

    return run


def _knf_fbank(opts, clips, online=None) -> list[np.ndarray]:
    """kaldi-native-fbank's features of each clip: ``online`` (default ``OnlineFbank``) fed the whole clip."""
    import kaldi_native_fbank as knf

    online = online or knf.OnlineFbank
    out = []
    for clip in clips:
        features = online(opts)
        features.accept_waveform(SAMPLING_RATE, clip.tolist())
        features.input_finished()
        out.append(np.stack([features.get_frame(i) for i in range(features.num_frames_ready)]))
    return out


def _kaldi_native_fbank(preset, clips, ncores):
    import kaldi_native_fbank as knf

    if preset == "kaldi-mfcc":
        return _knf_mfcc(preset, clips, ncores)
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    if preset == "kaldi":
        return lambda: _knf_fbank(opts, clips)
    # ast stand-in: AST's Kaldi steps (hanning window) at 80 bins, rows padded/cut to 1024, AST's scaling.
    opts.frame_opts.window_type = "hanning"
    opts.mel_opts.num_bins = 80

    def run():
        out = []
        for f in _knf_fbank(opts, clips):
            f = np.pad(f, ((0, max(0, AST_ROWS - len(f))), (0, 0)))[:AST_ROWS]
            out.append((f - AST_MEAN) / (2.0 * AST_STD))
        return out

    return run


def _torchaudio(preset, clips, ncores):
    import torch

    if preset in ("torchaudio", "kaldi-mfcc"):
        return _torchaudio_transforms(preset, clips, ncores)
    torch.set_num_threads(ncores)
    if preset == "kaldi":
        import torchaudio.compliance.kaldi as ta_kaldi

        def run():
            with torch.inference_mode():
                return [
                    ta_kaldi.fbank(torch.from_numpy(c)[None], dither=0.0, sample_frequency=SAMPLING_RATE).numpy()
                    for c in clips
                ]

        return run
    from transformers import ASTFeatureExtractor
    from transformers.utils import is_speech_available

    if not is_speech_available():
        raise ImportError("torchaudio is not importable: ASTFeatureExtractor would run its numpy port instead")
    fe = ASTFeatureExtractor()
    return lambda: fe(clips, sampling_rate=SAMPLING_RATE, return_tensors="np")["input_values"]


def _knf_mfcc(preset, clips, ncores):
    import kaldi_native_fbank as knf

    opts = knf.MfccOptions()
    opts.frame_opts.dither = 0.0
    return lambda: _knf_fbank(opts, clips, knf.OnlineMfcc)


def _librosa(preset, clips, ncores):
    import librosa

    batch = np.stack(clips)
    if preset == "librosa":
        return lambda: librosa.feature.melspectrogram(y=batch, sr=LIBROSA_RATE)

    def run():  # librosa.feature.mfcc(y=clip) per clip, with the mel spectrograms of one batched call
        mels = librosa.feature.melspectrogram(y=batch, sr=LIBROSA_RATE)
        return [librosa.feature.mfcc(S=librosa.power_to_db(m), sr=LIBROSA_RATE) for m in mels]

    return run


def _torchaudio_transforms(preset, clips, ncores):
    import warnings

    import torch

    torch.set_num_threads(ncores)
    if preset == "kaldi-mfcc":
        import torchaudio.compliance.kaldi as ta_kaldi

        def run():
            with torch.inference_mode():
                return [
                    ta_kaldi.mfcc(
                        torch.from_numpy(c)[None],
                        dither=0.0,
                        sample_frequency=SAMPLING_RATE,
                        use_energy=True,  # Kaldi's MfccOptions default (torchaudio's is False)
                        energy_floor=0.0,  # likewise (torchaudio's is 1.0)
                    ).numpy()
                    for c in clips
                ]

        return run
    import torchaudio

    with warnings.catch_warnings():  # 4 of 128 bands are empty at 16 kHz: torchaudio warns
        warnings.simplefilter("ignore")
        transform = torchaudio.transforms.MelSpectrogram(sample_rate=SAMPLING_RATE)
    batch = torch.from_numpy(np.stack(clips))

    def run():
        with torch.inference_mode():
            return transform(batch).numpy()

    return run


def _rfft_bound(preset, clips, ncores):
    """The preset's frames, framed, windowed and zero-padded beforehand (from its plan); only the FFT is timed."""
    import scipy.fft

    import melplug
    from melplug import _geometry

    fx = melplug.preset(preset)
    plan = fx.plan
    x = np.stack(clips)
    n = x.shape[1]
    if plan.input_length:  # whisper: pad or cut to 30 s first
        x = np.pad(x[:, : plan.input_length], ((0, 0), (0, max(0, plan.input_length - n))))
    if plan.pad:
        x = np.pad(x, ((0, 0), (plan.pad, plan.pad)), mode="constant" if plan.pad_mode == 1 else "reflect")
    computed = int(_geometry.plan_frames(plan, n)[0])
    length = plan.frame_length
    # where the frame sits in the FFT buffer: at its start (Kaldi) or centred
    start = 0 if fx.get_config()["window_position"] == "start" else (plan.fft_length - length) // 2
    frames = np.lib.stride_tricks.sliding_window_view(x, length, axis=-1)[:, :: plan.hop_length][:, :computed]
    buf = np.zeros((x.shape[0] * computed, plan.fft_length), dtype=np.float32)
    buf[:, start : start + length] = frames.reshape(-1, length) * plan.window[start : start + length]
    return lambda: scipy.fft.rfft(buf, axis=-1, workers=ncores)


@dataclass(frozen=True)
class Contestant:
    """A contestant: its kind, the modules it needs, and a setup per preset (``setup(preset, clips, cores)``)."""

    name: str
    kind: str  # "melplug", "numpy/C++", "torch" or "bound"
    requires: tuple[str, ...]
    presets: tuple[str, ...]
    setup: object


ALL = ("whisper", "kaldi", "ast", "w2v-bert", "librosa", "torchaudio", "librosa-mfcc", "kaldi-mfcc", "keras")
CONTESTANTS = {
    c.name: c
    for c in (
        Contestant("melplug", "melplug", ("melplug",), ALL, _melplug),
        Contestant("transformers", "numpy/C++", ("transformers",), ("whisper", "w2v-bert"), _transformers),
        Contestant(
            "kaldi-native-fbank",
            "numpy/C++",
            ("kaldi_native_fbank",),
            ("kaldi", "ast", "kaldi-mfcc"),
            _kaldi_native_fbank,
        ),
        Contestant("librosa", "numpy/C++", ("librosa",), ("librosa", "librosa-mfcc"), _librosa),
        Contestant("transformers-torch", "torch", ("transformers", "torch"), ("whisper",), _transformers_torch),
        Contestant("torch-stft", "torch", ("transformers", "torch"), ("whisper",), _torch_stft),
        Contestant(
            "torchaudio", "torch", ("torch", "torchaudio"), ("kaldi", "ast", "torchaudio", "kaldi-mfcc"), _torchaudio
        ),
        Contestant("rfft-bound", "bound", ("scipy",), ALL, _rfft_bound),
    )
}
#: Presets whose output is linear power: their differences are reported relative to the reference's maximum.
LINEAR = ("librosa", "torchaudio")
#: References compared with a variant of the preset (melplug computes it on the same clips after timing).
COMPARE_OVERRIDES = {("ast", "kaldi-native-fbank"): {"num_mel_bins": 80}}
#: Shown next to a contestant's row for a preset.
ROW_NOTES = {
    ("ast", "kaldi-native-fbank"): "stand-in: hanning, 80 bins (vs melplug at 80 bins)",
    ("keras", "melplug"): "bench_mel.py workload B",
}


def _as_array(out) -> np.ndarray:
    if isinstance(out, (list, tuple)):
        return np.stack([np.asarray(o) for o in out])
    return out.numpy() if hasattr(out, "numpy") else np.asarray(out)


def _keras_setup(contestant: str, quick: bool, ncores: int):
    """melplug or the rfft bound on bench_mel.py's workload B (its own input), through its own setups."""
    import bench_mel

    workload = bench_mel.WORKLOADS["B"]
    setup = bench_mel.SETUP["melplug" if contestant == "melplug" else bench_mel.BOUND]
    return setup(workload, bench_mel.make_input(workload, quick), ncores)


def worker(contestant: str, presets: list[str], args) -> dict:
    """Time one contestant on some presets in this process; save its outputs for the comparison."""
    ncores = cores()
    spec = CONTESTANTS[contestant]
    results = {}
    for preset in presets:
        try:
            if preset == "keras":
                fn = _keras_setup(contestant, args.quick, ncores)
            else:
                clips = load_clips(args.data_dir, preset)
                fn = spec.setup(preset, clips, ncores)
            t0 = time.perf_counter()
            fn()
            first = time.perf_counter() - t0
            r = measure(fn, args.repeats, args.warmup, args.min_time)
        except Exception as exc:  # noqa: BLE001 - any failure is reported as this contestant's row
            results[preset] = {"ok": False, "unavailable": isinstance(exc, ImportError), "error": error_text(exc)}
            continue
        out = _as_array(r.pop("out"))
        if preset != "keras" and spec.kind != "bound":
            np.save(os.path.join(args.data_dir, f"out_{contestant}_{preset}.npy"), out)
            if contestant == "melplug":
                import melplug

                for (p, other), overrides in COMPARE_OVERRIDES.items():
                    if p == preset:
                        variant = _as_array(melplug.preset(preset, **overrides)(clips))
                        np.save(os.path.join(args.data_dir, f"out_melplug_for_{other}_{preset}.npy"), variant)
        results[preset] = dict(
            r, ok=True, first_call_s=first, shape=list(out.shape), dtype=str(out.dtype), threads=ncores
        )
    return results


# =========================================================================== end to end (workers)


def worker_e2e(contestant: str, args) -> dict:
    """Whisper features of an in-memory dataset through ``Dataset.map(num_proc=N)``: first map, then warm maps."""
    import datasets

    datasets.disable_progress_bars()
    clips = np.load(input_path(args.data_dir, "e2e"))
    ds = datasets.Dataset.from_dict({"audio": list(clips)}).with_format("numpy")
    num_proc = args.num_proc
    if contestant == "melplug":
        import melplug.hf

        mel = melplug.hf.MelSpectrogram(extractor="whisper")

        def run():
            return mel.map(ds, num_proc=num_proc, remove_columns=["audio"])

        def warm_parent():
            mel.mel(clips[0])

    else:
        from transformers import WhisperFeatureExtractor

        _force_numpy_path(WhisperFeatureExtractor.__module__)
        fe = WhisperFeatureExtractor()

        def extract(batch):
            return {
                "input_features": fe(batch["audio"], sampling_rate=SAMPLING_RATE, return_tensors="np")["input_features"]
            }

        def run():
            return ds.map(extract, batched=True, num_proc=num_proc, remove_columns=["audio"])

        def warm_parent():
            fe(clips[:1], sampling_rate=SAMPLING_RATE, return_tensors="np")

    t0 = time.perf_counter()
    out = run()
    first = time.perf_counter() - t0
    warm_parent()
    r = measure(run, args.repeats, args.warmup, 0.0)
    feats = np.asarray(out.with_format("numpy")["input_features"])
    np.save(os.path.join(args.data_dir, f"e2e_{contestant}.npy"), feats)
    return {
        "ok": True,
        "first_map_s": first,
        "seconds": r["seconds"],
        "times": r["times"],
        "rows": len(clips),
        "num_proc": num_proc,
        "shape": list(feats.shape),
    }


# =========================================================================== cold start (workers)


def _melplug_dispatchers() -> dict:
    """Every Numba dispatcher in melplug's loaded modules, by qualified name."""
    from numba.core.dispatcher import Dispatcher

    found, seen = {}, set()
    for modname, module in sorted(sys.modules.items()):
        if modname != "melplug" and not modname.startswith("melplug."):
            continue
        for name, obj in sorted(vars(module).items()):
            if isinstance(obj, Dispatcher) and id(obj) not in seen:
                seen.add(id(obj))
                found[f"{modname}.{name}"] = obj
    return found


def _cache_misses() -> dict:
    """``{kernel: [signatures compiled in this process because the disk cache missed]}``, non-empty only.

    Kernels only: the steps only kernels call (link-only, without a disk cache
    of their own) compile with the kernel that runs them and are not counted.
    """
    return {
        k: sorted(map(str, d.stats.cache_misses))
        for k, d in _melplug_dispatchers().items()
        if d.stats.cache_misses and not d.targetoptions.get("no_cpython_wrapper")
    }


def worker_cold(mode: str, args) -> dict:
    """``compile-float32``/``compile-float64``: kaldi's first call on an empty cache; ``warm``: presets in order."""
    t0 = time.perf_counter()
    import melplug

    import_s = time.perf_counter() - t0
    clips = list(make_clips(2, SAMPLING_RATE, salt=99))
    if mode.startswith("compile"):
        dtype = np.float32 if mode == "compile-float32" else np.float64
        clips = [c.astype(dtype) for c in clips]
        t0 = time.perf_counter()
        fx = melplug.preset("kaldi")
        fx(clips)
        fx(clips[0])
        first = time.perf_counter() - t0
        return {"import_s": import_s, "first_call_s": first, "compiled": _cache_misses()}
    from melplug import _kernels

    calls = []
    for preset in args.presets.split(","):
        before = _cache_misses()
        loaded = {k for k, d in _melplug_dispatchers().items() if d.signatures}
        t0 = time.perf_counter()
        fx = melplug.preset(preset)
        fx(clips)
        fx(clips[0])
        first = time.perf_counter() - t0
        new = {
            k: {"signatures": [s for s in v if s not in before.get(k, ())], "first_use": k not in loaded}
            for k, v in _cache_misses().items()
            if v != before.get(k)
        }
        calls.append({"preset": preset, "first_call_s": first, "new_compiles": new})
    return {
        "import_s": import_s,
        "calls": calls,
        "mel_units_cache_misses": sorted(map(str, _kernels._mel_units.stats.cache_misses)),
        "mel_units_cache_hits": sorted(map(str, _kernels._mel_units.stats.cache_hits)),
    }


# =========================================================================== orchestration


def run_worker_process(argv: list[str], env_extra: dict, timeout: float) -> dict:
    return _timing.run_worker_process(__file__, argv, env_extra, timeout)


def common_worker_args(args) -> list[str]:
    argv = ["--repeats", str(args.repeats), "--warmup", str(args.warmup), "--min-time", str(args.min_time)]
    argv += ["--data-dir", args.data_dir, "--num-proc", str(args.num_proc)]
    return argv + (["--quick"] if args.quick else [])


def missing_modules(contestant: Contestant) -> list[str]:
    return [m for m in contestant.requires if importlib.util.find_spec(m) is None]


def run_contestants(args, presets: list[str]) -> dict:
    """``results[preset][contestant]``, each contestant in its own process(es); absent modules are not started."""
    results = {p: {} for p in presets}
    for name, spec in CONTESTANTS.items():
        mine = [p for p in presets if p in spec.presets]
        if not mine:
            continue
        missing = missing_modules(spec)
        if missing:
            error = TORCH_NOTE if "torch" in missing else f"{', '.join(missing)} not installed"
            for p in mine:
                results[p][name] = {"ok": False, "unavailable": True, "error": error}
            continue
        groups = [mine] if args.quick else [[p] for p in mine]
        for group in groups:
            t0 = time.perf_counter()
            got = run_worker_process(["--worker", name, ",".join(group), *common_worker_args(args)], {}, args.timeout)
            for p in group:
                results[p][name] = (
                    {"ok": False, "unavailable": False, "error": got["_error"]} if "_error" in got else got[p]
                )
            status = "ok" if all(results[p][name]["ok"] for p in group) else "failed/unavailable"
            print(
                f"  ran {name:<18} on {','.join(group):<26} {time.perf_counter() - t0:6.1f} s  {status}",
                file=sys.stderr,
                flush=True,
            )
    return results


def compare_outputs(results: dict, data_dir: str) -> None:
    """``max_abs_diff`` of each reference's output against melplug's, over all clips (float64)."""
    for preset, rows in results.items():
        for name, row in rows.items():
            path = os.path.join(data_dir, f"out_{name}_{preset}.npy")
            if name == "melplug" or not row.get("ok") or not os.path.exists(path):
                continue
            ours = os.path.join(data_dir, f"out_melplug_for_{name}_{preset}.npy")
            if not os.path.exists(ours):
                ours = os.path.join(data_dir, f"out_melplug_{preset}.npy")
            if not os.path.exists(ours):
                continue
            ref, got = np.load(ours).astype(np.float64), np.load(path).astype(np.float64)
            if ref.shape != got.shape:
                row["diff_note"] = f"shape {tuple(got.shape)} vs melplug {tuple(ref.shape)}"
                continue
            row["max_abs_diff"] = float(np.max(np.abs(got - ref)))
            if preset in LINEAR:  # linear power: relative to the largest value
                row["max_rel_diff"] = row["max_abs_diff"] / float(np.max(np.abs(ref)))


def audio_seconds(preset: str, quick: bool) -> float:
    if preset == "keras":
        import bench_mel

        return bench_mel.WORKLOADS["B"].audio_seconds(quick)
    return CASES[preset].audio_seconds(quick)


def derive_ratios(results: dict, quick: bool) -> dict:
    """Throughput and ratios to the fastest reference (of each kind) and the bound, per preset."""
    blocks = {}
    for preset, rows in results.items():
        audio_s = audio_seconds(preset, quick)
        for row in rows.values():
            if row.get("ok"):
                row["throughput"] = audio_s / row["seconds"]

        def fastest(kinds, rows=rows):
            ok = {c: r for c, r in rows.items() if r.get("ok") and CONTESTANTS[c].kind in kinds}
            return max(ok, key=lambda c: ok[c]["throughput"]) if ok else None

        best, best_np, best_torch = fastest(("numpy/C++", "torch")), fastest(("numpy/C++",)), fastest(("torch",))
        bound = rows.get("rfft-bound") if rows.get("rfft-bound", {}).get("ok") else None
        for name, row in rows.items():
            if not row.get("ok"):
                continue
            if best:
                row["vs_fastest_ref"] = row["throughput"] / rows[best]["throughput"]
            if bound:
                row["vs_bound"] = row["throughput"] / bound["throughput"]
            if name == "melplug":
                if best_np:
                    row["vs_fastest_numpy_ref"] = row["throughput"] / rows[best_np]["throughput"]
                if best_torch:
                    row["vs_fastest_torch_ref"] = row["throughput"] / rows[best_torch]["throughput"]
        blocks[preset] = {
            "rows": rows,
            "audio_seconds": audio_s,
            "fastest_ref": best,
            "fastest_numpy_ref": best_np,
            "fastest_torch_ref": best_torch,
        }
    return blocks


def preset_header(preset: str, quick: bool) -> str:
    if preset == "keras":
        import bench_mel

        w = bench_mel.WORKLOADS["B"]
        return (
            f"keras: bench_mel.py workload B ({w.title}) -- input {w.shape(quick)} float32 noise "
            f"({w.audio_seconds(quick):g} audio s); no-regression check, peers in bench_mel.py"
        )
    case = CASES[preset]
    shape = case.shape(quick)
    return (
        f"{preset}: {shape[0]} clips x {shape[1] / case.rate:g} s at {case.rate / 1000:g} kHz -- input "
        f"{shape} float32 speech-like ({case.audio_seconds(quick):g} audio s); reference: {case.reference}; "
        f"diffs in {case.units}"
    )


def print_tables(blocks: dict, quick: bool) -> None:
    for preset, block in blocks.items():
        rows = block["rows"]
        print()
        print(preset_header(preset, quick))
        print(
            f"  {'contestant':<18} {'kind':<9} {'audio s/s':>11} {'ms/call':>10} {'x fastest ref':>14} "
            f"{'x rfft bound':>13}  {'output':<14} max|diff| vs melplug"
        )
        for name, row in rows.items():
            kind = CONTESTANTS[name].kind
            if not row.get("ok"):
                status = "unavailable" if row.get("unavailable") else "failed"
                print(f"  {name:<18} {kind:<9} {status}: {row.get('error', '')}")
                continue
            # three significant digits: a slow reference against the bound is 0.002x, not "0.00x"
            ref = f"{row['vs_fastest_ref']:.3g}x" if "vs_fastest_ref" in row else "-"
            bound = f"{row['vs_bound']:.3g}x" if "vs_bound" in row else "-"
            if kind == "bound":
                bound = "(bound)"
            if "max_rel_diff" in row:
                diff = f"{row['max_rel_diff']:.2g} of the max"
            elif "max_abs_diff" in row:
                diff = f"{row['max_abs_diff']:.2g}"
            else:
                diff = row.get("diff_note", "(reference)" if name == "melplug" and preset != "keras" else "-")
            note = ROW_NOTES.get((preset, name))
            if note:
                diff += f"  [{note}]"
            shape = "x".join(str(s) for s in row["shape"])
            print(
                f"  {name:<18} {kind:<9} {fmt_num(row['throughput']):>11} {row['seconds'] * 1e3:>10.2f} "
                f"{ref:>14} {bound:>13}  {shape:<14} {diff}"
            )
        if block["fastest_ref"]:
            print(f"  fastest reference: {block['fastest_ref']}; ratios are throughput / its throughput")


def run_e2e(args) -> dict:
    """Both Dataset.map contestants, each in a fresh process, on the same in-memory dataset."""
    out = {}
    for name in ("melplug", "transformers"):
        if importlib.util.find_spec(name) is None:
            out[name] = {"ok": False, "error": f"{name} is not installed"}
            continue
        t0 = time.perf_counter()
        got = run_worker_process(["--worker-e2e", name, *common_worker_args(args)], {}, args.timeout)
        out[name] = {"ok": False, "error": got["_error"]} if "_error" in got else got
        print(f"  ran e2e {name:<14} {time.perf_counter() - t0:6.1f} s", file=sys.stderr, flush=True)
    for row in out.values():
        if row.get("ok"):
            row["rows_per_s"] = row["rows"] / row["seconds"]
            row["audio_s_per_s"] = row["rows"] * E2E_SECONDS / row["seconds"]
    ours, ref = out.get("melplug", {}), out.get("transformers", {})
    if ours.get("ok") and ref.get("ok"):
        ours["vs_transformers"] = ref["seconds"] / ours["seconds"]
        ours["first_vs_transformers"] = ref["first_map_s"] / ours["first_map_s"]
        a = np.load(os.path.join(args.data_dir, "e2e_melplug.npy")).astype(np.float64)
        b = np.load(os.path.join(args.data_dir, "e2e_transformers.npy")).astype(np.float64)
        ref["max_abs_diff"] = float(np.max(np.abs(a - b))) if a.shape == b.shape else None
    return out


def print_e2e(e2e: dict, args) -> None:
    rows = E2E_QUICK_ROWS if args.quick else E2E_ROWS
    print()
    print(
        f"End to end: whisper features in datasets.Dataset.map, {rows} rows x {E2E_SECONDS:g} s in memory "
        f'(with_format("numpy")), batched, num_proc={args.num_proc}, each contestant in a fresh process'
    )
    print(
        f"  {'contestant':<52} {'first map s':>11} {'warm rows/s':>12} {'audio s/s':>10} "
        f"{'x transformers':>15}  max|diff|"
    )
    labels = {
        "melplug": 'melplug.hf.MelSpectrogram(extractor="whisper").map',
        "transformers": "ds.map(WhisperFeatureExtractor numpy path)",
    }
    for name, row in e2e.items():
        if not row.get("ok"):
            print(f"  {labels[name]:<52} failed: {row.get('error')}")
            continue
        ratio = f"{row['vs_transformers']:.3g}x" if "vs_transformers" in row else "-"
        diff = f"{row['max_abs_diff']:.2g}" if row.get("max_abs_diff") is not None else "-"
        print(
            f"  {labels[name]:<52} {row['first_map_s']:>11.3f} {fmt_num(row['rows_per_s']):>12} "
            f"{fmt_num(row['audio_s_per_s']):>10} {ratio:>15}  {diff}"
        )
    ours = e2e.get("melplug", {})
    if "first_vs_transformers" in ours:
        print(
            f"  first map (fresh parent: forked workers load the kernels from the disk cache): "
            f"{ours['first_vs_transformers']:.2f}x transformers'; warm = parent has called the extractor once"
        )


def run_cold_start(args, presets: list[str]) -> dict:
    """Compile per dtype on empty caches; then every selected preset's first call on kaldi's warm cache."""
    order = ["kaldi"] + [p for p in ALL if p != "kaldi" and p in presets]
    with tempfile.TemporaryDirectory(prefix="melplug-cache-") as cache32:
        with tempfile.TemporaryDirectory(prefix="melplug-cache-") as cache64:
            f64 = run_worker_process(["--worker-cold", "compile-float64"], {"NUMBA_CACHE_DIR": cache64}, args.timeout)
        f32 = run_worker_process(["--worker-cold", "compile-float32"], {"NUMBA_CACHE_DIR": cache32}, args.timeout)
        warm = run_worker_process(
            ["--worker-cold", "warm", "--presets", ",".join(order)], {"NUMBA_CACHE_DIR": cache32}, args.timeout
        )
    errors = [r["_error"] for r in (f32, f64, warm) if "_error" in r]
    if errors:
        return {"ok": False, "error": errors[0]}
    return {"ok": True, "compile": {"float32": f32, "float64": f64}, "warm": warm}


def print_cold(cold: dict) -> None:
    print()
    print("Cold start (melplug, fresh processes, NUMBA_CACHE_DIR = a new temporary directory; calls on 2 x 1 s clips)")
    if not cold.get("ok"):
        print(f"  failed: {cold.get('error')}")
        return
    for dtype, r in cold["compile"].items():
        print(
            f'  empty cache, first preset("kaldi") call, {dtype:<8} {r["first_call_s"]:7.3f} s  '
            f"(compile; {len(r['compiled'])} kernels compiled; import {r['import_s']:.3f} s)"
        )
    warm = cold["warm"]
    print(f"  warm cache (filled by the float32 kaldi process), fresh process: import melplug {warm['import_s']:.3f} s")
    print(f"    {'preset':<10} {'first call ms':>14}  compiled in this call")
    for call in warm["calls"]:
        parts = []
        for kind, first_use in (("first use of the kernel in this process", True), ("new signature", False)):
            names = [k.removeprefix("melplug.") for k, v in call["new_compiles"].items() if v["first_use"] == first_use]
            if names:
                parts.append(f"{', '.join(names)} ({kind})")
        print(f"    {call['preset']:<10} {call['first_call_s'] * 1e3:>14.1f}  {'; '.join(parts) or 'nothing'}")
    misses, hits = warm["mel_units_cache_misses"], warm["mel_units_cache_hits"]
    print(
        f"    melplug._kernels._mel_units.stats: {len(misses)} cache miss(es), {len(hits)} cache hit(s) "
        "(signatures in the JSON)"
    )


def targets(blocks: dict, cold: dict | None) -> list[dict]:
    """The targets set for the presets, judged on this run's numbers."""
    out = []

    def add(what, value, goal, met):
        out.append({"target": what, "value": value, "goal": goal, "met": None if met is None else bool(met)})

    for preset, block in blocks.items():
        row = block["rows"].get("melplug")
        if not row or not row.get("ok"):
            continue
        if "vs_fastest_numpy_ref" in row:
            v = row["vs_fastest_numpy_ref"]
            add(f"{preset}: x {block['fastest_numpy_ref']}", v, f">= {TARGET_NUMPY_REF:g}x", v >= TARGET_NUMPY_REF)
        if "vs_fastest_torch_ref" in row:
            v = row["vs_fastest_torch_ref"]
            add(f"{preset}: x {block['fastest_torch_ref']}", v, f">= {TARGET_TORCH_REF:g}x", v >= TARGET_TORCH_REF)
        elif preset in ("whisper", "kaldi", "ast", "torchaudio", "kaldi-mfcc"):
            add(f"{preset}: x torch paths (not installed)", None, f">= {TARGET_TORCH_REF:g}x", None)
        if "vs_bound" in row:
            v = row["vs_bound"]
            add(f"{preset}: x rfft bound", v, f">= {TARGET_BOUND:g}x", v >= TARGET_BOUND)
    for mfcc, mel in MFCC_OF.items():
        a, b = (blocks.get(p, {}).get("rows", {}).get("melplug", {}) for p in (mfcc, mel))
        if a.get("ok") and b.get("ok"):
            v = a["seconds"] / b["seconds"]
            add(f"{mfcc}: cost x {mel} (same clips)", v, f"<= {TARGET_MFCC_COST:g}x", v <= TARGET_MFCC_COST)
    if cold and cold.get("ok"):
        for dtype, r in cold["compile"].items():
            v = r["first_call_s"]
            add(f"cold compile, {dtype} (s)", v, f"<= {TARGET_COMPILE_S:g}", v <= TARGET_COMPILE_S)
        calls = cold["warm"]["calls"]
        # Each phase is a kernel compiled where a call first needs it, once per cache: the later presets may
        # compile the kernel of a phase no earlier call ran (its first use), never phase 1, never one again.
        again = [
            k
            for c in calls[1:]
            for k, v in c["new_compiles"].items()
            if not v["first_use"] or k.rpartition(".")[2] not in FINISHING_KERNELS
        ]
        add("kernels compiled again by the presets after kaldi", len(again), "0", not again)
    return out


def print_targets(rows: list[dict], quick: bool) -> None:
    if not rows:
        return
    print()
    note = " (--quick sizes: not meaningful)" if quick else ""
    print(f"Targets set for the presets{note}")
    for t in rows:
        verdict = "not judged" if t["met"] is None else ("met" if t["met"] else "NOT MET")
        value = "-" if t["value"] is None else f"{t['value']:.3g}"
        print(f"  {t['target']:<52} {value:>9}  goal {t['goal']:<8} {verdict}")


def print_header(meta: dict, args, command: str) -> None:
    print(f"melplug presets benchmark -- {meta['date']}")
    print_machine(meta, command)
    print(
        f"timing: median of {args.repeats} repeat(s) after a first call and {max(1, args.warmup) + 1} warm-up "
        f"call(s); a repeat "
        f"lasts >= {args.min_time:g} s; float32 input, seed {SEED}; numpy/C++ references run on one core, "
        f"melplug, torch and the bound on {meta['cores']}"
    )


def write_inputs(args, presets: list[str]) -> None:
    """Each preset's clips, and the end-to-end rows (the whisper clips; more rows than its case in --quick)."""
    salt = {preset: i for i, preset in enumerate(CASES)}
    made = {}
    for preset in presets:
        case = CASES[preset]
        own = case.input or preset
        if preset != "keras" and own not in made:
            count, n = CASES[own].shape(args.quick)
            made[own] = make_clips(count, n, salt=salt[own], sr=case.rate)
            np.save(input_path(args.data_dir, own), made[own])
    if not args.no_e2e and "whisper" in presets:
        rows, n = (E2E_QUICK_ROWS if args.quick else E2E_ROWS), int(E2E_SECONDS * SAMPLING_RATE)
        clips = made["whisper"] if made["whisper"].shape == (rows, n) else make_clips(rows, n, salt=salt["whisper"])
        np.save(input_path(args.data_dir, "e2e"), clips)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat: a smoke test")
    ap.add_argument("--presets", default=",".join(CASES), help=f"comma-separated, from {','.join(CASES)}")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5, 1 with --quick)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up calls before the calibration call (default 1)")
    ap.add_argument("--min-time", type=float, default=None, help="seconds a repeat lasts at least")
    ap.add_argument("--num-proc", type=int, default=None, help="Dataset.map num_proc (default: the cores)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per worker process")
    ap.add_argument("--no-e2e", action="store_true", help="skip the Dataset.map comparison")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-start measurements")
    ap.add_argument("--json", help="write all results to this JSON file")
    ap.add_argument("--worker", nargs=2, metavar=("CONTESTANT", "PRESETS"), help=argparse.SUPPRESS)
    ap.add_argument("--worker-e2e", choices=("melplug", "transformers"), help=argparse.SUPPRESS)
    ap.add_argument("--worker-cold", choices=("compile-float32", "compile-float64", "warm"), help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    q = args.quick
    if args.repeats is None:
        args.repeats = 1 if q else 5
    if args.min_time is None:
        args.min_time = 0.0 if q else 0.2
    if args.num_proc is None:
        args.num_proc = cores()
    if args.timeout is None:
        args.timeout = 120.0 if q else 1800.0
    if args.repeats < 1:
        raise SystemExit(f"--repeats={args.repeats} is invalid: it must be >= 1")
    if args.num_proc < 1:
        raise SystemExit(f"--num-proc={args.num_proc} is invalid: it must be >= 1")

    if args.worker:
        contestant, names = args.worker
        print(MARKER + json.dumps(worker(contestant, names.split(","), args)), flush=True)
        return 0
    if args.worker_e2e:
        print(MARKER + json.dumps(worker_e2e(args.worker_e2e, args)), flush=True)
        return 0
    if args.worker_cold:
        print(MARKER + json.dumps(worker_cold(args.worker_cold, args)), flush=True)
        return 0

    presets = parse_list(args.presets, CASES, "presets")
    meta = _timing.machine_info(VERSIONED)
    command = "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:])
    print_header(meta, args, command)
    sys.stdout.flush()

    e2e = cold = None
    with tempfile.TemporaryDirectory(prefix="melplug-bench-presets-") as data_dir:
        args.data_dir = data_dir
        write_inputs(args, presets)
        results = run_contestants(args, presets)
        compare_outputs(results, data_dir)
        blocks = derive_ratios(results, q)
        print_tables(blocks, q)
        if not args.no_e2e and "whisper" in presets:
            if importlib.util.find_spec("datasets") is None:
                print("\nEnd to end: skipped (datasets is not installed)")
            else:
                e2e = run_e2e(args)
                print_e2e(e2e, args)
    if not args.no_cold:
        cold = run_cold_start(args, presets)
        print_cold(cold)
    goals = targets(blocks, cold)
    print_targets(goals, q)

    if args.json:
        doc = {
            "meta": meta,
            "command": command,
            "settings": {k: getattr(args, k) for k in ("quick", "repeats", "warmup", "min_time", "num_proc")},
            "presets": {p: {"header": preset_header(p, q), **blocks[p]} for p in blocks},
            "end_to_end": e2e,
            "cold_start": cold,
            "targets": goals,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
        print(f"\nwrote {args.json}")

    failed = [p for p, b in blocks.items() if not b["rows"].get("melplug", {}).get("ok")]
    e2e_failed = e2e is not None and not e2e.get("melplug", {}).get("ok")
    if failed or e2e_failed or (cold is not None and not cold.get("ok")):
        print(f"\nmelplug failed: presets {failed}, end to end {e2e_failed}, cold start {cold and not cold.get('ok')}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
