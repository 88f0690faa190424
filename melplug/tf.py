"""tf.data adapter: :class:`MelSpectrogram`, a callable for ``tf.data.Dataset.map``.

A thin layer over :class:`melplug.MelSpectrogram` (or any extractor): it
picks the audio tensor out of an element (a tensor, or a field of a dict),
runs the core object's computation on it (in graphs through melplug's custom
op, see below; else through ``tf.numpy_function``) and puts the result back
with its static shape set.  All arguments are forwarded to the core
object, which validates them.  ``import melplug`` does not import
TensorFlow; ``import melplug.tf`` does.

Dtypes
------
The audio is cast to the compute dtype inside the graph first (float32, or
float64 when the extractor forces ``dtype="float64"``); integer samples are
cast without scaling, as Keras and the NumPy API do.  The output is float32
(float64 only with ``dtype="float64"``), like Keras' layer, whose compute
dtype is float32 whatever the input.  Complex, boolean and string tensors are
a ``TypeError`` when the map is built.

Threads
-------
tf.data runs map calls side by side: ``num_parallel_calls=tf.data.AUTOTUNE``,
and even a plain ``.map`` (``stateful=False`` lets tf.data's default
``map_parallelization`` optimisation parallelise it) run as many calls at once
as there are cores.  The kernels release the GIL, so those calls really run in
parallel, and each call must then use **one thread**, or tf.data's calls ×
melplug's threads would oversubscribe the cores.  So with ``num_threads=None``
(the default) the adapter chooses when it is traced:

* in a graph (``Dataset.map``, ``tf.function``): 1 thread per call;
* eagerly (a call on an eager tensor): melplug's default
  (``NUMBA_NUM_THREADS``, the usable cores), as the NumPy API.

An explicit ``num_threads=k`` is always honoured (e.g. a pipeline that turns
``map_parallelization`` off and maps large batches one at a time).
``docs/tf.md`` has the measurements behind this choice.

The custom op
-------------
In graphs (``Dataset.map``, ``tf.function``) with one thread per call, the
adapter runs melplug's TensorFlow custom op instead of ``tf.numpy_function``:
the whole computation in one C call (``melplug._cabi``, a ``numba.cfunc``),
no Python and no GIL per element, the same numbers bit for bit and the same
error messages.  Its C++ source ships in ``melplug/_tfop`` and is compiled
with ``g++`` (``$CXX``) on first use, once per machine and TensorFlow version
(a few seconds; cached under ``~/.cache/melplug/tfop``, or
``$MELPLUG_TF_OP_CACHE``).  Without a compiler, or if the build fails, the
adapter warns once and uses ``tf.numpy_function``; ``MELPLUG_TF_OP=0``
chooses that path silently.  An extractor whose plan the C entry point cannot
take uses it too (with a warning naming it); the others keep the op.  Eager
calls, ``num_threads > 1`` and stand-in extractors always use
``tf.numpy_function``.

Limits
------
The op's attributes hold addresses in this process, and
``tf.numpy_function`` runs Python: a graph holding it cannot be serialised
(no SavedModel export, no tf.data service, no TPU); it runs in the process
that built it (elsewhere the op fails with an ``InvalidArgumentError`` saying
so).  Use melplug in the input pipeline, not inside an exported model.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import threading
import warnings
from collections.abc import Hashable
from typing import Any

import numpy as np

try:
    import tensorflow as tf
except ImportError as exc:  # pragma: no cover - exercised only without tensorflow
    raise ImportError("melplug.tf needs TensorFlow; install it with `pip install 'melplug[tf]'`") from exc

from . import _cabi, _geometry, _kernels, _tfop, core
from ._adapter import KeyedAdapter, adapter_extractor

__all__ = ["MelSpectrogram"]


class MelSpectrogram(KeyedAdapter):
    """Keras-exact mel spectrograms (or any preset) as a ``tf.data.Dataset.map`` function.

    Parameters
    ----------
    *args, **kwargs
        Every argument of :class:`melplug.MelSpectrogram` (Keras' 13 and the
        keyword-only ``top_db_scope``, ``dtype``, ``on_nonfinite``,
        ``num_threads``), validated there.  ``num_threads=None`` means one
        thread per call in graphs (tf.data runs calls side by side) and
        melplug's default for eager calls (see the module docstring).
    extractor : str or FeatureExtractor, keyword-only
        Instead of Keras' arguments: a preset name (``"whisper"``, ``"kaldi"``,
        ..., :data:`melplug.PRESETS`) or any :class:`melplug.FeatureExtractor`;
        the output then has the preset's per-example shape.
    key : hashable or None, keyword-only
        ``None``: elements are tensors of shape ``(..., samples)`` and the
        output is the tensor ``(..., num_mel_bins, frames)``.  Otherwise
        elements are dicts, the audio is ``element[key]`` and a new dict with
        every other field kept is returned.
    out_key : hashable or None, keyword-only
        Where the output is written; ``None`` means ``key`` (the audio is
        replaced).  Requires ``key``.

    Notes
    -----
    Errors that the element's spec shows (a dict without ``key``, a string or
    complex tensor, a scalar, 0 samples) are raised by ``Dataset.map`` itself,
    as ``TypeError``/``ValueError``.  Errors in the data (NaN/Inf samples, an
    input of unknown rank that turns out to be a scalar) are raised when the
    element is computed: tf.data (and ``tf.function``) report them as
    ``tf.errors.InvalidArgumentError`` carrying melplug's message; an eager
    call raises melplug's ``ValueError`` itself.

    Examples
    --------
    >>> import numpy as np, tensorflow as tf
    >>> import melplug.tf
    >>> mel = melplug.tf.MelSpectrogram(num_mel_bins=40, fft_length=512, sequence_stride=160,
    ...                                 key="audio", out_key="mel")
    >>> ds = tf.data.Dataset.from_tensor_slices(
    ...     {"audio": np.zeros((4, 1600), np.float32), "label": np.arange(4)})
    >>> ds = ds.batch(2).map(mel, num_parallel_calls=tf.data.AUTOTUNE)
    >>> ds.element_spec["mel"]
    TensorSpec(shape=(None, 40, 11), dtype=tf.float32, name=None)
    >>> batch = next(iter(ds))
    >>> batch["mel"].shape, batch["label"].numpy().tolist()
    (TensorShape([2, 40, 11]), [0, 1])
    """

    #: Whether graphs may use the custom op (tests and benchmarks set ``False`` to time tf.numpy_function).
    _use_op = True
    _MAPPING = "dict"
    _ARRAY = "tensor"

    def __init__(
        self,
        *args: Any,
        extractor: str | core.FeatureExtractor | None = None,
        key: Hashable | None = None,
        out_key: Hashable | None = None,
        **kwargs: Any,
    ):
        self._adopt(adapter_extractor(extractor, args, kwargs), key=key, out_key=out_key)

    # ----------------------------------------------------------------- configuration

    @property
    def dtype(self) -> tf.DType:
        """The output dtype: ``tf.float64`` if the extractor forces ``dtype="float64"``, else ``tf.float32``."""
        return tf.as_dtype(self.output_dtype)

    def _auto_threads(self) -> int | None:
        """One thread per call in graphs (tf.data runs calls side by side), the core's default eagerly."""
        return None if tf.executing_eagerly() else 1

    def __hash__(self) -> int:
        # tf.function(mel) keys its cache by the callable: hashable, consistent with __eq__ (the config is fixed).
        return hash(repr(self))

    # ----------------------------------------------------------------- the map function

    @tf.autograph.experimental.do_not_convert  # plain Python control flow on the element's structure
    def __call__(self, element, *more):
        """Mel spectrogram of one element: a tensor ``(..., samples)``, or ``element[key]`` of a dict.

        Works on eager tensors, in ``tf.function`` and in ``Dataset.map``
        (which calls it once, to trace the graph).
        """
        if more:
            raise TypeError(
                f"elements are tuples of {1 + len(more)} components, which Dataset.map passes as separate "
                "arguments; map a function that picks the audio, e.g. "
                "ds.map(lambda audio, label: (mel(audio), label)), or use dict elements with key="
            )
        audio = self._pick(element)
        return self._put(element, self._compute(audio, "audio" if self.key is None else f"[{self.key!r}]"))

    def _compute(self, audio, where: str):
        if isinstance(audio, (tf.RaggedTensor, tf.SparseTensor)):
            raise TypeError(
                f"audio{'' if where == 'audio' else where} is a {type(audio).__name__}; melplug.tf needs a dense "
                "(..., samples) tensor: map before batching, or pad first (Dataset.padded_batch)"
            )
        what = "audio" if where == "audio" else f"element{where}"
        audio = tf.convert_to_tensor(audio)
        in_dtype = audio.dtype
        if not (in_dtype.is_floating or in_dtype.is_integer):
            raise TypeError(
                f"{what} has dtype {in_dtype.name}; melplug needs real audio samples "
                "(float32 or float64; integer samples are cast without scaling)"
            )
        shape = audio.shape
        if shape.rank == 0:
            raise ValueError(f"{what} is a scalar (shape ()); pass a tensor of shape (..., samples)")
        if shape.rank is not None and shape[-1] == 0:
            raise ValueError(f"{what} has shape {shape} with 0 samples; every clip needs at least 1 sample")
        out_dtype = self.dtype
        if in_dtype != out_dtype:
            audio = tf.cast(audio, out_dtype)  # integers: without scaling, as the core and Keras do
        threads = self.threads_per_call  # one per call in graphs (module docstring)
        out = None
        if threads == 1 and self._use_op and not tf.executing_eagerly():
            out = _op_call(self._mel, audio, what)  # the custom op: no Python per call
        if out is None:
            fn = functools.partial(_call_core, self._mel, threads, what)
            out = tf.numpy_function(fn, [audio], out_dtype, stateful=False, name="melplug_mel_spectrogram")
        if shape.rank is not None:
            out.set_shape(self._mel.compute_output_shape(tuple(shape)))
        return out


def _call_core(mel: core.FeatureExtractor, threads: int | None, what: str, audio: np.ndarray) -> np.ndarray:
    """The body ``tf.numpy_function`` runs: the core call; its errors name the adapter and the field.

    Per-clip maps of short clips call this tens of thousands of times a second,
    with the GIL held around the kernel: the core's fast path (checks and layout
    made once per shape, ``FeatureExtractor._fast_call``) takes the common case,
    and the full call everything else (first calls of a shape, errors, NaN).
    """
    try:
        fast = getattr(mel, "_fast_call", None)  # extractors standing in for the core may not have it
        if fast is not None:
            out = fast(audio, threads)
            if out is not None:
                return out
        return mel(audio, num_threads=threads)
    except (ValueError, TypeError) as exc:
        # tf.data re-raises this as InvalidArgumentError with this text: say which stage and field failed.
        message = str(exc)
        if what != "audio":
            message = message.replace("audio", what, 1)
        raise type(exc)(f"{_PREFIX}{message}") from exc


_op_lock = threading.Lock()
_op_state: dict = {}  # "failure" once the op is unusable in this process; "token" once it is loaded
_packed: dict = {}  # plan key -> its PackedPlan, or why it cannot be packed; kept for the process's lifetime
_PREFIX = "melplug.tf.MelSpectrogram: "


def _op():
    """The custom op's module, or ``None`` (the first time: built or loaded now; a failure warns once)."""
    if "failure" in _op_state:
        return None
    module = _tfop.load()
    if module is None:
        _op_unusable(_tfop.failure() or "unknown reason", warn=not _tfop.disabled())
        return None
    if "token" not in _op_state:
        with tf.init_scope():  # run eagerly, also while a graph is traced
            token = int(module.melplug_process_token())
        _op_state.setdefault("token", token)  # graphs carry it: the op refuses to run in another process
    return module


def _op_unusable(reason: str, warn: bool = True) -> None:
    with _op_lock:
        if "failure" in _op_state:
            return
        _op_state["failure"] = reason
    if warn:
        warnings.warn(
            f"melplug.tf: the TensorFlow custom op is unavailable ({reason}); using tf.numpy_function, which "
            "costs tens of microseconds of Python per call. The op is built once per machine into "
            f"MELPLUG_TF_OP_CACHE (here {_tfop.cache_dir()}); set MELPLUG_TF_OP=0 to choose this path silently",
            RuntimeWarning,
            stacklevel=4,
        )


def _op_applies(mel) -> bool:
    """Whether ``mel`` is an extractor whose array call the op reproduces (not a stand-in or a subclass changing it)."""
    cls = type(mel)
    return (
        isinstance(mel, core.FeatureExtractor)
        and cls.__call__ is core.FeatureExtractor.__call__
        and cls._check_length is core.FeatureExtractor._check_length
    )


def _entries(dtype: np.dtype) -> tuple[int, int] | None:
    """The addresses of the C entry points (mel for ``dtype``, geometry), compiled or loaded once, or ``None``.

    ``None`` when Numba cannot compile them: then the op is unusable in this
    process (they are the same for every plan).
    """
    try:
        with _op_lock:
            return _cabi.entry_address(dtype), _cabi.geometry_address()
    except Exception as exc:  # noqa: BLE001 - the numpy path computes the same numbers
        _op_unusable(f"compiling melplug's C entry point failed: {type(exc).__name__}: {exc}")
        return None


def _packed_plan(mel: core.FeatureExtractor) -> _cabi.PackedPlan | None:
    """``mel``'s plan packed for the C entry points (interned for the process), or ``None``.

    ``None``, with one warning naming ``mel``, when the plan holds a value the
    record cannot (e.g. an int >= 2**63): that extractor uses
    tf.numpy_function, the others keep the op.

    Graphs hold the record's address as an attr, and a dataset outlives the
    adapter that traced its map: the packed plan is never freed (a few kB per configuration).
    """
    plan = mel.plan
    key = hashlib.sha256(pickle.dumps(tuple(plan), protocol=4)).hexdigest()
    new = False
    with _op_lock:
        packed = _packed.get(key)
        if packed is None:
            new = True
            try:
                packed = _cabi.PackedPlan(plan)
            except Exception as exc:  # noqa: BLE001 - a value the C record cannot hold (e.g. an int >= 2**63)
                packed = f"{type(exc).__name__}: {exc}"
            _packed[key] = packed
    if isinstance(packed, str):
        if new:
            warnings.warn(
                f"melplug.tf: the TensorFlow custom op cannot run {mel!r} ({packed}); this extractor uses "
                "tf.numpy_function (tens of microseconds of Python per call)",
                RuntimeWarning,
                stacklevel=5,
            )
        return None
    return packed


def _op_messages(plan, what: str, dtype: np.dtype) -> dict[str, Any]:
    """The op's error texts: the core's, made by the same functions, with ``{samples}``-style placeholders."""
    length_errors = range(1, max(_geometry.LENGTH_ERRORS) + 1)  # the op shows item i for error code i + 1
    nonfinite = _geometry.nonfinite_message
    return {
        "length_errors": [
            _PREFIX + _geometry.length_message(plan, code, what, "{samples}", "{frames}") for code in length_errors
        ],
        "bad_input_error": _PREFIX + nonfinite(True, "{where}", "{count}", "{total}", "examples", dtype),
        "bad_output_error": _PREFIX + nonfinite(False, "{where}", "{count}", "{total}", "examples", dtype),
        "bad_input_flag": int(_kernels.BAD_INPUT),
        "scalar_error": _PREFIX + _geometry.scalar_message(what),
        "empty_error": _PREFIX + _geometry.empty_message(what, "{shape}"),
        "example_name": _geometry.example_name(what, "{index}"),
    }


def _op_call(mel, audio: tf.Tensor, what: str):
    """The op on ``audio`` (already in the compute dtype), or ``None`` where the op is not used."""
    if not _op_applies(mel):
        return None
    module = _op()
    if module is None:
        return None
    dtype = np.dtype(audio.dtype.as_numpy_dtype)
    entries = _entries(dtype)
    if entries is None:
        return None
    packed = _packed_plan(mel)
    if packed is None:
        return None
    return module.melplug_mel_spectrogram(
        audio,
        token=_op_state["token"],
        mel_entry=entries[0],
        geometry_entry=entries[1],
        plan=packed.address,
        what=what,
        **_op_messages(packed.plan, what, dtype),
        name="melplug_mel_spectrogram",
    )
