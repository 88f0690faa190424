"""Functions run in worker processes by tests/integration/test_pipeline_safety.py (importable for spawn)."""

from __future__ import annotations

import time

import numpy as np


def compute(args):
    """Compute with a (pickled) MelSpectrogram; report time and Numba cache stats."""
    mel, audio = args
    from melplug import _kernels

    t0 = time.perf_counter()
    out = mel(audio)
    elapsed = time.perf_counter() - t0
    stats = {
        name: (
            int(sum(getattr(_kernels, name).stats.cache_hits.values())),
            int(sum(getattr(_kernels, name).stats.cache_misses.values())),
        )
        for name in ("_mel_serial", "_mel_units")
    }
    return np.asarray(out), elapsed, stats
