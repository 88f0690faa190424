"""Kernel layer: private Numba kernels, arrays in, preallocated arrays out, no validation.

One call handles many signals, described by a :class:`melplug._driver.Layout`
(a NamedTuple, like the plan):

* signal ``e`` is ``x_len[e]`` samples at address ``x_addr[e]``, in the
  compute dtype: the driver passes the caller's arrays where they already
  are, so a ragged list of clips is never concatenated;
* ``out`` : 1-D, the compute dtype; the ``(num_mel_bins, n_frames[e])`` result
  of signal ``e`` starts at ``out[o_off[e]]`` (row-major);
* work units: unit ``u`` is frames ``[unit_f0[u], unit_f0[u] + block_frames)``
  (clipped) of signal ``unit_ex[u]``.  Units of one signal are consecutive,
  starting at ``first_unit[e]``.

Phase 1 (:func:`_mel_units`) frames, windows, FFTs (single-threaded
rocket-fft into a per-call scratch block), applies ``|X|**magnitude_power``, the
sparse mel weights and the dB conversion, and writes straight into ``out``.
It records each unit's maximum and flags (1: NaN/Inf among its share of the
samples, 2: the samples are finite but the result is not, e.g. an overflowing
power); a unit that is a whole example applies its own ``top_db`` floor.
:func:`_finish` is the one entry point after it: it reduces those to
per-example flags and floor peaks (:func:`_summarise`), then runs phase 2
(:func:`_finish_units`: the floors that need more than one unit, NaN
propagation) on a unit range, or phase 3 (:func:`_normalize_examples`:
per-clip normalisation) on an example range.  Every phase takes a range so
that the caller can split the work across threads.  Every hot loop runs over a slice with a 0-based index:
Numba then drops its negative-index handling and vectorises.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic, overload
from rocket_fft import r2c

from . import _plan
from ._jit import FASTMATH, jit, jit_inline

#: Per-unit and per-example flags (bits).
BAD_INPUT = 1  # NaN/Inf among the samples
BAD_OUTPUT = 2  # finite samples, non-finite result (e.g. the power overflows the dtype)


def _complex_scratch(like, rows, cols):  # pragma: no cover - replaced by the overload
    raise NotImplementedError


@overload(_complex_scratch)
def _complex_scratch_impl(like, rows, cols):
    cdtype = np.complex64 if like.dtype == types.float32 else np.complex128

    def impl(like, rows, cols):
        return np.empty((rows, cols), dtype=cdtype)

    return impl


@jit
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


#: The frame-count formulas of :mod:`melplug._plan`, compiled (one formula, two forms).
_frame_count = jit(_plan.frame_count)
_plan_frames = jit(_plan.plan_frames)


@intrinsic
def _pointer(typingctx, address):
    """An ``int64`` address as a ``void*``, for :func:`numba.carray`."""
    sig = types.voidptr(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


@jit
def _signal(layout, e, like):
    """Signal ``e`` of ``layout`` as a 1-D array of ``like``'s dtype (a view of the caller's memory)."""
    return numba.carray(_pointer(layout.x_addr[e]), (layout.x_len[e],), like.dtype)


@jit
def _sample(sig, i, n_eff, zero_pad):
    """Sample ``i`` of the padded signal: ``sig`` zero-extended or cut to ``n_eff`` samples, then padded.

    Takes scalars, not the plan: it runs per sample of the edge frames, and a
    NamedTuple argument there cost a third of phase 1 for 1 s clips.
    """
    if i < 0 or i >= n_eff:
        if zero_pad:
            return sig.dtype.type(0.0)
        i = _reflect(i, n_eff)
    return sig[i] if i < sig.shape[0] else sig.dtype.type(0.0)


@jit
def _splitmix64(x):
    """One step of SplitMix64 (a ``uint64`` in, a well-mixed ``uint64`` out)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@jit
def _gauss(seed, frame, i):
    """A standard normal draw keyed by ``(seed, frame, i)`` (counter-based: Box-Muller over SplitMix64)."""
    key = _splitmix64(_splitmix64(np.uint64(seed)) ^ np.uint64(frame))
    a = _splitmix64(key ^ np.uint64(2 * i))
    b = _splitmix64(key ^ np.uint64(2 * i + 1))
    u1 = ((a >> np.uint64(11)) + np.uint64(1)) * (1.0 / 9007199254740993.0)  # (0, 1]
    u2 = (b >> np.uint64(11)) * (1.0 / 9007199254740992.0)  # [0, 1)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@jit
def _fill_frames(sig, first_frame, nf, plan, window, frames, energy):
    """Write ``nf`` windowed frames of the 1-D signal ``sig`` into ``frames[:nf]``.

    Frame ``f`` starts at padded position ``f * hop_length``.  Only
    ``frames[:, win_start:win_stop]`` is written; the rest must already be
    zero.  With ``dither``, ``remove_dc`` or ``preemphasis`` the raw frame is
    first corrected (Kaldi's order: dither, DC offset, pre-emphasis, window).
    With ``energy_c0``, ``energy[j]`` receives frame ``j``'s energy ``sum x**2``
    after the DC removal and before pre-emphasis (Kaldi's raw energy).
    """
    n_eff = sig.shape[0] if plan.input_length == 0 else plan.input_length
    limit = min(sig.shape[0], n_eff)  # samples that are read as they are
    ws = plan.win_start
    width = plan.win_stop - ws
    win = window[ws : ws + width]
    plain = not plan.remove_dc and plan.preemphasis == 0.0 and plan.dither == 0.0 and not plan.energy_c0
    # Loops run over slices with 0-based indices: Numba then knows no index is
    # negative, drops its wraparound handling and emits plain SIMD loops.
    for j in range(nf):
        start = (first_frame + j) * plan.hop_length - plan.pad + ws
        row = frames[j, ws : ws + width]
        if start >= 0 and start + width <= limit:
            src = sig[start : start + width]
            if plain:
                for i in range(width):
                    row[i] = src[i] * win[i]
            else:
                for i in range(width):
                    row[i] = src[i]
        else:
            # Three runs: padding before the signal, samples read as they are, zeros up to
            # input_length (Whisper's 30 s), then padding after it.  Only the padding runs take
            # the per-sample reflection; a frame past a short clip is a plain zero fill.
            a = min(max(-start, 0), width)
            b = min(max(limit - start, a), width)
            c = min(max(n_eff - start, b), width)
            zero_pad = plan.pad_mode == 1
            for i in range(a):
                row[i] = _sample(sig, start + i, n_eff, zero_pad)
            if b > a:
                src = sig[start + a : start + b]
                seg = row[a:b]
                for i in range(b - a):
                    seg[i] = src[i]
            for i in range(b, c):
                row[i] = 0.0
            for i in range(c, width):
                row[i] = _sample(sig, start + i, n_eff, zero_pad)
            if plain:
                for i in range(width):
                    row[i] *= win[i]
        if not plain:
            if plan.dither != 0.0:
                for i in range(width):
                    row[i] += plan.dither * _gauss(plan.dither_seed, first_frame + j, i)
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
            if p != 0.0:
                for i in range(width - 1, 0, -1):
                    row[i] -= p * row[i - 1]
                row[0] -= p * row[0]
            for i in range(width):
                row[i] *= win[i]


_LN2 = 0.6931471805599453
_SQRT2 = 1.4142135623730951
_F32_TINY = 1.1754943508222875e-38  # smallest normal float32


@jit
def _db_exact(row, nf, log_floor, log_kind, log_scale, ref_db):
    """``row[:nf] = log(max(row, log_floor)) - ref_db`` with libm's logarithms; whether all were finite.

    Decibels are ``10 log10`` (so float64 silence at ``log_floor=1e-10`` is
    exactly -100 dB, as in Keras), ``log10`` is ``log10`` and ``ln`` is
    ``log_scale * ln``.
    """
    finite = True
    for j in range(nf):
        v = row[j]
        finite &= v < np.inf  # False for +inf and NaN (powers are never -inf)
        row[j] = log_floor if v < log_floor else v
    if log_kind == 1:
        for j in range(nf):
            row[j] = 10.0 * np.log10(row[j]) - ref_db
    elif log_kind == 3:
        for j in range(nf):
            row[j] = np.log10(row[j]) - ref_db
    else:
        for j in range(nf):
            row[j] = log_scale * np.log(row[j]) - ref_db
    return finite


@jit
def _db_fast_f32(row, nf, log_floor, log_kind, log_scale, ref_db, ebuf):
    """float32 ``log_scale * ln(max(row, log_floor)) - ref_db`` in three SIMD-friendly passes.

    ``ln v = e ln 2 + ln m`` with ``v = m 2**e``, ``m`` in ``[sqrt(1/2), sqrt(2))``
    and ``ln m = 2 atanh((m - 1) / (m + 1))`` from its odd series to ``t**9``
    (truncation below 1e-9).  Error below 1e-5 dB, far inside float32's own
    rounding of the result.  Needs a normal ``log_floor``; rows holding ``inf``
    or NaN are handed to :func:`_db_exact` (NaN examples are overwritten later).
    Returns whether every value was finite.
    """
    bits = row[:nf].view(np.int32)
    mp = np.float32(log_floor)
    special = False
    for j in range(nf):
        v = row[j]
        special |= not (v < np.inf)
        row[j] = mp if v < mp else v  # NaN stays NaN (as in _db_exact): never clamped to a silent floor
    if special:
        _db_exact(row, nf, log_floor, log_kind, log_scale, ref_db)
        return False
    for j in range(nf):
        b = bits[j]
        ebuf[j] = ((b >> 23) & 0xFF) - 127
        bits[j] = (b & 0x7FFFFF) | 0x3F800000
    sqrt2 = np.float32(_SQRT2)
    ln2 = np.float32(_LN2)
    scale = np.float32(log_scale)
    offset = np.float32(ref_db)
    one = np.float32(1.0)
    half = np.float32(0.5)
    c3 = np.float32(1.0 / 3.0)
    c5 = np.float32(1.0 / 5.0)
    c7 = np.float32(1.0 / 7.0)
    c9 = np.float32(1.0 / 9.0)
    for j in range(nf):
        m = row[j]
        e = np.float32(ebuf[j])
        if m > sqrt2:
            m = m * half
            e = e + one
        t = (m - one) / (m + one)
        t2 = t * t
        ln_m = np.float32(2.0) * t * (one + t2 * (c3 + t2 * (c5 + t2 * (c7 + t2 * c9))))
        row[j] = scale * (e * ln2 + ln_m) - offset
    return True


def _db_row(row, nf, plan, ebuf):  # pragma: no cover - replaced by the overload
    raise NotImplementedError


@overload(_db_row, jit_options={"fastmath": set(FASTMATH)})
def _db_row_impl(row, nf, plan, ebuf):
    if row.dtype == types.float32:

        def impl(row, nf, plan, ebuf):
            if plan.log_floor >= _F32_TINY:
                return _db_fast_f32(row, nf, plan.log_floor, plan.log_kind, plan.log_scale, plan.ref_db, ebuf)
            return _db_exact(row, nf, plan.log_floor, plan.log_kind, plan.log_scale, plan.ref_db)

        return impl

    def impl(row, nf, plan, ebuf):
        return _db_exact(row, nf, plan.log_floor, plan.log_kind, plan.log_scale, plan.ref_db)

    return impl


@jit
def _spectra_to_mel(spec, nf, plan, weights, power_t, mel_t, ebuf):
    """``|spec|**magnitude_power`` -> sparse mel -> dB for ``nf`` frames.

    ``spec`` is ``(>= nf, fft_length // 2 + 1)`` complex.  Scratch ``power_t``
    is ``(fft_length // 2 + 1, >= nf)`` (bins major, so the mel sums run over
    contiguous frames and vectorise), ``ebuf`` is int32 of ``>= num_mel_bins * nf``.  The
    result goes to ``mel_t[:, :nf]``, already in the ``(num_mel_bins, frames)``
    layout.  Returns ``(maximum, finite)``: the block's maximum (``-inf``
    when no dB conversion is asked for) and whether every mel value before the
    logarithm was finite.
    """
    k0 = plan.bin_start
    power = plan.magnitude_power
    used = spec[:nf, k0 : plan.bin_stop]  # 0-based loops over slices: no wraparound, SIMD
    for kk in range(used.shape[1]):
        prow = power_t[k0 + kk, :nf]
        if power == 2.0:
            for j in range(nf):
                c = used[j, kk]
                prow[j] = c.real * c.real + c.imag * c.imag
        elif power == 1.0:
            for j in range(nf):
                c = used[j, kk]
                prow[j] = np.sqrt(c.real * c.real + c.imag * c.imag)
        else:
            for j in range(nf):
                c = used[j, kk]
                prow[j] = np.sqrt(c.real * c.real + c.imag * c.imag) ** power
    M = plan.num_mel_bins
    for m in range(M):
        row = mel_t[m, :nf]
        for j in range(nf):
            row[j] = 0.0
        bs = plan.band_start[m]
        band = weights[plan.band_offset[m] : plan.band_offset[m + 1]]
        for kk in range(band.shape[0]):
            w = band[kk]
            prow = power_t[bs + kk, :nf]
            for j in range(nf):
                row[j] += w * prow[j]
    mx = -np.inf
    finite = True  # the logarithm's pass finds inf/NaN powers; without one, a pass of its own
    if plan.log_kind != 0:
        if nf == mel_t.shape[1]:  # the block is contiguous: one long pass vectorises best
            flat = mel_t.reshape(-1)
            finite = _db_row(flat, M * nf, plan, ebuf)
            for i in range(M * nf):
                mx = max(mx, flat[i])
        else:
            for m in range(M):
                row = mel_t[m, :nf]
                finite &= _db_row(row, nf, plan, ebuf)
                for j in range(nf):
                    mx = max(mx, row[j])
    else:
        zero = mel_t.dtype.type(0.0)
        acc = zero  # stays 0 unless a value is NaN or +-inf (x * 0 is NaN for those)
        for m in range(M):
            row = mel_t[m, :nf]
            for j in range(nf):
                acc += row[j] * zero
        finite = acc == zero
    return mx, finite


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
    spans units (:func:`melplug._plan.deferred_cepstra`), the unit writes its
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
    spec = _complex_scratch(out, rows, nbins)
    power_t = np.empty((nbins, rows), dtype=out.dtype)
    mel_t = np.empty((M, rows), dtype=out.dtype)
    cep_t = np.empty((C, rows), dtype=out.dtype)
    energy = np.empty(rows if plan.energy_c0 else 0, dtype=out.dtype)
    ebuf = np.empty(M * rows, dtype=np.int32)
    axes = np.array([1], dtype=np.int64)
    zero = out.dtype.type(0.0)
    deferred = _plan.deferred_cepstra(plan)
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
        _fill_frames(sig, f0, nf, plan, window, frames, energy)
        r2c(frames[:nf], spec[:nf], axes, True, 1.0, 1)
        mx, finite = _spectra_to_mel(spec, nf, plan, weights, power_t, mel_t, ebuf)
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
        _write_block(out, layout.o_off[e], f0, nf, F, plan, block)


@jit_inline
def _floor_block(mel_t, nf, floor):
    """``mel_t[:, :nf] = max(mel_t[:, :nf], floor)``."""
    for m in range(mel_t.shape[0]):
        row = mel_t[m, :nf]
        for j in range(nf):
            row[j] = max(row[j], floor)


@jit_inline
def _cepstra(mel_t, energy, nf, plan, dct, cep_t):
    """``cep_t[:, :nf] = dct @ mel_t[:, :nf]``; with ``energy_c0``, ``c0`` is the frames' log energy.

    The energy is floored at ``log_floor`` and takes the bands' logarithm
    (Kaldi: ``ln(max(E, float32 eps))``).
    """
    M = plan.num_mel_bins
    for c in range(plan.num_ceps):
        out = cep_t[c, :nf]
        for j in range(nf):
            out[j] = 0.0
        coef = dct[c]
        for m in range(M):
            w = coef[m]
            src = mel_t[m, :nf]
            for j in range(nf):
                out[j] += w * src[j]
    if plan.energy_c0:
        c0 = cep_t[0, :nf]
        floor = energy.dtype.type(plan.log_floor)
        for j in range(nf):
            v = max(energy[j], floor)
            c0[j] = plan.log_scale * np.log(v) - plan.ref_db if plan.log_kind != 0 else v


@jit_inline
def _stash_block(scratch, s, f0, nf, F, plan, mel_t, energy):
    """Keep frames ``[f0, f0 + nf)`` of an example's mel bands (and energies) in ``scratch[s:]``.

    The example's stash is ``(num_mel_bins + energy_c0, F)``, row-major.
    """
    M = plan.num_mel_bins
    for m in range(M):
        dst = scratch[s + m * F + f0 : s + m * F + f0 + nf]
        src = mel_t[m]
        for j in range(nf):
            dst[j] = src[j]
    if plan.energy_c0:
        dst = scratch[s + M * F + f0 : s + M * F + f0 + nf]
        for j in range(nf):
            dst[j] = energy[j]


@jit
def _write_block(out, o, f0, nf, F, plan, src):
    """Copy frames ``[f0, f0 + nf)`` (``src[:, :nf]``, mel bands or cepstra) into example output ``out[o:]``.

    Writes in the plan's layout and applies the affine map; the block holding
    the last computed frame also fills the frames beyond it (up to
    ``out_frames``) with ``pad_value``.
    """
    M = src.shape[0]
    R = _plan.output_rows(plan, F)
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


@jit
def _finish_units(layout, out, scratch, plan, dct, peaks, bad, u_begin, u_end):
    """Phase 2 for units ``[u_begin, u_end)``: ``top_db`` floor and NaN propagation.

    The floor of example ``e`` hangs from ``peaks[e]`` (see :func:`_summarise`)
    and is computed in the output dtype, as Keras does, so
    ``out.min() >= out.max() - top_db`` holds exactly; with an affine map the
    floor is mapped too (``scale > 0`` keeps the order).  Deferred cepstra
    are floored in ``scratch`` and only then transformed and written.  A
    flagged example with ``on_nonfinite="propagate"`` becomes NaN entirely,
    padding included.
    """
    K = plan.block_frames
    M = _plan.out_width(plan)
    dt = out.dtype.type
    nan = dt(np.nan)
    floored = plan.log_kind != 0 and plan.top_db < np.inf
    deferred = _plan.deferred_cepstra(plan)
    affine = (plan.out_scale != 1.0 or plan.out_offset != 0.0) and not plan.normalize
    if deferred:
        mel_t = np.empty((plan.num_mel_bins, K), dtype=out.dtype)
        cep_t = np.empty((plan.num_ceps, K), dtype=out.dtype)
        energy = np.empty(K if plan.energy_c0 else 0, dtype=out.dtype)
    else:
        mel_t = np.empty((0, 0), dtype=out.dtype)
        cep_t = mel_t
        energy = np.empty(0, dtype=out.dtype)
    for u in range(u_begin, u_end):
        e = layout.unit_ex[u]
        F = layout.n_frames[e]
        R = _plan.output_rows(plan, F)
        f0 = layout.unit_f0[u]
        f1 = min(f0 + K, F)
        o = layout.o_off[e]
        propagate = bad[e] and plan.propagate_nonfinite
        if deferred and not propagate:
            if F <= K and not plan.batch_top_db:
                continue  # a whole-example unit: phase 1 wrote it
            nf = f1 - f0
            s = layout.s_off[e]
            for m in range(plan.num_mel_bins):
                src = scratch[s + m * F + f0 : s + m * F + f1]
                for j in range(nf):
                    mel_t[m, j] = src[j]
            if plan.energy_c0:
                src = scratch[s + plan.num_mel_bins * F + f0 : s + plan.num_mel_bins * F + f1]
                for j in range(nf):
                    energy[j] = src[j]
            _floor_block(mel_t, nf, dt(peaks[e]) - dt(plan.top_db))
            _cepstra(mel_t, energy, nf, plan, dct, cep_t)
            _write_block(out, o, f0, nf, F, plan, cep_t)
            continue
        if f1 == F:
            f1 = R  # the last unit also owns the padding
        if not (propagate or floored):
            continue
        fl = dt(peaks[e]) - dt(plan.top_db)
        if affine:
            fl = fl * dt(plan.out_scale) + dt(plan.out_offset)
        value = nan if propagate else fl
        stop = f1 if propagate else min(f1, F)
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


@jit
def _normalize_examples(layout, out, plan, bad, e_begin, e_end):
    """Phase 3 for examples ``[e_begin, e_end)``: per mel band ``(x - mean) / sqrt(var + eps)``, then the affine map.

    Statistics over the example's computed frames, accumulated in float64
    in two passes (mean, then squared deviations); padding frames are left
    alone.  Flagged examples are skipped (they raise, or are NaN already).
    """
    M = _plan.out_width(plan)
    dt = out.dtype.type
    a = plan.out_scale
    b = plan.out_offset
    for e in range(e_begin, e_end):
        F = layout.n_frames[e]
        if F == 0 or bad[e]:
            continue
        R = _plan.output_rows(plan, F)
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


@jit
def _units(n_frames, block_frames):
    """The work units of signals with ``n_frames`` frames each: ``(unit_ex, unit_f0, first_unit)``."""
    n_examples = n_frames.shape[0]
    first_unit = np.empty(n_examples, dtype=np.int64)
    total = 0
    for e in range(n_examples):
        first_unit[e] = total
        total += (n_frames[e] + block_frames - 1) // block_frames
    unit_ex = np.empty(total, dtype=np.int64)
    unit_f0 = np.empty(total, dtype=np.int64)
    u = 0
    for e in range(n_examples):
        for f0 in range(0, n_frames[e], block_frames):
            unit_ex[u] = e
            unit_f0[u] = f0
            u += 1
    return unit_ex, unit_f0, first_unit


@jit
def _mel_serial(layout, out, plan, window, weights, dct):
    """Both phases over every signal in the calling thread; returns per-example flags."""
    n_units = layout.unit_ex.shape[0]
    unit_max = np.empty(n_units)
    unit_bad = np.zeros(n_units, dtype=np.uint8)
    scratch = np.empty(_scratch_size(layout, plan), dtype=out.dtype)
    _mel_units(layout, out, scratch, plan, window, weights, dct, unit_max, unit_bad, 0, n_units)
    _finish(layout, out, scratch, plan, dct, unit_max, unit_bad, False, 0, n_units)
    if plan.normalize:
        _finish(layout, out, scratch, plan, dct, unit_max, unit_bad, True, 0, layout.n_frames.shape[0])
    return _summarise(layout, unit_max, unit_bad, plan.batch_top_db)[0]


@jit
def _scratch_size(layout, plan):
    """Elements of the stash that deferred cepstra need (0 when every example is one unit, or none wait)."""
    n = layout.n_frames.shape[0]
    if n == 0 or not _plan.deferred_cepstra(plan) or not _plan.floor_spans_units(plan, layout.n_frames.max()):
        return 0
    return layout.s_off[n - 1] + (plan.num_mel_bins + plan.energy_c0) * layout.n_frames[n - 1]


@jit
def _finish(layout, out, scratch, plan, dct, unit_max, unit_bad, normalise, lo, hi):
    """Phase 2 on units ``[lo, hi)``, or with ``normalise`` phase 3 on examples ``[lo, hi)``.

    The one entry point after phase 1 (so a first call loads or compiles one
    kernel, whichever steps a preset uses).  Each call reduces the per-unit
    maxima and flags itself (:func:`_summarise`, linear in the units).
    """
    flags, peaks = _summarise(layout, unit_max, unit_bad, plan.batch_top_db)
    if normalise:
        _normalize_examples(layout, out, plan, flags, lo, hi)
    else:
        _finish_units(layout, out, scratch, plan, dct, peaks, flags, lo, hi)
