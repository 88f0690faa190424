"""``pad_frames_to``: the frame axis padded with ``pad_value`` up to a multiple (NeMo's ``pad_to``) — a step that
changes the output's shape, asked of the one geometry by every entry point."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import melplug
from melplug import _cabi, _geometry, kernels

OPTS = dict(frame_length=400, hop_length=160, fft_length=512, num_mel_bins=24, log="ln", top_db=None)


def _pair(**kw):
    return melplug.FeatureExtractor(**OPTS, **kw), melplug.FeatureExtractor(**OPTS, **{**kw, "pad_frames_to": 1})


def _clip(n, seed=0, dtype=np.float32):
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(dtype)


@pytest.mark.parametrize("layout", ["frames_mels", "mels_frames"])
@pytest.mark.parametrize("n", [400, 4000, 16000, 16159, 16160])
def test_frames_padded_to_a_multiple(layout, n):
    padded, plain = _pair(pad_frames_to=16, pad_value=-3.0, layout=layout)
    x = _clip(n)
    got, ref = padded(x), plain(x)
    axis = 0 if layout == "frames_mels" else 1
    frames = ref.shape[axis]
    rows = -(-frames // 16) * 16
    assert got.shape[axis] == rows == padded.num_frames(n) == padded.compute_output_shape((n,))[axis]
    np.testing.assert_array_equal(np.take(got, range(frames), axis=axis), ref)
    assert (np.take(got, range(frames, rows), axis=axis) == -3.0).all()


def test_unknown_length_keeps_the_feature_axis():
    padded, _ = _pair(pad_frames_to=16, layout="frames_mels")
    assert padded.compute_output_shape((2, None)) == (2, None, 24)


def test_ragged_clips_and_batches_agree():
    padded, _ = _pair(pad_frames_to=8)
    clips = [_clip(n, seed=n) for n in (1000, 5000, 7777)]
    outs = padded(clips)
    for clip, out in zip(clips, outs, strict=True):
        np.testing.assert_array_equal(out, padded(clip))
        assert out.shape[1] % 8 == 0


def test_normalisation_ignores_the_padding():
    # NeMo normalises over the valid frames, then pads with 0
    padded, plain = _pair(pad_frames_to=16, normalize=True, layout="frames_mels")
    x = _clip(12345, dtype=np.float64)
    got, ref = padded(x), plain(x)
    np.testing.assert_array_equal(got[: ref.shape[0]], ref)
    assert (got[ref.shape[0] :] == 0.0).all()


def test_nan_propagates_to_the_padding_too():
    padded, _ = _pair(pad_frames_to=16, on_nonfinite="propagate")
    x = np.stack([_clip(5000), _clip(5000, seed=1)])
    x[1, 10] = np.nan
    out = padded(x)
    assert np.isnan(out[1]).all() and np.isfinite(out[0]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_entry_point_reads_the_geometry(dtype):
    padded, _ = _pair(pad_frames_to=16)
    x = np.stack([_clip(9000, seed=2, dtype=dtype), _clip(9000, seed=3, dtype=dtype)])
    wanted = padded(x)
    np.testing.assert_array_equal(kernels.mel_spectrogram(x, padded.plan), wanted)
    assert kernels.num_frames(9000, padded.plan) == wanted.shape[-1]
    packed = _cabi.PackedPlan(padded.plan)
    out = np.empty_like(wanted)
    flags = np.zeros(2, np.uint8)
    entry = ctypes.CFUNCTYPE(ctypes.c_int64, *[ctypes.c_int64] * 6)(_cabi.entry_address(x.dtype))
    assert entry(packed.address, x.ctypes.data, 2, x.shape[1], out.ctypes.data, flags.ctypes.data) == _cabi.DONE
    np.testing.assert_array_equal(out, wanted)
    geometry = np.zeros(1, _cabi.GEOMETRY)
    call = ctypes.CFUNCTYPE(ctypes.c_int64, *[ctypes.c_int64] * 3)(_cabi.geometry_address())
    assert call(packed.address, 9000, geometry.ctypes.data) == _cabi.DONE
    assert (int(geometry["shape_0"][0]), int(geometry["shape_1"][0])) == wanted.shape[1:]
    assert _geometry.output_shape(padded.plan, (2, 9000)) == wanted.shape


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(pad_frames_to=0), r"pad_frames_to=0 is invalid: it must be an integer >= 1"),
        (dict(pad_frames_to=16, output_frames=100), r"pad_frames_to=16 pads a variable frame count"),
        (dict(pad_frames_to=4, stack_frames=2, layout="frames_mels"), r"stack_frames=2 needs .* pad_frames_to=1"),
    ],
)
def test_refused_combinations(kw, match):
    with pytest.raises(ValueError, match=match):
        melplug.FeatureExtractor(**OPTS, **kw)
