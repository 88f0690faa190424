"""Validation layer: every argument check melplug makes, written once.

The core, the adapters (Grain, HF datasets) and the CLI all validate through
these helpers, so an argument is refused with the same words wherever it is
given.  Errors follow one pattern: a ``TypeError`` for a value of the wrong
kind, a ``ValueError`` for a value out of range, and the message names the
argument, the value received and what is allowed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "as_clip",
    "check_call_options",
    "check_audio_dtype",
    "check_choice",
    "check_choice_or_none",
    "check_dtype_option",
    "check_flag",
    "check_int",
    "check_keys",
    "check_max_freq",
    "check_name",
    "check_num_threads",
    "check_real",
    "check_sampling_rate",
    "check_top_db",
    "check_window",
    "is_clip_list",
    "is_int",
    "is_keras_dtype_policy",
    "is_real",
]


def is_int(value) -> bool:
    """Whether ``value`` is an integer (``bool`` is not)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value) -> bool:
    """Whether ``value`` is a real number (``bool`` is not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_int(name: str, value, minimum: int, allowed: str | None = None) -> int:
    """``value`` as an ``int >= minimum``, else a ``TypeError``/``ValueError`` naming ``name``."""
    if not is_int(value):
        raise TypeError(f"{name} must be an integer >= {minimum}; received {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}={value!r} is invalid: {allowed or f'it must be an integer >= {minimum}'}")
    return int(value)


def check_real(name: str, value, allowed: str, *, minimum=None, strict=False, finite=True) -> float:
    """``value`` as a ``float`` (``> minimum`` with ``strict``, else ``>=``), finite unless ``finite=False``."""
    if not is_real(value):
        raise TypeError(f"{name} must be a real number ({allowed}); received {value!r} of type {type(value).__name__}")
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        raise ValueError(f"{name}={value!r} is invalid: {allowed}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        raise ValueError(f"{name}={value!r} is invalid: {allowed}")
    return value


def check_choice(name: str, value, choices: Sequence) -> Any:
    """``value`` if it is one of the strings ``choices``, else a ``ValueError`` listing them."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}={value!r} is invalid: it must be one of {options}")
    return value


def check_choice_or_none(name: str, value, choices: Sequence) -> Any:
    """:func:`check_choice` where ``None`` is one of ``choices``."""
    if value is None and None in choices:
        return None
    return check_choice(name, value, choices)


def check_flag(name: str, value, allowed: str = "True or False") -> bool:
    """A ``bool`` (NumPy's too); anything else is a ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be {allowed}; received {value!r}")
    return bool(value)


def check_sampling_rate(value) -> int | float:
    """``sampling_rate``: a finite number > 0 (Hz), kept an ``int`` when given as one."""
    rate = check_real("sampling_rate", value, "it must be a finite number > 0 (Hz)", minimum=0.0, strict=True)
    return int(value) if is_int(value) else rate


def check_max_freq(value, min_freq: float, sampling_rate) -> int | float | None:
    """``max_freq``: ``None`` (``sampling_rate / 2``) or a finite frequency above ``min_freq``; ints stay ints."""
    allowed = "it must be None or a finite frequency > min_freq (Hz)"
    top = sampling_rate / 2 if value is None else check_real("max_freq", value, allowed)
    if not top > min_freq:
        raise ValueError(
            f"max_freq={value!r} is invalid with min_freq={min_freq!r}: max_freq must be "
            "greater than min_freq (None means sampling_rate / 2)"
        )
    if value is None:
        return None
    return int(value) if is_int(value) else top


def check_top_db(value, units: str) -> float | None:
    """``top_db``: ``None`` (no floor) or a number >= 0 (``inf`` allowed) in ``units``."""
    if value is None:
        return None
    return check_real(
        "top_db", value, f"it must be None (no floor) or a number >= 0 ({units})", minimum=0.0, finite=False
    )


def check_window(window, length: int, names: tuple[str, ...], length_name: str):
    """A window name among ``names``, or a finite real array of shape ``(length,)`` (read-only float64)."""
    if isinstance(window, str):
        return check_choice("window", window, names)
    arr = np.asarray(window)
    if arr.dtype.kind not in "fiu":
        kinds = ", ".join(map(repr, names)) + (", None" if "rectangular" not in names else "")
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


def check_call_options(args: Mapping[str, Any], c: dict[str, Any]) -> None:
    """How a call runs (both classes): the floor's scope, dtype, non-finite policy, threads."""
    c["top_db_scope"] = check_choice("top_db_scope", args["top_db_scope"], ("example", "batch"))
    c["dtype"] = check_dtype_option(args["dtype"])
    c["on_nonfinite"] = check_choice("on_nonfinite", args["on_nonfinite"], ("raise", "propagate"))
    c["num_threads"] = check_num_threads(args["num_threads"])


def check_name(name: str, value) -> str:
    """A non-empty string naming a column or key."""
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty column name (str); received {value!r}")
    return value


def check_keys(key, out_key, element: str) -> None:
    """An adapter's ``key=``/``out_key=``: hashable or ``None``, and ``out_key`` only with ``key``."""
    from collections.abc import Hashable

    for name, value in (("key", key), ("out_key", out_key)):
        if value is not None and not isinstance(value, Hashable):
            raise TypeError(f"{name} must be None or a hashable {element} key (e.g. a str); received {value!r}")
    if out_key is not None and key is None:
        raise ValueError(
            f"out_key={out_key!r} needs key: set key= to the field that holds the audio "
            f"(out_key only names where the output of a {element} element goes)"
        )


def check_dtype_option(value) -> str | None:
    """The ``dtype=`` option: ``None``, ``"float32"`` or ``"float64"`` (NumPy dtypes and types accepted)."""
    if value is None:
        return None
    try:
        name = np.dtype(value).name
    except TypeError:
        name = None
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype={value!r} is invalid: it must be None, 'float32' or 'float64'")
    return name


def is_keras_dtype_policy(value) -> bool:
    """Whether ``value`` is a Keras dtype policy (an object, or its serialised dict).

    Keras layers report ``dtype`` as a ``DTypePolicy`` (serialised as
    ``{"module": "keras", "class_name": "DTypePolicy", ...}``).  Keras
    computes the mel spectrogram in float32 whatever the policy says, so
    ``from_config`` skips a policy; any other value is validated like the
    constructor's ``dtype=``.
    """
    if isinstance(value, Mapping):
        return str(value.get("class_name", "")).endswith("DTypePolicy") and "config" in value
    cls = type(value)
    return cls.__module__.startswith("keras") and cls.__name__.endswith("DTypePolicy")


def check_num_threads(value) -> int | None:
    """The ``num_threads=`` option: ``None`` or an integer >= 1."""
    if value is None:
        return None
    return check_int("num_threads", value, 1, "it must be None (use Numba's thread count) or an integer >= 1")


def check_audio_dtype(dtype: np.dtype, where: str) -> None:
    """Refuse complex, boolean, string, bytes and object audio with a ``TypeError`` naming ``where``."""
    if dtype.kind in "fiu":
        return
    kinds = {"c": "complex", "b": "boolean", "U": "string", "S": "bytes", "O": "object"}
    kind = kinds.get(dtype.kind, "non-numeric")
    raise TypeError(
        f"{where} has {kind} dtype {dtype}; melplug needs real audio samples "
        "(float32 or float64; integer samples are cast without scaling)"
    )


def as_clip(value, where: str) -> np.ndarray:
    """One clip of a ragged list: a non-empty 1-D real array (not copied when it already is one)."""
    arr = np.asarray(value)
    check_audio_dtype(arr.dtype, where)
    if arr.ndim != 1:
        raise ValueError(f"{where} must be a 1-D array of samples; received shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{where} is empty (0 samples); every clip needs at least 1 sample")
    return arr


def is_clip_list(audio) -> bool:
    """Whether ``audio`` is a ragged list of clips (a list/tuple holding arrays), not one array-like."""
    if not isinstance(audio, (list, tuple)):
        return False
    if len(audio) == 0:
        raise ValueError("audio is an empty list; pass an array of shape (..., samples) or a list of 1-D clips")
    return any(np.ndim(item) >= 1 for item in audio)
