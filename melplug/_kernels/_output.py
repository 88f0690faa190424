"""Output steps: the layout, the affine map, fixed-length padding and per-clip normalisation."""

from __future__ import annotations

import numpy as np

from .. import _geometry
from .._jit import jit_internal
from ._layout import plan_feature_offset, plan_feature_scale


@jit_internal
def _write_block(out, o, f0, nf, F, V, R, plan, src):
    """Copy frames ``[f0, f0 + nf)`` (``src[:, :nf]``, mel bands or cepstra) into example output ``out[o:]``.

    Writes in the plan's layout and applies the per-feature and the affine
    maps; the block holding the last computed frame also fills the frames
    beyond it (up to the ``R`` rows it writes, :func:`melplug._geometry.stage_rows`)
    with ``pad_value``.  ``V`` is the example's valid frames: with ``pad_invalid`` the frames from it on are
    ``pad_value`` (with normalisation, phase 3 does both instead).  Frames
    beyond the output rows (``stack_drop``) are not written.
    """
    M = src.shape[0]
    nw = min(nf, max(R - f0, 0))  # frames written (stack_drop cuts the last partial row)
    nv = nw  # of which valid
    if plan.pad_invalid and not plan.normalize:
        nv = min(nw, max(V - f0, 0))
    a = out.dtype.type(plan.out_scale)
    b = out.dtype.type(plan.out_offset)
    pad = out.dtype.type(plan.pad_value)
    # With normalisation both maps come after it (in _normalize_examples).
    affine = (plan.out_scale != 1.0 or plan.out_offset != 0.0) and not plan.normalize
    if plan.feature_affine and not plan.normalize and not plan.feature_rows:  # per feature (values final here)
        feature_scale = plan_feature_scale(plan)
        feature_offset = plan_feature_offset(plan)
        for m in range(M):
            fs = src.dtype.type(feature_scale[m])
            fo = src.dtype.type(feature_offset[m])
            srow = src[m, :nv]
            for j in range(nv):
                srow[j] = srow[j] * fs + fo
    if plan.frames_major:
        for j in range(nv):
            row = out[o + (f0 + j) * M : o + (f0 + j + 1) * M]
            for m in range(M):
                row[m] = src[m, j] * a + b if affine else src[m, j]
        invalid = out[o + (f0 + nv) * M : o + (f0 + nw) * M]
        for i in range(invalid.shape[0]):
            invalid[i] = pad
        if f0 + nf == F:
            tail = out[o + F * M : o + R * M]
            for i in range(tail.shape[0]):
                tail[i] = pad
    else:
        for m in range(M):
            row = out[o + m * R + f0 : o + m * R + f0 + nv]
            srow = src[m]
            if affine:
                for j in range(nv):
                    row[j] = srow[j] * a + b
            else:
                for j in range(nv):
                    row[j] = srow[j]
            invalid = out[o + m * R + f0 + nv : o + m * R + f0 + nw]
            for j in range(invalid.shape[0]):
                invalid[j] = pad
            if f0 + nf == F:
                tail = out[o + m * R + F : o + (m + 1) * R]
                for j in range(tail.shape[0]):
                    tail[j] = pad


@jit_internal
def _normalize_examples(layout, out, plan, bad, e_begin, e_end):
    """Phase 3 for examples ``[e_begin, e_end)``: per feature ``(x - mean) / sqrt(var + eps)``, then the maps.

    Statistics over the example's valid frames (:func:`melplug._geometry.valid_count`),
    accumulated in float64 in two passes (mean, then squared deviations);
    ``(x - mean) / (std + eps)`` with ``normalize_eps_on_std``, ``x - mean``
    without ``normalize_variance``.  Then the per-feature and the affine maps.
    With ``pad_invalid`` the computed frames beyond the valid ones become
    ``pad_value``; padding frames are left alone.  Flagged examples are
    skipped (they raise, or are NaN already).
    """
    M = _geometry.stage_width(plan)
    dt = out.dtype.type
    a = plan.out_scale
    b = plan.out_offset
    feature_scale = plan_feature_scale(plan)
    feature_offset = plan_feature_offset(plan)
    for e in range(e_begin, e_end):
        F = layout.n_frames[e]
        if F == 0 or bad[e]:
            continue
        R = layout.rows[e]
        W = min(F, R)  # computed frames in the output
        V = min(layout.n_valid[e], W)
        if V == 0:
            continue
        o = layout.o_off[e]
        stop = V if plan.pad_invalid else W
        if plan.frames_major:
            _normalize_rows(out, o, M, V, stop, W, plan)
            continue
        # (features, frames): each band is contiguous.  Its sums run frame by frame with the bands side by
        # side, as _normalize_rows' do: a band's own vectorised sum would leave its order to LLVM (reassoc),
        # which may choose another where the step is compiled into another kernel (the TensorFlow op's).
        stats = np.zeros(2 * M)
        means = stats[:M]
        sqs = stats[M:]
        for j in range(V):
            for m in range(M):
                means[m] += out[o + m * R + j]
        for m in range(M):
            means[m] /= V
        if plan.normalize_variance:
            for j in range(V):
                for m in range(M):
                    d = out[o + m * R + j] - means[m]
                    sqs[m] += d * d
        for m in range(M):
            base = o + m * R
            mean = means[m]
            scale = a  # a / the deviation: one multiply per value, as in every path (bit-for-bit with the C entry)
            if plan.normalize_variance:
                scale = a / _deviation(sqs[m], V, plan)
            fs = feature_scale[m] * scale if plan.feature_affine else scale
            fo = feature_offset[m] * a + b if plan.feature_affine else b
            for j in range(stop):
                out[base + j] = dt((out[base + j] - mean) * fs + fo)
            for j in range(stop, W):
                out[base + j] = dt(plan.pad_value)


@jit_internal
def _deviation(sq, V, plan):
    """The deviation normalisation divides by: ``sqrt(var + eps)``, or ``std + eps`` (``normalize_eps_on_std``)."""
    var = sq / (V - plan.normalize_ddof)
    if plan.normalize_eps_on_std:
        return np.sqrt(var) + plan.normalize_eps
    return np.sqrt(var + plan.normalize_eps)


@jit_internal
def _normalize_rows(out, o, M, V, stop, W, plan):
    """:func:`_normalize_examples` of one ``(frames, features)`` example at ``out[o:]``, row by row (contiguous).

    Per-feature sums accumulate frame by frame, the features side by side, as
    the band-major path's do: the same numbers, in an order the code fixes.
    """
    dt = out.dtype.type
    a = plan.out_scale
    b = plan.out_offset
    stats = np.zeros(4 * M)  # per feature: the mean, the squared deviations, the scale and the offset
    mean = stats[:M]
    sq = stats[M : 2 * M]
    fs = stats[2 * M : 3 * M]
    fo = stats[3 * M :]
    for j in range(V):
        row = out[o + j * M : o + (j + 1) * M]
        for m in range(M):
            mean[m] += row[m]
    for m in range(M):
        mean[m] /= V
        fs[m] = a
        fo[m] = b
    if plan.normalize_variance:
        for j in range(V):
            row = out[o + j * M : o + (j + 1) * M]
            for m in range(M):
                d = row[m] - mean[m]
                sq[m] += d * d
        for m in range(M):
            fs[m] = a / _deviation(sq[m], V, plan)
    if plan.feature_affine:
        feature_scale = plan_feature_scale(plan)
        feature_offset = plan_feature_offset(plan)
        for m in range(M):
            fs[m] *= feature_scale[m]
            fo[m] = feature_offset[m] * a + b
    for j in range(stop):
        row = out[o + j * M : o + (j + 1) * M]
        for m in range(M):
            row[m] = dt((row[m] - mean[m]) * fs[m] + fo[m])
    pad = out[o + stop * M : o + W * M]
    for i in range(pad.shape[0]):
        pad[i] = dt(plan.pad_value)


@jit_internal
def _expand_examples(layout, out, plan, bad, e_begin, e_end):
    """Phase 4 for examples ``[e_begin, e_end)``: the computed frames become the output rows.

    The frame phases left each example's frames frames-major,
    ``stage_width`` values each, at the start of its output.  With
    ``delta_window`` each frame is followed by its deltas (torchaudio's
    ``compute_deltas``: ``sum_k k (x[t + k] - x[t - k]) / (2 sum_k k**2)``,
    edge frames repeated); with gathered stacking row ``r`` is frames
    ``r * stack_stride - c + j`` for ``j < stack_frames`` (``c = (stack_frames
    - 1) // 2`` with ``stack_repeat``, which also repeats the edge frames;
    else frames past the clip are ``pad_value``), and with ``feature_rows``
    each gathered value is mapped by its place in the row.  Flagged examples
    are skipped (they raise, or are NaN already).
    """
    M = _geometry.stage_width(plan)
    W = _geometry.out_width(plan)
    dt = out.dtype.type
    pad = dt(plan.pad_value)
    feature_scale = plan_feature_scale(plan)
    feature_offset = plan_feature_offset(plan)
    for e in range(e_begin, e_end):
        F = layout.n_frames[e]
        o = layout.o_off[e]
        R = _geometry.output_rows(plan, F)
        if bad[e]:
            if plan.propagate_nonfinite:  # NaN over the whole expanded output, not only the frames
                whole = out[o : o + R * W]
                for i in range(whole.shape[0]):
                    whole[i] = dt(np.nan)
            continue
        if F == 0:
            continue
        x = out[o : o + F * M].copy()  # the output is rewritten in place
        if plan.delta_window > 0:
            n = (plan.delta_window - 1) // 2
            denom = n * (n + 1) * (2 * n + 1) / 3.0
            for t in range(F):
                row = out[o + t * W : o + (t + 1) * W]
                src = x[t * M : (t + 1) * M]
                for m in range(M):
                    row[m] = src[m]
                for m in range(M):
                    acc = 0.0
                    for k in range(1, n + 1):
                        acc += k * (x[min(t + k, F - 1) * M + m] - x[max(t - k, 0) * M + m])
                    row[M + m] = dt(acc / denom)
            tail = out[o + F * W : o + R * W]
            for i in range(tail.shape[0]):
                tail[i] = pad
        else:
            k = plan.stack_frames
            stride = plan.stack_stride
            before = (k - 1) // 2 if plan.stack_repeat else 0
            for r in range(R // k):
                for j in range(k):
                    f = r * stride + j - before
                    dst = out[o + (r * k + j) * M : o + (r * k + j + 1) * M]
                    if plan.stack_repeat:
                        f = min(max(f, 0), F - 1)
                    if f < 0 or f >= F:
                        for m in range(M):
                            dst[m] = pad
                    elif plan.feature_rows:  # per value of the row (FunASR's CMVN after LFR), in float64
                        src = x[f * M : (f + 1) * M]
                        for m in range(M):
                            i = j * M + m
                            dst[m] = dt(src[m] * feature_scale[i] + feature_offset[i])
                    else:
                        src = x[f * M : (f + 1) * M]
                        for m in range(M):
                            dst[m] = src[m]
