"""Driver layer: runs a plan's kernels over arrays and clip lists, on melplug's threads.

A :class:`Driver` belongs to one plan.  For each call it describes where the
signals are and where their outputs go (a :class:`~melplug._kernels.Layout`,
cached per shape for array input), splits the work units between threads of
equal cost, runs phase 1 on every unit, reduces per-example flags and floor
peaks once, and runs phase 2 only when something needs it (a floor spanning
several units, the batch floor, NaN propagation), then the rarer steps where
the plan has them (deferred cepstra, normalisation, expansion): a kernel each
(:mod:`melplug._kernels._phases`), loaded or compiled when first needed.  It
never validates: the core hands it C-contiguous arrays in the compute dtype.

Memory: the output plus one scratch block per thread; the input is
read where it lies, a ragged list included (nothing is concatenated; only a
clip that is not already contiguous in the compute dtype is converted).  One
exception: cepstra under a ``top_db`` floor (librosa's MFCC) keep the mel
bands of clips longer than one block until the clip's maximum is known, a
stash of ``num_mel_bins / num_ceps`` times the output.
"""

from __future__ import annotations

import gc
from typing import NamedTuple

import numpy as np

from . import _geometry, _kernels, _parallel
from ._kernels import Layout
from ._plan import MelPlan, PackedPlan

__all__ = ["SERIAL_WORK", "Driver"]

#: Below this many frame samples (frames x fft_length) a call runs in the
#: calling thread: waking pool threads would cost more than it saves.
SERIAL_WORK = 1 << 17


class _Work(NamedTuple):
    """A layout (``x_addr`` relative to the first signal for array input) and its cost model."""

    layout: Layout
    costs: np.ndarray  # frames per unit
    frames: int  # all frames
    out_size: int
    spans: bool  # a top_db floor needs more than one unit (_kernels.floor_spans_units): phase 2 applies it
    frameless: bool  # some example is too short for one frame
    scratch_size: int  # elements of the stash of deferred cepstra (0: none needed)


def _offsets(sizes: np.ndarray) -> np.ndarray:
    """Start of each block of ``sizes`` elements laid end to end."""
    off = np.zeros(len(sizes), dtype=np.int64)
    np.cumsum(sizes[:-1], out=off[1:])
    return off


def _work(x_rel, x_len, plan: MelPlan) -> _Work:
    computed, rows = _geometry.plan_frames(plan, x_len)
    computed = np.broadcast_to(computed, x_len.shape).astype(np.int64)
    sizes = _geometry.out_width(plan) * np.broadcast_to(rows, x_len.shape).astype(np.int64)
    unit_ex, unit_f0, first_unit = _kernels._units(computed, plan.block_frames)
    costs = np.minimum(computed[unit_ex] - unit_f0, plan.block_frames)
    x_eff = np.broadcast_to(_geometry.framed_length(plan, x_len), x_len.shape).astype(np.int64)
    if plan.dither == 0.0 and (x_eff > x_len).any():
        # Frames that read only a clip's zero extension (Whisper's 30 s) are computed once per unit and copied
        # (_kernels._silent_from): count them as an eighth of a frame, so threads get equal work, not frames.
        lead = plan.pad - plan.win_start  # frame f reads from f * hop - lead
        real = np.where(x_eff > x_len, np.clip(-(-(x_len + lead) // plan.hop_length), 0, computed), computed)
        live = np.clip(real[unit_ex] - unit_f0, 0, costs)
        costs = live + (costs - live + 7) // 8
    spans = bool(_kernels.floor_spans_units(plan, computed.max()))
    stash = np.zeros(0, dtype=np.int64)
    if spans and _kernels.deferred_cepstra(plan):
        stash = (plan.num_mel_bins + plan.energy_c0) * computed
    s_off = _offsets(stash) if stash.size else np.zeros(len(x_len), dtype=np.int64)
    n_valid = np.broadcast_to(_geometry.valid_count(plan, x_len, computed), x_len.shape).astype(np.int64)
    stage = np.broadcast_to(_geometry.stage_rows(plan, computed), x_len.shape).astype(np.int64)
    offsets = _offsets(sizes)
    layout = Layout(x_rel, x_len, computed, offsets, unit_ex, unit_f0, first_unit, s_off, x_eff, n_valid, stage)
    return _Work(
        layout,
        costs,
        int(computed.sum()),
        int(sizes.sum()),
        spans,
        bool(computed.min() == 0),
        int(stash.sum()),
    )


class Driver:
    """Runs :class:`~melplug.MelPlan` ``plan``'s kernels; thread-safe (no per-call state is kept).

    Every call, an array's or a ragged list's, goes through :meth:`_run`, the
    one home of the phase sequence.  The kernels are called through their
    compiled entry points, resolved once per compute dtype (no per-call
    typing of the plan's many fields), and the bookkeeping of an array shape
    is made once (:class:`_Work`), so pipelines that repeat one shape pay
    only for the kernels.

    Parameters
    ----------
    plan : MelPlan
    """

    def __init__(self, plan: MelPlan) -> None:
        self.plan = plan
        self._packed = PackedPlan(plan)  # what the kernels take (one record; the arrays by address)
        # Arrays cast once per compute dtype (read-only, shared by all threads).
        self._cast = {
            dt: (plan.window.astype(dt), plan.band_weights.astype(dt), plan.dct.astype(dt))
            for dt in (np.float32, np.float64)
        }
        self._works: dict[tuple[int, int, int], _Work] = {}
        self._entries: dict = {}  # (kernel, dtype) -> compiled entry point

    def num_frames(self, num_samples):
        """Output frames for signals of ``num_samples`` samples (int or integer array)."""
        return _geometry.plan_frames(self.plan, num_samples)[1]

    def array(self, x: np.ndarray, threads: int | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Features of the rows of ``x`` (C-contiguous ``(batch, samples)``, compute dtype).

        Returns the flat output (``batch`` examples end to end, each in the
        plan's layout) and the per-example flags (``None`` when no example is
        flagged).
        """
        batch, n = x.shape
        key = (batch, n, x.itemsize)
        work = self._works.get(key)
        if work is None:  # pipelines repeat shapes: the bookkeeping arrays are reused
            x_len = np.full(batch, n, dtype=np.int64)
            x_rel = np.arange(batch, dtype=np.int64) * (n * x.itemsize)
            work = _work(x_rel, x_len, self.plan)
            if len(self._works) >= 64:
                self._works.clear()
            self._works[key] = work
        layout = work.layout._replace(x_addr=work.layout.x_addr + x.ctypes.data)
        out = np.empty(work.out_size, dtype=x.dtype)
        return out, self._run(layout, work, out, threads, x)

    def clips(self, clips: list[np.ndarray], dtype, threads: int | None):
        """Features of 1-D clips of any lengths, in one parallel call.

        Returns ``(out, flags, o_off, rows)``: the flat output, the flags
        (or ``None``), where each clip's result starts in ``out`` and its
        output frames.
        """
        # Read in place: only clips not already contiguous in the compute dtype are converted.
        arrays = [np.ascontiguousarray(c, dtype=dtype) for c in clips]
        x_len = np.fromiter((a.shape[0] for a in arrays), dtype=np.int64, count=len(arrays))
        x_addr = np.fromiter((a.ctypes.data for a in arrays), dtype=np.int64, count=len(arrays))
        work = _work(x_addr, x_len, self.plan)
        out = np.empty(work.out_size, dtype=dtype)
        flags = self._run(work.layout, work, out, threads, arrays)
        rows = np.broadcast_to(self.num_frames(x_len), x_len.shape)
        return out, flags, work.layout.o_off, rows

    def _entry(self, kernel, args: tuple):
        """``kernel``'s compiled entry point for ``args`` (without the range), resolved once per dtype."""
        key = (kernel, args[1].dtype)  # args[1] is the output: its dtype is the compute dtype
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _entry_point(kernel, (*args, 0, 0))
        return entry

    def _run(self, layout: Layout, work: _Work, out: np.ndarray, threads: int | None, signals) -> np.ndarray | None:
        """Phase 1 on every unit, then (only when needed) the flags, peaks and phases 2, 3 and 4.

        ``signals`` (the 2-D input or the list of clips) is only read here for
        examples too short for any frame, which no unit covers.
        """
        plan = self.plan
        window, weights, dct = self._cast[out.dtype.type]
        if threads is None:
            threads = _parallel.default_num_threads()
        n_units = len(layout.unit_ex)
        unit_max = np.empty(n_units)
        unit_bad = np.zeros(n_units, dtype=np.uint8)
        serial = threads == 1 or work.frames * plan.fft_length < SERIAL_WORK
        bounds = (0, n_units) if serial else _parallel.split(work.costs, min(threads, n_units))
        scratch = np.empty(work.scratch_size, dtype=out.dtype)  # mel bands of deferred cepstra
        record = self._packed.value
        args = (layout, out, scratch, record, window, weights, dct, unit_max, unit_bad)
        _parallel.run(self._entry(_kernels._mel_units, args), bounds, *args)
        extra = self._frameless(layout, out, signals) if work.frameless else None
        any_bad = bool(unit_bad.any()) or extra is not None
        finish_args = (layout, out, record, unit_max, unit_bad)  # phases 2 to 4 but deferred cepstra
        cepstra_args = (layout, out, scratch, record, dct, unit_max, unit_bad)
        flags = None
        if any_bad:
            flags = np.zeros(len(layout.n_frames), dtype=np.uint8)
            hit = np.flatnonzero(unit_bad)
            np.bitwise_or.at(flags, layout.unit_ex[hit], unit_bad[hit])
            if extra is not None:
                flags |= extra
            if not plan.propagate_nonfinite:
                return flags  # the caller raises: no need to finish
        if any_bad or work.spans:
            _parallel.run(self._entry(_kernels._finish, finish_args), bounds, *finish_args)
        if work.scratch_size:  # deferred cepstra (librosa's MFCC of clips longer than a unit)
            _parallel.run(self._entry(_kernels._finish_cepstra, cepstra_args), bounds, *cepstra_args)
        n = len(layout.n_frames)
        ex_bounds = (0, n) if serial or n == 1 else _parallel.split(layout.n_frames + 1, min(threads, n))
        if plan.normalize:  # needs whole examples: split by example, about equal frames each
            _parallel.run(self._entry(_kernels._finish_normalize, finish_args), ex_bounds, *finish_args)
        if _geometry.expands(plan):  # deltas, gathered rows: whole examples too
            _parallel.run(self._entry(_kernels._finish_expand, finish_args), ex_bounds, *finish_args)
        return flags

    def _frameless(self, layout: Layout, out: np.ndarray, signals) -> np.ndarray | None:
        """Examples too short for one frame (Kaldi's framing): no unit covers them.

        Their output (empty, or ``out_frames`` of padding) is written and their
        samples are checked here; returns per-example flags, or ``None`` if
        all are finite.
        """
        plan = self.plan
        flags = None
        for e in np.flatnonzero(layout.n_frames == 0).tolist():
            o = int(layout.o_off[e])
            size = _geometry.out_width(plan) * int(self.num_frames(int(layout.x_len[e])))
            out[o : o + size] = plan.pad_value
            if not np.isfinite(signals[e]).all():
                if flags is None:
                    flags = np.zeros(len(layout.n_frames), dtype=np.uint8)
                flags[e] = _kernels.BAD_INPUT
                if plan.propagate_nonfinite:
                    out[o : o + size] = np.nan
        return flags


def raise_nonfinite(flags: np.ndarray | None, where, what: str, dtype) -> None:
    """A ``ValueError`` naming the first flagged example (``where(index)``), if any is flagged."""
    if flags is None or not flags.any():
        return
    first = int(np.flatnonzero(flags)[0])
    count = int(np.count_nonzero(flags))
    bad_input = bool(flags[first] & _kernels.BAD_INPUT)
    raise ValueError(_geometry.nonfinite_message(bad_input, where(first), count, len(flags), what, dtype))


def _entry_point(kernel, args: tuple):
    """``kernel``'s compiled function for the types of ``args`` (compiled or loaded now if needed).

    Calling it skips the dispatcher's typing of every argument (microseconds
    for the plan's many fields), so it must only get arguments of those exact
    types.  A kernel that is not a Numba dispatcher is returned as it is.
    """
    typeof = getattr(kernel, "typeof_pyval", None)
    if typeof is None or not hasattr(kernel, "compile"):
        return kernel
    signature = tuple(typeof(a) for a in args)
    # A compile makes millions of short-lived objects, many in cycles: the cyclic collector's passes over
    # them cost a tenth of a cold compile.  It resumes afterwards.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return kernel.compile(signature)
    finally:
        if collecting:
            gc.enable()
