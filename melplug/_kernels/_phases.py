"""The phases of a call: phase 1 over work units, the per-example summary, phase 2 (floors, NaN), phases 3 and 4.

Phase 1 (:func:`_mel_units`) frames, windows, FFTs (single-threaded
rocket-fft into a per-call scratch block, written bins major), applies the power, the sparse mel
weights, the logarithm and the cepstra, and writes straight into ``out``.
It records each unit's maximum and flags (:data:`BAD_INPUT`: NaN/Inf among
its share of the samples, :data:`BAD_OUTPUT`: the samples are finite but the
result is not, e.g. an overflowing power); a unit that is a whole example
applies its own ``top_db`` floor.  :func:`_finish` reduces those to
per-example flags and floor peaks (:func:`_summarise`), then runs phase 2
(:func:`_finish_units`: the floors that need more than one unit, NaN
propagation) on a unit range.  The rarer steps after it are a kernel each:
deferred cepstra (:func:`_finish_cepstra`, librosa's MFCC of long clips) on a
unit range, normalisation (:func:`_finish_normalize`, phase 3) and deltas or
gathered rows (:func:`_finish_expand`, phase 4) on an example range.  Each
kernel is compiled where a call first needs it: every preset runs phase 1,
Whisper's floor over 30 s phase 2 too, Parakeet phase 1 and normalisation (a
kernel's cold compile grows with all the code it could run).  Every phase
takes a range so that the caller can split the work across threads.
"""

from __future__ import annotations

import numpy as np
from rocket_fft import r2c

from .. import _geometry
from .._jit import jit, jit_internal
from ._cepstra import _cepstra, _stash_block
from ._frames import _fill_frames, _silent_from
from ._layout import (
    BAD_INPUT,
    BAD_OUTPUT,
    Layout,
    _plan_frames,
    _signal,
    _units,
    deferred_cepstra,
    floor_spans_units,
    plan_band_weights,
    plan_dct,
    plan_window,
)
from ._output import _expand_examples, _normalize_examples, _write_block
from ._spectra import _complex_scratch, _floor_block, _spectra_to_mel


@jit
def _mel_units(layout, out, scratch, plan, window, weights, dct, unit_max, unit_bad, u_begin, u_end):
    """Phase 1 for units ``[u_begin, u_end)``: write mel (dB) values or cepstra into ``out``.

    Fills ``unit_max[u]`` (maximum dB of the unit, ``-inf`` without dB) and
    ``unit_bad[u]`` (:data:`BAD_INPUT` if the unit's share of the samples
    holds NaN/Inf, :data:`BAD_OUTPUT` if its result does although the samples
    it reads are finite).  Each signal's samples are partitioned between its
    units, so every sample is checked exactly once, including samples no
    frame reads.  A unit that is a whole example already applies its
    per-example ``top_db`` floor.  Cepstra (``num_ceps``) are the DCT of the
    block's mel bands, in the same pass; when they wait for a floor that
    spans units (:func:`melplug.deferred_cepstra`), the unit writes its
    mel bands (and energies) to ``scratch`` at ``layout.s_off`` instead.
    """
    L = plan.fft_length
    nbins = L // 2 + 1
    M = plan.num_mel_bins
    C = plan.num_ceps
    K = plan.block_frames
    stride = plan.hop_length
    pad = plan.pad
    unit_ex = layout.unit_ex
    unit_f0 = layout.unit_f0
    n_frames = layout.n_frames
    rows = 1  # scratch rows: no more than the largest unit in this range
    for u in range(u_begin, u_end):
        rows = max(rows, min(K, n_frames[unit_ex[u]] - unit_f0[u]))
    frames = np.empty((rows, L), dtype=out.dtype)
    for j in range(rows):  # only the columns outside the window stay zero; the rest is rewritten
        frames[j, : plan.win_start] = 0.0
        frames[j, plan.win_stop :] = 0.0
    spec_t = _complex_scratch(out, nbins, rows)  # bins major: the power loops then read frames contiguously
    power_t = np.empty((nbins, rows), dtype=out.dtype)
    mel_t = np.empty((M, rows), dtype=out.dtype)
    cep_t = np.empty((C, rows), dtype=out.dtype)
    energy = np.empty(rows if plan.energy_c0 else 0, dtype=out.dtype)
    ebuf = np.empty(M * rows, dtype=np.int32)
    axes = np.array([1], dtype=np.int64)
    zero = out.dtype.type(0.0)
    deferred = deferred_cepstra(plan)
    for u in range(u_begin, u_end):
        e = unit_ex[u]
        f0 = unit_f0[u]
        F = n_frames[e]
        f1 = min(f0 + K, F)
        nf = f1 - f0
        sig = _signal(layout, e, out)
        n = sig.shape[0]
        # NaN/Inf check over this unit's share of the samples.
        s0 = 0 if f0 == 0 else min(max(f0 * stride - pad, 0), n)
        s1 = n if f1 == F else min(max(f1 * stride - pad, 0), n)
        share = sig[s0:s1]
        acc = zero
        for i in range(share.shape[0]):
            acc += share[i] * zero
        flags = 0 if acc == zero else BAD_INPUT
        # Frames that read only the zeros after the clip (Whisper's 30 s) are computed once and copied.
        nc = min(_silent_from(sig, layout.x_eff[e], f0, f1, plan) + 1, f1) - f0
        _fill_frames(sig, layout.x_eff[e], f0, nc, plan, window, frames, energy)
        r2c(frames[:nc], spec_t[:, :nc].T, axes, True, 1.0, 1)
        mx, finite = _spectra_to_mel(spec_t, nc, plan, weights, power_t, mel_t, ebuf)
        for j in range(nc, nf):
            for b in range(mel_t.shape[0]):  # not `mel_t[:, j] = ...`: a slice copy compiles Numba's string formatting
                mel_t[b, j] = mel_t[b, nc - 1]
            if plan.energy_c0:
                energy[j] = energy[nc - 1]
        if not finite and flags == 0:
            flags = BAD_OUTPUT
        unit_bad[u] = flags
        unit_max[u] = mx
        whole = nf == F and not plan.batch_top_db
        if whole and plan.log_kind != 0 and plan.top_db < np.inf:
            # The unit is the whole example: its floor is known now, phase 2 can be skipped.
            _floor_block(mel_t, nf, out.dtype.type(mx) - out.dtype.type(plan.top_db))
        if C > 0 and deferred and not whole:
            _stash_block(scratch, layout.s_off[e], f0, nf, F, plan, mel_t, energy)
            continue
        block = mel_t
        if C > 0:
            _cepstra(mel_t, energy, nf, plan, dct, cep_t)
            block = cep_t
        _write_block(out, layout.o_off[e], f0, nf, F, layout.n_valid[e], layout.rows[e], plan, block)


@jit_internal
def _summarise(layout, unit_max, unit_bad, batch_peak):
    """Per-example flags (uint8, the OR of its units') and floor peaks, each computed once.

    ``peaks[e]`` is the maximum dB of example ``e``'s units, or with
    ``batch_peak`` the maximum over every example not flagged, for all.
    """
    n_examples = layout.first_unit.shape[0]
    n_units = layout.unit_ex.shape[0]
    bad = np.zeros(n_examples, dtype=np.uint8)
    peaks = np.empty(n_examples)
    for e in range(n_examples):
        stop = layout.first_unit[e + 1] if e + 1 < n_examples else n_units
        flags = 0
        peak = -np.inf
        for u in range(layout.first_unit[e], stop):
            flags |= unit_bad[u]
            peak = max(peak, unit_max[u])
        bad[e] = flags
        peaks[e] = peak
    if batch_peak:
        peak = -np.inf
        for e in range(n_examples):
            if not bad[e]:
                peak = max(peak, peaks[e])
        peaks[:] = peak
    return bad, peaks


@jit_internal
def _finish_units(layout, out, plan, peaks, bad, u_begin, u_end):
    """Phase 2 for units ``[u_begin, u_end)``: ``top_db`` floor and NaN propagation.

    The floor of example ``e`` hangs from ``peaks[e]`` (see :func:`_summarise`)
    and is computed in the output dtype, as Keras does, so
    ``out.min() >= out.max() - top_db`` holds exactly; with an affine map the
    floor is mapped too (``scale > 0`` keeps the order).  A flagged example
    with ``on_nonfinite="propagate"`` becomes NaN entirely, padding included.
    Deferred cepstra are :func:`_deferred_units`' (the other kernel's).
    """
    K = plan.block_frames
    M = _geometry.stage_width(plan)
    dt = out.dtype.type
    nan = dt(np.nan)
    floored = plan.log_kind != 0 and plan.top_db < np.inf
    deferred = deferred_cepstra(plan)
    affine = (plan.out_scale != 1.0 or plan.out_offset != 0.0) and not plan.normalize
    for u in range(u_begin, u_end):
        e = layout.unit_ex[u]
        F = layout.n_frames[e]
        R = layout.rows[e]
        f0 = layout.unit_f0[u]
        f1 = min(f0 + K, F)
        o = layout.o_off[e]
        propagate = bad[e] and plan.propagate_nonfinite
        if deferred and not propagate:
            continue  # written by phase 1 (a whole-example unit) or by _deferred_units
        if f1 == F:
            f1 = R  # the last unit also owns the padding
        if not (propagate or floored):
            continue
        fl = dt(peaks[e]) - dt(plan.top_db)
        if affine:
            fl = fl * dt(plan.out_scale) + dt(plan.out_offset)
        value = nan if propagate else fl
        last = min(F, R)  # computed frames in the output (stack_drop may cut some)
        if plan.pad_invalid:
            last = min(last, layout.n_valid[e])  # the others are padding
        stop = f1 if propagate else min(f1, last)
        for m in range(M if not plan.frames_major else 1):
            if plan.frames_major:
                seg = out[o + f0 * M : o + stop * M]
            else:
                seg = out[o + m * R + f0 : o + m * R + stop]
            if propagate:
                for j in range(seg.shape[0]):
                    seg[j] = value
            else:
                for j in range(seg.shape[0]):
                    seg[j] = max(seg[j], value)


@jit_internal
def _deferred_units(layout, out, scratch, plan, dct, peaks, bad, u_begin, u_end):
    """Phase 2 of deferred cepstra (librosa's MFCC) for units ``[u_begin, u_end)``: floor, DCT, write.

    The mel bands phase 1 stashed in ``scratch`` are floored at the example's
    ``peaks[e] - top_db`` and only then transformed (the DCT mixes every band
    of a frame).  Flagged examples are :func:`_finish_units`'.  A kernel of its
    own (:func:`_finish_cepstra`): it repeats phase 1's cepstra and output code,
    which phase 2's kernel (Whisper's floors) need not compile.
    """
    K = plan.block_frames
    dt = out.dtype.type
    mel_t = np.empty((plan.num_mel_bins, K), dtype=out.dtype)
    cep_t = np.empty((plan.num_ceps, K), dtype=out.dtype)
    energy = np.empty(K if plan.energy_c0 else 0, dtype=out.dtype)
    for u in range(u_begin, u_end):
        e = layout.unit_ex[u]
        F = layout.n_frames[e]
        if (bad[e] and plan.propagate_nonfinite) or (F <= K and not plan.batch_top_db):
            continue  # NaN (phase 2), or a whole-example unit: phase 1 wrote it
        f0 = layout.unit_f0[u]
        nf = min(f0 + K, F) - f0
        s = layout.s_off[e]
        for m in range(plan.num_mel_bins):
            src = scratch[s + m * F + f0 : s + m * F + f0 + nf]
            for j in range(nf):
                mel_t[m, j] = src[j]
        if plan.energy_c0:
            src = scratch[s + plan.num_mel_bins * F + f0 : s + plan.num_mel_bins * F + f0 + nf]
            for j in range(nf):
                energy[j] = src[j]
        _floor_block(mel_t, nf, dt(peaks[e]) - dt(plan.top_db))
        _cepstra(mel_t, energy, nf, plan, dct, cep_t)
        _write_block(out, layout.o_off[e], f0, nf, F, layout.n_valid[e], layout.rows[e], plan, cep_t)


@jit_internal
def _mel_serial(layout, out, plan, window, weights, dct):
    """Both phases over every signal in the calling thread; returns per-example flags."""
    n_units = layout.unit_ex.shape[0]
    unit_max = np.empty(n_units)
    unit_bad = np.zeros(n_units, dtype=np.uint8)
    scratch = np.empty(_scratch_size(layout, plan), dtype=out.dtype)
    _mel_units(layout, out, scratch, plan, window, weights, dct, unit_max, unit_bad, 0, n_units)
    n = layout.n_frames.shape[0]
    _finish(layout, out, plan, unit_max, unit_bad, 0, n_units)
    if scratch.shape[0]:
        _finish_cepstra(layout, out, scratch, plan, dct, unit_max, unit_bad, 0, n_units)
    if plan.normalize:
        _finish_normalize(layout, out, plan, unit_max, unit_bad, 0, n)
    if _geometry.expands(plan):
        _finish_expand(layout, out, plan, unit_max, unit_bad, 0, n)
    return _summarise(layout, unit_max, unit_bad, plan.batch_top_db)[0]


@jit_internal
def _scratch_size(layout, plan):
    """Elements of the stash that deferred cepstra need (0 when every example is one unit, or none wait)."""
    n = layout.n_frames.shape[0]
    if n == 0 or not deferred_cepstra(plan) or not floor_spans_units(plan, layout.n_frames.max()):
        return 0
    return layout.s_off[n - 1] + (plan.num_mel_bins + plan.energy_c0) * layout.n_frames[n - 1]


@jit
def _finish(layout, out, plan, unit_max, unit_bad, lo, hi):
    """Phase 2 on units ``[lo, hi)``: the floors that need more than one unit, NaN propagation.

    Each call reduces the per-unit maxima and flags itself (:func:`_summarise`, linear in the units).
    """
    flags, peaks = _summarise(layout, unit_max, unit_bad, plan.batch_top_db)
    _finish_units(layout, out, plan, peaks, flags, lo, hi)


@jit
def _finish_cepstra(layout, out, scratch, plan, dct, unit_max, unit_bad, lo, hi):
    """Phase 2 of deferred cepstra (:func:`_deferred_units`) on units ``[lo, hi)``."""
    flags, peaks = _summarise(layout, unit_max, unit_bad, plan.batch_top_db)
    _deferred_units(layout, out, scratch, plan, dct, peaks, flags, lo, hi)


@jit
def _finish_normalize(layout, out, plan, unit_max, unit_bad, lo, hi):
    """Phase 3, normalisation, on examples ``[lo, hi)`` (:func:`melplug._kernels._output._normalize_examples`)."""
    _normalize_examples(layout, out, plan, _summarise(layout, unit_max, unit_bad, plan.batch_top_db)[0], lo, hi)


@jit
def _finish_expand(layout, out, plan, unit_max, unit_bad, lo, hi):
    """Phase 4, deltas and gathered rows, on examples ``[lo, hi)`` (:func:`._output._expand_examples`)."""
    _expand_examples(layout, out, plan, _summarise(layout, unit_max, unit_bad, plan.batch_top_db)[0], lo, hi)


@jit_internal
def _mel_into(audio2d, plan, out, flags):
    """:func:`mel_spectrogram`'s computation into ``out`` (flat, ``batch * width * rows``), in the calling thread.

    ``audio2d`` is C-contiguous ``(batch, samples)`` with ``samples >= 1``.
    Writes each example's flags (``BAD_INPUT``/``BAD_OUTPUT``) to
    ``flags`` and returns ``True`` when some example is flagged and the plan
    raises (``on_nonfinite="raise"``; ``out`` is then incomplete); with
    ``"propagate"`` flagged examples are NaN and it returns ``False``.  The C
    entry point of :mod:`melplug._cabi` (the TensorFlow op) runs this too.
    """
    batch, n = audio2d.shape
    computed, rows = _plan_frames(plan, n)
    M = _geometry.out_width(plan)
    n_frames = np.full(batch, computed, dtype=np.int64)
    unit_ex, unit_f0, first_unit = _units(n_frames, plan.block_frames)
    layout = Layout(
        np.arange(batch) * (n * audio2d.itemsize) + audio2d.ctypes.data,
        np.full(batch, n, dtype=np.int64),
        n_frames,
        np.arange(batch) * (M * rows),
        unit_ex,
        unit_f0,
        first_unit,
        np.arange(batch) * ((plan.num_mel_bins + plan.energy_c0) * computed),
        np.full(batch, _geometry.framed_length(plan, n), dtype=np.int64),
        np.full(batch, _geometry.valid_count(plan, n, computed), dtype=np.int64),
        np.full(batch, _geometry.stage_rows(plan, computed), dtype=np.int64),
    )
    window = plan_window(plan).astype(audio2d.dtype)
    weights = plan_band_weights(plan).astype(audio2d.dtype)
    dct = plan_dct(plan).astype(audio2d.dtype)
    bad = _mel_serial(layout, out, plan, window, weights, dct)
    size = M * rows
    if computed == 0:  # clips shorter than one frame (Kaldi framing): padding only
        out[:] = plan.pad_value
        for e in range(batch):
            if not np.isfinite(audio2d[e]).all():
                bad[e] = BAD_INPUT
    flagged = False
    for e in range(batch):
        flags[e] = bad[e]
        if bad[e]:
            flagged = True
            if plan.propagate_nonfinite:
                out[e * size : (e + 1) * size] = np.nan
    return flagged and not plan.propagate_nonfinite
