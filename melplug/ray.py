"""Ray Data adapter: mel spectrograms and preset features in ``Dataset.map_batches``.

:class:`MelSpectrogram` wraps a :class:`melplug.FeatureExtractor` and only
translates Ray batches: it reads the audio column in whichever form Ray's
block gives it, checks the ``sample_rate`` column and the channels, calls the
core once per batch and writes the output column.  ``ray`` itself is never
imported here (``import melplug.ray`` stays light; the adapter reads the Ray
worker's CPU share only when ``ray`` is already loaded in the process), and
``pyarrow`` only for batches that are ``pyarrow`` tables.

The audio column may arrive as (measured with Ray 2.60, ``docs/ray.md``):

* a 2-D array ``(batch, samples)`` (``ray.data.from_items`` of equal-length
  1-D clips, ``from_numpy``);
* a 3-D array ``(batch, channels, samples)``: ``read_audio`` blocks whose clips
  share a shape (mono is ``(batch, 1, samples)``);
* an object array (or list) of ragged clips, each 1-D or 2-D
  ``(channels, samples)`` (mixed shapes in a block).

A 2-D clip is read with :func:`melplug._audio.channels_first`'s rule (the
shorter axis, at most 16 entries, is the channel axis), which is what
``read_audio`` gives, ``(channels, samples)``; so is each row of a 3-D block.

See ``docs/ray.md`` for actors vs tasks, threads per actor and the disk cache
on a multi-node cluster.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Literal

import numpy as np

from . import _audio, _parallel
from ._adapter import MULTICHANNEL, Adapter, adapter_extractor
from ._validate import as_clip, check_choice, check_flag, check_name
from .core import FeatureExtractor as _FeatureExtractor

__all__ = ["MelSpectrogram", "assigned_cpus"]

#: Columns that name a row in error messages, when the batch has one (``read_audio(include_paths=True)``).
ROW_ID_COLUMNS = ("path", "id")


def assigned_cpus() -> float | None:
    """The CPUs Ray assigned to the task or actor running in this process, or ``None`` outside Ray workers.

    ``None`` in the driver and in any process where ``ray`` is not imported
    (this function never imports it).  Inside a worker it is a float such as
    ``0.5``, ``1.0`` or ``2.0`` (``0.0`` for ``num_cpus=0``).

    Examples
    --------
    >>> from melplug.ray import assigned_cpus
    >>> assigned_cpus() is None   # not inside a Ray worker
    True
    """
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    try:
        resources = ray.get_runtime_context().get_assigned_resources()
    except AssertionError:  # Ray asserts that the caller is a worker: this is the driver
        return None
    return float(resources.get("CPU", 0.0))


class MelSpectrogram(Adapter):
    """Mel spectrograms (or any preset's features) for ``ray.data.Dataset.map_batches``.

    Pass the class with ``compute=ray.data.ActorPoolStrategy(size=N)`` and
    ``fn_constructor_kwargs`` (each actor builds it once), or an instance, which
    Ray runs as a stateless task function.  It wraps a
    :class:`melplug.MelSpectrogram` or :class:`melplug.FeatureExtractor`
    (available as :attr:`mel`), so the numbers are exactly the core's.

    Parameters
    ----------
    *args, **kwargs
        Every argument of :class:`melplug.MelSpectrogram` (Keras' 13 and
        ``top_db_scope``, ``dtype``, ``on_nonfinite``, ``num_threads``),
        validated by the core.  ``num_threads=None`` (the default) means: inside
        a Ray task or actor, as many threads as the CPUs Ray assigned it
        (``num_cpus=`` of ``map_batches``, rounded down, at least 1), never the
        node's core count; elsewhere the core's default.
    extractor : str or FeatureExtractor, keyword-only
        Instead of Keras' arguments: a preset name (``"whisper"``, ``"kaldi"``,
        ..., see :data:`melplug.PRESETS`) or any :class:`melplug.FeatureExtractor`
        / :class:`melplug.MelSpectrogram` object (its ``num_threads`` is used).
    column : str, keyword-only
        Column holding the audio; default ``"amplitude"``, what ``ray.data.read_audio`` writes.
    out_column : str, keyword-only
        Output column; default ``"mel"`` for Keras' arguments and
        ``"input_features"`` (what transformers models take) for an ``extractor``.
        Equal to ``column``, it replaces the audio.
    multichannel : {"mean", "raise"}, keyword-only
        Clips with several channels are averaged to mono first, or refused
        with a ``ValueError`` naming the row.
    rate_column : str or None, keyword-only
        Column holding each row's sampling rate (``read_audio``'s ``"sample_rate"``);
        a rate that differs from the extractor's is a ``ValueError`` naming the
        rate, the row and the fix (``resample=True``).  A batch without that
        column, or ``None``, skips the check.
    resample : bool, keyword-only
        Convert the rows whose rate differs to ``sampling_rate`` with soxr (its
        "HQ" quality, as the CLI's ``--resample``) instead of refusing them;
        the rows are resampled on melplug's threads, in parallel.  Needs
        ``soxr`` (``pip install 'melplug[ray]'``).

    Notes
    -----
    Every other column passes through unchanged.  The output column holds
    float32 arrays (float64 when the extractor forces ``dtype="float64"``):
    one ``(batch, ...)`` array when every row's output has the same shape
    (a Ray tensor column), else an object array of per-row arrays (a
    variable-shaped tensor column; both write to Parquet).  Batches may be
    ``dict[str, numpy.ndarray]`` (Ray's default), ``pandas.DataFrame`` or
    ``pyarrow.Table``; the output has the batch's own type.

    Ray re-raises a transform's exception as its own error type, so each
    message here names the row (its index in the batch, and its ``path`` or
    ``id`` when the batch has such a column) and how to fix it.

    Pickling keeps configuration and arrays only (no compiled code): each Ray
    worker loads the kernels from Numba's disk cache.

    Examples
    --------
    Ray calls it with batches; a dict batch shaped like ``read_audio``'s:

    >>> import numpy as np
    >>> import melplug.ray
    >>> mel = melplug.ray.MelSpectrogram(num_mel_bins=40, fft_length=512,
    ...                                  sequence_length=400, sequence_stride=160)
    >>> batch = {"amplitude": np.zeros((2, 1, 16000), np.float32),
    ...          "sample_rate": np.array([16000, 16000]), "label": np.array([3, 5])}
    >>> out = mel(batch)
    >>> out["mel"].shape, out["mel"].dtype, out["label"].tolist()
    ((2, 40, 101), dtype('float32'), [3, 5])

    In a pipeline (fractional ``num_cpus`` leave CPUs to ``read_audio``'s
    read tasks; see ``docs/ray.md``)::

        ds = ray.data.read_audio(paths, include_paths=True)
        ds = ds.map_batches(melplug.ray.MelSpectrogram, batch_size=16,
                            compute=ray.data.ActorPoolStrategy(size=2), num_cpus=0.5,
                            fn_constructor_kwargs=dict(extractor="whisper"))
    """

    #: The adapter's own options and their defaults (the rest go to the extractor); ``None`` follows the extractor.
    OPTIONS = {
        "column": "amplitude",
        "out_column": None,
        "multichannel": "mean",
        "rate_column": "sample_rate",
        "resample": False,
    }

    def __init__(
        self,
        *args,
        extractor: str | _FeatureExtractor | None = None,
        column: str = "amplitude",
        out_column: str | None = None,
        multichannel: Literal["mean", "raise"] = "mean",
        rate_column: str | None = "sample_rate",
        resample: bool = False,
        **kwargs,
    ) -> None:
        core = adapter_extractor(extractor, args, kwargs)
        options = dict(column=column, out_column=out_column, multichannel=multichannel, rate_column=rate_column)
        self._adopt(core, **options, resample=resample)

    def _set_options(self, column, out_column, multichannel, rate_column, resample=False) -> None:
        self.column = check_name("column", column)
        self.out_column = check_name("out_column", self._default_out_column() if out_column is None else out_column)
        self.multichannel = check_choice("multichannel", multichannel, MULTICHANNEL)
        self.rate_column = None if rate_column is None else check_name("rate_column", rate_column)
        self.resample = check_flag("resample", resample)

    def _auto_threads(self) -> int | None:
        """Inside a Ray task or actor, the CPUs Ray assigned it (rounded down, at least 1); else the core's default."""
        cpus = assigned_cpus()
        return None if cpus is None else max(1, int(cpus))

    # ----------------------------------------------------------------- computing

    def __call__(self, batch):
        """Features of ``batch[column]`` added as ``batch[out_column]``; the other columns unchanged.

        ``batch`` is a ``dict`` of arrays, a ``pandas.DataFrame`` or a
        ``pyarrow.Table`` (what ``map_batches`` hands over); the result has the
        same type.
        """
        kind = _batch_kind(batch)
        names = _column_names(batch, kind)
        if self.column not in names:
            raise ValueError(
                f"melplug.ray.MelSpectrogram: column={self.column!r} is not in the batch; its columns are "
                f"{', '.join(map(repr, names))}. Pass column=... (ray.data.read_audio's is 'amplitude')"
            )
        value = _get_column(batch, kind, self.column)
        ids = next((_get_column(batch, kind, c) for c in ROW_ID_COLUMNS if c in names and c != self.column), None)
        id_name = next((c for c in ROW_ID_COLUMNS if c in names and c != self.column), None)

        def where(i: int) -> str:
            own = f" ({id_name}={_scalar(ids[i])!r})" if ids is not None else ""
            return f"row {i} of the batch{own}"

        if self.rate_column is not None and self.rate_column in names:
            rates = _get_column(batch, kind, self.rate_column)
            if self.resample:
                value = self._resampled(value, np.asarray(rates), where)
            else:
                self._check_rates(rates, where)
        out = self._compute(value, where)
        return _with_column(batch, kind, self.out_column, out)

    def _check_rates(self, rates, where) -> None:
        rates = np.asarray(rates)
        expected = self._mel.sampling_rate
        try:
            bad = np.flatnonzero(rates.astype(np.float64) != float(expected))
        except (TypeError, ValueError):  # None or text in the column
            bad = np.array([i for i, r in enumerate(rates.tolist()) if r != expected])
        if bad.size == 0:
            return
        i = int(bad[0])
        rate = _scalar(rates[i])
        seen = sorted({_scalar(r) for r in rates[bad].tolist()}, key=str)
        raise ValueError(
            f"melplug.ray.MelSpectrogram: {where(i)} has {self.rate_column}={rate!r} but this MelSpectrogram is "
            f"configured for sampling_rate={expected!r} ({bad.size} of {len(rates)} rows of the batch differ; "
            f"rates seen: {', '.join(map(repr, seen))}). ray.data.read_audio does not resample: pass resample=True "
            f"to convert them (soxr), or build melplug.ray.MelSpectrogram with "
            f"sampling_rate={rate!r} (a preset: extractor=melplug.preset(name, sampling_rate={rate!r}))"
        )

    def _resampled(self, value, rates: np.ndarray, where):
        """The audio column with the rows whose rate differs converted to the extractor's (in parallel, soxr)."""
        target = self._mel.sampling_rate
        differ = {i for i, r in enumerate(rates.tolist()) if r != target}
        if not differ:
            return value

        def one(i: int, item):
            if i not in differ:
                return item
            rate = _scalar(rates[i])
            row = f"melplug.ray.MelSpectrogram, column {self.column!r}: {where(i)}"
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
                raise ValueError(f"{row} has {self.rate_column}={rate!r}; a sampling rate must be a number > 0 (Hz)")
            return self._at_rate(self._samples(item, row), rate, row, "")

        rows = _parallel.map_items(one, list(value), self.threads_per_call)
        out = np.empty(len(rows), dtype=object)
        for i, row in enumerate(rows):
            out[i] = row
        return out

    def _compute(self, value, where):
        """The output column for the audio column ``value``: one array, or an object array of ragged outputs."""
        if isinstance(value, np.ndarray) and value.dtype != object and value.ndim in (2, 3):
            if value.shape[0] == 0:
                frames_shape = self._mel.compute_output_shape((value.shape[-1],))
                return np.empty((0, *frames_shape), self.output_dtype)
            if value.ndim == 3 and value.shape[1] == 1 and value.shape[2] > 1:  # mono read_audio block: a view
                value = value[:, 0, :]
            if value.ndim == 2:
                return self._store(self._call(value, where))
            value = list(value)  # (batch, channels, samples): per-row channel handling below, one core call
        elif isinstance(value, np.ndarray) and value.dtype != object:
            raise ValueError(
                f"melplug.ray.MelSpectrogram: column {self.column!r} has shape {value.shape}; it must be "
                "(batch, samples), (batch, channels, samples), or one clip per row (an object array of 1-D or "
                "(channels, samples) arrays)"
            )
        clips = [self._clip(item, where(i)) for i, item in enumerate(value)]
        if not clips:
            return np.empty((0,), dtype=object)
        outs = [self._store(m) for m in self._call(clips, where)]
        if all(m.shape == outs[0].shape for m in outs):
            return np.stack(outs)
        ragged = np.empty(len(outs), dtype=object)
        for i, m in enumerate(outs):
            ragged[i] = m
        return ragged

    def _clip(self, item, row: str) -> np.ndarray:
        """One row's audio as a 1-D clip: channels handled per :attr:`multichannel`."""
        where = f"melplug.ray.MelSpectrogram, column {self.column!r}: {row}"
        samples = self._samples(item, where)
        hint = "; downmix the audio before this stage, or pass multichannel='mean' to average the channels"
        return as_clip(self._mono(samples, where, hint), where)

    def _samples(self, item, where: str) -> np.ndarray:
        """One row's audio as ``(channels, samples)``."""
        if item is None:
            raise ValueError(f"{where} has no audio (None)")
        samples = np.asarray(item)
        if samples.dtype == object and samples.ndim == 1 and len(samples) and np.ndim(samples[0]) == 1:
            samples = np.stack(samples)  # nested lists from a pyarrow list<list<float>> column
        return _audio.channels_first(samples, where=where)

    def _call(self, audio, where):
        """The core's call with this worker's threads; its NaN/Inf error re-worded to name the row."""
        try:
            return self._mel(audio, num_threads=self.threads_per_call)
        except ValueError as exc:
            bad = _first_nonfinite(audio) if self._mel.on_nonfinite == "raise" else None
            if bad is None:
                raise ValueError(
                    f"melplug.ray.MelSpectrogram, column {self.column!r} ({len(audio)}-row batch; 'audio[i]' and "
                    f"'audio example i' are row i of the batch): {exc}"
                ) from exc
            i, count = bad
            raise ValueError(
                f"melplug.ray.MelSpectrogram, column {self.column!r}: {where(i)} contains NaN or Inf samples "
                f"({count} of {len(audio)} rows of the batch); drop or clean those rows before this stage "
                "(e.g. ds.filter(...)), or build it with on_nonfinite='propagate' to get NaN features for them"
            ) from exc


def _first_nonfinite(audio) -> tuple[int, int] | None:
    """``(first row, count)`` of rows holding NaN/Inf samples, or ``None``."""
    if isinstance(audio, np.ndarray):
        flags = ~np.isfinite(audio).all(axis=-1)
    else:
        flags = np.array([not np.isfinite(c).all() for c in audio])
    rows = np.flatnonzero(flags)
    return (int(rows[0]), int(rows.size)) if rows.size else None


def _scalar(value):
    """A NumPy scalar as a plain Python value (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


# --------------------------------------------------------------------------- batch formats


def _batch_kind(batch) -> str:
    """``"dict"``, ``"pandas"`` or ``"arrow"``; anything else is a ``TypeError``."""
    if isinstance(batch, Mapping):
        return "dict"
    module = type(batch).__module__
    if module.startswith("pandas") and hasattr(batch, "columns"):
        return "pandas"
    if module.startswith("pyarrow") and hasattr(batch, "column_names"):
        return "arrow"
    raise TypeError(
        "melplug.ray.MelSpectrogram is called with a Ray batch: a dict of arrays, a pandas.DataFrame or a "
        f"pyarrow.Table; received {type(batch).__name__}. For arrays, call its core: mel.mel(audio)"
    )


def _column_names(batch, kind: str) -> list:
    if kind == "arrow":
        return list(batch.column_names)
    return list(batch.keys()) if kind == "dict" else list(batch.columns)


def _get_column(batch, kind: str, name: str):
    """A column as a NumPy array (an object array for ragged values) or, for dict batches, as given."""
    if kind == "dict":
        value = batch[name]
        return value if isinstance(value, np.ndarray) else _as_rows(value)
    if kind == "pandas":
        return np.asarray(batch[name])
    column = batch.column(name)
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return array.to_numpy(zero_copy_only=False)  # Ray's tensor types: n-D or object; lists: object


def _as_rows(value) -> np.ndarray:
    """A list of per-row values as a NumPy array: numeric when it stacks, else an object array."""
    try:
        arr = np.asarray(value)
        if arr.dtype != object:
            return arr
    except ValueError:  # ragged nested lists
        pass
    rows = np.empty(len(value), dtype=object)
    for i, item in enumerate(value):
        rows[i] = item
    return rows


def _with_column(batch, kind: str, name: str, values: np.ndarray):
    """A new batch of the same type with column ``name`` set to ``values`` (the input is not modified)."""
    if kind == "dict":
        out = dict(batch)
        out[name] = values
        return out
    if kind == "pandas":
        import pandas as pd

        rows = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            rows[i] = value
        out = batch.copy(deep=False)
        out[name] = pd.Series(rows, index=batch.index)
        return out
    from ray.data.extensions import ArrowTensorArray  # arrow batches only exist inside Ray

    array = ArrowTensorArray.from_numpy(values)
    if name in batch.column_names:
        return batch.set_column(batch.column_names.index(name), name, array)
    return batch.append_column(name, array)
