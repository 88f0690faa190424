"""A naive float64 NumPy Kaldi filter bank (``compute-fbank-feats``), written from Kaldi's description.

Slow and obviously correct: a Python loop over snip-edges frames (or Kaldi's
``snip_edges=False`` ones, :func:`frames`); per frame
DC removal, pre-emphasis, window, zero padding to the FFT size, ``np.fft.rfft``,
power, a dense mel matrix built band by band as Kaldi's ``MelBanks`` builds it,
``ln(max(M, eps))``.  Unlike Kaldi (and kaldi-native-fbank) it accepts empty
mel bands, which stay at ``ln(eps)`` as in ``torchaudio.compliance.kaldi.fbank``;
that is what the ``ast`` preset needs at 128 bins and 16 kHz.  It is checked
against kaldi-native-fbank on the configurations that library accepts
(``tests/references/test_kaldi_fbank.py``), so it cannot drift unnoticed.
"""

from __future__ import annotations

import numpy as np

#: Kaldi's log floor: float32 machine epsilon.
F32_EPS = float(np.finfo(np.float32).eps)


def samples(sampling_rate, ms):
    """Samples in ``ms`` ms, truncated, as torchaudio (``int(sr * ms * 0.001)``) and kaldi-native-fbank count."""
    return int(sampling_rate * ms * 0.001)


def mel(freq):
    """Kaldi's mel scale, ``1127 ln(1 + f / 700)``."""
    return 1127.0 * np.log(1.0 + np.asarray(freq, dtype=np.float64) / 700.0)


def window(kind, length):
    """Kaldi's symmetric windows: ``"hanning"`` (Hann), ``"povey"`` (Hann ** 0.85) and ``"hamming"``."""
    phase = 2.0 * np.pi * np.arange(length) / (length - 1)
    if kind == "hamming":
        return 0.54 - 0.46 * np.cos(phase)
    hann = 0.5 - 0.5 * np.cos(phase)
    if kind == "hanning":
        return hann
    if kind == "povey":
        return hann**0.85
    raise ValueError(f"window {kind!r} is not one of 'hanning', 'povey', 'hamming'")


def mel_banks(num_bins, fft_length, sampling_rate, low_freq, high_freq):
    """Dense ``(fft_length // 2 + 1, num_bins)`` weights; the Nyquist row is zero (Kaldi leaves that bin out).

    Band ``b`` is a triangle in mel between equally spaced edges
    ``mel(low) + b * delta``, ``+ delta``, ``+ 2 delta`` with
    ``delta = (mel(high) - mel(low)) / (num_bins + 1)``; FFT bin ``i < N / 2``
    sits at ``i * sr / N`` Hz and has weight only strictly inside the band.
    """
    mel_low, mel_high = mel(low_freq), mel(high_freq)
    delta = (mel_high - mel_low) / (num_bins + 1)
    weights = np.zeros((fft_length // 2 + 1, num_bins))
    for b in range(num_bins):
        left, center, right = mel_low + b * delta, mel_low + (b + 1) * delta, mel_low + (b + 2) * delta
        for i in range(fft_length // 2):
            m = mel(i * sampling_rate / fft_length)
            if left < m < right:
                weights[i, b] = (m - left) / (center - left) if m <= center else (right - m) / (right - center)
    return weights


def num_frames(n, frame_length, frame_shift, snip_edges=True):
    """Kaldi's frame count: ``1 + (n - frame_length) // frame_shift`` (0 below one frame).

    With ``snip_edges=False``: ``(n + frame_shift // 2) // frame_shift``.
    """
    if snip_edges:
        return max(0, 1 + (n - frame_length) // frame_shift)
    return (n + frame_shift // 2) // frame_shift


def frames(audio, frame_length, frame_shift, snip_edges=True):
    """The raw frames of a 1-D signal, float64 ``(num_frames, frame_length)``, as Kaldi's ``ExtractWindow`` cuts them.

    With ``snip_edges=False`` frame ``f`` starts at ``f * shift + shift // 2 -
    frame_length // 2`` and a sample ``s`` outside ``[0, n)`` is reflected
    (``-1 -> 0``, ``n -> n - 1``) until it is inside, one index at a time.
    """
    x = np.asarray(audio, dtype=np.float64)
    n = len(x)
    out = np.empty((num_frames(n, frame_length, frame_shift, snip_edges), frame_length))
    for f in range(out.shape[0]):
        if snip_edges:
            out[f] = x[f * frame_shift : f * frame_shift + frame_length]
            continue
        first = f * frame_shift + frame_shift // 2 - frame_length // 2
        for i in range(frame_length):
            s = first + i
            while s < 0 or s >= n:
                s = -s - 1 if s < 0 else 2 * n - 1 - s
            out[f, i] = x[s]
    return out


def fbank(
    audio,
    *,
    sampling_rate,
    frame_length,
    frame_shift,
    window_type="povey",
    num_mel_bins=23,
    low_freq=20.0,
    high_freq=None,
    preemphasis=0.97,
    remove_dc=True,
    floor=F32_EPS,
    snip_edges=True,
):
    """Log mel filter bank of a 1-D signal, float64, ``(frames, num_mel_bins)``.

    ``frame_length`` and ``frame_shift`` are in samples; frames are Kaldi's
    snip-edges ones, ``1 + (n - frame_length) // frame_shift`` (none when
    ``n < frame_length``), or with ``snip_edges=False`` Kaldi's other frames
    (:func:`frames`).  ``high_freq`` defaults to the Nyquist frequency.
    """
    raw = frames(audio, frame_length, frame_shift, snip_edges)
    fft_length = 1 << (frame_length - 1).bit_length()  # next power of two
    high = sampling_rate / 2.0 if high_freq is None else high_freq
    weights = mel_banks(num_mel_bins, fft_length, sampling_rate, low_freq, high)
    win = window(window_type, frame_length)
    out = np.empty((raw.shape[0], num_mel_bins))
    for f in range(raw.shape[0]):
        frame = raw[f].copy()
        if remove_dc:
            frame -= frame.mean()
        frame[1:] -= preemphasis * frame[:-1].copy()
        frame[0] -= preemphasis * frame[0]
        padded = np.zeros(fft_length)
        padded[:frame_length] = frame * win
        power = np.abs(np.fft.rfft(padded)) ** 2
        out[f] = np.log(np.maximum(power @ weights, floor))
    return out
