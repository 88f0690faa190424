"""Geometry: a plan's frames, output rows and shapes, the clips too short for it, and the words for them.

The one home of these facts.  The functions marked *compiled* are
``register_jitable``: plain Python when called from Python (the core's
``num_frames``, ``compute_output_shape`` and length checks), compiled into
the kernels and into :mod:`melplug._cabi`'s geometry entry point, which the
TensorFlow op asks for its output shape and its length check (so the op's
C++ recomputes none of this).  Error messages are formatted here only, by
:func:`length_message` and :func:`nonfinite_message`; the op receives them
as templates made by the same functions.

Unknown lengths are ``-1`` in the compiled functions (``None`` in the Python
ones): a plan with a fixed output (``out_frames``) or a fixed input length
(``input_length``) has known output rows whatever the clip's length.

Examples
--------
>>> import melplug
>>> from melplug import _geometry
>>> plan = melplug.preset("whisper").plan
>>> _geometry.output_shape(plan, (4, None))
(4, 80, 3000)
>>> _geometry.length_error(melplug.preset("w2v-bert").plan, 300, "audio")[:60]
'audio has 300 samples, 0 valid frame(s); per-clip normalisat'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numba.core import types
from numba.extending import overload

from ._jit import LINK_ONLY, jitable

if TYPE_CHECKING:  # pragma: no cover
    from ._plan import MelPlan

__all__ = [
    "LENGTH_ERRORS",
    "PAD_MODES",
    "check_length",
    "clip_length",
    "effective_length",
    "empty_message",
    "example_name",
    "example_dims",
    "expands",
    "framed_length",
    "stage_rows",
    "stage_width",
    "example_shape",
    "fixed_rows",
    "frame_count",
    "length_error",
    "length_message",
    "nonfinite_message",
    "num_frames",
    "out_width",
    "output_rows",
    "output_shape",
    "plan_frames",
    "scalar_message",
    "rows_for",
    "time_steps",
    "valid_count",
]

#: The plan's ``pad_mode`` per engine option (``reflect_once`` decides which clips are long enough), and
#: ``"symmetric"``, Kaldi's reflection (the edge sample repeated), which ``framing="kaldi_center"`` implies
#: (not a ``pad_mode`` choice).
PAD_MODES = {"reflect": 0, "constant": 1, "reflect_once": 2, "symmetric": 3}
_REFLECT_ONCE = PAD_MODES["reflect_once"]

#: :func:`check_length`'s codes: 0 is a clip long enough; these are the errors.
LENGTH_OK = 0
TOO_SHORT_TO_REFLECT = 1
TOO_FEW_FRAMES_TO_NORMALIZE = 2
NO_FRAME_FOR_FIXED_OUTPUT = 3
TOO_LONG = 4
LENGTH_ERRORS = (TOO_SHORT_TO_REFLECT, TOO_FEW_FRAMES_TO_NORMALIZE, NO_FRAME_FOR_FIXED_OUTPUT, TOO_LONG)


# --------------------------------------------------------------------------- frames (compiled)


def _maximum(a, b):
    """``np.maximum`` in Python (ints or integer arrays); the builtin ``max`` of two ints when compiled."""
    return np.maximum(a, b)


def _minimum(a, b):
    """``np.minimum`` in Python (ints or integer arrays); the builtin ``min`` of two ints when compiled."""
    return np.minimum(a, b)


@overload(_maximum, jit_options=LINK_ONLY)
def _maximum_impl(a, b):
    # The kernels call the geometry on scalars: the builtin compiles to a compare, a ufunc to a loop nest.
    if isinstance(a, types.Integer) and isinstance(b, types.Integer):
        return lambda a, b: max(a, b)
    return lambda a, b: np.maximum(a, b)


@overload(_minimum, jit_options=LINK_ONLY)
def _minimum_impl(a, b):
    if isinstance(a, types.Integer) and isinstance(b, types.Integer):
        return lambda a, b: min(a, b)
    return lambda a, b: np.minimum(a, b)


@jitable
def frame_count(num_samples, frame_length, hop_length, pad):
    """Frames of a signal of ``num_samples`` samples: ``max(0, 1 + (n + 2 pad - frame_length) // hop)``.

    The one frame-count formula (centred frames have ``pad = frame_length //
    2``; Kaldi's snip-edges framing with ``pad = 0`` gives no frame for a
    signal shorter than one).  Works on ints, elementwise on integer arrays,
    and compiled inside the kernels.
    """
    count = 1 + (num_samples + 2 * pad - frame_length) // hop_length
    return count * (count > 0)


def num_frames(num_samples, fft_length, sequence_stride):
    """Keras' frame count (centred frames of ``fft_length`` samples)."""
    return frame_count(num_samples, fft_length, sequence_stride, fft_length // 2)


@jitable
def clip_length(plan: MelPlan, num_samples):
    """The clip's own samples: zero-extended to ``input_min_length``, cut at ``input_max_length``.

    What the valid frames are counted on (:func:`valid_count`).  Works on
    ints and elementwise on integer arrays, compiled too.
    """
    n = _maximum(num_samples, plan.input_min_length)
    if plan.input_max_length > 0:
        n = _minimum(n, plan.input_max_length)
    return n


@jitable
def effective_length(plan: MelPlan, num_samples):
    """Samples of the signal that is framed: the clip (:func:`clip_length`) zero-padded as the plan says.

    ``input_length`` fixes it; else the clip is zero-padded to at least
    ``input_pad_to`` and then up to a multiple of ``input_multiple``.
    """
    if plan.input_length > 0:
        return num_samples * 0 + plan.input_length
    n = _maximum(clip_length(plan, num_samples), plan.input_pad_to)
    if plan.input_multiple > 1:
        k = plan.input_multiple
        n = (n + k - 1) // k * k
    return n


@jitable
def _rule_frames(plan: MelPlan, n):
    """Frames of the plan's frame rule for a framed signal of ``n`` samples (before ``frame_multiple``)."""
    if plan.frame_rule == 1:
        return n // plan.hop_length
    if plan.frame_rule == 2:
        return (n + plan.hop_length - 1) // plan.hop_length
    if plan.frame_rule == 3:  # a frame needs one sample more than it reads (Gemma 3n unfolds frame + 1)
        return frame_count(n - 1 + plan.pad_end - plan.pad, plan.frame_length, plan.hop_length, plan.pad)
    return frame_count(n + plan.pad_end - plan.pad, plan.frame_length, plan.hop_length, plan.pad)


@jitable
def _multiple_frames(plan: MelPlan, n):
    """:func:`_rule_frames` rounded up to a multiple of ``frame_multiple``."""
    k = plan.frame_multiple
    return (_rule_frames(plan, n) + k - 1) // k * k


@jitable
def framed_length(plan: MelPlan, num_samples):
    """Samples of the signal the frames read: :func:`effective_length`, zero-extended for ``frame_multiple``.

    Frames added to reach a multiple of ``frame_multiple`` are computed from
    the signal zero-extended up to the last one's start, ``(frames - 1) *
    hop_length + 1`` samples (GraniteSpeech5 pads so); that changes where a
    reflect padding reflects.
    """
    n = effective_length(plan, num_samples)
    if plan.frame_multiple > 1:
        n = _maximum(n, (_multiple_frames(plan, n) - 1) * plan.hop_length + 1)
    return n


@jitable
def plan_frames(plan: MelPlan, num_samples):
    """``(computed, output)`` frames for ``num_samples`` samples under ``plan``.

    ``computed`` follows the plan's frame rule on the framed signal's length
    ``n`` (:func:`effective_length`): every frame of the framing
    (:func:`frame_count`), ``n // hop_length``, ``ceil(n / hop_length)``, or
    the framing's frames followed by one more sample (``lookahead``), rounded
    up to a multiple of ``frame_multiple``,
    never more than a fixed ``out_frames``.  ``output`` is the length of the
    output's time axis (:func:`output_rows`).  Works on ints, elementwise on
    integer arrays, and compiled in the kernels.
    """
    computed = _multiple_frames(plan, effective_length(plan, num_samples))
    if plan.out_frames > 0:
        computed = _minimum(computed, plan.out_frames)
    return computed, output_rows(plan, computed)


@jitable
def valid_count(plan: MelPlan, num_samples, computed):
    """The frames that carry a clip of ``num_samples`` samples with ``computed`` frames (never more).

    Counted on the clip's own samples ``n`` (:func:`clip_length`) by the
    plan's rule: every computed frame, ``n // hop_length``,
    ``ceil(n / hop_length)``, or the frames whose window lies inside the clip,
    ``(n - valid_window) // hop_length + 1``.  Per-clip normalisation takes
    its statistics over them; with ``pad_invalid`` the others are padding.
    """
    rule = plan.valid_rule
    if rule == 0:
        return computed
    n = clip_length(plan, num_samples)
    hop = plan.hop_length
    if rule == 1:
        v = n // hop
    elif rule == 2:
        v = (n + hop - 1) // hop
    else:
        v = (n - plan.valid_window + hop) // hop  # (n - window) // hop + 1, floored as Python floors
    return _minimum(_maximum(v, 0), computed)


@jitable
def stage_width(plan: MelPlan) -> int:
    """Values per computed frame: ``num_ceps`` for cepstra, else ``num_mel_bins``."""
    return plan.num_ceps if plan.num_ceps > 0 else plan.num_mel_bins


@jitable
def out_width(plan: MelPlan) -> int:
    """Values per output frame before stacking: :func:`stage_width`, twice that with deltas."""
    return stage_width(plan) * (2 if plan.delta_window > 0 else 1)


@jitable
def gathers(plan: MelPlan) -> bool:
    """Whether stacked rows are gathered (overlapping or edge-repeating rows, FunASR's LFR) rather than reshaped."""
    return plan.stack_repeat or plan.stack_stride != plan.stack_frames


@jitable
def expands(plan: MelPlan) -> bool:
    """Whether the computed frames are rewritten into the output by a last phase (deltas, gathered rows)."""
    return plan.delta_window > 0 or gathers(plan)


@jitable
def stage_rows(plan: MelPlan, computed):
    """Rows the frame phases write for ``computed`` frames: the output's, or the frames themselves when expanded."""
    if expands(plan):
        return computed
    return output_rows(plan, computed)


@jitable
def output_rows(plan: MelPlan, computed):
    """Frames in the output of an example with ``computed`` frames.

    ``out_frames`` when fixed; else ``computed`` rounded up to a multiple of
    ``stack_frames`` (stacked rows) and of ``pad_frames_to`` (the two are
    never both above 1); the missing frames are padding.  With ``stack_drop``
    the count is rounded down to whole rows instead.
    """
    if plan.out_frames > 0:
        return computed * 0 + plan.out_frames
    if gathers(plan):  # ceil(frames / stride) rows of stack_frames frames
        s = plan.stack_stride
        return (computed + s - 1) // s * plan.stack_frames
    k = plan.stack_frames * plan.pad_frames_to
    if plan.stack_drop:
        return computed // k * k
    return (computed + k - 1) // k * k


@jitable
def fixed_rows(plan: MelPlan) -> int:
    """Output rows whatever the clip's length (``out_frames``, or those of ``input_length``), else ``-1``."""
    if plan.out_frames > 0 or plan.input_length > 0:
        return plan_frames(plan, plan.input_length)[1]
    return -1


@jitable
def rows_for(plan: MelPlan, num_samples: int) -> int:
    """Output rows of a clip of ``num_samples >= 1`` samples; for ``-1`` (unknown), :func:`fixed_rows`."""
    if num_samples < 0:
        return fixed_rows(plan)
    return plan_frames(plan, num_samples)[1]


@jitable
def example_dims(plan: MelPlan, rows: int):
    """One example's output shape for ``rows`` output rows (``-1``: unknown, as is that dimension).

    ``(width, rows)``, ``(rows, width)`` for the frames-major layout, or
    ``(rows / k, width * k)`` when ``k = stack_frames > 1`` frames are stacked.
    """
    width, k = out_width(plan), plan.stack_frames
    if k > 1:
        return (rows // k if rows >= 0 else -1), width * k
    if plan.frames_major:
        return rows, width
    return width, rows


@jitable
def check_length(plan: MelPlan, num_samples: int):
    """Whether a clip of ``num_samples`` samples is long enough: ``(code, samples, frames)``.

    ``code`` is :data:`LENGTH_OK` or one of :data:`LENGTH_ERRORS` (torch's
    reflect padding needs more samples than it pads by; per-clip
    normalisation needs more than ``normalize_ddof`` frames; a fixed output
    needs one frame); ``samples`` and ``frames`` are the numbers
    :func:`length_message` reports.
    """
    if plan.input_overflow_raises and plan.input_max_length > 0 and num_samples > plan.input_max_length:
        return TOO_LONG, num_samples, 0
    if plan.pad_mode == _REFLECT_ONCE and plan.pad > 0:
        n_eff = framed_length(plan, num_samples)
        if n_eff <= plan.pad:
            return TOO_SHORT_TO_REFLECT, n_eff, 0
    if not (plan.normalize or plan.out_frames > 0):
        return LENGTH_OK, num_samples, 0
    computed = plan_frames(plan, num_samples)[0]
    if plan.normalize:
        valid = valid_count(plan, num_samples, computed)
        if valid <= plan.normalize_ddof or valid == 0:
            return TOO_FEW_FRAMES_TO_NORMALIZE, num_samples, valid
    if computed == 0:
        return NO_FRAME_FOR_FIXED_OUTPUT, num_samples, 0
    return LENGTH_OK, num_samples, computed


# --------------------------------------------------------------------------- Python views


@jitable
def time_steps(plan: MelPlan, num_samples: int) -> int:
    """Length of the output's time axis for a clip of ``num_samples >= 1`` samples (stacked rows count once).

    Compiled too (:func:`melplug.kernels.num_frames`).
    """
    return rows_for(plan, num_samples) // plan.stack_frames


def example_shape(plan: MelPlan, rows: int | None) -> tuple[int | None, int | None]:
    """:func:`example_dims` with ``None`` for unknown sizes."""
    dims = example_dims(plan, -1 if rows is None else int(rows))
    return tuple(None if d < 0 else int(d) for d in dims)


def output_shape(plan: MelPlan, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
    """Output shape for an input ``(..., samples)`` (sizes ``None`` when unknown; the output's too unless fixed)."""
    *lead, samples = input_shape
    rows = rows_for(plan, -1 if samples is None else samples)
    return (*lead, *example_shape(plan, None if rows < 0 else rows))


def length_message(plan: MelPlan, code: int, where: str, samples, frames) -> str:
    """The text of :func:`check_length`'s error ``code`` for the clip called ``where``.

    ``samples`` and ``frames`` are its numbers (the TensorFlow op passes
    ``"{samples}"`` and ``"{frames}"`` to get a template); ``""`` for
    :data:`LENGTH_OK`.
    """
    if code == TOO_SHORT_TO_REFLECT:
        return (
            f"{where} has {samples} samples; pad_mode='reflect_once' (torch's reflect padding) needs more than the "
            f"{plan.pad} samples it pads by: clips of at least {plan.pad + 1} samples"
        )
    if code == TOO_FEW_FRAMES_TO_NORMALIZE:
        ddof = plan.normalize_ddof
        need = max(ddof, 0) + 1
        shortest = _shortest_normalisable(plan, need)
        return (
            f"{where} has {samples} samples, {frames} valid frame(s); per-clip normalisation "
            f"(normalize_ddof={ddof}) needs at least {need}: clips of at least {shortest} samples"
        )
    if code == TOO_LONG:
        return (
            f"{where} has {samples} samples, more than input_max_length={plan.input_max_length} (the longest clip "
            "this extractor takes in one piece, as its reference does); split the clip"
        )
    if code == NO_FRAME_FOR_FIXED_OUTPUT:
        return (
            f"{where} has {samples} samples, shorter than one frame ({plan.frame_length} samples): too short for a "
            f"fixed output of {plan.out_frames} frames; pad the clip to at least {plan.frame_length} samples"
        )
    return ""


def _shortest_normalisable(plan: MelPlan, need: int) -> int:
    """The fewest samples whose clip has ``need`` valid frames (searched: every rule is monotonic in the length)."""
    lo, hi = 1, 1
    while _valid_frames(plan, hi) < need:
        hi *= 2
        if hi > 1 << 40:  # pragma: no cover - a plan whose frames never reach ``need``
            return hi
    while lo < hi:
        mid = (lo + hi) // 2
        if _valid_frames(plan, mid) >= need:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _valid_frames(plan: MelPlan, num_samples: int) -> int:
    return int(valid_count(plan, num_samples, plan_frames(plan, num_samples)[0]))


def length_error(plan: MelPlan, num_samples: int, where: str) -> str | None:
    """The error text for a clip of ``num_samples`` samples called ``where``, or ``None`` if it is long enough."""
    code, samples, frames = check_length(plan, num_samples)
    return length_message(plan, code, where, samples, frames) if code != LENGTH_OK else None


def scalar_message(where: str) -> str:
    """The error text for 0-d audio called ``where``."""
    return f"{where} is a scalar (0-d); pass an array of shape (..., samples)"


def empty_message(where: str, shape) -> str:
    """The error text for audio of ``shape`` with no sample (``shape`` as Python shows a tuple)."""
    return f"{where} is empty (shape {shape}); it needs at least one example of >= 1 sample"


def example_name(where: str, index) -> str:
    """How an error names example ``index`` (an int, or a tuple for N-D batches) of the audio called ``where``."""
    return f"{where} example {index}"


def nonfinite_message(bad_input: bool, where: str, count, total, what: str, dtype) -> str:
    """The error text for non-finite data: ``where`` is the first flagged of ``total`` ``what``, ``count`` flagged.

    ``bad_input``: its samples are NaN/Inf; else its finite samples gave a
    non-finite result in ``dtype`` arithmetic (overflow).
    """
    if bad_input:
        problem = "contains NaN or Inf samples"
        fix = "clean the audio"
    else:
        problem = (
            f"gives non-finite values although its samples are finite: they are too large for {np.dtype(dtype).name} "
            "arithmetic (the power overflows)"
        )
        fix = "scale the audio down (samples are usually in [-1, 1]) or pass dtype='float64'"
    return (
        f"{where} {problem} ({count} of {total} {what} affected); {fix}, or pass on_nonfinite='propagate' to get NaN "
        f"output for such {what}"
    )
