"""Naive float64 NumPy ports of five torch-only transformers feature extractors.

The tests may not import torch, so these ports stand in for the transformers
5.25 extractors that compute only through torch.  Each function takes ONE 1-D
clip and the extractor's constructor keywords (same names and defaults) and
returns what ``fe([clip], sampling_rate=sr, return_tensors="np")`` returns,
with the batch axis removed, computed in float64 (the references compute in
float32 except Lasr's spectrum, and all return float32).  Mel filter banks
come from ``transformers.audio_utils`` (NumPy, float64; the references cast
them to float32 except Lasr's).  For :func:`qwen3_asr`, :func:`voxtral_realtime`
and :func:`lasr`, ``return_attention_mask`` is the CALL's argument (default
None, as the reference's: no mask), not the constructor's; ``dither`` must be 0.

``torch.stft`` (Qwen3-ASR, Voxtral Realtime, Dots3Note) means ``center=True``
with reflect padding of ``n_fft // 2`` on each side (torch's reflect, which
refuses clips of ``n_fft // 2`` samples or fewer), a periodic Hann window of
``n_fft`` samples, ``1 + (m + 2 (n_fft // 2) - n_fft) // hop`` frames for a
padded length ``m`` (``1 + m // hop`` for even ``n_fft``), of which the last is
dropped (``stft[..., :-1]``), then power ``|X| ** 2``.  Whisper's log is
``(max(log10(max(mel, 1e-10)), floor) + 4) / 4``.

- :func:`qwen3_asr` (``Qwen3ASRFeatureExtractor``): the clip is zero-padded to
  ``min_length`` samples (counted valid by the mask), then right-padded with
  ``padding_value`` to ``chunk_length * sampling_rate`` samples (longer clips
  are kept whole); Whisper log mel with floor = max over every mel and frame
  of that padded signal minus 8; the frame axis is right-padded with 0.0 (not
  the floor) to a multiple of ``2 * n_window``.  The sample mask ``[::hop]``,
  dropping its last entry when the padded length is not a multiple of hop,
  is padded with 0 alike; the reference returns it (int32) only when the call
  passes ``return_attention_mask=True``, and fails (KeyError) when it passes
  False.
- :func:`voxtral_realtime` (``VoxtralRealtimeFeatureExtractor``, ``center=True``):
  no padding; Whisper log mel with the fixed floor ``global_log_mel_max - 8``
  (the clip's max minus 8 when it is None); ``win_length`` is used only by the
  mask, ``ones(n)[win_length - 1 :: hop]`` (bool), returned only when the call
  passes ``return_attention_mask=True``.
- :func:`lasr` (``LasrFeatureExtractor``): frames of ``win_length`` samples
  every ``hop`` (no centering), symmetric Hann, ``rfft`` zero-padded to
  ``n_fft``, power, an HTK (``kaldi``) mel matrix from 125 to 7500 Hz with the
  DC row zeroed, ``ln(max(mel, 1e-5))``, time-major; mask as Voxtral's.
- :func:`phi4_multimodal` (``Phi4MultimodalFeatureExtractor``): frames of
  ``win_length`` every ``hop``; per-frame pre-emphasis ``(f - p * roll(f, 1))``
  with the first sample's predecessor being itself, times 32768; symmetric
  Hamming; ``rfft`` to ``n_fft``; power; kaldi mel triangular in mel space
  from ``mel_min_frequency`` to ``mel_max_frequency``; ``ln(max(mel, 1))``,
  time-major; ``audio_embed_sizes`` is
  ``ceil(ceil(frames * audio_feat_stride / audio_compression_rate) / audio_downsample_rate)``.
  For a batch of one the reference returns no mask.
- :func:`dots3_note` (``Dots3NoteFeatureExtractor``): one chunk only (clips
  up to ``chunk_length * sampling_rate`` samples; longer ones raise
  ValueError here, where the reference would split them): right-padded with
  ``padding_value`` to the chunk length, Whisper log mel with floor = max over
  every mel and frame of the padded chunk minus 8, then cut to
  ``8 ceil(n / (8 hop))`` frames.

Checked by hand against the real ``Qwen3ASRFeatureExtractor``,
``VoxtralRealtimeFeatureExtractor``, ``LasrFeatureExtractor``,
``Phi4MultimodalFeatureExtractor`` and ``Dots3NoteFeatureExtractor``
(transformers 5.25, torch 2.13) with ``tests/references/check_hf_whisper_ports.py``
on noise, tones, near-silence with a burst, silence, clips of 0.2 s, 16001
samples, multiples of the hop, just over one window and (Qwen) 30 s and 31 s,
with defaults and other feature sizes, hops, odd and even n_fft, win_length,
chunk_length / chunk_seconds, n_window (0 too), min_length, padding_value,
global_log_mel_max (None too), pre-emphasis and compression rates: keys,
shapes, masks and integer outputs were identical, and both sides refuse the
same too-short clips.  With the reference run in float64 (its float32 casts
and default dtype patched to float64, on clips, and a padding_value, that are
exact in float32, as it rounds them) the max absolute difference was 2.0e-13
(Qwen3-ASR), 1.8e-13 (Voxtral Realtime, Dots3Note), 1.5e-12 (Lasr, natural
log of values down to 1e-5) and 1.4e-12 (Phi-4, values up to about 30).  The
default float32 references are off by up to 7.1e-5 (Qwen3-ASR, Dots3Note),
8.8e-5 (Voxtral Realtime), 2.7e-4 (Phi-4, 9.4e-6 of its largest value) and
4.8e-7 (Lasr, which only rounds its float64 result to float32); of this,
their float32 filter banks alone account for 6.4e-9 (Whisper log) and 4.6e-8
(Phi-4).  A float64 clip not exact in float32 adds the reference's input
rounding: 2e-6 (Whisper log), 8e-6 (Phi-4), 5e-5 (Lasr) on a tone.
"""

from __future__ import annotations

import math

import numpy as np
from transformers.audio_utils import hertz_to_mel, mel_filter_bank

__all__ = ["dots3_note", "lasr", "phi4_multimodal", "qwen3_asr", "voxtral_realtime"]


def _clip(clip):
    """The clip as a float64 1-D array."""
    x = np.asarray(clip, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"one 1-D clip expected, got shape {x.shape}")
    return x


def _no_dither(dither):
    if dither != 0.0:
        raise ValueError("dither adds random noise in the reference; the port supports only dither=0.0")


def _hann_periodic(length):
    """``torch.hann_window(length)``: ``0.5 - 0.5 cos(2 pi i / length)``."""
    return 0.5 - 0.5 * np.cos(2.0 * math.pi * np.arange(length) / length)


def _cosine_symmetric(length, alpha):
    """``torch.{hann,hamming}_window(length, periodic=False)``: ``alpha - (1 - alpha) cos(2 pi i / (length - 1))``."""
    if length == 1:
        return np.ones(1)
    return alpha - (1.0 - alpha) * np.cos(2.0 * math.pi * np.arange(length) / (length - 1))


def _frames(x, length, hop):
    """``x.unfold(-1, length, hop)``: ``(1 + (n - length) // hop, length)`` frames; torch refuses ``n < length``."""
    if x.shape[0] < length:
        raise ValueError(f"framing needs at least win_length={length} samples, got {x.shape[0]}")
    return np.lib.stride_tricks.sliding_window_view(x, length)[::hop]


def _stft_power(x, n_fft, hop):
    """``torch.stft(x, n_fft, hop, window=hann_window(n_fft), return_complex=True)[..., :-1].abs() ** 2``.

    Returns ``(1 + n_fft // 2, n_frames - 1)`` float64.
    """
    pad = n_fft // 2
    if x.shape[0] <= pad:  # torch's reflect pad: "Padding size should be less than the ... input dimension"
        raise ValueError(f"reflect padding of {pad} needs a clip longer than {pad} samples, got {x.shape[0]}")
    padded = np.pad(x, pad, mode="reflect")  # reflect without repeating the edge sample, as torch
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    spectrum = np.fft.rfft(frames * _hann_periodic(n_fft), axis=-1)
    return (np.abs(spectrum) ** 2).T[:, :-1]


def _whisper_filters(feature_size, sampling_rate, n_fft):
    """The Slaney-normalised Slaney-scale bank from 0 to 8000 Hz, ``(1 + n_fft // 2, feature_size)`` float64."""
    return mel_filter_bank(
        num_frequency_bins=1 + n_fft // 2,
        num_mel_filters=feature_size,
        min_frequency=0.0,
        max_frequency=8000.0,
        sampling_rate=sampling_rate,
        norm="slaney",
        mel_scale="slaney",
    )


def _whisper_log_mel(x, *, feature_size, sampling_rate, n_fft, hop_length, floor_max=None):
    """``(feature_size, frames)`` ``(max(log10(max(mel, 1e-10)), top - 8) + 4) / 4``.

    ``top`` is ``floor_max`` when given, else the max over every mel and frame.
    """
    mel = _whisper_filters(feature_size, sampling_rate, n_fft).T @ _stft_power(x, n_fft, hop_length)
    log_spec = np.log10(np.maximum(mel, 1e-10))
    top = log_spec.max() if floor_max is None else float(floor_max)
    return (np.maximum(log_spec, top - 8.0) + 4.0) / 4.0


def qwen3_asr(
    clip,
    *,
    feature_size=128,
    sampling_rate=16000,
    hop_length=160,
    chunk_length=30,
    n_fft=400,
    padding_value=0.0,
    dither=0.0,
    n_window=50,
    min_length=8000,
    return_attention_mask=None,
):
    """``Qwen3ASRFeatureExtractor(**config)([clip], sampling_rate=sampling_rate, return_tensors="np")``.

    ``return_attention_mask`` is the CALL's argument (the constructor's is not
    accepted: with the call's None it only turns the output into a KeyError).
    Returns ``{"input_features": (feature_size, T)}`` float64, plus
    ``"attention_mask"`` ``(T,)`` int32 when ``return_attention_mask`` is True.
    With ``n1 = max(n, min_length)``, ``m = max(n1, chunk_length * sampling_rate)``
    and even ``n_fft``, there are ``m // hop`` computed frames, right-padded with
    0.0 to ``T``, the next multiple of ``2 * n_window``; the mask has
    ``min(ceil(n1 / hop), m // hop)`` leading ones.
    """
    _no_dither(dither)
    if return_attention_mask is not None and not return_attention_mask:
        raise ValueError("the reference fails (KeyError 'attention_mask') with return_attention_mask=False")
    x = _clip(clip)
    if min_length > 0 and x.shape[0] < min_length:
        x = np.pad(x, (0, min_length - x.shape[0]))  # zeros, counted as valid samples
    sample_mask = np.ones(x.shape[0], dtype=np.int32)
    target = chunk_length * sampling_rate  # padding="max_length", no truncation
    if x.shape[0] < target:
        sample_mask = np.pad(sample_mask, (0, target - x.shape[0]))
        x = np.pad(x, (0, target - x.shape[0]), constant_values=padding_value)

    features = _whisper_log_mel(
        x, feature_size=feature_size, sampling_rate=sampling_rate, n_fft=n_fft, hop_length=hop_length
    )
    mask = sample_mask[::hop_length]
    if sample_mask.shape[0] % hop_length != 0:
        mask = mask[:-1]

    multiple = n_window * 2
    if multiple and multiple > 1:
        remainder = features.shape[-1] % multiple
        pad = (multiple - remainder) if remainder else 0
        features = np.pad(features, [(0, 0), (0, pad)])
        mask = np.pad(mask, (0, pad))

    out = {"input_features": features}
    if return_attention_mask:
        out["attention_mask"] = mask
    return out


def voxtral_realtime(
    clip,
    *,
    feature_size=128,
    sampling_rate=16000,
    hop_length=160,
    n_fft=400,
    win_length=400,
    padding_value=0.0,
    global_log_mel_max=1.5,
    return_attention_mask=None,
):
    """``VoxtralRealtimeFeatureExtractor(**config)([clip], sampling_rate=sampling_rate, return_tensors="np")``.

    ``center=True``; ``return_attention_mask`` is the CALL's argument.
    Returns ``{"input_features": (feature_size, T)}`` float64 with
    ``T = n // hop`` (even ``n_fft``), plus ``"attention_mask"`` bool of
    ``max(0, (n - win_length) // hop + 1)`` ones (``ones(n)[win_length - 1 :: hop]``,
    not ``T`` long) when ``return_attention_mask`` is truthy.  ``padding_value``
    has no effect on one clip.
    """
    del padding_value  # padding="longest": nothing to pad for one clip
    x = _clip(clip)
    features = _whisper_log_mel(
        x,
        feature_size=feature_size,
        sampling_rate=sampling_rate,
        n_fft=n_fft,
        hop_length=hop_length,
        floor_max=global_log_mel_max,
    )
    out = {"input_features": features}
    if return_attention_mask:
        out["attention_mask"] = np.ones(x.shape[0], dtype=bool)[win_length - 1 :: hop_length]
    return out


def lasr_mel_matrix(num_mel_bins, num_spectrogram_bins, sample_rate, lower_edge_hertz=125.0, upper_edge_hertz=7500.0):
    """Lasr's ``linear_to_mel_weight_matrix``: ``(num_spectrogram_bins, num_mel_bins)`` float64.

    Triangles on the kaldi (HTK, ``1127 ln(1 + f / 700)``) mel scale, ``num_mel_bins + 2``
    edges equally spaced in mel, evaluated on ``linspace(0, sr / 2, bins)``
    without the DC bin, whose row is zero.
    """
    linear = np.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins, dtype=np.float64)[1:]
    bins_mel = hertz_to_mel(linear, mel_scale="kaldi")[:, None]
    edges = np.linspace(
        hertz_to_mel(lower_edge_hertz, mel_scale="kaldi"),
        hertz_to_mel(upper_edge_hertz, mel_scale="kaldi"),
        num_mel_bins + 2,
        dtype=np.float64,
    )
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    weights = np.maximum(0.0, np.minimum((bins_mel - lower) / (center - lower), (upper - bins_mel) / (upper - center)))
    return np.pad(weights, [[1, 0], [0, 0]])


def lasr(
    clip,
    *,
    feature_size=128,
    sampling_rate=16000,
    hop_length=160,
    n_fft=512,
    win_length=400,
    padding_value=0.0,
    return_attention_mask=None,
):
    """``LasrFeatureExtractor(**config)([clip], sampling_rate=sampling_rate, return_tensors="np")``.

    ``return_attention_mask`` is the CALL's argument.  Returns
    ``{"input_features": (T, feature_size)}`` float64 (time-major) with
    ``T = (n - win_length) // hop + 1`` (clips shorter than ``win_length``
    raise), plus ``"attention_mask"`` bool, ``T`` ones, when
    ``return_attention_mask`` is truthy.
    """
    del padding_value  # padding="longest": nothing to pad for one clip
    x = _clip(clip)
    frames = _frames(x, win_length, hop_length)
    spectrum = np.fft.rfft(_cosine_symmetric(win_length, 0.5) * frames, n=n_fft, axis=-1)
    mel = (np.abs(spectrum) ** 2) @ lasr_mel_matrix(feature_size, n_fft // 2 + 1, sampling_rate)
    out = {"input_features": np.log(np.maximum(mel, 1e-5))}
    if return_attention_mask:
        out["attention_mask"] = np.ones(x.shape[0], dtype=bool)[win_length - 1 :: hop_length]
    return out


def phi4_multimodal(
    clip,
    *,
    feature_size=80,
    sampling_rate=16000,
    hop_length=160,
    n_fft=512,
    win_length=400,
    preemphasis=0.97,
    padding_value=0.0,
    audio_compression_rate=8,
    audio_downsample_rate=1,
    audio_feat_stride=1,
    mel_min_frequency=0,
    mel_max_frequency=7690,
):
    """``Phi4MultimodalFeatureExtractor(**config)([clip], sampling_rate=sampling_rate, return_tensors="np")``.

    Returns ``{"audio_input_features": (T, feature_size)}`` float64 (time-major)
    with ``T = (n - win_length) // hop + 1`` (clips shorter than ``win_length``
    raise) and ``"audio_embed_sizes"`` (int64 scalar) as in the module docstring;
    no mask for a batch of one.
    """
    del padding_value  # padding="longest": nothing to pad for one clip
    x = _clip(clip)
    frames = _frames(x, win_length, hop_length)
    previous = np.roll(frames, 1, axis=-1)
    previous[:, 0] = previous[:, 1]  # the first sample's predecessor is itself
    frames = (frames - preemphasis * previous) * 32768.0
    spectrum = np.fft.rfft(_cosine_symmetric(win_length, 0.54) * frames, n=n_fft, axis=-1)
    filters = mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1,
        num_mel_filters=feature_size,
        min_frequency=mel_min_frequency,
        max_frequency=mel_max_frequency,
        sampling_rate=sampling_rate,
        triangularize_in_mel_space=True,
        mel_scale="kaldi",
    )
    features = np.log(np.maximum((np.abs(spectrum) ** 2) @ filters, 1.0))

    feature_length = ((x.shape[0] - win_length) // hop_length + 1) * audio_feat_stride
    embed = -(-feature_length // audio_compression_rate)
    embed = -(-embed // audio_downsample_rate)
    return {"audio_input_features": features, "audio_embed_sizes": np.int64(embed)}


def dots3_note(
    clip,
    *,
    feature_size=128,
    sampling_rate=16000,
    padding_value=0.0,
    n_fft=400,
    hop_length=160,
    chunk_length=60,
    chunk_seconds=None,
    return_attention_mask=False,
    dither=0.0,
):
    """``Dots3NoteFeatureExtractor(**config)([clip], sampling_rate=sampling_rate, return_tensors="np")``, one chunk.

    Returns ``{"input_features": (feature_size, T)}`` float64 with
    ``T = min(8 ceil(n / (8 hop)), c // hop)`` for ``c = chunk_length * sampling_rate``
    (even ``n_fft``), ``"chunk_sample_lengths"`` ``n`` and ``"num_audio_tokens"``
    ``ceil(n / (8 hop))`` (int64 scalars).  Clips longer than ``c`` raise
    ValueError.  ``return_attention_mask`` has no effect, as in the reference.
    """
    del return_attention_mask
    _no_dither(dither)
    chunk_length = chunk_length if chunk_seconds is None else chunk_seconds
    n_samples = chunk_length * sampling_rate
    x = _clip(clip)
    n = x.shape[0]
    if n > n_samples:
        raise ValueError(f"the port handles one chunk of at most {n_samples} samples, got {n}")
    tokens = -(-n // (hop_length * 8))
    padded = np.pad(x, (0, n_samples - n), constant_values=padding_value)
    features = _whisper_log_mel(
        padded, feature_size=feature_size, sampling_rate=sampling_rate, n_fft=n_fft, hop_length=hop_length
    )
    return {
        "input_features": features[:, : tokens * 8],
        "chunk_sample_lengths": np.int64(n),
        "num_audio_tokens": np.int64(tokens),
    }
