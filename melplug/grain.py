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

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np

try:
    import grain
except ImportError as exc:  # pragma: no cover - exercised only without grain
    raise ImportError("melplug.grain needs Google Grain; install it with `pip install 'melplug[grain]'`") from exc

from . import _parallel, core
from ._adapter import KeyedAdapter, adapter_extractor
from ._validate import check_flag

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
    resample : bool, keyword-only
        With ``key``, an element's ``"sampling_rate"`` (or ``"sample_rate"``)
        field gives its audio's rate: audio at another rate is converted to
        ``sampling_rate`` with soxr (its "HQ" quality, along the last axis)
        instead of refused.  Without it such an element is a ``ValueError``
        naming both rates.  Needs ``soxr`` (``pip install 'melplug[grain]'``).
        :meth:`output_spec` assumes the extractor's rate.

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
        resample: bool = False,
        **kwargs: Any,
    ):
        self._adopt(adapter_extractor(extractor, args, kwargs), key=key, out_key=out_key, resample=resample)

    OPTIONS = {**KeyedAdapter.OPTIONS, "resample": False}
    #: The element fields read as the audio's sampling rate (Hugging Face's name, then Ray's and torchcodec's).
    RATE_FIELDS = ("sampling_rate", "sample_rate")

    def _set_options(self, key: Hashable | None = None, out_key: Hashable | None = None, resample=False) -> None:
        super()._set_options(key, out_key)
        self.resample = check_flag("resample", resample)

    def _auto_threads(self) -> int | None:
        """One thread per call inside a Grain worker (the workers are the parallelism), else the core's default."""
        return 1 if in_grain_worker() else None

    # ----------------------------------------------------------------- Grain hooks

    def map(self, element):
        """Mel spectrogram of one element (an array, or ``element[key]``)."""
        audio = self._pick(element)
        rate = self._rate(element)
        if rate is not None and rate != self._mel.sampling_rate:
            audio = np.asarray(audio)
            lead, n = audio.shape[:-1], audio.shape[-1]
            where = f"the element's {self.key!r}"
            fix = f"or build the transform with sampling_rate={rate!r}"
            audio = self._at_rate(audio.reshape(-1, n), rate, where, fix).reshape(*lead, -1)
        out = self._store(self._mel(audio, num_threads=self.threads_per_call))
        return self._put(element, out)

    def _rate(self, element):
        """The audio's sampling rate from the element's rate field (one value), or ``None`` without one."""
        if self.key is None or not isinstance(element, Mapping):
            return None
        name = next((f for f in self.RATE_FIELDS if f in element and f != self.key), None)
        if name is None:
            return None
        rates = np.unique(np.asarray(element[name]))
        if rates.size != 1 or rates.dtype.kind not in "iuf" or not rates[0] > 0:
            raise ValueError(
                f"the element's {name!r} field is {element[name]!r}; it must be one sampling rate > 0 (Hz) for the "
                f"element's audio (resample before batching clips of different rates)"
            )
        return rates[0].item()

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
