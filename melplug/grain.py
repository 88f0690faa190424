"""Grain adapter: :class:`MelSpectrogram`, a ``grain.transforms.Map``.

A thin layer over :class:`melplug.MelSpectrogram`: it picks the audio out of
an element (an array, or a field of a mapping), calls the core object and puts
the mel spectrogram back.  All arguments are forwarded to the core object,
which validates them.

Threads
-------
With ``num_threads=None`` (the default) the transform chooses per call:

* inside a Grain worker process (``DataLoader(worker_count=N)`` or
  ``IterDataset.mp_prefetch``) each call runs in **one thread**: the worker
  processes are the parallelism, so ``N`` workers use ``N`` cores and never
  ``N x cores`` threads;
* elsewhere (``worker_count=0``, plain ``MapDataset``/``IterDataset``
  pipelines) it uses melplug's default (``NUMBA_NUM_THREADS``, i.e. the usable
  cores).  Calls made concurrently by Grain's reader threads share melplug's
  single thread pool, so they do not multiply the thread count either.

An explicit ``num_threads=k`` is always honoured.  ``docs/grain.md`` has the
measurements behind this choice.

Elements
--------
Audio reaches the transform as ``(..., samples)`` arrays, already decoded:
the last axis is time and every leading axis (a batch, or channels) is kept
as it is; ``(channels, samples)`` gives ``(channels, num_mel_bins, frames)``.
Unlike the Hugging Face adapter, nothing guesses a channel layout here: a
``(samples, channels)`` array from soundfile must be transposed (or
down-mixed) in an earlier ``Map``.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Mapping, MutableMapping
from typing import Any

import numpy as np

try:
    import grain
except ImportError as exc:  # pragma: no cover - exercised only without grain
    raise ImportError("melplug.grain needs Google Grain; install it with `pip install 'melplug[grain]'`") from exc

from . import _parallel, core
from ._validate import check_keys
from .presets import adapter_extractor, adapter_repr, adapter_signature

__all__ = ["MelSpectrogram", "in_grain_worker"]


def in_grain_worker() -> bool:
    """Whether this process is a Grain worker (``DataLoader``/``mp_prefetch`` child).

    Grain marks its worker processes in a module-level flag that is not part
    of its public API; if that flag cannot be found (another Grain version),
    any process started by ``multiprocessing`` or ``multiprocess``
    (:func:`melplug._parallel.in_worker_process`) counts as a worker, which
    errs on the side of fewer threads.

    Examples
    --------
    >>> from melplug.grain import in_grain_worker
    >>> in_grain_worker()
    False
    """
    try:
        from grain._src.python.dataset.transformations import process_prefetch

        return bool(process_prefetch.is_in_worker_process())
    except (ImportError, AttributeError):  # pragma: no cover - other Grain versions
        return _parallel.in_worker_process()


class MelSpectrogram(grain.transforms.Map):
    """Keras-exact mel spectrograms as a Grain ``Map`` transform.

    Parameters
    ----------
    *args, **kwargs
        Every argument of :class:`melplug.MelSpectrogram` (Keras' 13 and the
        keyword-only ``top_db_scope``, ``dtype``, ``on_nonfinite``,
        ``num_threads``), validated there.  ``num_threads=None`` means one
        thread per call inside Grain worker processes and melplug's default
        elsewhere (see the module docstring).
    extractor : str or FeatureExtractor, keyword-only
        Instead of Keras' arguments: a preset name (``"whisper"``, ``"kaldi"``,
        ..., :data:`melplug.PRESETS`) or any :class:`melplug.FeatureExtractor`;
        the output then has the preset's per-example shape (e.g. ``(80, 3000)``
        for whisper, ``(frames, 23)`` for kaldi).
    key : hashable or None, keyword-only
        ``None``: elements are arrays of shape ``(..., samples)`` (1-D, or 2-D
        after ``batch``) and the output is the array ``(..., num_mel_bins,
        frames)``.  Otherwise elements are mappings, the audio is read from
        ``element[key]`` and a new mapping with every other field kept is
        returned.
    out_key : hashable or None, keyword-only
        Where the mel spectrogram is written; ``None`` means ``key`` (the audio
        is replaced).  Requires ``key``.

    Examples
    --------
    >>> import grain, numpy as np
    >>> import melplug.grain
    >>> mel = melplug.grain.MelSpectrogram(num_mel_bins=40, fft_length=512, sequence_stride=160,
    ...                                    key="audio", out_key="mel")
    >>> records = [{"audio": np.zeros(1600, np.float32), "label": i} for i in range(4)]
    >>> ds = grain.MapDataset.source(records).map(mel).batch(2)
    >>> batch = ds[0]
    >>> batch["mel"].shape, batch["audio"].shape, batch["label"].tolist()
    ((2, 40, 11), (2, 1600), [0, 1])
    """

    def __init__(
        self,
        *args: Any,
        extractor: str | core.FeatureExtractor | None = None,
        key: Hashable | None = None,
        out_key: Hashable | None = None,
        **kwargs: Any,
    ):
        check_keys(key, out_key, "mapping")
        self._mel = adapter_extractor(extractor, args, kwargs)
        self.key = key
        self.out_key = out_key

    # ----------------------------------------------------------------- configuration

    @property
    def mel(self) -> core.FeatureExtractor:
        """The wrapped :class:`melplug.MelSpectrogram` that does the work."""
        return self._mel

    @property
    def num_threads(self) -> int | None:
        """Threads per call as configured (``None``: automatic, see the module docstring)."""
        return self._mel.num_threads

    def get_config(self) -> dict[str, Any]:
        """The core object's configuration plus ``key`` and ``out_key``."""
        return {**self._mel.get_config(), "key": self.key, "out_key": self.out_key}

    def __repr__(self) -> str:
        return adapter_repr("melplug.grain.MelSpectrogram", {"key": self.key, "out_key": self.out_key}, self._mel)

    def __eq__(self, other) -> bool:
        if not isinstance(other, MelSpectrogram):
            return NotImplemented
        return (self.key, self.out_key) == (other.key, other.out_key) and self._mel == other._mel

    __hash__ = None  # like the core object

    # ----------------------------------------------------------------- Grain hooks

    def map(self, element):
        """Mel spectrogram of one element (an array, or ``element[key]``)."""
        if self.key is None:
            if isinstance(element, Mapping):
                keys = ", ".join(repr(k) for k in list(element)[:8])
                raise TypeError(
                    f"element is a {type(element).__name__} with keys [{keys}] but key=None; pass "
                    "key=<the field holding the audio> (and optionally out_key=) to MelSpectrogram"
                )
            return self._compute(element)
        if not isinstance(element, Mapping):
            raise TypeError(
                f"key={self.key!r} is set, so elements must be mappings; received {type(element).__name__}. "
                "Use key=None for array elements"
            )
        if self.key not in element:
            keys = ", ".join(repr(k) for k in list(element)[:16])
            raise ValueError(
                f"element has no key {self.key!r}; its keys are [{keys}]. Set key= to the field holding the audio"
            )
        out = self._compute(element[self.key])
        return _with_item(element, self.key if self.out_key is None else self.out_key, out)

    def output_spec(self, input_spec):
        """Grain's element-spec inference: the spec of ``map``'s output.

        Parameters
        ----------
        input_spec : ShapeDtypeStruct-like, or a mapping of them when ``key`` is set
            Objects with ``shape`` (``(..., samples)``, ``samples`` may be
            ``None`` when unknown) and ``dtype``.

        Returns
        -------
        grain.experimental.ShapeDtypeStruct (or a dict with ``out_key`` set)
            Shape ``(..., num_mel_bins, frames)``; ``frames`` is ``None``
            when ``samples`` is.

        Examples
        --------
        >>> import numpy as np, grain
        >>> import melplug.grain
        >>> t = melplug.grain.MelSpectrogram(num_mel_bins=40, fft_length=512, sequence_stride=160)
        >>> t.output_spec(grain.experimental.ShapeDtypeStruct(shape=(8, 16000), dtype=np.float32))
        ShapeDtypeStruct(shape=(8, 40, 101), dtype=dtype('float32'))
        """
        if self.key is None:
            return self._array_spec(input_spec, "input_spec")
        if not isinstance(input_spec, Mapping):
            raise TypeError(
                f"key={self.key!r} is set, so input_spec must be a mapping of specs; "
                f"received {type(input_spec).__name__}"
            )
        if self.key not in input_spec:
            keys = ", ".join(repr(k) for k in input_spec)
            raise ValueError(f"input_spec has no key {self.key!r}; its keys are [{keys}]")
        spec = self._array_spec(input_spec[self.key], f"input_spec[{self.key!r}]")
        return _with_item(input_spec, self.key if self.out_key is None else self.out_key, spec)

    def _array_spec(self, spec, where: str):
        try:
            shape, dtype = tuple(spec.shape), np.dtype(spec.dtype)
        except (AttributeError, TypeError) as exc:
            raise TypeError(f"{where} must have .shape and .dtype (a ShapeDtypeStruct); received {spec!r}") from exc
        if dtype.kind not in "fiu":
            raise TypeError(f"{where} has dtype {dtype}; melplug needs real audio samples (float or integer)")
        if not shape:
            raise ValueError(f"{where} has shape (); audio needs shape (..., samples)")
        samples = shape[-1]
        example = self._mel.compute_output_shape((samples,))
        if self._mel.dtype is not None:
            out_dtype = np.dtype(self._mel.dtype)
        else:
            out_dtype = np.dtype(np.float64 if dtype == np.float64 else np.float32)
        return grain.experimental.ShapeDtypeStruct(shape=(*shape[:-1], *example), dtype=out_dtype)

    # ----------------------------------------------------------------- computing

    def _threads_for_call(self) -> int | None:
        """Threads for the next call: the configured count, else 1 in a Grain worker, else ``None`` (the core's)."""
        if self._mel.num_threads is None and in_grain_worker():
            return 1
        return self._mel.num_threads

    def _compute(self, audio):
        return self._mel(audio, num_threads=self._threads_for_call())


def _with_item(mapping: Mapping, key, value) -> Mapping:
    """A new mapping of the same kind as ``mapping`` with ``key`` set; ``mapping`` is untouched."""
    if type(mapping) is dict:
        out = dict(mapping)
    else:
        try:
            out = copy.copy(mapping)
        except Exception:  # noqa: BLE001 - any failure to copy: fall back to a dict
            out = None
        if not isinstance(out, MutableMapping) or out is mapping:
            out = dict(mapping)
    out[key] = value
    return out


MelSpectrogram.__init__.__signature__ = adapter_signature("key", "out_key")
