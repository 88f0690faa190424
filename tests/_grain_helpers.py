"""Importable helpers for tests/adapters/test_grain.py.

Grain's worker processes are spawned and receive the pipeline by cloudpickle,
so data sources and probe transforms must live in an importable module (a
light one: workers import it).
"""

from __future__ import annotations

import os
import time

import grain
import numpy as np

#: The configuration every Grain test uses (small, fast, non-default).
CONFIG = dict(fft_length=256, sequence_stride=128, num_mel_bins=32, sampling_rate=8000)
#: Samples per record: 13 frames with CONFIG.
SAMPLES = 1600


def audio(index: int, samples: int = SAMPLES, dtype=np.float32) -> np.ndarray:
    """Deterministic test audio for record ``index``."""
    rng = np.random.default_rng(index)
    t = np.arange(samples) / 8000.0
    return (0.4 * np.sin(2 * np.pi * (150.0 + 25.0 * index) * t) + 0.05 * rng.standard_normal(samples)).astype(dtype)


class Records:
    """A random-access source of ``{"audio", "label", "index"}`` records."""

    def __init__(self, num_records: int, samples: int = SAMPLES):
        self.num_records = num_records
        self.samples = samples

    def __len__(self) -> int:
        return self.num_records

    def __getitem__(self, index) -> dict:
        index = int(index)
        return {"audio": audio(index, self.samples), "label": np.int64(index % 3), "index": np.int64(index)}


class MakeAudio(grain.transforms.Map):
    """Index -> audio array, with Grain's element-spec hook (for ``MapDataset.range``)."""

    def __init__(self, samples: int = SAMPLES, as_dict: bool = False):
        self.samples = samples
        self.as_dict = as_dict

    def map(self, index):
        x = audio(int(index), self.samples)
        return {"audio": x, "index": np.int64(index)} if self.as_dict else x

    def output_spec(self, input_spec):
        spec = grain.experimental.ShapeDtypeStruct(shape=(self.samples,), dtype=np.float32)
        if self.as_dict:
            return {"audio": spec, "index": grain.experimental.ShapeDtypeStruct(shape=(), dtype=np.int64)}
        return spec


def _kernel_cache_stats() -> tuple[int, int]:
    """(hits, misses) of Numba's disk cache over melplug's kernels in this process."""
    from numba.core.dispatcher import Dispatcher

    from melplug import _kernels

    hits = misses = 0
    for obj in vars(_kernels).values():
        if isinstance(obj, Dispatcher):
            stats = obj.stats
            hits += sum(stats.cache_hits.values())
            misses += sum(stats.cache_misses.values())
    return hits, misses


class Probe(grain.transforms.Map):
    """Wraps a melplug Grain transform and records where and how it ran.

    Adds to each (mapping) element: the process id, whether Grain marked the
    process as a worker, the thread count the transform chose, this call's
    duration, whether it was the process's first call, and the kernel cache
    hits/misses after the call.
    """

    _first_done = False  # per process: class attributes are not pickled

    def __init__(self, mel):
        self.mel = mel

    def map(self, element):
        import melplug.grain

        first = not Probe._first_done
        Probe._first_done = True
        start = time.perf_counter()
        out = self.mel.map(element)
        seconds = time.perf_counter() - start
        hits, misses = _kernel_cache_stats()
        return {
            **out,
            "pid": np.int64(os.getpid()),
            "in_worker": np.bool_(melplug.grain.in_grain_worker()),
            "threads": np.int64(self.mel.threads_per_call or 0),
            "call_s": np.float64(seconds),
            "first_call": np.bool_(first),
            "cache_hits": np.int64(hits),
            "cache_misses": np.int64(misses),
        }
