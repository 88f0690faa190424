"""Audio decoding and channel handling, written once.

A private helper layer of the front-ends: the command line (``melplug.cli``)
and the Hugging Face adapter (``melplug.hf``) read audio through it, so a
file, a channel layout or a bad sample is treated the same way in both.  It
holds no mel-spectrogram numerics (those are the core's and the kernels').
The Grain adapter does not use it: Grain elements are ``(..., samples)``
arrays by contract, already decoded and mono (or batched).

Everything here works on ``(channels, samples)`` arrays:

* :func:`decode` reads a file (path, bytes or file object) with soundfile;
* :func:`channels_first` orients an in-memory 2-D clip whose layout is not
  known (see :data:`MAX_CHANNELS` for the rule);
* :func:`select_channels` applies a channel policy (:data:`CHANNEL_POLICIES`);
* :func:`check_finite` refuses NaN/Inf samples;
* :func:`resample` converts the sampling rate with soxr.

Problems with one clip raise :class:`AudioError` (a ``ValueError``) whose
text names the clip (``where``) and the reason.  soundfile and soxr are
imported inside the functions that need them, so ``import melplug`` stays
light.
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

__all__ = [
    "CHANNEL_POLICIES",
    "MAX_CHANNELS",
    "AudioError",
    "channels_first",
    "check_finite",
    "decode",
    "resample",
    "select_channels",
]

#: What to do with several channels: average them, keep the first, refuse
#: them, or keep them all.
CHANNEL_POLICIES = ("mean", "first", "raise", "all")

#: The layout rule for an in-memory 2-D clip of shape ``(a, b)``: the shorter
#: axis is the channel axis when it has at most this many entries and the
#: other axis is strictly longer.  So ``(2, N)`` is channels first and
#: ``(N, 2)`` (soundfile's and scipy's layout) channels last; ``(2, 2)``,
#: ``(20000, 30000)`` or ``(17, N)`` are refused.  16 covers every common
#: format (7.1.4 surround has 12 channels).
MAX_CHANNELS = 16


class AudioError(ValueError):
    """One clip or file cannot be used.

    ``str(error)`` is ``"{where}: {reason}"``; the two parts are kept as
    attributes so a caller can report them its own way.
    """

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def decode(source: Any, *, where: str, dtype: str = "float32", hint: str = "") -> tuple[np.ndarray, int]:
    """Decode an audio file with soundfile.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        The file: a path, its bytes, or an open file.
    where : str
        How errors name the clip (a path, ``"row 3 of the batch"``).
    dtype : {"float32", "float64"}
        Sample type; integer formats are scaled to [-1, 1] as soundfile does.
    hint : str
        Appended to the message when the file cannot be decoded (how to fix it).

    Returns
    -------
    samples : ndarray of shape (channels, samples), C-contiguous
        At least one channel and one sample.
    sampling_rate : int
        The file's rate in Hz.

    Raises
    ------
    AudioError
        The path does not exist or is a broken link or a folder, soundfile
        cannot decode it, or it holds no samples.
    """
    import soundfile

    if isinstance(source, (str, os.PathLike)):
        _check_path(source, where)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(source)
    try:
        data, rate = soundfile.read(source, dtype=dtype, always_2d=True)  # (samples, channels)
    except Exception as exc:  # noqa: BLE001 - libsndfile, format and OS errors all mean "cannot decode"
        raise AudioError(where, f"cannot read it as audio: {str(exc).rstrip('.')}{hint}") from exc
    if data.shape[0] == 0:
        raise AudioError(where, "it holds no audio samples")
    return np.ascontiguousarray(data.T), int(rate)


def _check_path(path, where: str) -> None:
    """Name the common reasons a path cannot be opened (soundfile only says "System error")."""
    if os.path.islink(path) and not os.path.exists(path):
        raise AudioError(where, f"it is a broken symbolic link (its target {os.readlink(path)!r} does not exist)")
    if os.path.isdir(path):
        raise AudioError(where, "it is a folder, not an audio file")
    if not os.path.exists(path):
        raise AudioError(where, "it does not exist")


def channels_first(samples: np.ndarray, *, where: str) -> np.ndarray:
    """An in-memory clip of unknown layout as ``(channels, samples)``.

    1-D is one channel, ``(1, N)``.  2-D ``(a, b)`` follows the rule of
    :data:`MAX_CHANNELS`: channels first when ``a <= MAX_CHANNELS`` and
    ``a < b``, channels last (transposed, a view) when ``b <= MAX_CHANNELS``
    and ``b < a``; a single sample ``(1, 1)`` is one mono sample.  Any other
    shape raises :class:`AudioError` naming it.

    Examples
    --------
    >>> import numpy as np
    >>> from melplug._audio import channels_first
    >>> channels_first(np.zeros((16000, 2)), where="clip").shape   # soundfile's layout
    (2, 16000)
    >>> channels_first(np.zeros((2, 16000)), where="clip").shape
    (2, 16000)
    >>> channels_first(np.zeros((2, 2)), where="clip")
    Traceback (most recent call last):
    ...
    melplug._audio.AudioError: clip: shape (2, 2) is ambiguous: ...
    """
    if samples.ndim == 1:
        return samples[None, :]
    if samples.ndim != 2:
        raise AudioError(
            where, f"it has shape {samples.shape}; one clip must be 1-D (samples) or 2-D (channels, samples)"
        )
    a, b = samples.shape
    if (a <= MAX_CHANNELS and a < b) or a == b == 1:
        return samples
    if b <= MAX_CHANNELS and b < a:
        return samples.T
    raise AudioError(
        where,
        f"shape {samples.shape} is ambiguous: a 2-D clip is read as (channels, samples) or (samples, channels) "
        f"only when one axis has at most {MAX_CHANNELS} channels and the other more samples. Pass mono audio as "
        "a 1-D array, or channels first with more samples than channels (np.moveaxis(x, channel_axis, 0)); "
        f"downmix clips of more than {MAX_CHANNELS} channels first (x.mean(axis=channel_axis))",
    )


def select_channels(samples: np.ndarray, policy: str, *, where: str, hint: str = "") -> np.ndarray:
    """Apply a channel policy to ``(channels, samples)``.

    Parameters
    ----------
    samples : ndarray of shape (channels, samples)
    policy : {"mean", "first", "raise", "all"}
        ``"mean"``: the average of the channels, computed in the samples'
        float dtype (float64 for integers), as ``librosa.to_mono`` and
        ``datasets``' ``audio["array"]`` do; ``"first"``: the first channel;
        ``"raise"``: several channels raise :class:`AudioError` (ending with
        ``hint``); ``"all"``: unchanged.
    where : str
        How the error names the clip.
    hint : str
        How to fix a ``"raise"`` error.

    Returns
    -------
    ndarray of shape (1, samples), or (channels, samples) for "all"

    Examples
    --------
    >>> import numpy as np
    >>> from melplug._audio import select_channels
    >>> stereo = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]], dtype=np.float32)
    >>> select_channels(stereo, "mean", where="clip")
    array([[2., 3., 4.]], dtype=float32)
    """
    count = samples.shape[0]
    if count == 1 or policy == "all":
        return samples
    if policy == "mean":
        return np.mean(samples, axis=0, keepdims=True, dtype=samples.dtype if samples.dtype.kind == "f" else None)
    if policy == "first":
        return samples[:1]
    if policy == "raise":
        raise AudioError(where, f"it has {count} channels (shape {samples.shape}, channels first){hint}")
    raise ValueError(
        f"channel policy {policy!r} is invalid: it must be one of {', '.join(map(repr, CHANNEL_POLICIES))}"
    )


def check_finite(samples: np.ndarray, *, where: str) -> None:
    """Raise :class:`AudioError` if ``samples`` holds NaN or Inf."""
    if not np.isfinite(samples).all():
        raise AudioError(where, "it contains NaN or Inf samples")


def resample(samples: np.ndarray, rate: float, target: float, *, where: str) -> np.ndarray:
    """``(channels, samples)`` at ``rate`` converted to ``target`` Hz with soxr (its default "HQ" quality).

    Returns a C-contiguous ``(channels, samples)`` array of the same dtype;
    :class:`AudioError` if the clip is too short to give any sample.
    """
    import soxr

    out = soxr.resample(samples.T, rate, target)  # soxr wants (frames, channels)
    if out.shape[0] == 0:
        raise AudioError(where, f"it is too short to resample from {rate} Hz to {target} Hz")
    return np.ascontiguousarray(out.T)
