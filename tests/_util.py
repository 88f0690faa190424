"""Test helpers: tolerances (stated once), deterministic test audio, comparisons, fresh interpreters."""

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


def assert_batching_consistent(fx, clips, dtype) -> None:
    """2-D, N-D and ragged input to ``fx`` give each clip's 1-D result bit for bit (floors are per clip).

    ``clips``: 1-D arrays of ``dtype``, the first one the longest.
    """
    singles = [fx(c) for c in clips]
    for clip, single in zip(clips, singles, strict=True):
        assert single.dtype == dtype
        assert single.shape == fx.compute_output_shape(clip.shape)
    ragged = fx(clips)
    assert isinstance(ragged, list)
    assert len(ragged) == len(clips)
    for got, single in zip(ragged, singles, strict=True):
        assert got.dtype == dtype
        assert got.shape == single.shape
        np.testing.assert_array_equal(got, single)
    long = clips[0]
    rows = np.stack([long, long[::-1] * dtype(0.5), np.roll(long, 1234)])
    batched = fx(rows)
    assert batched.dtype == dtype
    assert batched.shape == (3, *singles[0].shape)
    np.testing.assert_array_equal(batched[0], singles[0])
    for row, clip in zip(batched[1:], rows[1:], strict=True):
        np.testing.assert_array_equal(row, fx(clip))
    cube = fx(rows[[0, 1, 2, 0]].reshape(2, 2, -1))
    assert cube.dtype == dtype
    assert cube.shape == (2, 2, *singles[0].shape)
    np.testing.assert_array_equal(cube.reshape(batched[[0, 1, 2, 0]].shape), batched[[0, 1, 2, 0]])


def max_error(got: np.ndarray, expected: np.ndarray) -> float:
    """max |got - expected|, in float64 (0 for empty arrays)."""
    return float(np.abs(got.astype(np.float64) - expected.astype(np.float64)).max(initial=0.0))


def assert_within(got, want, tol, what):
    """Equal shapes, then max |got - want| <= ``tol``; the message names ``what`` and the worst element."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if got.size == 0:
        return
    err = np.abs(got.astype(np.float64) - want)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= tol, (
        f"{what}: max |diff| {err.max():.3g} > {tol:.3g} at {worst} (got {got[worst]}, expected {want[worst]})"
    )
