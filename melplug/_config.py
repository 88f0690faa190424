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
    c["top_db"] = None if top_db is None else check_real(
        "top_db", top_db, "it must be None (no floor) or a number >= 0 (dB)", minimum=0.0, finite=False
    )
    c["mag_exp"] = check_real(
        "mag_exp", args["mag_exp"], "it must be a finite number > 0 (2: power, 1: magnitude)", minimum=0.0, strict=True
    )
    c["min_power"] = check_real("min_power", args["min_power"], "it must be a finite number > 0", minimum=0.0,
                                strict=True)
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
