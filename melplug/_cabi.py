"""C entry point: :func:`melplug.kernels.mel_spectrogram` as a C function, for native callers (the TensorFlow op).

:func:`entry_address` gives the address of a ``numba.cfunc`` (one per
dtype, compiled once per process and kept in Numba's disk cache) of C
signature::

    int64 melplug_mel(int64 plan_i, int64 plan_f, int64 x, int64 batch, int64 n, int64 out, int64 flags)

It rebuilds the :class:`~melplug.MelPlan` from two packed buffers
(:class:`PackedPlan`: ``plan_i`` holds the int/bool fields and each array's
address and length, ``plan_f`` the float fields), runs the same jitted
computation as ``kernels.mel_spectrogram`` (``kernels._mel_into``) on the
C-contiguous ``(batch, n)`` samples at ``x`` (``n >= 1``) into the
``batch * output_size(n)`` values at ``out``, writes each example's flags
(``uint8``; 0 when fine) to ``flags`` and returns 1 when some example is
flagged and the plan raises, else 0.  It never raises: the caller reports.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.core import sigutils
from numba.core.ccallback import CFunc

from . import _jit, _plan, kernels
from ._kernels import _pointer
from ._plan import MelPlan

__all__ = ["PackedPlan", "entry_address"]

#: Kinds of MelPlan's fields, in order: "i" int, "b" bool, "f" float, "a1"/"ai"/"a2" float64/int64/2-D float64 arrays.
FIELD_KINDS = {
    "fft_length": "i",
    "hop_length": "i",
    "frame_length": "i",
    "pad": "i",
    "pad_mode": "i",
    "input_length": "i",
    "input_gain": "f",
    "num_mel_bins": "i",
    "window": "a1",
    "win_start": "i",
    "win_stop": "i",
    "remove_dc": "b",
    "preemphasis": "f",
    "dither": "f",
    "dither_seed": "i",
    "band_start": "ai",
    "band_stop": "ai",
    "band_offset": "ai",
    "band_weights": "a1",
    "bin_start": "i",
    "bin_stop": "i",
    "magnitude_power": "f",
    "log_kind": "i",
    "log_scale": "f",
    "log_floor": "f",
    "ref_db": "f",
    "top_db": "f",
    "batch_top_db": "b",
    "num_ceps": "i",
    "dct": "a2",
    "energy_c0": "b",
    "out_scale": "f",
    "out_offset": "f",
    "out_frames": "i",
    "pad_value": "f",
    "frames_major": "b",
    "normalize": "b",
    "normalize_ddof": "i",
    "normalize_eps": "f",
    "stack_frames": "i",
    "propagate_nonfinite": "b",
    "block_frames": "i",
}
_ARRAY_DTYPES = {"a1": np.float64, "ai": np.int64, "a2": np.float64}
#: Lengths of the packed buffers: ints, bools and each array's address and shape; floats.
N_INTS, N_FLOATS = 37, 12


class PackedPlan:
    """A :class:`MelPlan` packed into the two buffers the C entry point reads.

    Holds the plan's arrays (C-contiguous copies where needed) and the
    buffers: keep this object alive as long as their addresses are in use.
    """

    def __init__(self, plan: MelPlan) -> None:
        if tuple(FIELD_KINDS) != MelPlan._fields:  # pragma: no cover - a MelPlan change must update both
            raise RuntimeError("melplug._cabi.FIELD_KINDS is out of step with MelPlan's fields")
        ints: list[int] = []
        floats: list[float] = []
        self._arrays = []
        for name, kind in FIELD_KINDS.items():
            value = getattr(plan, name)
            if kind in ("i", "b"):
                ints.append(int(value))
            elif kind == "f":
                floats.append(float(value))
            else:
                arr = np.ascontiguousarray(value, dtype=_ARRAY_DTYPES[kind])
                self._arrays.append(arr)
                ints.append(arr.ctypes.data)
                ints.extend(arr.shape if kind == "a2" else (arr.shape[0],))
        if (len(ints), len(floats)) != (N_INTS, N_FLOATS):  # pragma: no cover - see FIELD_KINDS
            raise RuntimeError("melplug._cabi.N_INTS/N_FLOATS are out of step with MelPlan's fields")
        self.ints = np.array(ints, dtype=np.int64)
        self.floats = np.array(floats, dtype=np.float64)
        self.plan = plan

    @property
    def addresses(self) -> tuple[int, int]:
        """Addresses of the int and float buffers."""
        return int(self.ints.ctypes.data), int(self.floats.ctypes.data)


@_jit.jit_inline
def _carray(address, shape, dtype):
    return numba.carray(_pointer(address), shape, dtype)


@_jit.jit_inline
def _unpack(pi_addr, pf_addr):
    """The MelPlan of a :class:`PackedPlan`'s buffers (the arrays are views of the plan's)."""
    i = _carray(pi_addr, (N_INTS,), np.int64)
    f = _carray(pf_addr, (N_FLOATS,), np.float64)
    return MelPlan(
        i[0],  # fft_length
        i[1],  # hop_length
        i[2],  # frame_length
        i[3],  # pad
        i[4],  # pad_mode
        i[5],  # input_length
        f[0],  # input_gain
        i[6],  # num_mel_bins
        _carray(i[7], (i[8],), np.float64),  # window
        i[9],  # win_start
        i[10],  # win_stop
        i[11] != 0,  # remove_dc
        f[1],  # preemphasis
        f[2],  # dither
        i[12],  # dither_seed
        _carray(i[13], (i[14],), np.int64),  # band_start
        _carray(i[15], (i[16],), np.int64),  # band_stop
        _carray(i[17], (i[18],), np.int64),  # band_offset
        _carray(i[19], (i[20],), np.float64),  # band_weights
        i[21],  # bin_start
        i[22],  # bin_stop
        f[3],  # magnitude_power
        i[23],  # log_kind
        f[4],  # log_scale
        f[5],  # log_floor
        f[6],  # ref_db
        f[7],  # top_db
        i[24] != 0,  # batch_top_db
        i[25],  # num_ceps
        _carray(i[26], (i[27], i[28]), np.float64),  # dct
        i[29] != 0,  # energy_c0
        f[8],  # out_scale
        f[9],  # out_offset
        i[30],  # out_frames
        f[10],  # pad_value
        i[31] != 0,  # frames_major
        i[32] != 0,  # normalize
        i[33],  # normalize_ddof
        f[11],  # normalize_eps
        i[34],  # stack_frames
        i[35] != 0,  # propagate_nonfinite
        i[36],  # block_frames
    )


@_jit.jit
def _run(pi_addr, pf_addr, x_addr, batch, n, out_addr, flags_addr, dtype):
    plan = _unpack(pi_addr, pf_addr)
    size = _plan.out_width(plan) * _plan.output_rows(plan, _plan.plan_frames(plan, n)[0])
    x = _carray(x_addr, (batch, n), dtype)
    out = _carray(out_addr, (batch * size,), dtype)
    flags = _carray(flags_addr, (batch,), np.uint8)
    return 1 if kernels._mel_into(x, plan, out, flags) else 0


def _mel_f32(pi_addr, pf_addr, x_addr, batch, n, out_addr, flags_addr):
    return _run(pi_addr, pf_addr, x_addr, batch, n, out_addr, flags_addr, np.float32)


def _mel_f64(pi_addr, pf_addr, x_addr, batch, n, out_addr, flags_addr):
    return _run(pi_addr, pf_addr, x_addr, batch, n, out_addr, flags_addr, np.float64)


_SIGNATURE = types.int64(*([types.int64] * 7))
_ENTRIES = {np.dtype(np.float32): _mel_f32, np.dtype(np.float64): _mel_f64}
_compiled: dict = {}


def _compile(func) -> CFunc:
    """``numba.cfunc(_SIGNATURE, cache=True)(func)`` with melplug's package-stamped, recovering disk cache."""
    cfunc = CFunc(func, sigutils.normalize_signature(_SIGNATURE), locals={}, options={"error_model": "numpy"})
    try:
        cfunc.enable_caching()
        _jit._recovering(cfunc)
    except RuntimeError:  # no locator (read-only install): compile in memory
        pass
    cfunc.compile()
    return cfunc


def entry_address(dtype) -> int:
    """Address of the C entry point for samples of ``dtype`` (float32 or float64), compiled or loaded once."""
    dtype = np.dtype(dtype)
    cfunc = _compiled.get(dtype)
    if cfunc is None:
        cfunc = _compiled[dtype] = _compile(_ENTRIES[dtype])
    return cfunc.address
