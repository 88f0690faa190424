"""Hugging Face ``datasets`` adapter: mel spectrograms in ``Dataset.map``.

:class:`MelSpectrogram` wraps a :class:`melplug.MelSpectrogram` and only
translates dataset rows: it reads the audio column, checks sampling rates and
channels, calls the core once per batch (clips of different lengths go through
the core's ragged path, one parallel call) and writes float32 arrays (float64
when the extractor forces ``dtype="float64"``) to the output column.
``datasets`` itself is imported only when an adapter is built (``import
melplug.hf`` stays light).

Column values understood:

* NumPy arrays, lists, or anything ``numpy.asarray`` accepts (1-D: one mono
  clip; in a known single row, 2-D is one multi-channel clip);
* ``Audio``-feature dicts ``{"array", "sampling_rate"}``;
* ``Audio(decode=False)`` dicts ``{"bytes", "path"}``, decoded with
  ``soundfile`` (WAV, FLAC, OGG; what the installed libsndfile reads);
* decoder objects with ``get_all_samples()`` returning ``.data`` of shape
  ``(channels, samples)`` and ``.sample_rate`` (``datasets`` >= 4 with
  torchcodec).

A 2-D array may be channels first ``(channels, samples)`` (torchaudio,
librosa) or channels last ``(samples, channels)`` (soundfile, scipy): the
shorter axis is the channel axis when it has at most 16 entries and the
other is longer; any other 2-D shape (``(2, 2)``, ``(20, 30000)``) is a
``ValueError`` naming it.  Decoders and decoded files are channels first by
contract.  Decoding and down-mixing are :mod:`melplug._audio`'s, shared with
the command line.

See ``docs/hf.md`` for the storage layouts, fingerprints and threads.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from . import _audio, _parallel, _stamp
from ._adapter import MULTICHANNEL, Adapter, adapter_extractor
from ._validate import check_choice, check_flag, check_name
from .core import FeatureExtractor as _FeatureExtractor

__all__ = ["MelSpectrogram"]

_LAYOUTS = ("mels_frames", "frames_mels")


def _lazy_types():
    """``(LazyRow, LazyBatch)`` from ``datasets`` if it is imported, else ``None``."""
    if "datasets" not in sys.modules:
        return None
    try:
        from datasets.formatting.formatting import LazyBatch, LazyRow
    except ImportError:  # pragma: no cover - other datasets versions
        return None
    return LazyRow, LazyBatch


def _is_single_value(value) -> bool:
    """Whether ``value`` is one clip (not a batch) when the container says nothing.

    The rule ``transformers`` feature extractors use: a mapping, a decoder, a
    0/1-D array or a list of numbers is one clip; a 2-D (or deeper) array, an
    object array or a list of non-numbers is a batch of clips.  One exception:
    a 2-D array that is channels last by :func:`melplug._audio.channels_first`'s
    rule, ``(samples, channels)`` with at most 16 channels, is one clip (a
    batch of clips of at most 16 samples is never meant).
    """
    if isinstance(value, Mapping) or hasattr(value, "get_all_samples"):
        return True
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return False
        return value.ndim <= 1 or (
            value.ndim == 2 and value.shape[1] <= _audio.MAX_CHANNELS and value.shape[1] < value.shape[0]
        )
    if isinstance(value, (list, tuple)):
        return len(value) > 0 and isinstance(value[0], (int, float, np.number)) and not isinstance(value[0], bool)
    return np.ndim(value) <= 1


class MelSpectrogram(Adapter):
    """Mel spectrograms for ``datasets.Dataset.map`` and ``IterableDataset.map``.

    A callable ``example -> {out_column: mel}`` for
    ``ds.map(mel, batched=True|False, num_proc=N)``.  It wraps a
    :class:`melplug.MelSpectrogram` (available as :attr:`mel`), so the numbers
    are exactly the core's; outputs are stored as float32 (float64 when the
    extractor forces ``dtype="float64"``).  Configuration (``get_config``
    nests the extractor under ``"extractor"``), ``repr``, ``==``, pickling and
    :meth:`replace` are those of every adapter (``melplug._adapter.Adapter``).

    Parameters
    ----------
    *args, **kwargs
        Every argument of :class:`melplug.MelSpectrogram` (Keras' 13 and
        ``top_db_scope``, ``dtype``, ``on_nonfinite``, ``num_threads``),
        validated by the core.  ``num_threads=None`` means: the core's default
        (Numba's thread count) in the main process, and **1 thread** inside a
        ``multiprocessing``/``multiprocess`` worker such as
        ``map(num_proc=N)``'s, so N workers never oversubscribe the cores.
        :meth:`map` sets ``cores // num_proc`` instead.
    extractor : str or FeatureExtractor, keyword-only
        Instead of Keras' arguments: a preset name (``"whisper"``, ``"kaldi"``,
        ..., see :data:`melplug.PRESETS`) or any :class:`melplug.FeatureExtractor`
        / :class:`melplug.MelSpectrogram` object (its ``num_threads`` is used).
    column : str, keyword-only
        Input column holding the audio.
    out_column : str, keyword-only
        Output column; default ``"mel"`` for Keras' arguments and
        ``"input_features"`` (what transformers models take) for an ``extractor``.
    layout : {"mels_frames", "frames_mels"} or None, keyword-only
        Stored shape per row: ``(num_mel_bins, frames)`` or
        ``(frames, num_mel_bins)``; ``None`` keeps the extractor's own layout
        (``"mels_frames"`` for Keras' arguments, ``(frames, 23)`` for kaldi).  Arrow can only
        store a variable *first* dimension as a fast ``Array2D``, so for clips
        of varying length ``"frames_mels"`` reads back 15-50x faster with
        ``with_format("numpy")``; see :meth:`feature` and ``docs/hf.md``.
    multichannel : {"mean", "raise"}, keyword-only
        Audio with several channels is averaged to mono first (what
        ``datasets``' own ``audio["array"]`` does), or rejected with a
        ``ValueError`` that suggests ``Audio(num_channels=1)``.  A 2-D array
        is read as ``(channels, samples)`` or ``(samples, channels)``,
        whichever axis is short (at most 16) and shorter than the other;
        other shapes are refused (see the module docstring).
    out_dtype : {"float16", "float32", "float64"} or None, keyword-only
        The stored dtype (``None``: float32, or float64 when the extractor
        forces ``dtype="float64"``).  ``"float16"`` (datasets'
        ``Array2D(..., "float16")``) halves what ``Dataset.map`` writes; the
        features are computed in float32 and rounded once.
    resample : bool, keyword-only
        Convert clips at another sampling rate (an ``Audio`` dict's
        ``sampling_rate``, a decoded file's, a decoder's) to ``sampling_rate``
        with soxr (its "HQ" quality, as the CLI's ``--resample``) instead of
        refusing them.  Needs ``soxr`` (``pip install 'melplug[hf]'``).

    Notes
    -----
    A clip whose sampling rate (from an ``Audio`` dict, a decoder or a
    decoded file) differs from ``sampling_rate`` is converted with soxr when
    ``resample=True``; otherwise it raises ``ValueError`` naming both rates:
    pass ``resample=True``, or cast the column first,
    ``ds.cast_column("audio", Audio(sampling_rate=...))``.  Plain arrays carry
    no rate and are taken to be at ``sampling_rate``.  In a batch, the rows
    are decoded (soundfile) and resampled on melplug's threads, in parallel.

    Batched or not: inside ``Dataset.map`` the row/batch container tells;
    for plain dicts (``IterableDataset.map``, direct calls) a 1-D array, a list
    of numbers, an ``Audio`` dict or a decoder is one row and anything else
    (a list of clips, a 2-D array) is a batch.

    Examples
    --------
    >>> import numpy as np
    >>> import datasets
    >>> import melplug.hf
    >>> rng = np.random.default_rng(0)
    >>> ds = datasets.Dataset.from_dict(
    ...     {"audio": [rng.standard_normal(n).astype(np.float32) for n in (16000, 8000)]})
    >>> mel = melplug.hf.MelSpectrogram(num_mel_bins=40, fft_length=512,
    ...                                 sequence_length=400, sequence_stride=160)
    >>> out = mel.map(ds, remove_columns=["audio"]).with_format("numpy")
    >>> out.features["mel"]
    List(List(Value('float32')), length=40)
    >>> [m.shape for m in out["mel"]]
    [(40, 101), (40, 51)]
    """

    #: The adapter's own options and their defaults (the rest go to the extractor); ``None`` follows the extractor.
    OPTIONS = {
        "column": "audio",
        "out_column": None,
        "layout": None,
        "multichannel": "mean",
        "resample": False,
        "out_dtype": None,
    }

    def __init__(
        self,
        *args,
        extractor: str | _FeatureExtractor | None = None,
        column: str = "audio",
        out_column: str | None = None,
        layout: Literal["mels_frames", "frames_mels"] | None = None,
        multichannel: Literal["mean", "raise"] = "mean",
        resample: bool = False,
        out_dtype: Literal["float16", "float32", "float64"] | None = None,
        **kwargs,
    ) -> None:
        core = adapter_extractor(extractor, args, kwargs)
        options = dict(column=column, out_column=out_column, layout=layout, multichannel=multichannel)
        self._adopt(core, **options, resample=resample, out_dtype=out_dtype)

    def _set_options(self, column, out_column, layout, multichannel, resample=False, out_dtype=None) -> None:
        plan = self._mel.plan
        native = "frames_mels" if plan.frames_major or plan.stack_frames > 1 else "mels_frames"
        self.column = check_name("column", column)
        self.out_column = check_name("out_column", self._default_out_column() if out_column is None else out_column)
        #: The reference's mask column (``attention_mask``, ``input_features_mask``...), written beside the
        #: features for an extractor that reproduces a transformers extractor returning one; else ``None``.
        self.mask_column = self._mask_column()
        self.layout = native if layout is None else check_choice("layout", layout, _LAYOUTS)
        self._transpose = self.layout != native
        self.multichannel = check_choice("multichannel", multichannel, MULTICHANNEL)
        self.resample = check_flag("resample", resample)
        self.out_dtype = None if out_dtype is None else check_choice("out_dtype", out_dtype, _OUT_DTYPES)
        _register_fingerprint_reducer(type(self))

    @property
    def output_dtype(self) -> np.dtype:
        """The stored dtype: ``out_dtype``, else float32 (float64 when the extractor forces ``dtype="float64"``)."""
        return np.dtype(self.out_dtype) if self.out_dtype is not None else super().output_dtype

    # ----------------------------------------------------------------- configuration

    @property
    def num_mel_bins(self) -> int:
        """Number of mel bands per frame."""
        return self._mel.num_mel_bins

    @property
    def width(self) -> int:
        """Values per stored frame: ``num_features`` (times the stacked frames, e.g. 160 for w2v-bert)."""
        return self._mel.num_features * self._mel.plan.stack_frames

    def _fingerprint_state(self) -> dict[str, Any]:
        """What ``datasets`` hashes: everything that changes the stored values.

        The thread count is left out (it never changes a value, and ``datasets``
        leaves ``num_proc`` out of its fingerprints for the same reason).  The
        melplug version and a hash of its sources (:func:`melplug._stamp.package_stamp`)
        are put in, so neither an upgrade nor an edit of an editable install
        reuses stale caches.
        """
        import melplug

        config = self.get_config()
        config["extractor"].pop("num_threads")
        return {
            "melplug": melplug.__version__,
            "sources": _stamp.package_stamp(),
            "class": type(self).__qualname__,
            "config": config,
        }

    # ----------------------------------------------------------------- output features

    def feature(self, num_samples: int | None = None):
        """The ``datasets`` feature type of :attr:`out_column`.

        Parameters
        ----------
        num_samples : int >= 1, optional
            If every clip has this many samples, the frame count is fixed and
            the feature is a fixed-shape ``Array2D`` in either layout (the
            fastest to read); so it is for extractors with a fixed output
            length (whisper's ``(80, 3000)``) whatever ``num_samples``.  Otherwise ``"frames_mels"`` gives
            ``Array2D(shape=(None, num_mel_bins))`` and ``"mels_frames"``
            ``List(List(Value("float32")), length=num_mel_bins)`` (Arrow's
            ``Array2D`` cannot have a variable last dimension); float64 in
            place of float32 when the extractor forces ``dtype="float64"``.
        """
        from datasets import Array2D, List, Value

        dtype = self.output_dtype.name
        shape = self._mel.compute_output_shape((num_samples,))  # None where unknown; fixed outputs stay fixed
        if self._transpose:
            shape = shape[::-1]
        if shape[1] is not None:  # Arrow's Array2D: only the first dimension may vary
            return Array2D(shape=shape, dtype=dtype)
        return List(List(Value(dtype)), length=shape[0])

    def features(self, features=None, *, remove_columns=None, num_samples: int | None = None):
        """Features of the mapped dataset, for ``ds.map(mel, features=...)``.

        Parameters
        ----------
        features : datasets.Features, optional
            The input dataset's features (``ds.features``); columns kept by the
            map keep their types.
        remove_columns : str or list of str, optional
            Columns the map removes (as passed to ``map``).
        num_samples : int, optional
            See :meth:`feature`.

        Examples
        --------
        >>> import melplug.hf
        >>> mel = melplug.hf.MelSpectrogram(num_mel_bins=40, layout="frames_mels")
        >>> mel.features()
        {'mel': Array2D(shape=(None, 40), dtype='float32')}
        """
        from datasets import Features

        removed = {remove_columns} if isinstance(remove_columns, str) else set(remove_columns or ())
        mine = {self.out_column, self.mask_column}
        out = Features({k: v for k, v in (features or {}).items() if k not in removed and k not in mine})
        out[self.out_column] = self.feature(num_samples)
        if self.mask_column is not None:
            from datasets import List, Value

            out[self.mask_column] = List(Value("int32"))
        return out

    def map(self, dataset, *, batched: bool = True, num_proc: int | None = None, remove_columns=None, **kwargs):
        """``dataset.map(self, ...)`` with declared output features and threads per worker.

        Equivalent to ``dataset.map(self, batched=batched, num_proc=num_proc,
        remove_columns=remove_columns, features=self.features(...), **kwargs)``,
        except that:

        * with ``num_proc=N`` and ``num_threads=None`` each worker uses
          ``max(1, cores // N)`` threads, and the kernels are loaded before
          the workers fork;
        * a ``Dataset`` without a format whose audio column holds plain
          numbers is read with that column as NumPy, not as Python lists (a
          second per 18 M samples): the clips are computed in their stored
          dtype, exactly as the core computes the stored arrays (a plain
          ``dataset.map(self)`` gets float64 Python floats, computed in
          float64, then stored as float32), and the result gets the dataset's
          format back.  The fingerprint is then ``mel.map``'s own: stable
          across processes, so a re-run hits the cache, but not that of a
          plain ``dataset.map(self)``.

        * a ``Dataset`` whose audio column holds plain numbers is computed
          in this process with ``min(N, cores)`` threads for ``num_proc=N``
          instead of N worker processes: all its work is in melplug's
          kernels, which release the GIL, and worker processes would add
          their start-up, a shard per worker and the final concatenation
          (0.1 s a map on a 2-core machine, more than the features of 64
          clips of 30 s take; ``docs/hf.md``).  Columns that need per-row
          Python work (``Audio``, bytes, paths) keep the workers.

        Works for ``Dataset`` and ``IterableDataset`` (which has no
        ``num_proc``).
        """
        from ._parallel import default_num_threads

        fn = self
        if num_proc is not None and num_proc > 1 and _numeric_column(dataset, self.column):
            if self._mel.num_threads is None:
                fn = self.replace(num_threads=min(num_proc, default_num_threads()))
            num_proc = None  # threads here, not processes
        if num_proc is not None and num_proc >= 1 and self._mel.num_threads is None:
            fn = self.replace(num_threads=max(1, default_num_threads() // num_proc))
        if "features" not in kwargs and getattr(dataset, "features", None) is not None:
            kwargs["features"] = self.features(dataset.features, remove_columns=remove_columns)
        if num_proc is not None:
            kwargs["num_proc"] = num_proc
            if num_proc > 1:
                self._warm()  # forked workers inherit the loaded kernels instead of each loading them
        source = _numpy_input(dataset, self.column)
        out = source.map(fn, batched=batched, remove_columns=remove_columns, **kwargs)
        return out.with_format(None) if source is not dataset else out  # the original (python) format

    def _warm(self) -> None:
        """Load (or compile) the extractor's kernels in this process, on one second of silence."""
        try:
            self._mel(np.zeros(int(self._mel.sampling_rate), dtype=self._mel.dtype or np.float32))
        except Exception:  # noqa: BLE001 - an extractor that refuses it just loads its kernels later
            pass

    # ----------------------------------------------------------------- computing

    def __call__(self, example: Mapping[str, Any]) -> dict[str, Any]:
        """Mel spectrogram(s) of ``example[column]``: ``{out_column: ...}``.

        A row gives one array (float32, see :attr:`output_dtype`), a batch a
        list of them (or one 3-D array when the batch is a 2-D array of
        equal-length clips).
        """
        if not isinstance(example, Mapping):
            raise TypeError(
                f"melplug.hf.MelSpectrogram is called with a dataset row or batch (a mapping of columns); "
                f"received {type(example).__name__}. For arrays, call its core: mel.mel(audio)"
            )
        try:
            value = example[self.column]
        except KeyError:
            keys = ", ".join(repr(k) for k in example)
            raise ValueError(
                f"column={self.column!r} is not in the example; its columns are {keys}. "
                "Pass column=... to melplug.hf.MelSpectrogram"
            ) from None
        threads = self.threads_per_call
        lazy = _lazy_types()
        if lazy is not None and isinstance(example, lazy[0]):
            batched = False
        elif lazy is not None and isinstance(example, lazy[1]):
            batched = True
        else:
            batched = not _is_single_value(value)
        if not batched:
            clip = self._clip(value, "the audio")
            mel = self._mel(clip, num_threads=threads)
            return self._row(self._store(mel), clip.shape[0])
        if isinstance(value, np.ndarray) and value.dtype != object and value.ndim == 2 and value.shape[0] > 0:
            # (batch, samples) of plain samples: one call, no per-row work
            mels = self._mel(value, num_threads=threads)
            out = {self.out_column: self._store(mels)}
            if self.mask_column is not None:
                out[self.mask_column] = np.stack([self._mask(value.shape[1])] * value.shape[0])
            return out
        # Decoding and resampling run in C (soundfile, soxr) with the GIL released: the rows in parallel.
        clips = _parallel.map_items(lambda i, item: self._clip(item, f"row {i} of the batch"), value, threads)
        if not clips:
            return {self.out_column: []} if self.mask_column is None else {self.out_column: [], self.mask_column: []}
        mels = self._mel(clips, num_threads=threads)
        out = {self.out_column: [self._store(m) for m in mels]}
        if self.mask_column is not None:
            out[self.mask_column] = [self._mask(c.shape[0]) for c in clips]
        return out

    def collate(self, rows, return_tensors: Literal["np", "pt"] = "np") -> dict[str, Any]:
        """A collate function over raw dataset rows: features of the batch, padded, with their mask.

        For a PyTorch ``DataLoader(ds, batch_size=16, collate_fn=mel.collate)``
        (or any loader handing over a list of rows): each row's
        :attr:`column` is decoded and resampled (``resample=True``) on
        melplug's threads, all clips are computed in one parallel call, and
        their time axes are padded to the longest with the extractor's padding
        value.

        Parameters
        ----------
        rows : sequence of mappings
            Dataset rows (``ds[i]``, raw or ``with_format("numpy")``).
        return_tensors : {"np", "pt"}
            NumPy arrays, or torch tensors (``torch.from_numpy``; torch is only
            imported for ``"pt"``).

        Returns
        -------
        dict
            :attr:`out_column`: ``(batch, ...)`` in the adapter's :attr:`layout`,
            float32; the mask (:attr:`mask_column`, or ``"attention_mask"``):
            ``(batch, frames)`` int32, 1 for the frames that carry each clip
            (:meth:`melplug.FeatureExtractor.valid_frames`); every other column
            stacked when its values are numbers or equal-shape arrays, else a
            list.

        Examples
        --------
        >>> import numpy as np
        >>> import melplug.hf
        >>> mel = melplug.hf.MelSpectrogram(extractor="kaldi")
        >>> rows = [{"audio": np.zeros(n, np.float32), "label": i} for i, n in enumerate((16000, 8000))]
        >>> batch = mel.collate(rows)
        >>> batch["input_features"].shape, batch["attention_mask"].sum(axis=1).tolist(), batch["label"].tolist()
        ((2, 98, 23), [98, 48], [0, 1])
        """
        if return_tensors not in ("np", "pt"):
            raise ValueError(f"return_tensors={return_tensors!r} is invalid: it must be 'np' or 'pt'")
        rows = list(rows)
        if not rows or not all(isinstance(r, Mapping) for r in rows):
            raise TypeError("collate takes a non-empty list of dataset rows (mappings of columns)")
        missing = [i for i, r in enumerate(rows) if self.column not in r]
        if missing:
            raise ValueError(
                f"row {missing[0]} of the batch has no column {self.column!r}; its columns are {list(rows[0])}"
            )
        threads = self.threads_per_call
        clips = _parallel.map_items(lambda i, r: self._clip(r[self.column], f"row {i} of the batch"), rows, threads)
        mels = [self._store(m) for m in self._mel(clips, num_threads=threads)]
        axis = 0 if self.layout == "frames_mels" else 1  # the time axis of one row
        frames = max(m.shape[axis] for m in mels)
        pad = np.asarray(self._mel.plan.pad_value, dtype=self.output_dtype)
        shape = list(mels[0].shape)
        shape[axis] = frames
        features = np.full((len(mels), *shape), pad, dtype=self.output_dtype)
        mask = np.zeros((len(mels), frames), dtype=np.int32)
        for i, (m, c) in enumerate(zip(mels, clips, strict=True)):
            index = (i, slice(0, m.shape[0])) if axis == 0 else (i, slice(None), slice(0, m.shape[1]))
            features[index] = m
            mask[i, : min(self._mel.valid_frames(c.shape[0]), m.shape[axis])] = 1
        out: dict[str, Any] = {self.out_column: features, self.mask_column or "attention_mask": mask}
        for key in rows[0]:
            if key != self.column and key not in out:
                out[key] = _stacked([r.get(key) for r in rows])
        if return_tensors == "pt":
            try:
                import torch
            except ImportError:
                raise ImportError("return_tensors='pt' needs torch; install it, or use return_tensors='np'") from None
            out = {
                k: torch.from_numpy(v) if isinstance(v, np.ndarray) and v.dtype != object else v for k, v in out.items()
            }
        return out

    def _row(self, mel: np.ndarray, num_samples: int) -> dict[str, Any]:
        if self.mask_column is None:
            return {self.out_column: mel}
        return {self.out_column: mel, self.mask_column: self._mask(num_samples)}

    def _mask(self, num_samples: int) -> np.ndarray:
        """The reference's attention mask of a clip: 1 for the output frames that carry it (int32)."""
        rows = self._mel.num_frames(num_samples)
        return (np.arange(rows) < self._mel.valid_frames(num_samples)).astype(np.int32)

    def _store(self, mel: np.ndarray) -> np.ndarray:
        mel = super()._store(mel)
        if self._transpose:
            mel = np.ascontiguousarray(np.swapaxes(mel, -1, -2))
        return mel

    # ----------------------------------------------------------------- reading one value

    def _clip(self, value, where: str) -> np.ndarray:
        """One value of the audio column as a 1-D array at the configured rate."""
        if value is None:
            raise ValueError(f"{where} is missing (None) in column {self.column!r}")
        if hasattr(value, "get_all_samples"):
            samples, rate = _decoded_samples(value, where)
        elif isinstance(value, Mapping):
            samples, rate = self._from_dict(value, where)
        else:
            samples, rate = _audio.channels_first(np.asarray(value), where=where), None
        fix = (
            f"resample the column first, ds = ds.cast_column({self.column!r}, "
            f"Audio(sampling_rate={self._mel.sampling_rate!r})), or build the MelSpectrogram with "
            f"sampling_rate={rate!r}"
        )
        samples = self._at_rate(samples, rate, where, fix)
        hint = (
            f" and multichannel='raise'; downmix when decoding, e.g. ds = ds.cast_column({self.column!r}, "
            "Audio(num_channels=1)), or pass multichannel='mean'"
        )
        return self._mono(samples, where, hint)

    def _from_dict(self, value: Mapping, where: str) -> tuple[np.ndarray, Any]:
        """``(channels, samples)`` and the rate of an ``Audio`` dict: decoded ``array``, or ``bytes``/``path``."""
        if value.get("array") is not None:
            return _audio.channels_first(np.asarray(value["array"]), where=where), value.get("sampling_rate")
        if value.get("bytes") is not None or value.get("path") is not None:
            _require_soundfile()
            source = value["bytes"] if value.get("bytes") is not None else value["path"]
            name = value.get("path") or "<bytes>"
            return _audio.decode(
                source,
                where=f"{where} ({name!r})",
                hint="; decode it another way (e.g. install torchcodec and use the Audio feature with decode=True)",
            )
        raise ValueError(
            f"{where} is a dict with keys {sorted(value)}; melplug needs 'array' (with 'sampling_rate'), "
            "or 'bytes'/'path' of an audio file"
        )


_OUT_DTYPES = ("float16", "float32", "float64")


def _numeric_column(dataset, column: str) -> bool:
    """Whether ``dataset`` is a ``datasets.Dataset`` whose ``column`` holds plain numbers (no decoding)."""
    import datasets

    if not isinstance(dataset, datasets.Dataset):
        return False
    inner = getattr(dataset.features.get(column), "feature", None)
    return isinstance(inner, datasets.Value) and inner.dtype in _NUMERIC


def _numpy_input(dataset, column: str):
    """``dataset`` read with its audio column as NumPy, or ``dataset`` itself where that does not apply.

    Without a format, ``datasets`` hands a ``map`` function its columns as Python
    lists: about a second per 18 M samples for an audio column of plain numbers.
    Such a column is read as NumPy arrays instead (the other columns as they
    were), and the mapped dataset gets the original format back.  ``Audio``
    columns, formatted and iterable datasets are left alone.
    """
    if not _numeric_column(dataset, column) or dataset.format["type"] is not None:
        return dataset
    return dataset.with_format("numpy", columns=[column], output_all_columns=True)


_NUMERIC = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")


def _stacked(values: list):
    """A column of a collated batch: one array when the values are numbers or equal-shape arrays, else the list."""
    try:
        arrays = [np.asarray(v) for v in values]
    except Exception:  # noqa: BLE001 - anything NumPy cannot hold stays a list
        return values
    if all(a.dtype.kind in "biuf" and a.shape == arrays[0].shape for a in arrays):
        return np.stack(arrays)
    return values


def _decoded_samples(decoder, where: str) -> tuple[np.ndarray, Any]:
    """``(channels, samples)`` and the rate from a decoder's ``get_all_samples()`` (channels first by contract)."""
    samples = decoder.get_all_samples()
    data, rate = samples.data, samples.sample_rate
    if hasattr(data, "cpu"):
        data = data.cpu()
    data = np.asarray(data.numpy() if hasattr(data, "numpy") else data)
    if data.ndim == 1:
        return data[None, :], rate
    if data.ndim != 2:
        raise _audio.AudioError(
            where, f"the decoder gave shape {data.shape}; decoded audio must be (channels, samples)"
        )
    return data, rate


def _require_soundfile() -> None:
    try:
        import soundfile  # noqa: F401
    except ImportError as exc:  # pragma: no cover - soundfile is in the hf extra
        raise ImportError(
            "melplug.hf decodes Audio(decode=False) {'bytes', 'path'} values with soundfile: "
            "pip install soundfile (or melplug[hf])"
        ) from exc


# --------------------------------------------------------------------------- fingerprinting
#
# Why a private table, not the pickle protocol: ``datasets`` hashes the map
# function by pickling it with ``datasets.utils._dill.Pickler``, and
# ``map(num_proc=N)`` sends the same function to its workers by pickling it
# with ``multiprocess``' dill pickler.  An object-side hook (``__reduce__``,
# ``__getstate__``) is used by both, so it cannot leave ``num_threads`` out of
# the hash and still carry it to the workers: measured with ``datasets`` 5.2,
# a ``__reduce__`` without ``num_threads`` sent ``num_threads=3`` to the
# workers as ``None`` (they ran 1 thread), and one with it gave ``mel.map(ds,
# num_proc=2)`` and ``ds.map(mel)`` different fingerprints (two cache files for
# one result).  Only a reducer in the hashing pickler's own dispatch table
# changes the hash alone.  ``datasets`` has no public hook for this; if the
# table moves, registration is skipped and the plain pickled state is hashed
# (stable across processes; ``num_threads`` then part of the key).  See
# docs/hf.md, "Fingerprint and cache".

_registered: set[type] = set()


def _save_for_fingerprint(pickler, obj: MelSpectrogram) -> None:
    pickler.save_reduce(_from_fingerprint_state, (obj._fingerprint_state(),), obj=obj)


def _from_fingerprint_state(state: dict[str, Any]) -> MelSpectrogram:
    """Never called by ``datasets`` (it only hashes); present so the reduction is a valid pickle."""
    return MelSpectrogram.from_config(state["config"])


def _register_fingerprint_reducer(cls: type) -> None:
    """Hash adapters of type ``cls`` by configuration (less ``num_threads``) in ``datasets``' fingerprints.

    Registering in the hashing ``Pickler``'s dispatch table changes the hash
    only, never how the adapter travels to worker processes (which pickle it
    through ``__getstate__``/``__setstate__``, ``num_threads`` included).
    The table is matched by exact type, so each subclass is registered too.
    """
    if cls in _registered:
        return
    try:
        from datasets.utils._dill import Pickler
    except ImportError:  # pragma: no cover - datasets missing or reorganised
        return
    dispatch = getattr(Pickler, "dispatch", None)
    if not isinstance(dispatch, dict):  # pragma: no cover - another datasets version
        return
    dispatch[cls] = _save_for_fingerprint
    _registered.add(cls)
