"""Every invalid argument and input gets a clear error (docs/parity.md); warnings as documented."""

from __future__ import annotations

import inspect
import math
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


# --------------------------------------------------------------------------- a NaN made inside the FFT


@pytest.mark.parametrize("dtype, big", [(np.float32, 3e38), (np.float64, 1e300)])
def test_finite_but_huge_audio_is_never_a_silent_floor(dtype, big):
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


# --------------------------------------------------------------------------- FeatureExtractor's options beyond Keras'


#: FeatureExtractor's options beyond Keras': (id, options, exception, what the message must name).
ENGINE_ERRORS = [
    ("sampling_rate-type", dict(sampling_rate="16k"), TypeError, "sampling_rate"),
    ("sampling_rate-zero", dict(sampling_rate=0), ValueError, "sampling_rate"),
    ("input_gain-type", dict(input_gain="2"), TypeError, "input_gain"),
    ("input_gain-zero", dict(input_gain=0.0), ValueError, "input_gain"),
    ("input_gain-inf", dict(input_gain=math.inf), ValueError, "input_gain"),
    ("input_length-type", dict(input_length=480000.0), TypeError, "input_length"),
    ("input_length-zero", dict(input_length=0), ValueError, "input_length"),
    ("framing", dict(framing="same"), ValueError, "framing"),
    ("pad_mode", dict(pad_mode="edge"), ValueError, "pad_mode"),
    ("frame_unit", dict(frame_unit="s"), ValueError, "frame_unit"),
    ("frame_length-type", dict(frame_length=400.5), TypeError, "frame_length"),
    ("frame_length-zero", dict(frame_length=0), ValueError, "frame_length"),
    ("frame_length-ms-type", dict(frame_unit="ms", frame_length="25", hop_length=10.0), TypeError, "frame_length"),
    ("frame_length-ms-zero", dict(frame_unit="ms", frame_length=0.0, hop_length=10.0), ValueError, "frame_length"),
    (
        "frame_length-ms-subsample",
        dict(frame_unit="ms", frame_length=0.01, hop_length=10.0),
        ValueError,
        "frame_length",
    ),
    ("hop_length-zero", dict(hop_length=0), ValueError, "hop_length"),
    ("hop_length-ms-negative", dict(frame_unit="ms", frame_length=25.0, hop_length=-10.0), ValueError, "hop_length"),
    ("fft_length-short", dict(frame_length=400, fft_length=256), ValueError, "fft_length"),
    ("fft_length-name", dict(fft_length="auto"), TypeError, "fft_length"),
    ("window-name", dict(window="blackman"), ValueError, "window"),
    ("window-shape", dict(frame_length=400, window=np.ones(399)), ValueError, "window"),
    ("window-complex", dict(frame_length=4, window=np.ones(4, complex)), TypeError, "window"),
    ("window-nan", dict(frame_length=4, window=[1.0, np.nan, 1.0, 1.0]), ValueError, "window"),
    ("window_length-zero", dict(window_length=0), ValueError, "window_length"),
    ("window_length-long", dict(frame_length=400, window_length=401), ValueError, "window_length"),
    ("window_length-type", dict(window_length=400.0), TypeError, "window_length"),
    ("window_periodic", dict(window_periodic=1), TypeError, "window_periodic"),
    ("window_position", dict(window_position="end"), ValueError, "window_position"),
    ("remove_dc", dict(remove_dc="yes"), TypeError, "remove_dc"),
    ("preemphasis-type", dict(preemphasis="0.97"), TypeError, "preemphasis"),
    ("preemphasis-negative", dict(preemphasis=-0.1), ValueError, "preemphasis"),
    ("preemphasis-above-1", dict(preemphasis=1.5), ValueError, "preemphasis"),
    ("preemphasis-nan", dict(preemphasis=math.nan), ValueError, "preemphasis"),
    ("magnitude_power-zero", dict(magnitude_power=0), ValueError, "magnitude_power"),
    ("magnitude_power-type", dict(magnitude_power=None), TypeError, "magnitude_power"),
    ("num_mel_bins-type", dict(num_mel_bins=80.0), TypeError, "num_mel_bins"),
    ("num_mel_bins-zero", dict(num_mel_bins=0), ValueError, "num_mel_bins"),
    ("mel_scale", dict(mel_scale="mel"), ValueError, "mel_scale"),
    ("mel_triangles", dict(mel_triangles="log"), ValueError, "mel_triangles"),
    ("mel_grid", dict(mel_grid="linear"), ValueError, "mel_grid"),
    ("mel_norm", dict(mel_norm="area"), ValueError, "mel_norm"),
    ("min_freq", dict(min_freq=-1.0), ValueError, "min_freq"),
    ("max_freq", dict(min_freq=100.0, max_freq=100.0), ValueError, "max_freq"),
    ("empty_bands-name", dict(empty_bands="error"), ValueError, "empty_bands"),
    ("empty_bands-raise", dict(frame_length=64, num_mel_bins=128, empty_bands="raise"), ValueError, "empty_bands"),
    ("log", dict(log="log2"), ValueError, "log"),
    ("log_floor-zero", dict(log_floor=0.0), ValueError, "log_floor"),
    ("ref_power-type", dict(ref_power="1"), TypeError, "ref_power"),
    ("ref_power-nan", dict(ref_power=math.nan), ValueError, "ref_power"),
    ("top_db-negative", dict(top_db=-8.0), ValueError, "top_db"),
    ("top_db_scope", dict(top_db_scope="clip"), ValueError, "top_db_scope"),
    ("scale-zero", dict(scale=0.0), ValueError, "scale"),
    ("scale-negative", dict(scale=-0.25), ValueError, "scale"),
    ("offset-inf", dict(offset=math.inf), ValueError, "offset"),
    ("offset-type", dict(offset="4"), TypeError, "offset"),
    ("output_frames-zero", dict(output_frames=0), ValueError, "output_frames"),
    ("output_frames-type", dict(output_frames=3000.0), TypeError, "output_frames"),
    ("pad_value-nan", dict(pad_value=math.nan), ValueError, "pad_value"),
    ("pad_before_scaling", dict(pad_before_scaling="no"), TypeError, "pad_before_scaling"),
    ("pad_frames_to-zero", dict(pad_frames_to=0), ValueError, "pad_frames_to"),
    ("pad_frames_to-type", dict(pad_frames_to=16.0), TypeError, "pad_frames_to"),
    ("log_guard-negative", dict(log_guard=-1.0), ValueError, "log_guard"),
    ("log_guard-without-log", dict(log=None, log_guard=0.5), ValueError, "log_guard"),
    ("layout", dict(layout="frames"), ValueError, "layout"),
    ("dither-negative", dict(dither=-0.1), ValueError, "dither"),
    ("dither_seed-type", dict(dither_seed=1.5), TypeError, "dither_seed"),
    ("normalize-type", dict(normalize=1), TypeError, "normalize"),
    ("normalize_ddof-negative", dict(normalize_ddof=-1), ValueError, "normalize_ddof"),
    ("normalize_eps-negative", dict(normalize_eps=-1e-7), ValueError, "normalize_eps"),
    ("num_ceps-type", dict(num_ceps=13.0), TypeError, "num_ceps"),
    ("num_ceps-zero", dict(num_ceps=0), ValueError, "num_ceps"),
    ("num_ceps-above-bins", dict(num_mel_bins=23, num_ceps=24), ValueError, "num_ceps"),
    ("lifter-negative", dict(num_ceps=13, lifter=-22.0), ValueError, "lifter"),
    ("lifter-without-ceps", dict(lifter=22.0), ValueError, "lifter"),
    ("lifter_style", dict(num_ceps=13, lifter_style="htk"), ValueError, "lifter_style"),
    ("energy_c0-type", dict(num_ceps=13, energy_c0=1), TypeError, "energy_c0"),
    ("energy_c0-without-ceps", dict(energy_c0=True), ValueError, "energy_c0"),
    ("pad_mode-reflect-once-typo", dict(pad_mode="reflect-once"), ValueError, "pad_mode"),
    ("mel_grid-fft", dict(mel_grid="fft"), ValueError, "mel_grid"),
    ("stack_frames-zero", dict(stack_frames=0), ValueError, "stack_frames"),
    ("stack_frames-layout", dict(stack_frames=2), ValueError, "stack_frames"),
    ("dtype", dict(dtype="float16"), ValueError, "dtype"),
    ("on_nonfinite", dict(on_nonfinite="ignore"), ValueError, "on_nonfinite"),
    ("num_threads", dict(num_threads=0), ValueError, "num_threads"),
    ("input_min_length-zero", dict(input_min_length=0), ValueError, "input_min_length"),
    ("input_pad_to-type", dict(input_pad_to=1.5), TypeError, "input_pad_to"),
    ("input_multiple-zero", dict(input_multiple=0), ValueError, "input_multiple"),
    ("input_max_length-with-length", dict(input_length=100, input_max_length=50), ValueError, "input_max_length"),
    ("input_overflow", dict(input_overflow="split"), ValueError, "input_overflow"),
    ("signal_preemphasis-above-1", dict(signal_preemphasis=1.2), ValueError, "signal_preemphasis"),
    ("signal_preemphasis-reflect", dict(signal_preemphasis=0.97), ValueError, "signal_preemphasis"),
    ("frame_rule", dict(frame_rule="floor"), ValueError, "frame_rule"),
    ("left_pad-centred", dict(left_pad=100), ValueError, "left_pad"),
    ("left_pad-negative", dict(framing="left", left_pad=-1), ValueError, "left_pad"),
    ("power_floor-negative", dict(power_floor=-1.0), ValueError, "power_floor"),
    ("power_guard-negative", dict(power_guard=-1e-9), ValueError, "power_guard"),
    ("power_guard-type", dict(power_guard="1e-9"), TypeError, "power_guard"),
    ("center_pad-snip-edges", dict(framing="snip_edges", center_pad=10), ValueError, "center_pad"),
    ("center_pad-negative", dict(center_pad=-1), ValueError, "center_pad"),
    ("mel_triangles", dict(mel_triangles="symmetric"), ValueError, "mel_triangles"),
    (
        "feature_scale-rows-ungathered",
        dict(num_mel_bins=2, top_db=None, layout="frames_mels", stack_frames=2, feature_scale=np.ones(4)),
        ValueError,
        "feature_scale",
    ),
    (
        "feature_offset-rows-mismatch",
        dict(
            num_mel_bins=2,
            top_db=None,
            layout="frames_mels",
            stack_frames=2,
            stack_remainder="repeat",
            feature_scale=np.ones(4),
            feature_offset=np.ones(2),
        ),
        ValueError,
        "feature_offset",
    ),
    ("log_min-without-log", dict(log=None, top_db=None, log_min=-6.5), ValueError, "log_min"),
    ("feature_scale-shape", dict(num_mel_bins=8, top_db=None, feature_scale=np.ones(7)), ValueError, "feature_scale"),
    ("feature_scale-zero", dict(num_mel_bins=2, top_db=None, feature_scale=[1.0, 0.0]), ValueError, "feature_scale"),
    (
        "feature_offset-nan",
        dict(num_mel_bins=2, top_db=None, feature_offset=[1.0, np.nan]),
        ValueError,
        "feature_offset",
    ),
    ("feature_offset-top_db", dict(num_mel_bins=2, feature_offset=[1.0, 2.0]), ValueError, "feature_offset"),
    ("valid_frames", dict(valid_frames="some"), ValueError, "valid_frames"),
    ("pad_invalid_frames", dict(pad_invalid_frames="yes"), TypeError, "pad_invalid_frames"),
    ("reference", dict(reference="parakeet-ctc"), ValueError, "reference"),
    ("normalize_variance", dict(normalize_variance=0), TypeError, "normalize_variance"),
    ("normalize_eps_on", dict(normalize_eps_on="var"), ValueError, "normalize_eps_on"),
    ("stack_remainder", dict(stack_remainder="keep"), ValueError, "stack_remainder"),
    ("valid_rows", dict(valid_rows="some"), ValueError, "valid_rows"),
    ("frame_multiple-zero", dict(frame_multiple=0), ValueError, "frame_multiple"),
    ("delta_window-two", dict(layout="frames_mels", delta_window=2), ValueError, "delta_window"),
    ("delta_window-layout", dict(delta_window=3), ValueError, "delta_window"),
    (
        "stack_stride-above-frames",
        dict(layout="frames_mels", stack_frames=2, stack_stride=3),
        ValueError,
        "stack_stride",
    ),
    ("stack_stride-repeat-alone", dict(layout="frames_mels", stack_remainder="repeat"), ValueError, "stack_stride"),
]


@pytest.mark.parametrize(
    ("options", "error", "name"), [e[1:] for e in ENGINE_ERRORS], ids=[e[0] for e in ENGINE_ERRORS]
)
def test_engine_option_errors(options, error, name):
    """Each FeatureExtractor option is validated with the right error type, naming the option."""
    with pytest.raises(error, match=rf"(?<![a-z_]){name}\b"):
        melplug.FeatureExtractor(**options)


def test_every_engine_option_has_an_error_case():
    options = set(inspect.signature(melplug.FeatureExtractor).parameters)
    assert {case[3] for case in ENGINE_ERRORS} == options
