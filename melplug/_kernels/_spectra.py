"""Spectral steps: power, sparse mel weights, the logarithm and the ``top_db`` floor of a block of frames."""

from __future__ import annotations

import numpy as np
from numba.core import types
from numba.extending import overload

from .._jit import FASTMATH, LINK_ONLY, jit_internal
from ._layout import plan_band_offset, plan_band_start


def _complex_scratch(like, rows, cols):  # pragma: no cover - replaced by the overload
    raise NotImplementedError


@overload(_complex_scratch, jit_options=LINK_ONLY)
def _complex_scratch_impl(like, rows, cols):
    cdtype = np.complex64 if like.dtype == types.float32 else np.complex128

    def impl(like, rows, cols):
        return np.empty((rows, cols), dtype=cdtype)

    return impl


_LN2 = 0.6931471805599453

_SQRT2 = 1.4142135623730951

_F32_TINY = 1.1754943508222875e-38  # smallest normal float32


@jit_internal
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
    if log_kind == 2:
        for j in range(nf):
            row[j] = log_scale * np.log(row[j]) - ref_db
    else:  # decibels (10 log10) or log10
        mult = 10.0 if log_kind == 1 else 1.0
        for j in range(nf):
            row[j] = mult * np.log10(row[j]) - ref_db
    return finite


@jit_internal
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


@overload(_db_row, jit_options={"fastmath": set(FASTMATH), **LINK_ONLY})
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


@jit_internal
def _spectra_to_mel(spec_t, nf, plan, weights, power_t, mel_t, ebuf):
    """``|spec|**magnitude_power`` -> sparse mel -> dB for ``nf`` frames.

    ``spec_t`` is ``(fft_length // 2 + 1, >= nf)`` complex, bins major (the
    FFT writes it so: the power loops below then read contiguous frames;
    frames major, they were a fifth of a Kaldi frame's time).  Scratch ``power_t``
    is ``(fft_length // 2 + 1, >= nf)`` (bins major, so the mel sums run over
    contiguous frames and vectorise), ``ebuf`` is int32 of ``>= num_mel_bins * nf``.  The
    result goes to ``mel_t[:, :nf]``, already in the ``(num_mel_bins, frames)``
    layout.  Returns ``(maximum, finite)``: the block's maximum (``-inf``
    when no dB conversion is asked for) and whether every mel value before the
    logarithm was finite.
    """
    k0 = plan.bin_start
    power = plan.magnitude_power
    floor = power_t.dtype.type(plan.power_floor ** (power / 2.0)) if plan.power_floor > 0.0 else 0.0
    g = power_t.dtype.type(plan.power_guard)  # |X|**2 + g (BigVGAN); adding 0 changes nothing
    for k in range(k0, plan.bin_stop):
        prow = power_t[k, :nf]  # 0-based loops over slices: no wraparound, SIMD
        used = spec_t[k, :nf]
        if power == 2.0:
            for j in range(nf):
                c = used[j]
                prow[j] = c.real * c.real + c.imag * c.imag + g
        elif power == 1.0:
            for j in range(nf):
                c = used[j]
                prow[j] = np.sqrt(c.real * c.real + c.imag * c.imag + g)
        else:
            for j in range(nf):
                c = used[j]
                prow[j] = np.sqrt(c.real * c.real + c.imag * c.imag + g) ** power
        if plan.power_floor > 0.0:
            # |X|**2 clamped at power_floor before the exponent (Inkling: sqrt(max(|X|**2, 1e-10))) is the
            # result clamped at power_floor ** (power / 2): the exponent is monotonic.
            for j in range(nf):
                prow[j] = max(prow[j], floor)
    M = plan.num_mel_bins
    band_start = plan_band_start(plan)
    band_offset = plan_band_offset(plan)
    guard = mel_t.dtype.type(plan.log_guard)  # 0 unless the log is guarded, log(M + guard): free when off
    for m in range(M):
        row = mel_t[m, :nf]
        for j in range(nf):
            row[j] = guard
        bs = band_start[m]
        band = weights[band_offset[m] : band_offset[m + 1]]
        for kk in range(band.shape[0]):
            w = band[kk]
            prow = power_t[bs + kk, :nf]
            for j in range(nf):
                row[j] += w * prow[j]
    mx = -np.inf
    finite = True  # the logarithm's pass finds inf/NaN powers; without one, a pass of its own
    if plan.log_kind != 0:
        lo = mel_t.dtype.type(plan.log_min)  # -inf unless the logarithm has a fixed floor (Voxtral)
        if nf == mel_t.shape[1]:  # the block is contiguous: one long pass vectorises best
            flat = mel_t.reshape(-1)
            finite = _db_row(flat, M * nf, plan, ebuf)
            for i in range(M * nf):  # the fixed floor (-inf: none) and the maximum in one pass
                v = max(flat[i], lo)
                flat[i] = v
                mx = max(mx, v)
        else:
            for m in range(M):
                row = mel_t[m, :nf]
                finite &= _db_row(row, nf, plan, ebuf)
                for j in range(nf):
                    v = max(row[j], lo)
                    row[j] = v
                    mx = max(mx, v)
    else:
        zero = mel_t.dtype.type(0.0)
        acc = zero  # stays 0 unless a value is NaN or +-inf (x * 0 is NaN for those)
        for m in range(M):
            row = mel_t[m, :nf]
            for j in range(nf):
                acc += row[j] * zero
        finite = acc == zero
    return mx, finite


@jit_internal
def _floor_block(mel_t, nf, floor):
    """``mel_t[:, :nf] = max(mel_t[:, :nf], floor)``."""
    for m in range(mel_t.shape[0]):
        row = mel_t[m, :nf]
        for j in range(nf):
            row[j] = max(row[j], floor)
