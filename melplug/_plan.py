"""Plan layer: engine options, checked step by step, turned into the arrays and scalars the kernels read.

Each step family of the computation (input, framing, window, frame
corrections, spectrum, mel filters, logarithm, cepstra, output,
normalisation, stacking) has two functions side by side: its options'
check (:func:`resolve_engine` runs them; the result is the config that
``get_config()`` reports) and its :class:`MelPlan` fields
(:func:`build_plan` merges them).  ``build_plan`` is a pure function of the
config: the same config always gives the same plan.  Arrays are NumPy
float64 (:mod:`melplug._filters` builds the window, the mel weights and the
DCT); the driver casts them once to the compute dtype.  A plan's frames and
shapes are :mod:`melplug._geometry`'s.
"""

from __future__ import annotations

import math
import operator
import typing
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from . import _filters, _references
from ._geometry import PAD_MODES
from ._kernels._layout import PLAN_ARRAYS
from ._validate import (
    check_call_options,
    check_choice,
    check_choice_or_none,
    check_flag,
    check_int,
    check_max_freq,
    check_real,
    check_sampling_rate,
    check_top_db,
    check_window,
)


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
    frame_rule : int
        Frames computed for ``n`` samples (:data:`FRAME_RULES`): 0 every frame
        of the framing, 1 ``n // hop_length``, 2 ``ceil(n / hop_length)``, 3
        the frames of the framing that have one more sample after them.
    frame_multiple : int
        Computed frames are rounded up to a multiple of it (the signal is
        zero-extended to the last one's start, :func:`melplug._geometry.framed_length`).
    pad, pad_end : int
        Samples of padding before and after the signal: ``frame_length // 2``
        (or ``center_pad``) both when centred, none for Kaldi's snip-edges framing, ``left_pad``
        and none for ``framing="left"``.  Kaldi's ``snip_edges=False``
        (``framing="kaldi_center"``): ``frame_length // 2 - hop_length // 2``
        before (frame ``f`` starts at ``f * hop + hop // 2 - frame_length // 2``)
        and ``frame_length - pad + hop_length // 2 - hop_length`` after, so that
        the frame count (:func:`melplug._geometry.frame_count`) is Kaldi's
        ``(n + hop_length // 2) // hop_length``.
    pad_mode : int
        0: reflect padding (NumPy's ``mode="reflect"``), 1: zeros, 2: torch's
        reflect (the same values; the caller refuses clips not longer than ``pad``),
        3: symmetric (the edge sample repeated, NumPy's ``mode="symmetric"``,
        Kaldi's ``snip_edges=False``); both reflections repeat as often as needed.
    input_length : int
        0, or the fixed length every signal is zero-padded or cut to first.
    input_min_length, input_pad_to, input_multiple, input_max_length : int
        0, or: the clip is zero-extended to at least this many samples (and
        that counts as the clip's own, for its valid frames); the signal is
        zero-padded to at least this many; up to a multiple of it; cut to at
        most this many (:func:`melplug._geometry.effective_length`).
    input_overflow_raises : bool
        A clip longer than ``input_max_length`` is an error rather than cut.
    input_gain : float
        Factor applied to every sample first (before dither, DC removal,
        the log energy and the window).
    num_mel_bins : int
        Mel bands.
    window : ndarray, shape (fft_length,)
        The window in its place in the FFT buffer (times ``input_gain`` when
        no frame correction reads the raw samples; else the kernel applies
        the gain to the samples first).
    signal_preemphasis : float
        Pre-emphasis of the whole signal before framing (NeMo):
        ``y[0] = x[0]``, ``y[i] = x[i] - p x[i - 1]`` for the clip's samples,
        0 beyond them (its padding is zeros: ``pad_mode`` constant).
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
    power_floor : float
        The power ``|X|**2`` is clamped at this before the exponent (0: not at all).
    power_guard : float
        Added to the power ``|X|**2`` before the exponent (0: nothing; BigVGAN: 1e-9).
    log_kind : int
        The logarithm taken (:data:`LOG_KINDS`): 0 none, 1 decibels
        ``10 log10(max(M, log_floor)) - ref_db``, 2 ``ln``, 3 ``log10``.
    log_scale : float
        The logarithm as a multiple of ``ln``: ``10 / ln 10`` for decibels, 1
        for ln, ``1 / ln 10`` for log10 (the float32 fast path uses it).
    log_floor, ref_db, top_db : float
        Clamp before the logarithm, offset after it, and the floor below the
        maximum (``inf`` for no floor), in the logarithm's units.
    log_guard : float
        Added to the mel bands before the clamp and the logarithm (0: nothing).
    log_min : float
        Floor of the logarithm's values, in its units (``-inf``: none).
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
    feature_affine : bool
        Whether the per-feature affine map applies.
    feature_rows : bool
        The per-feature vectors have one value per value of a gathered
        stacked row: the map applies to the rows after they are gathered
        (phase 4), not to the frames.
    delta_window : int
        0, or the window of the delta features appended to each frame
        (torchaudio's ``compute_deltas``: edge frames repeated).
    feature_scale, feature_offset : ndarray, shape (num_features,) or (0,)
        Per-feature map ``value * feature_scale[m] + feature_offset[m]``,
        applied before ``out_scale``/``out_offset``.
    out_frames : int
        0, or the fixed number of output frames (computed frames are cut to
        it; missing ones are ``pad_value``).
    pad_value : float
        Value of output frames beyond the computed ones (after the affine map).
    pad_frames_to : int
        The output's frame count is padded (with ``pad_value``) up to a multiple of it.
    valid_rule, valid_window : int
        The frames that carry the clip (:data:`VALID_RULES`), counted on the
        clip's samples: 0 all computed frames, 1 ``n // hop_length``, 2
        ``ceil(n / hop_length)``, 3 ``(n - valid_window) // hop_length + 1``
        (frames whose window lies inside the clip); never more than computed.
    pad_invalid : bool
        Frames beyond the valid ones are ``pad_value``.
    frames_major : bool
        Output layout ``(frames, mels)`` instead of ``(mels, frames)``.
    normalize : bool
        Per example and mel band, ``(x - mean) / sqrt(var + normalize_eps)``
        over the computed frames (after the logarithm and floor, before the
        affine map).
    normalize_variance : bool
        ``False``: only the mean is subtracted.
    normalize_ddof : int
        Delta degrees of freedom of that variance.
    normalize_eps : float
        Added to the variance, or with ``normalize_eps_on_std`` to the standard
        deviation: ``(x - mean) / (std + eps)``.  Statistics are over the valid frames.
    normalize_eps_on_std : bool
        See ``normalize_eps``.
    stack_frames : int
        Consecutive frames stacked into one output row (``(frames / k, mels * k)``);
        the frame count is padded up to a multiple of it, or with ``stack_drop``
        cut down to one.
    stack_stride : int
        Frames between the starts of successive stacked rows (``stack_frames``: no overlap).
    stack_drop : bool
        The frames beyond the last whole row are dropped instead of padded.
    stack_repeat : bool
        Rows are centred (``(stack_frames - 1) // 2`` frames before their
        start) and the edge frames repeated where they run past the clip
        (FunASR's low frame rate, LFR).
    propagate_nonfinite : bool
        ``True`` for ``on_nonfinite="propagate"``.
    block_frames : int
        Frames per work unit (the size of a thread's scratch block).
    """

    fft_length: int
    hop_length: int
    frame_length: int
    frame_rule: int
    frame_multiple: int
    pad: int
    pad_end: int
    pad_mode: int
    input_length: int
    input_min_length: int
    input_pad_to: int
    input_multiple: int
    input_max_length: int
    input_overflow_raises: bool
    input_gain: float
    signal_preemphasis: float
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
    power_floor: float
    power_guard: float
    log_kind: int
    log_scale: float
    log_floor: float
    log_guard: float
    log_min: float
    ref_db: float
    top_db: float
    batch_top_db: bool
    num_ceps: int
    dct: np.ndarray
    energy_c0: bool
    out_scale: float
    out_offset: float
    feature_affine: bool
    feature_rows: bool
    feature_scale: np.ndarray
    feature_offset: np.ndarray
    delta_window: int
    out_frames: int
    pad_value: float
    pad_frames_to: int
    valid_rule: int
    valid_window: int
    pad_invalid: bool
    frames_major: bool
    normalize: bool
    normalize_variance: bool
    normalize_ddof: int
    normalize_eps: float
    normalize_eps_on_std: bool
    stack_frames: int
    stack_stride: int
    stack_drop: bool
    stack_repeat: bool
    propagate_nonfinite: bool
    block_frames: int


_LN10 = math.log(10.0)
LOG_SCALES = {"db": 10.0 / _LN10, "ln": 1.0, "log10": 1.0 / _LN10}
#: The plan's ``log_kind`` per engine ``log`` option.
LOG_KINDS = {None: 0, "db": 1, "ln": 2, "log10": 3}
#: The plan's ``frame_rule`` per engine ``frame_rule`` option.
FRAME_RULES = {"all": 0, "n_over_hop": 1, "ceil": 2, "lookahead": 3}
#: The plan's ``valid_rule`` per engine ``valid_frames`` option.
VALID_RULES = {"all": 0, "n_over_hop": 1, "ceil": 2, "whole_windows": 3}


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


def default_block_frames(fft_length: int) -> int:
    """Frames per work unit: about 64 Ki samples of frames (256 KiB in float32), 8 to 128 frames.

    Larger blocks amortise the per-block FFT call and keep the mel loops long
    (they vectorise over the block's frames); measured best on workloads A and
    C of ``benchmarks/bench_mel.py`` (see docs/performance.md).
    """
    return int(max(8, min(128, 65536 // max(fft_length, 1))))


# --------------------------------------------------------------------------- the step families
#
# Each family has a check, ``(args, c)``: it reads the raw options it owns from
# ``args`` and writes the checked values to the config ``c`` (later families
# may read earlier ones, e.g. the frame size in samples); and a plan function,
# ``c -> {field: value}``: its fields of the MelPlan.

FRAMINGS = ("center", "snip_edges", "left", "kaldi_center")
PAD_MODE_CHOICES = ("reflect", "reflect_once", "constant")
FRAME_UNITS = ("samples", "ms")
ENGINE_WINDOWS = ("hann", "hamming", "povey", "rectangular")
WINDOW_POSITIONS = ("center", "start")
MEL_SCALES = ("keras", "htk", "slaney", "kaldi")
MEL_TRIANGLES = ("mel", "hz", "hz_symmetric")
MEL_GRIDS = ("keras", "integer", "kaldi", "rfft")
MEL_NORMS = (None, "slaney")
EMPTY_BANDS = ("warn", "raise", "ignore")
LOGS = ("db", "ln", "log10", None)
LAYOUTS = ("mels_frames", "frames_mels")
LIFTER_STYLES = ("kaldi", "librosa")
INPUT_OVERFLOWS = ("cut", "raise")
EPS_PLACES = ("variance", "std")
STACK_REMAINDERS = ("pad", "drop", "repeat")
VALID_ROWS = ("any", "all")
#: The largest ``dither_seed``: the noise generator and the C entry point hold it in 63 bits.
MAX_SEED = 2**63 - 1


def _optional_int(name: str, value, allowed: str) -> int | None:
    """``None``, or an integer >= 1 (``allowed`` says what the option means)."""
    return None if value is None else check_int(name, value, 1, allowed)


def _positive_length(name: str, value, unit: str) -> int | float:
    if unit == "ms":
        return check_real(name, value, "it must be a duration > 0 (ms, frame_unit='ms')", minimum=0.0, strict=True)
    return check_int(name, value, 1, "it must be an integer >= 1 (samples; pass frame_unit='ms' for milliseconds)")


def _input(args, c) -> None:
    c["sampling_rate"] = check_sampling_rate(args["sampling_rate"])
    gain = check_real("input_gain", args["input_gain"], "it must be a finite number != 0")
    if gain == 0.0:
        raise ValueError("input_gain=0.0 is invalid: it must be a finite number != 0")
    c["input_gain"] = gain
    c["input_length"] = _optional_int(
        "input_length", args["input_length"], "it must be None (as given) or an integer >= 1 (samples: pad or cut)"
    )
    lengths = {
        "input_min_length": "zero-extend the clip to at least this many samples",
        "input_pad_to": "zero-pad to at least this many samples",
        "input_multiple": "zero-pad up to a multiple of this many samples",
        "input_max_length": "cut, or refuse, longer clips",
    }
    for name, what in lengths.items():
        c[name] = _optional_int(name, args[name], f"it must be None or an integer >= 1 ({what})")
    given = [name for name in lengths if c[name] is not None]
    if c["input_length"] is not None and given:
        raise ValueError(
            f"input_length={c['input_length']!r} fixes every signal's length; {given[0]}={c[given[0]]!r} changes it "
            "too: pass one of them"
        )
    c["input_overflow"] = check_choice("input_overflow", args["input_overflow"], INPUT_OVERFLOWS)
    p = check_real(
        "signal_preemphasis", args["signal_preemphasis"], "it must be a number in [0, 1] (0: none)", minimum=0.0
    )
    if p > 1.0:
        raise ValueError(f"signal_preemphasis={p!r} is invalid: it must be a number in [0, 1] (0: none)")
    c["signal_preemphasis"] = p


def _input_plan(c) -> dict[str, Any]:
    return {
        "input_length": c["input_length"] or 0,
        "input_min_length": c["input_min_length"] or 0,
        "input_pad_to": c["input_pad_to"] or 0,
        "input_multiple": c["input_multiple"] or 0,
        "input_max_length": c["input_max_length"] or 0,
        "input_overflow_raises": c["input_overflow"] == "raise",
        "input_gain": c["input_gain"],
        "signal_preemphasis": c["signal_preemphasis"],
    }


def _framing(args, c) -> None:
    c["framing"] = check_choice("framing", args["framing"], FRAMINGS)
    c["pad_mode"] = check_choice("pad_mode", args["pad_mode"], PAD_MODE_CHOICES)
    c["frame_unit"] = unit = check_choice("frame_unit", args["frame_unit"], FRAME_UNITS)
    c["frame_length"] = _positive_length("frame_length", args["frame_length"], unit)
    c["hop_length"] = _positive_length("hop_length", args["hop_length"], unit)
    frame = samples(c["frame_length"], unit, c["sampling_rate"])
    hop = samples(c["hop_length"], unit, c["sampling_rate"])
    if frame < 1 or hop < 1:
        raise ValueError(
            f"frame_length={c['frame_length']!r} ms and hop_length={c['hop_length']!r} ms give {frame} and {hop} "
            f"samples at sampling_rate={c['sampling_rate']!r}; both must be >= 1 sample"
        )
    fft = args["fft_length"]
    if fft is None or fft == "pow2":
        c["fft_length"] = fft
    else:
        c["fft_length"] = check_int(
            "fft_length",
            fft,
            frame,
            f"it must be None (= frame_length, {frame} samples), "
            f"'pow2' or an integer >= frame_length ({frame} samples)",
        )
    if c["signal_preemphasis"] != 0.0 and c["framing"] == "center" and c["pad_mode"] != "constant":
        raise ValueError(
            f"signal_preemphasis={c['signal_preemphasis']!r} pre-emphasises the clip, which is then padded with "
            f"zeros (NeMo): it needs pad_mode='constant' (or framing='snip_edges'); received "
            f"pad_mode={c['pad_mode']!r}"
        )
    left = args["left_pad"]
    if left is not None:
        left = check_int(
            "left_pad", left, 0, "it must be None (frame_length - hop_length) or an integer >= 0 (samples)"
        )
        if c["framing"] != "left":
            raise ValueError(f"left_pad={left!r} is the padding of framing='left'; received framing={c['framing']!r}")
    c["left_pad"] = left
    center = args["center_pad"]
    if center is not None:
        center = check_int(
            "center_pad", center, 0, "it must be None (frame_length // 2) or an integer >= 0 (samples each side)"
        )
        if c["framing"] != "center":
            raise ValueError(
                f"center_pad={center!r} is the padding of framing='center'; received framing={c['framing']!r}"
            )
    c["center_pad"] = center
    c["frame_rule"] = check_choice("frame_rule", args["frame_rule"], tuple(FRAME_RULES))
    c["frame_multiple"] = check_int(
        "frame_multiple", args["frame_multiple"], 1, "it must be an integer >= 1 (1: frames as the rule gives them)"
    )
    if c["framing"] == "kaldi_center":
        _check_kaldi_center(c, frame, hop)
    c["_frame_samples"] = frame  # for the window's check; dropped from the config


def _check_kaldi_center(c, frame: int, hop: int) -> None:
    """Kaldi's ``snip_edges=False`` framing: its own padding (symmetric reflection) and frame count."""
    if hop > frame:
        raise ValueError(
            f"framing='kaldi_center' needs hop_length <= frame_length (its frames start frame_length // 2 - "
            f"hop_length // 2 samples before the clip); received hop_length={c['hop_length']!r} and "
            f"frame_length={c['frame_length']!r} ({hop} and {frame} samples)"
        )
    if c["pad_mode"] != "reflect":
        raise ValueError(
            f"pad_mode={c['pad_mode']!r} is invalid with framing='kaldi_center': that framing pads as Kaldi does "
            "(symmetric reflection, the edge sample repeated) whatever pad_mode says; leave pad_mode at its "
            "default 'reflect'"
        )
    if c["frame_rule"] != "all":
        raise ValueError(
            f"frame_rule={c['frame_rule']!r} is invalid with framing='kaldi_center', whose frame count is Kaldi's "
            "(n + hop_length // 2) // hop_length: it needs frame_rule='all'"
        )
    if c["signal_preemphasis"] != 0.0:
        raise ValueError(
            f"signal_preemphasis={c['signal_preemphasis']!r} pads the pre-emphasised clip with zeros; "
            "framing='kaldi_center' pads by reflection: pass signal_preemphasis=0 (Kaldi pre-emphasises each "
            "frame: preemphasis=...)"
        )


def _framing_plan(c) -> dict[str, Any]:
    rate, unit = c["sampling_rate"], c["frame_unit"]
    frame = samples(c["frame_length"], unit, rate)
    hop = samples(c["hop_length"], unit, rate)
    fft = fft_size(c)
    pad = _pad_before(c, frame, hop)
    if c["framing"] == "center":
        pad_end = pad
    elif c["framing"] == "kaldi_center":
        pad_end = frame - pad + hop // 2 - hop  # frame_count(n + pad_end - pad, ...) = (n + hop // 2) // hop
    else:
        pad_end = 0
    return {
        "fft_length": fft,
        "hop_length": hop,
        "frame_length": frame,
        "frame_rule": FRAME_RULES[c["frame_rule"]],
        "frame_multiple": c["frame_multiple"],
        "pad": pad,
        "pad_end": pad_end,
        "pad_mode": PAD_MODES["symmetric" if c["framing"] == "kaldi_center" else c["pad_mode"]],
        "block_frames": default_block_frames(fft),
    }


def _pad_before(c, frame: int, hop: int) -> int:
    """Samples of padding before the signal (:class:`MelPlan`'s ``pad``), per framing.

    ``center_pad`` or half a frame (centred), none (snip edges), ``left_pad``
    (left), or Kaldi's ``frame_length // 2 - hop_length // 2`` (kaldi_center).
    """
    if c["framing"] == "center":
        return frame // 2 if c["center_pad"] is None else c["center_pad"]
    if c["framing"] == "left":
        return max(frame - hop, 0) if c["left_pad"] is None else c["left_pad"]
    if c["framing"] == "kaldi_center":
        return frame // 2 - hop // 2
    return 0


def _window_step(args, c) -> None:
    frame = c["_frame_samples"]
    c["window_length"] = wl = _optional_int(
        "window_length", args["window_length"], f"it must be None (= frame_length) or an integer in [1, {frame}]"
    )
    if wl is not None and wl > frame:
        raise ValueError(
            f"window_length={wl!r} is invalid: it must be None (= frame_length) or an integer in "
            f"[1, frame_length={frame}]"
        )
    window = args["window"]
    if window is None:
        window = check_choice("window", window, ENGINE_WINDOWS)  # refused: 'rectangular' is the engine's name
    c["window"] = check_window(window, wl or frame, ENGINE_WINDOWS, "window_length")
    c["window_periodic"] = check_flag(
        "window_periodic", args["window_periodic"], "True (periodic, as scipy/torch) or False (symmetric, as Kaldi)"
    )
    c["window_position"] = check_choice("window_position", args["window_position"], WINDOW_POSITIONS)


def _window_plan(c) -> dict[str, Any]:
    frame = samples(c["frame_length"], c["frame_unit"], c["sampling_rate"])
    window = _filters.placed_window(c, frame, fft_size(c))
    whole = (
        c["remove_dc"]
        or c["preemphasis"] != 0.0
        or c["dither"] != 0.0
        or c["energy_c0"]
        or c["signal_preemphasis"] != 0.0
    )
    if whole:
        span = (0, frame)  # the whole frame is read: its mean, energy and neighbours matter
    else:
        window = window * c["input_gain"]  # nothing reads the raw samples: (x g) w = x (g w), one multiply fewer
        nonzero = np.flatnonzero(window)
        span = (int(nonzero[0]), int(nonzero[-1]) + 1) if nonzero.size else (0, 0)
    return {"window": window, "win_start": span[0], "win_stop": span[1]}


def _frame_corrections(args, c) -> None:
    c["remove_dc"] = check_flag("remove_dc", args["remove_dc"])
    preemphasis = check_real("preemphasis", args["preemphasis"], "it must be a number in [0, 1]", minimum=0.0)
    if preemphasis > 1.0:
        raise ValueError(f"preemphasis={preemphasis!r} is invalid: it must be a number in [0, 1]")
    c["preemphasis"] = preemphasis
    c["dither"] = check_real("dither", args["dither"], "it must be a finite number >= 0 (0: no dither)", minimum=0.0)
    allowed = "it must be an integer in [0, 2**63 - 1]"
    seed = check_int("dither_seed", args["dither_seed"], 0, allowed)
    if seed > MAX_SEED:
        raise ValueError(f"dither_seed={seed!r} is invalid: {allowed}")
    c["dither_seed"] = seed


def _frame_corrections_plan(c) -> dict[str, Any]:
    return {name: c[name] for name in ("remove_dc", "preemphasis", "dither", "dither_seed")}


def _spectrum(args, c) -> None:
    c["magnitude_power"] = check_real(
        "magnitude_power",
        args["magnitude_power"],
        "it must be a finite number > 0 (2: power, 1: magnitude)",
        minimum=0.0,
        strict=True,
    )

    c["power_floor"] = check_real(
        "power_floor", args["power_floor"], "it must be a finite number >= 0 (0: no floor)", minimum=0.0
    )
    c["power_guard"] = check_real(
        "power_guard", args["power_guard"], "it must be a finite number >= 0 (0: nothing added)", minimum=0.0
    )


def _spectrum_plan(c) -> dict[str, Any]:
    return {name: c[name] for name in ("magnitude_power", "power_floor", "power_guard")}


def _mel_filters(args, c) -> None:
    c["num_mel_bins"] = check_int("num_mel_bins", args["num_mel_bins"], 1)
    c["mel_scale"] = check_choice("mel_scale", args["mel_scale"], MEL_SCALES)
    c["mel_triangles"] = check_choice("mel_triangles", args["mel_triangles"], MEL_TRIANGLES)
    c["mel_grid"] = check_choice("mel_grid", args["mel_grid"], MEL_GRIDS)
    c["mel_norm"] = check_choice_or_none("mel_norm", args["mel_norm"], MEL_NORMS)
    c["min_freq"] = check_real("min_freq", args["min_freq"], "it must be a finite frequency >= 0 (Hz)", minimum=0.0)
    c["max_freq"] = check_max_freq(args["max_freq"], c["min_freq"], c["sampling_rate"])
    c["empty_bands"] = check_choice("empty_bands", args["empty_bands"], EMPTY_BANDS)


def _mel_filters_plan(c) -> dict[str, Any]:
    names = ("band_start", "band_stop", "band_offset", "band_weights", "bin_start", "bin_stop")
    bands = _filters.sparse_bands(_filters.mel_weights(c, fft_size(c)))
    return {"num_mel_bins": c["num_mel_bins"], **dict(zip(names, bands, strict=True))}


def _logarithm(args, c) -> None:
    c["log"] = check_choice_or_none("log", args["log"], LOGS)
    c["log_floor"] = check_real(
        "log_floor", args["log_floor"], "it must be a finite number > 0", minimum=0.0, strict=True
    )
    c["log_guard"] = check_real(
        "log_guard", args["log_guard"], "it must be a finite number >= 0 (0: nothing added)", minimum=0.0
    )
    if c["log_guard"] != 0.0 and c["log"] is None:
        raise ValueError(
            f"log_guard={c['log_guard']!r} is added before the logarithm: it needs log='db', 'ln' or 'log10'"
        )
    log_min = args["log_min"]
    if log_min is not None:
        log_min = check_real("log_min", log_min, "it must be None (no floor) or a finite number (the log's units)")
        if c["log"] is None:
            raise ValueError(f"log_min={log_min!r} floors the logarithm: it needs log='db', 'ln' or 'log10'")
    c["log_min"] = log_min
    c["ref_power"] = check_real("ref_power", args["ref_power"], "it must be a finite number")
    c["top_db"] = check_top_db(args["top_db"], "the log's units")


def _logarithm_plan(c) -> dict[str, Any]:
    log, top_db = c["log"], c["top_db"]
    return {
        "log_kind": LOG_KINDS[log],
        "log_scale": LOG_SCALES.get(log, 1.0),
        "log_floor": c["log_floor"],
        "log_guard": c["log_guard"],
        "log_min": -math.inf if c["log_min"] is None else c["log_min"],
        "ref_db": 10.0 * math.log10(max(abs(c["ref_power"]), c["log_floor"])) if log == "db" else 0.0,
        "top_db": math.inf if top_db is None or log is None else top_db,
        "batch_top_db": c["top_db_scope"] == "batch",
    }


def _cepstra_options(args, c) -> None:
    mels = c["num_mel_bins"]
    c["num_ceps"] = ceps = _optional_int(
        "num_ceps",
        args["num_ceps"],
        f"it must be None (mel output) or an integer in [1, num_mel_bins={mels}] (cepstra kept)",
    )
    if ceps is not None and ceps > mels:
        raise ValueError(
            f"num_ceps={ceps!r} is invalid: the DCT of {mels} mel bands has at most "
            f"num_mel_bins={mels} coefficients; lower num_ceps or raise num_mel_bins"
        )
    c["lifter"] = check_real("lifter", args["lifter"], "it must be a finite number >= 0 (0: no lifter)", minimum=0.0)
    c["lifter_style"] = check_choice("lifter_style", args["lifter_style"], LIFTER_STYLES)
    c["energy_c0"] = check_flag("energy_c0", args["energy_c0"])
    if ceps is None and (c["lifter"] != 0.0 or c["energy_c0"]):
        raise ValueError(
            f"lifter={c['lifter']!r} and energy_c0={c['energy_c0']!r} apply to cepstra: they need num_ceps "
            "(an integer >= 1); received num_ceps=None"
        )


def _cepstra_plan(c) -> dict[str, Any]:
    return {"num_ceps": c["num_ceps"] or 0, "dct": _filters.dct_matrix(c), "energy_c0": c["energy_c0"]}


def _output(args, c) -> None:
    c["scale"] = check_real("scale", args["scale"], "it must be a finite number > 0", minimum=0.0, strict=True)
    c["offset"] = check_real("offset", args["offset"], "it must be a finite number")
    c["output_frames"] = _optional_int(
        "output_frames", args["output_frames"], "it must be None (as computed) or an integer >= 1 (pad or cut to it)"
    )
    c["pad_value"] = check_real("pad_value", args["pad_value"], "it must be a finite number")
    c["pad_before_scaling"] = check_flag("pad_before_scaling", args["pad_before_scaling"])
    c["pad_frames_to"] = m = check_int(
        "pad_frames_to", args["pad_frames_to"], 1, "it must be an integer >= 1 (a multiple of frames; 1: no padding)"
    )
    if m > 1 and c["output_frames"] is not None:
        raise ValueError(
            f"pad_frames_to={m!r} pads a variable frame count; output_frames={c['output_frames']!r} fixes it: "
            "pass one of them"
        )
    c["layout"] = check_choice("layout", args["layout"], LAYOUTS)
    width = c["num_ceps"] or c["num_mel_bins"]
    for name in ("feature_scale", "feature_offset"):
        c[name] = _feature_vector(name, args[name], width)
    if (c["feature_scale"] is not None or c["feature_offset"] is not None) and c["top_db"] is not None:
        raise ValueError(
            f"feature_scale and feature_offset map each feature; top_db={c['top_db']!r} floors them all at one "
            "value: pass top_db=None with them"
        )
    c["delta_window"] = window = _optional_int(
        "delta_window", args["delta_window"], "it must be None (no deltas) or an integer >= 3 (frames)"
    )
    if window is not None and (window < 3 or c["layout"] != "frames_mels"):
        raise ValueError(
            f"delta_window={window!r} needs an integer >= 3 and layout='frames_mels' (each frame's features, then "
            f"their deltas); received layout={c['layout']!r}"
        )
    c["valid_frames"] = check_choice("valid_frames", args["valid_frames"], tuple(VALID_RULES))
    c["pad_invalid_frames"] = check_flag("pad_invalid_frames", args["pad_invalid_frames"])
    c["reference"] = _references.check_reference(args["reference"])


def _feature_vector(name: str, value, width: int):
    """``None``, or a finite float64 array of ``width`` values, or of a multiple of them (stacked rows), read-only."""
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be None or a real array of shape ({width},); received dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] % width or arr.shape[0] == 0:
        raise ValueError(
            f"{name} has shape {arr.shape}; it must have one value per feature: shape ({width},) "
            f"(num_ceps, else num_mel_bins), or one per value of a stacked row, shape (stack_frames * {width},)"
        )
    arr = np.array(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf; it must be finite")
    if name == "feature_scale" and not (arr != 0.0).all():
        raise ValueError("feature_scale contains 0; every feature's scale must be a finite number != 0")
    arr.setflags(write=False)
    return arr


def _output_plan(c) -> dict[str, Any]:
    scale, offset, pad_value = c["scale"], c["offset"], c["pad_value"]
    if c["pad_before_scaling"]:
        pad_value = scale * pad_value + offset
    given = [v for v in (c["feature_scale"], c["feature_offset"]) if v is not None]
    size = given[0].shape[0] if given else 0  # one per feature, or per value of a stacked row (feature_rows)
    return {
        "out_scale": scale,
        "out_offset": offset,
        "out_frames": c["output_frames"] or 0,
        "pad_value": pad_value,
        "pad_frames_to": c["pad_frames_to"],
        "frames_major": c["layout"] == "frames_mels",
        "feature_affine": bool(given),
        "feature_rows": size not in (0, c["num_ceps"] or c["num_mel_bins"]),
        "feature_scale": np.ones(size) if c["feature_scale"] is None else c["feature_scale"],
        "feature_offset": np.zeros(size) if c["feature_offset"] is None else c["feature_offset"],
        "delta_window": c["delta_window"] or 0,
        "valid_rule": VALID_RULES[c["valid_frames"]],
        "valid_window": c["window_length"] or samples(c["frame_length"], c["frame_unit"], c["sampling_rate"]),
        "pad_invalid": c["pad_invalid_frames"],
    }


def _normalisation(args, c) -> None:
    c["normalize"] = check_flag("normalize", args["normalize"])
    c["normalize_ddof"] = check_int("normalize_ddof", args["normalize_ddof"], 0)
    c["normalize_eps"] = check_real(
        "normalize_eps", args["normalize_eps"], "it must be a finite number >= 0", minimum=0.0
    )
    c["normalize_variance"] = check_flag(
        "normalize_variance", args["normalize_variance"], "True (mean and variance) or False (the mean only)"
    )
    c["normalize_eps_on"] = check_choice("normalize_eps_on", args["normalize_eps_on"], EPS_PLACES)


def _normalisation_plan(c) -> dict[str, Any]:
    fields = {name: c[name] for name in ("normalize", "normalize_variance", "normalize_ddof", "normalize_eps")}
    return {**fields, "normalize_eps_on_std": c["normalize_eps_on"] == "std"}


def _stacking(args, c) -> None:
    c["stack_frames"] = k = check_int("stack_frames", args["stack_frames"], 1)
    if k > 1 and (c["layout"] != "frames_mels" or c["output_frames"] is not None or c["pad_frames_to"] > 1):
        raise ValueError(
            f"stack_frames={k!r} needs layout='frames_mels', output_frames=None and pad_frames_to=1 (rows of "
            f"stacked frames); received layout={c['layout']!r}, output_frames={c['output_frames']!r}, "
            f"pad_frames_to={c['pad_frames_to']!r}"
        )

    c["stack_remainder"] = check_choice("stack_remainder", args["stack_remainder"], STACK_REMAINDERS)
    c["stack_stride"] = stride = _optional_int(
        "stack_stride", args["stack_stride"], "it must be None (= stack_frames) or an integer in [1, stack_frames]"
    )
    gathered = c["stack_remainder"] == "repeat" or (stride is not None and stride != k)
    if stride is not None and stride > k:
        raise ValueError(
            f"stack_stride={stride!r} is invalid: it must be None (= stack_frames) or an integer in "
            f"[1, stack_frames={k}] (rows may overlap, never skip frames)"
        )
    scale, offset = c["feature_scale"], c["feature_offset"]
    if scale is not None and offset is not None and scale.shape != offset.shape:
        raise ValueError(
            f"feature_scale has {scale.shape[0]} values and feature_offset {offset.shape[0]}; they must match"
        )
    for name in ("feature_scale", "feature_offset"):
        vector, width = c[name], c["num_ceps"] or c["num_mel_bins"]
        if vector is None or vector.shape[0] == width:
            continue
        if not gathered or vector.shape[0] != k * width or c["pad_invalid_frames"] or _scaled(c):
            raise ValueError(
                f"{name} has {vector.shape[0]} values: one per value of a stacked row ({k} x {width}) maps the "
                f"rows after they are gathered (FunASR's CMVN after LFR), which needs stack_frames={k} with a "
                f"stack_stride < stack_frames or stack_remainder='repeat', no pad_invalid_frames and scale=1, "
                f"offset=0; else pass {width} values, one per feature"
            )
    if gathered and (k == 1 or c["stack_remainder"] == "drop" or c["delta_window"] is not None or c["normalize"]):
        raise ValueError(
            f"stack_stride={stride!r} with stack_remainder={c['stack_remainder']!r} gathers rows of stack_frames "
            f"frames: it needs stack_frames > 1, stack_remainder 'pad' or 'repeat', no delta_window and no "
            f"normalize; received stack_frames={k!r}, delta_window={c['delta_window']!r}, "
            f"normalize={c['normalize']!r}"
        )
    c["valid_rows"] = check_choice("valid_rows", args["valid_rows"], VALID_ROWS)


def _scaled(c) -> bool:
    """Whether the affine map ``scale``/``offset`` is not the identity."""
    return c["scale"] != 1.0 or c["offset"] != 0.0


def _stacking_plan(c) -> dict[str, Any]:
    return {
        "stack_frames": c["stack_frames"],
        "stack_stride": c["stack_stride"] or c["stack_frames"],
        "stack_drop": c["stack_remainder"] == "drop",
        "stack_repeat": c["stack_remainder"] == "repeat",
    }


#: The engine's step families, in the order of the computation: each checks its options (it may read
#: what an earlier family wrote) and gives its plan fields.  A new step adds its options to a family's
#: check, its fields to :class:`MelPlan` and to the family's plan function, and its kernel code.
ENGINE_STEPS = (
    (_input, _input_plan),
    (_framing, _framing_plan),
    (_window_step, _window_plan),
    (_frame_corrections, _frame_corrections_plan),
    (_spectrum, _spectrum_plan),
    (_mel_filters, _mel_filters_plan),
    (_logarithm, _logarithm_plan),
    (_cepstra_options, _cepstra_plan),
    (_output, _output_plan),
    (_normalisation, _normalisation_plan),
    (_stacking, _stacking_plan),
    (check_call_options, lambda c: {"propagate_nonfinite": c["on_nonfinite"] == "propagate"}),
)


def resolve_engine(args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate every :class:`melplug.FeatureExtractor` option; return the config in the signature's key order.

    Values are kept as given (after type normalisation), so that
    ``get_config()`` round-trips; derived sizes (frames in samples, the FFT
    size) are the plan's.
    """
    c: dict[str, Any] = {}
    for check, _ in ENGINE_STEPS:
        check(args, c)
    return {name: c[name] for name in args}


def build_plan(config: Mapping[str, Any]) -> MelPlan:
    """The :class:`MelPlan` of a resolved engine config (:func:`resolve_engine`): a pure function of it."""
    fields: dict[str, Any] = {}
    for _, plan in ENGINE_STEPS:
        fields.update(plan(config))
    for name, (dtype, ndim) in PLAN_ARRAYS.items():  # the record's views read them so
        fields[name] = np.ascontiguousarray(fields[name], dtype=dtype)
        if fields[name].ndim != ndim:  # pragma: no cover - a plan function's mistake
            raise AssertionError(f"MelPlan.{name} has {fields[name].ndim} dimension(s), not {ndim}")
    return MelPlan(**fields)


# --------------------------------------------------------------------------- the plan as the kernels take it

_SCALARS = {int: np.dtype(np.int64), float: np.dtype(np.float64), bool: np.dtype(np.bool_)}
_CONVERT = {int: operator.index, float: float, bool: bool}


def record_fields() -> list[tuple[str, type, int]]:
    """``MelPlan``'s fields in order, as the record holds them: ``(name, int | float | bool | np.ndarray, ndim)``.

    The one walk over the fields that :data:`PLAN_RECORD`, :class:`PackedPlan`
    and the compiled packer (:func:`melplug.kernels.pack_plan`) share: a
    scalar is a record field of its name; array ``a`` (``ndim`` dimensions,
    :data:`~melplug._kernels._layout.PLAN_ARRAYS`) is ``a__address`` and
    ``a__shape_0`` ... ``a__shape_<ndim - 1>``.
    """
    hints = typing.get_type_hints(MelPlan)
    return [(name, hints[name], PLAN_ARRAYS[name][1] if hints[name] is np.ndarray else 0) for name in MelPlan._fields]


def _record_dtype() -> np.dtype:
    fields: list[tuple[str, np.dtype]] = []
    for name, kind, ndim in record_fields():
        if kind is np.ndarray:
            fields.append((f"{name}__address", np.dtype(np.int64)))
            fields.extend((f"{name}__shape_{k}", np.dtype(np.int64)) for k in range(ndim))
        else:
            fields.append((name, _SCALARS[kind]))
    return np.dtype(fields, align=True)


#: The plan the kernels take: one NumPy record, fields named after :class:`MelPlan`'s (arrays by address).
PLAN_RECORD = _record_dtype()


class PackedPlan:
    """A :class:`MelPlan` packed into one :data:`PLAN_RECORD`: what the kernels and the C entry points take.

    A kernel given the plan's 69 fields as a ``NamedTuple`` compiles code to
    pass each of them (an array is seven values) at every call of every step,
    and a wrapper to unbox them; a record is passed as one pointer, and a
    field is read where it is used.  Scalars are read by name as before
    (``plan.hop_length``); arrays through :mod:`melplug._kernels._layout`'s
    views (``plan_band_start(plan)``).

    Holds the plan's arrays (C-contiguous copies where needed) and the record:
    keep this object alive as long as the record or its address is in use.
    Pickles as its plan (a copy packs its own: addresses are per process).
    Raises ``OverflowError``/``TypeError``/``ValueError`` for a value the
    record cannot hold (e.g. an ``int`` field of ``2**63``).
    """

    def __init__(self, plan: MelPlan) -> None:
        self.plan = plan
        self.record = np.zeros(1, dtype=PLAN_RECORD)
        self._arrays = []
        for name, kind, ndim in record_fields():
            value = getattr(plan, name)
            if kind is np.ndarray:
                arr = np.ascontiguousarray(value, dtype=PLAN_ARRAYS[name][0])
                if arr.ndim != ndim:
                    raise ValueError(f"MelPlan.{name} has {arr.ndim} dimension(s); the kernels need {ndim}")
                self._arrays.append(arr)
                self.record[f"{name}__address"] = arr.ctypes.data
                for k, size in enumerate(arr.shape):
                    self.record[f"{name}__shape_{k}"] = size
            else:
                self.record[name] = _CONVERT[kind](value)
        #: The record itself (a NumPy void scalar viewing ``record``): the kernels' ``plan`` argument.
        self.value = self.record[0]

    @property
    def address(self) -> int:
        """Address of the record."""
        return int(self.record.ctypes.data)

    def __reduce__(self):
        return PackedPlan, (self.plan,)
