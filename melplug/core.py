"""Core layer: the public :class:`MelSpectrogram`: validate and convert once, run the driver, shape the output.

Each layer has its own module: arguments are checked by :mod:`._validate`
and resolved into a config by :mod:`._config`; :func:`._plan.build_plan`
turns the config into arrays; :class:`._driver.Driver` lays out a call and
runs the :mod:`._kernels` on :mod:`._parallel`'s threads.  This module only
connects them and owns the public contract (SPEC §1-§3).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from . import _config, _plan
from ._driver import Driver, raise_nonfinite
from ._plan import MelPlan
from ._validate import as_clip, check_audio_dtype, check_int, check_num_threads, is_clip_list

__all__ = ["EXTRA_DEFAULTS", "KERAS_DEFAULTS", "MelSpectrogram", "mel_spectrogram"]


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
        args = {name: value for name, value in locals().items() if name != "self"}
        self._configure(_config.resolve(args), None, warn=True)

    def _configure(self, config: dict[str, Any], plan: MelPlan | None, *, warn: bool) -> None:
        """Adopt a resolved config (its values become attributes) and its plan."""
        self.__dict__.update(config)
        self._config = config
        self._plan = _plan.build_plan(config) if plan is None else plan
        self._driver = Driver(self._plan)
        message = _plan.construction_warning(config, self._plan) if warn else None
        if message:
            warnings.warn(message, UserWarning, stacklevel=3)

    # ----------------------------------------------------------------- public properties

    @property
    def plan(self) -> MelPlan:
        """The :class:`~melplug.MelPlan` for :func:`melplug.kernels.mel_spectrogram`."""
        return self._plan

    @property
    def mel_weights(self) -> np.ndarray:
        """Keras' dense mel weight matrix, shape ``(fft_length // 2 + 1, num_mel_bins)``, float64."""
        return _plan.mel_weights(self._config)

    def num_frames(self, num_samples: int) -> int:
        """Number of frames for a signal of ``num_samples`` samples (>= 1).

        >>> import melplug
        >>> melplug.MelSpectrogram(sequence_stride=160, fft_length=512, num_mel_bins=80).num_frames(16000)
        101
        """
        return int(self._driver.num_frames(check_int("num_samples", num_samples, 1)))

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        """Output shape for an input of shape ``(..., samples)``: ``(..., num_mel_bins, frames)``.

        Unknown sizes (``None``) stay unknown, as in Keras: ``(2, None)`` gives
        ``(2, num_mel_bins, None)``.
        """
        shape = tuple(input_shape)
        if not shape:
            raise ValueError("input_shape must have at least one dimension (samples)")
        samples = shape[-1]
        frames = None if samples is None else self.num_frames(samples)
        return (*shape[:-1], self.num_mel_bins, frames)

    # ----------------------------------------------------------------- configuration

    def get_config(self) -> dict[str, Any]:
        """Keras' keys (resolved, as Keras reports them) plus melplug's; JSON-serialisable."""
        config = dict(self._config)
        if isinstance(config["window"], np.ndarray):
            config["window"] = config["window"].tolist()
        return config

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MelSpectrogram:
        """Build from :meth:`get_config` output or a Keras ``MelSpectrogram`` layer's config.

        Keras' layer keys (``name``, ``trainable``, ...) and a Keras dtype
        policy under ``dtype`` are ignored; any other ``dtype`` is validated
        like the constructor's; other unknown keys raise ``TypeError``.
        """
        return cls(**_config.from_mapping(config, [*KERAS_DEFAULTS, *EXTRA_DEFAULTS]))

    def __repr__(self) -> str:
        parts = []
        for key, value in self._config.items():
            if isinstance(value, np.ndarray):
                parts.append(f"{key}=<array of {value.shape[0]}>")
            else:
                parts.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, MelSpectrogram):
            return NotImplemented
        return self.get_config() == other.get_config()

    __hash__ = None  # mutable-looking configuration objects are not hashable

    def __getstate__(self) -> dict[str, Any]:
        return {"config": dict(self._config), "plan": self._plan}

    def __setstate__(self, state: dict[str, Any]) -> None:
        config = dict(state["config"])
        if isinstance(config["window"], np.ndarray):
            config["window"].setflags(write=False)
        self._configure(config, MelPlan(*state["plan"]), warn=False)

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
        threads = check_num_threads(num_threads)
        if threads is None:
            threads = self.num_threads
        if is_clip_list(audio):
            return self._call_clips(audio, threads)
        return self._call_array(audio, threads)

    def _compute_dtype(self, dtypes) -> type:
        if self.dtype is not None:
            return np.float64 if self.dtype == "float64" else np.float32
        return np.float64 if all(dt == np.float64 for dt in dtypes) else np.float32

    def _call_array(self, audio, threads):
        arr = np.asarray(audio)
        check_audio_dtype(arr.dtype, "audio")
        if arr.ndim == 0:
            raise ValueError("audio is a scalar (0-d); pass an array of shape (..., samples)")
        if arr.size == 0:
            raise ValueError(f"audio is empty (shape {arr.shape}); it needs at least one example of >= 1 sample")
        dtype = self._compute_dtype([arr.dtype])
        lead, n = arr.shape[:-1], arr.shape[-1]
        x = np.ascontiguousarray(arr, dtype=dtype).reshape(-1, n)
        out, flags = self._driver.array(x, threads)
        if flags is not None and self.on_nonfinite == "raise":

            def where(first: int) -> str:
                if not lead:
                    return "audio"
                index = tuple(int(i) for i in np.unravel_index(first, lead)) if len(lead) > 1 else first
                return f"audio example {index}"

            raise_nonfinite(flags, where, "examples", dtype)
        return out.reshape(*lead, self.num_mel_bins, int(self._driver.num_frames(n)))

    def _call_clips(self, audio, threads):
        clips = [as_clip(item, f"audio[{i}]") for i, item in enumerate(audio)]
        dtype = self._compute_dtype([c.dtype for c in clips])
        out, flags, o_off, n_frames = self._driver.clips(clips, dtype, threads)
        if flags is not None and self.on_nonfinite == "raise":
            raise_nonfinite(flags, lambda first: f"audio[{first}]", "clips", dtype)
        M = self.num_mel_bins
        return [out[o : o + M * f].reshape(M, f) for o, f in zip(o_off.tolist(), n_frames.tolist(), strict=True)]


def _defaults(kind) -> dict[str, Any]:
    params = inspect.signature(MelSpectrogram.__init__).parameters.values()
    return {p.name: p.default for p in params if p.kind is kind and p.name != "self"}


#: Keras' 13 arguments and their defaults, in Keras' order (read from the constructor: one home).
KERAS_DEFAULTS: dict[str, Any] = _defaults(inspect.Parameter.POSITIONAL_OR_KEYWORD)
#: melplug's keyword-only extras and their defaults.
EXTRA_DEFAULTS: dict[str, Any] = _defaults(inspect.Parameter.KEYWORD_ONLY)


def mel_spectrogram(audio, **kwargs):
    """Functional form: ``MelSpectrogram(**kwargs)(audio)``.

    Accepts every argument of :class:`MelSpectrogram`.  Objects are reused
    between calls whose arguments are plain scalars of the same types and
    values (``512`` and ``512.0`` are different keys, so every call is
    validated exactly like the constructor would).

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
_KEY_TYPES = (int, float, str, bool, type(None))


def _cached_layer(kwargs: dict) -> MelSpectrogram:
    if not all(type(value) in _KEY_TYPES for value in kwargs.values()):
        return MelSpectrogram(**kwargs)  # arrays, NumPy scalars, ...: not worth a key
    # The type is part of the key: 512 == 512.0 and 1 == True, but they do not validate alike.
    key = tuple(sorted((name, type(value).__name__, value) for name, value in kwargs.items()))
    layer = _LAYERS.get(key)
    if layer is None:
        layer = MelSpectrogram(**kwargs)
        if len(_LAYERS) >= 32:
            _LAYERS.clear()
        _LAYERS[key] = layer
    return layer
