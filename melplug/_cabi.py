"""C entry points: :func:`melplug.kernels.mel_spectrogram` and a plan's geometry as C functions (for the TensorFlow op).

The plan crosses the boundary by name.  :data:`PLAN_RECORD` is a NumPy
structured dtype derived from :class:`~melplug.MelPlan`'s own fields: a
scalar field is an ``int64``, ``float64`` or ``bool`` field of the same name;
an array field ``a`` is ``a__address`` and ``a__shape_0``, ``a__shape_1``, ...
:class:`PackedPlan` writes a plan into one such record field by field, and
the compiled side reads it back field by field, in ``_unpack``, whose source
is generated from ``MelPlan._fields`` when this module is imported.  Adding a
plan field changes no code here; native callers only pass the record's
address.

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

import operator
import typing

import numba
import numpy as np
from numba import types
from numba.core import sigutils
from numba.core.ccallback import CFunc

from . import _geometry, _jit, _kernels
from ._kernels import _pointer
from ._plan import MelPlan

__all__ = ["DONE", "FLAGGED", "GEOMETRY", "PLAN_RECORD", "RAISED", "PackedPlan", "entry_address", "geometry_address"]

#: What the entry points return: the computation raised (Numba's cfunc wrapper returns 0 then), it ran,
#: it ran and flagged an example of a plan that raises (``melplug_mel``).
RAISED, DONE, FLAGGED = 0, 1, 2

_SCALARS = {int: np.dtype(np.int64), float: np.dtype(np.float64), bool: np.dtype(np.bool_)}
_CONVERT = {int: operator.index, float: float, bool: bool}


def _sample_plan() -> MelPlan:
    from .core import FeatureExtractor  # the plan of the default configuration: its arrays' dtypes and ranks

    return FeatureExtractor(empty_bands="ignore").plan


def _field_layouts() -> dict[str, tuple]:
    """Each ``MelPlan`` field's C layout: ``(type, dtype)`` for scalars, ``(ndarray, dtype, ndim)`` for arrays."""
    hints = typing.get_type_hints(MelPlan)
    sample = None
    layouts: dict[str, tuple] = {}
    for name in MelPlan._fields:
        kind = hints[name]
        if kind in _SCALARS:
            layouts[name] = (kind, _SCALARS[kind])
        elif kind is np.ndarray:
            sample = sample or _sample_plan()
            value = np.asarray(getattr(sample, name))
            layouts[name] = (np.ndarray, value.dtype, value.ndim)
        else:  # pragma: no cover - a new kind of plan field needs a C layout
            raise TypeError(f"MelPlan.{name} is annotated {kind!r}; the C entry point takes int, float, bool, ndarray")
    return layouts


def _record_dtype(layouts: dict[str, tuple]) -> np.dtype:
    fields: list[tuple[str, np.dtype]] = []
    for name, layout in layouts.items():
        if layout[0] is np.ndarray:
            fields.append((f"{name}__address", np.dtype(np.int64)))
            fields.extend((f"{name}__shape_{k}", np.dtype(np.int64)) for k in range(layout[2]))
        else:
            fields.append((name, layout[1]))
    return np.dtype(fields, align=True)


def _unpack_source(layouts: dict[str, tuple]) -> str:
    """Source of ``_unpack(address)``: the ``MelPlan`` in the :data:`PLAN_RECORD` at ``address``, field by field."""
    lines = ["def _unpack(address):", "    r = _plan_record(address)", "    return MelPlan("]
    for name, layout in layouts.items():
        if layout[0] is np.ndarray:
            shape = "".join(f"r.{name}__shape_{k}, " for k in range(layout[2]))
            lines.append(f"        {name}=_view(r.{name}__address, ({shape}), np.{layout[1].name}),")
        else:
            lines.append(f"        {name}=r.{name},")
    lines.append("    )")
    return "\n".join(lines) + "\n"


_LAYOUTS = _field_layouts()
#: The packed plan: one record, fields named after MelPlan's (arrays as ``<name>__address``, ``<name>__shape_<k>``).
PLAN_RECORD = _record_dtype(_LAYOUTS)
#: What ``melplug_geometry`` writes (``melplug_op.cc``'s ``struct Geometry`` has these fields, in this order).
GEOMETRY = np.dtype([(name, np.int64) for name in ("shape_0", "shape_1", "error", "samples", "frames")])


class PackedPlan:
    """A :class:`MelPlan` packed into the :data:`PLAN_RECORD` the C entry points read.

    Holds the plan's arrays (C-contiguous copies where needed) and the record:
    keep this object alive as long as its address is in use.  Raises
    ``OverflowError``/``TypeError``/``ValueError`` for a value the record
    cannot hold (e.g. an ``int`` field of ``2**63``).
    """

    def __init__(self, plan: MelPlan) -> None:
        self.plan = plan
        self.record = np.zeros(1, dtype=PLAN_RECORD)
        self._arrays = []
        for name, layout in _LAYOUTS.items():
            value = getattr(plan, name)
            if layout[0] is np.ndarray:
                arr = np.ascontiguousarray(value, dtype=layout[1])
                if arr.ndim != layout[2]:
                    raise ValueError(f"MelPlan.{name} has {arr.ndim} dimension(s); the C entry point needs {layout[2]}")
                self._arrays.append(arr)
                self.record[f"{name}__address"] = arr.ctypes.data
                for k, size in enumerate(arr.shape):
                    self.record[f"{name}__shape_{k}"] = size
            else:
                self.record[name] = _CONVERT[layout[0]](value)

    @property
    def address(self) -> int:
        """Address of the record."""
        return int(self.record.ctypes.data)


@_jit.jit_inline
def _view(address, shape, dtype):
    return numba.carray(_pointer(address), shape, dtype)


@_jit.jit_inline
def _plan_record(address):
    return numba.carray(_pointer(address), (1,), PLAN_RECORD)[0]


@_jit.jit_inline
def _geometry_record(address):
    return numba.carray(_pointer(address), (1,), GEOMETRY)[0]


def _generate_unpack():
    namespace = {"MelPlan": MelPlan, "np": np, "_plan_record": _plan_record, "_view": _view, "__name__": __name__}
    exec(compile(_unpack_source(_LAYOUTS), f"<{__name__}: generated from MelPlan._fields>", "exec"), namespace)  # noqa: S102
    func = namespace["_unpack"]
    func.__doc__ = "The MelPlan of a PackedPlan's record (its arrays are views of the packed ones)."
    return _jit.jit_inline(func)


_unpack = _generate_unpack()


@_jit.jit_inline  # inlined, not cached on its own: the cfuncs' cache entries carry the record layout
def _mel_run(plan_addr, x_addr, batch, n, out_addr, flags_addr, dtype):
    plan = _unpack(plan_addr)
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
    plan = _unpack(plan_addr)
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
