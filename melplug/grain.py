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
down-mixed) in an earlier ``Map``.  The output is float32 (float64 only when
the extractor forces ``dtype="float64"``), as from Keras' layer and the other
adapters; float64 audio is computed in float64 and stored as float32.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

try:
    import grain
except ImportError as exc:  # pragma: no cover - exercised only without grain
    raise ImportError("melplug.grain needs Google Grain; install it with `pip install 'melplug[grain]'`") from exc

from . import _parallel, core
from ._adapter import KeyedAdapter, adapter_extractor

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


class MelSpectrogram(KeyedAdapter, grain.transforms.Map):
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
        self._adopt(adapter_extractor(extractor, args, kwargs), key=key, out_key=out_key)

    def _auto_threads(self) -> int | None:
        """One thread per call inside a Grain worker (the workers are the parallelism), else the core's default."""
        return 1 if in_grain_worker() else None

    # ----------------------------------------------------------------- Grain hooks

    def map(self, element):
        """Mel spectrogram of one element (an array, or ``element[key]``)."""
        out = self._store(self._mel(self._pick(element), num_threads=self.threads_per_call))
        return self._put(element, out)

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
        spec = self._pick(input_spec, "input spec")
        where = "input_spec" if self.key is None else f"input_spec[{self.key!r}]"
        try:
            shape, dtype = tuple(spec.shape), np.dtype(spec.dtype)
        except (AttributeError, TypeError) as exc:
            raise TypeError(f"{where} must have .shape and .dtype (a ShapeDtypeStruct); received {spec!r}") from exc
        if dtype.kind not in "fiu":
            raise TypeError(f"{where} has dtype {dtype}; melplug needs real audio samples (float or integer)")
        if not shape:
            raise ValueError(f"{where} has shape (); audio needs shape (..., samples)")
        shape = self._mel.compute_output_shape(shape)
        return self._put(input_spec, grain.experimental.ShapeDtypeStruct(shape=shape, dtype=self.output_dtype))
