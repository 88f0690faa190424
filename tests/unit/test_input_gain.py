"""``input_gain`` multiplies the samples first: before dither, DC removal, Kaldi's log energy and the window."""

from __future__ import annotations

import numpy as np
import pytest

import melplug


def _clip(seed=0, n=8000):
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float64)


@pytest.mark.parametrize("name", ["kaldi-mfcc", "kaldi", "ast", "whisper"])
def test_gain_equals_scaled_samples(name):
    # Used to fold the gain into the window, so Kaldi's raw log energy (c0 of kaldi-mfcc) missed it:
    # preset("kaldi-mfcc", input_gain=32768)(x) differed from preset("kaldi-mfcc")(x * 32768) by ~20.8 in c0.
    x = _clip()
    gained = melplug.preset(name, input_gain=32768.0)(x)
    scaled = melplug.preset(name)(x * 32768.0)
    np.testing.assert_array_equal(gained, scaled)  # a power of two: exact either way


def test_gain_scales_the_dither_too():
    # The noise is added to the gained samples (Kaldi adds dither to the samples it reads), so
    # gain g with dither d equals the samples times g with the same dither d, not d * g.
    x = _clip(1)
    opts = dict(dither=1.0, dither_seed=7)
    gained = melplug.preset("kaldi", input_gain=1024.0, **opts)(x)
    scaled = melplug.preset("kaldi", **opts)(x * 1024.0)
    np.testing.assert_array_equal(gained, scaled)


def test_non_power_of_two_gain_applies_to_samples_then_window():
    # without frame corrections the gain rides on the window (x g w = x (g w)): equal to float32 rounding
    x = _clip(2).astype(np.float32)
    gained = melplug.preset("librosa", input_gain=3.0)(x)
    scaled = melplug.preset("librosa")(x * np.float32(3.0))
    np.testing.assert_allclose(gained, scaled, rtol=1e-5, atol=1e-6 * scaled.max())
    # with them (Kaldi) the samples are gained first, then dithered, DC-corrected, measured and windowed
    x64 = _clip(3)
    np.testing.assert_array_equal(melplug.preset("kaldi", input_gain=3.0)(x64), melplug.preset("kaldi")(x64 * 3.0))
