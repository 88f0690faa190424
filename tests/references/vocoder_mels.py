"""Naive float64 NumPy ports of the mel front ends of Vocos, Dasheng and BigVGAN (test-only: no torch).

Written from the sources, read once:

* :func:`vocos_mel`: vocos 0.1.0 (PyPI; identical on gemelo-ai/vocos ``main``,
  c859e3b), ``vocos/feature_extractors.py`` ``MelSpectrogramFeatures`` and
  ``vocos/modules.py`` ``safe_log``: ``torchaudio.transforms.MelSpectrogram(sample_rate, n_fft,
  hop_length=hop_length, n_mels=n_mels, center=padding == "center", power=1)`` (so
  ``win_length = n_fft``, periodic Hann, reflect padding, ``f_min=0``,
  ``f_max=sample_rate // 2``, HTK mel, no filter norm), then ``torch.log(torch.clip(x,
  min=1e-7))``.  With ``padding="same"`` the clip is first reflect-padded by
  ``(win_length - hop_length) // 2`` on each side and the transform runs with
  ``center=False``.  (An unmerged pull request, #47, changes the transform to
  ``f_max=8000``, Slaney mel and norm; released vocos does not.)
* :func:`dasheng_mel`: dasheng 0.0.9 (PyPI; the front end is unchanged from
  XiaoMi/dasheng 711a6da), ``dasheng/train/models.py`` ``AudioTransformerMAE_Encoder.front_end``::

      nn.Sequential(audio_transforms.MelSpectrogram(f_min=f_min, sample_rate=16000, win_length=win_size,
                                                    center=center, n_fft=n_fft, f_max=f_max,
                                                    hop_length=hop_size, n_mels=self.n_mels),
                    audio_transforms.AmplitudeToDB(top_db=kwargs.get('top_db', 120)))

  with ``n_fft=512, n_mels=64, hop_size=160, win_size=512, f_min=0,
  f_max=8000, center=True`` (power 2), and ``AmplitudeToDB`` is
  ``10 log10(max(x, 1e-10))`` floored at its maximum minus ``top_db``.  The
  model (``Dasheng.forward`` -> ``forward_to_spec``) runs it on a
  ``(batch, samples)`` tensor, and torchaudio's ``amplitude_to_DB`` takes ONE
  maximum over a 3-D ``(batch, mel, time)`` input: the floor is batch-wide.
  This port computes one clip alone (a batch of one); pass ``db_max`` to
  reproduce a clip inside a batch.  The model then applies ``init_bn``
  (``BatchNorm2d`` over the mel bins), which is model state, not front end.
* :func:`bigvgan_mel`: bigvgan 2.4.1 (PyPI; the same function as NVIDIA/BigVGAN
  7d2b454 ``meldataset.py``) ``mel_spectrogram``: reflect padding of
  ``(n_fft - hop_size) // 2`` on each side of a ``(batch, samples)`` tensor,
  ``torch.stft(center=center, pad_mode="reflect")`` with a periodic Hann window
  of ``win_size`` (centred in ``n_fft``), ``sqrt(re^2 + im^2 + 1e-9)``, the
  librosa Slaney mel filter bank ``librosa.filters.mel(sr=, n_fft=, n_mels=,
  fmin=, fmax=)`` (``fmax=None`` is ``sr / 2``; BigVGAN casts it to float32),
  then ``log(clamp(x, min=1e-5))``.  ``get_mel_spectrogram(wav, h)`` passes
  ``h.fmax`` and leaves ``center=False``.  HiFi-GAN's original (jik876/hifi-gan
  ``meldataset.py``) is the same computation but hard-codes
  ``torch.hann_window(1024)`` whatever ``win_size``, calls ``librosa_mel_fn``
  positionally and ``torch.stft`` without ``return_complex`` (both refused by
  current librosa and torch).

Torch computes in float32 where these ports compute in float64.  Each port
takes one 1-D clip and returns float64 ``(n_mels, frames)``.

Checked once, by hand, against the real packages (vocos 0.1.0, dasheng 0.0.9,
bigvgan 2.4.1, with torch 2.13 CPU, torchaudio 2.11, librosa 0.11, numpy 2.4)
by ``tests/references/check_vocoder_mels.py``: the real code run in float64
(clip as a float64 tensor, modules built with torch's default dtype float64 so
that torchaudio's window and filter bank are float64, BigVGAN's caches primed
with a float64 librosa filter bank and window) on noise, tones, speech-like,
near-silent and all-zero clips of 1025, 4001, 24000 and 24001 samples (and
the shortest accepted, 513 / 385; dasheng: 257, 1601, 16000, 16001, 16160),
for several configurations each.  Max abs difference from the float64 run:
vocos 7.4e-14 (log), bigvgan 6.3e-14 (log), dasheng 2.8e-13 dB with its
defaults and 2.5e-11 dB with 128 mels on its 512-point FFT, where the two
float64 filter banks' rounding (3.5e-14 absolute, torch's ``linspace`` against
NumPy's) weighs most.  The default float32 code is 2.0e-4 (vocos), 5.7e-5
(bigvgan), 1.9e-4 dB (dasheng defaults; 4.5e-3 dB at 128 mels) away.  The
ports refuse exactly the lengths the real code refuses (vocos 512 samples,
dasheng 256, bigvgan 384), and a clip of a batch matches :func:`dasheng_mel`
with ``db_max`` set to the batch's maximum (1.7e-13 dB), not alone (13 dB off
for a clip 60 dB quieter than its batch mate).
"""

from __future__ import annotations

import numpy as np

from tests.references.torchaudio_mel import hann_periodic, melscale_fbanks


def _clip(audio):
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"one 1-D clip expected, got shape {x.shape}")
    return x


def _reflect(x, pad):
    """``torch.nn.functional.pad(x, (pad, pad), mode="reflect")``, which needs ``pad < len(x)``."""
    if pad >= x.shape[0]:
        raise ValueError(f"reflect padding of {pad} needs a clip longer than {pad} samples, got {x.shape[0]}")
    return np.pad(x, pad, mode="reflect")  # reflect without repeating the edge sample, as torch


def stft(x, *, n_fft, hop_length, win_length, center):
    """``torch.stft(x, n_fft, hop_length, win_length, torch.hann_window(win_length), center, pad_mode="reflect")``.

    The periodic Hann window is zero-padded to ``n_fft``, centred
    (``(n_fft - win_length) // 2`` zeros on the left) as torch pads it.
    Returns the complex ``(frames, n_fft // 2 + 1)`` one-sided spectrum.
    """
    if center:
        x = _reflect(x, n_fft // 2)
    if x.shape[0] < n_fft:
        raise ValueError(f"a frame of {n_fft} samples needs at least {n_fft} (padded) samples, got {x.shape[0]}")
    left = (n_fft - win_length) // 2
    window = np.pad(hann_periodic(win_length), (left, n_fft - win_length - left))
    n_frames = 1 + (x.shape[0] - n_fft) // hop_length
    starts = hop_length * np.arange(n_frames)
    frames = x[starts[:, None] + np.arange(n_fft)[None, :]]
    return np.fft.rfft(frames * window, axis=-1)


def torchaudio_mel_spectrogram(
    audio,
    *,
    sample_rate,
    n_fft,
    win_length=None,
    hop_length=None,
    f_min=0.0,
    f_max=None,
    n_mels=128,
    power=2.0,
    center=True,
):
    """``torchaudio.transforms.MelSpectrogram`` (Hann window, HTK mel, no norm, reflect centering).

    Returns float64 ``(n_mels, frames)``: ``|STFT| ** power`` through the
    triangles of :func:`~tests.references.torchaudio_mel.melscale_fbanks`
    (``f_max=None`` is ``sample_rate // 2``).
    """
    x = _clip(audio)
    win_length = n_fft if win_length is None else win_length
    hop_length = win_length // 2 if hop_length is None else hop_length
    spec = np.abs(stft(x, n_fft=n_fft, hop_length=hop_length, win_length=win_length, center=center))
    if power != 1.0:
        spec = spec**power
    f_max = float(sample_rate // 2) if f_max is None else float(f_max)
    fb = melscale_fbanks(n_fft // 2 + 1, float(f_min), f_max, n_mels, sample_rate)
    return (spec @ fb).T


def vocos_mel(audio, *, sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100, padding="center"):
    """Vocos ``MelSpectrogramFeatures(sample_rate, n_fft, hop_length, n_mels, padding)(audio)`` for one clip.

    ``log(max(mel, 1e-7))`` of the power-1 (magnitude) torchaudio mel
    spectrogram, float64 ``(n_mels, frames)``: ``1 + n // hop_length`` frames
    with ``padding="center"`` (the clip must be longer than ``n_fft // 2``).
    """
    x = _clip(audio)
    if padding not in ("center", "same"):
        raise ValueError("Padding must be 'center' or 'same'.")
    if padding == "same":
        pad = n_fft - hop_length  # win_length - hop_length, win_length = n_fft
        x = _reflect(x, pad // 2)
    mel = torchaudio_mel_spectrogram(
        x,
        sample_rate=sample_rate,
        n_fft=n_fft,
        hop_length=hop_length,
        n_mels=n_mels,
        power=1.0,
        center=padding == "center",
    )
    return np.log(np.maximum(mel, 1e-7))


def dasheng_mel(
    audio,
    *,
    n_fft=512,
    win_size=512,
    hop_size=160,
    n_mels=64,
    f_min=0,
    f_max=8000,
    center=True,
    top_db=120.0,
    db_max=None,
):
    """Dasheng's ``front_end`` (power mel spectrogram at 16 kHz, then ``AmplitudeToDB(top_db=120)``) of one clip.

    Returns float64 dB ``(n_mels, frames)``:
    ``max(10 log10(max(mel, 1e-10)), db_max - top_db)`` where ``db_max`` is
    this clip's largest dB value unless given; the model's batched call uses
    the largest value of the whole batch.  ``top_db=None`` has no floor.  The
    transform's sample rate is fixed at 16000 by the model.
    """
    mel = torchaudio_mel_spectrogram(
        audio,
        sample_rate=16000,
        n_fft=n_fft,
        win_length=win_size,
        hop_length=hop_size,
        f_min=f_min,
        f_max=f_max,
        n_mels=n_mels,
        power=2.0,
        center=center,
    )
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))  # ref_value 1: db_multiplier log10(1) = 0
    if top_db is None:
        return db
    if db_max is None:
        if db.size == 0:
            return db
        db_max = db.max()
    return np.maximum(db, db_max - top_db)


def bigvgan_mel(
    audio,
    *,
    n_fft=1024,
    num_mels=100,
    sampling_rate=24000,
    hop_size=256,
    win_size=1024,
    fmin=0,
    fmax=None,
    center=False,
):
    """BigVGAN's ``meldataset.mel_spectrogram(audio[None], ...)`` for one clip, float64 ``(num_mels, frames)``.

    ``log(max(mel_basis @ sqrt(|STFT|^2 + 1e-9), 1e-5))`` with the librosa
    Slaney filter bank; the STFT runs on the clip reflect-padded by
    ``(n_fft - hop_size) // 2`` on both sides (so the clip must be longer than
    that pad), with torch's reflect centering on top when ``center``.  With the
    defaults there are ``(n - 256) // 256 + 1`` frames (``n // 256``).
    """
    import librosa  # the reference uses librosa's filter bank; imported here so the module imports without it

    x = _clip(audio)
    x = _reflect(x, (n_fft - hop_size) // 2)
    spec = stft(x, n_fft=n_fft, hop_length=hop_size, win_length=win_size, center=center)
    magnitude = np.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    mel_basis = librosa.filters.mel(
        sr=sampling_rate, n_fft=n_fft, n_mels=num_mels, fmin=fmin, fmax=fmax, dtype=np.float64
    )  # (num_mels, n_fft // 2 + 1); fmax None -> sr / 2
    return np.log(np.maximum(mel_basis @ magnitude.T, 1e-5))
