"""Test helpers: tolerances (stated once) and deterministic test audio."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

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


def run_python(code: str, env: dict | None = None, timeout: int = 300, cwd=ROOT) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (melplug from this checkout); assert it exits 0."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc
