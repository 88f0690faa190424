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
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from . import _filters
from ._geometry import PAD_MODES
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
        The window in its place in the FFT buffer (times ``input_gain`` when
        no frame correction reads the raw samples; else the kernel applies
        the gain to the samples first).
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
    log_guard : float
        Added to the mel bands before the clamp and the logarithm (0: nothing).
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
    pad_frames_to : int
        The output's frame count is padded (with ``pad_value``) up to a multiple of it.
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
    log_guard: float
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
    pad_frames_to: int
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

FRAMINGS = ("center", "snip_edges")
PAD_MODE_CHOICES = ("reflect", "reflect_once", "constant")
FRAME_UNITS = ("samples", "ms")
ENGINE_WINDOWS = ("hann", "hamming", "povey", "rectangular")
WINDOW_POSITIONS = ("center", "start")
MEL_SCALES = ("keras", "htk", "slaney", "kaldi")
MEL_TRIANGLES = ("mel", "hz")
MEL_GRIDS = ("keras", "integer", "kaldi", "rfft")
MEL_NORMS = (None, "slaney")
EMPTY_BANDS = ("warn", "raise", "ignore")
LOGS = ("db", "ln", "log10", None)
LAYOUTS = ("mels_frames", "frames_mels")
LIFTER_STYLES = ("kaldi", "librosa")
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


def _input_plan(c) -> dict[str, Any]:
    return {"input_length": c["input_length"] or 0, "input_gain": c["input_gain"]}


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
    c["_frame_samples"] = frame  # for the window's check; dropped from the config


def _framing_plan(c) -> dict[str, Any]:
    rate, unit = c["sampling_rate"], c["frame_unit"]
    frame = samples(c["frame_length"], unit, rate)
    fft = fft_size(c)
    return {
        "fft_length": fft,
        "hop_length": samples(c["hop_length"], unit, rate),
        "frame_length": frame,
        "pad": frame // 2 if c["framing"] == "center" else 0,
        "pad_mode": PAD_MODES[c["pad_mode"]],
        "block_frames": default_block_frames(fft),
    }


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
    whole = c["remove_dc"] or c["preemphasis"] != 0.0 or c["dither"] != 0.0 or c["energy_c0"]
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


def _spectrum_plan(c) -> dict[str, Any]:
    return {"magnitude_power": c["magnitude_power"]}


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
    c["ref_power"] = check_real("ref_power", args["ref_power"], "it must be a finite number")
    c["top_db"] = check_top_db(args["top_db"], "the log's units")


def _logarithm_plan(c) -> dict[str, Any]:
    log, top_db = c["log"], c["top_db"]
    return {
        "log_kind": LOG_KINDS[log],
        "log_scale": LOG_SCALES.get(log, 1.0),
        "log_floor": c["log_floor"],
        "log_guard": c["log_guard"],
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


def _output_plan(c) -> dict[str, Any]:
    scale, offset, pad_value = c["scale"], c["offset"], c["pad_value"]
    if c["pad_before_scaling"]:
        pad_value = scale * pad_value + offset
    return {
        "out_scale": scale,
        "out_offset": offset,
        "out_frames": c["output_frames"] or 0,
        "pad_value": pad_value,
        "pad_frames_to": c["pad_frames_to"],
        "frames_major": c["layout"] == "frames_mels",
    }


def _normalisation(args, c) -> None:
    c["normalize"] = check_flag("normalize", args["normalize"])
    c["normalize_ddof"] = check_int("normalize_ddof", args["normalize_ddof"], 0)
    c["normalize_eps"] = check_real(
        "normalize_eps", args["normalize_eps"], "it must be a finite number >= 0", minimum=0.0
    )


def _normalisation_plan(c) -> dict[str, Any]:
    return {name: c[name] for name in ("normalize", "normalize_ddof", "normalize_eps")}


def _stacking(args, c) -> None:
    c["stack_frames"] = k = check_int("stack_frames", args["stack_frames"], 1)
    if k > 1 and (c["layout"] != "frames_mels" or c["output_frames"] is not None or c["pad_frames_to"] > 1):
        raise ValueError(
            f"stack_frames={k!r} needs layout='frames_mels', output_frames=None and pad_frames_to=1 (rows of "
            f"stacked frames); received layout={c['layout']!r}, output_frames={c['output_frames']!r}, "
            f"pad_frames_to={c['pad_frames_to']!r}"
        )


def _stacking_plan(c) -> dict[str, Any]:
    return {"stack_frames": c["stack_frames"]}


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
    return MelPlan(**fields)
