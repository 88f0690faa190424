"""Streams: chunks appended to per-stream buffers, and the frames that became final gathered into one block.

A stream's buffer row holds its padded signal from padded index ``p0`` on
(``state[r] = n, emitted, p0, blen, started``).  :func:`_stream_feed`
appends one chunk per stream and copies every frame that became final, as
``frame_length`` raw samples, into the rows of one block ``G``; the caller
computes all of them with the extractor's kernels in one call, framed with
``hop_length = frame_length`` (each row one frame).  Whole-signal
pre-emphasis is applied as samples arrive (the row holds the emphasised
signal; ``last[r]`` is the stream's last raw sample), and dither is added
as frames are copied, keyed on the frame's absolute index in its stream,
both with the input gain where :func:`._frames._fill_frames` applies it
offline.

A pool call is one compiled call: :func:`_stream_tick` checks the ids
(:func:`_tick_rows`) and the chunks, feeds and computes the frames with
:func:`._phases._mel_into`.  A large call is split in two halves
(:func:`_stream_pair`): the caller posts the second half in the pool's
``ctl`` array (the addresses of its arrays, a release store of the job's
number), computes the first, and then either claims the second itself
(compare-and-swap) or waits for the pool's helper thread
(:func:`_serve`), which claims posted jobs while it spins.

``geo`` (int64): pad, hop, frame, pad mode, samples the left edge needs,
raw samples kept for the right edge, dither seed, window start, window
stop, dither on, padding after the signal, the plan's frame rule (0 every frame of the framing, 1 ``n //
hop``: the last dropped, as Whisper's and Voxtral's STFTs), the gain applied as frames are copied (with
dither or pre-emphasis).  ``gains`` (float64): input gain, dither, whole-signal pre-emphasis.
"""

from __future__ import annotations

import numba
import numpy as np

from .. import _geometry
from .._jit import jit, jit_internal
from ._frames import _frame_key, _gauss_pair, _reflect, _symmetric
from ._layout import _claim, _load_acquire, _pointer, _store_release
from ._phases import _mel_into

#: A pool's stream states (its ``life`` codes).
CLOSED, OPEN, FINISHED = 0, 1, 2
#: ``state`` columns.
N, EMITTED, P0, BLEN, STARTED = range(5)
#: ``geo`` entries.
PAD, HOP, FRAME, MODE, LEFT_NEED, KEEP_RAW, SEED, WIN_START, WIN_STOP, DITHERS, PAD_END, RULE, GAINS = range(13)


@jit
def _ready(n, geo):
    """Frames final after ``n`` samples (the left edge padded): those whose last sample has arrived."""
    if n == 0:
        return 0
    k = (n + geo[PAD] - geo[FRAME]) // geo[HOP] + 1
    if geo[RULE] == 1:  # n // hop frames in all: frame f is kept once f < n // hop
        k = min(k, n // geo[HOP])
    return k if k > 0 else 0


@jit_internal
def _copy_frames(src, p0, f0, f1, geo, gains, G, g):
    """Frames ``[f0, f1)`` of the padded signal held in ``src`` from padded index ``p0`` into rows ``G[g:]``."""
    hop = geo[HOP]
    fl = geo[FRAME]
    ws = geo[WIN_START]
    width = geo[WIN_STOP] - ws
    for f in range(f0, f1):
        s = f * hop - p0
        row = G[g + f - f0]
        seg = src[s : s + fl]
        if geo[GAINS] == 0:
            for i in range(fl):
                row[i] = seg[i]
            continue
        # As _fill_frames: the sample times the input gain, then the noise of (seed, frame, place).
        gain = row.dtype.type(gains[0])
        for i in range(fl):
            row[i] = seg[i] * gain
        if geo[DITHERS] == 0:
            continue
        dither = gains[1]
        part = row[ws : ws + width]
        key = _frame_key(geo[SEED], f)
        for p in range(width // 2):
            c, sn = _gauss_pair(key, p)
            part[2 * p] += dither * c
            part[2 * p + 1] += dither * sn
        if width % 2:
            part[width - 1] += dither * _gauss_pair(key, width // 2)[0]


@jit_internal
def _padding(b, at, first, n, count, mode, raw0):
    """Write ``b[at:at + count]``: raw positions ``first...`` outside a clip of ``n`` samples, as offline pads.

    Zeros (``mode`` 1), or the samples :func:`._frames._sample` reads there (Kaldi's symmetric
    reflection for 3, NumPy's otherwise); raw sample ``i`` is held at ``b[raw0 + i]``.
    """
    for j in range(count):
        if mode == 1:
            b[at + j] = 0.0
        else:
            i = _symmetric(first + j, n) if mode == 3 else _reflect(first + j, n)
            b[at + j] = b[raw0 + i]


@jit_internal
def _first_bad(x, x_begin, x_end):
    """The index in ``x`` of the first NaN/Inf of the chunks ``x[x_begin[i]:x_end[i]]``, or -1."""
    zero = x.dtype.type(0.0)
    for i in range(x_begin.shape[0]):
        part = x[x_begin[i] : x_end[i]]
        acc = zero
        for j in range(part.shape[0]):
            acc += part[j] * zero
        if acc != zero:
            for j in range(part.shape[0]):
                if not np.isfinite(part[j]):
                    return x_begin[i] + j
    return -1


@jit
def _stream_feed(buf, state, last, rows, x, x_begin, x_end, geo, gains):
    """Append ``x[x_begin[i]:x_end[i]]`` to stream ``rows[i]``; return ``(G, counts, bad)``.

    ``G`` holds the frames that became final, stream after stream, and
    ``counts[i]`` how many are stream ``i``'s.  ``bad`` is the index in ``x``
    of the first NaN/Inf, or -1; then no stream has changed and ``G`` is empty.
    """
    k = rows.shape[0]
    counts = np.zeros(k, dtype=np.int64)
    bad = _first_bad(x, x_begin, x_end)
    if bad >= 0:
        return np.empty((0, geo[FRAME]), dtype=buf.dtype), counts, bad
    total = 0
    for i in range(k):
        st = state[rows[i]]
        n = st[N] + x_end[i] - x_begin[i]
        ready = _ready(n, geo) if (st[STARTED] or n >= geo[LEFT_NEED]) else 0
        counts[i] = max(ready - st[EMITTED], 0)
        total += counts[i]
    G = np.empty((total, geo[FRAME]), dtype=buf.dtype)
    cap = buf.shape[1]
    pad = geo[PAD]
    g = 0
    for i in range(k):
        r = rows[i]
        st = state[r]
        b = buf[r]
        pos = x_begin[i]
        end = x_end[i]
        while True:
            take = min(cap - st[BLEN], end - pos)
            dst = b[st[BLEN] : st[BLEN] + take]
            src = x[pos : pos + take]
            if gains[2] == 0.0:
                for j in range(take):
                    dst[j] = src[j]
            elif take > 0:  # y[i] = x[i] - p x[i - 1], y[0] = x[0], as _fill_frames computes it
                p = x.dtype.type(gains[2])
                dst[0] = src[0] - p * last[r] if st[N] > 0 else src[0]
                for j in range(1, take):
                    dst[j] = src[j] - p * src[j - 1]
                last[r] = src[take - 1]
            st[BLEN] += take
            st[N] += take
            pos += take
            if not st[STARTED] and st[N] >= geo[LEFT_NEED]:  # the row holds raw sample i at b[pad + i]
                _padding(b, 0, -geo[PAD], st[N], geo[PAD], geo[MODE], geo[PAD])
                st[STARTED] = 1
            if st[STARTED]:
                ready = _ready(st[N], geo)
                if ready > st[EMITTED]:
                    _copy_frames(b, st[P0], st[EMITTED], ready, geo, gains, G, g)
                    g += ready - st[EMITTED]
                    st[EMITTED] = ready
                # Keep what a later frame reads and the raw samples the right edge reflects.
                p0 = min(st[EMITTED] * geo[HOP], st[N] + pad - geo[KEEP_RAW])
                drop = p0 - st[P0]
                if drop > 0:
                    keep = st[BLEN] - drop
                    for j in range(keep):
                        b[j] = b[j + drop]
                    st[BLEN] = keep
                    st[P0] = p0
            if pos >= end:
                break
    return G, counts, -1


@jit
def _stream_finish(buf, state, rows, totals, geo, gains):
    """The right edges of streams ``rows`` of ``totals`` frames: ``(G, counts)``, their last frames in turn.

    A stream still holding its first sample (``p0 <= pad``: a short clip, computed whole by the caller,
    whose reflections may need more than one turn) or empty is left as it is, with ``counts[i] = -1``;
    with zero padding, or none, every stream takes this path.  The others are padded after their last sample (the
    plan's reflection, Kaldi's, or zeros) and marked as having given every frame.
    """
    k = rows.shape[0]
    counts = np.zeros(k, dtype=np.int64)
    pad, e, fl = geo[PAD], geo[PAD_END], geo[FRAME]
    total = 0
    for i in range(k):
        st = state[rows[i]]
        if st[N] == 0 or (st[P0] <= pad and geo[MODE] != 1 and pad + e > 0):
            counts[i] = -1
            continue
        counts[i] = totals[i] - st[EMITTED]
        total += max(counts[i], 0)
    G = np.empty((total, fl), dtype=buf.dtype)
    g = 0
    for i in range(k):
        if counts[i] < 0:
            continue
        st = state[rows[i]]
        b = buf[rows[i]]
        # The row holds raw sample i at b[pad - p0 + i] (the last ones: p0 > pad keeps KEEP_RAW of them).
        _padding(b, st[BLEN], st[N], st[N], e, geo[MODE], pad - st[P0])
        _copy_frames(b, st[P0], st[EMITTED], st[EMITTED] + counts[i], geo, gains, G, g)
        g += counts[i]
        st[EMITTED] += counts[i]
    return G, counts


@jit_internal
def _tick_rows(ids, life, code, rowmap, stamps, stamp, want):
    """The rows of streams ``ids`` and -1, or no rows and -2 when an id needs the caller's checks.

    An id needs them when it is not open, its dtype code is not ``want``
    (or it was never fed), or it is named twice (``stamps[s] = stamp``
    marks the ids seen in this call).
    """
    k = ids.shape[0]
    rows = np.empty(k, dtype=np.int64)
    for i in range(k):
        s = ids[i]
        if s < 0 or s >= life.shape[0] or life[s] != OPEN or code[s] != want or stamps[s] == stamp:
            return rows[:0], -2
        stamps[s] = stamp
        rows[i] = rowmap[s]
    return rows, -1


@jit
def _stream_tick(
    ids, life, code, rowmap, stamps, stamp, want, buf, state, last, x, x_begin, x_end, geo, gains, plan, most
):
    """One pool call: stream ``ids[i]`` takes ``x[x_begin[i]:x_end[i]]``; ``(out, G, counts, status)``.

    ``status`` is -2 when an id needs the caller's checks (:func:`_tick_rows`):
    nothing has changed.  Else it is :func:`_stream_feed`'s ``bad`` (a
    NaN's index in ``x``, nothing changed; or -1).  Fed, the frames that
    became final are computed here with the frame plan ``plan`` into ``out``
    (flat, in its layout) when there are at most ``most`` of them (the
    caller computes ``G`` on its threads otherwise, and ``out`` is empty);
    ``status`` is then -3 if their features are not finite (an overflow:
    the caller raises).
    """
    empty = np.empty(0, dtype=buf.dtype)
    rows, status = _tick_rows(ids, life, code, rowmap, stamps, stamp, want)
    if status == -2:
        return empty, np.empty((0, geo[FRAME]), dtype=buf.dtype), rows, -2
    G, counts, bad = _stream_feed(buf, state, last, rows, x, x_begin, x_end, geo, gains)
    if bad >= 0 or G.shape[0] == 0 or G.shape[0] > most:
        return empty, G, counts, bad
    out = np.empty(G.shape[0] * _geometry.out_width(plan), dtype=buf.dtype)
    flags = np.zeros(1, dtype=np.uint8)
    if _mel_into(G.reshape(1, -1), plan, out, flags):
        return out, G, counts, -3
    return out, G[:0], counts, -1


@jit
def _tick_check(ids, life, code, rowmap, stamps, stamp, want, x, x_begin, x_end):
    """:func:`_stream_tick`'s checks alone (``(rows, status)``), before :func:`_stream_part` feeds the streams."""
    rows, status = _tick_rows(ids, life, code, rowmap, stamps, stamp, want)
    if status == -1:
        status = _first_bad(x, x_begin, x_end)
    return rows, status


@jit_internal
def _stream_part(rows, buf, state, last, x, x_begin, x_end, geo, gains, plan, out, counts, status):
    """Feed streams ``rows`` (checked by :func:`_tick_check`) and compute their frames into ``out``.

    ``counts`` receives each stream's frames and ``status[0]`` their total,
    or -3 if their features are not finite (an overflow) or -4 if ``out``
    is too small (a bug: the caller's bound is proven).
    """
    G, c, bad = _stream_feed(buf, state, last, rows, x, x_begin, x_end, geo, gains)
    n = G.shape[0]
    size = n * _geometry.out_width(plan)
    for i in range(c.shape[0]):
        counts[i] = c[i]
    status[0] = n
    if size > out.shape[0]:
        status[0] = -4
    elif n:
        flags = np.zeros(1, dtype=np.uint8)
        if _mel_into(G.reshape(1, -1), plan, out[:size], flags):
            status[0] = -3


#: ``ctl`` entries of a pool's helper (int64): the last job posted, claimed and done; whether the helper
#: waits for jobs; whether it must stop; the job it failed (its thread raised); then the posted job, as
#: addresses and sizes of the caller's arrays.
SEQ, TAKEN, DONE, AWAKE, STOP, FAILED = range(6)
J_BUF, J_ROWS_CAP, J_WIDTH, J_STATE, J_LAST, J_ROWS, J_K, J_X, J_XLEN = range(6, 15)
J_BEGIN, J_END, J_OUT, J_OUT_CAP, J_COUNTS, J_STATUS = range(15, 21)
CTL_SIZE = 21


@jit
def _stream_pair(ctl, seq, rows, buf, state, last, x, x_begin, x_end, geo, gains, plan, h, out, counts, status):
    """Streams ``rows[:h]`` fed and computed here, ``rows[h:]`` by the pool's helper (:func:`_serve`) at once.

    Posts job ``seq`` (the second half, as the addresses of its arrays)
    in ``ctl``, computes the first half (``out[0]``, ``counts[0]``,
    ``status[0]``), then claims the second half if the helper has not (it
    was asleep, or busy) and computes it here too, else waits for it.
    Either way the second half is in ``out[1]``, ``counts[1]``,
    ``status[1]`` on return, unless the helper failed it (``ctl[FAILED]``
    is ``seq``: its thread raised).  Returns whether this thread computed it.
    """
    k = rows.shape[0]
    second = rows[h:]
    ctl[J_BUF] = buf.ctypes.data
    ctl[J_ROWS_CAP] = buf.shape[0]
    ctl[J_WIDTH] = buf.shape[1]
    ctl[J_STATE] = state.ctypes.data
    ctl[J_LAST] = last.ctypes.data
    ctl[J_ROWS] = second.ctypes.data
    ctl[J_K] = k - h
    ctl[J_X] = x.ctypes.data
    ctl[J_XLEN] = x.shape[0]
    ctl[J_BEGIN] = x_begin[h:].ctypes.data
    ctl[J_END] = x_end[h:].ctypes.data
    ctl[J_OUT] = out[1].ctypes.data
    ctl[J_OUT_CAP] = out.shape[1]
    ctl[J_COUNTS] = counts[1].ctypes.data
    ctl[J_STATUS] = status[1:].ctypes.data
    _store_release(ctl, SEQ, seq)
    _stream_part(
        rows[:h], buf, state, last, x, x_begin[:h], x_end[:h], geo, gains, plan, out[0], counts[0], status[0:1]
    )
    if _claim(ctl, TAKEN, seq - 1, seq):
        _stream_part(
            second, buf, state, last, x, x_begin[h:], x_end[h:], geo, gains, plan, out[1], counts[1], status[1:]
        )
        return True
    while _load_acquire(ctl, DONE) != seq and _load_acquire(ctl, FAILED) != seq:
        pass
    return False


@jit
def _serve(ctl, geo, gains, plan, like, spins):
    """The helper's loop: claim and compute each job posted in ``ctl`` until none came for ``spins`` reads.

    A job is claimed by a compare-and-swap on ``ctl[TAKEN]`` (the poster
    claims it instead when the helper does not), computed from the
    addresses posted (the poster keeps its arrays alive and waits), and
    marked done with release order.  ``ctl[AWAKE]`` is 1 while it loops.
    """
    _store_release(ctl, AWAKE, 1)
    idle = 0
    dt = like.dtype
    while idle < spins and _load_acquire(ctl, STOP) == 0:
        seq = _load_acquire(ctl, SEQ)
        if seq == _load_acquire(ctl, TAKEN) or not _claim(ctl, TAKEN, seq - 1, seq):
            idle += 1
            continue
        slots, width, k = ctl[J_ROWS_CAP], ctl[J_WIDTH], ctl[J_K]
        buf = numba.carray(_pointer(ctl[J_BUF]), (slots, width), dt)
        state = numba.carray(_pointer(ctl[J_STATE]), (slots, 5), np.int64)
        last = numba.carray(_pointer(ctl[J_LAST]), (slots,), dt)
        rows = numba.carray(_pointer(ctl[J_ROWS]), (k,), np.int64)
        x = numba.carray(_pointer(ctl[J_X]), (ctl[J_XLEN],), dt)
        x_begin = numba.carray(_pointer(ctl[J_BEGIN]), (k,), np.int64)
        x_end = numba.carray(_pointer(ctl[J_END]), (k,), np.int64)
        out = numba.carray(_pointer(ctl[J_OUT]), (ctl[J_OUT_CAP],), dt)
        counts = numba.carray(_pointer(ctl[J_COUNTS]), (k,), np.int64)
        status = numba.carray(_pointer(ctl[J_STATUS]), (1,), np.int64)
        _stream_part(rows, buf, state, last, x, x_begin, x_end, geo, gains, plan, out, counts, status)
        _store_release(ctl, DONE, seq)
        idle = 0
    _store_release(ctl, AWAKE, 0)
