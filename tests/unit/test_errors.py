"""Every invalid argument and input of SPEC §2 gets a clear error; warnings as specified."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import melplug
from tests._util import make_audio

KW = dict(fft_length=512, sequence_length=400, sequence_stride=160, num_mel_bins=40, min_freq=0.0)

BAD_ARGS = [
    # (kwargs, exception, regex that must appear: argument name and received value)
    (dict(fft_length=0), ValueError, r"fft_length=0"),
    (dict(fft_length=-4), ValueError, r"fft_length=-4"),
    (dict(fft_length=512.0), TypeError, r"fft_length.*512\.0"),
    (dict(fft_length=True), TypeError, r"fft_length.*True"),
    (dict(sequence_stride=0), ValueError, r"sequence_stride=0"),
    (dict(sequence_stride=-1), ValueError, r"sequence_stride=-1"),
    (dict(sequence_stride="10"), TypeError, r"sequence_stride.*'10'"),
    (dict(sequence_length=0), ValueError, r"sequence_length=0"),
    (dict(fft_length=256, sequence_length=300), ValueError, r"sequence_length=300.*fft_length=256"),
    (dict(window="blackman"), ValueError, r"window='blackman'.*'hann', 'hamming'"),
    (dict(window=5), ValueError, r"window has shape \(\)"),
    (dict(fft_length=256, window=np.ones(100)), ValueError, r"window has shape \(100,\).*\(256,\)"),
    (dict(fft_length=8, window=np.array([1, 2, np.nan, 1, 1, 1, 1, 1.0])), ValueError, r"window contains NaN"),
    (dict(fft_length=4, window=np.array(["a", "b", "c", "d"])), TypeError, r"window.*dtype <U1"),
    (dict(sampling_rate=0), ValueError, r"sampling_rate=0"),
    (dict(sampling_rate=-16000), ValueError, r"sampling_rate=-16000"),
    (dict(sampling_rate=float("nan")), ValueError, r"sampling_rate=nan"),
    (dict(num_mel_bins=0), ValueError, r"num_mel_bins=0"),
    (dict(num_mel_bins=80.5), TypeError, r"num_mel_bins.*80\.5"),
    (dict(min_freq=-1.0), ValueError, r"min_freq=-1\.0"),
    (dict(min_freq=float("inf")), ValueError, r"min_freq=inf"),
    (dict(min_freq=4000.0, max_freq=3000.0), ValueError, r"max_freq=3000.*min_freq=4000"),
    (dict(min_freq=4000.0, max_freq=4000.0), ValueError, r"max_freq=4000.*min_freq=4000"),
    (dict(min_freq=9000.0), ValueError, r"max_freq=8000.*min_freq=9000"),
    (dict(max_freq="high"), TypeError, r"max_freq.*'high'"),
    (dict(power_to_db="yes"), TypeError, r"power_to_db.*'yes'"),
    (dict(top_db=-1.0), ValueError, r"top_db=-1\.0.*>= 0"),
    (dict(top_db=float("nan")), ValueError, r"top_db=nan"),
    (dict(mag_exp=0.0), ValueError, r"mag_exp=0\.0"),
    (dict(mag_exp=-2.0), ValueError, r"mag_exp=-2\.0"),
    (dict(min_power=0.0), ValueError, r"min_power=0\.0.*> 0"),
    (dict(min_power=-1e-10), ValueError, r"min_power=-1e-10"),
    (dict(ref_power=float("inf")), ValueError, r"ref_power=inf"),
    (dict(ref_power=None), TypeError, r"ref_power.*None"),
    (dict(top_db_scope="global"), ValueError, r"top_db_scope='global'.*'example', 'batch'"),
    (dict(dtype="float16"), ValueError, r"dtype='float16'.*'float32' or 'float64'"),
    (dict(dtype="int32"), ValueError, r"dtype='int32'"),
    (dict(on_nonfinite="ignore"), ValueError, r"on_nonfinite='ignore'.*'raise', 'propagate'"),
    (dict(num_threads=0), ValueError, r"num_threads=0"),
    (dict(num_threads=2.0), TypeError, r"num_threads.*2\.0"),
]


@pytest.mark.parametrize(("kwargs", "exc", "match"), BAD_ARGS, ids=[repr(a[0])[:50] for a in BAD_ARGS])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        melplug.MelSpectrogram(**kwargs)
    with pytest.raises(exc, match=match):
        melplug.mel_spectrogram(np.zeros(100, np.float32), **kwargs)


def test_unknown_argument_is_type_error():
    with pytest.raises(TypeError, match="n_mels"):
        melplug.MelSpectrogram(n_mels=80)


@pytest.fixture(scope="module")
def mel():
    return melplug.MelSpectrogram(fft_length=256, sequence_stride=128, num_mel_bins=16)


@pytest.mark.parametrize(
    ("audio", "exc", "match"),
    [
        (np.zeros(0, np.float32), ValueError, r"audio is empty \(shape \(0,\)\)"),
        (np.zeros((3, 0), np.float32), ValueError, r"audio is empty \(shape \(3, 0\)\)"),
        (np.zeros((0, 100), np.float32), ValueError, r"audio is empty \(shape \(0, 100\)\)"),
        (np.float32(1.0), ValueError, r"scalar \(0-d\)"),
        (3.0, ValueError, r"scalar \(0-d\)"),
        ([], ValueError, r"empty list"),
        (np.zeros(100, np.complex64), TypeError, r"complex dtype complex64"),
        (np.zeros(100, bool), TypeError, r"boolean dtype bool"),
        (np.array(["a", "b"]), TypeError, r"string dtype <U1"),
        ("some audio", TypeError, r"string dtype"),
        (np.array([object(), object()]), TypeError, r"object dtype"),
        ([np.zeros(10), np.zeros(0)], ValueError, r"audio\[1\] is empty"),
        ([np.zeros(10), np.zeros((2, 10))], ValueError, r"audio\[1\] must be a 1-D array.*\(2, 10\)"),
        ([np.zeros(10), np.zeros(10, np.complex128)], TypeError, r"audio\[1\] has complex dtype"),
    ],
    ids=lambda v: None,
)
def test_bad_audio(mel, audio, exc, match):
    with pytest.raises(exc, match=match):
        mel(audio)


def test_bad_num_threads_per_call(mel):
    with pytest.raises(ValueError, match="num_threads=-1"):
        mel(np.zeros(100, np.float32), num_threads=-1)


def test_bad_num_frames_argument(mel):
    with pytest.raises(ValueError, match="num_samples=0"):
        mel.num_frames(0)
    with pytest.raises(TypeError, match="num_samples"):
        mel.num_frames(10.5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nonfinite_raises_naming_the_example(mel, bad, dtype):
    audio = make_audio((4, 3000), dtype=dtype)
    audio[2, 1234] = bad
    with pytest.raises(ValueError, match=r"audio example 2 contains NaN or Inf.*on_nonfinite='propagate'"):
        mel(audio)
    with pytest.raises(ValueError, match=r"^audio contains NaN or Inf"):
        mel(audio[2])
    with pytest.raises(ValueError, match=r"audio\[2\] contains NaN or Inf"):
        mel(list(audio))
    nd = audio.reshape(2, 2, 3000)
    with pytest.raises(ValueError, match=r"audio example \(1, 0\)"):
        mel(nd)


@pytest.mark.parametrize("position", [0, 1, 140, 2999])
def test_nonfinite_detected_anywhere_even_between_frames(position):
    # stride > fft_length: some samples are read by no frame; they are still checked
    mel = melplug.MelSpectrogram(fft_length=64, sequence_stride=500, num_mel_bins=8, min_freq=0.0)
    audio = make_audio((2, 3000))
    audio[1, position] = np.nan
    with pytest.raises(ValueError, match="audio example 1"):
        mel(audio)
    # the big path (thread pool) checks too
    long = make_audio((2, 200_000))
    long[1, position * 60] = np.inf
    with pytest.raises(ValueError, match="audio example 1"):
        mel(long, num_threads=2)


def test_nonfinite_propagate_only_that_example():
    kw = dict(fft_length=256, sequence_stride=128, num_mel_bins=16)
    audio = make_audio((3, 3000))
    clean = melplug.MelSpectrogram(**kw)(audio)
    audio[1, 10] = np.nan
    for scope in ("example", "batch"):
        out = melplug.MelSpectrogram(**kw, on_nonfinite="propagate", top_db_scope=scope)(audio)
        assert np.isnan(out[1]).all()
        np.testing.assert_array_equal(out[[0, 2]], melplug.MelSpectrogram(**kw, top_db_scope=scope)(audio[[0, 2]]))
    out = melplug.MelSpectrogram(**kw, on_nonfinite="propagate")(list(audio))
    assert np.isnan(out[1]).all() and np.array_equal(out[0], clean[0]) and np.array_equal(out[2], clean[2])


def test_empty_mel_bands_warn_once():
    with pytest.warns(UserWarning, match=r"mel bands are empty.*reduce num_mel_bins or increase fft_length=256") as rec:
        mel = melplug.MelSpectrogram(fft_length=256, num_mel_bins=128)
    assert len(rec) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = mel(make_audio((4000,)))  # no warning at call time
    assert np.isfinite(out).all()


def test_max_freq_above_nyquist_warns():
    with pytest.warns(UserWarning, match=r"max_freq=12000 is above the Nyquist frequency 8000"):
        melplug.MelSpectrogram(fft_length=1024, num_mel_bins=32, max_freq=12000)


def test_valid_configuration_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        melplug.MelSpectrogram()
        melplug.MelSpectrogram(fft_length=512, sequence_length=400, sequence_stride=160, num_mel_bins=80)


def test_top_db_floor_invariant():
    audio = make_audio((3, 8000))
    audio[1, 4000:] = 0.0
    for scope in ("example", "batch"):
        out = melplug.MelSpectrogram(fft_length=512, num_mel_bins=64, top_db=30.0, top_db_scope=scope)(audio)
        if scope == "example":
            for y in out:
                assert y.min() >= y.max() - np.float32(30.0)
                assert np.isclose(y.min(), y.max() - 30.0, atol=1e-4)
        else:
            assert out.min() >= out.max() - np.float32(30.0)


# --------------------------------------------------------------------------- bug 5: NaN made inside the FFT (issue 9)


@pytest.mark.parametrize("dtype, big", [(np.float32, 3e38), (np.float64, 1e300)])
def test_bug5_finite_but_huge_audio_is_never_a_silent_floor(dtype, big):
    mel = melplug.MelSpectrogram(**KW)
    x = np.stack([make_audio((4000,), seed=1, dtype=dtype), np.full(4000, big, dtype=dtype)])
    with pytest.raises(ValueError, match=r"audio example 1 gives non-finite values.*too large.*scale the audio"):
        mel(x)
    with pytest.raises(ValueError, match=r"audio\[1\] gives non-finite values"):
        mel([x[0], x[1]])
    out = melplug.MelSpectrogram(**KW, on_nonfinite="propagate")(x)
    assert out.dtype == dtype
    assert np.isnan(out[1]).all()
    np.testing.assert_array_equal(out[0], mel(x[0]))
