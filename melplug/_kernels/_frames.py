"""Framing steps: the padded signal, dither, DC removal, log energy, pre-emphasis and the window.

:func:`_fill_frames` writes a block of windowed frames into the FFT buffer.
"""

from __future__ import annotations

import numpy as np

from .._jit import jit_internal


@jit_internal
def _reflect(i, n):
    """Index into a signal of ``n`` samples for position ``i`` of its reflect-padded extension.

    NumPy's ``np.pad(mode="reflect")``, including repeated reflection when the
    pad is longer than the signal (period ``2 (n - 1)``; constant for ``n == 1``).
    """
    if n == 1:
        return 0
    period = 2 * (n - 1)
    i = i % period
    if i >= n:
        i = period - i
    return i


@jit_internal
def _symmetric(i, n):
    """Index into a signal of ``n`` samples for position ``i`` of its symmetric extension (Kaldi's snip_edges=False).

    The edge sample is repeated (``-1 -> 0``, ``n -> n - 1``), as NumPy's
    ``np.pad(mode="symmetric")`` and Kaldi's ``ExtractWindow``, including
    repeated reflection when the pad is longer than the signal (period ``2 n``).
    """
    i = i % (2 * n)
    if i >= n:
        i = 2 * n - 1 - i
    return i


@jit_internal
def _sample(sig, i, n_eff, pad_mode):
    """Sample ``i`` of the padded signal: ``sig`` zero-extended or cut to ``n_eff`` samples, then padded.

    ``pad_mode`` is the plan's: 1 zeros, 3 symmetric (Kaldi's), else reflect.
    Takes scalars, not the plan: it runs per sample of the edge frames, and a
    NamedTuple argument there cost a third of phase 1 for 1 s clips.
    """
    if i < 0 or i >= n_eff:
        if pad_mode == 1:
            return sig.dtype.type(0.0)
        i = _symmetric(i, n_eff) if pad_mode == 3 else _reflect(i, n_eff)
    return sig[i] if i < sig.shape[0] else sig.dtype.type(0.0)


@jit_internal
def _emphasised(sig, j, limit, p):
    """Sample ``j`` of the whole-signal pre-emphasised clip, zero outside ``[0, limit)`` (constant padding)."""
    if j < 0 or j >= limit:
        return sig.dtype.type(0.0)
    if j == 0:
        return sig[0]
    return sig[j] - p * sig[j - 1]


@jit_internal
def _splitmix64(x):
    """One step of SplitMix64 (a ``uint64`` in, a well-mixed ``uint64`` out)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@jit_internal
def _frame_key(seed, frame):
    """The noise key of frame ``frame`` under ``seed``."""
    return _splitmix64(_splitmix64(np.uint64(seed)) ^ np.uint64(frame))


@jit_internal
def _gauss_pair(key, p):
    """Draws ``2 p`` and ``2 p + 1`` of a frame: Box-Muller's two normals from counters ``2 p``, ``2 p + 1``."""
    a = _splitmix64(key ^ np.uint64(2 * p))
    b = _splitmix64(key ^ np.uint64(2 * p + 1))
    u1 = ((a >> np.uint64(11)) + np.uint64(1)) * (1.0 / 9007199254740993.0)  # (0, 1]
    u2 = (b >> np.uint64(11)) * (1.0 / 9007199254740992.0)  # [0, 1)
    r = np.sqrt(-2.0 * np.log(u1))
    return r * np.cos(2.0 * np.pi * u2), r * np.sin(2.0 * np.pi * u2)


@jit_internal
def _gauss(seed, frame, i):
    """A standard normal draw keyed by ``(seed, frame, i)`` (counter-based: Box-Muller over SplitMix64).

    Samples ``2 p`` and ``2 p + 1`` of a frame are the two normals of one
    Box-Muller pair (independent, each standard normal).
    """
    c, s = _gauss_pair(_frame_key(seed, frame), i // 2)
    return c if i % 2 == 0 else s


@jit_internal
def _silent_from(sig, n_eff, f0, f1, plan):
    """The first of frames ``[f0, f1)`` from which every frame reads only the zeros after the clip, else ``f1``.

    Whisper pads every clip with zeros to 30 s: such frames all have the same
    features, so a unit computes the first and copies it.  A frame is silent
    when the samples it reads (its window's span) lie in ``[clip, n_eff)``,
    the zero extension, or reflect into it past ``n_eff``; with whole-signal
    pre-emphasis the first zero still carries the clip's last sample.  Never
    with dither (each frame's noise differs).
    """
    if plan.dither != 0.0:
        return f1
    limit = min(sig.shape[0], n_eff)
    first = limit + (1 if plan.signal_preemphasis != 0.0 else 0)
    hop = plan.hop_length
    lead = plan.pad - plan.win_start  # frame f reads from f * hop - lead
    fz = max(f0, -((-first - lead) // hop))  # the first f with f * hop - lead >= first
    if fz >= f1 or first >= n_eff:
        return f1
    end = (f1 - 1) * hop - lead + (plan.win_stop - plan.win_start)  # one past the unit's last read
    if end > n_eff and plan.pad_mode != 1:  # reads past the end are reflected: the lowest must be a zero too
        low = 2 * n_eff - end if plan.pad_mode == 3 else 2 * n_eff - 1 - end
        if low < first:
            return f1
    return fz


@jit_internal
def _fill_frames(sig, n_eff, first_frame, nf, plan, window, frames, energy):
    """Write ``nf`` windowed frames of the 1-D signal ``sig`` into ``frames[:nf]``.

    ``n_eff`` is its framed length (:func:`melplug._geometry.framed_length`:
    zero-extended, or cut, as the plan's input steps say).

    Frame ``f`` starts at padded position ``f * hop_length``.  Only
    ``frames[:, win_start:win_stop]`` is written; the rest must already be
    zero.  With ``dither``, ``remove_dc``, ``preemphasis`` or ``energy_c0``
    the raw frame is multiplied by ``input_gain`` and corrected (Kaldi's
    order: dither, DC offset, energy, pre-emphasis, window); without them
    the plan's window already carries the gain (``x g w = x (g w)``).
    With ``energy_c0``, ``energy[j]`` receives frame ``j``'s energy ``sum x**2``
    after the DC removal and before pre-emphasis (Kaldi's raw energy).
    """
    limit = min(sig.shape[0], n_eff)  # samples that are read as they are
    ws = plan.win_start
    width = plan.win_stop - ws
    win = window[ws : ws + width]
    sp = sig.dtype.type(plan.signal_preemphasis)
    emphasis = plan.signal_preemphasis != 0.0
    plain = (
        not plan.remove_dc and plan.preemphasis == 0.0 and plan.dither == 0.0 and not plan.energy_c0 and not emphasis
    )
    # Samples read raw are gained as they are copied (the plan's window carries the gain otherwise).
    gain = frames.dtype.type(1.0 if plain else plan.input_gain)
    # Loops run over slices with 0-based indices: Numba then knows no index is
    # negative, drops its wraparound handling and emits plain SIMD loops.
    for j in range(nf):
        start = (first_frame + j) * plan.hop_length - plan.pad + ws
        row = frames[j, ws : ws + width]
        if start >= (1 if emphasis else 0) and start + width <= limit:
            src = sig[start : start + width]
            if plain:
                for i in range(width):
                    row[i] = src[i] * win[i]
            elif emphasis and start >= 1:
                # the whole signal is pre-emphasised: y[i] = x[i] - p x[i - 1] (y[0] = x[0]: the edge path)
                prev = sig[start - 1 : start - 1 + width]
                for i in range(width):
                    row[i] = (src[i] - sp * prev[i]) * gain
            else:
                for i in range(width):
                    row[i] = src[i] * gain
        else:
            # Three runs: padding before the signal, samples read as they are, zeros up to
            # input_length (Whisper's 30 s), then padding after it.  Only the padding runs take
            # the per-sample reflection; a frame past a short clip is a plain zero fill.
            a = min(max(-start, 0), width)
            b = min(max(limit - start, a), width)
            c = min(max(n_eff - start, b), width)
            pad_mode = plan.pad_mode
            if emphasis:  # every sample of an edge frame from the pre-emphasised, zero-padded signal
                for i in range(width):
                    row[i] = _emphasised(sig, start + i, limit, sp) * gain
            else:
                for i in range(a):
                    row[i] = _sample(sig, start + i, n_eff, pad_mode) * gain
                if b > a:
                    src = sig[start + a : start + b]
                    seg = row[a:b]
                    for i in range(b - a):
                        seg[i] = src[i] * gain
                for i in range(b, c):
                    row[i] = 0.0
                for i in range(c, width):
                    row[i] = _sample(sig, start + i, n_eff, pad_mode) * gain
            if plain:
                for i in range(width):
                    row[i] *= win[i]
        if not plain:
            if plan.dither != 0.0:
                key = _frame_key(plan.dither_seed, first_frame + j)
                for p in range(width // 2):
                    c, s = _gauss_pair(key, p)
                    row[2 * p] += plan.dither * c
                    row[2 * p + 1] += plan.dither * s
                if width % 2:
                    row[width - 1] += plan.dither * _gauss_pair(key, width // 2)[0]
            if plan.remove_dc:
                mean = row.sum() / width
                for i in range(width):
                    row[i] -= mean
            if plan.energy_c0:
                total = row.dtype.type(0.0)
                for i in range(width):
                    total += row[i] * row[i]
                energy[j] = total
            p = plan.preemphasis
            if p != 0.0:  # row[i] -= p row[i - 1] (the old row[i - 1]), rounded, then windowed: one forward pass
                prev = row[0]
                row[0] = row.dtype.type(prev - p * prev) * win[0]
                for i in range(1, width):
                    cur = row[i]
                    row[i] = row.dtype.type(cur - p * prev) * win[i]
                    prev = cur
            else:
                for i in range(width):
                    row[i] *= win[i]
