"""melplug._audio: decoding, the channel-layout rule, channel policies, NaN checks, resampling.

Expected values come from soundfile, soxr and NumPy called directly.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from melplug import _audio
from melplug._audio import MAX_CHANNELS, AudioError
from tests._util import make_audio

# --------------------------------------------------------------------------- the layout rule


@pytest.mark.parametrize(
    "shape, channels_last",
    [
        ((2, 16000), False),
        ((16000, 2), True),
        ((1, 5), False),
        ((5, 1), True),
        ((1, 1), False),
        ((MAX_CHANNELS, MAX_CHANNELS + 1), False),
        ((MAX_CHANNELS + 1, MAX_CHANNELS), True),
        ((2, 3), False),
        ((3, 2), True),
    ],
)
def test_channels_first_orients_by_the_short_axis(shape, channels_last):
    samples = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    out = _audio.channels_first(samples, where="clip")
    np.testing.assert_array_equal(out, samples.T if channels_last else samples)
    assert np.shares_memory(out, samples)  # a view, never a copy


@pytest.mark.parametrize("shape", [(2, 2), (MAX_CHANNELS + 1, 4000), (4000, MAX_CHANNELS + 1), (20, 30), (5, 5)])
def test_ambiguous_layouts_name_the_shape(shape):
    with pytest.raises(AudioError, match=rf"^clip: shape \({shape[0]}, {shape[1]}\) is ambiguous") as info:
        _audio.channels_first(np.zeros(shape, np.float32), where="clip")
    assert isinstance(info.value, ValueError)
    assert info.value.where == "clip" and "np.moveaxis" in info.value.reason


def test_one_dimensional_is_one_channel_and_other_ranks_are_refused():
    mono = make_audio((100,))
    out = _audio.channels_first(mono, where="clip")
    assert out.shape == (1, 100) and np.shares_memory(out, mono)
    for shape in [(), (1, 2, 3)]:
        with pytest.raises(AudioError, match=r"1-D \(samples\) or 2-D \(channels, samples\)"):
            _audio.channels_first(np.zeros(shape), where="clip")


# --------------------------------------------------------------------------- channel policies


def test_select_channels_policies():
    stereo = np.stack([make_audio((64,), seed=1), make_audio((64,), seed=2)])
    mean = _audio.select_channels(stereo, "mean", where="x")
    assert mean.shape == (1, 64) and mean.dtype == np.float32
    np.testing.assert_array_equal(mean[0], (stereo[0] + stereo[1]) / np.float32(2))
    np.testing.assert_array_equal(_audio.select_channels(stereo, "first", where="x"), stereo[:1])
    assert _audio.select_channels(stereo, "all", where="x") is stereo
    with pytest.raises(AudioError, match=r"^x: it has 2 channels \(shape \(2, 64\), channels first\); fix it$"):
        _audio.select_channels(stereo, "raise", where="x", hint="; fix it")
    mono = stereo[:1]
    for policy in _audio.CHANNEL_POLICIES:
        assert _audio.select_channels(mono, policy, where="x") is mono  # one channel: nothing to do
    with pytest.raises(ValueError, match="channel policy 'left'"):
        _audio.select_channels(stereo, "left", where="x")


def test_mean_of_integer_samples_is_float64():
    pcm = np.array([[1, 2], [2, 5]], dtype=np.int16)
    out = _audio.select_channels(pcm, "mean", where="x")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[1.5, 3.5]])


def test_check_finite():
    clip = make_audio((1, 32))
    _audio.check_finite(clip, where="x")
    for bad in (np.nan, np.inf, -np.inf):
        broken = clip.copy()
        broken[0, 5] = bad
        with pytest.raises(AudioError, match="^x: it contains NaN or Inf samples$"):
            _audio.check_finite(broken, where="x")


# --------------------------------------------------------------------------- decoding and resampling


@pytest.fixture
def sf():
    return pytest.importorskip("soundfile", reason="decoding needs soundfile (melplug[cli] or melplug[hf])")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_decode_gives_channels_first_as_soundfile_reads(sf, tmp_path, dtype):
    stereo = np.stack([make_audio((900,), seed=1), 0.5 * make_audio((900,), seed=2)], axis=1)
    path = tmp_path / "s.flac"
    sf.write(path, stereo, 22050)
    expected, rate = sf.read(path, dtype=dtype, always_2d=True)
    for source in (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes())):
        data, got_rate = _audio.decode(source, where="s", dtype=dtype)
        assert (got_rate, data.dtype, data.shape) == (rate, np.dtype(dtype), (2, 900))
        assert data.flags.c_contiguous
        np.testing.assert_array_equal(data, expected.T)


def test_decode_errors_name_the_input_and_reason(sf, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    os.symlink(tmp_path / "gone.wav", tmp_path / "link.wav")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    cases = [
        (bad, r"cannot read it as audio: .*Format not recognised; try ffmpeg$"),
        (b"junk", r"cannot read it as audio: .*; try ffmpeg$"),
        (tmp_path / "link.wav", r"it is a broken symbolic link \(its target '.*gone\.wav' does not exist\)$"),
        (tmp_path / "missing.wav", r"it does not exist$"),
        (tmp_path, r"it is a folder, not an audio file$"),
        (empty, r"it holds no audio samples$"),
    ]
    for source, reason in cases:
        with pytest.raises(AudioError, match=r"^input: " + reason) as info:
            _audio.decode(source, where="input", hint="; try ffmpeg")
        assert info.value.where == "input"


def test_resample_matches_soxr(sf):
    soxr = pytest.importorskip("soxr", reason="resampling needs soxr (melplug[cli])")
    stereo = np.stack([make_audio((4410,), seed=1), make_audio((4410,), seed=2)])
    out = _audio.resample(stereo, 44100, 16000, where="x")
    expected = soxr.resample(stereo.T, 44100, 16000)
    assert out.shape == (2, 1600) and out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected.T)
    with pytest.raises(AudioError, match=r"^x: it is too short to resample from 44100 Hz to 16000 Hz$"):
        _audio.resample(stereo[:, :1], 44100, 16000, where="x")


def test_importing_melplug_does_not_import_decoders():
    import subprocess
    import sys

    code = "import sys, melplug._audio, melplug._io; print([m for m in ('soundfile', 'soxr') if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
