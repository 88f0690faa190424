"""Filter layer: the window, the mel weight matrix and the DCT of a config, built in float64.

Pure NumPy functions of an engine config; :func:`melplug._plan.build_plan`
turns their results into the plan's arrays (the mel weights in a band-major
sparse form).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def window_values(kind: str, length: int, periodic: bool) -> np.ndarray:
    """``length`` samples of a hann, hamming, povey or rectangular window.

    Periodic windows are ``scipy.signal.get_window(kind, length)`` (Keras,
    librosa, torch); symmetric ones divide by ``length - 1`` (Kaldi, and
    ``np.hanning``).  Povey's window is the symmetric Hann window to the power
    0.85 (Kaldi).
    """
    if kind == "rectangular" or length == 1:
        return np.ones(length)
    n = np.arange(length, dtype=np.float64)
    phase = 2.0 * np.pi * n / (length if periodic else length - 1)
    if kind == "hamming":
        return 0.54 - 0.46 * np.cos(phase)
    hann = 0.5 - 0.5 * np.cos(phase)
    return hann**0.85 if kind == "povey" else hann


def placed_window(config: Mapping[str, Any], frame: int, fft: int) -> np.ndarray:
    """The window in its place in an ``fft``-sample buffer whose first ``frame`` samples are the frame.

    A window shorter than the frame sits in its centre (Keras, librosa) or at
    its start; the buffer beyond the frame is zero (Kaldi pads to a power of two).
    """
    window = config["window"]
    if isinstance(window, np.ndarray):
        core = window
    else:
        length = config["window_length"] or frame
        core = window_values(window, length, config["window_periodic"])
    left = (frame - core.shape[0]) // 2 if config["window_position"] == "center" else 0
    out = np.zeros(fft)
    out[left : left + core.shape[0]] = core
    return out


def hz_to_mel(freq, scale: str):
    """Frequency (Hz) to mel on ``scale``: keras/kaldi ``1127 ln(1 + f/700)``, htk ``2595 log10(1 + f/700)``, slaney."""
    f = np.asarray(freq, dtype=np.float64)
    if scale in ("keras", "kaldi"):
        return _MEL_HIGH_FREQUENCY_Q * np.log(1.0 + f / _MEL_BREAK_FREQUENCY_HERTZ)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / _MEL_BREAK_FREQUENCY_HERTZ)
    # slaney (librosa, transformers): linear below 1 kHz, logarithmic above
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    with np.errstate(divide="ignore"):
        log_part = min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log_part, f / f_sp)


def mel_to_hz(mel, scale: str):
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(mel, dtype=np.float64)
    if scale in ("keras", "kaldi"):
        return _MEL_BREAK_FREQUENCY_HERTZ * np.expm1(m / _MEL_HIGH_FREQUENCY_Q)
    if scale == "htk":
        return _MEL_BREAK_FREQUENCY_HERTZ * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def bin_frequencies(grid: str, num_bins: int, sampling_rate, fft_length: int) -> np.ndarray:
    """Frequency (Hz) of each FFT bin on ``grid``.

    ``"keras"``: ``linspace(0, sr / 2, bins)``; ``"integer"``:
    ``linspace(0, sr // 2, bins)`` (transformers, torchaudio); ``"kaldi"``:
    ``i * sr / fft_length``; ``"rfft"``: ``np.fft.rfftfreq`` (librosa).
    """
    if grid == "rfft":
        return np.fft.rfftfreq(fft_length, 1.0 / sampling_rate)
    if grid == "keras":
        return np.linspace(0.0, sampling_rate / 2.0, num_bins)
    if grid == "integer":
        return np.linspace(0.0, float(sampling_rate // 2), num_bins)
    return np.arange(num_bins) * (sampling_rate / fft_length)


def mel_weights(config: Mapping[str, Any], fft: int) -> np.ndarray:
    """The dense mel weight matrix of an engine config, ``(fft_length // 2 + 1, num_mel_bins)``, float64.

    Triangles with peak 1 between ``num_mel_bins + 2`` edges equally spaced on
    the mel scale from ``min_freq`` to ``max_freq``, linear in mel or in Hz
    (or in Hz and symmetric, reaching as far above the centre as the lower edge is below it),
    over the bin grid; optionally Slaney's area normalisation.  The keras grid
    has a zero DC row and the kaldi grid a zero Nyquist row, as their
    references.
    """
    num_bins = fft // 2 + 1
    rate, scale = config["sampling_rate"], config["mel_scale"]
    max_freq = config["max_freq"] if config["max_freq"] is not None else rate / 2.0
    freqs = bin_frequencies(config["mel_grid"], num_bins, rate, fft)
    edges_mel = np.linspace(
        hz_to_mel(config["min_freq"], scale), hz_to_mel(max_freq, scale), config["num_mel_bins"] + 2
    )
    if config["mel_triangles"] == "mel":
        x, edges = hz_to_mel(freqs, scale), edges_mel
    else:
        x, edges = freqs, mel_to_hz(edges_mel, scale)
    x = x[:, None]
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    if config["mel_triangles"] == "hz_symmetric":  # SpeechBrain: as wide above the centre as below it
        upper = 2.0 * center - lower
    with np.errstate(divide="ignore", invalid="ignore"):
        lower_slopes = (x - lower) / (center - lower)
        upper_slopes = (upper - x) / (upper - center)
    weights = np.maximum(0.0, np.minimum(lower_slopes, upper_slopes))
    if config["mel_norm"] == "slaney":
        edges_hz = mel_to_hz(edges_mel, scale)
        weights *= 2.0 / (edges_hz[2:] - edges_hz[:-2])[None, :]
    if config["mel_grid"] == "keras":
        weights[0] = 0.0  # Keras drops the DC bin
    elif config["mel_grid"] == "kaldi":
        weights[fft // 2 :] = 0.0  # Kaldi's bins stop below Nyquist
    return weights


def dct_matrix(config: Mapping[str, Any]) -> np.ndarray:
    """The first ``num_ceps`` rows of the orthonormal DCT-II over the mel bands, liftered (``(0, bins)``: none).

    Row ``k`` is ``sqrt(2 / M) cos(pi k (m + 1/2) / M)`` (row 0: ``sqrt(1 / M)``),
    ``scipy.fft.dct(type=2, norm="ortho")`` and Kaldi's ``ComputeDctMatrix``;
    then times the lifter ``1 + L/2 sin(pi i / L)`` with ``i = k`` (Kaldi)
    or ``k + 1`` (librosa).
    """
    M, C = config["num_mel_bins"], config["num_ceps"] or 0
    k = np.arange(C, dtype=np.float64)[:, None]
    m = np.arange(M, dtype=np.float64)[None, :]
    dct = np.sqrt(2.0 / M) * np.cos(np.pi / M * (m + 0.5) * k)
    if C:
        dct[0] = np.sqrt(1.0 / M)
    lifter = config["lifter"]
    if C and lifter != 0.0:
        i = np.arange(C, dtype=np.float64) + (1.0 if config["lifter_style"] == "librosa" else 0.0)
        dct *= (1.0 + 0.5 * lifter * np.sin(np.pi * i / lifter))[:, None]
    return np.ascontiguousarray(dct)


def construction_warning(config: Mapping[str, Any], plan) -> str | None:
    """The text of the one message a config deserves (empty bands, ``max_freq`` above Nyquist), or ``None``."""
    empty = np.flatnonzero(plan.band_stop <= plan.band_start)
    nyquist = config["sampling_rate"] / 2
    reasons = []
    if empty.size:
        shown = ", ".join(str(i) for i in empty[:8]) + (", ..." if empty.size > 8 else "")
        reasons.append(
            f"{empty.size} of num_mel_bins={config['num_mel_bins']} mel bands are empty (no FFT bin falls in "
            f"band {shown}; such bands stay at the floor): reduce num_mel_bins or increase "
            f"fft_length={plan.fft_length}"
        )
    if config["max_freq"] is not None and config["max_freq"] > nyquist:
        reasons.append(
            f"max_freq={config['max_freq']!r} is above the Nyquist frequency {nyquist!r} of "
            f"sampling_rate={config['sampling_rate']!r}: lower max_freq"
        )
    return "; ".join(reasons) or None


def sparse_bands(weights: np.ndarray):
    """Band-major sparse form of a dense ``(bins, bands)`` weight matrix.

    Each band keeps the run of bins between its first and last non-zero
    weight.  Returns ``band_start, band_stop, band_offset, band_weights,
    bin_start, bin_stop``.
    """
    num_bins, num_bands = weights.shape
    band_start = np.zeros(num_bands, dtype=np.int64)
    band_stop = np.zeros(num_bands, dtype=np.int64)
    runs = []
    for m in range(num_bands):
        nz = np.flatnonzero(weights[:, m])
        if nz.size:
            band_start[m], band_stop[m] = nz[0], nz[-1] + 1
        runs.append(weights[band_start[m] : band_stop[m], m])
    band_offset = np.zeros(num_bands + 1, dtype=np.int64)
    band_offset[1:] = np.cumsum(band_stop - band_start)
    band_weights = np.concatenate(runs) if runs else np.zeros(0)
    used = band_stop > band_start
    bin_start = int(band_start[used].min()) if used.any() else 0
    bin_stop = int(band_stop[used].max()) if used.any() else 0
    return band_start, band_stop, band_offset, np.ascontiguousarray(band_weights, dtype=np.float64), bin_start, bin_stop
