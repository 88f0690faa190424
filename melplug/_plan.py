"""Plan layer: a validated config turned into the arrays and scalars the kernels read.

:func:`build_plan` is a pure function of a config (see :mod:`melplug._config`):
the same config always gives the same :class:`MelPlan`.  Everything here is
NumPy, built in float64; the driver casts the arrays once to the compute
dtype.  :func:`num_frames` is the one frame-count formula: the kernels compile
this very function (``melplug._kernels.frame_count``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


class MelPlan(NamedTuple):
    """Everything a kernel needs to compute one mel spectrogram configuration.

    A plain ``NamedTuple`` of NumPy arrays and scalars, so it can be passed to
    and used inside users' own ``@numba.njit`` functions.  Arrays are float64;
    the kernels cast them once to the audio's dtype.

    Attributes
    ----------
    fft_length, sequence_stride, num_mel_bins : int
        As in :class:`melplug.MelSpectrogram`.
    pad : int
        ``fft_length // 2``, the reflect padding on each side.
    window : ndarray, shape (fft_length,)
        The window zero-padded to ``fft_length`` (Keras' layout).
    win_start, win_stop : int
        The part of ``window`` that is applied (outside it the frame is zero).
    band_start, band_stop : ndarray of int64, shape (num_mel_bins,)
        FFT bins ``[band_start[m], band_stop[m])`` feeding mel band ``m``.
    band_offset : ndarray of int64, shape (num_mel_bins + 1,)
        Where band ``m``'s weights start in ``band_weights``.
    band_weights : ndarray, shape (nnz,)
        The non-zero run of each column of the mel weight matrix.
    bin_start, bin_stop : int
        The FFT bins that feed any band (others are never computed).
    mag_exp : float
        Exponent applied to the magnitude.
    power_to_db : bool
        Whether to convert to decibels.
    min_power, ref_db, top_db : float
        ``ref_db = 10 log10(max(|ref_power|, min_power))``; ``top_db`` is
        ``inf`` for no floor.
    batch_top_db : bool
        ``True`` for ``top_db_scope="batch"`` (one floor for the whole call).
    propagate_nonfinite : bool
        ``True`` for ``on_nonfinite="propagate"``.
    block_frames : int
        Frames per work unit (the size of a thread's scratch block).
    """

    fft_length: int
    sequence_stride: int
    num_mel_bins: int
    pad: int
    window: np.ndarray
    win_start: int
    win_stop: int
    band_start: np.ndarray
    band_stop: np.ndarray
    band_offset: np.ndarray
    band_weights: np.ndarray
    bin_start: int
    bin_stop: int
    mag_exp: float
    power_to_db: bool
    min_power: float
    ref_db: float
    top_db: float
    batch_top_db: bool
    propagate_nonfinite: bool
    block_frames: int


def num_frames(num_samples, fft_length, sequence_stride):
    """Frames produced for a signal of ``num_samples`` samples (SPEC §1.3).

    ``1 + (n + 2 (fft_length // 2) - fft_length) // sequence_stride``: works
    on ints, elementwise on integer arrays, and compiled inside the kernels.
    """
    return 1 + (num_samples + 2 * (fft_length // 2) - fft_length) // sequence_stride


def build_plan(config: Mapping[str, Any]) -> MelPlan:
    """The :class:`MelPlan` of a resolved config (:func:`melplug._config.resolve`)."""
    fft_length = config["fft_length"]
    window = padded_window(config["window"], config["sequence_length"], fft_length)
    nonzero = np.flatnonzero(window)
    win_start, win_stop = (int(nonzero[0]), int(nonzero[-1]) + 1) if nonzero.size else (0, 0)
    band_start, band_stop, band_offset, band_weights, bin_start, bin_stop = sparse_bands(mel_weights(config))
    ref = max(abs(config["ref_power"]), config["min_power"])
    top_db = config["top_db"]
    return MelPlan(
        fft_length=fft_length,
        sequence_stride=config["sequence_stride"],
        num_mel_bins=config["num_mel_bins"],
        pad=fft_length // 2,
        window=window,
        win_start=win_start,
        win_stop=win_stop,
        band_start=band_start,
        band_stop=band_stop,
        band_offset=band_offset,
        band_weights=band_weights,
        bin_start=bin_start,
        bin_stop=bin_stop,
        mag_exp=config["mag_exp"],
        power_to_db=config["power_to_db"],
        min_power=config["min_power"],
        ref_db=10.0 * math.log10(ref),
        top_db=math.inf if top_db is None else top_db,
        batch_top_db=config["top_db_scope"] == "batch",
        propagate_nonfinite=config["on_nonfinite"] == "propagate",
        block_frames=default_block_frames(fft_length),
    )


def mel_weights(config: Mapping[str, Any]) -> np.ndarray:
    """Keras' dense mel weight matrix of a config, ``(fft_length // 2 + 1, num_mel_bins)``, float64."""
    return linear_to_mel_weight_matrix(
        config["num_mel_bins"], config["fft_length"] // 2 + 1, config["sampling_rate"], config["min_freq"],
        config["max_freq"],
    )


def construction_warning(config: Mapping[str, Any], plan: MelPlan) -> str | None:
    """The text of the one ``UserWarning`` a config deserves (empty bands, ``max_freq`` above Nyquist), or ``None``."""
    empty = np.flatnonzero(plan.band_stop <= plan.band_start)
    nyquist = config["sampling_rate"] / 2
    reasons = []
    if empty.size:
        shown = ", ".join(str(i) for i in empty[:8]) + (", ..." if empty.size > 8 else "")
        reasons.append(
            f"{empty.size} of num_mel_bins={config['num_mel_bins']} mel bands are empty (no FFT bin falls in "
            f"band {shown}; such bands stay at the floor): reduce num_mel_bins or increase "
            f"fft_length={config['fft_length']}"
        )
    if config["max_freq"] > nyquist:
        reasons.append(
            f"max_freq={config['max_freq']!r} is above the Nyquist frequency {nyquist!r} of "
            f"sampling_rate={config['sampling_rate']!r}: lower max_freq"
        )
    return "; ".join(reasons) or None


def periodic_window(name: str, length: int) -> np.ndarray:
    """Periodic Hann or Hamming window, as ``scipy.signal.get_window(name, length)``."""
    if length == 1:
        return np.ones(1)
    alpha = 0.5 if name == "hann" else 0.54
    n = np.arange(length, dtype=np.float64)
    return alpha - (1.0 - alpha) * np.cos(2.0 * np.pi * n / length)


def padded_window(window, sequence_length: int, fft_length: int) -> np.ndarray:
    """The window as Keras applies it: ``sequence_length`` long, zero-padded to ``fft_length``."""
    if window is None:
        core = np.ones(sequence_length)
    elif isinstance(window, str):
        core = periodic_window(window, sequence_length)
    else:
        core = np.asarray(window, dtype=np.float64)
    left = (fft_length - sequence_length) // 2
    out = np.zeros(fft_length)
    out[left : left + sequence_length] = core
    return out


def _hertz_to_mel(freq):
    return _MEL_HIGH_FREQUENCY_Q * np.log(1.0 + np.asarray(freq, dtype=np.float64) / _MEL_BREAK_FREQUENCY_HERTZ)


def linear_to_mel_weight_matrix(
    num_mel_bins: int,
    num_spectrogram_bins: int,
    sampling_rate: float,
    lower_edge_hertz: float,
    upper_edge_hertz: float,
) -> np.ndarray:
    """Keras' mel weight matrix, built in float64.

    HTK mel scale, triangles linear in mel with peak 1, no area
    normalisation, DC row zero.  Shape ``(num_spectrogram_bins, num_mel_bins)``.
    Like Keras, bin ``k`` sits at ``k * (sampling_rate / 2) / (num_spectrogram_bins - 1)`` Hz.
    """
    nyquist = sampling_rate / 2.0
    linear_freqs = np.linspace(0.0, nyquist, num_spectrogram_bins)[1:]
    bins_mel = _hertz_to_mel(linear_freqs)[:, None]
    edges = np.linspace(_hertz_to_mel(lower_edge_hertz), _hertz_to_mel(upper_edge_hertz), num_mel_bins + 2)
    lower, center, upper = edges[:-2][None, :], edges[1:-1][None, :], edges[2:][None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        lower_slopes = (bins_mel - lower) / (center - lower)
        upper_slopes = (upper - bins_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(lower_slopes, upper_slopes))
    return np.pad(weights, [(1, 0), (0, 0)])


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


def default_block_frames(fft_length: int) -> int:
    """Frames per work unit: about 64 Ki samples of frames (256 KiB in float32), 8 to 128 frames.

    Larger blocks amortise the per-block FFT call and keep the mel loops long
    (they vectorise over the block's frames); measured best on workloads A and
    C of ``benchmarks/bench_mel.py`` (see docs/performance.md).
    """
    return int(max(8, min(128, 65536 // max(fft_length, 1))))
