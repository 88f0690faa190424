"""Output steps: the layout, the affine map, fixed-length padding and per-clip normalisation."""

from __future__ import annotations

import numpy as np

from .. import _geometry
from .._jit import jit


@jit
def _write_block(out, o, f0, nf, F, plan, src):
    """Copy frames ``[f0, f0 + nf)`` (``src[:, :nf]``, mel bands or cepstra) into example output ``out[o:]``.

    Writes in the plan's layout and applies the affine map; the block holding
    the last computed frame also fills the frames beyond it (up to
    ``out_frames``) with ``pad_value``.
    """
    M = src.shape[0]
    R = _geometry.output_rows(plan, F)
    a = out.dtype.type(plan.out_scale)
    b = out.dtype.type(plan.out_offset)
    # With normalisation the affine map comes after it (in _normalize_examples).
    affine = (plan.out_scale != 1.0 or plan.out_offset != 0.0) and not plan.normalize
    if plan.frames_major:
        for j in range(nf):
            row = out[o + (f0 + j) * M : o + (f0 + j + 1) * M]
            for m in range(M):
                row[m] = src[m, j] * a + b if affine else src[m, j]
        if f0 + nf == F:
            tail = out[o + F * M : o + R * M]
            for i in range(tail.shape[0]):
                tail[i] = plan.pad_value
    else:
        for m in range(M):
            row = out[o + m * R + f0 : o + m * R + f0 + nf]
            srow = src[m]
            if affine:
                for j in range(nf):
                    row[j] = srow[j] * a + b
            else:
                for j in range(nf):
                    row[j] = srow[j]
            if f0 + nf == F:
                tail = out[o + m * R + F : o + (m + 1) * R]
                for j in range(tail.shape[0]):
                    tail[j] = plan.pad_value


@jit
def _normalize_examples(layout, out, plan, bad, e_begin, e_end):
    """Phase 3 for examples ``[e_begin, e_end)``: per mel band ``(x - mean) / sqrt(var + eps)``, then the affine map.

    Statistics over the example's computed frames, accumulated in float64
    in two passes (mean, then squared deviations); padding frames are left
    alone.  Flagged examples are skipped (they raise, or are NaN already).
    """
    M = _geometry.out_width(plan)
    dt = out.dtype.type
    a = plan.out_scale
    b = plan.out_offset
    for e in range(e_begin, e_end):
        F = layout.n_frames[e]
        if F == 0 or bad[e]:
            continue
        R = _geometry.output_rows(plan, F)
        o = layout.o_off[e]
        # band m, frame j is out[o + m * row_step + j * frame_step]
        frame_step = M if plan.frames_major else 1
        row_step = 1 if plan.frames_major else R
        for m in range(M):
            base = o + m * row_step
            total = 0.0
            for j in range(F):
                total += out[base + j * frame_step]
            mean = total / F
            sq = 0.0
            for j in range(F):
                d = out[base + j * frame_step] - mean
                sq += d * d
            inv = a / np.sqrt(sq / (F - plan.normalize_ddof) + plan.normalize_eps)
            for j in range(F):
                i = base + j * frame_step
                out[i] = dt((out[i] - mean) * inv + b)
