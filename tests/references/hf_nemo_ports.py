"""Float64 NumPy ports of the NeMo-style transformers feature extractors, which compute only through torch.

The tests may not import torch, so these ports stand in for four transformers
5.25 feature extractors. They were written from
``models/parakeet/feature_extraction_parakeet.py`` (``ParakeetFeatureExtractor``),
``models/cohere_asr/feature_extraction_cohere_asr.py`` (``CohereAsrFeatureExtractor``),
``models/nemotron_asr_streaming/feature_extraction_nemotron_asr_streaming.py``
(``NemotronAsrStreamingFeatureExtractor``) and
``models/inkling/feature_extraction_inkling.py`` (``InklingFeatureExtractor``).
Each function takes ONE 1-D clip of ``n`` samples and the extractor's
constructor keyword arguments, and returns what ``fe([clip], sampling_rate=sr,
return_tensors="np")`` returns, with the batch axis removed: features of shape
``(frames, feature_size)`` in float64 and a bool mask of shape ``(frames,)``.

Semantics (``hop``, ``n_fft``, ``win`` as configured):

* Parakeet, CohereAsr, NemotronAsrStreaming: pre-emphasis over the whole clip
  (``y[0] = x[0]``, ``y[i] = x[i] - p x[i - 1]``; then zeroed past the clip's
  length, a no-op for a single clip; skipped when ``preemphasis is None``);
  ``torch.stft(center=True, pad_mode="constant")``: ``n_fft // 2`` zeros on
  each side, the symmetric Hann window (``periodic=False``) of ``win`` samples
  zero-padded centred into ``n_fft``; power ``|X|^2`` (taken as
  ``sqrt(re^2 + im^2) ** 2``); Slaney-scale, Slaney-normalised filter bank
  (``mel_filter_bank(n_fft // 2 + 1, feature_size, 0, sr / 2, sr, "slaney",
  "slaney")``); ``log(mel + 2 ** -24)``.  ``frames = 1 + (n + 2 (n_fft // 2) -
  n_fft) // hop`` (``1 + n // hop`` for even ``n_fft``) and the mask keeps the
  first ``valid = frames - 1`` of them: the last frame is always masked.
* Parakeet and CohereAsr then normalise each mel band over the valid frames:
  ``mean = sum / valid``, ``var = sum((x - mean)^2) / (valid - 1)`` (ddof 1),
  ``(x - mean) / (sqrt(var) + 1e-5)``, and multiply by the mask (masked frames
  become 0).  A clip with ``valid <= 1`` (``n < 2 hop`` for even ``n_fft``)
  gives 0/0: every value, masked or not, is NaN, as in the reference.
* NemotronAsrStreaming (``center=True``, the default call) does not normalise:
  the log-mel values of the valid frames, 0 on the masked last frame.  With
  ``mel_filters_dtype`` ``"bfloat16"`` or ``"float16"`` the window and the
  filter bank are rounded to that dtype (through float32, as the reference).
* CohereAsr: only ``dither=0`` (the class default is 1e-5, a seeded torch
  ``randn`` this port cannot reproduce) and only clips with ``n / sr <=
  max(0, max_audio_clip_s - overlap_chunk_second)`` (the reference splits
  longer ones into chunks); both else raise ``ValueError``. It also returns
  ``audio_chunk_index = [(0, None)]``.
* Inkling: no pre-emphasis; ``n_fft - hop`` zeros on the left (if positive)
  and up to a multiple of ``hop`` on the right, then ``torch.stft(center=False)``
  with the periodic Hann window of ``window_size`` zero-padded centred into
  ``n_fft`` (``hop = audio_token_duration_s sr``, ``window_size =
  audio_token_duration_s window_size_multiplier sr``, ``n_fft`` defaults to
  ``window_size``); magnitude ``sqrt(max(|X|^2, 1e-10))``; the same Slaney
  filter bank; ``log10(max(mel, 1e-10))``.  ``frames = ceil(n / hop)``, all
  valid for a single clip; the mask is named ``input_features_mask``.

The reference casts the clip to float32 and builds its window and filter bank
in float32 (Parakeet, CohereAsr and NemotronAsrStreaming call
``mel_filter_bank(dtype=np.float32)``, which applies the Slaney normalisation in
float32; Inkling builds it in float64 and casts); these ports use float64
throughout.

Checked by hand against the real ParakeetFeatureExtractor,
CohereAsrFeatureExtractor (``dither=0``), NemotronAsrStreamingFeatureExtractor
and InklingFeatureExtractor (transformers 5.25, torch 2.13) with
``tests/references/check_hf_nemo_ports.py``: white noise, tones, and
near-silence (1e-5 noise) with a 0.5-amplitude 700 Hz burst; clips of 16000,
16001 and 7201 samples, 7 and 50 hops, ``win + 1``, ``2 hop - 1``, ``hop - 1``,
1 and 0 samples; the defaults, ``feature_size=128``, hop 128 / n_fft 400 / win
320, odd ``n_fft=511`` with hop 100, ``preemphasis`` 0.0 and None, 8 kHz with
64 mels, ``mel_filters_dtype="bfloat16"``, and Inkling with hop 320, ``n_fft``
2048 above the window, and window = hop.  Shapes, masks, NaN positions, keys
and Cohere's ``audio_chunk_index`` were identical in every case, and the
reference refused exactly what the port refuses (0 samples for Inkling and
for an odd ``n_fft``).  Against the reference run in float64 (its
``torch.float32`` mapped to float64, window and filter bank rebuilt in float64,
``pad``'s float32 cast bypassed) the max abs difference was 8e-13 on noise and
tones (Inkling 4.4e-14) and 4.5e-11 on the burst clip (Parakeet's normalised
features, in bands ~100 dB under the burst).  The default float32 reference is
5e-4 abs from the ports on noise and tones (3e-5 of the largest |value|;
1.9e-4 for Parakeet's 401-sample clip, normalised over 2 frames; Inkling
2e-5 abs), and on the burst clip, where float32 FFT round-off in bands ~100 dB
under the burst dominates, 2.1e-2 abs (3.9e-3 relative) for Parakeet and
CohereAsr, 2.6e-3 for Inkling, 2.5e-4 for NemotronAsrStreaming.  Building the
filter bank in float32 instead of float64 changes its weights by 6.7e-8 of the
largest and the features by 1.2e-8 of the largest |value|: negligible beside
the float32 STFT.  A 30 s clip (480000 samples) matched Cohere's fast path
(``audio_chunk_index`` ``[(0, None)]``); at 480001 samples the reference
returns the same single chunk as ``[(0, 0)]`` (chunks are only cut past
``max_audio_clip_s``) and the port refuses.
"""

from __future__ import annotations

import math

import numpy as np
from transformers.audio_utils import mel_filter_bank

LOG_ZERO_GUARD_VALUE = 2.0**-24  # Parakeet, CohereAsr, NemotronAsrStreaming: log(mel + guard)
NORM_EPSILON = 1e-5  # Parakeet, CohereAsr: (x - mean) / (std + eps)
INKLING_FLOOR = 1e-10  # Inkling: clamp_min of the power and of the mel energies


def _clip(clip):
    x = np.asarray(clip, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"one 1-D clip expected, got shape {x.shape}")
    return x


def _hann(length, *, periodic):
    """``torch.hann_window(length, periodic=periodic)`` in float64; ``[1.0]`` for length 1."""
    if length == 1:
        return np.ones(1)
    denominator = length if periodic else length - 1
    return 0.5 - 0.5 * np.cos(2.0 * math.pi * np.arange(length) / denominator)


def _pad_window(window, n_fft):
    """``torch.stft``'s handling of ``win_length < n_fft``: the window zero-padded centred into ``n_fft``."""
    win_length = window.shape[0]
    if win_length > n_fft:
        raise ValueError(f"torch.stft needs win_length <= n_fft, got {win_length} > {n_fft}")
    left = (n_fft - win_length) // 2
    return np.pad(window, (left, n_fft - win_length - left))


def _stft(x, *, n_fft, hop, window, center):
    """``torch.stft(x, n_fft, hop, window=window, center=center, pad_mode="constant")``, ``(frames, n_fft // 2 + 1)``.

    ``frames = 1 + (len - n_fft) // hop`` with ``len`` the (padded) length; torch refuses ``len < n_fft``.
    """
    if center:
        x = np.pad(x, n_fft // 2)  # pad_mode="constant": zeros
    if x.shape[0] < n_fft:
        raise ValueError(f"torch.stft needs at least n_fft = {n_fft} (padded) samples, got {x.shape[0]}")
    n_frames = 1 + (x.shape[0] - n_fft) // hop
    frames = np.stack([x[f * hop : f * hop + n_fft] for f in range(n_frames)])
    return np.fft.rfft(frames * _pad_window(window, n_fft), axis=-1)


def _slaney_filters(n_fft, feature_size, sampling_rate, max_frequency):
    """The ``(n_fft // 2 + 1, feature_size)`` Slaney filter bank, built in float64 (the reference: float32)."""
    return mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1,
        num_mel_filters=feature_size,
        min_frequency=0.0,
        max_frequency=max_frequency,
        sampling_rate=sampling_rate,
        norm="slaney",
        mel_scale="slaney",
        dtype=np.float64,
    )


def _preemphasis(x, coefficient):
    """Whole-clip pre-emphasis, ``y[0] = x[0]``, ``y[i] = x[i] - c x[i - 1]``; ``None`` skips it.

    The reference then zeroes the samples past each clip's length, a no-op for a single clip.
    """
    if coefficient is None:
        return x
    return np.concatenate([x[:1], x[1:] - coefficient * x[:-1]])


def _round_to(values, dtype_name):
    """NemotronAsrStreaming's ``tensor.to(getattr(torch, dtype_name)).float()``, from the float64 values."""
    if dtype_name in ("float32", "float", "float64", "double"):
        return values  # no rounding (float32 is the reference's working precision, not a deliberate rounding)
    as32 = values.astype(np.float32)
    if dtype_name in ("float16", "half"):
        return as32.astype(np.float16).astype(np.float64)
    if dtype_name == "bfloat16":  # round to nearest even on the upper 16 bits of the float32 pattern
        bits = as32.view(np.uint32).astype(np.uint64)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        return bits.astype(np.uint32).view(np.float32).astype(np.float64)
    raise ValueError(f"unsupported mel_filters_dtype {dtype_name!r}")


def _nemo_log_mel(x, *, feature_size, sampling_rate, hop_length, n_fft, win_length, preemphasis, dtype_name):
    """Shared front end: pre-emphasis, centred STFT, power, Slaney mel, ``log(mel + 2 ** -24)``; plus the mask."""
    n = x.shape[0]
    x = _preemphasis(x, preemphasis)
    window = _round_to(_hann(win_length, periodic=False), dtype_name)
    spectrum = _stft(x, n_fft=n_fft, hop=hop_length, window=window, center=True)
    power = np.sqrt(spectrum.real**2 + spectrum.imag**2) ** 2  # the reference's sqrt(sum(view_as_real ** 2)) ** 2
    filters = _round_to(_slaney_filters(n_fft, feature_size, sampling_rate, sampling_rate / 2), dtype_name)
    log_mel = np.log(power @ filters + LOG_ZERO_GUARD_VALUE)  # (frames, feature_size)
    valid = (n + n_fft // 2 * 2 - n_fft) // hop_length  # = frames - 1
    mask = np.arange(log_mel.shape[0]) < valid
    return log_mel, mask, valid


def _normalise(features, mask, valid):
    """Per-band ``(x - mean) / (std + 1e-5)`` over the valid frames (ddof 1), then the masked frames zeroed.

    ``valid <= 1`` divides 0 by 0, which makes every value NaN, as in the reference.
    """
    m = mask[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        masked = features * m
        mean = masked.sum(axis=0) / valid
        variance = ((masked - mean) ** 2 * m).sum(axis=0) / (valid - 1)
        out = (features - mean) / (np.sqrt(variance) + NORM_EPSILON)
        return out * m  # NaN * 0 stays NaN


def parakeet(
    clip,
    *,
    feature_size=80,
    sampling_rate=16000,
    hop_length=160,
    n_fft=512,
    win_length=400,
    preemphasis=0.97,
    padding_value=0.0,
):
    """``ParakeetFeatureExtractor(**config)([clip], sampling_rate=sr, return_tensors="np")``, batch axis removed.

    Returns ``{"input_features": (1 + (n + 2 (n_fft // 2) - n_fft) // hop, feature_size) float64,
    "attention_mask": bool}``; ``padding_value`` does not matter for one clip.
    """
    log_mel, mask, valid = _nemo_log_mel(
        _clip(clip),
        feature_size=feature_size,
        sampling_rate=sampling_rate,
        hop_length=hop_length,
        n_fft=n_fft,
        win_length=win_length,
        preemphasis=preemphasis,
        dtype_name="float64",
    )
    return {"input_features": _normalise(log_mel, mask, valid), "attention_mask": mask}


def cohere_asr(
    clip,
    *,
    feature_size=128,
    sampling_rate=16000,
    hop_length=160,
    n_fft=512,
    win_length=400,
    preemphasis=0.97,
    padding_value=0.0,
    dither=1e-5,
    max_audio_clip_s=35.0,
    overlap_chunk_second=5.0,
    min_energy_window_samples=1600,
):
    """``CohereAsrFeatureExtractor(**config)([clip], sampling_rate=sr, return_tensors="np")``, batch axis removed.

    As :func:`parakeet` (default ``feature_size=128``), plus ``"audio_chunk_index": [(0, None)]``.  Pass
    ``dither=0.0``: the reference's seeded dither cannot be reproduced, so any other value raises
    ``ValueError``, as does a clip longer than ``max(0, max_audio_clip_s - overlap_chunk_second)`` seconds
    (the reference splits those into chunks).
    """
    x = _clip(clip)
    if dither != 0:
        raise ValueError(f"only dither=0 can be ported (torch's seeded randn), got dither={dither}")
    threshold_s = max(0.0, max_audio_clip_s - overlap_chunk_second)
    if x.shape[0] / sampling_rate > threshold_s:
        raise ValueError(f"clips over {threshold_s} s are split into chunks by the reference; not ported")
    log_mel, mask, valid = _nemo_log_mel(
        x,
        feature_size=feature_size,
        sampling_rate=sampling_rate,
        hop_length=hop_length,
        n_fft=n_fft,
        win_length=win_length,
        preemphasis=preemphasis,
        dtype_name="float64",
    )
    return {
        "input_features": _normalise(log_mel, mask, valid),
        "attention_mask": mask,
        "audio_chunk_index": [(0, None)],
    }


def nemotron_asr_streaming(
    clip,
    *,
    feature_size=80,
    sampling_rate=16000,
    hop_length=160,
    n_fft=512,
    win_length=400,
    preemphasis=0.97,
    padding_value=0.0,
    mel_filters_dtype="float32",
):
    """``NemotronAsrStreamingFeatureExtractor(**config)([clip], sampling_rate=sr, return_tensors="np")`` (center=True).

    Log-mel (no normalisation) with the last frame masked and zeroed; ``mel_filters_dtype`` ``"bfloat16"`` or
    ``"float16"`` rounds the window and filter bank to that dtype, ``"float32"`` keeps them in float64.
    """
    log_mel, mask, _ = _nemo_log_mel(
        _clip(clip),
        feature_size=feature_size,
        sampling_rate=sampling_rate,
        hop_length=hop_length,
        n_fft=n_fft,
        win_length=win_length,
        preemphasis=preemphasis,
        dtype_name=mel_filters_dtype,
    )
    return {"input_features": log_mel * mask[:, None], "attention_mask": mask}


def _to_exact_int(value, name, tolerance=1e-6):
    rounded = round(value)
    if abs(value - rounded) > tolerance:
        raise ValueError(f"{name} must resolve to an integer sample count, got {value}")
    return int(rounded)


def inkling(
    clip,
    *,
    feature_size=80,
    sampling_rate=16000,
    padding_value=0.0,
    audio_token_duration_s=0.05,
    window_size_multiplier=2.0,
    n_fft=None,
):
    """``InklingFeatureExtractor(**config)([clip], sampling_rate=sr, return_tensors="np")``, batch axis removed.

    Returns ``{"input_features": (ceil(n / hop), feature_size) float64 log10-mel, "input_features_mask": bool}``.
    """
    x = _clip(clip)
    hop = _to_exact_int(audio_token_duration_s * sampling_rate, "audio_token_duration_s * sampling_rate")
    window_size = _to_exact_int(
        audio_token_duration_s * window_size_multiplier * sampling_rate,
        "audio_token_duration_s * window_size_multiplier * sampling_rate",
    )
    n_fft = n_fft or window_size
    if hop <= 0 or window_size <= 0 or n_fft <= 0:
        raise ValueError("hop_length, window_size, and n_fft must all be positive")
    n = x.shape[0]
    right_pad = math.ceil(n / hop) * hop - n
    x = np.pad(x, (max(n_fft - hop, 0), right_pad))
    spectrum = _stft(x, n_fft=n_fft, hop=hop, window=_hann(window_size, periodic=True), center=False)
    magnitude = np.sqrt(np.maximum(spectrum.real**2 + spectrum.imag**2, INKLING_FLOOR))
    filters = _slaney_filters(n_fft, feature_size, sampling_rate, sampling_rate / 2.0)
    log_mel = np.log10(np.maximum(magnitude @ filters, INKLING_FLOOR))
    mask = np.arange(log_mel.shape[0]) < (n + hop - 1) // hop
    return {"input_features": log_mel * mask[:, None], "input_features_mask": mask}
