"""Keras parity (numpy backend) and accuracy against the float64 reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import melplug
from tests._util import DB_TOL, KERAS_DB_TOL, make_audio

pytest.importorskip("scipy", reason="tests/references/mel.py builds its windows with scipy.signal (a test dependency)")
from tests.references import mel as reference  # noqa: E402

# (id, kwargs, audio shape)
CASES = [
    ("keras-defaults", {}, (8000,)),
    ("seed-unbatched", dict(num_mel_bins=64, sampling_rate=8000, sequence_stride=256, fft_length=2048), (16000,)),
    ("seed-batched", dict(num_mel_bins=80, sampling_rate=8000, sequence_stride=128, fft_length=2048), (2, 16000)),
    (
        "fft512",
        dict(fft_length=512, sequence_stride=160, sequence_length=400, num_mel_bins=80, min_freq=0.0, max_freq=8000),
        (3, 4000),
    ),
    ("fft400", dict(fft_length=400, sequence_stride=100, num_mel_bins=40), (3000,)),
    ("fft401-odd", dict(fft_length=401, sequence_stride=100, num_mel_bins=40), (3000,)),
    ("fft255-odd", dict(fft_length=255, sequence_stride=128, num_mel_bins=32), (2, 2047)),
    ("seq-shorter", dict(fft_length=1024, sequence_length=300, sequence_stride=200, num_mel_bins=48), (5000,)),
    ("seq-shorter-odd", dict(fft_length=512, sequence_length=301, sequence_stride=160, num_mel_bins=40), (4000,)),
    ("hamming", dict(fft_length=512, window="hamming", sequence_stride=128, num_mel_bins=40), (4000,)),
    ("rect", dict(fft_length=512, window=None, sequence_stride=128, num_mel_bins=40), (4000,)),
    ("stride>fft", dict(fft_length=256, sequence_stride=300, num_mel_bins=32), (5000,)),
    ("mag-0.5", dict(fft_length=512, sequence_stride=256, num_mel_bins=40, mag_exp=0.5), (4000,)),
    ("mag-1", dict(fft_length=512, sequence_stride=256, num_mel_bins=40, mag_exp=1.0), (4000,)),
    ("no-db", dict(fft_length=512, sequence_stride=256, num_mel_bins=40, power_to_db=False), (4000,)),
    ("neg-ref", dict(fft_length=512, sequence_stride=256, num_mel_bins=40, ref_power=-3.0), (4000,)),
    ("ref-min", dict(fft_length=512, sequence_stride=256, num_mel_bins=40, ref_power=0.0, min_power=1e-6), (4000,)),
    (
        "freq-band",
        dict(fft_length=1024, sequence_stride=256, num_mel_bins=30, min_freq=300.0, max_freq=3400.0),
        (6000,),
    ),
    (
        "freq-44k",
        dict(fft_length=2048, sequence_stride=512, sampling_rate=44100, num_mel_bins=96, min_freq=0.0),
        (12000,),
    ),
    ("top_db-small", dict(fft_length=512, sequence_stride=128, num_mel_bins=40, top_db=20.0), (4000,)),
    ("len1", dict(fft_length=2048), (1,)),
    ("len2", dict(fft_length=2048), (2,)),
    ("len5", dict(fft_length=2048), (5,)),
    ("len100", dict(fft_length=2048), (100,)),
    ("3d", dict(fft_length=256, sequence_stride=64, num_mel_bins=32), (2, 3, 1000)),
]


def keras_mel(keras, audio, **kwargs):
    layer = keras.layers.MelSpectrogram(**kwargs)
    return np.asarray(layer(audio))


def ours(audio, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return melplug.MelSpectrogram(**kwargs)(audio)


def assert_db_close(actual, expected, tol, power_to_db=True):
    assert actual.shape == expected.shape
    if power_to_db:
        np.testing.assert_allclose(actual, expected, rtol=0, atol=tol)
    else:
        scale = np.abs(expected).max()
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-6 * scale)


@pytest.mark.parametrize(("kwargs", "shape"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_keras_parity(keras, kwargs, shape):
    audio = make_audio(shape, seed=len(shape) + shape[-1])
    expected = keras_mel(keras, audio, **kwargs)
    got = ours(audio, **kwargs, top_db_scope="batch")
    assert got.dtype == np.float32
    assert got.shape == expected.shape
    assert_db_close(got, expected.astype(np.float32), KERAS_DB_TOL, kwargs.get("power_to_db", True))


@pytest.mark.parametrize(("kwargs", "shape"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reference_accuracy(kwargs, shape, dtype):
    audio = make_audio(shape, seed=shape[-1], dtype=dtype)
    expected = reference.mel_spectrogram(audio, **kwargs)
    got = ours(audio, **kwargs)
    assert got.dtype == dtype
    assert got.shape == expected.shape
    assert_db_close(got, expected, DB_TOL[dtype], kwargs.get("power_to_db", True))


def test_array_window(keras):
    win = np.linspace(0.1, 1.0, 300) ** 2
    kw = dict(fft_length=512, sequence_length=300, sequence_stride=128, num_mel_bins=40, window=win)
    audio = make_audio((4000,))
    assert_db_close(ours(audio, **kw), keras_mel(keras, audio, **kw), KERAS_DB_TOL)
    np.testing.assert_allclose(
        ours(audio.astype(np.float64), **kw), reference.mel_spectrogram(audio, **kw), atol=DB_TOL[np.float64], rtol=0
    )


def test_int16_input(keras):
    audio = (make_audio((2, 4000)) * 20000).astype(np.int16)
    kw = dict(fft_length=512, sequence_stride=160, num_mel_bins=40)
    got = ours(audio, **kw, top_db_scope="batch")
    assert got.dtype == np.float32
    assert_db_close(got, keras_mel(keras, audio, **kw), KERAS_DB_TOL)


def test_top_db_none_means_no_floor(keras):
    audio = make_audio((4000,))
    audio[2000:] = 0.0  # digital silence: min_power, 100 dB below 0 dB
    kw = dict(fft_length=512, sequence_stride=160, num_mel_bins=40)
    got = ours(audio, **kw, top_db=None)
    # Keras crashes on top_db=None; an unreachable floor is the same computation.
    expected = keras_mel(keras, audio, **kw, top_db=1e9)
    assert_db_close(got, expected, KERAS_DB_TOL)
    assert got.max() - got.min() > 80.0  # the default floor would have cut this


def test_top_db_scope(keras):
    loud = make_audio((4000,), seed=1)
    quiet = 1e-3 * make_audio((4000,), seed=2)
    batch = np.stack([loud, quiet])
    kw = dict(fft_length=512, sequence_stride=160, num_mel_bins=40)
    keras_batch = keras_mel(keras, batch, **kw)
    assert_db_close(ours(batch, **kw, top_db_scope="batch"), keras_batch, KERAS_DB_TOL)
    per_example = ours(batch, **kw)
    for i, clip in enumerate(batch):
        assert_db_close(per_example[i], keras_mel(keras, clip, **kw), KERAS_DB_TOL)
        # batching never changes an example's output with the default scope
        np.testing.assert_array_equal(per_example[i], ours(clip, **kw))
        assert per_example[i].min() >= per_example[i].max() - 80.0
    assert not np.allclose(per_example[1], keras_batch[1], atol=1.0)


def test_float64_input_gives_float64():
    audio = make_audio((3000,), dtype=np.float64)
    assert ours(audio, fft_length=256).dtype == np.float64
    assert ours(audio, fft_length=256, dtype="float32").dtype == np.float32
    assert ours(audio.astype(np.float32), fft_length=256, dtype="float64").dtype == np.float64


def test_mel_weights_match_keras(keras):
    mel = melplug.MelSpectrogram(num_mel_bins=80, fft_length=512, sampling_rate=16000, min_freq=0.0)
    layer = keras.layers.MelSpectrogram(num_mel_bins=80, fft_length=512, sampling_rate=16000, min_freq=0.0)
    expected = np.asarray(layer.linear_to_mel_weight_matrix(80, 257, 16000, 0.0, 8000))
    assert mel.mel_weights.shape == (257, 80)
    assert mel.mel_weights.dtype == np.float64
    np.testing.assert_allclose(mel.mel_weights, expected, atol=5e-5)
    np.testing.assert_allclose(mel.mel_weights, reference.mel_matrix(80, 512, 16000, 0.0, 8000), atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 100, 255, 256, 257, 1000])
@pytest.mark.parametrize(("fft_length", "stride"), [(2048, 512), (255, 128), (256, 128), (401, 100)])
def test_num_frames_matches_output(n, fft_length, stride):
    mel = melplug.MelSpectrogram(fft_length=fft_length, sequence_stride=stride, num_mel_bins=8, min_freq=0.0)
    out = mel(make_audio((n,)))
    assert out.shape == (8, mel.num_frames(n))
    assert mel.compute_output_shape((2, n)) == (2, 8, mel.num_frames(n))
    assert (
        mel.num_frames(n)
        == reference.mel_spectrogram(
            np.zeros(n), fft_length=fft_length, sequence_stride=stride, num_mel_bins=8, min_freq=0.0
        ).shape[-1]
    )


def test_functional_form_matches_class():
    audio = make_audio((2, 3000))
    np.testing.assert_array_equal(
        melplug.mel_spectrogram(audio, fft_length=256, num_mel_bins=20),
        melplug.MelSpectrogram(fft_length=256, num_mel_bins=20)(audio),
    )
