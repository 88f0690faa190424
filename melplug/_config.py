"""Config layer: Keras' arguments, validated and resolved once, and their translation to the engine.

:func:`resolve` turns the arguments a user passed to
:class:`melplug.MelSpectrogram` (Keras' 13 plus melplug's keyword-only
extras) into a *config*: a plain dict of checked values with the implicit
defaults made explicit (``sequence_length=None`` becomes ``fft_length``,
``max_freq=None`` becomes ``int(sampling_rate / 2)``).  The config is what
:meth:`melplug.MelSpectrogram.get_config` reports;
:func:`keras_to_engine` maps it onto the engine's options, which
:mod:`melplug._plan` checks and turns into arrays like any other extractor's.
:func:`from_mapping` reads a config back from ``get_config()`` output or a
Keras layer's config.

The defaults themselves have one home, the signature of
:class:`melplug.MelSpectrogram`; ``melplug.core.KERAS_DEFAULTS`` and
``EXTRA_DEFAULTS`` are read from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import _plan
from ._validate import (
    check_call_options,
    check_flag,
    check_int,
    check_max_freq,
    check_real,
    check_sampling_rate,
    check_top_db,
    check_window,
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
    c["window"] = None if args["window"] is None else check_window(args["window"], seq, WINDOWS, "sequence_length")
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
    check_call_options(args, c)
    return c


def _sequence_length(value, fft_length: int) -> int:
    if value is None:
        return fft_length
    allowed = f"it must be None or an integer in [1, fft_length={fft_length}]"
    seq = check_int("sequence_length", value, 1, allowed)
    if seq > fft_length:
        raise ValueError(f"sequence_length={value!r} is invalid: {allowed}")
    return seq


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


def engine_defaults() -> dict[str, Any]:
    """The engine's defaults, read from :class:`melplug.FeatureExtractor`'s signature (their one home)."""
    global _ENGINE_DEFAULTS
    if _ENGINE_DEFAULTS is None:
        from .core import FeatureExtractor

        _ENGINE_DEFAULTS = FeatureExtractor._defaults()
    return dict(_ENGINE_DEFAULTS)


_ENGINE_DEFAULTS: dict[str, Any] | None = None


def keras_to_engine(config: Mapping[str, Any]) -> dict[str, Any]:
    """The engine config that computes a resolved Keras config (:func:`resolve`) exactly.

    The engine's defaults (they are Keras' where the two share a step), with
    Keras' own options mapped onto the engine's names, validated by the same
    :func:`melplug._plan.resolve_engine` as any engine config.
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
    return _plan.resolve_engine({**engine_defaults(), **keras})
