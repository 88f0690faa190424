"""Kernel layer: private Numba kernels, arrays in, preallocated arrays out, no validation.

One call handles many signals, described by a :class:`Layout` (a
NamedTuple, like the plan):

* signal ``e`` is ``x_len[e]`` samples at address ``x_addr[e]``, in the
  compute dtype: the driver passes the caller's arrays where they already
  are, so a ragged list of clips is never concatenated;
* ``out`` : 1-D, the compute dtype; the result of signal ``e`` starts at
  ``out[o_off[e]]`` (row-major, in the plan's layout);
* work units: unit ``u`` is frames ``[unit_f0[u], unit_f0[u] + block_frames)``
  (clipped) of signal ``unit_ex[u]``.  Units of one signal are consecutive,
  starting at ``first_unit[e]``.

The modules follow the steps of the computation, so a new step lives beside
its family:

* :mod:`._layout` — the layout, work units, flags, signal access;
* :mod:`._frames` — padding, dither, DC removal, energy, pre-emphasis, window;
* :mod:`._spectra` — power, sparse mel weights, logarithm, ``top_db`` floor;
* :mod:`._cepstra` — DCT-II, lifter, log-energy ``c0``;
* :mod:`._output` — output layout, affine map, padding, normalisation;
* :mod:`._phases` — the phases that run the steps over work units.

Every hot loop runs over a slice with a 0-based index: Numba then drops its
negative-index handling and vectorises.
"""

from ._frames import _fill_frames, _gauss
from ._layout import (
    BAD_INPUT,
    BAD_OUTPUT,
    Layout,
    _frame_count,
    _plan_frames,
    _pointer,
    _units,
    deferred_cepstra,
    floor_spans_units,
)
from ._phases import (
    _finish,
    _finish_cepstra,
    _finish_expand,
    _finish_normalize,
    _mel_into,
    _mel_serial,
    _mel_units,
    _summarise,
)
from ._spectra import _spectra_to_mel

__all__ = [
    "BAD_INPUT",
    "BAD_OUTPUT",
    "Layout",
    "_fill_frames",
    "_finish",
    "_finish_cepstra",
    "_finish_expand",
    "_finish_normalize",
    "_frame_count",
    "_gauss",
    "_mel_into",
    "_mel_serial",
    "_mel_units",
    "_plan_frames",
    "_pointer",
    "_spectra_to_mel",
    "_summarise",
    "_units",
    "deferred_cepstra",
    "floor_spans_units",
]
