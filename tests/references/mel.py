"""A naive float64 NumPy reference, written from the computation in docs/parity.md (not from the kernels).

Slow and obviously correct: pad with ``np.pad``, frame with a Python loop,
``np.fft.rfft``, a dense mel matrix, dB, floor.  Windows come from
``scipy.signal.get_window`` so that melplug's own window code is checked too.
"""

from __future__ import annotations

import numpy as np
import scipy.signal


def mel_matrix(num_mel_bins, fft_length, sampling_rate, min_freq, max_freq):
    """Dense (fft_length // 2 + 1, num_mel_bins) HTK triangles, DC row zero."""
    n_bins = fft_length // 2 + 1

    def to_mel(f):
        return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)

    freqs = np.linspace(0.0, sampling_rate / 2.0, n_bins)
    edges = np.linspace(to_mel(min_freq), to_mel(max_freq), num_mel_bins + 2)
    w = np.zeros((n_bins, num_mel_bins))
    for k in range(1, n_bins):
        m_k = to_mel(freqs[k])
        for m in range(num_mel_bins):
            lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
            up = (m_k - lo) / (c - lo) if c != lo else -np.inf
            down = (hi - m_k) / (hi - c) if hi != c else -np.inf
            w[k, m] = max(0.0, min(up, down))
    return w


def window_array(window, sequence_length, fft_length):
    if window is None:
        core = np.ones(sequence_length)
    elif isinstance(window, str):
        core = scipy.signal.get_window(window, sequence_length)
    else:
        core = np.asarray(window, dtype=np.float64)
    left = (fft_length - sequence_length) // 2
    return np.pad(core, (left, fft_length - sequence_length - left))


def mel_spectrogram(
    audio,
    *,
    fft_length=2048,
    sequence_stride=512,
    sequence_length=None,
    window="hann",
    sampling_rate=16000,
    num_mel_bins=128,
    min_freq=20.0,
    max_freq=None,
    power_to_db=True,
    top_db=80.0,
    mag_exp=2.0,
    min_power=1e-10,
    ref_power=1.0,
    top_db_scope="example",
):
    """float64 mel spectrogram of ``audio`` (..., samples) -> (..., num_mel_bins, frames)."""
    x = np.asarray(audio, dtype=np.float64)
    sequence_length = sequence_length or fft_length
    max_freq = int(sampling_rate / 2) if max_freq is None else max_freq
    lead, n = x.shape[:-1], x.shape[-1]
    x2 = x.reshape(-1, n)
    pad = fft_length // 2
    win = window_array(window, sequence_length, fft_length)
    W = mel_matrix(num_mel_bins, fft_length, sampling_rate, min_freq, max_freq)
    outs = []
    for sig in x2:
        padded = np.pad(sig, pad, mode="reflect")
        n_frames = 1 + (len(padded) - fft_length) // sequence_stride
        frames = np.stack([padded[f * sequence_stride : f * sequence_stride + fft_length] for f in range(n_frames)])
        spec = np.abs(np.fft.rfft(frames * win, axis=-1)) ** mag_exp
        mel = spec @ W
        if power_to_db:
            mel = 10.0 * np.log10(np.maximum(mel, min_power)) - 10.0 * np.log10(max(abs(ref_power), min_power))
        outs.append(mel.T)
    out = np.stack(outs)
    if power_to_db and top_db is not None:
        if top_db_scope == "batch":
            out = np.maximum(out, out.max() - top_db)
        else:
            out = np.maximum(out, out.max(axis=(1, 2), keepdims=True) - top_db)
    return out.reshape(*lead, num_mel_bins, out.shape[-1])
