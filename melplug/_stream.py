"""Streams: chunks of one clip in, the frames that became final out (SPEC §8), equal to the offline call.

Every stream's state is a row of a buffer (its padded signal from the first
sample a later frame reads) and five integers.  One call of
:func:`melplug._kernels._stream._stream_feed` appends the chunks of any
number of streams and copies each frame that became final, as its raw
samples, into the rows of one block; the extractor's own kernels then
compute that whole block in one call, framed as one frame per row (the
same window, FFT, mel and logarithm per frame as offline, on the same
compiled kernels), and each stream gets its rows back.  So a
:class:`StreamPool` call costs one Python call and one kernel call for all
its streams, and a :class:`FeatureStream` is a pool of one.  The
concatenation of every ``accept`` and ``finish`` is the offline
``fx(clip)`` bit for bit.

Steps that need the whole clip (a per-clip floor, normalisation, fixed
lengths, stacking, deltas) are refused by name.  Dither streams (its noise
is keyed on the frame's absolute index in the stream), and so does
whole-signal pre-emphasis (applied as samples arrive).
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

import numpy as np

from . import _driver, _geometry, _parallel
from ._kernels import _stream as _k
from ._plan import PackedPlan

__all__ = ["FeatureStream", "StreamPool", "causal_problem", "frames_ready"]

#: A pool's stream states (and a stream's dtype, once its first chunk came).
_CLOSED, _OPEN, _FINISHED = _k.CLOSED, _k.OPEN, _k.FINISHED
_CODES = {np.float32: 3, np.float64: 4}
_DTYPES = {code: dtype for dtype, code in _CODES.items()}
#: Samples a buffer row has beyond what a stream keeps (a longer chunk is taken in parts).
_ROOM = 4096
#: Samples of one pool call from which its streams are fed and computed on two threads (two halves).
PAIR_SAMPLES = 16384
#: Reads of its job flags a pool's helper spins for after a job (about half a millisecond) before it sleeps.
HOT_SPINS = 1 << 20


def causal_problem(fx) -> str | None:
    """Why ``fx`` cannot stream (the step and the causal alternative), or ``None`` if it can."""
    p, c = fx.plan, fx._engine_config
    if p.top_db < np.inf:
        return (
            f"top_db={c['top_db']!r} floors each clip at its maximum, known only at its end; pass top_db=None, or "
            "a fixed floor (log_min=..., as Voxtral Realtime's extractor uses)"
        )
    checks = (
        (p.normalize, "normalize=True normalises over the whole clip"),
        (p.out_frames > 0 or p.input_length > 0, "a fixed output length (output_frames/input_length) needs the end"),
        (
            p.input_min_length or p.input_pad_to or p.input_multiple > 1 or p.input_max_length,
            "input length options (input_min_length, input_pad_to, input_multiple, input_max_length) need the end",
        ),
        (p.stack_frames > 1 or p.delta_window > 0, "stacked frames and deltas read frames after each frame"),
        (
            p.frame_rule > 1 or p.frame_multiple > 1 or p.pad_frames_to > 1,
            "the frame count (frame_rule='ceil'/'lookahead', frame_multiple, pad_frames_to) adds frames past the end",
        ),
        (p.pad_invalid, "pad_invalid_frames depends on the clip's length"),
    )
    for bad, why in checks:
        if bad:
            return why
    return None


def _geo(p) -> np.ndarray:
    """The kernels' ``geo`` of plan ``p`` (see :mod:`melplug._kernels._stream`)."""
    if p.pad == 0 or p.pad_mode == _geometry.PAD_MODES["constant"]:
        left_need = 0
    else:  # the reflection reads samples 1..pad (Kaldi's: 0..pad - 1)
        left_need = p.pad if p.pad_mode == _geometry.PAD_MODES["symmetric"] else p.pad + 1
    dithers = p.dither > 0.0
    gains = dithers or p.signal_preemphasis != 0.0  # the gain is applied as frames are copied
    fields = [0] * 13
    fields[_k.PAD], fields[_k.HOP], fields[_k.FRAME], fields[_k.MODE] = p.pad, p.hop_length, p.frame_length, p.pad_mode
    fields[_k.LEFT_NEED], fields[_k.KEEP_RAW] = left_need, p.pad_end + 1  # the right edge reflects the last ones
    fields[_k.SEED], fields[_k.WIN_START], fields[_k.WIN_STOP] = p.dither_seed, p.win_start, p.win_stop
    fields[_k.DITHERS], fields[_k.PAD_END], fields[_k.RULE], fields[_k.GAINS] = dithers, p.pad_end, p.frame_rule, gains
    return np.array(fields, dtype=np.int64)


def frames_ready(fx, num_samples: int) -> int:
    """Frames of a stream of ``fx`` that are final after ``num_samples`` samples, before its end."""
    geo = _geo(fx.plan)
    n = int(num_samples)
    return 0 if n < geo[_k.LEFT_NEED] else int(_k._ready(n, geo))


class _Spec:
    """What every stream of one extractor shares: the frame extractor, the geometry, the output layout."""

    def __init__(self, fx) -> None:
        why = causal_problem(fx)
        if why is not None:
            raise ValueError(f"this extractor cannot stream: {why}")
        from .core import FeatureExtractor

        p = fx.plan
        self.fx = fx
        self.plan = p
        self.geo = _geo(p)
        # One frame per row: fx's steps with hop = frame (dither and the gain are applied as frames are copied).
        engine = dict(
            fx._engine_config,
            framing="snip_edges",
            left_pad=None,
            center_pad=None,
            pad_mode="reflect",
            frame_unit="samples",
            frame_length=p.frame_length,
            hop_length=p.frame_length,
            fft_length=p.fft_length,
            on_nonfinite="raise",
            empty_bands="ignore",  # fx itself has warned (or raised) about its empty bands
        )
        if self.geo[_k.GAINS]:  # dither, pre-emphasis and the gain are applied as frames are copied
            engine.update(dither=0.0, input_gain=1.0, signal_preemphasis=0.0)
        self.frames = FeatureExtractor(**engine)
        self.gains = np.array([p.input_gain, p.dither, p.signal_preemphasis])
        self.width = max(p.frame_length, int(self.geo[_k.KEEP_RAW]), 2 * p.pad + 1) + p.pad_end + _ROOM
        self.axis = 0 if p.frames_major else 1
        self.out_width = _geometry.out_width(self.frames.plan)
        self.packed = PackedPlan(self.frames.plan)  # the frames' plan as the kernels take it
        self._ticks: dict[Any, Any] = {}  # (kernel, compute dtype) -> its compiled entry point

    def most(self, threads: int | None) -> int:
        """Frames a tick computes in the calling thread (the driver's serial rule); more go to the threads."""
        if (_parallel.default_num_threads() if threads is None else threads) == 1:
            return 1 << 62
        return (_driver.SERIAL_WORK - 1) // self.plan.fft_length

    def entry(self, kernel, dtype, args: tuple):
        """``kernel``'s entry point for ``args`` (compute dtype ``dtype``), resolved once: no typing per call."""
        entry = self._ticks.get((kernel, dtype))
        if entry is None:
            entry = self._ticks[kernel, dtype] = _driver._entry_point(kernel, args)
        return entry

    def features(self, out: np.ndarray, G: np.ndarray, threads: int | None, where, status: int) -> np.ndarray:
        """A tick's result in the per-clip layout: ``out`` computed by the tick, else ``G`` computed here."""
        if status == -3:
            raise _overflow(G.dtype, where)
        if G.shape[0]:
            return self.compute(G, threads, where)
        return out.reshape(self.fx._example_shape(out.shape[0] // self.out_width))

    def __reduce__(self):
        return (spec_of, (self.fx,))  # shared by the unpickled extractor's streams (compiled entries are not pickled)

    def dtype_for(self, x: np.ndarray) -> type:
        return np.float64 if (self.fx.dtype == "float64" or x.dtype == np.float64) else np.float32

    def compute(self, G: np.ndarray, threads: int | None, where) -> np.ndarray:
        """The features of the frames in the rows of ``G``, in the per-clip layout (frames on ``axis``)."""
        shape = self.fx._example_shape(G.shape[0])
        if G.shape[0] == 0:
            return np.zeros(shape, dtype=G.dtype)
        out, flags = self.frames._driver.array(G.reshape(1, -1), threads)
        if flags is not None:
            raise _overflow(G.dtype, where)
        return out.reshape(shape)

    def split(self, out: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
        """``out``'s frames per stream (``counts`` each, in order), as views."""
        k = int(counts[0]) if counts.shape[0] else 0
        if counts.shape[0] and (counts == k).all():  # streams in step (equal chunks): one reshape, no loop
            if self.axis == 0:
                return list(out.reshape(counts.shape[0], k, *out.shape[1:]))
            return list(np.moveaxis(out.reshape(out.shape[0], counts.shape[0], k), 1, 0))
        ends = np.cumsum(counts).tolist()
        starts = [0, *ends[:-1]]
        if self.axis == 0:
            return [out[a:b] for a, b in zip(starts, ends, strict=True)]
        return [out[:, a:b] for a, b in zip(starts, ends, strict=True)]

    def empty(self, dtype) -> np.ndarray:
        return np.zeros(self.fx._example_shape(0), dtype=dtype or np.float32)


def spec_of(fx) -> _Spec:
    """``fx``'s :class:`_Spec`, made once (its streams share it; ``ValueError`` if ``fx`` cannot stream)."""
    spec = fx._streams
    if spec is None:
        spec = fx._streams = _Spec(fx)
    return spec


class _Rows:
    """The state of streams of one dtype: a buffer row and five integers each (see the kernel module)."""

    def __init__(self, spec: _Spec, dtype, slots: int = 1) -> None:
        self.spec = spec
        self.dtype = dtype
        self.buf = np.zeros((slots, spec.width), dtype=dtype)
        self.state = np.zeros((slots, 5), dtype=np.int64)
        self.last = np.zeros(slots, dtype=dtype)  # each stream's last raw sample (whole-signal pre-emphasis)
        self.free = list(range(slots - 1, -1, -1))
        for r in range(slots):
            self.reset(r)

    def add(self) -> int:
        if not self.free:
            slots = self.buf.shape[0]
            self.buf = np.concatenate([self.buf, np.zeros_like(self.buf)])
            self.state = np.concatenate([self.state, np.zeros_like(self.state)])
            self.last = np.concatenate([self.last, np.zeros_like(self.last)])
            self.free = list(range(2 * slots - 1, slots - 1, -1))
        r = self.free.pop()
        self.reset(r)
        return r

    def release(self, r: int) -> None:
        self.free.append(r)

    def reset(self, r: int) -> None:
        self.state[r] = 0
        self.state[r, _k.BLEN] = self.spec.plan.pad  # the left edge's place, written once it can be
        self.buf[r, : self.spec.plan.pad] = 0.0

    def feed(self, rows: np.ndarray, x: np.ndarray, begin: np.ndarray, end: np.ndarray):
        """The kernel call: ``(G, counts, bad)`` (see :func:`melplug._kernels._stream._stream_feed`)."""
        return _k._stream_feed(self.buf, self.state, self.last, rows, x, begin, end, self.spec.geo, self.spec.gains)

    def tick(self, ids, life, code, rowmap, stamps, stamp: int, x: np.ndarray, begin, end, threads: int | None):
        """One kernel call for ids, feeding and (up to the serial size) computing: ``(out, G, counts, status)``.

        See :func:`melplug._kernels._stream._stream_tick`; ``x`` must be C-contiguous and writeable.
        """
        spec = self.spec
        want = _CODES[self.dtype]
        args = (ids, life, code, rowmap, stamps, stamp, want, self.buf, self.state, self.last, x, begin, end)
        args = (*args, spec.geo, spec.gains, spec.packed.value, spec.most(threads))
        return spec.entry(_k._stream_tick, self.dtype, args)(*args)

    def tick_pair(self, helper: _Helper, ids, life, code, rowmap, stamps, stamp: int, x: np.ndarray, begin, end):
        """:meth:`tick` on two threads: ``(pieces, status)``, the frames of each stream (``None`` unless status is -1).

        The checks run first, for every stream (:func:`melplug._kernels._stream._tick_check`); then the
        caller feeds and computes the first half of the streams while ``helper`` does the second
        (:func:`melplug._kernels._stream._stream_pair`), into blocks sized by a bound on their frames.
        """
        spec, p = self.spec, self.spec.plan
        checks = (ids, life, code, rowmap, stamps, stamp, _CODES[self.dtype], x, begin, end)
        rows, status = spec.entry(_k._tick_check, self.dtype, checks)(*checks)
        if status != -1:
            return None, status
        k, w = ids.shape[0], spec.out_width
        h = k // 2
        # A stream gains at most (c + reach) // hop + 2 frames from c samples (reach: what its first frame waits
        # for); a half has at most the call's samples.
        reach = max(p.frame_length, 2 * p.pad + 1)
        cap = (int((end - begin).sum()) + (k - h) * reach) // p.hop_length + 3 * (k - h)
        out = np.empty((2, cap * w), self.dtype)
        counts = np.empty((2, k - h), np.int64)
        done = np.zeros(2, np.int64)
        helper.wake()
        helper.seq += 1
        args = (helper.ctl, helper.seq, rows, self.buf, self.state, self.last, x, begin, end)
        args = (*args, spec.geo, spec.gains, spec.packed.value, h, out, counts, done)
        spec.entry(_k._stream_pair, self.dtype, args)(*args)
        if helper.ctl[_k.FAILED] == helper.seq:
            raise RuntimeError(
                f"the stream pool's helper thread failed ({helper.failure[0]}) while computing streams "
                f"{ids[h:].tolist()[:10]}...: those streams took their chunks but lost their frames; close them"
            )
        pieces: list[np.ndarray] = []
        for half, m in ((0, h), (1, k - h)):
            n = int(done[half])
            if n == -4:
                raise RuntimeError("melplug bug: a stream tick's frames outgrew their bound; please report it")
            if n == -3:
                raise _overflow(self.dtype, lambda: f"streams {ids.tolist()}")
            pieces += spec.split(out[half, : n * w].reshape(spec.fx._example_shape(n)), counts[half, :m])
        return pieces, -1

    def held(self, r: int) -> int:
        """Samples stream ``r`` holds (its padded signal from the first sample a later frame reads)."""
        return int(self.state[r, _k.BLEN])

    def finish(self, rows: list[int], threads: int | None) -> list[np.ndarray]:
        """Each stream's frames after its last accepted sample (the right edge), as offline; one kernel call."""
        spec, p = self.spec, self.spec.plan
        rows_ = np.asarray(rows, dtype=np.int64)
        totals = np.asarray(_geometry.plan_frames(p, self.state[rows_, _k.N])[0], dtype=np.int64)
        G, counts = _k._stream_finish(self.buf, self.state, rows_, totals, spec.geo, spec.gains)
        edges = np.flatnonzero(counts >= 0)
        outs: list[Any] = [None] * len(rows)
        if edges.shape[0]:
            pieces = spec.split(spec.compute(G, threads, lambda: "the streams' last frames"), counts[edges])
            for k, piece in zip(edges.tolist(), pieces, strict=True):
                outs[k] = piece
        for k in np.flatnonzero(counts < 0).tolist():  # empty, or short: every raw sample is still held
            r = rows[k]
            n, emitted, p0 = (int(v) for v in self.state[r, :3])
            if n == 0:
                outs[k] = spec.empty(self.dtype)
                continue
            out = spec.fx(self.buf[r, p.pad - p0 : p.pad - p0 + n].copy(), num_threads=threads)
            self.state[r, _k.EMITTED] = spec.fx.num_frames(n)
            outs[k] = out[emitted:] if spec.axis == 0 else out[:, emitted:]
        return outs


def _rows_in_place(block: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, begin, end)``: row ``k`` of the 2-D ``block`` is ``x[begin[k]:end[k]]``, read in place when it can be.

    Rows that are contiguous in the compute dtype (e.g. ``audio[:, t:t + 160]`` of a C-contiguous array) are
    read where they are, through a 1-D view spanning them; other blocks are copied once.
    """
    rows, size = block.shape
    item = block.itemsize
    step = block.strides[0] // item if item else 0
    if rows and block.dtype == dtype and block.strides[1] == item and block.strides[0] % item == 0 and step >= size:
        flat = np.lib.stride_tricks.as_strided(block, shape=((rows - 1) * step + size,), strides=(item,))
    else:
        flat, step = np.ascontiguousarray(block, dtype=dtype).reshape(-1), size
    begin = np.arange(rows, dtype=np.int64) * step
    return flat, begin, begin + size


def _check_chunk(chunk, where: str) -> np.ndarray:
    x = chunk if type(chunk) is np.ndarray else np.asarray(chunk)
    if x.ndim != 1 or x.dtype.kind not in "fiu":
        raise ValueError(f"{where} must be a 1-D array of real samples; received shape {x.shape}, dtype {x.dtype}")
    return x


def _writeable(x: np.ndarray) -> np.ndarray:
    """``x``, copied if it is read-only (the compiled tick is resolved once, for writeable arrays)."""
    return x if x.flags.writeable else x.copy()


def _overflow(dtype, where) -> ValueError:
    return ValueError(
        f"the features of {where()} are not finite although its samples are: they overflow "
        f"{np.dtype(dtype).name} (samples of magnitude ~1e19 or more); the stream has moved past these samples"
    )


def _nonfinite(where: str, at: int, index: int) -> ValueError:
    return ValueError(
        f"{where} holds NaN or Inf at sample {at + index} of the stream (index {index} of the chunk); "
        "the chunk was not consumed, the stream is unchanged"
    )


class FeatureStream:
    """One clip fed in chunks: :meth:`accept` returns the frames that became final, :meth:`finish` the rest.

    Made by :meth:`melplug.FeatureExtractor.stream`.  Each result has the
    extractor's per-clip layout with ``k`` frames on its time axis (``k`` may
    be 0); all of them joined along that axis equal ``fx(clip)``.  The
    stream holds fewer than ``frame_length + hop_length`` samples (and, for a
    reflected right edge, at least its last ``pad_end + 1``), never the frames
    it returned.  It pickles mid-stream.
    """

    def __init__(self, fx) -> None:
        self._spec = spec_of(fx)
        self._rows: _Rows | None = None  # made by the first chunk, in its compute dtype
        self._zero = np.zeros(1, dtype=np.int64)  # the stream's id, its row and its chunk's start
        self._life = np.full(1, _OPEN, dtype=np.int8)  # a pool of one, as the tick kernel reads pools
        self._code = np.zeros(1, dtype=np.int8)
        self._stamps = np.zeros(1, dtype=np.int64)
        self._finished = False

    def reset(self) -> None:
        """Start a new clip (the state of a fresh stream)."""
        self._rows = None
        self._finished = False

    @property
    def num_samples(self) -> int:
        """Samples accepted so far."""
        return 0 if self._rows is None else int(self._rows.state[0, _k.N])

    @property
    def held(self) -> int:
        """Samples the stream holds now (fewer than ``frame_length + hop_length``, or the short clip so far)."""
        return 0 if self._rows is None else self._rows.held(0)

    def accept(self, chunk) -> np.ndarray:
        """Take the next samples; return the frames that became final (maybe 0 of them)."""
        if self._finished:
            raise ValueError("accept() after finish(): call reset() to start a new clip")
        x = _check_chunk(chunk, "the chunk")
        rows = self._rows
        if rows is None:
            rows = self._rows = _Rows(self._spec, self._spec.dtype_for(x))
            self._code[0] = _CODES[rows.dtype]
        x = _writeable(np.ascontiguousarray(x, dtype=rows.dtype))
        self._stamps[0] = 0  # the tick marks the id as seen: one stream, never named twice
        threads = self._spec.fx._config["num_threads"]
        args = (self._zero, self._life, self._code, self._zero, self._stamps, 1, x, self._zero)
        out, G, counts, status = rows.tick(*args, np.array([x.shape[0]], dtype=np.int64), threads)
        if status >= 0:
            raise _nonfinite("the chunk", self.num_samples, status)
        return self._spec.features(out, G, threads, lambda: "the stream", status)

    def finish(self) -> np.ndarray:
        """The frames after the last :meth:`accept` (the right edge); a second call returns none."""
        if self._finished or self._rows is None:
            self._finished = True
            return self._spec.empty(None if self._rows is None else self._rows.dtype)
        self._finished = True
        return self._rows.finish([0], self._spec.fx._config["num_threads"])[0]


class _Helper:
    """The thread that computes the second half of a pool's large ticks (:func:`melplug._kernels._stream._serve`).

    After each job it spins for the next one about half a millisecond, so that
    ticks that follow each other find it awake (waking a sleeping thread
    costs 50-100 us on a VM), then sleeps on an event until a tick wakes
    it.  A tick whose half it has not claimed when the caller's half is
    done is computed by the caller: nothing ever waits on a sleeping
    thread.  Stopped when its pool is dropped; a forked child starts its own.
    """

    def __init__(self, spec: _Spec, dtype) -> None:
        self.ctl = np.zeros(_k.CTL_SIZE, dtype=np.int64)
        self.seq = 0
        self._args = (self.ctl, spec.geo, spec.gains, spec.packed.value, np.zeros(0, dtype), HOT_SPINS)
        self._serve = spec.entry(_k._serve, dtype, self._args)
        self._event = threading.Event()
        self._pid = -1
        self.failure: list[str | None] = [None]  # what its thread raised, if it ended on a failure

    def wake(self) -> None:
        if self._pid != os.getpid() or self.failure[0] is not None:  # the first tick, a forked child's
            # (threads do not survive a fork), or after the thread failed a job
            self.failure = [None]
            self._pid = os.getpid()
            # Every job posted so far is settled (a fork from another thread may have copied one in flight).
            self.ctl[[_k.SEQ, _k.TAKEN, _k.DONE]] = self.seq
            self.ctl[[_k.AWAKE, _k.STOP, _k.FAILED]] = 0
            self._event = threading.Event()
            target = (self._event, self._serve, self._args, self.failure)
            threading.Thread(target=_help, args=target, name="melplug-stream", daemon=True).start()
        if self.ctl[_k.AWAKE] == 0:
            self._event.set()

    def stop(self) -> None:
        self.ctl[_k.STOP] = 1
        self._event.set()


def _help(event: threading.Event, serve, args: tuple, failure: list) -> None:
    """A helper thread's life: serve jobs (a nogil kernel) each time it is woken, until stopped.

    If serving raises (a ``MemoryError``), the job it had claimed is marked failed (the caller waiting
    for it raises) and the thread ends: the pool's next large tick starts another.
    """
    ctl = args[0]
    while True:
        event.wait()
        event.clear()
        if ctl[_k.STOP]:
            return
        try:
            serve(*args)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller through ctl, which raises
            failure[0] = f"{type(exc).__name__}: {exc}"
            ctl[_k.AWAKE] = 0
            ctl[_k.FAILED] = ctl[_k.TAKEN]
            return


class StreamPool:
    """Many streams of one extractor, fed together: each call computes every stream given in one parallel call.

    Made by :meth:`melplug.FeatureExtractor.stream_pool`.  :meth:`open` gives a
    stream id; :meth:`accept` takes ids and one chunk each (a list of 1-D
    arrays, or a 2-D array with one row per id) and returns, per id, exactly
    what that stream alone would return (streams never depend on which
    others share a call, nor on threads); :meth:`finish` gives their right
    edges; :meth:`close` forgets them.  Chunks are all checked before any is
    taken: a NaN in one is a ``ValueError`` naming its stream and sample, and
    no stream of that call changes.  The results of one call are views of
    one block (copy one to keep it apart).
    """

    def __init__(self, fx, num_threads: int | None = None) -> None:
        self._spec = spec_of(fx)
        self._threads = num_threads
        self._sets: dict[Any, _Rows] = {}  # compute dtype -> the rows of streams of that dtype
        # Per id: _CLOSED, _OPEN or _FINISHED; its dtype's code (0 before its first chunk); its row there.
        self._life = np.zeros(0, dtype=np.int8)
        self._code = np.zeros(0, dtype=np.int8)
        self._row = np.zeros(0, dtype=np.int64)
        self._seen = np.zeros(0, dtype=np.int64)  # scratch of the duplicate check
        self._helpers: dict[Any, _Helper] = {}  # compute dtype -> the thread of its large ticks' second halves
        self._stamps = np.zeros(0, dtype=np.int64)  # per id, the last tick that named it (the kernel's check)
        self._stamp = 0
        self._ids = 0
        self._open = 0

    def __len__(self) -> int:
        return self._open

    def open(self) -> int:
        """A new stream's id."""
        sid = self._ids
        if sid == self._life.shape[0]:  # room for twice as many ids
            grow = max(sid, 16)
            self._life = np.concatenate([self._life, np.zeros(grow, np.int8)])
            self._code = np.concatenate([self._code, np.zeros(grow, np.int8)])
            self._row = np.concatenate([self._row, np.full(grow, -1, np.int64)])
            self._seen = np.zeros(self._life.shape[0], dtype=np.int64)
            self._stamps = np.concatenate([self._stamps, np.zeros(grow, np.int64)])
        self._life[sid] = _OPEN
        self._ids += 1
        self._open += 1
        return sid

    def accept(self, ids, chunks) -> list[np.ndarray]:
        """Feed ``chunks[k]`` to stream ``ids[k]``; per stream, the frames that became final."""
        if type(chunks) is np.ndarray and chunks.ndim == 2 and chunks.shape[0] and chunks.dtype.kind in "fiu":
            # The steady state (a block of chunks for streams already fed, of one dtype): one kernel call
            # checks the ids, feeds and computes; anything else takes the checks below.
            arr = ids if type(ids) is np.ndarray else np.asarray(ids) if type(ids) is list else None
            if arr is not None and arr.dtype == np.int64 and arr.shape == chunks.shape[:1] and arr.flags.c_contiguous:
                rows = self._sets.get(self._spec.dtype_for(chunks))
                if rows is not None and arr.flags.writeable:
                    got = self._tick(rows, arr, chunks)
                    if got is not None:
                        return got
        return self._accept(ids, chunks)

    def _tick(self, rows: _Rows, ids: np.ndarray, block: np.ndarray) -> list[np.ndarray] | None:
        """:meth:`accept` in one kernel call, or ``None`` (nothing changed) if an id needs :meth:`_accept`."""
        flat, begin, end = _rows_in_place(block, rows.dtype)
        self._stamp += 1
        args = (ids, self._life, self._code, self._row, self._stamps, self._stamp, _writeable(flat), begin, end)
        threads = _parallel.default_num_threads() if self._threads is None else self._threads
        pieces = None
        if threads > 1 and ids.shape[0] > 1 and flat.shape[0] >= PAIR_SAMPLES:
            pieces, status = rows.tick_pair(self._helper(rows.dtype), *args)
        else:
            out, G, counts, status = rows.tick(*args, threads)
        if status == -2:
            return None
        if status >= 0:
            raise self._bad_chunk(ids, begin, end, status)
        if pieces is not None:
            return pieces
        return self._spec.split(self._spec.features(out, G, threads, lambda: f"streams {ids.tolist()}", status), counts)

    def _bad_chunk(self, ids: np.ndarray, begin: np.ndarray, end: np.ndarray, bad: int) -> ValueError:
        """The error for a NaN/Inf at index ``bad`` of the samples of chunks ``[begin, end)`` of ``ids``."""
        k = int(np.flatnonzero((begin <= bad) & (bad < end))[0])
        sid = int(ids[k])
        return _nonfinite(f"the chunk of stream {sid}", self._samples(sid), bad - int(begin[k]))

    def _accept(self, ids, chunks) -> list[np.ndarray]:
        """:meth:`accept` with every check in Python: new streams, mixed dtypes, lists of chunks, errors."""
        ids = self._check_ids(ids)
        life = self._life[ids]
        if (life == _FINISHED).any():
            done = int(ids[np.flatnonzero(life == _FINISHED)[0]])
            raise ValueError(f"stream {done} is finished: accept() after finish(); close it and open another")
        block = type(chunks) is np.ndarray and chunks.ndim == 2
        if block:
            _check_chunk(chunks[:0].ravel(), "each row of chunks")
            if chunks.shape[0] != ids.shape[0]:
                raise ValueError(f"accept() got {ids.shape[0]} ids and {chunks.shape[0]} chunks; one row per id")
            dtypes = [self._spec.dtype_for(chunks)]
        else:
            chunks = [_check_chunk(c, f"the chunk of stream {i}") for i, c in zip(ids.tolist(), chunks, strict=False)]
            if len(chunks) != ids.shape[0]:
                raise ValueError(f"accept() got {ids.shape[0]} ids and {len(chunks)} chunks; pass one chunk per id")
            dtypes = [self._spec.dtype_for(x) for x in chunks]
        # A stream's dtype is its first chunk's; later chunks are converted to it.
        code = self._code[ids]
        codes = np.where(code == 0, np.array([_CODES[d] for d in dtypes], dtype=np.int8), code)
        groups = codes[:1] if (codes == codes[0]).all() else np.unique(codes)
        if groups.shape[0] > 1:  # check every chunk first: no stream changes if one is bad
            for k in range(ids.shape[0]):
                x = chunks[k]
                bad = np.flatnonzero(~np.isfinite(x))
                if bad.size:
                    raise _nonfinite(f"the chunk of stream {ids[k]}", self._samples(int(ids[k])), int(bad[0]))
        results: list[Any] = [None] * ids.shape[0]
        for code in groups.tolist():
            dtype = _DTYPES[code]
            ks = np.flatnonzero(codes == code) if groups.shape[0] > 1 else None
            mine = ids if ks is None else ids[ks]
            rows = self._rows_of(dtype, mine)
            if block:
                flat, begin, end = _rows_in_place(chunks if ks is None else chunks[ks], dtype)
            else:
                part = chunks if ks is None else [chunks[k] for k in ks.tolist()]
                sizes = np.fromiter((x.shape[0] for x in part), dtype=np.int64, count=len(part))
                end = np.cumsum(sizes)
                begin = end - sizes
                flat = np.concatenate(part).astype(dtype, copy=False) if part else np.zeros(0, dtype)
            G, counts, bad = rows.feed(self._row[mine], flat, begin, end)
            if bad >= 0:
                raise self._bad_chunk(mine, begin, end, bad)
            out = self._spec.compute(G, self._threads, lambda mine=mine: f"streams {mine.tolist()}")
            pieces = self._spec.split(out, counts)
            if ks is None:
                return pieces
            for k, piece in zip(ks.tolist(), pieces, strict=True):
                results[k] = piece
        return results

    def finish(self, ids) -> list[np.ndarray]:
        """The right edges of streams ``ids`` (each as its own :meth:`FeatureStream.finish`)."""
        ids = self._check_ids(ids)
        out: list[Any] = [None] * ids.shape[0]
        for code, dtype in _DTYPES.items():
            ks = np.flatnonzero((self._code[ids] == code) & (self._life[ids] == _OPEN)).tolist()
            if ks:
                rows = self._row[ids[ks]].tolist()
                for k, part in zip(ks, self._sets[dtype].finish(rows, self._threads), strict=True):
                    out[k] = part
        for k, sid in enumerate(ids.tolist()):
            if out[k] is None:  # finished already, or never fed
                out[k] = self._spec.empty(_DTYPES.get(int(self._code[sid])))
        self._life[ids] = _FINISHED
        return out

    def _helper(self, dtype) -> _Helper:
        helper = self._helpers.get(dtype)
        if helper is None:
            helper = self._helpers[dtype] = _Helper(self._spec, dtype)
            weakref.finalize(self, helper.stop)
        return helper

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_helpers": {}}  # threads are not pickled: a copy starts its own

    def close(self, ids) -> None:
        """Forget streams ``ids``."""
        for sid in self._check_ids(ids).tolist():
            code = int(self._code[sid])
            if code:
                self._sets[_DTYPES[code]].release(int(self._row[sid]))
            self._life[sid] = _CLOSED
            self._code[sid] = 0
            self._open -= 1

    def _rows_of(self, dtype, ids: np.ndarray) -> _Rows:
        """The rows of ``dtype``'s streams, ``ids``' fresh streams given theirs."""
        rows = self._sets.get(dtype)
        if rows is None:
            rows = self._sets[dtype] = _Rows(self._spec, dtype, slots=max(ids.shape[0], 1))
        fresh = ids[self._code[ids] == 0]
        for sid in fresh.tolist():
            self._row[sid] = rows.add()
        self._code[fresh] = _CODES[dtype]
        return rows

    def _samples(self, sid: int) -> int:
        code = int(self._code[sid])
        return int(self._sets[_DTYPES[code]].state[self._row[sid], _k.N]) if code else 0

    def _check_ids(self, ids) -> np.ndarray:
        try:
            arr = np.asarray(ids)
        except (TypeError, ValueError):
            arr = np.asarray([], dtype=object)
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise ValueError(f"ids must be a sequence of stream ids from open(); received {ids!r:.100}")
        arr = arr.astype(np.int64, copy=False)
        if arr.shape[0] == 0:
            return arr
        if arr.min() < 0 or arr.max() >= self._ids or (self._life[arr] == _CLOSED).any():
            known = (arr >= 0) & (arr < self._ids)
            open_ = np.zeros(arr.shape[0], dtype=bool)
            open_[known] = self._life[arr[known]] != _CLOSED
            missing = int(arr[np.flatnonzero(~open_)[0]])
            raise ValueError(f"no open stream has id {missing!r}; open streams: {self._open}")
        seen, order = self._seen, np.arange(arr.shape[0])
        seen[arr] = order  # a repeated id keeps its last place only
        if not (seen[arr] == order).all():
            raise ValueError(f"ids {arr[:10].tolist()} name a stream more than once; one chunk per stream and call")
        return arr
