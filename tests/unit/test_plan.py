"""The plan layer (``melplug._plan``): a pure function of the config, one frame-count formula, a NamedTuple."""

from __future__ import annotations

import numpy as np

import melplug
from melplug import _geometry, _kernels, core

KW = dict(fft_length=512, sequence_length=400, sequence_stride=160, num_mel_bins=40, min_freq=0.0)
#: The configuration of the public kernel tests (tests/unit/test_kernels.py), read by the NamedTuple test below.
KERNEL_KW = dict(fft_length=400, sequence_stride=150, num_mel_bins=32, sampling_rate=16000)


def test_one_frame_count_formula():
    from melplug import kernels

    plan = melplug.MelSpectrogram(**KW).plan
    n = np.arange(1, 2000)
    expected = _geometry.num_frames(n, plan.fft_length, plan.hop_length)
    assert _kernels._frame_count.py_func is _geometry.frame_count
    assert [kernels.num_frames(int(k), plan) for k in n[::97]] == expected[::97].tolist()


def test_plan_is_a_pure_function_of_the_config():
    from melplug import _config, _plan

    mel = melplug.MelSpectrogram(**KW)
    engine = _config.keras_to_engine(_config.resolve({**core.KERAS_DEFAULTS, **core.EXTRA_DEFAULTS, **KW}))
    a, b = _plan.build_plan(engine), _plan.build_plan(dict(engine))
    for x, y, name in zip(a, b, a._fields, strict=True):
        np.testing.assert_array_equal(x, y, err_msg=name)
    np.testing.assert_array_equal(a.band_weights, mel.plan.band_weights)


def test_plan_is_a_namedtuple_of_arrays_and_scalars():
    plan = melplug.MelSpectrogram(**KERNEL_KW).plan
    assert isinstance(plan, melplug.MelPlan)
    assert plan.window.shape == (400,) and plan.window.dtype == np.float64
    assert plan.band_start.shape == plan.band_stop.shape == (32,)
    # each FFT bin feeds at most two bands
    counts = np.zeros(201, int)
    for m in range(32):
        counts[plan.band_start[m] : plan.band_stop[m]] += 1
    assert counts.max() <= 2
