"""melplug._cabi: the plan crosses the C boundary by name, the entry points equal the kernels, failures are visible."""

from __future__ import annotations

import ctypes
import os
import pickle
import re
import subprocess
import sys
import warnings

import numba
import numpy as np
import pytest

import melplug
from melplug import _cabi, _geometry, kernels
from melplug._kernels import _layout
from melplug._kernels._layout import PLAN_ARRAYS
from tests._util import ROOT, make_audio

PRESETS = ["whisper", "kaldi-mfcc", "w2v-bert", "keras", "ast", "librosa-mfcc"]
MEL = ctypes.CFUNCTYPE(ctypes.c_int64, *[ctypes.c_int64] * 6)
GEOMETRY = ctypes.CFUNCTYPE(ctypes.c_int64, *[ctypes.c_int64] * 3)


def _plan(name, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty-band notices of some presets
        return melplug.preset(name, **kwargs).plan


def _mel(packed, x):
    """``melplug_mel`` on ``x`` through ctypes: ``(return code, output, flags)``."""
    batch, n = x.shape
    shape = _geometry.example_shape(packed.plan, _geometry.rows_for(packed.plan, n))
    out = np.full((batch, *shape), -7.0, dtype=x.dtype)
    flags = np.zeros(batch, np.uint8)
    entry = MEL(_cabi.entry_address(x.dtype))
    rc = entry(packed.address, x.ctypes.data, batch, n, out.ctypes.data, flags.ctypes.data)
    return rc, out, flags


def _geometry_of(packed, n):
    result = np.zeros(1, _cabi.GEOMETRY)
    assert GEOMETRY(_cabi.geometry_address())(packed.address, n, result.ctypes.data) == _cabi.DONE
    return {name: int(result[name][0]) for name in _cabi.GEOMETRY.names}


def test_the_record_is_derived_from_the_plan_fields():
    names = set(_cabi.PLAN_RECORD.names)
    plan = _plan("kaldi-mfcc")
    for field, value in zip(melplug.MelPlan._fields, plan, strict=True):
        if isinstance(value, np.ndarray):
            assert {f"{field}__address", *(f"{field}__shape_{k}" for k in range(value.ndim))} <= names
            assert (value.dtype, value.ndim) == (np.dtype(PLAN_ARRAYS[field][0]), PLAN_ARRAYS[field][1]), field
        else:
            assert _cabi.PLAN_RECORD[field] == {int: np.int64, float: np.float64, bool: np.bool_}[type(value)], field
    assert set(PLAN_ARRAYS) == {f for f, v in zip(plan._fields, plan, strict=True) if isinstance(v, np.ndarray)}


@numba.njit
def _read_back(address):
    """The plan's arrays as the compiled side reads them from the record at ``address``."""
    plan = _cabi._plan_record(address)
    return (
        _layout.plan_window(plan).copy(),
        _layout.plan_band_start(plan).copy(),
        _layout.plan_band_stop(plan).copy(),
        _layout.plan_band_offset(plan).copy(),
        _layout.plan_band_weights(plan).copy(),
        _layout.plan_dct(plan).copy(),
        _layout.plan_feature_scale(plan).copy(),
        _layout.plan_feature_offset(plan).copy(),
        plan.hop_length,
        plan.top_db,
        plan.frames_major,
    )


@pytest.mark.parametrize("name", PRESETS)
def test_every_field_round_trips(name):
    plan = _plan(name)
    packed = _cabi.PackedPlan(plan)
    for field, want in zip(melplug.MelPlan._fields, plan, strict=True):
        if not isinstance(want, np.ndarray):
            got = packed.value[field]
            assert type(want)(got) == want and got.dtype == _cabi.PLAN_RECORD[field], field
    *arrays, hop, top_db, frames_major = _read_back(packed.address)  # the compiled reader
    for field, got in zip(PLAN_ARRAYS, arrays, strict=True):  # _read_back returns them in PLAN_ARRAYS' order
        want = getattr(plan, field)
        assert got.dtype == want.dtype and got.shape == want.shape, field
        np.testing.assert_array_equal(got, want, err_msg=field)
    assert (hop, top_db, frames_major) == (plan.hop_length, plan.top_db, plan.frames_major)


def test_a_packed_plan_pickles_as_its_plan():
    plan = _plan("kaldi-mfcc")
    packed = _cabi.PackedPlan(plan)
    copy = pickle.loads(pickle.dumps(packed))  # addresses are per process: the copy packs its own arrays
    assert copy.address != packed.address
    for field in _cabi.PLAN_RECORD.names:
        if not field.endswith("__address"):
            assert copy.value[field] == packed.value[field], field
    for got, want in zip(_read_back(copy.address)[:8], _read_back(packed.address)[:8], strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_c_entry_point_equals_the_kernels(name, dtype):
    plan = _plan(name)
    packed = _cabi.PackedPlan(plan)
    for shape in [(1, 16000), (3, 12345)]:
        x = make_audio(shape, seed=shape[1], dtype=dtype)
        rc, out, flags = _mel(packed, x)
        wanted = kernels.mel_spectrogram(x, plan)
        assert rc == _cabi.DONE and not flags.any()
        assert out.dtype == wanted.dtype and out.shape == wanted.shape
        np.testing.assert_array_equal(out, wanted)


@pytest.mark.parametrize("name", PRESETS)
def test_the_geometry_entry_point_is_the_python_geometry(name):
    plan = _plan(name)
    packed = _cabi.PackedPlan(plan)
    for n in [-1, 1, 150, 300, 400, 12345]:
        got = _geometry_of(packed, n)
        rows = _geometry.rows_for(plan, n)
        assert (got["shape_0"], got["shape_1"]) == tuple(int(d) for d in _geometry.example_dims(plan, rows))
        if n > 0:
            assert (got["error"], got["samples"], got["frames"]) == tuple(
                int(v) for v in _geometry.check_length(plan, n)
            )


def test_flagged_examples_are_reported():
    plan = _plan("keras")
    x = make_audio((3, 4000), seed=1)
    x[1, 5] = np.nan
    rc, _, flags = _mel(_cabi.PackedPlan(plan), x)
    assert rc == _cabi.FLAGGED and flags.tolist() == [0, 1, 0]
    rc, out, flags = _mel(_cabi.PackedPlan(_plan("keras", on_nonfinite="propagate")), x)
    assert rc == _cabi.DONE and np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()


def test_a_raising_computation_is_not_success(monkeypatch):
    """A computation that raises (here: an allocation too big for any machine) returns RAISED, never DONE."""
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)  # where Numba's cfunc wrapper reports it
    plan = _plan("keras")._replace(fft_length=2**62)  # the frames' scratch buffer: (frames, fft_length)
    rc, _, _ = _mel(_cabi.PackedPlan(plan), make_audio((2, 4000), seed=2))
    assert rc == _cabi.RAISED
    assert [type(r.exc_value) for r in reported] == [ValueError] and "too big" in str(reported[0].exc_value)


def test_values_the_record_cannot_hold_are_refused():
    with pytest.raises(OverflowError):
        _cabi.PackedPlan(_plan("kaldi")._replace(dither_seed=2**63))
    with pytest.raises(TypeError):
        _cabi.PackedPlan(_plan("kaldi")._replace(hop_length=160.5))


def test_the_op_reads_the_geometry_record_by_these_names():
    source = (ROOT / "melplug" / "_tfop" / "melplug_op.cc").read_text()
    found = re.search(r"struct Geometry \{\s*int64_t ([^;]*);\s*\};", source)
    assert found and [f.strip() for f in found.group(1).split(",")] == list(_cabi.GEOMETRY.names)


LOAD = """
import numpy as np
from melplug import _cabi
_cabi.entry_address(np.float32), _cabi.geometry_address()
print("HITS", *(_cabi._compiled[f].cache_hits for f in (_cabi._mel_f32, _cabi._geometry_entry)))
"""


def test_a_new_process_loads_the_entry_points_from_numbas_cache():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(2):  # the first run may compile (cold cache); the second must load
        proc = subprocess.run(
            [sys.executable, "-c", LOAD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert "HITS 1 1" in proc.stdout, proc.stdout
