"""transformers' feature extractors as melplug configurations: :func:`from_transformers` and their presets.

Each builder reads the config values its reference reads (the constructor's
arguments, :data:`melplug._references.REFERENCES`) and returns the engine
options that reproduce the reference's per-clip output: its shape, layout,
float32 dtype and numbers (to float32 rounding).  The steps were read from
transformers 5.25's sources (``models/<type>/feature_extraction_<type>.py``)
and are checked against the extractors (or float64 ports of their torch
paths) by ``tests/presets/test_transformers.py``.  A config value a builder
cannot reproduce exactly is a ``ValueError`` naming it, never a different
result.

What the references' ``__call__`` does for one clip is fixed here too:
melplug computes each clip alone (a reference that zero-pads a batch first
changes a short clip's edge frames; melplug's answer does not depend on its
batch neighbours).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import presets
from ._references import REFERENCES, REFUSED, by_class
from .core import FeatureExtractor

__all__ = ["TRANSFORMERS_PRESETS", "build_options", "from_transformers"]


def _refuse(name: str, key: str, value, why: str) -> ValueError:
    return ValueError(f"{REFERENCES[name].cls} with {key}={value!r} cannot be reproduced exactly: {why}")


def _int(name: str, cfg: Mapping[str, Any], key: str) -> int:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) or value != int(value) or value < 1:
        raise ValueError(f"{REFERENCES[name].cls} config {key}={value!r} is invalid: it must be an integer >= 1")
    return int(value)


def _fft_and_window(name: str, cfg: Mapping[str, Any]) -> tuple[int, int]:
    """The config's ``n_fft`` and ``win_length`` (the window is zero-padded into the FFT: never longer)."""
    n_fft, win = _int(name, cfg, "n_fft"), _int(name, cfg, "win_length")
    if win > n_fft:
        raise _refuse(name, "win_length", win, f"it must be <= n_fft={n_fft}")
    return n_fft, win


def _dither(name: str, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A ``dither > 0`` is honoured with melplug's seeded dither (the same standard deviation)."""
    dither = float(cfg.get("dither", 0.0) or 0.0)
    return {"dither": dither} if dither > 0.0 else {}


def _no_padding_value(name: str, cfg: Mapping[str, Any]) -> None:
    if float(cfg.get("padding_value", 0.0) or 0.0) != 0.0:
        raise _refuse(name, "padding_value", cfg["padding_value"], "melplug pads clips with zeros")


# --------------------------------------------------------------------------- whisper-like


def _whisper(cfg, name="whisper") -> dict[str, Any]:
    # WhisperFeatureExtractor: the clip zero-padded or cut to chunk_length s; presets._whisper's steps.
    _no_padding_value(name, cfg)
    options = presets._whisper(
        sampling_rate=_int(name, cfg, "sampling_rate"),
        num_mel_bins=_int(name, cfg, "feature_size"),
        fft_length=_int(name, cfg, "n_fft"),
        hop_length=_int(name, cfg, "hop_length"),
        chunk_length=_int(name, cfg, "chunk_length"),
    )
    return {**options, **_dither(name, cfg), "valid_frames": "ceil"}


def _moss(cfg) -> dict[str, Any]:
    # MossTranscribeDiarizeFeatureExtractor: Whisper's steps on 30 s windows; a longer clip becomes several
    # examples (refused), a shorter one is padded to one window.
    options = _whisper(cfg, "moss-transcribe-diarize")
    n = options.pop("input_length")
    return {**options, "input_pad_to": n, "input_max_length": n, "input_overflow": "raise"}


def _qwen3_asr(cfg) -> dict[str, Any]:
    # Qwen3ASRFeatureExtractor: clips zero-extended to min_length (counted in the mask), padded to at least
    # chunk_length s (never cut); torch's stft without its last frame, so n // hop frames; log10 floored at
    # the clip's max - 8, (x + 4) / 4; frames padded with 0 to a multiple of 2 n_window.
    name = "qwen3-asr"
    options = _whisper(cfg, name)
    n = options.pop("input_length")
    options.pop("output_frames")
    min_length = int(cfg.get("min_length") or 0)
    window = int(cfg.get("n_window") or 0)
    options.update(
        input_pad_to=n,
        input_min_length=min_length if min_length > 0 else None,
        frame_rule="n_over_hop",
        pad_frames_to=2 * window if 2 * window > 1 else 1,
        pad_value=0.0,
    )
    return options


def _voxtral_realtime(cfg) -> dict[str, Any]:
    # VoxtralRealtimeFeatureExtractor: torch's centred stft (reflect) of hann(n_fft), the last frame dropped;
    # log10 floored at global_log_mel_max - 8 (a fixed floor), or at the clip's max - 8 when it is None;
    # (x + 4) / 4.  Its mask counts the frames whose win_length window lies inside the clip.
    name = "voxtral-realtime"
    _no_padding_value(name, cfg)
    n_fft, win = _int(name, cfg, "n_fft"), _int(name, cfg, "win_length")
    if win != n_fft:
        raise _refuse(name, "win_length", win, f"its window is hann(n_fft={n_fft}) but its mask counts win_length")
    options = presets._whisper(
        sampling_rate=_int(name, cfg, "sampling_rate"),
        num_mel_bins=_int(name, cfg, "feature_size"),
        fft_length=n_fft,
        hop_length=_int(name, cfg, "hop_length"),
    )
    for key in ("input_length", "output_frames"):
        options.pop(key)
    peak = cfg.get("global_log_mel_max")
    fixed = peak is not None
    options.update(
        pad_mode="reflect_once",
        frame_rule="n_over_hop",
        top_db=None if fixed else 8.0,
        log_min=float(peak) - 8.0 if fixed else None,
        valid_frames="whole_windows",
    )
    return options


# --------------------------------------------------------------------------- kaldi-like


def _ast(cfg) -> dict[str, Any]:
    # ASTFeatureExtractor on its torchaudio path: presets._ast, max_length frames, (x - mean) / (2 std).
    name = "ast"
    options = presets._ast(cfg["sampling_rate"], _int(name, cfg, "num_mel_bins"))
    options["output_frames"] = _int(name, cfg, "max_length")
    if not cfg.get("do_normalize", True):
        options.update(scale=1.0, offset=0.0)
    else:
        mean, std = float(cfg["mean"]), float(cfg["std"])
        if not std > 0.0:
            raise _refuse(name, "std", cfg["std"], "it must be > 0")
        options.update(scale=1.0 / (2.0 * std), offset=-mean / (2.0 * std))
    return options


def _w2v_bert(cfg) -> dict[str, Any]:
    # SeamlessM4TFeatureExtractor: presets._w2v_bert; frames padded to a multiple of stride with
    # padding_value and stacked; a stacked row is valid when all its frames are (its mask takes each row's last).
    name = "w2v-bert"
    options = presets._w2v_bert(cfg["sampling_rate"], _int(name, cfg, "num_mel_bins"))
    options.update(stack_frames=_int(name, cfg, "stride"), pad_value=float(cfg.get("padding_value") or 0.0))
    return {**options, "valid_rows": "all"}


def _speech_to_text(cfg) -> dict[str, Any]:
    # Speech2TextFeatureExtractor on its torchaudio path: compliance.kaldi.fbank of x * 2**15 (25/10 ms,
    # povey, num_mel_bins), then utterance CMVN: x - mean, / std (ddof 0, no epsilon), over the clip's frames.
    name = "speech-to-text"
    options = presets._kaldi(cfg["sampling_rate"], _int(name, cfg, "num_mel_bins"))
    options.update(input_gain=2.0**15, **_dither(name, cfg))
    if cfg.get("do_ceptral_normalize", True):
        means, variances = bool(cfg.get("normalize_means", True)), bool(cfg.get("normalize_vars", True))
        if variances and not means:
            raise _refuse(
                name, "normalize_means", False, "it divides by the standard deviation of the uncentred features"
            )
        if means:
            options.update(normalize=True, normalize_variance=variances, normalize_ddof=0, normalize_eps=0.0)
    return options


# --------------------------------------------------------------------------- NeMo-like


def _nemo(name: str, cfg, *, normalise: bool) -> dict[str, Any]:
    # Parakeet, CohereAsr, NemotronAsrStreaming: the whole clip pre-emphasised (zeros beyond it), torch's
    # centred stft with zero padding of a symmetric Hann window of win_length centred in n_fft, power,
    # float32 slaney mels 0 - sr/2, ln(M + 2**-24), frames beyond (n + n_fft // 2 * 2 - n_fft) // hop set to 0;
    # Parakeet and CohereAsr first normalise each band over those frames, (x - mean) / (std + 1e-5), ddof 1.
    _no_padding_value(name, cfg)
    n_fft, win = _fft_and_window(name, cfg)
    hop = _int(name, cfg, "hop_length")
    if n_fft % 2:
        raise _refuse(name, "n_fft", n_fft, "its valid-frame count (n - 1) // hop for an odd n_fft is not melplug's")
    rate = _int(name, cfg, "sampling_rate")
    pre = cfg.get("preemphasis")
    bins = _int(name, cfg, "feature_size")
    return presets.nemo_steps(rate, n_fft, win, hop, bins, float(pre) if pre else 0.0, "integer", normalise)


def _parakeet(cfg) -> dict[str, Any]:
    return _nemo("parakeet", cfg, normalise=True)


def _cohere_asr(cfg) -> dict[str, Any]:
    # CohereAsrFeatureExtractor: Parakeet's steps; its dither (torch noise seeded by the clip length) is
    # melplug's seeded dither of the same std; clips longer than max_audio_clip_s - overlap_chunk_second
    # are split into several examples there: refused here.
    name = "cohere-asr"
    options = _nemo(name, cfg, normalise=True)
    threshold = max(0.0, float(cfg["max_audio_clip_s"]) - float(cfg["overlap_chunk_second"]))
    longest = math.floor(threshold * options["sampling_rate"])
    while (longest + 1) / options["sampling_rate"] <= threshold:  # duration_s <= threshold, as the reference
        longest += 1
    while longest > 0 and longest / options["sampling_rate"] > threshold:
        longest -= 1
    if longest < 1:
        raise _refuse(name, "max_audio_clip_s", cfg["max_audio_clip_s"], "every clip would be split")
    return {**options, **_dither(name, cfg), "input_max_length": longest, "input_overflow": "raise"}


def _nemotron(cfg) -> dict[str, Any]:
    name = "nemotron-asr-streaming"
    if cfg.get("mel_filters_dtype", "float32") != "float32":
        raise _refuse(
            name, "mel_filters_dtype", cfg["mel_filters_dtype"], "it rounds the window and mel filters to that dtype"
        )
    return _nemo(name, cfg, normalise=False)


# --------------------------------------------------------------------------- the others


def _phi4(cfg) -> dict[str, Any]:
    # Phi4MultimodalFeatureExtractor: snip-edges frames of win_length, pre-emphasis within each frame with the
    # first sample against itself (Kaldi's), x 32768, symmetric Hamming, rfft of n_fft, power, Kaldi-scale
    # triangles in mel on i * sr / n_fft, ln(max(M, 1)).
    name = "phi4-multimodal"
    _no_padding_value(name, cfg)
    n_fft, win = _fft_and_window(name, cfg)
    return dict(
        sampling_rate=_int(name, cfg, "sampling_rate"),
        input_gain=32768.0,
        framing="snip_edges",
        frame_length=win,
        hop_length=_int(name, cfg, "hop_length"),
        fft_length=n_fft,
        window="hamming",
        window_periodic=False,
        window_position="start",
        preemphasis=float(cfg.get("preemphasis") or 0.0),
        num_mel_bins=_int(name, cfg, "feature_size"),
        mel_scale="kaldi",
        mel_triangles="mel",
        mel_grid="rfft",
        min_freq=float(cfg["mel_min_frequency"]),
        max_freq=float(cfg["mel_max_frequency"]),
        empty_bands="ignore",
        log="ln",
        log_floor=1.0,
        top_db=None,
        layout="frames_mels",
    )


def _lasr(cfg) -> dict[str, Any]:
    # LasrFeatureExtractor: snip-edges frames of win_length, symmetric Hann, rfft of n_fft, power, Keras'
    # mel matrix (tf.signal's: Kaldi-scale triangles in mel, DC bin zeroed) 125 - 7500 Hz, ln(max(M, 1e-5)).
    name = "lasr"
    _no_padding_value(name, cfg)
    n_fft, win = _fft_and_window(name, cfg)
    return dict(
        sampling_rate=_int(name, cfg, "sampling_rate"),
        framing="snip_edges",
        frame_length=win,
        hop_length=_int(name, cfg, "hop_length"),
        fft_length=n_fft,
        window="hann",
        window_periodic=False,
        window_position="start",
        num_mel_bins=_int(name, cfg, "feature_size"),
        mel_scale="keras",
        mel_triangles="mel",
        mel_grid="keras",
        min_freq=125.0,
        max_freq=7500.0,
        empty_bands="ignore",
        log="ln",
        log_floor=1e-5,
        top_db=None,
        layout="frames_mels",
    )


def _gemma3n(cfg) -> dict[str, Any]:
    # Gemma3nAudioFeatureExtractor: the clip cut at 480000 samples and zero-padded to a multiple of 128 (its
    # __call__ defaults); frames of frame_length + 1 samples every hop (snip edges) of which the first
    # frame_length are used: HTK pre-emphasis within them (first sample x (1 - p)), a periodic Hann, rfft of the
    # next power of two (x 2 with fft_overdrive), magnitude, HTK triangles in Hz on i * sr / fft, no norm,
    # ln(max(M, mel_floor)), then (x - per_bin_mean) / per_bin_stddev.  Its mask: ceil(n / hop) frames.
    name = "gemma3n"
    _no_padding_value(name, cfg)
    rate = _int(name, cfg, "sampling_rate")
    frame = int(round(rate * float(cfg["frame_length_ms"]) / 1000.0))
    hop = int(round(rate * float(cfg["hop_length_ms"]) / 1000.0))
    if frame < 1 or hop < 1:
        raise _refuse(name, "frame_length_ms", cfg.get("frame_length_ms"), "the frame and hop must be >= 1 sample")
    fft = 2 ** math.ceil(math.log2(frame)) * (2 if cfg.get("fft_overdrive", True) else 1)
    pre = float(cfg.get("preemphasis") or 0.0)
    if pre > 0.0 and not cfg.get("preemphasis_htk_flavor", True):
        raise _refuse(name, "preemphasis_htk_flavor", False, "its frames are shifted by one sample")
    bins = _int(name, cfg, "feature_size")
    mean, std = cfg.get("per_bin_mean"), cfg.get("per_bin_stddev")
    scale = offset = None
    if std is not None:
        scale = 1.0 / np.asarray(std, dtype=np.float64).reshape(-1)
    if mean is not None:
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        offset = -mean * (scale if scale is not None else 1.0)
    return dict(
        sampling_rate=rate,
        input_gain=float(cfg.get("input_scale_factor", 1.0)),
        input_max_length=480000,
        input_multiple=128,
        framing="snip_edges",
        frame_length=frame,
        hop_length=hop,
        frame_rule="lookahead",
        fft_length=fft,
        window="hann",
        window_periodic=True,
        preemphasis=pre,
        **_dither(name, cfg),
        magnitude_power=1.0,
        num_mel_bins=bins,
        mel_scale="htk",
        mel_triangles="hz",
        mel_grid="rfft",
        min_freq=float(cfg["min_frequency"]),
        max_freq=float(cfg["max_frequency"]),
        empty_bands="ignore",
        log="ln",
        log_floor=float(np.asarray(cfg.get("mel_floor", 1e-5)).reshape(-1)[0]),
        top_db=None,
        layout="frames_mels",
        feature_scale=scale,
        feature_offset=offset,
        valid_frames="ceil",
    )


def _granite_speech(cfg) -> dict[str, Any]:
    # GraniteSpeechFeatureExtractor: torchaudio's MelSpectrogram (torch's reflect centring, periodic Hann of
    # win_length in n_fft, power, HTK mels 0 - sr // 2, no norm), log10 floored at the clip's max - 8, / 4 + 1,
    # pairs of frames stacked, an odd last frame dropped.
    options = _granite_logmel("granite-speech", cfg, "n_mels", 8.0)
    options.update(stack_frames=2, stack_remainder="drop")
    return options


def _granite_logmel(name: str, cfg, bins: str, floor_db: float) -> dict[str, Any]:
    """Both Granite Speech front ends' log-mels, ``(frames, mels)``.

    torchaudio's MelSpectrogram of win_length in n_fft, log10 floored at the clip's max - ``floor_db``, / 4 + 1.
    """
    _no_padding_value(name, cfg)
    n_fft, win = _fft_and_window(name, cfg)
    options = presets._torchaudio(
        _int(name, cfg, "sampling_rate"), _int(name, cfg, bins), n_fft, _int(name, cfg, "hop_length")
    )
    options.update(
        window_length=win,
        empty_bands="ignore",
        log="log10",
        log_floor=1e-10,
        top_db=floor_db,
        scale=0.25,
        offset=1.0,
        layout="frames_mels",
    )
    return options


def _fun_asr_nano(cfg) -> dict[str, Any]:
    # FunAsrNanoFeatureExtractor: torchaudio's compliance.kaldi.fbank of the clip as it is (no x 2**15):
    # frame_length/frame_shift ms snip-edges frames, DC removal, pre-emphasis 0.97, the window (a symmetric
    # hamming by default), feature_size Kaldi mels, ln; then low-frame-rate stacking: rows of num_frames_lfr
    # frames every stride_lfr, centred, the edge frames repeated (ceil(frames / stride_lfr) rows).
    name = "fun-asr-nano"
    _no_padding_value(name, cfg)
    windows = {"hamming": "hamming", "hanning": "hann", "povey": "povey", "rectangular": "rectangular"}
    window = cfg.get("window", "hamming")
    if window not in windows:
        raise _refuse(name, "window", window, f"melplug's Kaldi windows are {', '.join(map(repr, windows))}")
    options = presets._kaldi(cfg["sampling_rate"], _int(name, cfg, "feature_size"))
    frames, stride = _int(name, cfg, "num_frames_lfr"), _int(name, cfg, "stride_lfr")
    if stride > frames:
        raise _refuse(name, "stride_lfr", stride, f"rows of num_frames_lfr={frames} frames would skip frames")
    options.update(
        frame_length=float(cfg["frame_length"]),
        hop_length=float(cfg["frame_shift"]),
        window=windows[window],
        empty_bands="ignore",
    )
    if frames > 1:
        options.update(stack_frames=frames, stack_stride=stride, stack_remainder="repeat")
    return options


def _granite_speech5(cfg) -> dict[str, Any]:
    # GraniteSpeech5FeatureExtractor: torchaudio's MelSpectrogram (torch's reflect centring, periodic Hann of
    # win_length in n_fft, power, HTK mels 0 - sr // 2), n // hop frames rounded up to an even count (the clip
    # zero-extended to the last one's start), log10 floored at the clip's max - logmel_floor_db, / 4 + 1,
    # deltas (torchaudio's compute_deltas, delta_win_length), pairs of frames stacked: [x0, d0, x1, d1].
    name = "granite-speech5"
    window = _int(name, cfg, "delta_win_length")
    if window < 3:
        raise _refuse(name, "delta_win_length", window, "torchaudio's compute_deltas needs a window >= 3")
    options = _granite_logmel(name, cfg, "num_mel_bins", float(cfg["logmel_floor_db"]))
    options.update(
        frame_rule="n_over_hop",
        frame_multiple=2,
        delta_window=window,
        stack_frames=2,
        valid_frames="n_over_hop",
    )
    return options


def _clvp(cfg) -> dict[str, Any]:
    # ClvpFeatureExtractor: the clip zero-padded or cut to default_audio_length s, centred frames (NumPy's
    # reflect) of a periodic Hann of n_fft, power, HTK-scale slaney-normalised triangles in Hz 0 - 8000,
    # ln(max(M, 1e-5)), divided by mel_norms.
    name = "clvp"
    _no_padding_value(name, cfg)
    rate = _int(name, cfg, "sampling_rate")
    n_fft = _int(name, cfg, "n_fft")
    bins = _int(name, cfg, "feature_size")
    norms = cfg.get("mel_norms")
    return dict(
        sampling_rate=rate,
        input_length=_int(name, cfg, "default_audio_length") * rate,
        framing="center",
        pad_mode="reflect",
        frame_length=n_fft,
        hop_length=_int(name, cfg, "hop_length"),
        window="hann",
        window_periodic=True,
        num_mel_bins=bins,
        mel_scale="htk",
        mel_triangles="hz",
        mel_grid="integer",
        mel_norm="slaney",
        min_freq=0.0,
        max_freq=8000.0,
        empty_bands="ignore",
        log="ln",
        log_floor=1e-5,
        top_db=None,
        layout="mels_frames",
        feature_scale=None if norms is None else 1.0 / np.asarray(norms, dtype=np.float64),
    )


def _inkling(cfg) -> dict[str, Any]:
    # InklingFeatureExtractor: n_fft - hop zeros before the clip (left-only padding), zeros after it up to a
    # multiple of hop, stft without centring of a periodic Hann of window_size (centred in n_fft),
    # sqrt(max(|X|**2, 1e-10)), float32 slaney mels 0 - sr/2, log10(max(M, 1e-10)); ceil(n / hop) frames, all valid.
    name = "inkling"
    _no_padding_value(name, cfg)
    rate = _int(name, cfg, "sampling_rate")
    duration = float(cfg["audio_token_duration_s"])
    hop = round(duration * rate)
    window = round(duration * float(cfg["window_size_multiplier"]) * rate)
    n_fft = cfg.get("n_fft") or window
    if hop < 1 or window < 1 or abs(duration * rate - hop) > 1e-6:
        raise _refuse(name, "audio_token_duration_s", duration, "it must give a whole number of samples >= 1")
    if window > n_fft:
        raise _refuse(name, "n_fft", n_fft, f"it must be >= the window ({window} samples)")
    return dict(
        sampling_rate=rate,
        framing="left",
        left_pad=max(int(n_fft) - hop, 0),
        pad_mode="constant",
        frame_length=int(n_fft),
        hop_length=hop,
        frame_rule="ceil",
        window="hann",
        window_length=window,
        window_periodic=True,
        window_position="center",
        magnitude_power=1.0,
        power_floor=1e-10,
        num_mel_bins=_int(name, cfg, "feature_size"),
        mel_scale="slaney",
        mel_triangles="hz",
        mel_grid="integer",
        mel_norm="slaney",
        min_freq=0.0,
        max_freq=rate / 2,
        empty_bands="ignore",
        log="log10",
        log_floor=1e-10,
        top_db=None,
        layout="frames_mels",
        valid_frames="ceil",
        pad_invalid_frames=True,
        pad_value=0.0,
    )


_BUILDERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "whisper": _whisper,
    "ast": _ast,
    "w2v-bert": _w2v_bert,
    "speech-to-text": _speech_to_text,
    "parakeet": _parakeet,
    "cohere-asr": _cohere_asr,
    "nemotron-asr-streaming": _nemotron,
    "gemma3n": _gemma3n,
    "qwen3-asr": _qwen3_asr,
    "voxtral-realtime": _voxtral_realtime,
    "phi4-multimodal": _phi4,
    "lasr": _lasr,
    "granite-speech": _granite_speech,
    "fun-asr-nano": _fun_asr_nano,
    "granite-speech5": _granite_speech5,
    "moss-transcribe-diarize": _moss,
    "clvp": _clvp,
    "inkling": _inkling,
}
#: The presets that are transformers extractors and not one of melplug's first presets (whisper, ast, w2v-bert).
TRANSFORMERS_PRESETS: tuple[str, ...] = tuple(name for name in REFERENCES if name not in ("whisper", "ast", "w2v-bert"))


def build_options(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The engine options of reference ``name`` configured by ``config`` (its constructor's keys; others ignored)."""
    ref = REFERENCES[name]
    merged = {**ref.defaults, **{k: v for k, v in config.items() if k in ref.defaults}}
    return {**_BUILDERS[name](merged), "reference": name}


def _object_config(obj) -> dict[str, Any]:
    """An extractor object's constructor arguments, from its attributes (``to_dict()``).

    Most keep their arguments as attributes of the same names; Gemma 3n
    keeps its frame and hop in samples (``frame_length``, ``hop_length``)
    where its constructor takes milliseconds: they are converted back (its
    ``round(sr * ms / 1000)`` gives the samples again exactly).
    """
    config = dict(obj.to_dict())
    config.setdefault("feature_extractor_type", type(obj).__name__)
    if config["feature_extractor_type"] == REFERENCES["gemma3n"].cls and "frame_length_ms" not in config:
        rate = float(config["sampling_rate"])
        for key in ("frame_length", "hop_length"):
            if key in config:
                config[f"{key}_ms"] = float(config[key]) * 1000.0 / rate
    return config


def from_transformers(obj) -> FeatureExtractor:
    """The :class:`melplug.FeatureExtractor` that reproduces a transformers feature extractor.

    Parameters
    ----------
    obj : transformers feature extractor, dict, str or path
        The extractor object (``AutoFeatureExtractor.from_pretrained(...)``),
        its ``to_dict()``, a ``preprocessor_config.json`` file or a model
        folder holding one.  Nothing is downloaded.

    Returns
    -------
    FeatureExtractor
        A plain extractor whose per-clip output is the reference's
        ``input_features`` (``audio_input_features``, ``input_values``): its
        shape, layout, float32 dtype and numbers to float32 rounding, for
        the config's values (not only the defaults).  Its ``reference``
        option names the reference (the adapters' column names follow it);
        ``valid_frames(n)`` is the reference's attention-mask sum.

    Raises
    ------
    ValueError
        For a type melplug does not reproduce (named, with the reason), a
        config without ``feature_extractor_type``, or a config value that
        cannot be reproduced exactly.
    TypeError
        For an ``obj`` of another kind.

    Notes
    -----
    ``dither > 0`` is honoured with melplug's seeded dither of the same
    standard deviation (torch's noise itself cannot be reproduced); exactness
    is stated for dither 0.  Each clip is computed alone.

    Examples
    --------
    >>> import numpy as np
    >>> import melplug
    >>> fx = melplug.from_transformers({"feature_extractor_type": "ParakeetFeatureExtractor", "feature_size": 128})
    >>> fx(np.zeros(16000, np.float32)).shape, fx.valid_frames(16000)
    ((101, 128), 100)
    >>> fx == melplug.preset("parakeet", feature_size=128)
    True
    """
    config = _config_of(obj)
    kind = config.get("feature_extractor_type")
    if not isinstance(kind, str):
        raise ValueError(
            "the config has no feature_extractor_type (a transformers feature extractor's class name); "
            f"received keys {sorted(config)[:12]}"
        )
    name = by_class(kind)
    if name is None:
        if kind in REFUSED:
            raise ValueError(f"{kind} cannot be reproduced by melplug: {REFUSED[kind]}")
        known = ", ".join(ref.cls for ref in REFERENCES.values())
        raise ValueError(f"feature_extractor_type={kind!r} is not one melplug reproduces; it reproduces {known}")
    return FeatureExtractor(**build_options(name, config))


def _config_of(obj) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, (str, os.PathLike)):
        path = os.fspath(obj)
        if os.path.isdir(path):
            path = os.path.join(path, "preprocessor_config.json")
        if not os.path.isfile(path):
            raise ValueError(
                f"{os.fspath(obj)!r} is neither a preprocessor_config.json file nor a folder holding one "
                "(melplug never downloads: pass a local path, the extractor object or its to_dict())"
            )
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
        if not isinstance(config, dict):
            raise ValueError(f"{path!r} does not hold a JSON object (a feature extractor's config)")
        return config
    if callable(getattr(obj, "to_dict", None)) and type(obj).__name__.endswith("FeatureExtractor"):
        return _object_config(obj)
    raise TypeError(
        "from_transformers takes a transformers feature extractor, its to_dict(), a preprocessor_config.json "
        f"path or a model folder; received {type(obj).__name__}"
    )
