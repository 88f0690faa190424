"""Streams: chunks of one clip in, the frames that became final out (SPEC §8), equal to the offline call.

A :class:`FeatureStream` keeps the padded signal from the first frame not
yet returned (fewer than ``frame_length + hop_length`` samples after each
call) and the few raw samples a right-edge reflection needs.  The frames
that became final are computed by the extractor's own kernels as Kaldi
snip-edges frames of that padded stretch: the same window, FFT, mel and
logarithm per frame, so the concatenation of every ``accept`` and ``finish``
is the offline ``fx(clip)``.  Steps that need the whole clip (a per-clip
floor, normalisation, fixed lengths, stacking, deltas) are refused by name;
so, in this version, are dither and whole-signal pre-emphasis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["FeatureStream", "StreamPool", "causal_problem", "frames_ready"]

_REFLECT, _ZEROS = 0, 1  # the plan's pad_mode: 0 NumPy's reflect, 1 zeros, 2 torch's reflect


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
        (p.frame_rule != 0 or p.frame_multiple > 1 or p.pad_frames_to > 1, "the frame count depends on the end"),
        (p.pad_invalid, "pad_invalid_frames depends on the clip's length"),
        (p.signal_preemphasis != 0.0, "whole-signal pre-emphasis is not streamed yet"),
        (p.dither > 0.0, "dither is not streamed yet (pass dither=0)"),
    )
    for bad, why in checks:
        if bad:
            return why
    return None


def frames_ready(fx, num_samples: int) -> int:
    """Frames of a stream of ``fx`` that are final after ``num_samples`` samples, before its end."""
    p = fx.plan
    n = int(num_samples)
    if p.pad > 0 and p.pad_mode != _ZEROS and n <= p.pad:
        return 0  # the reflected left edge needs samples 1..pad
    return max(0, (n + p.pad - p.frame_length) // p.hop_length + 1)


class FeatureStream:
    """One clip fed in chunks: :meth:`accept` returns the frames that became final, :meth:`finish` the rest.

    Made by :meth:`melplug.FeatureExtractor.stream`.  Each result has the
    extractor's per-clip layout with ``k`` frames on its time axis (``k`` may
    be 0); all of them joined along that axis equal ``fx(clip)``.
    """

    def __init__(self, fx, *, _frames=None, _threads=None) -> None:
        self._fx = fx
        self._frames = _snip_extractor(fx) if _frames is None else _frames
        self._threads = _threads  # the kernels' threads per call (a pool's streams: 1)
        self._axis = 0 if fx.plan.frames_major else 1
        self.reset()

    def reset(self) -> None:
        """Start a new clip (the state of a fresh stream)."""
        self._n = 0  # samples accepted
        self._emitted = 0  # frames returned
        self._head = np.zeros(0)  # raw samples while the left edge cannot be padded yet
        self._padded: np.ndarray | None = None  # the padded signal from padded index self._p0 on
        self._p0 = 0
        self._tail = np.zeros(0)  # the last raw samples (for the right edge's reflection)
        self._dtype: Any = None
        self._finished = False

    # ----------------------------------------------------------------- feeding

    def accept(self, chunk) -> np.ndarray:
        """Take the next samples; return the frames that became final (maybe 0 of them)."""
        return self._take(self._chunk(chunk))

    def _take(self, x: np.ndarray) -> np.ndarray:
        """:meth:`accept` of a chunk :meth:`_chunk` has checked and converted."""
        self._n += x.shape[0]
        p = self._fx.plan
        keep = p.pad_end + 1
        self._tail = np.concatenate([self._tail, x])[-keep:]
        if self._padded is None:
            self._head = np.concatenate([self._head, x])
            if p.pad > 0 and p.pad_mode != _ZEROS and self._n <= p.pad:  # the reflected left edge needs pad + 1
                return self._empty()
            self._padded = np.concatenate([self._left_pad(self._head), self._head])
            self._head = np.zeros(0, self._dtype)
        else:
            self._padded = np.concatenate([self._padded, x])
        return self._emit(frames_ready(self._fx, self._n))

    def finish(self) -> np.ndarray:
        """The frames after the last :meth:`accept` (the right edge); a second call returns none."""
        if self._finished:
            return self._empty()
        self._finished = True
        total = self._fx.num_frames(self._n) if self._n else 0
        if self._padded is None:  # the clip never outgrew the left edge: compute it whole, as offline
            if self._n == 0:
                return self._empty()
            out = self._fx(self._head, num_threads=self._threads)
            self._emitted = total
            return out
        p = self._fx.plan
        self._padded = np.concatenate([self._padded, self._right_pad(p.pad_end)])
        return self._emit(total)

    # ----------------------------------------------------------------- internals

    def _chunk(self, chunk, where: str = "the chunk") -> np.ndarray:
        if self._finished:
            raise ValueError("accept() after finish(): call reset() to start a new clip")
        x = np.asarray(chunk)
        if x.ndim != 1 or x.dtype.kind not in "fiu":
            raise ValueError(f"accept() takes a 1-D chunk of real samples; received shape {x.shape}, dtype {x.dtype}")
        dtype = np.float64 if (self._fx.dtype == "float64" or x.dtype == np.float64) else np.float32
        if self._dtype is None:
            self._dtype = dtype
            self._head = self._head.astype(dtype)
            self._tail = self._tail.astype(dtype)
        x = x.astype(self._dtype, copy=False)
        bad = np.flatnonzero(~np.isfinite(x))
        if bad.size:
            raise ValueError(
                f"{where} holds NaN or Inf at sample {self._n + int(bad[0])} of the stream (index {int(bad[0])} of "
                "the chunk); the chunk was not consumed, the stream is unchanged"
            )
        return x

    def _left_pad(self, head: np.ndarray) -> np.ndarray:
        p = self._fx.plan
        if p.pad == 0:
            return head[:0]
        if p.pad_mode == _ZEROS:
            return np.zeros(p.pad, head.dtype)
        return head[p.pad : 0 : -1].copy()  # NumPy's and torch's reflection: samples pad .. 1

    def _right_pad(self, pad: int) -> np.ndarray:
        if pad == 0:
            return self._tail[:0]
        if self._fx.plan.pad_mode == _ZEROS:
            return np.zeros(pad, self._tail.dtype)
        return self._tail[-2 : -pad - 2 : -1].copy()  # the last samples but one, backwards

    def _emit(self, ready: int) -> np.ndarray:
        if ready <= self._emitted:
            return self._empty()
        p = self._fx.plan
        start = self._emitted * p.hop_length - self._p0
        stop = (ready - 1) * p.hop_length + p.frame_length - self._p0
        out = self._frames(np.ascontiguousarray(self._padded[start:stop]), num_threads=self._threads)
        self._emitted = ready
        drop = self._emitted * p.hop_length - self._p0  # samples no later frame reads
        self._padded = self._padded[drop:].copy()
        self._p0 += drop
        return out

    def _empty(self) -> np.ndarray:
        shape = list(self._fx.compute_output_shape((self._fx.plan.frame_length * 4,)))
        shape[self._axis] = 0
        return np.zeros(shape, dtype=self._dtype or np.float32)


def _snip_extractor(fx):
    """``fx``'s steps on frames cut from the padded signal (snip-edges framing); ``ValueError`` if not causal."""
    why = causal_problem(fx)
    if why is not None:
        raise ValueError(f"this extractor cannot stream: {why}")
    from .core import FeatureExtractor

    engine = dict(fx._engine_config, framing="snip_edges", left_pad=None, center_pad=None, pad_mode="reflect")
    return FeatureExtractor(**engine)


class StreamPool:
    """Many streams of one extractor, fed together: each call computes every stream given in one parallel call.

    Made by :meth:`melplug.FeatureExtractor.stream_pool`.  :meth:`open` gives a
    stream id; :meth:`accept` takes ids and one chunk each and returns, per id,
    exactly what that stream alone would return (streams never depend on which
    others share a call, nor on threads); :meth:`finish` gives their right
    edges; :meth:`close` forgets them.  Chunks are all checked before any is
    taken: a NaN in one is a ``ValueError`` naming its stream and sample, and
    no stream of that call changes.
    """

    def __init__(self, fx, num_threads: int | None = None) -> None:
        self._fx = fx
        self._frames = _snip_extractor(fx)
        self._threads = num_threads
        self._streams: dict[int, FeatureStream] = {}
        self._next = 0

    def __len__(self) -> int:
        return len(self._streams)

    def open(self) -> int:
        """A new stream's id."""
        sid = self._next
        self._next += 1
        self._streams[sid] = FeatureStream(self._fx, _frames=self._frames, _threads=1)
        return sid

    def accept(self, ids, chunks) -> list[np.ndarray]:
        """Feed ``chunks[k]`` to stream ``ids[k]``; per stream, the frames that became final."""
        streams = self._get(ids)
        chunks = list(chunks)
        if len(chunks) != len(streams):
            raise ValueError(f"accept() got {len(streams)} ids and {len(chunks)} chunks; pass one chunk per id")
        xs = [s._chunk(c, f"the chunk of stream {i}") for i, s, c in zip(ids, streams, chunks, strict=True)]
        from . import _parallel

        return _parallel.map_items(lambda k, s: s._take(xs[k]), streams, self._threads)

    def finish(self, ids) -> list[np.ndarray]:
        """The right edges of streams ``ids`` (each as its own :meth:`FeatureStream.finish`)."""
        from . import _parallel

        return _parallel.map_items(lambda k, s: s.finish(), self._get(ids), self._threads)

    def close(self, ids) -> None:
        """Forget streams ``ids``."""
        self._get(ids)
        for sid in ids:
            del self._streams[sid]

    def _get(self, ids) -> list[FeatureStream]:
        ids = list(ids)
        if len(set(ids)) != len(ids):
            raise ValueError(f"ids {ids} name a stream more than once; one chunk per stream and call")
        missing = [i for i in ids if i not in self._streams]
        if missing:
            raise ValueError(f"no open stream has id {missing[0]!r}; open streams: {len(self._streams)}")
        return [self._streams[i] for i in ids]
