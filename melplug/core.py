"""The public core: validate and convert once, pick the kernel, shape the output."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from . import _plan
from ._plan import MelPlan
from ._validate import as_clip as _as_clip
from ._validate import check_audio_dtype as _check_audio_dtype
from ._validate import check_choice as _check_choice
from ._validate import check_dtype_option as _check_dtype_option
from ._validate import check_int as _check_int
from ._validate import check_num_threads as _check_num_threads
from ._validate import check_real as _check_real
from ._validate import is_clip_list as _is_clip_list
from ._validate import is_int as _is_int

__all__ = ["MelSpectrogram", "mel_spectrogram"]

#: Keras' 13 arguments and their defaults, in Keras' order.
KERAS_DEFAULTS: dict[str, Any] = {
    "fft_length": 2048,
    "sequence_stride": 512,
    "sequence_length": None,
    "window": "hann",
    "sampling_rate": 16000,
    "num_mel_bins": 128,
    "min_freq": 20.0,
    "max_freq": None,
    "power_to_db": True,
    "top_db": 80.0,
    "mag_exp": 2.0,
    "min_power": 1e-10,
    "ref_power": 1.0,
}
#: melplug's keyword-only extras and their defaults.
EXTRA_DEFAULTS: dict[str, Any] = {
    "top_db_scope": "example",
    "dtype": None,
    "on_nonfinite": "raise",
    "num_threads": None,
}
#: Keys of a Keras layer's config that say nothing about the computation.
_KERAS_LAYER_KEYS = frozenset({"name", "trainable", "autocast", "input_shape", "batch_input_shape", "build_config"})

#: Below this many frame samples (frames x fft_length) a call runs in the
#: calling thread: waking pool threads would cost more than it saves.
SERIAL_WORK = 1 << 17

_WINDOWS = ("hann", "hamming")


# --------------------------------------------------------------------------- the class


class MelSpectrogram:
    """Keras-exact mel spectrograms computed by parallel Numba kernels.

    The 13 arguments, their defaults and the numbers are those of
    ``keras.layers.MelSpectrogram``; see ``docs/parity.md`` for the few
    deliberate differences.

    Parameters
    ----------
    fft_length : int >= 1
        FFT size; ``fft_length // 2 + 1`` frequency bins.
    sequence_stride : int >= 1
        Samples between successive frames.
    sequence_length : int in [1, fft_length] or None
        Window length; ``None`` means ``fft_length``.
    window : {"hann", "hamming"}, None or array of shape (sequence_length,)
        Periodic Hann/Hamming, rectangular (``None``) or the given window.
    sampling_rate : real > 0
        Sampling rate of the audio in Hz.
    num_mel_bins : int >= 1
        Number of mel bands.
    min_freq : real >= 0
        Lower edge of the lowest band in Hz.
    max_freq : real > min_freq, or None
        Upper edge of the highest band; ``None`` means ``int(sampling_rate / 2)``.
    power_to_db : bool
        Convert to decibels.
    top_db : real >= 0 or None
        Floor at ``max - top_db`` (dB); ``None`` disables the floor.
    mag_exp : real > 0
        Exponent of the magnitude (2: power, 1: magnitude).
    min_power : real > 0
        Clamp applied before the logarithm.
    ref_power : real
        Reference: ``10 log10(S / max(|ref_power|, min_power))``.
    top_db_scope : {"example", "batch"}, keyword-only
        Where ``max`` is taken for the ``top_db`` floor: per example (default,
        independent of batching) or over the whole call (Keras).
    dtype : {None, "float32", "float64"}, keyword-only
        Compute and output dtype; ``None`` means float64 for float64 audio and
        float32 otherwise.
    on_nonfinite : {"raise", "propagate"}, keyword-only
        NaN/Inf in the audio raise ``ValueError`` naming the example, or turn
        that example's output to NaN.
    num_threads : int >= 1 or None, keyword-only
        Threads used by this object's calls; ``None`` means Numba's configured
        count (``NUMBA_NUM_THREADS`` or the usable cores).

    Examples
    --------
    >>> import numpy as np
    >>> import melplug
    >>> mel = melplug.MelSpectrogram(num_mel_bins=80, fft_length=512,
    ...                              sequence_length=400, sequence_stride=160)
    >>> audio = np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32)
    >>> out = mel(audio)
    >>> out.shape, out.dtype
    ((2, 80, 101), dtype('float32'))
    >>> [m.shape for m in mel([audio[0], audio[1, :8000]])]
    [(80, 101), (80, 51)]
    >>> mel.num_frames(16000)
    101
    """

    def __init__(
        self,
        fft_length: int = 2048,
        sequence_stride: int = 512,
        sequence_length: int | None = None,
        window: str | npt.ArrayLike | None = "hann",
        sampling_rate: float = 16000,
        num_mel_bins: int = 128,
        min_freq: float = 20.0,
        max_freq: float | None = None,
        power_to_db: bool = True,
        top_db: float | None = 80.0,
        mag_exp: float = 2.0,
        min_power: float = 1e-10,
        ref_power: float = 1.0,
        *,
        top_db_scope: Literal["example", "batch"] = "example",
        dtype: str | None = None,
        on_nonfinite: Literal["raise", "propagate"] = "raise",
        num_threads: int | None = None,
    ) -> None:
        self.fft_length = _check_int("fft_length", fft_length, 1)
        self.sequence_stride = _check_int("sequence_stride", sequence_stride, 1)
        if sequence_length is None:
            self.sequence_length = self.fft_length
        else:
            self.sequence_length = _check_int(
                "sequence_length",
                sequence_length,
                1,
                f"it must be None or an integer in [1, fft_length={self.fft_length}]",
            )
            if self.sequence_length > self.fft_length:
                raise ValueError(
                    f"sequence_length={sequence_length!r} is invalid: it must be None or an integer "
                    f"in [1, fft_length={self.fft_length}]"
                )
        self.window = self._check_window(window)
        self.sampling_rate = _check_real("sampling_rate", sampling_rate, "it must be a finite number > 0 (Hz)",
                                         minimum=0.0, strict=True)
        if _is_int(sampling_rate):
            self.sampling_rate = int(sampling_rate)
        self.num_mel_bins = _check_int("num_mel_bins", num_mel_bins, 1)
        self.min_freq = _check_real("min_freq", min_freq, "it must be a finite frequency >= 0 (Hz)", minimum=0.0)
        if max_freq is None:
            self.max_freq = int(self.sampling_rate / 2)
        else:
            self.max_freq = _check_real("max_freq", max_freq, "it must be None or a finite frequency > min_freq (Hz)")
            if _is_int(max_freq):
                self.max_freq = int(max_freq)
        if not self.max_freq > self.min_freq:
            raise ValueError(
                f"max_freq={self.max_freq!r} is invalid with min_freq={self.min_freq!r}: max_freq must be "
                "greater than min_freq (None means sampling_rate / 2)"
            )
        if not isinstance(power_to_db, (bool, np.bool_)):
            raise TypeError(f"power_to_db must be True or False; received {power_to_db!r}")
        self.power_to_db = bool(power_to_db)
        if top_db is None:
            self.top_db = None
        else:
            self.top_db = _check_real("top_db", top_db, "it must be None (no floor) or a number >= 0 (dB)",
                                      minimum=0.0, finite=False)
        self.mag_exp = _check_real("mag_exp", mag_exp, "it must be a finite number > 0 (2: power, 1: magnitude)",
                                   minimum=0.0, strict=True)
        self.min_power = _check_real("min_power", min_power, "it must be a finite number > 0",
                                     minimum=0.0, strict=True)
        self.ref_power = _check_real("ref_power", ref_power, "it must be a finite number")
        self.top_db_scope = _check_choice("top_db_scope", top_db_scope, ("example", "batch"))
        self.dtype = _check_dtype_option(dtype)
        self.on_nonfinite = _check_choice("on_nonfinite", on_nonfinite, ("raise", "propagate"))
        self.num_threads = _check_num_threads(num_threads)
        self._set_plan(self._build_plan(), warn=True)

    # ----------------------------------------------------------------- construction helpers

    def _check_window(self, window):
        if window is None:
            return None
        if isinstance(window, str):
            return _check_choice("window", window, _WINDOWS)
        arr = np.asarray(window)
        if arr.dtype.kind not in "fiu":
            raise TypeError(
                f"window must be 'hann', 'hamming', None or a real array of shape ({self.sequence_length},); "
                f"received dtype {arr.dtype}"
            )
        if arr.shape != (self.sequence_length,):
            raise ValueError(
                f"window has shape {arr.shape}; an array window must have shape (sequence_length,) = "
                f"({self.sequence_length},)"
            )
        arr = np.array(arr, dtype=np.float64)
        if not np.isfinite(arr).all():
            raise ValueError("window contains NaN or Inf; an array window must be finite")
        arr.setflags(write=False)
        return arr

    def _build_plan(self) -> MelPlan:
        window = _plan.padded_window(self.window, self.sequence_length, self.fft_length)
        nonzero = np.flatnonzero(window)
        win_start, win_stop = (int(nonzero[0]), int(nonzero[-1]) + 1) if nonzero.size else (0, 0)
        weights = self._dense_weights()
        band_start, band_stop, band_offset, band_weights, bin_start, bin_stop = _plan.sparse_bands(weights)
        ref = max(abs(self.ref_power), self.min_power)
        return MelPlan(
            fft_length=self.fft_length,
            sequence_stride=self.sequence_stride,
            num_mel_bins=self.num_mel_bins,
            pad=self.fft_length // 2,
            window=window,
            win_start=win_start,
            win_stop=win_stop,
            band_start=band_start,
            band_stop=band_stop,
            band_offset=band_offset,
            band_weights=band_weights,
            bin_start=bin_start,
            bin_stop=bin_stop,
            mag_exp=self.mag_exp,
            power_to_db=self.power_to_db,
            min_power=self.min_power,
            ref_db=10.0 * math.log10(ref),
            top_db=math.inf if self.top_db is None else self.top_db,
            batch_top_db=self.top_db_scope == "batch",
            propagate_nonfinite=self.on_nonfinite == "propagate",
            block_frames=_plan.default_block_frames(self.fft_length),
        )

    def _dense_weights(self) -> np.ndarray:
        return _plan.linear_to_mel_weight_matrix(
            self.num_mel_bins, self.fft_length // 2 + 1, self.sampling_rate, self.min_freq, self.max_freq
        )

    def _set_plan(self, plan: MelPlan, warn: bool) -> None:
        self._plan = plan
        self._layouts: dict[tuple[int, int], _Layout] = {}
        # Arrays cast once per compute dtype (read-only, shared by all threads).
        self._cast = {
            dt: (plan.window.astype(dt), plan.band_weights.astype(dt)) for dt in (np.float32, np.float64)
        }
        if warn:
            self._warn_empty_bands()

    def _warn_empty_bands(self) -> None:
        empty = np.flatnonzero(self._plan.band_stop <= self._plan.band_start)
        nyquist = self.sampling_rate / 2
        reasons = []
        if empty.size:
            shown = ", ".join(str(i) for i in empty[:8]) + (", ..." if empty.size > 8 else "")
            reasons.append(
                f"{empty.size} of num_mel_bins={self.num_mel_bins} mel bands are empty (no FFT bin falls in "
                f"band {shown}; such bands stay at the floor): reduce num_mel_bins or increase "
                f"fft_length={self.fft_length}"
            )
        if self.max_freq > nyquist:
            reasons.append(
                f"max_freq={self.max_freq!r} is above the Nyquist frequency {nyquist!r} of "
                f"sampling_rate={self.sampling_rate!r}: lower max_freq"
            )
        if reasons:
            warnings.warn("; ".join(reasons), UserWarning, stacklevel=4)

    # ----------------------------------------------------------------- public properties

    @property
    def plan(self) -> MelPlan:
        """The :class:`~melplug.MelPlan` for :func:`melplug.kernels.mel_spectrogram`."""
        return self._plan

    @property
    def mel_weights(self) -> np.ndarray:
        """Keras' dense mel weight matrix, shape ``(fft_length // 2 + 1, num_mel_bins)``, float64."""
        return self._dense_weights()

    def num_frames(self, num_samples: int) -> int:
        """Number of frames for a signal of ``num_samples`` samples (>= 1).

        >>> import melplug
        >>> melplug.MelSpectrogram(sequence_stride=160, fft_length=512, num_mel_bins=80).num_frames(16000)
        101
        """
        n = _check_int("num_samples", num_samples, 1)
        return _plan.num_frames(n, self.fft_length, self.sequence_stride)

    def compute_output_shape(self, input_shape: Sequence[int]) -> tuple[int, ...]:
        """Output shape for an input of shape ``(..., samples)``: ``(..., num_mel_bins, frames)``."""
        shape = tuple(input_shape)
        if not shape:
            raise ValueError("input_shape must have at least one dimension (samples)")
        return (*shape[:-1], self.num_mel_bins, self.num_frames(shape[-1]))

    # ----------------------------------------------------------------- configuration

    def get_config(self) -> dict[str, Any]:
        """Keras' keys (resolved, as Keras reports them) plus melplug's; JSON-serialisable."""
        config = {name: getattr(self, name) for name in KERAS_DEFAULTS}
        if isinstance(self.window, np.ndarray):
            config["window"] = self.window.tolist()
        config.update({name: getattr(self, name) for name in EXTRA_DEFAULTS})
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MelSpectrogram:
        """Build from :meth:`get_config` output or a Keras ``MelSpectrogram`` layer's config.

        Keras' layer keys (``name``, ``trainable``, and a ``dtype`` policy) are
        ignored; other unknown keys raise ``TypeError``.
        """
        if not isinstance(config, Mapping):
            raise TypeError(f"config must be a mapping (a dict from get_config()); received {type(config).__name__}")
        kwargs = {}
        for key, value in config.items():
            if key in _KERAS_LAYER_KEYS:
                continue
            if key == "dtype" and not (value is None or value in ("float32", "float64")):
                continue  # a Keras DTypePolicy: Keras computes in float32 regardless
            if key not in KERAS_DEFAULTS and key not in EXTRA_DEFAULTS:
                raise TypeError(f"config has unknown key {key!r}; known keys: {', '.join(cls._config_keys())}")
            kwargs[key] = value
        return cls(**kwargs)

    @staticmethod
    def _config_keys() -> list[str]:
        return [*KERAS_DEFAULTS, *EXTRA_DEFAULTS]

    def __repr__(self) -> str:
        parts = []
        for key, value in self.get_config().items():
            if key == "window" and isinstance(self.window, np.ndarray):
                value = f"<array of {self.window.shape[0]}>"
                parts.append(f"{key}={value}")
            else:
                parts.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, MelSpectrogram):
            return NotImplemented
        return self.get_config() == other.get_config()

    __hash__ = None  # mutable-looking configuration objects are not hashable

    def __getstate__(self) -> dict[str, Any]:
        state = self.get_config()
        if isinstance(self.window, np.ndarray):
            state["window"] = np.array(self.window)
        return {"config": state, "plan": self._plan}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state["config"].items():
            setattr(self, key, value)
        if isinstance(self.window, np.ndarray):
            self.window.setflags(write=False)
        self._set_plan(MelPlan(*state["plan"]), warn=False)

    # ----------------------------------------------------------------- computing

    def __call__(self, audio, *, num_threads: int | None = None):
        """Mel spectrogram of ``audio``.

        Parameters
        ----------
        audio : array_like of shape (..., samples), or list of 1-D array_like
            Real samples.  An array gives an array of shape
            ``(..., num_mel_bins, frames)``; a list of clips (lengths may
            differ) gives a list of ``(num_mel_bins, frames_i)`` arrays,
            computed in one parallel call.
        num_threads : int >= 1, optional
            Threads for this call only (default: the object's ``num_threads``).
        """
        threads = _check_num_threads(num_threads)
        if threads is None:
            threads = self.num_threads
        if _is_clip_list(audio):
            return self._call_clips(audio, threads)
        return self._call_array(audio, threads)

    def _compute_dtype(self, dtypes) -> type:
        if self.dtype is not None:
            return np.float64 if self.dtype == "float64" else np.float32
        return np.float64 if all(dt == np.float64 for dt in dtypes) else np.float32

    def _call_array(self, audio, threads):
        arr = np.asarray(audio)
        _check_audio_dtype(arr.dtype, "audio")
        if arr.ndim == 0:
            raise ValueError("audio is a scalar (0-d); pass an array of shape (..., samples)")
        if arr.size == 0:
            raise ValueError(f"audio is empty (shape {arr.shape}); it needs at least one example of >= 1 sample")
        dtype = self._compute_dtype([arr.dtype])
        lead, n = arr.shape[:-1], arr.shape[-1]
        x = np.ascontiguousarray(arr, dtype=dtype).reshape(-1)
        batch = x.shape[0] // n
        frames = _plan.num_frames(n, self.fft_length, self.sequence_stride)
        layout = self._layouts.get((batch, n))
        if layout is None:  # pipelines repeat shapes: the bookkeeping arrays are reused
            per_out = self.num_mel_bins * frames
            layout = _Layout.build(
                np.arange(batch, dtype=np.int64) * n,
                np.full(batch, n, dtype=np.int64),
                np.full(batch, frames, dtype=np.int64),
                np.arange(batch, dtype=np.int64) * per_out,
                batch * per_out,
                self._plan.block_frames,
            )
            if len(self._layouts) >= 64:
                self._layouts.clear()
            self._layouts[(batch, n)] = layout
        out = np.empty(layout.out_size, dtype=dtype)
        bad = self._run(x, out, layout, threads)

        def where(first: int) -> str:
            if not lead:
                return "audio"
            return f"audio example {tuple(int(i) for i in np.unravel_index(first, lead)) if len(lead) > 1 else first}"

        self._check_nonfinite(bad, where, "examples")
        return out.reshape(*lead, self.num_mel_bins, frames)

    def _call_clips(self, audio, threads):
        clips = [_as_clip(item, f"audio[{i}]") for i, item in enumerate(audio)]
        dtype = self._compute_dtype([c.dtype for c in clips])
        lengths = np.array([c.shape[0] for c in clips], dtype=np.int64)
        x = np.concatenate(clips, dtype=dtype, casting="unsafe")
        x_off = np.zeros(len(clips), dtype=np.int64)
        np.cumsum(lengths[:-1], out=x_off[1:])
        frames = _plan.num_frames(lengths, self.fft_length, self.sequence_stride)
        sizes = self.num_mel_bins * frames
        o_off = np.zeros(len(clips), dtype=np.int64)
        np.cumsum(sizes[:-1], out=o_off[1:])
        layout = _Layout.build(x_off, lengths, frames, o_off, int(sizes.sum()), self._plan.block_frames)
        out = np.empty(layout.out_size, dtype=dtype)
        bad = self._run(x, out, layout, threads)
        self._check_nonfinite(bad, lambda first: f"audio[{first}]", "clips")
        return [
            out[o : o + s].reshape(self.num_mel_bins, f)
            for o, s, f in zip(o_off.tolist(), sizes.tolist(), frames.tolist(), strict=True)
        ]

    def _check_nonfinite(self, bad: np.ndarray, where, what: str) -> None:
        """With ``on_nonfinite="raise"``, a ``ValueError`` naming the first example flagged in ``bad``."""
        if self.on_nonfinite == "raise" and bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{where(first)} contains NaN or Inf samples ({int(bad.sum())} of {len(bad)} {what} affected); "
                f"clean the audio, or pass on_nonfinite='propagate' to get NaN output for such {what}"
            )

    def _run(self, x, out, layout: _Layout, threads) -> np.ndarray:
        """Run the kernel phases, serially or on the thread pool; return per-example NaN flags.

        Only compiled kernels do per-sample work; Python only splits the
        units between threads.  Phase 2 (the ``top_db`` floor of examples
        longer than one unit, the batch floor, NaN propagation) runs only
        when needed: a unit that is a whole example floors itself in phase 1.
        """
        from . import _kernels, _parallel

        plan = self._plan
        window, weights = self._cast[x.dtype.type]
        if threads is None:
            threads = _parallel.default_num_threads()
        n_units = len(layout.unit_ex)
        unit_max = np.empty(n_units)
        unit_bad = np.zeros(n_units, dtype=np.uint8)
        if threads == 1 or layout.work * plan.fft_length < SERIAL_WORK:
            bounds = (0, n_units)
        else:
            bounds = _parallel.split(layout.costs, min(threads, n_units))
        common = (layout.n_frames, out, layout.o_off, layout.unit_ex, layout.unit_f0, plan)
        _parallel.run(_kernels._mel_units, bounds, x, layout.x_off, layout.x_len, *common,
                      window, weights, unit_max, unit_bad)
        n_examples = len(layout.n_frames)
        any_bad = bool(unit_bad.any())
        if any_bad:
            bad = _kernels._example_bad(unit_bad, layout.unit_ex, n_examples)
        else:
            bad = np.zeros(n_examples, dtype=np.uint8)
        floored = plan.power_to_db and plan.top_db < np.inf
        if (floored and (plan.batch_top_db or layout.max_frames > plan.block_frames)) or (
            any_bad and plan.propagate_nonfinite
        ):
            peak = _kernels._batch_peak(unit_max, layout.unit_ex, bad) if plan.batch_top_db else -np.inf
            _parallel.run(_kernels._finish_units, bounds, *common, unit_max, bad, peak)
        return bad


class _Layout(NamedTuple):
    """Where each signal and its output live, and the work units (blocks of frames)."""

    x_off: np.ndarray
    x_len: np.ndarray
    n_frames: np.ndarray
    o_off: np.ndarray
    out_size: int
    unit_ex: np.ndarray
    unit_f0: np.ndarray
    costs: np.ndarray
    work: int
    max_frames: int

    @classmethod
    def build(cls, x_off, x_len, n_frames, o_off, out_size, block_frames) -> _Layout:
        blocks = (n_frames + block_frames - 1) // block_frames
        first_unit = np.cumsum(blocks) - blocks
        unit_ex = np.repeat(np.arange(len(n_frames), dtype=np.int64), blocks)
        unit_f0 = (np.arange(int(blocks.sum()), dtype=np.int64) - first_unit[unit_ex]) * block_frames
        costs = np.minimum(n_frames[unit_ex] - unit_f0, block_frames)
        return cls(x_off, x_len, n_frames, o_off, out_size, unit_ex, unit_f0, costs,
                   int(n_frames.sum()), int(n_frames.max()))


def mel_spectrogram(audio, **kwargs):
    """Functional form: ``MelSpectrogram(**kwargs)(audio)``.

    Accepts every argument of :class:`MelSpectrogram`; objects are reused
    between calls with the same (hashable) arguments.

    Examples
    --------
    >>> import numpy as np
    >>> import melplug
    >>> audio = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    >>> melplug.mel_spectrogram(audio, num_mel_bins=64, sequence_stride=256).shape
    (64, 63)
    """
    return _cached_layer(kwargs)(audio)


_LAYERS: dict = {}


def _cached_layer(kwargs: dict) -> MelSpectrogram:
    try:
        key = tuple(sorted(kwargs.items()))
        hash(key)
    except TypeError:
        return MelSpectrogram(**kwargs)
    layer = _LAYERS.get(key)
    if layer is None:
        layer = MelSpectrogram(**kwargs)
        if len(_LAYERS) >= 32:
            _LAYERS.clear()
        _LAYERS[key] = layer
    return layer
