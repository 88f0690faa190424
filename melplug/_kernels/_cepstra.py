"""Cepstral steps: the DCT-II over mel bands (liftered), Kaldi's log-energy ``c0``, and the stash of bands that wait."""

from __future__ import annotations

import numpy as np

from .._jit import jit_internal


@jit_internal
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


@jit_internal
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
