"""The logarithm step: each kind computed with its own libm function (regressions of the float64 path)."""

from __future__ import annotations

import numpy as np
import pytest

import melplug


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
