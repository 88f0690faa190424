"""Float64 NumPy ports of the transformers feature extractors that compute through torch/torchaudio.

The tests may not import torch, so these ports stand in for four transformers
5.25 extractors, each called on a batch of ONE clip, ``fe([clip], ...)``
(GraniteSpeech: ``fe([clip])``).  Each function takes that clip and the
extractor's constructor keyword arguments (defaults = the class's) and returns
the extractor's keys with the batch axis removed: features in float64, masks
as the extractor gives them.  Written from the sources
(``models/<name>/feature_extraction_<name>.py``; torchaudio's
``compliance/kaldi.py`` ``fbank``, ``transforms.MelSpectrogram``,
``functional.compute_deltas``).  ``n`` is the clip length below.

* :func:`fun_asr_nano` (``FunAsrNanoFeatureExtractor``): Kaldi fbank
  (``torchaudio.compliance.kaldi.fbank``: snip-edges frames of
  ``L = int(sr * frame_length * 1e-3)`` samples every
  ``S = int(sr * frame_shift * 1e-3)``, DC removal, pre-emphasis 0.97, a
  symmetric ``window`` (default ``"hamming"``, 0.54 - 0.46 cos), FFT to the next
  power of two, Kaldi mel bands from 20 Hz to Nyquist, ``ln(max(., f32 eps))``)
  on the clip unscaled, ``T = 1 + (n - L) // S`` frames (the reference asserts
  ``n >= L``); then LFR: the frames are extended by ``(m - 1) // 2`` copies of
  the first and ``m - 1 - (m - 1) // 2`` of the last (``m = num_frames_lfr``),
  and output row ``r`` concatenates extended frames ``r * s .. r * s + m - 1``
  (``s = stride_lfr``; frames past the end repeat the last one), i.e. original
  frame ``clip(r * s + j - (m - 1) // 2, 0, T - 1)`` for ``j < m``:
  ``input_features`` is ``(ceil(T / s), m * feature_size)`` and
  ``input_features_mask`` is int32 ones of that row count (absent when
  ``return_attention_mask=False``).
* :func:`granite_speech` (``GraniteSpeechFeatureExtractor``): torchaudio
  ``MelSpectrogram(sr, n_fft, win_length, hop_length, n_mels)`` (centred,
  reflect-padded by ``n_fft // 2``, so ``n > n_fft // 2``; periodic Hann of
  ``win_length`` zero-padded centrally to ``n_fft``; power 2; HTK mels, no norm),
  ``T = 1 + n // hop`` frames (even ``n_fft``); ``log10(max(., 1e-10))``, floored
  at the clip's maximum minus 8, ``/ 4 + 1``; an odd last frame dropped and
  frame pairs concatenated: ``input_features`` ``(T // 2, 2 * n_mels)``.
  ``audio_embed_sizes`` is ``ceil(((n // hop + 1) // 2) / w) * (w // d)``
  (``w = projector_window_size``, ``d = projector_downsample_rate``), returned
  as an int; ``input_features_mask`` is bool ones of that length.
* :func:`granite_speech5` (``GraniteSpeech5FeatureExtractor``):
  ``F = n // hop`` and ``K = 2 * ceil(F / 2)`` frames are kept; the clip is
  right-padded with zeros to ``(K - 1) * hop + 1`` samples when shorter (with
  ``hop > 1`` that is one zero sample exactly when ``n`` is an odd multiple of
  ``hop``); the MelSpectrogram above, cut to its first ``K`` frames; the same
  log10 floor (``logmel_floor_db`` below the maximum over the kept frames);
  ``torchaudio.functional.compute_deltas`` along time
  (``delta[t] = sum_k k (x[t + k] - x[t - k]) / (2 sum_k k^2)``,
  ``k = 1 .. (delta_win_length - 1) // 2``, edge frames replicated); rows
  ``[logmel[2i], delta[2i], logmel[2i + 1], delta[2i + 1]]``:
  ``input_features`` ``(K / 2, 4 * num_mel_bins)`` and ``attention_mask`` int64
  ones of ``ceil(F / 2) = K / 2``.  The reference errors when ``F = 0``
  (``amax`` of no frames) and when the padded clip has ``<= n_fft // 2`` samples.
* :func:`speech_to_text` (``Speech2TextFeatureExtractor``, torchaudio path):
  the Kaldi fbank above with its torchaudio defaults (povey window, 25/10 ms,
  ``num_mel_bins``) on ``clip * 2 ** 15`` (the reference first casts the clip
  to float32), ``T = 1 + (n - 400) // 160`` rows at 16 kHz (``n >= 400``
  asserted); then, if ``do_ceptral_normalize``, utterance CMVN per mel bin over
  the ``T`` frames: minus the mean (``normalize_means``), divided by the
  population standard deviation (``ddof=0``, no epsilon: a constant bin, e.g.
  digital silence, gives NaN or inf) of the (centred) features
  (``normalize_vars``); the reference returns float32.  ``input_features``
  ``(T, num_mel_bins)``, ``attention_mask`` int32 ones of ``T``.  Dither is
  random and refused here.

Checked by hand against the real ``FunAsrNanoFeatureExtractor``,
``GraniteSpeechFeatureExtractor``, ``GraniteSpeech5FeatureExtractor`` and
``Speech2TextFeatureExtractor`` (transformers 5.25, torch 2.13, torchaudio 2.11)
with ``tests/references/check_hf_torchaudio_ports.py``: noise, tones, a
near-silent clip with a 0.1 s burst and a speech-like clip of 257 (mel only),
401, 560, 4800, 4960, 7001 (< 0.5 s), 16000, 16001 and 16160 samples (300 and
16100 with hop 100; 129-8001 at 8 kHz), defaults and non-default
configurations (FunAsrNano: 40 / 23 bins, LFR 5/3, 4/1, 3/2, 1/1, hanning /
povey / blackman / rectangular windows, 20/8 ms frames, 8 kHz; Granite: hop
128, 64 mels, win 512, projector 10/2, 8 kHz; Granite5: hop 100, 64 mels,
deltas 5 and 4, floor 6 dB, n_fft 400 / win 320; Speech2Text: 40 bins, means
or vars only, no CMVN, 8 kHz).  Shapes, masks (values and dtypes) and
``audio_embed_sizes`` were identical in every case, and the port raises
wherever the reference does (399 samples for Kaldi, 256 for the mels, 200 for
Granite5).  Against the references run in float64 (float64 clip, torch
default dtype float64 so that torchaudio builds its windows and Kaldi / HTK
filter banks in float64, the extractors' ``.float()`` made ``.double()``,
Speech2Text's CMVN without its float32 cast) the max abs difference was
1.6e-12 (FunAsrNano, log-mels up to 16), 1.5e-14 (GraniteSpeech), 5.1e-14
(GraniteSpeech5) and 4.9e-12 (Speech2Text; 3.4e-10 = 5e-14 relative with
``normalize_means=False``, whose features reach 6.8e3).  The default float32
references are up to 5.4e-4 (FunAsrNano), 9.8e-6 (GraniteSpeech), 1.4e-5
(GraniteSpeech5) and 1.6e-3 (Speech2Text, CMVN of a tones clip; 0.18 of
6.8e3 without mean removal) from these ports.  A one-frame clip (401 samples)
makes Speech2Text's default CMVN all NaN (``0 / 0``) in both; digital silence
makes it entirely infinite, with a round-off sign (float32: -inf, float64 and
this port: +inf).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from tests.references import kaldi_fbank as rk
from tests.references import torchaudio_mel as rt

# ----------------------------------------------------------------------------------------------- shared pieces


def kaldi_window(kind, length, blackman_coeff=0.42):
    """torchaudio's Kaldi windows (symmetric): hanning, hamming, povey, rectangular, blackman."""
    if kind in ("hanning", "povey"):
        return rk.window(kind, length)
    i = np.arange(length)
    a = 2.0 * math.pi / (length - 1)
    if kind == "hamming":  # torch.hamming_window(length, periodic=False, alpha=0.54, beta=0.46)
        return 0.54 - 0.46 * np.cos(a * i)
    if kind == "rectangular":
        return np.ones(length)
    if kind == "blackman":
        return blackman_coeff - 0.5 * np.cos(a * i) + (0.5 - blackman_coeff) * np.cos(2.0 * a * i)
    raise ValueError(f"window {kind!r} is not one of 'hamming', 'hanning', 'povey', 'rectangular', 'blackman'")


@functools.lru_cache(maxsize=32)
def _kaldi_mel_weights(num_bins, fft_length, sampling_rate, low_freq, high_freq):
    weights = rk.mel_banks(num_bins, fft_length, sampling_rate, low_freq, high_freq)
    weights.setflags(write=False)
    return weights


def kaldi_fbank(
    audio,
    *,
    sampling_rate=16000,
    frame_length=25.0,
    frame_shift=10.0,
    num_mel_bins=23,
    window_type="povey",
    low_freq=20.0,
    high_freq=0.0,
    preemphasis=0.97,
):
    """``torchaudio.compliance.kaldi.fbank(audio[None], ...)`` for those options (others at their defaults), float64.

    ``frame_length`` and ``frame_shift`` are in ms, as in torchaudio; ``high_freq
    <= 0`` is an offset from Nyquist.  The mel weights are
    :func:`tests.references.kaldi_fbank.mel_banks`.  Raises ``ValueError`` where
    torchaudio's asserts fail (clip shorter than one frame, fewer than 4 bins).
    """
    x = np.asarray(audio, dtype=np.float64)
    length, shift = rk.samples(sampling_rate, frame_length), rk.samples(sampling_rate, frame_shift)
    if not 2 <= length <= x.shape[0]:
        raise ValueError(f"torchaudio asserts 2 <= window size {length} <= clip length {x.shape[0]}")
    if shift <= 0 or num_mel_bins <= 3:
        raise ValueError("torchaudio asserts a positive frame shift and more than 3 mel bins")
    fft_length = 1 << (length - 1).bit_length()
    high = high_freq + sampling_rate / 2.0 if high_freq <= 0.0 else high_freq
    n_frames = 1 + (x.shape[0] - length) // shift
    frames = np.stack([x[f * shift : f * shift + length] for f in range(n_frames)])
    frames = frames - frames.mean(axis=1, keepdims=True)  # remove_dc_offset
    previous = np.concatenate([frames[:, :1], frames[:, :-1]], axis=1)  # x[max(0, j - 1)]
    frames = (frames - preemphasis * previous) * kaldi_window(window_type, length)
    power = np.abs(np.fft.rfft(frames, n=fft_length, axis=1)) ** 2
    weights = _kaldi_mel_weights(num_mel_bins, fft_length, sampling_rate, float(low_freq), float(high))
    return np.log(np.maximum(power @ weights, rk.F32_EPS))


def mel_spectrogram(audio, *, sampling_rate, n_fft, win_length, hop_length, n_mels):
    """``torchaudio.transforms.MelSpectrogram(sampling_rate, n_fft, win_length, hop_length, n_mels)(audio)``, float64.

    Returns ``(n_mels, 1 + (n + 2 * (n_fft // 2) - n_fft) // hop_length)``.  The
    periodic Hann window of ``win_length`` is zero-padded on both sides to
    ``n_fft`` (left ``(n_fft - win_length) // 2``), as ``torch.stft`` does.
    """
    x = np.asarray(audio, dtype=np.float64)
    if win_length > n_fft:
        raise ValueError(f"torch.stft needs win_length {win_length} <= n_fft {n_fft}")
    pad = n_fft // 2
    if x.shape[0] <= pad:
        raise ValueError(f"reflect padding of {pad} needs a clip longer than {pad} samples, got {x.shape[0]}")
    padded = np.pad(x, pad, mode="reflect")
    window = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    window[left : left + win_length] = rt.hann_periodic(win_length)
    n_frames = 1 + (padded.shape[0] - n_fft) // hop_length
    frames = np.stack([padded[f * hop_length : f * hop_length + n_fft] for f in range(n_frames)]) * window
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    fb = rt.melscale_fbanks(n_fft // 2 + 1, 0.0, float(sampling_rate // 2), n_mels, sampling_rate)
    return (power @ fb).T


def _log10_floor(mel, floor_db):
    """``max(log10(max(mel, 1e-10)), max_all - floor_db) / 4 + 1`` (the Granite log-mel)."""
    logmel = np.log10(np.maximum(mel, 1e-10))
    return np.maximum(logmel, logmel.max() - floor_db) / 4.0 + 1.0


def compute_deltas(spec, win_length=5):
    """``torchaudio.functional.compute_deltas(spec, win_length)`` of a ``(freq, time)`` array, edges replicated."""
    if win_length < 3:
        raise ValueError(f"Window length should be greater than or equal to 3. Found win_length {win_length}")
    spec = np.asarray(spec, dtype=np.float64)
    half = (win_length - 1) // 2
    padded = np.pad(spec, ((0, 0), (half, half)), mode="edge")
    t = spec.shape[1]
    out = np.zeros_like(spec)
    for k in range(1, half + 1):
        out += k * (padded[:, half + k : half + k + t] - padded[:, half - k : half - k + t])
    return out / (half * (half + 1) * (2 * half + 1) / 3)


def _one_clip(clip):
    x = np.asarray(clip, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"one 1-D clip expected, got shape {x.shape}")
    return x


# ----------------------------------------------------------------------------------------------- the extractors


def fun_asr_nano(
    clip,
    *,
    feature_size=80,
    sampling_rate=16000,
    frame_length=25,
    frame_shift=10,
    num_frames_lfr=7,
    stride_lfr=6,
    window="hamming",
    padding_value=0.0,
    return_attention_mask=True,
):
    """``FunAsrNanoFeatureExtractor(**config)([clip], sampling_rate=sr, return_tensors="np")``, batch axis removed."""
    del padding_value  # one clip: nothing is padded
    fbank = kaldi_fbank(
        _one_clip(clip),
        sampling_rate=sampling_rate,
        frame_length=frame_length,
        frame_shift=frame_shift,
        num_mel_bins=feature_size,
        window_type=window,
    )
    n_frames = fbank.shape[0]
    n_rows = -(-n_frames // stride_lfr)
    left = (num_frames_lfr - 1) // 2
    index = np.arange(n_rows)[:, None] * stride_lfr + np.arange(num_frames_lfr)[None, :] - left
    features = fbank[np.clip(index, 0, n_frames - 1)].reshape(n_rows, num_frames_lfr * feature_size)
    out = {"input_features": features}
    if return_attention_mask:
        out["input_features_mask"] = np.ones(n_rows, dtype=np.int32)
    return out


def granite_speech(
    clip,
    *,
    sampling_rate=16000,
    n_fft=512,
    win_length=400,
    hop_length=160,
    n_mels=80,
    projector_window_size=15,
    projector_downsample_rate=5,
    padding_value=0.0,
    feature_size=None,
):
    """``GraniteSpeechFeatureExtractor(**config)([clip])``, batch axis removed, as NumPy.

    Keys: ``input_features`` ``(T // 2, 2 * n_mels)`` float64,
    ``audio_embed_sizes`` (an int), ``input_features_mask`` (bool, all True).
    """
    del padding_value, feature_size  # one clip; feature_size is only stored
    x = _one_clip(clip)
    mel = mel_spectrogram(
        x, sampling_rate=sampling_rate, n_fft=n_fft, win_length=win_length, hop_length=hop_length, n_mels=n_mels
    )
    logmel = _log10_floor(mel.T, 8.0)  # (frames, n_mels)
    logmel = logmel[: logmel.shape[0] // 2 * 2]
    features = logmel.reshape(-1, 2 * n_mels)
    encoder_length = (x.shape[0] // hop_length + 1) // 2
    blocks = math.ceil(encoder_length / projector_window_size)
    embed_size = blocks * (projector_window_size // projector_downsample_rate)
    return {
        "input_features": features,
        "audio_embed_sizes": embed_size,
        "input_features_mask": np.ones(embed_size, dtype=bool),
    }


def granite_speech5(
    clip,
    *,
    num_mel_bins=80,
    sampling_rate=16000,
    n_fft=512,
    win_length=400,
    hop_length=160,
    delta_win_length=3,
    logmel_floor_db=8.0,
    padding_value=0.0,
    feature_size=None,
):
    """``GraniteSpeech5FeatureExtractor(**config)([clip], sampling_rate=sr, return_tensors="np")``, batch axis removed.

    Keys: ``input_features`` ``(K / 2, 4 * num_mel_bins)`` float64 and
    ``attention_mask`` (int64 ones), ``K = 2 * ceil((n // hop_length) / 2)``.
    """
    del padding_value, feature_size  # one clip: "longest" pads nothing; feature_size is derived
    x = _one_clip(clip)
    mel_frames = x.shape[0] // hop_length
    num_frames = 2 * -(-mel_frames // 2)
    if num_frames == 0:
        raise ValueError(f"a clip of {x.shape[0]} < hop_length {hop_length} samples gives no frame (torch: amax error)")
    needed = (num_frames - 1) * hop_length + 1
    if x.shape[0] < needed:
        x = np.concatenate([x, np.zeros(needed - x.shape[0])])
    mel = mel_spectrogram(
        x, sampling_rate=sampling_rate, n_fft=n_fft, win_length=win_length, hop_length=hop_length, n_mels=num_mel_bins
    )[:, :num_frames]
    logmel = _log10_floor(mel, logmel_floor_db)  # (mels, frames)
    deltas = compute_deltas(logmel, win_length=delta_win_length)
    stacked = np.concatenate([logmel, deltas], axis=0).T  # (frames, 2 * mels)
    features = stacked.reshape(num_frames // 2, 4 * num_mel_bins)
    return {"input_features": features, "attention_mask": np.ones(num_frames // 2, dtype=np.int64)}


def speech_to_text(
    clip,
    *,
    feature_size=80,
    sampling_rate=16000,
    num_mel_bins=80,
    padding_value=0.0,
    dither=0.0,
    do_ceptral_normalize=True,
    normalize_means=True,
    normalize_vars=True,
):
    """``Speech2TextFeatureExtractor(**config)([clip], sampling_rate=sr, return_tensors="np")`` on its torchaudio path.

    Keys: ``input_features`` ``(T, num_mel_bins)`` float64 and ``attention_mask``
    (int32 ones), ``T = 1 + (n - L) // S`` Kaldi frames (25 / 10 ms).
    """
    del feature_size, padding_value  # only used to pad batches
    if dither != 0.0:
        raise ValueError("dither adds random noise; the port only reproduces dither=0.0")
    features = kaldi_fbank(
        _one_clip(clip) * 2.0**15, sampling_rate=sampling_rate, num_mel_bins=num_mel_bins, window_type="povey"
    )
    if do_ceptral_normalize:
        if normalize_means:
            features = features - features.mean(axis=0)
        if normalize_vars:
            with np.errstate(divide="ignore", invalid="ignore"):  # a constant bin: as NumPy in the reference
                features = features / features.std(axis=0)
    return {"input_features": features, "attention_mask": np.ones(features.shape[0], dtype=np.int32)}
