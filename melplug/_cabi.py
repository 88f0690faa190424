"""C entry points: :func:`melplug.kernels.mel_spectrogram` and a plan's geometry as C functions (for the TensorFlow op).

The plan crosses the boundary as the kernels take it everywhere: one
:data:`~melplug._plan.PLAN_RECORD` (a NumPy structured dtype derived from
:class:`~melplug.MelPlan`'s own fields: a scalar field is an ``int64``,
``float64`` or ``bool`` field of the same name; an array field ``a`` is
``a__address`` and ``a__shape_0``, ``a__shape_1``, ...), written by a
:class:`~melplug._plan.PackedPlan`.  The entry points read the record at
the address they are given.  Adding a plan field changes no code here;
native callers only pass the record's address.

The entry points are ``numba.cfunc`` s, compiled once per process (one per
dtype for the mel) and kept in Numba's disk cache; their C signatures::

    int64 melplug_mel(int64 plan, int64 x, int64 batch, int64 n, int64 out, int64 flags)
    int64 melplug_geometry(int64 plan, int64 n, int64 result)

``melplug_mel`` runs the same jitted computation as ``kernels.mel_spectrogram``
(``_kernels._mel_into``) on the C-contiguous ``(batch, n)`` samples at ``x``
(``n >= 1``) into the ``batch`` example outputs at ``out`` (each of the shape
``melplug_geometry`` gives), writes each example's flags (``uint8``; 0 when
fine) to ``flags`` and returns :data:`FLAGGED` when some example is flagged
and the plan raises, else :data:`DONE`.  ``melplug_geometry`` writes a
:data:`GEOMETRY` record at ``result``: one example's output shape for ``n``
samples (``n = -1``: unknown; a size is ``-1`` when it depends on it) and
:func:`melplug._geometry.check_length`'s verdict, and returns :data:`DONE`.
Neither raises into its caller: if the computation raises (``MemoryError``),
Numba's wrapper prints the exception and returns 0, :data:`RAISED`.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.core import sigutils
from numba.core.ccallback import CFunc

from . import _geometry, _jit, _kernels
from ._kernels import _pointer
from ._kernels._layout import _view
from ._plan import PLAN_RECORD, PackedPlan

__all__ = ["DONE", "FLAGGED", "GEOMETRY", "PLAN_RECORD", "RAISED", "PackedPlan", "entry_address", "geometry_address"]

#: What the entry points return: the computation raised (Numba's cfunc wrapper returns 0 then), it ran,
#: it ran and flagged an example of a plan that raises (``melplug_mel``).
RAISED, DONE, FLAGGED = 0, 1, 2

#: What ``melplug_geometry`` writes (``melplug_op.cc``'s ``struct Geometry`` has these fields, in this order).
GEOMETRY = np.dtype([(name, np.int64) for name in ("shape_0", "shape_1", "error", "samples", "frames")])


@_jit.jit_inline
def _plan_record(address):
    return numba.carray(_pointer(address), (1,), PLAN_RECORD)[0]


@_jit.jit_inline
def _geometry_record(address):
    return numba.carray(_pointer(address), (1,), GEOMETRY)[0]


@_jit.jit_inline  # inlined, not cached on its own: the cfuncs' cache entries carry the record layout
def _mel_run(plan_addr, x_addr, batch, n, out_addr, flags_addr, dtype):
    plan = _plan_record(plan_addr)
    size = _geometry.out_width(plan) * _geometry.plan_frames(plan, n)[1]
    x = _view(x_addr, (batch, n), dtype)
    out = _view(out_addr, (batch * size,), dtype)
    flags = _view(flags_addr, (batch,), np.uint8)
    return FLAGGED if _kernels._mel_into(x, plan, out, flags) else DONE


def _mel_f32(plan_addr, x_addr, batch, n, out_addr, flags_addr):
    return _mel_run(plan_addr, x_addr, batch, n, out_addr, flags_addr, np.float32)


def _mel_f64(plan_addr, x_addr, batch, n, out_addr, flags_addr):
    return _mel_run(plan_addr, x_addr, batch, n, out_addr, flags_addr, np.float64)


def _geometry_entry(plan_addr, n, result_addr):
    plan = _plan_record(plan_addr)
    result = _geometry_record(result_addr)
    shape_0, shape_1 = _geometry.example_dims(plan, _geometry.rows_for(plan, n))
    result.shape_0 = shape_0
    result.shape_1 = shape_1
    error, samples, frames = _geometry.LENGTH_OK, n, 0
    if n >= 0:
        error, samples, frames = _geometry.check_length(plan, n)
    result.error = error
    result.samples = samples
    result.frames = frames
    return DONE


_SIGNATURES = {
    _mel_f32: types.int64(*[types.int64] * 6),
    _mel_f64: types.int64(*[types.int64] * 6),
    _geometry_entry: types.int64(*[types.int64] * 3),
}
_MEL = {np.dtype(np.float32): _mel_f32, np.dtype(np.float64): _mel_f64}
_compiled: dict = {}


def _compile(func) -> CFunc:
    """``numba.cfunc(signature, cache=True)(func)`` with melplug's stamped, recovering disk cache."""
    cfunc = CFunc(func, sigutils.normalize_signature(_SIGNATURES[func]), locals={}, options={"error_model": "numpy"})
    try:
        cfunc.enable_caching()
        _jit._recovering(cfunc)
        cache_file = getattr(cfunc._cache, "_cache_file", None)
        if cache_file is not None:  # the generated code depends on the record's layout: part of the stamp
            cache_file._source_stamp = (cache_file._source_stamp, str(PLAN_RECORD.descr))
    except RuntimeError:  # no locator (read-only install): compile in memory
        pass
    cfunc.compile()
    return cfunc


def _address(func) -> int:
    cfunc = _compiled.get(func)
    if cfunc is None:
        cfunc = _compiled[func] = _compile(func)
    return cfunc.address


def entry_address(dtype) -> int:
    """Address of ``melplug_mel`` for samples of ``dtype`` (float32 or float64), compiled or loaded once."""
    return _address(_MEL[np.dtype(dtype)])


def geometry_address() -> int:
    """Address of ``melplug_geometry``, compiled or loaded once."""
    return _address(_geometry_entry)
