"""A naive float64 NumPy port of NeMo's ``FilterbankFeatures``, the ``AudioToMelSpectrogramPreprocessor`` featurizer.

The tests may not import torch, so this port stands in for NeMo's mel front end
(Parakeet / Canary / FastConformer configs: ``n_window_size=400``,
``n_window_stride=160``, ``n_fft=512``, ``features`` 80 or 128,
``normalize="per_feature"``, evaluation mode).  It was written from
``nemo/collections/asr/parts/preprocessing/features.py`` (``FilterbankFeatures``
``__init__``, ``stft``, ``get_seq_len``, ``forward``; ``normalize_batch``) and
``nemo/collections/asr/modules/audio_preprocessing.py``
(``AudioToMelSpectrogramPreprocessor``, which casts the signal to float32 and
calls ``FilterbankFeatures``) at NeMo commit 8cfedd7 (2025-09-20).  For one clip
of ``n`` samples, with ``hop = n_window_stride``, ``win = n_window_size``:

* ``seq_len = (n + 2 (n_fft // 2) - n_fft) // hop`` (``get_seq_len``, floor
  division; ``n // hop`` for even ``n_fft``), 0 when ``n == 0``; with
  ``exact_pad`` the pad is ``2 ((n_fft - hop) // 2)`` instead.  It is the
  returned ``valid``: always one frame fewer than the STFT gives.
* ``exact_pad``: ``(n_fft - hop) // 2`` zeros on each side of the signal first,
  then ``torch.stft(center=False)``; else ``center=True`` with
  ``pad_mode="constant"`` (``n_fft // 2`` zeros on each side).
* No dither (NeMo adds ``dither * randn`` only in training mode).
* Pre-emphasis over the whole signal, ``y[0] = x[0]``, ``y[i] = x[i] - p x[i-1]``
  (skipped when ``preemph is None``), then samples at or after index ``n`` are
  zeroed.  Without ``exact_pad`` that is a no-op; with it, it zeroes the last
  ``(n_fft - hop) // 2`` samples of the clip itself (the mask is in unpadded
  time but applied to the padded signal, as in NeMo).
* The symmetric Hann window (``torch.hann_window(win, periodic=False)``,
  ``0.5 - 0.5 cos(2 pi i / (win - 1))``; ``[1]`` for ``win == 1``) zero-padded
  centred into ``n_fft`` (``(n_fft - win) // 2`` zeros on the left, as
  ``torch.stft``); frames ``1 + (len(padded) - n_fft) // hop``.
* Magnitude ``sqrt(re^2 + im^2)``, then ``** mag_power`` unless ``mag_power == 1``.
* ``librosa.filters.mel(sr, n_fft, n_mels=nfilt, fmin=lowfreq, fmax=highfreq or
  sr / 2, norm="slaney")`` (Slaney mel scale and area normalisation; NeMo builds
  it in float32, here float64) times the spectrum.
* ``log(x + log_zero_guard_value)`` (``log_zero_guard_type="add"``) or
  ``log(max(x, guard))`` (``"clamp"``); only numeric guards are ported.
* ``normalize="per_feature"``: per band over the ``seq_len`` valid frames,
  ``mean = sum / seq_len``, ``std = sqrt(sum((x - mean)^2) / (seq_len - 1))``
  (ddof 1), a NaN ``std`` set to 0, then ``std += 1e-5`` (the constant is added
  to the std, not the variance) and ``(x - mean) / std`` on every frame.  With
  one valid frame the std is 0/0 -> 0 -> 1e-5 and that frame becomes exactly 0
  (on CPU: NeMo raises ``ValueError`` for ``seq_len == 1`` when CUDA is
  available); with none every value is NaN until the masking below.
  ``"all_features"``: one mean and one ``torch.std`` (ddof 1, NaN not zeroed)
  over all bands of the valid frames, plus 1e-5.  ``None`` (or ``False``,
  ``""``): no normalisation.  Other values (NeMo: fixed-statistics dicts,
  any other string passes the features through) raise ``ValueError`` here.
* Frames ``t >= seq_len`` set to ``pad_value``, then ``pad_to > 0`` appends
  ``pad_value`` frames up to a multiple of ``pad_to`` (``pad_to="max"``,
  which depends on ``max_duration``, and ``frame_splicing > 1`` are not ported).

Checked once, by hand, against the real ``FilterbankFeatures`` (NeMo 8cfedd7's
``features.py`` loaded with stub ``nemo.utils.logging`` / ``perturb`` /
``segment`` modules; torch 2.13 CPU, librosa 0.11.0, ``dither=0``, ``.eval()``)
with ``tests/references/check_nemo_features.py``: white noise, tones, and
near-silence (1e-5 noise) with a 0.5-amplitude 700 Hz burst; clips of 16000,
16001, 4001, 401, 400, 320, 161, 100, 1 and 0 samples; ``nfilt`` 80 and 128,
``pad_to`` 0 and 16, ``pad_value`` 0 and -1, and ``n_fft=None``, hop 128 / win
320, odd ``n_fft=511`` with hop 100, 8 kHz (win 200, hop 80, ``n_fft`` 256, 64
filters, ``lowfreq=20``, ``highfreq=3800``), ``preemph=None``, ``mag_power=1``,
``"clamp"`` with guard 1e-5, ``"all_features"``, ``normalize=None``, and
``exact_pad`` (hop 160, and hop 128 with ``pad_to=16``).  Shapes and
``seq_len`` were identical in every case (``seq_len`` 1 for 161 samples, 0 for
100 and 1), and the reference refused exactly what the port refuses (0 samples
with pre-emphasis: ``IndexError`` in NeMo; ``exact_pad`` with 100 or fewer:
``torch.stft``; 0 samples without pre-emphasis work).  The ``exact_pad`` tail
zeroing is real: without it the last valid frame is 7.1 off.  Against the
reference run in float64 (its module's ``torch.float`` mapped to float64, the
default dtype float64 so the window is built in float64, the filter bank
rebuilt by librosa in float64) the max abs difference was 6.7e-13 on noise and
tones of 4001 samples or more, 4.5e-11 on the burst clip (bands ~100 dB under
the burst), and 1.2e-10 on the 401-sample noise clip with 128 filters, where a
band's 2 valid frames differ by 1.3e-5 and ``1 / (std + 1e-5)`` amplifies the
round-off ~1e5 times.  The default float32 reference is 4.5e-4 abs (5.2e-5 of
the largest |value|) from the port on noise and tones of 4001 samples or more,
2.1e-2 abs (3.9e-3 relative) on the burst clip, and 4.3e-2 abs on that
401-sample clip.
"""

from __future__ import annotations

import math

import librosa
import numpy as np

CONSTANT = 1e-5  # NeMo's features.CONSTANT, added to the std in normalize_batch


def get_seq_len(n, *, n_fft=512, n_window_stride=160, exact_pad=False):
    """NeMo's ``FilterbankFeatures.get_seq_len`` for one clip of ``n`` samples, with ``forward``'s 0 for ``n == 0``."""
    if n == 0:
        return 0
    pad_amount = 2 * ((n_fft - n_window_stride) // 2) if exact_pad else 2 * (n_fft // 2)
    return (n + pad_amount - n_fft) // n_window_stride


def hann_symmetric(length):
    """``torch.hann_window(length, periodic=False)``: ``0.5 - 0.5 cos(2 pi i / (length - 1))``, ``[1]`` for length 1."""
    if length == 1:
        return np.ones(1)
    return 0.5 - 0.5 * np.cos(2.0 * math.pi * np.arange(length) / (length - 1))


def _normalize(x, valid, normalize):
    """``normalize_batch(x, seq_len, normalize)`` for one clip: ``x`` is ``(nfilt, frames)``."""
    if not normalize:
        return x
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalize == "per_feature":
            v = x[:, :valid]
            mean = v.sum(axis=1) / valid if valid else np.full(x.shape[0], np.nan)
            std = np.sqrt(((v - mean[:, None]) ** 2).sum(axis=1) / (valid - 1.0))
            std[np.isnan(std)] = 0.0  # edge case: only one frame in the denominator
            std += CONSTANT
            return (x - mean[:, None]) / std[:, None]
        if normalize == "all_features":
            v = x[:, :valid]
            mean = v.mean() if v.size else np.nan
            std = v.std(ddof=1) if v.size > 1 else np.nan  # torch.std: unbiased, NaN not zeroed here
            return (x - mean) / (std + CONSTANT)
    raise ValueError(f"normalize {normalize!r} not ported: use 'per_feature', 'all_features' or None")


def filterbank_features(
    audio,
    *,
    sample_rate=16000,
    n_window_size=400,
    n_window_stride=160,
    n_fft=512,
    nfilt=80,
    preemph=0.97,
    lowfreq=0,
    highfreq=None,
    log_zero_guard_value=2**-24,
    normalize="per_feature",
    pad_to=0,
    pad_value=0.0,
    mag_power=2.0,
    log_zero_guard_type="add",
    exact_pad=False,
):
    """``FilterbankFeatures(...).eval()(x[None], tensor([n]))`` with ``dither=0``, for one clip.

    Parameters
    ----------
    audio : array_like
        One 1-D clip of ``n`` samples.
    sample_rate, n_window_size, n_window_stride, n_fft, nfilt, preemph, lowfreq, highfreq : optional
        As ``FilterbankFeatures``; ``n_fft=None`` is ``2 ** ceil(log2(n_window_size))``.
    log_zero_guard_value, log_zero_guard_type : optional
        The log guard: a number, added (``"add"``) or as a floor (``"clamp"``).
    normalize : {"per_feature", "all_features", None}, optional
        The normalisation over the valid frames (see the module docstring).
    pad_to : int, optional
        Pad the frames with ``pad_value`` to a multiple of ``pad_to`` (0: none).
    pad_value : float, optional
        The value of the frames at and after ``valid``.
    mag_power : float, optional
        The exponent of the STFT magnitude.
    exact_pad : bool, optional
        NeMo's ``exact_pad`` (``(n_fft - hop) // 2`` zeros each side, ``center=False``).

    Returns
    -------
    features : numpy.ndarray
        float64 ``(nfilt, frames)``, ``frames = valid + 1`` rounded up to a multiple of ``pad_to``.
    valid : int
        NeMo's returned ``seq_len``.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"one 1-D clip expected, got shape {x.shape}")
    if isinstance(log_zero_guard_value, str):
        raise ValueError("only numeric log_zero_guard_value is ported")
    if not isinstance(pad_to, int) or pad_to < 0:
        raise ValueError(f"pad_to must be an int >= 0 here, got {pad_to!r}")
    n = x.shape[0]
    hop, win = n_window_stride, n_window_size
    n_fft = n_fft or 2 ** math.ceil(math.log2(win))
    if win > n_fft:
        raise ValueError(f"n_window_size {win} > n_fft {n_fft}")
    if exact_pad and hop % 2 == 1:
        raise ValueError("NeMo refuses exact_pad with an odd hop (NotImplementedError)")
    valid = get_seq_len(n, n_fft=n_fft, n_window_stride=hop, exact_pad=exact_pad)

    if exact_pad:
        p = (n_fft - hop) // 2
        x = np.concatenate([np.zeros(p), x, np.zeros(p)])
    if preemph is not None:
        if n == 0:
            raise ValueError("NeMo's pre-emphasis indexes x[:, 0]: it refuses an empty clip (IndexError)")
        x = np.concatenate([x[:1], x[1:] - preemph * x[:-1]])
        x[n:] = 0.0  # timemask: index < n (the unpadded length), applied to the possibly padded signal
    if not exact_pad:
        x = np.concatenate([np.zeros(n_fft // 2), x, np.zeros(n_fft // 2)])
    if x.shape[0] < n_fft:
        raise ValueError(f"torch.stft refuses a padded signal of {x.shape[0]} < n_fft = {n_fft} samples")
    n_frames = 1 + (x.shape[0] - n_fft) // hop
    window = np.zeros(n_fft)
    left = (n_fft - win) // 2
    window[left : left + win] = hann_symmetric(win)
    frames = np.stack([x[f * hop : f * hop + n_fft] * window for f in range(n_frames)])
    spec = np.fft.rfft(frames, axis=-1).T  # (n_fft // 2 + 1, frames)
    spec = np.sqrt(spec.real**2 + spec.imag**2)
    if mag_power != 1.0:
        spec = spec**mag_power

    fb = librosa.filters.mel(
        sr=sample_rate,
        n_fft=n_fft,
        n_mels=nfilt,
        fmin=lowfreq,
        fmax=highfreq or sample_rate / 2,
        norm="slaney",
        dtype=np.float64,
    )
    mel = fb @ spec
    if log_zero_guard_type == "add":
        feats = np.log(mel + log_zero_guard_value)
    elif log_zero_guard_type == "clamp":
        feats = np.log(np.maximum(mel, log_zero_guard_value))
    else:
        raise ValueError(f"log_zero_guard_type must be 'add' or 'clamp', got {log_zero_guard_type!r}")

    feats = _normalize(feats, valid, normalize)
    feats[:, valid:] = pad_value
    if pad_to > 0 and feats.shape[1] % pad_to:
        extra = pad_to - feats.shape[1] % pad_to
        feats = np.concatenate([feats, np.full((feats.shape[0], extra), float(pad_value))], axis=1)
    return feats, valid
