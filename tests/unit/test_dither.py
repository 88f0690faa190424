"""Engine options that no preset uses but ``melplug.FeatureExtractor`` offers: seeded dither."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import melplug
from melplug import _kernels


@numba.njit
def _draws(seed, frames, samples):
    out = np.empty(frames * samples)
    for f in range(frames):
        for i in range(samples):
            out[f * samples + i] = _kernels._gauss(seed, f, i)
    return out


def test_dither_noise_is_standard_normal_and_keyed():
    x = _draws(3, 200, 500)
    assert abs(x.mean()) < 0.01 and abs(x.std() - 1.0) < 0.01
    assert abs(np.mean(x**3)) < 0.03 and abs(np.mean(x**4) - 3.0) < 0.06  # skew 0, kurtosis 3
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 0.01
    assert not np.array_equal(x, _draws(4, 200, 500))
    np.testing.assert_array_equal(x, _draws(3, 200, 500))


def test_dither_is_the_same_for_any_batching_or_threads():
    x = np.zeros(24000, np.float32)
    fx = melplug.preset("kaldi", dither=1.0, dither_seed=3)
    one = fx(x)
    assert np.isfinite(one).all() and one.min() > np.log(np.finfo(np.float32).eps)  # noise, not the floor
    np.testing.assert_array_equal(fx([x, x[:8000]])[0], one)
    np.testing.assert_array_equal(fx(np.stack([x, x]), num_threads=2)[1], one)
    np.testing.assert_array_equal(fx([x[:8000]])[0], one[: fx.num_frames(8000)])
    assert not np.array_equal(melplug.preset("kaldi", dither=1.0, dither_seed=4)(x), one)


def test_dither_power_matches_its_variance():
    # Zero audio + dither d: the power spectrum of a windowed frame averages d**2 * sum(window**2).
    fx = melplug.FeatureExtractor(
        framing="snip_edges",
        frame_length=512,
        hop_length=512,
        window="rectangular",
        remove_dc=False,
        log=None,
        num_mel_bins=1,
        mel_scale="htk",
        mel_triangles="hz",
        mel_grid="integer",
        min_freq=0.0,
        max_freq=8000.0,
        dither=0.5,
        top_db=None,
    )
    power = fx(np.zeros(512 * 400))  # float64
    weights = fx.mel_weights[:, 0]
    expected = 0.25 * 512 * weights.sum()
    assert power.mean() == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(dither=-1.0), ValueError, "dither=-1.0"),
        (dict(dither="a"), TypeError, "dither must be"),
        (dict(dither_seed=-1), ValueError, "dither_seed=-1"),
        (dict(dither_seed=1.5), TypeError, "dither_seed must be"),
    ],
)
def test_dither_options_are_validated(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        melplug.FeatureExtractor(**kwargs)
