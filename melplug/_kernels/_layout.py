"""Where a call's signals and outputs are (:class:`Layout`), its work units, and the flags the kernels report.

Kernel-level bookkeeping shared by the phases, the public ``@njit`` entry
points and the driver; it holds no policy (the driver decides the layout).
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

from .. import _geometry
from .._jit import LINK_ONLY, jit_inline, jit_internal, jitable


class Layout(NamedTuple):
    """Where the signals and their outputs are, and the work units: what the kernels read.

    Attributes
    ----------
    x_addr : ndarray of int64, shape (examples,)
        Address of each signal's first sample (compute dtype, contiguous).
    x_len, n_frames, o_off : ndarray of int64, shape (examples,)
        Samples, frames and output offset (in elements of the flat output) of
        each signal; its ``(num_mel_bins, n_frames)`` result is row-major there.
    unit_ex, unit_f0 : ndarray of int64, shape (units,)
        Work unit ``u`` is frames ``[unit_f0[u], unit_f0[u] + block_frames)``
        (clipped) of signal ``unit_ex[u]``.
    first_unit : ndarray of int64, shape (examples,)
        Each signal's first unit (its units are consecutive).
    s_off : ndarray of int64, shape (examples,)
        Offset of each signal's stash of mel bands in the scratch buffer of
        cepstra that wait for a floor (:func:`deferred_cepstra`); zeros otherwise.
    x_eff, n_valid, rows : ndarray of int64, shape (examples,)
        Each signal's framed length (:func:`melplug._geometry.framed_length`),
        valid frames (:func:`melplug._geometry.valid_count`) and the rows the
        frame phases write (:func:`melplug._geometry.stage_rows`), computed
        once by whoever lays the call out (the kernels only read them).
    """

    x_addr: np.ndarray
    x_len: np.ndarray
    n_frames: np.ndarray
    o_off: np.ndarray
    unit_ex: np.ndarray
    unit_f0: np.ndarray
    first_unit: np.ndarray
    s_off: np.ndarray
    x_eff: np.ndarray
    n_valid: np.ndarray
    rows: np.ndarray


#: Per-unit and per-example flags (bits).

BAD_INPUT = 1  # NaN/Inf among the samples

BAD_OUTPUT = 2  # finite samples, non-finite result (e.g. the power overflows the dtype)

_frame_count = jit_internal(_geometry.frame_count)

_plan_frames = jit_internal(_geometry.plan_frames)


@intrinsic
def _pointer(typingctx, address):
    """An ``int64`` address as a ``void*``, for :func:`numba.carray`."""
    sig = types.voidptr(types.int64)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


@intrinsic
def _load_acquire(typingctx, arr, i):
    """``arr[i]`` (int64) read with acquire order: re-read on every call, seeing what was stored before a release."""
    sig = types.int64(arr, types.intp)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])
        return builder.load_atomic(ptr, "acquire", 8)

    return sig, codegen


@intrinsic
def _store_release(typingctx, arr, i, value):
    """``arr[i] = value`` (int64) with release order: every store before it is seen before it."""
    sig = types.void(arr, types.intp, types.int64)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])
        builder.store_atomic(args[2], ptr, "release", 8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _claim(typingctx, arr, i, expected, value):
    """Atomically ``arr[i] = value`` if it holds ``expected`` (int64); whether it did (compare-and-swap)."""
    sig = types.boolean(arr, types.intp, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])
        pair = builder.cmpxchg(ptr, args[2], args[3], "acq_rel", "acquire")
        return builder.extract_value(pair, 1)

    return sig, codegen


#: Each array field of :class:`melplug.MelPlan`: its dtype and number of dimensions.  The kernels take the
#: plan as one record (:class:`melplug._plan.PackedPlan`) holding each array's address and shape.
PLAN_ARRAYS = {
    "window": (np.float64, 1),
    "band_start": (np.int64, 1),
    "band_stop": (np.int64, 1),
    "band_offset": (np.int64, 1),
    "band_weights": (np.float64, 1),
    "dct": (np.float64, 2),
    "feature_scale": (np.float64, 1),
    "feature_offset": (np.float64, 1),
}


@jit_inline
def _view(address, shape, dtype):
    return numba.carray(_pointer(address), shape, dtype)


def _plan_array(name: str):
    """``plan_<name>(plan)``: the view of array ``name`` of the plan's record (at its ``<name>__address``).

    Kernels read a plan's scalars by name (``plan.hop_length``) and its arrays
    through these (the public :mod:`melplug.kernels` pack a user's ``MelPlan``
    into a record first, :func:`melplug.kernels.pack_plan`).
    """
    dtype, ndim = PLAN_ARRAYS[name]
    address = f"{name}__address"
    shape_0, shape_1 = f"{name}__shape_0", f"{name}__shape_1"

    def get(plan):  # pragma: no cover - replaced by the overload
        raise NotImplementedError

    get.__name__ = get.__qualname__ = f"plan_{name}"

    @overload(get, jit_options=LINK_ONLY)
    def _get(plan):
        if not isinstance(plan, types.Record):
            raise TypingError(f"plan_{name} takes the plan's record (melplug._plan.PackedPlan), not {plan}")
        if ndim == 1:
            return lambda plan: _view(getattr(plan, address), (getattr(plan, shape_0),), dtype)
        return lambda plan: _view(getattr(plan, address), (getattr(plan, shape_0), getattr(plan, shape_1)), dtype)

    return get


plan_window = _plan_array("window")
plan_band_start = _plan_array("band_start")
plan_band_stop = _plan_array("band_stop")
plan_band_offset = _plan_array("band_offset")
plan_band_weights = _plan_array("band_weights")
plan_dct = _plan_array("dct")
plan_feature_scale = _plan_array("feature_scale")
plan_feature_offset = _plan_array("feature_offset")


@jit_internal
def _signal(layout, e, like):
    """Signal ``e`` of ``layout`` as a 1-D array of ``like``'s dtype (a view of the caller's memory)."""
    return numba.carray(_pointer(layout.x_addr[e]), (layout.x_len[e],), like.dtype)


@jitable
def _units(n_frames, block_frames):
    """The work units of signals with ``n_frames`` frames each: ``(unit_ex, unit_f0, first_unit)``.

    Array operations, so that the driver runs it in NumPy (nothing to
    compile) and :func:`melplug._kernels._mel_into` compiled.
    """
    counts = (n_frames + (block_frames - 1)) // block_frames
    first_unit = np.cumsum(counts) - counts
    unit_ex = np.repeat(np.arange(n_frames.shape[0]), counts)
    unit_f0 = (np.arange(unit_ex.shape[0]) - first_unit[unit_ex]) * block_frames
    return unit_ex, unit_f0, first_unit


@jitable
def floor_spans_units(plan, max_frames) -> bool:
    """Whether a ``top_db`` floor needs more than one work unit's maximum (phase 2 applies it).

    It does when it hangs from the batch, or from a clip longer than one
    block (``max_frames``: the most frames of any clip in the call); a unit
    that is a whole clip floors itself in phase 1.
    """
    floored = plan.log_kind != 0 and plan.top_db < np.inf
    return floored and (plan.batch_top_db or max_frames > plan.block_frames)


@jitable
def deferred_cepstra(plan) -> bool:
    """Whether cepstra wait for a floor that needs more than their frames (``top_db``).

    The DCT mixes every band of a frame, so the ``max - top_db`` floor must be
    applied to the mel bands first; where it hangs from a whole clip's (or the
    batch's) maximum, phase 1 leaves the floored-to-be bands in a scratch
    buffer and the finishing phase applies the floor and the DCT.
    """
    return plan.num_ceps > 0 and plan.log_kind != 0 and plan.top_db < np.inf
