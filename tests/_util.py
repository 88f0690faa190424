"""Test helpers: tolerances (stated once) and deterministic test audio."""

from __future__ import annotations

import numpy as np

#: melplug vs the float64 reference, in dB, per output dtype.
DB_TOL = {np.float32: 0.01, np.float64: 1e-6}
#: Level below which an rfft bin is rounding noise, relative to the largest amplitude a bin can
#: take (max |x| * sum |window|), per dtype; values above it are within DB_TOL of exact.
FFT_RESOLUTION = {np.float32: 1e-3, np.float64: 1e-7}
#: melplug float32 vs Keras float32: each within 0.01 dB of exact (Keras ~0.008).
KERAS_DB_TOL = 0.02


def make_audio(shape, seed=0, dtype=np.float32):
    """Speech-like test audio: a chirp, a tone and noise, deterministic."""
    rng = np.random.default_rng(seed)
    n = shape[-1]
    t = np.arange(n) / 16000.0
    base = 0.5 * np.sin(2 * np.pi * (200 + 1500 * t) * t) + 0.2 * np.sin(2 * np.pi * 880 * t)
    audio = base + 0.05 * rng.standard_normal(shape)
    return audio.astype(dtype)
