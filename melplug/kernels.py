"""Public ``@njit`` entry points, callable from Python and from users' own Numba code.

They take a :class:`melplug.MelPlan` (``MelSpectrogram(...).plan``, or any
preset's ``melplug.preset(name).plan``) and are thin wrappers over the same
private kernels the core uses.  They run in the
calling thread (no hidden threads), so they may be called from inside a
user's ``numba.prange`` loop under any threading layer.

Examples
--------
A user's own Numba function that computes features for a batch:

>>> import numba, numpy as np, melplug
>>> from melplug import kernels
>>> plan = melplug.MelSpectrogram(num_mel_bins=40, fft_length=256, sequence_stride=128).plan
>>> @numba.njit
... def features(batch, plan):
...     mel = kernels.mel_spectrogram(batch, plan)       # (batch, 40, frames)
...     return mel.sum(axis=1)                           # e.g. a loudness curve
>>> features(np.ones((3, 1000), np.float32), plan).shape
(3, 8)

Any preset, whole-clip steps included (Whisper's 30 s padding, max - 8
floor and scaling; wav2vec-BERT's normalisation and stacking):

>>> whisper = melplug.preset("whisper").plan
>>> @numba.njit
... def log_mel(batch, plan):
...     return kernels.mel_spectrogram(batch, plan)       # (batch, 80, 3000)
>>> clips = np.random.default_rng(0).standard_normal((2, 16000)).astype(np.float32)
>>> out = log_mel(clips, whisper)
>>> out.shape, bool(np.array_equal(out, melplug.preset("whisper")(clips)))
((2, 80, 3000), True)

The two stages separately (frames -> your own FFT -> mel):

>>> @numba.njit
... def stages(signal, plan):
...     frames = kernels.windowed_frames(signal, plan)   # (frames, fft_length)
...     spectra = np.fft.rfft(frames)                    # rocket-fft inside Numba
...     mel = kernels.spectra_to_mel(spectra, plan)      # (num_mel_bins, frames), dB
...     kernels.apply_top_db(mel, plan)                  # the example-wide floor
...     return mel
>>> sig = np.sin(np.arange(1000) * 0.3)
>>> np.allclose(stages(sig, plan), melplug.MelSpectrogram(num_mel_bins=40, fft_length=256,
...                                                       sequence_stride=128)(sig))
True
"""

from __future__ import annotations

import numba
import numpy as np
from numba.core import types
from numba.core.errors import TypingError
from numba.extending import overload

from . import _geometry, _kernels
from ._jit import LINK_ONLY, jit, jit_internal
from ._kernels import _mel_into
from ._kernels._layout import PLAN_ARRAYS
from ._plan import PLAN_RECORD, record_fields

__all__ = ["apply_top_db", "mel_spectrogram", "num_frames", "spectra_to_mel", "windowed_frames"]


def _packer_source() -> str:
    """Source of ``_pack(plan)``: a one-element :data:`~melplug._plan.PLAN_RECORD` array holding ``plan``."""
    lines = ["def _pack(plan):", "    packed = np.empty(1, PLAN_RECORD)", "    r = packed[0]"]
    for name, kind, ndim in record_fields():
        if kind is np.ndarray:
            lines.append(f"    r.{name}__address = plan.{name}.ctypes.data")
            lines.extend(f"    r.{name}__shape_{k} = plan.{name}.shape[{k}]" for k in range(ndim))
        else:
            lines.append(f"    r.{name} = plan.{name}")
    lines.append("    return packed")
    return "\n".join(lines) + "\n"


def pack_plan(plan):  # pragma: no cover - compiled only (Python packs with melplug._plan.PackedPlan)
    """Inside kernels: ``plan`` (a :class:`MelPlan`) as the kernels take it, a one-element record array.

    Generated from ``MelPlan``'s fields, like :class:`melplug._plan.PackedPlan`
    (arrays by address: the record is valid while ``plan`` is).  So the
    public entry points run exactly the core's compiled steps.
    """
    raise TypeError("pack_plan is called from compiled code only; Python uses melplug._plan.PackedPlan")


@overload(pack_plan, jit_options=LINK_ONLY)
def _pack_plan(plan):
    fields = dict(zip(getattr(plan, "fields", ()), getattr(plan, "types", ()), strict=False))
    for name, (dtype, ndim) in PLAN_ARRAYS.items():
        got = fields.get(name)
        if not (
            isinstance(got, types.Array)
            and got.ndim == ndim
            and got.layout == "C"
            and got.dtype == numba.from_dtype(np.dtype(dtype))
        ):
            raise TypingError(
                f"plan.{name} must be a C-contiguous {ndim}-D {np.dtype(dtype).name} array, as melplug's plans "
                f"hold, not {got}; pass a plan made by melplug (melplug.preset(name).plan)"
            )
    namespace = {"np": np, "PLAN_RECORD": PLAN_RECORD}
    exec(compile(_packer_source(), f"<{__name__}: generated from MelPlan's fields>", "exec"), namespace)  # noqa: S102
    return namespace["_pack"]


@jit_internal
def _mel_into_record(audio2d, packed, out, flags):
    return _mel_into(audio2d, packed[0], out, flags)


@jit_internal
def _fill_frames_record(signal, n_eff, frames_n, packed, window, frames):
    _kernels._fill_frames(signal, n_eff, 0, frames_n, packed[0], window, frames, np.empty(frames_n, signal.dtype))


@jit_internal
def _spectra_to_mel_record(spec_t, nf, packed, weights, power_t, mel):
    plan = packed[0]
    _kernels._spectra_to_mel(spec_t, nf, plan, weights, power_t, mel, np.empty(plan.num_mel_bins * nf, np.int32))


@jit
def num_frames(num_samples, plan):
    """Length of the output's time axis for a signal of ``num_samples`` samples under ``plan``.

    Keras' ``1 + (n + 2 (L // 2) - L) // stride`` for the keras preset; the
    fixed ``out_frames`` of presets that have them (whisper: 3000); rows of
    stacked frames for plans that stack them (w2v-bert).
    """
    return _geometry.time_steps(plan, num_samples)


@jit
def mel_spectrogram(audio2d, plan):
    """Mel spectrograms of a batch, in the calling thread.

    Parameters
    ----------
    audio2d : ndarray of float32 or float64, shape (batch, samples), C-contiguous
    plan : MelPlan

    Returns
    -------
    ndarray, shape (batch, num_mel_bins, frames), same dtype as ``audio2d``
        (``(batch, frames, num_mel_bins)`` for plans with that layout, e.g. kaldi;
        ``num_ceps`` in place of ``num_mel_bins`` for cepstra, e.g. kaldi-mfcc).
        Every step of the plan runs, whole-clip ones included (``top_db``
        floors, fixed output frames, the affine map).

    Raises ``ValueError`` if the audio holds NaN/Inf and the plan was made with
    ``on_nonfinite="raise"``; with ``"propagate"`` those examples are NaN.
    """
    batch, n = audio2d.shape
    if n < 1:
        raise ValueError("audio2d must have at least 1 sample per example")
    if not audio2d.flags.c_contiguous:
        raise ValueError("audio2d must be C-contiguous (np.ascontiguousarray(audio2d))")
    rows = _kernels._plan_frames(plan, n)[1]
    M = _geometry.out_width(plan)
    out = np.empty((batch, M * rows), dtype=audio2d.dtype)
    bad = np.zeros(batch, dtype=np.uint8)
    if _mel_into_record(audio2d, pack_plan(plan), out.reshape(-1), bad):
        raise ValueError(
            "audio contains NaN or Inf samples, or gives non-finite values (samples too large); "
            "make the plan with on_nonfinite='propagate' to get NaN output instead"
        )
    d0, d1 = _geometry.example_dims(plan, rows)  # stacked frames (w2v-bert) are a reshape of frames-major rows
    return out.reshape((batch, d0, d1))


@jit
def windowed_frames(signal, plan):
    """Reflect-padded, windowed frames of one 1-D signal.

    Returns ``(frames, fft_length)`` of the signal's dtype: frame ``f`` is
    ``padded[f * stride : f * stride + fft_length] * window`` where ``padded``
    is the signal reflect-padded by ``fft_length // 2`` on each side.
    """
    frames_n = _kernels._plan_frames(plan, signal.shape[0])[0]
    frames = np.zeros((frames_n, plan.fft_length), dtype=signal.dtype)
    window = plan.window.astype(signal.dtype)
    n_eff = _geometry.framed_length(plan, signal.shape[0])
    _fill_frames_record(signal, n_eff, frames_n, pack_plan(plan), window, frames)
    return frames


@jit
def spectra_to_mel(spectra, plan):
    """``|X| ** magnitude_power`` -> mel weights -> dB (per the plan) for a block of spectra.

    ``spectra`` is ``(frames, fft_length // 2 + 1)`` complex64/complex128;
    returns ``(num_mel_bins, frames)`` of the matching real dtype.  The
    ``top_db`` floor is *not* applied (it depends on the whole example): use
    :func:`apply_top_db` once the example is complete.
    """
    nf = spectra.shape[0]
    dtype = spectra.real.dtype
    weights = plan.band_weights.astype(dtype)
    power_t = np.zeros((plan.fft_length // 2 + 1, nf), dtype=dtype)
    mel = np.empty((plan.num_mel_bins, nf), dtype=dtype)
    spec_t = np.ascontiguousarray(spectra.T)  # bins major, as the core's FFT writes them
    _spectra_to_mel_record(spec_t, nf, pack_plan(plan), weights, power_t, mel)
    return mel


@jit
def apply_top_db(mel, plan):
    """In place: ``mel = max(mel, mel.max() - top_db)`` if the plan converts to dB with a finite ``top_db``."""
    if plan.log_kind != 0 and plan.top_db < np.inf:
        floor = mel.max() - mel.dtype.type(plan.top_db)
        flat = mel.reshape(-1)
        for i in range(flat.shape[0]):
            if flat[i] < floor:
                flat[i] = floor
    return mel
