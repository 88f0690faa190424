"""Driver layer: runs a plan's kernels over arrays and clip lists, on melplug's threads.

A :class:`Driver` belongs to one plan.  For each call it describes where the
signals are and where their outputs go (a :class:`Layout`, cached per shape
for array input), splits the work units between threads of equal cost,
runs phase 1 on every unit, reduces per-example flags and floor peaks once,
and runs phase 2 only when something needs it (a floor spanning several
units, the batch floor, NaN propagation).  It never validates: the core
hands it C-contiguous arrays in the compute dtype.

Memory (SPEC §4): the output plus one scratch block per thread; the input is
read where it lies, a ragged list included (nothing is concatenated; only a
clip that is not already contiguous in the compute dtype is converted).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _kernels, _parallel, _plan
from ._plan import MelPlan

__all__ = ["SERIAL_WORK", "Driver", "Layout"]

#: Below this many frame samples (frames x fft_length) a call runs in the
#: calling thread: waking pool threads would cost more than it saves.
SERIAL_WORK = 1 << 17


class Layout(NamedTuple):
    """Where the signals and their outputs are, and the work units: what the kernels read.

    Attributes
    ----------
    x_addr : ndarray of int64, shape (examples,)
        Address of each signal's first sample (compute dtype, contiguous).
    x_len, n_frames, o_off : ndarray of int64, shape (examples,)
        Samples, frames and output offset (in elements of the flat output) of
        each signal; its ``(num_mel_bins, n_frames)`` result is row-major there.
    unit_ex, unit_f0 : ndarray of int64, shape (units,)
        Work unit ``u`` is frames ``[unit_f0[u], unit_f0[u] + block_frames)``
        (clipped) of signal ``unit_ex[u]``.
    first_unit : ndarray of int64, shape (examples,)
        Each signal's first unit (its units are consecutive).
    """

    x_addr: np.ndarray
    x_len: np.ndarray
    n_frames: np.ndarray
    o_off: np.ndarray
    unit_ex: np.ndarray
    unit_f0: np.ndarray
    first_unit: np.ndarray


class _Work(NamedTuple):
    """A layout (``x_addr`` relative to the first signal for array input) and its cost model."""

    layout: Layout
    costs: np.ndarray  # frames per unit
    frames: int  # all frames
    out_size: int
    max_frames: int


def _work(x_rel, x_len, n_frames, num_mel_bins: int, block_frames: int) -> _Work:
    sizes = num_mel_bins * n_frames
    o_off = np.zeros(len(n_frames), dtype=np.int64)
    np.cumsum(sizes[:-1], out=o_off[1:])
    unit_ex, unit_f0, first_unit = _kernels._units(n_frames, block_frames)
    costs = np.minimum(n_frames[unit_ex] - unit_f0, block_frames)
    layout = Layout(x_rel, x_len, n_frames, o_off, unit_ex, unit_f0, first_unit)
    return _Work(layout, costs, int(n_frames.sum()), int(sizes.sum()), int(n_frames.max()))


class Driver:
    """Runs :class:`~melplug.MelPlan` ``plan``'s kernels; thread-safe (no per-call state is kept).

    Parameters
    ----------
    plan : MelPlan
    """

    def __init__(self, plan: MelPlan) -> None:
        self.plan = plan
        # Arrays cast once per compute dtype (read-only, shared by all threads).
        self._cast = {dt: (plan.window.astype(dt), plan.band_weights.astype(dt)) for dt in (np.float32, np.float64)}
        self._works: dict[tuple[int, int, int], _Work] = {}

    def num_frames(self, num_samples):
        """Frames for signals of ``num_samples`` samples (int or integer array)."""
        return _plan.num_frames(num_samples, self.plan.fft_length, self.plan.sequence_stride)

    def array(self, x: np.ndarray, threads: int | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Mel spectrograms of the rows of ``x`` (C-contiguous ``(batch, samples)``, compute dtype).

        Returns the flat output (``batch * num_mel_bins * frames``, row-major
        ``(batch, num_mel_bins, frames)``) and the per-example flags (``None``
        when no example is flagged).
        """
        batch, n = x.shape
        key = (batch, n, x.itemsize)
        work = self._works.get(key)
        if work is None:  # pipelines repeat shapes: the bookkeeping arrays are reused
            x_len = np.full(batch, n, dtype=np.int64)
            x_rel = np.arange(batch, dtype=np.int64) * (n * x.itemsize)
            work = _work(x_rel, x_len, self.num_frames(x_len), self.plan.num_mel_bins, self.plan.block_frames)
            if len(self._works) >= 64:
                self._works.clear()
            self._works[key] = work
        layout = work.layout._replace(x_addr=work.layout.x_addr + x.ctypes.data)
        out = np.empty(work.out_size, dtype=x.dtype)
        return out, self._run(layout, work, out, threads)

    def clips(self, clips: list[np.ndarray], dtype, threads: int | None):
        """Mel spectrograms of 1-D clips of any lengths, in one parallel call.

        Returns ``(out, flags, o_off, n_frames)``: the flat output, the flags
        (or ``None``) and where each clip's ``(num_mel_bins, n_frames[i])``
        result starts in ``out``.
        """
        # Read in place: only clips not already contiguous in the compute dtype are converted.
        arrays = [np.ascontiguousarray(c, dtype=dtype) for c in clips]
        x_len = np.fromiter((a.shape[0] for a in arrays), dtype=np.int64, count=len(arrays))
        x_addr = np.fromiter((a.ctypes.data for a in arrays), dtype=np.int64, count=len(arrays))
        n_frames = self.num_frames(x_len)
        work = _work(x_addr, x_len, n_frames, self.plan.num_mel_bins, self.plan.block_frames)
        out = np.empty(work.out_size, dtype=dtype)
        flags = self._run(work.layout, work, out, threads)
        del arrays  # the kernels are done reading them
        return out, flags, work.layout.o_off, n_frames

    def _run(self, layout: Layout, work: _Work, out: np.ndarray, threads: int | None) -> np.ndarray | None:
        """Phase 1 on every unit, then (only when needed) the flags, peaks and phase 2."""
        plan = self.plan
        window, weights = self._cast[out.dtype.type]
        if threads is None:
            threads = _parallel.default_num_threads()
        n_units = len(layout.unit_ex)
        unit_max = np.empty(n_units)
        unit_bad = np.zeros(n_units, dtype=np.uint8)
        if threads == 1 or work.frames * plan.fft_length < SERIAL_WORK:
            bounds = (0, n_units)
        else:
            bounds = _parallel.split(work.costs, min(threads, n_units))
        _parallel.run(_kernels._mel_units, bounds, layout, out, plan, window, weights, unit_max, unit_bad)
        any_bad = bool(unit_bad.any())
        floored = plan.power_to_db and plan.top_db < np.inf
        # A unit that is a whole example floored itself in phase 1.
        spans = floored and (plan.batch_top_db or work.max_frames > plan.block_frames)
        if not (any_bad or spans):
            return None
        flags, peaks = _kernels._summarise(layout, unit_max, unit_bad, plan.batch_top_db)
        if any_bad and not plan.propagate_nonfinite:
            return flags  # the caller raises: no need to finish
        _parallel.run(_kernels._finish_units, bounds, layout, out, plan, peaks, flags)
        return flags if any_bad else None


def raise_nonfinite(flags: np.ndarray | None, where, what: str, dtype) -> None:
    """A ``ValueError`` naming the first flagged example (``where(index)``), if any is flagged."""
    if flags is None or not flags.any():
        return
    first = int(np.flatnonzero(flags)[0])
    count = int(np.count_nonzero(flags))
    if flags[first] & _kernels.BAD_INPUT:
        problem = "contains NaN or Inf samples"
        fix = "clean the audio"
    else:
        problem = (
            f"gives non-finite values although its samples are finite: they are too large for {np.dtype(dtype).name} "
            "arithmetic (the power overflows)"
        )
        fix = "scale the audio down (samples are usually in [-1, 1]) or pass dtype='float64'"
    raise ValueError(
        f"{where(first)} {problem} ({count} of {len(flags)} {what} affected); {fix}, or pass "
        f"on_nonfinite='propagate' to get NaN output for such {what}"
    )
