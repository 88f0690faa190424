"""Config layer: the mel spectrogram's arguments, validated and resolved once.

:func:`resolve` turns the arguments a user passed (Keras' 13 plus melplug's
keyword-only extras) into a *config*: a plain dict of checked values with the
implicit defaults made explicit (``sequence_length=None`` becomes
``fft_length``, ``max_freq=None`` becomes ``int(sampling_rate / 2)``).  The
config is what :meth:`melplug.MelSpectrogram.get_config` reports and what
:func:`melplug._plan.build_plan` turns into arrays.  :func:`from_mapping`
reads a config back from ``get_config()`` output or a Keras layer's config.

The defaults themselves have one home, the signature of
:class:`melplug.MelSpectrogram`; ``melplug.core.KERAS_DEFAULTS`` and
``EXTRA_DEFAULTS`` are read from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ._validate import (
    check_choice,
    check_dtype_option,
    check_int,
    check_num_threads,
    check_real,
    is_int,
    is_keras_dtype_policy,
)

__all__ = ["KERAS_LAYER_KEYS", "WINDOWS", "from_mapping", "resolve"]

#: Window names accepted as strings (periodic windows, as ``scipy.signal.get_window``).
WINDOWS = ("hann", "hamming")
#: Keys of a Keras layer's config that say nothing about the computation.
KERAS_LAYER_KEYS = frozenset({"name", "trainable", "autocast", "input_shape", "batch_input_shape", "build_config"})


def resolve(args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate every argument and make the implicit defaults explicit.

    ``args`` holds every argument of :class:`melplug.MelSpectrogram` by name
    (Keras' 13 and the extras).  Returns the config in the same key order.
    Raises ``TypeError``/``ValueError`` naming the argument, the value and
    what is allowed.
    """
    c: dict[str, Any] = {}
    c["fft_length"] = fft_length = check_int("fft_length", args["fft_length"], 1)
    c["sequence_stride"] = check_int("sequence_stride", args["sequence_stride"], 1)
    c["sequence_length"] = seq = _sequence_length(args["sequence_length"], fft_length)
    c["window"] = _window(args["window"], seq)
    rate = args["sampling_rate"]
    c["sampling_rate"] = check_real(
        "sampling_rate", rate, "it must be a finite number > 0 (Hz)", minimum=0.0, strict=True
    )
    if is_int(rate):
        c["sampling_rate"] = int(rate)
    c["num_mel_bins"] = check_int("num_mel_bins", args["num_mel_bins"], 1)
    c["min_freq"] = check_real("min_freq", args["min_freq"], "it must be a finite frequency >= 0 (Hz)", minimum=0.0)
    c["max_freq"] = _max_freq(args["max_freq"], c["sampling_rate"], c["min_freq"])
    power_to_db = args["power_to_db"]
    if not isinstance(power_to_db, (bool, np.bool_)):
        raise TypeError(f"power_to_db must be True or False; received {power_to_db!r}")
    c["power_to_db"] = bool(power_to_db)
    top_db = args["top_db"]
    c["top_db"] = (
        None
        if top_db is None
        else check_real("top_db", top_db, "it must be None (no floor) or a number >= 0 (dB)", minimum=0.0, finite=False)
    )
    c["mag_exp"] = check_real(
        "mag_exp", args["mag_exp"], "it must be a finite number > 0 (2: power, 1: magnitude)", minimum=0.0, strict=True
    )
    c["min_power"] = check_real(
        "min_power", args["min_power"], "it must be a finite number > 0", minimum=0.0, strict=True
    )
    c["ref_power"] = check_real("ref_power", args["ref_power"], "it must be a finite number")
    c["top_db_scope"] = check_choice("top_db_scope", args["top_db_scope"], ("example", "batch"))
    c["dtype"] = check_dtype_option(args["dtype"])
    c["on_nonfinite"] = check_choice("on_nonfinite", args["on_nonfinite"], ("raise", "propagate"))
    c["num_threads"] = check_num_threads(args["num_threads"])
    return c


def _sequence_length(value, fft_length: int) -> int:
    if value is None:
        return fft_length
    allowed = f"it must be None or an integer in [1, fft_length={fft_length}]"
    seq = check_int("sequence_length", value, 1, allowed)
    if seq > fft_length:
        raise ValueError(f"sequence_length={value!r} is invalid: {allowed}")
    return seq


def _window(window, sequence_length: int):
    if window is None:
        return None
    if isinstance(window, str):
        return check_choice("window", window, WINDOWS)
    arr = np.asarray(window)
    if arr.dtype.kind not in "fiu":
        raise TypeError(
            f"window must be 'hann', 'hamming', None or a real array of shape ({sequence_length},); "
            f"received dtype {arr.dtype}"
        )
    if arr.shape != (sequence_length,):
        raise ValueError(
            f"window has shape {arr.shape}; an array window must have shape (sequence_length,) = ({sequence_length},)"
        )
    arr = np.array(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("window contains NaN or Inf; an array window must be finite")
    arr.setflags(write=False)
    return arr


def _max_freq(value, sampling_rate, min_freq: float):
    if value is None:
        max_freq = int(sampling_rate / 2)  # Keras' default: an int
    else:
        max_freq = check_real("max_freq", value, "it must be None or a finite frequency > min_freq (Hz)")
        if is_int(value):
            max_freq = int(value)
    if not max_freq > min_freq:
        raise ValueError(
            f"max_freq={max_freq!r} is invalid with min_freq={min_freq!r}: max_freq must be "
            "greater than min_freq (None means sampling_rate / 2)"
        )
    return max_freq


def from_mapping(config: Mapping[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """The constructor arguments in ``config`` (``get_config()`` output or a Keras layer's config).

    Keras' layer keys (``name``, ``trainable``, ...) and a Keras dtype
    *policy* under ``dtype`` are dropped; every other ``dtype`` value is kept
    and validated like the constructor's.  Keys not in ``known`` raise
    ``TypeError``.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping (a dict from get_config()); received {type(config).__name__}")
    known = list(known)
    kwargs = {}
    for key, value in config.items():
        if key in KERAS_LAYER_KEYS or (key == "dtype" and is_keras_dtype_policy(value)):
            continue  # Keras computes in float32 whatever its dtype policy says
        if key not in known:
            raise TypeError(f"config has unknown key {key!r}; known keys: {', '.join(known)}")
        kwargs[key] = value
    return kwargs


# --------------------------------------------------------------------------- the engine (FeatureExtractor)

FRAMINGS = ("center", "snip_edges")
PAD_MODES = ("reflect", "reflect_once", "constant")
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


def _choice_or_none(name: str, value, choices):
    """One of ``choices``, where ``None`` is one of them."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}={value!r} is invalid: it must be one of {options}")
    return value


def _positive_length(name: str, value, unit: str) -> int | float:
    if unit == "ms":
        return check_real(name, value, "it must be a duration > 0 (ms, frame_unit='ms')", minimum=0.0, strict=True)
    return check_int(name, value, 1, "it must be an integer >= 1 (samples; pass frame_unit='ms' for milliseconds)")


def resolve_engine(args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate every :class:`melplug.FeatureExtractor` option; return the config in the same key order.

    Values are kept as given (after type normalisation), so that
    ``get_config()`` round-trips; derived sizes (frames in samples, the FFT
    size) are computed by :func:`melplug._plan.build_plan`.
    """
    from . import _plan

    c: dict[str, Any] = {}
    rate = args["sampling_rate"]
    c["sampling_rate"] = check_real(
        "sampling_rate", rate, "it must be a finite number > 0 (Hz)", minimum=0.0, strict=True
    )
    if is_int(rate):
        c["sampling_rate"] = int(rate)
    c["input_gain"] = check_real("input_gain", args["input_gain"], "it must be a finite number != 0")
    if c["input_gain"] == 0.0:
        raise ValueError("input_gain=0.0 is invalid: it must be a finite number != 0")
    c["input_length"] = _optional_int(
        "input_length", args["input_length"], "it must be None (as given) or an integer >= 1 (samples: pad or cut)"
    )
    c["framing"] = check_choice("framing", args["framing"], FRAMINGS)
    c["pad_mode"] = check_choice("pad_mode", args["pad_mode"], PAD_MODES)
    c["frame_unit"] = unit = check_choice("frame_unit", args["frame_unit"], FRAME_UNITS)
    c["frame_length"] = _positive_length("frame_length", args["frame_length"], unit)
    c["hop_length"] = _positive_length("hop_length", args["hop_length"], unit)
    frame = _plan.samples(c["frame_length"], unit, c["sampling_rate"])
    hop = _plan.samples(c["hop_length"], unit, c["sampling_rate"])
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
    window = args["window"]
    c["window_length"] = wl = _optional_int(
        "window_length", args["window_length"], f"it must be None (= frame_length) or an integer in [1, {frame}]"
    )
    if wl is not None and wl > frame:
        raise ValueError(
            f"window_length={wl!r} is invalid: it must be None (= frame_length) or an integer in "
            f"[1, frame_length={frame}]"
        )
    if isinstance(window, str) or window is None:
        c["window"] = check_choice("window", window, ENGINE_WINDOWS)
    else:
        c["window"] = _window(window, wl or frame)
    periodic = args["window_periodic"]
    if not isinstance(periodic, (bool, np.bool_)):
        raise TypeError(
            f"window_periodic must be True (periodic, as scipy/torch) or False (symmetric, as Kaldi); "
            f"received {periodic!r}"
        )
    c["window_periodic"] = bool(periodic)
    c["window_position"] = check_choice("window_position", args["window_position"], WINDOW_POSITIONS)
    c["remove_dc"] = _flag("remove_dc", args["remove_dc"])
    c["preemphasis"] = check_real("preemphasis", args["preemphasis"], "it must be a number in [0, 1]", minimum=0.0)
    if c["preemphasis"] > 1.0:
        raise ValueError(f"preemphasis={c['preemphasis']!r} is invalid: it must be a number in [0, 1]")
    c["dither"] = check_real("dither", args["dither"], "it must be a finite number >= 0 (0: no dither)", minimum=0.0)
    c["dither_seed"] = check_int("dither_seed", args["dither_seed"], 0)
    c["magnitude_power"] = check_real(
        "magnitude_power",
        args["magnitude_power"],
        "it must be a finite number > 0 (2: power, 1: magnitude)",
        minimum=0.0,
        strict=True,
    )
    c["num_mel_bins"] = check_int("num_mel_bins", args["num_mel_bins"], 1)
    c["mel_scale"] = check_choice("mel_scale", args["mel_scale"], MEL_SCALES)
    c["mel_triangles"] = check_choice("mel_triangles", args["mel_triangles"], MEL_TRIANGLES)
    c["mel_grid"] = check_choice("mel_grid", args["mel_grid"], MEL_GRIDS)
    c["mel_norm"] = _choice_or_none("mel_norm", args["mel_norm"], MEL_NORMS)
    c["min_freq"] = check_real("min_freq", args["min_freq"], "it must be a finite frequency >= 0 (Hz)", minimum=0.0)
    max_freq = args["max_freq"]
    if max_freq is None:
        c["max_freq"] = None
        top = c["sampling_rate"] / 2
    else:
        c["max_freq"] = top = check_real("max_freq", max_freq, "it must be None or a finite frequency > min_freq (Hz)")
        if is_int(max_freq):
            c["max_freq"] = int(max_freq)
    if not top > c["min_freq"]:
        raise ValueError(
            f"max_freq={max_freq!r} is invalid with min_freq={c['min_freq']!r}: max_freq must be "
            "greater than min_freq (None means sampling_rate / 2)"
        )
    c["empty_bands"] = check_choice("empty_bands", args["empty_bands"], EMPTY_BANDS)
    c["log"] = _choice_or_none("log", args["log"], LOGS)
    c["log_floor"] = check_real(
        "log_floor", args["log_floor"], "it must be a finite number > 0", minimum=0.0, strict=True
    )
    c["ref_power"] = check_real("ref_power", args["ref_power"], "it must be a finite number")
    top_db = args["top_db"]
    c["top_db"] = (
        None
        if top_db is None
        else check_real(
            "top_db",
            top_db,
            "it must be None (no floor) or a number >= 0 (in the log's units)",
            minimum=0.0,
            finite=False,
        )
    )
    c["top_db_scope"] = check_choice("top_db_scope", args["top_db_scope"], ("example", "batch"))
    c["num_ceps"] = ceps = _optional_int(
        "num_ceps",
        args["num_ceps"],
        f"it must be None (mel output) or an integer in [1, num_mel_bins={c['num_mel_bins']}] (cepstra kept)",
    )
    if ceps is not None and ceps > c["num_mel_bins"]:
        raise ValueError(
            f"num_ceps={ceps!r} is invalid: the DCT of {c['num_mel_bins']} mel bands has at most "
            f"num_mel_bins={c['num_mel_bins']} coefficients; lower num_ceps or raise num_mel_bins"
        )
    c["lifter"] = check_real("lifter", args["lifter"], "it must be a finite number >= 0 (0: no lifter)", minimum=0.0)
    c["lifter_style"] = check_choice("lifter_style", args["lifter_style"], LIFTER_STYLES)
    c["energy_c0"] = _flag("energy_c0", args["energy_c0"])
    if ceps is None and (c["lifter"] != 0.0 or c["energy_c0"]):
        raise ValueError(
            f"lifter={c['lifter']!r} and energy_c0={c['energy_c0']!r} apply to cepstra: they need num_ceps "
            "(an integer >= 1); received num_ceps=None"
        )
    c["scale"] = check_real("scale", args["scale"], "it must be a finite number > 0", minimum=0.0, strict=True)
    c["offset"] = check_real("offset", args["offset"], "it must be a finite number")
    c["output_frames"] = _optional_int(
        "output_frames", args["output_frames"], "it must be None (as computed) or an integer >= 1 (pad or cut to it)"
    )
    c["pad_value"] = check_real("pad_value", args["pad_value"], "it must be a finite number")
    c["pad_before_scaling"] = _flag("pad_before_scaling", args["pad_before_scaling"])
    c["layout"] = check_choice("layout", args["layout"], LAYOUTS)
    c["normalize"] = _flag("normalize", args["normalize"])
    c["normalize_ddof"] = check_int("normalize_ddof", args["normalize_ddof"], 0)
    c["normalize_eps"] = check_real(
        "normalize_eps", args["normalize_eps"], "it must be a finite number >= 0", minimum=0.0
    )
    c["stack_frames"] = check_int("stack_frames", args["stack_frames"], 1)
    if c["stack_frames"] > 1 and (c["layout"] != "frames_mels" or c["output_frames"] is not None):
        raise ValueError(
            f"stack_frames={c['stack_frames']!r} needs layout='frames_mels' and output_frames=None (rows of "
            f"stacked frames); received layout={c['layout']!r}, output_frames={c['output_frames']!r}"
        )
    c["dtype"] = check_dtype_option(args["dtype"])
    c["on_nonfinite"] = check_choice("on_nonfinite", args["on_nonfinite"], ("raise", "propagate"))
    c["num_threads"] = check_num_threads(args["num_threads"])
    return c


def _optional_int(name: str, value, allowed: str) -> int | None:
    """``None``, or an integer >= 1 (``allowed`` says what the option means)."""
    return None if value is None else check_int(name, value, 1, allowed)


def _flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; received {value!r}")
    return bool(value)


def keras_to_engine(config: Mapping[str, Any]) -> dict[str, Any]:
    """The engine options that compute a resolved Keras config (:func:`resolve`) exactly."""
    window = config["window"]
    return {
        "sampling_rate": config["sampling_rate"],
        "input_gain": 1.0,
        "input_length": None,
        "framing": "center",
        "pad_mode": "reflect",
        "frame_unit": "samples",
        "frame_length": config["fft_length"],  # Keras frames are fft_length samples; the window sits inside
        "hop_length": config["sequence_stride"],
        "fft_length": None,
        "window": "rectangular" if window is None else window,
        "window_length": config["sequence_length"],
        "window_periodic": True,
        "window_position": "center",
        "remove_dc": False,
        "preemphasis": 0.0,
        "dither": 0.0,
        "dither_seed": 0,
        "magnitude_power": config["mag_exp"],
        "num_mel_bins": config["num_mel_bins"],
        "mel_scale": "keras",
        "mel_triangles": "mel",
        "mel_grid": "keras",
        "mel_norm": None,
        "min_freq": config["min_freq"],
        "max_freq": config["max_freq"],
        "empty_bands": "warn",
        "log": "db" if config["power_to_db"] else None,
        "log_floor": config["min_power"],
        "ref_power": config["ref_power"],
        "top_db": config["top_db"],
        "top_db_scope": config["top_db_scope"],
        "num_ceps": None,
        "lifter": 0.0,
        "lifter_style": "kaldi",
        "energy_c0": False,
        "scale": 1.0,
        "offset": 0.0,
        "output_frames": None,
        "pad_value": 0.0,
        "pad_before_scaling": False,
        "layout": "mels_frames",
        "normalize": False,
        "normalize_ddof": 1,
        "normalize_eps": 1e-7,
        "stack_frames": 1,
        "dtype": config["dtype"],
        "on_nonfinite": config["on_nonfinite"],
        "num_threads": config["num_threads"],
    }
