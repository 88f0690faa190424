"""Deterministic test clips of the preset tests, float64 unless cast.

Two kinds: :func:`make_signal` (noise, tones, speech-like bursts with
silences, quiet), the clips of the whisper, kaldi, librosa, torchaudio and MFCC
tests; and :data:`SIGNALS` / :func:`make`, the clips of the ast and w2v-bert
tests and of the float64 Kaldi reference's own check.  Those keep every mel
band within ~70 dB of its frame's strongest one except where pre-emphasis, a
one-FFT-bin band or a random dip of noise push a band lower; float32 round-off
grows there.
"""

from __future__ import annotations

import numpy as np

DTYPES = [np.float32, np.float64]


def make_signal(kind: str, n: int, sr: int, seed: int) -> np.ndarray:
    """A deterministic float64 test clip of ``n`` samples at ``sr`` Hz.

    ``noise``: white noise.  ``tones``: three sines (one near Nyquist) and a
    50 Hz hum over a noise floor 40 dB down.  ``speech``: voiced bursts (a
    wobbling 90-150 Hz pitch, 40 harmonics with 1/k roll-off) and
    fricative-like noise bursts, with the hum and a noise floor 40 dB down,
    separated by digital silence, so that whole frames hit the log floors.
    ``quiet``: the same with the silences filled by noise 60 dB below the
    peak.  The hum and the noise floors keep a frame's bands within about
    70 dB of its strongest (a few transition frames reach 85 dB): further
    down, float32 round-off is of the order of the references' own
    disagreement.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    if kind == "noise":
        return 0.1 * rng.standard_normal(n)
    if kind == "tones":
        x = 0.3 * np.sin(2 * np.pi * 220.0 * t + 0.3) + 0.2 * np.sin(2 * np.pi * 1234.5 * t)
        x += 0.1 * np.sin(2 * np.pi * 0.43 * sr * t + 1.0) + 0.03 * np.sin(2 * np.pi * 50.0 * t)
        return x + 0.006 * rng.standard_normal(n)
    if kind not in ("speech", "quiet"):
        raise ValueError(kind)
    f0 = 120.0 + 30.0 * np.sin(2 * np.pi * 2.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    num_harmonics = min(40, int(sr / 2 / 150.0))
    hum = 0.03 * np.sin(2 * np.pi * 50.0 * t)  # mains hum: keeps the lowest Kaldi bands within ~70 dB
    x = np.zeros(n)
    start = int(rng.integers(0, max(1, sr // 20)))
    while start < n:
        length = int(rng.integers(sr // 12, sr // 4))
        stop = min(n, start + length)
        if rng.random() < 0.7:  # voiced: harmonics k = 1..40 of the pitch, amplitude 1/k
            z = np.exp(1j * phase[start:stop])
            zk, source = z.copy(), np.zeros(stop - start)
            for k in range(1, num_harmonics + 1):
                source += zk.imag / (3 * k)
                zk *= z
        else:  # fricative: differentiated (high-passed) noise
            source = 0.15 * np.diff(rng.standard_normal(stop - start + 1))
        envelope = np.sin(np.pi * (np.arange(stop - start) + 0.5) / length) ** 0.5
        x[start:stop] = source * envelope + hum[start:stop] + 0.01 * rng.standard_normal(stop - start)
        start = stop + int(rng.integers(sr // 20, sr // 6))
    if kind == "quiet":
        x += 10 ** (-60 / 20) * rng.standard_normal(n) * (x == 0)
    return x


def clips_of(spec, sr: int) -> dict:
    """Clips ``make_signal(kind, n, sr, seed=i)`` for ``spec = [(kind, n), ...]``, per dtype of :data:`DTYPES`."""
    clips = [make_signal(kind, n, sr, seed=i) for i, (kind, n) in enumerate(spec)]
    return {dtype: [c.astype(dtype) for c in clips] for dtype in DTYPES}


# --------------------------------------------------------------------------- the clips of the ast and w2v-bert tests


def noise(n, sr, seed):
    return 0.1 * np.random.default_rng(seed).standard_normal(n)


def tones(n, sr, seed):
    """Three steady tones over a noise floor ~20 dB below them, so no band sits at the window's leakage floor."""
    t = np.arange(n) / sr
    x = 0.3 * np.sin(2 * np.pi * 220.0 * t + 0.1) + 0.2 * np.sin(2 * np.pi * 1000.0 * t + 1.0)
    x += 0.1 * np.sin(2 * np.pi * 0.37 * sr * t + 2.0)
    return x + 3e-2 * np.random.default_rng(seed).standard_normal(n)


def speech(n, sr, seed):
    """Voiced bursts (gliding f0, 29 harmonics, breath noise) with gaps: digital silence, then a noise floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    phase = 2 * np.pi * np.cumsum(120.0 + 30.0 * np.sin(2 * np.pi * 3.0 * t)) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 30))
    env = np.sqrt(np.clip(np.sin(2 * np.pi * 2.5 * t), 0.0, None))
    x = 0.3 * env * (voiced + 0.05 * rng.standard_normal(n))
    quiet = (env == 0) & (t > 0.5 * t[-1])
    x[quiet] = 1e-3 * rng.standard_normal(quiet.sum())
    return x


SIGNALS = {"noise": noise, "tones": tones, "speech": speech}


def make(kind, n, sr, dtype, seed=0):
    return SIGNALS[kind](n, sr, seed + n).astype(dtype)
