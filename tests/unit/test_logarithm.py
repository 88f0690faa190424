"""The logarithm step: each kind with its own libm function (float64 silence is exactly -100 dB), and
``log_guard``: ``log(max(M + guard, log_floor))``, the additive guard of NeMo's and Parakeet's log-mel."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import melplug
from melplug import _cabi, _geometry, kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_silence_is_exactly_the_floor_in_db(dtype):
    # Keras (and its test_output_shape) give exactly 10 log10(min_power) = -100 for all-zero input;
    # float64 used to give -99.99999999999999 (10 / ln 10 * ln 1e-10).
    out = melplug.MelSpectrogram(fft_length=256, sequence_stride=128, num_mel_bins=16)(np.zeros(1024, dtype))
    assert out.dtype == dtype
    assert np.all(out == 10.0 * np.log10(1e-10)), np.unique(out)


@pytest.mark.parametrize(("log", "expected"), [("log10", -10.0), ("ln", np.log(1e-10)), ("db", -100.0)])
def test_each_log_kind_at_the_floor_float64(log, expected):
    fx = melplug.FeatureExtractor(frame_length=256, hop_length=128, num_mel_bins=8, log=log, top_db=None)
    out = fx(np.zeros(1024, np.float64))
    assert np.all(out == expected), np.unique(out)


def test_plan_names_the_log_kind():
    assert melplug.FeatureExtractor(log=None).plan.log_kind == 0
    plan = melplug.preset("whisper").plan
    assert (plan.log_kind, plan.hop_length, plan.magnitude_power, plan.log_floor) == (3, 160, 2.0, 1e-10)


GUARD = 2.0**-24
OPTS = dict(frame_length=400, hop_length=160, fft_length=512, num_mel_bins=40, layout="frames_mels", top_db=None)


def _clip(dtype):
    rng = np.random.default_rng(5)
    x = 0.1 * rng.standard_normal(8000)
    x[2000:3000] = 0.0  # silent frames: the guard, not the floor, sets their value
    return x.astype(dtype)


@pytest.mark.parametrize("log", ["ln", "log10", "db"])
def test_guard_is_added_before_the_log_float64(log):
    x = _clip(np.float64)
    power = melplug.FeatureExtractor(**OPTS, log=None)(x)
    got = melplug.FeatureExtractor(**OPTS, log=log, log_guard=GUARD, log_floor=1e-30)(x)
    guarded = np.maximum(power + GUARD, 1e-30)
    wanted = {"ln": np.log(guarded), "log10": np.log10(guarded), "db": 10 * np.log10(guarded)}[log]
    np.testing.assert_allclose(got, wanted, rtol=1e-12, atol=1e-12)
    assert got.min() >= {"ln": np.log(GUARD), "log10": np.log10(GUARD), "db": 10 * np.log10(GUARD)}[log] - 1e-9


def test_guard_float32_matches_float32_arithmetic():
    x = _clip(np.float32)
    power = melplug.FeatureExtractor(**OPTS, log=None)(x)
    got = melplug.FeatureExtractor(**OPTS, log="ln", log_guard=GUARD)(x)
    wanted = np.log(np.maximum(power + np.float32(GUARD), np.float32(1e-10)))  # the sum in float32, as torch does
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, wanted, rtol=2e-6, atol=2e-6)


def test_zero_guard_changes_nothing():
    x = _clip(np.float32)
    np.testing.assert_array_equal(
        melplug.FeatureExtractor(**OPTS, log="ln", log_guard=0.0)(x), melplug.FeatureExtractor(**OPTS, log="ln")(x)
    )


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (-1.0, ValueError, "log_guard=-1.0 is invalid"),
        (float("nan"), ValueError, "log_guard=nan"),
        ("1", TypeError, "log_guard must be a real number"),
    ],
)
def test_guard_is_validated(value, error, match):
    with pytest.raises(error, match=match):
        melplug.FeatureExtractor(**OPTS, log="ln", log_guard=value)


def test_guard_needs_a_logarithm():
    with pytest.raises(ValueError, match=r"log_guard=0.5 is added before the logarithm: it needs log="):
        melplug.FeatureExtractor(**OPTS, log=None, log_guard=0.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_guard_crosses_every_entry_point(dtype):
    # the public @njit kernels and the C entry point (TF op) read the new plan field with no code of their own
    fx = melplug.FeatureExtractor(**OPTS, log="ln", log_guard=GUARD)
    x = np.stack([_clip(dtype), _clip(dtype)[::-1].copy()])
    wanted = fx(x)
    np.testing.assert_array_equal(kernels.mel_spectrogram(x, fx.plan), wanted)
    packed = _cabi.PackedPlan(fx.plan)
    out = np.empty_like(wanted)
    flags = np.zeros(2, np.uint8)
    entry = ctypes.CFUNCTYPE(ctypes.c_int64, *[ctypes.c_int64] * 6)(_cabi.entry_address(x.dtype))
    assert entry(packed.address, x.ctypes.data, 2, x.shape[1], out.ctypes.data, flags.ctypes.data) == _cabi.DONE
    assert out.shape == (2, *_geometry.example_shape(fx.plan, fx.num_frames(x.shape[1])))
    np.testing.assert_array_equal(out, wanted)
