"""Every preset, however its clips arrive: batches and the standalone Numba kernels.

2-D, N-D and ragged input give each clip's 1-D result bit for bit (floors and
normalisations are per clip), and ``kernels.mel_spectrogram(audio2d, fx.plan)``
(from Python and from users' own ``@njit`` code) is ``fx(audio2d)``.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

import melplug
from melplug import kernels
from tests._util import assert_batching_consistent
from tests.presets._grid import CASES, DEFAULT_RATE, make_preset
from tests.references.signals import DTYPES, SIGNALS, make, make_signal

# --------------------------------------------------------------------------- whisper, kaldi


def _preset_batch(name: str, dtype):
    """A preset and three clips: a long one, a short one (kaldi: shorter than a window) and an odd one.

    Whisper's long clip is just under 30 s, which keeps this test fast (clips melplug zero-pads to 30 s are
    the slow case); short clips are covered by the reference grid.
    """
    lengths = [470001, 1, 16001] if name == "whisper" else [16001, 399, 4567]
    clips = [
        make_signal(kind, n, 16000, seed=10 + i).astype(dtype)
        for i, (kind, n) in enumerate(zip(("speech", "noise", "quiet"), lengths, strict=True))
    ]
    return melplug.preset(name), clips


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["whisper", "kaldi"])
def test_batched_equals_one_by_one_whisper_kaldi(name, dtype):
    """2-D, N-D and ragged input give each clip's 1-D result bit for bit (the floors are per clip)."""
    fx, clips = _preset_batch(name, dtype)
    assert_batching_consistent(fx, clips, dtype)


@numba.njit(cache=True)
def _user_features(batch, plan):
    """A user's own Numba function: melplug's kernel, then the user's reduction."""
    mel = kernels.mel_spectrogram(batch, plan)
    peaks = np.empty(batch.shape[0], dtype=mel.dtype)
    for e in range(batch.shape[0]):
        peaks[e] = mel[e].max()
    return mel, peaks, kernels.num_frames(batch.shape[1], plan)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["whisper", "kaldi"])
def test_standalone_numba(name, dtype):
    """``kernels.mel_spectrogram(audio2d, fx.plan)`` is the Python API, called from Python and from njit code."""
    fx, clips = _preset_batch(name, dtype)
    audio2d = np.ascontiguousarray(np.stack([clips[0], clips[0][::-1] * 0.5]))
    expected = fx(audio2d)
    got = kernels.mel_spectrogram(audio2d, fx.plan)
    assert got.dtype == dtype
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    mel, peaks, frames = _user_features(audio2d, fx.plan)
    assert mel.dtype == dtype
    assert mel.shape == expected.shape
    np.testing.assert_array_equal(mel, expected)
    np.testing.assert_array_equal(peaks, expected.max(axis=(1, 2)))
    assert frames == fx.num_frames(audio2d.shape[1])
    short = np.ascontiguousarray(audio2d[:1, :399])  # whisper: padded to 30 s; kaldi: no frame
    np.testing.assert_array_equal(kernels.mel_spectrogram(short, fx.plan), fx(short))


# --------------------------------------------------------------------------- librosa(-mfcc), torchaudio, kaldi-mfcc


def _batch_clips(name, dtype):
    """A long clip (several blocks of frames), a short one (librosa: < 1 frame; kaldi: < 1 window) and an odd one."""
    sr = DEFAULT_RATE[name]
    lengths = {"librosa": [66157, 300, 4567], "librosa-mfcc": [66157, 300, 4567], "torchaudio": [48007, 201, 4567]}
    lengths = lengths.get(name, [48007, 399, 4567])
    kinds = ("speech", "noise", "quiet")
    return [
        make_signal(k, n, sr, seed=20 + i).astype(dtype) for i, (k, n) in enumerate(zip(kinds, lengths, strict=True))
    ]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(CASES))
def test_batched_equals_one_by_one_librosa_torchaudio_mfcc(name, dtype):
    """2-D, 3-D and ragged input give each clip's 1-D result bit for bit."""
    fx = make_preset(name)
    clips = _batch_clips(name, dtype)
    assert_batching_consistent(fx, clips, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("name", list(CASES))
def test_standalone_kernel_equals_python_api(name, dtype):
    """``kernels.mel_spectrogram(audio2d, fx.plan)`` is ``fx(audio2d)``: short rows (the in-pass DCT) and long rows
    (past one block of frames: the deferred DCT of librosa-mfcc)."""
    fx = make_preset(name)
    sr = DEFAULT_RATE[name]
    long_n = 66150 if name.startswith("librosa") else 30001  # 130 frames of 512; 301 of 100 / 151 of 200
    assert fx.num_frames(long_n) > fx.plan.block_frames
    for n in (long_n, 5001):
        x = make_signal("speech", n, sr, seed=9)
        audio2d = np.ascontiguousarray(np.stack([x, 0.01 * x[::-1]]).astype(dtype))
        expected = fx(audio2d)
        got = kernels.mel_spectrogram(audio2d, fx.plan)
        assert got.dtype == dtype
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
        assert kernels.num_frames(n, fx.plan) == fx.num_frames(n)


# --------------------------------------------------------------------------- ast, w2v-bert


@pytest.mark.parametrize("name", ["ast", "w2v-bert"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_equals_one_by_one_ast_w2v_bert(name, dtype):
    fx = melplug.preset(name)
    lengths = (16007, 12345, 4001, 560)
    clips = [
        make(kind, n, 16000, dtype) for kind, n in zip(["speech", "tones", "noise", "speech"], lengths, strict=True)
    ]
    alone = [fx(c) for c in clips]
    for c, a in zip(clips, alone, strict=True):
        assert a.dtype == dtype and a.shape[0] == fx.num_frames(len(c))
    ragged = fx(clips)
    assert isinstance(ragged, list) and len(ragged) == len(clips)
    for r, a in zip(ragged, alone, strict=True):
        assert r.shape == a.shape and r.dtype == dtype
        np.testing.assert_array_equal(r, a)
    same = np.stack([make(k, 12345, 16000, dtype) for k in SIGNALS])
    batch = fx(same)
    assert batch.shape == (3, *fx(same[0]).shape) and batch.dtype == dtype
    for row, clip in zip(batch, same, strict=True):
        np.testing.assert_array_equal(row, fx(clip))
    np.testing.assert_array_equal(fx(same.reshape(3, 1, -1))[:, 0], batch)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "name",
    [
        "ast",
        "w2v-bert",
    ],
)
def test_kernel_path_equals_python_api(name, dtype):
    fx = melplug.preset(name)
    x = np.stack([make(k, 12345, 16000, dtype) for k in SIGNALS])  # 75 frames: odd for w2v-bert
    want = fx(x)
    got = kernels.mel_spectrogram(x, fx.plan)
    assert got.shape == want.shape and got.dtype == want.dtype
    if dtype == np.float32:
        np.testing.assert_array_equal(got, want)
    else:
        # float64: the same kernels, but the standalone path is compiled inside the caller, where LLVM
        # may vectorise the per-bin sums of the normalisation differently (seen once: 1e-13).
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-11)


@pytest.mark.parametrize(
    "name",
    [
        "ast",
        "w2v-bert",
    ],
)
def test_kernel_num_frames_equals_python_api(name):
    fx = melplug.preset(name)
    for n in (560, 721, 12345, 16007, 400 + 1100 * 160):
        assert kernels.num_frames(n, fx.plan) == fx.num_frames(n)
