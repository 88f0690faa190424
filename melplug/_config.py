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

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ._validate import (
    check_choice,
    check_choice_or_none,
    check_dtype_option,
    check_flag,
    check_int,
    check_max_freq,
    check_num_threads,
    check_real,
    check_sampling_rate,
    check_top_db,
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
    c["window"] = None if args["window"] is None else _window(args["window"], seq, WINDOWS, "sequence_length")
    c["sampling_rate"] = check_sampling_rate(args["sampling_rate"])
    c["num_mel_bins"] = check_int("num_mel_bins", args["num_mel_bins"], 1)
    c["min_freq"] = check_real("min_freq", args["min_freq"], "it must be a finite frequency >= 0 (Hz)", minimum=0.0)
    max_freq = int(c["sampling_rate"] / 2) if args["max_freq"] is None else args["max_freq"]  # Keras': an int
    c["max_freq"] = check_max_freq(max_freq, c["min_freq"], c["sampling_rate"])
    c["power_to_db"] = check_flag("power_to_db", args["power_to_db"])
    c["top_db"] = check_top_db(args["top_db"], "dB")
    c["mag_exp"] = check_real(
        "mag_exp", args["mag_exp"], "it must be a finite number > 0 (2: power, 1: magnitude)", minimum=0.0, strict=True
    )
    c["min_power"] = check_real(
        "min_power", args["min_power"], "it must be a finite number > 0", minimum=0.0, strict=True
    )
    c["ref_power"] = check_real("ref_power", args["ref_power"], "it must be a finite number")
    _call_options(args, c)
    return c


def _call_options(args: Mapping[str, Any], c: dict[str, Any]) -> None:
    """How a call runs (both classes): the floor's scope, dtype, non-finite policy, threads."""
    c["top_db_scope"] = check_choice("top_db_scope", args["top_db_scope"], ("example", "batch"))
    c["dtype"] = check_dtype_option(args["dtype"])
    c["on_nonfinite"] = check_choice("on_nonfinite", args["on_nonfinite"], ("raise", "propagate"))
    c["num_threads"] = check_num_threads(args["num_threads"])


def _sequence_length(value, fft_length: int) -> int:
    if value is None:
        return fft_length
    allowed = f"it must be None or an integer in [1, fft_length={fft_length}]"
    seq = check_int("sequence_length", value, 1, allowed)
    if seq > fft_length:
        raise ValueError(f"sequence_length={value!r} is invalid: {allowed}")
    return seq


def _window(window, length: int, names: tuple[str, ...], length_name: str):
    """A window name among ``names``, or a finite real array of shape ``(length,)`` (read-only float64)."""
    if isinstance(window, str):
        return check_choice("window", window, names)
    arr = np.asarray(window)
    if arr.dtype.kind not in "fiu":
        kinds = ", ".join(map(repr, names)) + (", None" if names == WINDOWS else "")
        raise TypeError(f"window must be {kinds} or a real array of shape ({length},); received dtype {arr.dtype}")
    if arr.shape != (length,):
        raise ValueError(
            f"window has shape {arr.shape}; an array window must have shape ({length_name},) = ({length},)"
        )
    arr = np.array(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("window contains NaN or Inf; an array window must be finite")
    arr.setflags(write=False)
    return arr


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
#
# One validator per step family, in the order of the computation.  Each reads
# the raw options it owns from ``args`` and writes the checked values to
# ``c`` (later steps may read earlier ones, e.g. the frame size in samples).
# A new step adds its options to the FeatureExtractor signature and a few
# lines to its family here (or a family of its own in ENGINE_STEPS).

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


def _framing(args, c) -> None:
    from ._plan import samples

    c["framing"] = check_choice("framing", args["framing"], FRAMINGS)
    c["pad_mode"] = check_choice("pad_mode", args["pad_mode"], PAD_MODES)
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
    c["window"] = _window(window, wl or frame, ENGINE_WINDOWS, "window_length")
    c["window_periodic"] = check_flag(
        "window_periodic", args["window_periodic"], "True (periodic, as scipy/torch) or False (symmetric, as Kaldi)"
    )
    c["window_position"] = check_choice("window_position", args["window_position"], WINDOW_POSITIONS)


def _frame_corrections(args, c) -> None:
    c["remove_dc"] = check_flag("remove_dc", args["remove_dc"])
    preemphasis = check_real("preemphasis", args["preemphasis"], "it must be a number in [0, 1]", minimum=0.0)
    if preemphasis > 1.0:
        raise ValueError(f"preemphasis={preemphasis!r} is invalid: it must be a number in [0, 1]")
    c["preemphasis"] = preemphasis
    c["dither"] = check_real("dither", args["dither"], "it must be a finite number >= 0 (0: no dither)", minimum=0.0)
    seed = check_int("dither_seed", args["dither_seed"], 0, "it must be an integer in [0, 2**63 - 1]")
    if seed > MAX_SEED:
        raise ValueError(f"dither_seed={seed!r} is invalid: it must be an integer in [0, 2**63 - 1]")
    c["dither_seed"] = seed


def _spectrum(args, c) -> None:
    c["magnitude_power"] = check_real(
        "magnitude_power",
        args["magnitude_power"],
        "it must be a finite number > 0 (2: power, 1: magnitude)",
        minimum=0.0,
        strict=True,
    )


def _mel_filters(args, c) -> None:
    c["num_mel_bins"] = check_int("num_mel_bins", args["num_mel_bins"], 1)
    c["mel_scale"] = check_choice("mel_scale", args["mel_scale"], MEL_SCALES)
    c["mel_triangles"] = check_choice("mel_triangles", args["mel_triangles"], MEL_TRIANGLES)
    c["mel_grid"] = check_choice("mel_grid", args["mel_grid"], MEL_GRIDS)
    c["mel_norm"] = check_choice_or_none("mel_norm", args["mel_norm"], MEL_NORMS)
    c["min_freq"] = check_real("min_freq", args["min_freq"], "it must be a finite frequency >= 0 (Hz)", minimum=0.0)
    c["max_freq"] = check_max_freq(args["max_freq"], c["min_freq"], c["sampling_rate"])
    c["empty_bands"] = check_choice("empty_bands", args["empty_bands"], EMPTY_BANDS)


def _logarithm(args, c) -> None:
    c["log"] = check_choice_or_none("log", args["log"], LOGS)
    c["log_floor"] = check_real(
        "log_floor", args["log_floor"], "it must be a finite number > 0", minimum=0.0, strict=True
    )
    c["ref_power"] = check_real("ref_power", args["ref_power"], "it must be a finite number")
    c["top_db"] = check_top_db(args["top_db"], "the log's units")


def _cepstra(args, c) -> None:
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


def _output(args, c) -> None:
    c["scale"] = check_real("scale", args["scale"], "it must be a finite number > 0", minimum=0.0, strict=True)
    c["offset"] = check_real("offset", args["offset"], "it must be a finite number")
    c["output_frames"] = _optional_int(
        "output_frames", args["output_frames"], "it must be None (as computed) or an integer >= 1 (pad or cut to it)"
    )
    c["pad_value"] = check_real("pad_value", args["pad_value"], "it must be a finite number")
    c["pad_before_scaling"] = check_flag("pad_before_scaling", args["pad_before_scaling"])
    c["layout"] = check_choice("layout", args["layout"], LAYOUTS)


def _normalisation(args, c) -> None:
    c["normalize"] = check_flag("normalize", args["normalize"])
    c["normalize_ddof"] = check_int("normalize_ddof", args["normalize_ddof"], 0)
    c["normalize_eps"] = check_real(
        "normalize_eps", args["normalize_eps"], "it must be a finite number >= 0", minimum=0.0
    )


def _stacking(args, c) -> None:
    c["stack_frames"] = k = check_int("stack_frames", args["stack_frames"], 1)
    if k > 1 and (c["layout"] != "frames_mels" or c["output_frames"] is not None):
        raise ValueError(
            f"stack_frames={k!r} needs layout='frames_mels' and output_frames=None (rows of "
            f"stacked frames); received layout={c['layout']!r}, output_frames={c['output_frames']!r}"
        )


#: The engine's validators, in the order of the computation (each may read what earlier ones wrote).
ENGINE_STEPS = (
    _input,
    _framing,
    _window_step,
    _frame_corrections,
    _spectrum,
    _mel_filters,
    _logarithm,
    _cepstra,
    _output,
    _normalisation,
    _stacking,
    _call_options,
)


def resolve_engine(args: Mapping[str, Any]) -> dict[str, Any]:
    """Validate every :class:`melplug.FeatureExtractor` option; return the config in the signature's key order.

    Values are kept as given (after type normalisation), so that
    ``get_config()`` round-trips; derived sizes (frames in samples, the FFT
    size) are computed by :func:`melplug._plan.build_plan`.
    """
    c: dict[str, Any] = {}
    for step in ENGINE_STEPS:
        step(args, c)
    return {name: c[name] for name in args}


def engine_defaults() -> dict[str, Any]:
    """The engine's defaults, read from :class:`melplug.FeatureExtractor`'s signature (their one home)."""
    global _ENGINE_DEFAULTS
    if _ENGINE_DEFAULTS is None:
        from .core import FeatureExtractor

        params = inspect.signature(FeatureExtractor.__init__).parameters.values()
        _ENGINE_DEFAULTS = {p.name: p.default for p in params if p.name != "self"}
    return dict(_ENGINE_DEFAULTS)


_ENGINE_DEFAULTS: dict[str, Any] | None = None


def keras_to_engine(config: Mapping[str, Any]) -> dict[str, Any]:
    """The engine config that computes a resolved Keras config (:func:`resolve`) exactly.

    The engine's defaults (they are Keras' where the two share a step), with
    Keras' own options mapped onto the engine's names, validated by the same
    :func:`resolve_engine` as any engine config.
    """
    window = config["window"]
    keras = {
        "sampling_rate": config["sampling_rate"],
        "frame_length": config["fft_length"],  # Keras frames are fft_length samples; the window sits inside
        "hop_length": config["sequence_stride"],
        "window": "rectangular" if window is None else window,
        "window_length": config["sequence_length"],
        "magnitude_power": config["mag_exp"],
        "num_mel_bins": config["num_mel_bins"],
        "min_freq": config["min_freq"],
        "max_freq": config["max_freq"],
        "log": "db" if config["power_to_db"] else None,
        "log_floor": config["min_power"],
        "ref_power": config["ref_power"],
        "top_db": config["top_db"],
        **{name: config[name] for name in ("top_db_scope", "dtype", "on_nonfinite", "num_threads")},
    }
    return resolve_engine({**engine_defaults(), **keras})
