"""Plan layer: a validated config turned into the arrays and scalars the kernels read.

:func:`build_plan` is a pure function of a config (see :mod:`melplug._config`):
the same config always gives the same :class:`MelPlan`.  Everything here is
NumPy, built in float64; the driver casts the arrays once to the compute
dtype.  A plan's frames and shapes are :mod:`melplug._geometry`'s (re-exported
here for the kernels).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from ._geometry import PAD_MODES

_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


class MelPlan(NamedTuple):
    """Everything a kernel needs to compute one feature configuration (any preset).

    A plain ``NamedTuple`` of NumPy arrays and scalars, so it can be passed to
    and used inside users' own ``@numba.njit`` functions.  Arrays are float64;
    the kernels cast them once to the audio's dtype.  Every preset has a plan
    of this one type: options are values, so one compiled kernel per dtype
    serves them all.

    Attributes
    ----------
    fft_length : int
        FFT size; ``fft_length // 2 + 1`` bins.
    hop_length : int
        Samples between successive frames.
    frame_length : int
        Samples per frame (``<= fft_length``; the FFT buffer is zero-padded).
    pad : int
        Samples of padding before the signal (``frame_length // 2`` when
        centred, 0 for Kaldi's snip-edges framing); as many after it.
    pad_mode : int
        0: reflect padding (NumPy's ``mode="reflect"``), 1: zeros, 2: torch's
        reflect (the same values; the caller refuses clips not longer than ``pad``).
    input_length : int
        0, or the fixed length every signal is zero-padded or cut to first.
    input_gain : float
        Factor applied to every sample first (before dither, DC removal,
        the log energy and the window).
    num_mel_bins : int
        Mel bands.
    window : ndarray, shape (fft_length,)
        The window in its place in the FFT buffer.
    win_start, win_stop : int
        The part of the FFT buffer that is written (outside it it is zero).
    remove_dc : bool
        Subtract each frame's mean before windowing.
    preemphasis : float
        ``x[i] -= preemphasis * x[i - 1]`` per frame, ``x[0] -= preemphasis * x[0]``.
    dither, dither_seed : float, int
        Standard deviation of Gaussian noise added to each raw frame sample
        (0: none), drawn from a counter-based generator keyed by the seed, the
        frame's index in its clip and the sample's index in the frame: the
        same for any batching or thread count.
    band_start, band_stop : ndarray of int64, shape (num_mel_bins,)
        FFT bins ``[band_start[m], band_stop[m])`` feeding mel band ``m``.
    band_offset : ndarray of int64, shape (num_mel_bins + 1,)
        Where band ``m``'s weights start in ``band_weights``.
    band_weights : ndarray, shape (nnz,)
        The non-zero run of each column of the mel weight matrix.
    bin_start, bin_stop : int
        The FFT bins that feed any band (others are never computed).
    magnitude_power : float
        Exponent applied to the magnitude (2: power).
    log_kind : int
        The logarithm taken (:data:`LOG_KINDS`): 0 none, 1 decibels
        ``10 log10(max(M, log_floor)) - ref_db``, 2 ``ln``, 3 ``log10``.
    log_scale : float
        The logarithm as a multiple of ``ln``: ``10 / ln 10`` for decibels, 1
        for ln, ``1 / ln 10`` for log10 (the float32 fast path uses it).
    log_floor, ref_db, top_db : float
        Clamp before the logarithm, offset after it, and the floor below the
        maximum (``inf`` for no floor), in the logarithm's units.
    batch_top_db : bool
        ``True`` for ``top_db_scope="batch"`` (one floor for the whole call).
    num_ceps : int
        0 (the output is the mel bands), or the cepstra kept per frame.
    dct : ndarray, shape (num_ceps, num_mel_bins)
        The orthonormal DCT-II rows kept, each times its lifter coefficient.
    energy_c0 : bool
        ``c0`` is the frame's log energy (Kaldi), not the DCT's.
    out_scale, out_offset : float
        Affine map applied last: ``out_scale * value + out_offset``.
    out_frames : int
        0, or the fixed number of output frames (computed frames are cut to
        it; missing ones are ``pad_value``).
    pad_value : float
        Value of output frames beyond the computed ones (after the affine map).
    frames_major : bool
        Output layout ``(frames, mels)`` instead of ``(mels, frames)``.
    normalize : bool
        Per example and mel band, ``(x - mean) / sqrt(var + normalize_eps)``
        over the computed frames (after the logarithm and floor, before the
        affine map).
    normalize_ddof : int
        Delta degrees of freedom of that variance.
    normalize_eps : float
        Added to the variance.
    stack_frames : int
        Consecutive frames stacked into one output row (``(frames / k, mels * k)``);
        the frame count is padded up to a multiple of it.
    propagate_nonfinite : bool
        ``True`` for ``on_nonfinite="propagate"``.
    block_frames : int
        Frames per work unit (the size of a thread's scratch block).
    """

    fft_length: int
    hop_length: int
    frame_length: int
    pad: int
    pad_mode: int
    input_length: int
    input_gain: float
    num_mel_bins: int
    window: np.ndarray
    win_start: int
    win_stop: int
    remove_dc: bool
    preemphasis: float
    dither: float
    dither_seed: int
    band_start: np.ndarray
    band_stop: np.ndarray
    band_offset: np.ndarray
    band_weights: np.ndarray
    bin_start: int
    bin_stop: int
    magnitude_power: float
    log_kind: int
    log_scale: float
    log_floor: float
    ref_db: float
    top_db: float
    batch_top_db: bool
    num_ceps: int
    dct: np.ndarray
    energy_c0: bool
    out_scale: float
    out_offset: float
    out_frames: int
    pad_value: float
    frames_major: bool
    normalize: bool
    normalize_ddof: int
    normalize_eps: float
    stack_frames: int
    propagate_nonfinite: bool
    block_frames: int


_LN10 = math.log(10.0)
LOG_SCALES = {"db": 10.0 / _LN10, "ln": 1.0, "log10": 1.0 / _LN10}
#: The plan's ``log_kind`` per engine ``log`` option.
LOG_KINDS = {None: 0, "db": 1, "ln": 2, "log10": 3}


def samples(value, unit: str, sampling_rate) -> int:
    """A frame length or hop in samples: as given, or Kaldi's ``int(float32(sr) * float32(ms) * 0.001)``.

    The order of the product is kaldi-native-fbank's and torchaudio's: at
    16400 Hz, ``sr * 0.001 * 25`` rounds down to 409 where they take 410.
    """
    if unit == "samples":
        return int(value)
    return int(float(np.float32(sampling_rate)) * float(np.float32(value)) * 0.001)


def fft_size(config: Mapping[str, Any]) -> int:
    frame = samples(config["frame_length"], config["frame_unit"], config["sampling_rate"])
    fft = config["fft_length"]
    if fft is None:
        return frame
    if fft == "pow2":
        return 1 << max(frame - 1, 0).bit_length()
    return int(fft)


def build_plan(config: Mapping[str, Any]) -> MelPlan:
    """The :class:`MelPlan` of a resolved engine config (:func:`melplug._config.resolve_engine`)."""
    rate = config["sampling_rate"]
    frame = samples(config["frame_length"], config["frame_unit"], rate)
    hop = samples(config["hop_length"], config["frame_unit"], rate)
    fft = fft_size(config)
    window = placed_window(config, frame, fft)
    whole = config["remove_dc"] or config["preemphasis"] != 0.0 or config["dither"] != 0.0 or config["energy_c0"]
    if whole:
        win_start, win_stop = 0, frame  # the whole frame is read: its mean, energy and neighbours matter
    else:
        nonzero = np.flatnonzero(window)
        win_start, win_stop = (int(nonzero[0]), int(nonzero[-1]) + 1) if nonzero.size else (0, 0)
    band_start, band_stop, band_offset, band_weights, bin_start, bin_stop = sparse_bands(mel_weights(config))
    log = config["log"]
    top_db = config["top_db"]
    ref_db = 10.0 * math.log10(max(abs(config["ref_power"]), config["log_floor"])) if log == "db" else 0.0
    scale, offset = config["scale"], config["offset"]
    pad_value = config["pad_value"]
    if config["pad_before_scaling"]:
        pad_value = scale * pad_value + offset
    return MelPlan(
        fft_length=fft,
        hop_length=hop,
        frame_length=frame,
        pad=frame // 2 if config["framing"] == "center" else 0,
        pad_mode=PAD_MODES[config["pad_mode"]],
        input_length=config["input_length"] or 0,
        input_gain=config["input_gain"],
        num_mel_bins=config["num_mel_bins"],
        window=window,
        win_start=win_start,
        win_stop=win_stop,
        remove_dc=config["remove_dc"],
        preemphasis=config["preemphasis"],
        dither=config["dither"],
        dither_seed=config["dither_seed"],
        band_start=band_start,
        band_stop=band_stop,
        band_offset=band_offset,
        band_weights=band_weights,
        bin_start=bin_start,
        bin_stop=bin_stop,
        magnitude_power=config["magnitude_power"],
        log_kind=LOG_KINDS[log],
        log_scale=LOG_SCALES.get(log, 1.0),
        log_floor=config["log_floor"],
        ref_db=ref_db,
        top_db=math.inf if top_db is None or log is None else top_db,
        batch_top_db=config["top_db_scope"] == "batch",
        num_ceps=config["num_ceps"] or 0,
        dct=dct_matrix(config),
        energy_c0=config["energy_c0"],
        out_scale=scale,
        out_offset=offset,
        out_frames=config["output_frames"] or 0,
        pad_value=pad_value,
        frames_major=config["layout"] == "frames_mels",
        normalize=config["normalize"],
        normalize_ddof=config["normalize_ddof"],
        normalize_eps=config["normalize_eps"],
        stack_frames=config["stack_frames"],
        propagate_nonfinite=config["on_nonfinite"] == "propagate",
        block_frames=default_block_frames(fft),
    )


# --------------------------------------------------------------------------- windows


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


# --------------------------------------------------------------------------- mel filters


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


def mel_weights(config: Mapping[str, Any]) -> np.ndarray:
    """The dense mel weight matrix of an engine config, ``(fft_length // 2 + 1, num_mel_bins)``, float64.

    Triangles with peak 1 between ``num_mel_bins + 2`` edges equally spaced on
    the mel scale from ``min_freq`` to ``max_freq``, linear in mel or in Hz,
    over the bin grid; optionally Slaney's area normalisation.  The keras grid
    has a zero DC row and the kaldi grid a zero Nyquist row, as their
    references.
    """
    fft = fft_size(config)
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


def construction_warning(config: Mapping[str, Any], plan: MelPlan) -> str | None:
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


def default_block_frames(fft_length: int) -> int:
    """Frames per work unit: about 64 Ki samples of frames (256 KiB in float32), 8 to 128 frames.

    Larger blocks amortise the per-block FFT call and keep the mel loops long
    (they vectorise over the block's frames); measured best on workloads A and
    C of ``benchmarks/bench_mel.py`` (see docs/performance.md).
    """
    return int(max(8, min(128, 65536 // max(fft_length, 1))))
