"""Call layer: one call of an extractor, from the user's audio to the shaped output.

:func:`call` converts once (an array, or a ragged list of clips), picks the
compute dtype, checks clip lengths, runs the :class:`~melplug._driver.Driver`
and shapes what it wrote; NaN/Inf flags become the ``ValueError`` naming the
example.  :func:`fast_call` is the same computation for callers that repeat
one array shape (``tf.numpy_function`` maps): what the shape fixes is settled
once, and each call only runs the driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import _geometry
from ._driver import raise_nonfinite
from ._validate import as_clip, check_audio_dtype, check_num_threads, is_clip_list

if TYPE_CHECKING:  # pragma: no cover
    from .core import FeatureExtractor

__all__ = ["call", "compute_dtype", "fast_call"]


def compute_dtype(fx: FeatureExtractor, dtypes) -> type:
    """float64 when forced or when every input is float64; float32 otherwise."""
    forced = fx._config["dtype"]
    if forced is not None:
        return np.float64 if forced == "float64" else np.float32
    return np.float64 if all(dt == np.float64 for dt in dtypes) else np.float32


def call(fx: FeatureExtractor, audio, num_threads):
    """``fx(audio, num_threads=num_threads)``."""
    threads = check_num_threads(num_threads)
    if threads is None:
        threads = fx._config["num_threads"]
    if is_clip_list(audio):
        return _clips(fx, audio, threads)
    return _array(fx, audio, threads)


def _array(fx: FeatureExtractor, audio, threads):
    arr = np.asarray(audio)
    check_audio_dtype(arr.dtype, "audio")
    if arr.ndim == 0:
        raise ValueError(_geometry.scalar_message("audio"))
    if arr.size == 0:
        raise ValueError(_geometry.empty_message("audio", arr.shape))
    dtype = compute_dtype(fx, [arr.dtype])
    lead, n = arr.shape[:-1], arr.shape[-1]
    fx._check_length(n, "audio")
    x = np.ascontiguousarray(arr, dtype=dtype).reshape(-1, n)
    out, flags = fx._driver.array(x, threads)
    if flags is not None and fx._config["on_nonfinite"] == "raise":

        def where(first: int) -> str:
            if not lead:
                return "audio"
            index = tuple(int(i) for i in np.unravel_index(first, lead)) if len(lead) > 1 else first
            return _geometry.example_name("audio", index)

        raise_nonfinite(flags, where, "examples", dtype)
    frames = out.size // (x.shape[0] * fx.num_features)  # output frames per example
    return out.reshape(*lead, *fx._example_shape(frames))


def _clips(fx: FeatureExtractor, audio, threads):
    clips = [as_clip(item, f"audio[{i}]") for i, item in enumerate(audio)]
    for i, clip in enumerate(clips):
        fx._check_length(clip.shape[0], f"audio[{i}]")
    dtype = compute_dtype(fx, [c.dtype for c in clips])
    out, flags, o_off, rows = fx._driver.clips(clips, dtype, threads)
    if flags is not None and fx._config["on_nonfinite"] == "raise":
        raise_nonfinite(flags, lambda first: f"audio[{first}]", "clips", dtype)
    M = fx.num_features
    return [
        out[o : o + M * r].reshape(fx._example_shape(r)) for o, r in zip(o_off.tolist(), rows.tolist(), strict=True)
    ]


def fast_call(fx: FeatureExtractor, audio, threads: int | None):
    """``fx(audio, num_threads=threads)`` on an adapter's hot path, or ``None``: then make that call.

    For an ``ndarray`` already C-contiguous in its compute dtype (what
    ``tf.numpy_function`` passes), the checks and the output shape are settled
    once per shape, dtype and thread count; a call runs :meth:`Driver.array
    <melplug._driver.Driver.array>` (the same phases as :func:`call`) and
    looks at its flags.  ``None`` for any other input, for a shape the full
    call refuses, and for a call that flagged an example (NaN/Inf samples,
    overflow): the full call reports those with its own words, or propagates
    NaN, computing the same numbers (the kernels are deterministic).
    """
    if type(audio) is not np.ndarray or not audio.flags.c_contiguous:
        return None
    key = (audio.shape, audio.dtype, threads)
    cache = fx._fast
    shape = cache.get(key)
    if shape is None:
        shape = _fast_shape(fx, audio.shape, audio.dtype, threads) or False
        if len(cache) >= 64:  # e.g. clips of many lengths
            cache.clear()
        cache[key] = shape
    if not shape:
        return None
    out, flags = fx._driver.array(audio.reshape(-1, audio.shape[-1]), threads)
    return None if flags is not None else out.reshape(shape)


def _fast_shape(fx: FeatureExtractor, shape: tuple[int, ...], dtype: np.dtype, threads) -> tuple | None:
    """:func:`fast_call`'s output shape for inputs of ``shape`` and ``dtype``; ``None`` if it cannot take them."""
    if not shape or 0 in shape or dtype != compute_dtype(fx, [dtype]):
        return None
    if threads is not None and not (type(threads) is int and threads >= 1):
        return None  # the full call refuses it
    try:
        fx._check_length(shape[-1], "audio")
    except ValueError:
        return None  # the full call raises it, every time
    return fx.compute_output_shape(shape)
