"""Property tests (hypothesis): invariants that hold for every valid configuration and signal.

Configurations are drawn over the whole valid range: odd, tiny and
non-power-of-two ``fft_length``, windows shorter than the frame, strides
larger than the frame, one mel band or many (empty bands included), every
window kind, dB on or off, with or without a ``top_db`` floor, any
``mag_exp``.  Signals are drawn at the awkward lengths: 1 sample, shorter
than the centre pad (repeated reflection), odd.  A configuration is plan
data, not a new compilation (the kernels compile once per dtype), so an
example costs milliseconds.
"""

from __future__ import annotations

import warnings
from unittest import mock

import numpy as np
import pytest

pytest.importorskip("hypothesis", reason="the property tests need hypothesis (a test dependency)")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import melplug  # noqa: E402
from melplug import _driver  # noqa: E402
from tests._util import DB_TOL, FFT_RESOLUTION  # noqa: E402

#: Longest drawn signal: with strides down to 1 an example can span many work units.
MAX_SAMPLES = 3000
FLOATS = (np.float32, np.float64)


# --------------------------------------------------------------------------- strategies


@st.composite
def configs(draw, *, min_mag_exp: float = 0.25):
    """Keyword arguments of a valid :class:`melplug.MelSpectrogram` (``top_db_scope="example"``)."""
    fft_length = draw(st.one_of(st.integers(1, 16), st.integers(17, 1100), st.sampled_from([255, 400, 401, 512])))
    sequence_length = draw(st.one_of(st.none(), st.integers(1, fft_length)))
    window = draw(st.sampled_from(["hann", "hamming", None, "array"]))
    if window == "array":
        # Coefficients of order one, or zero: a window of 1e-308 only tests subnormal arithmetic.
        coefficients = st.one_of(st.just(0.0), st.floats(1e-3, 1.0))
        window = draw(hnp.arrays(np.float64, sequence_length or fft_length, elements=coefficients))
    sampling_rate = draw(st.one_of(st.sampled_from([8000, 16000, 22050, 44100]), st.integers(100, 48000)))
    min_freq = draw(st.floats(0.0, sampling_rate / 4))
    return dict(
        fft_length=fft_length,
        sequence_length=sequence_length,
        sequence_stride=draw(st.one_of(st.integers(1, 64), st.integers(1, 2 * fft_length + 1))),
        window=window,
        sampling_rate=sampling_rate,
        num_mel_bins=draw(st.integers(1, 96)),
        min_freq=min_freq,
        max_freq=draw(st.one_of(st.none(), st.floats(min_freq + 1.0, float(sampling_rate)))),
        power_to_db=draw(st.booleans()),
        top_db=draw(st.one_of(st.none(), st.just(0.0), st.floats(0.0, 120.0))),
        mag_exp=draw(st.one_of(st.sampled_from([1.0, 2.0]), st.floats(min_mag_exp, 3.0))),
        min_power=draw(st.sampled_from([1e-10, 1e-6, 1e-3])),
        ref_power=draw(st.one_of(st.sampled_from([1.0, 0.0, -2.0]), st.floats(1e-3, 1e3))),
    )


def lengths(fft_length: int):
    """Signal lengths, weighted towards the awkward ones: a few samples, shorter than the pad."""
    return st.one_of(st.integers(1, 4), st.integers(1, fft_length // 2 + 1), st.integers(1, MAX_SAMPLES))


def signals(n: int, dtype, *, noise_only: bool = False):
    """A 1-D signal of ``n`` samples: seeded noise at some level, or an array hypothesis can shrink."""
    noise = st.builds(
        lambda seed, level: (level * np.random.default_rng(seed).standard_normal(n)).astype(dtype),
        st.integers(0, 2**32 - 1),
        st.sampled_from([1e-3, 0.1, 1.0, 30.0]),
    )
    if noise_only:
        return noise
    return st.one_of(noise, hnp.arrays(dtype, n, elements=st.floats(-1.0, 1.0, width=np.dtype(dtype).itemsize * 8)))


@st.composite
def batches(draw, max_batch: int = 4, **config_options):
    """``(config, audio)``: a configuration and a 2-D float32 or float64 batch of equal-length signals."""
    config = draw(configs(**config_options))
    dtype = draw(st.sampled_from(FLOATS))
    n = draw(lengths(config["fft_length"]))
    rows = draw(st.lists(signals(n, dtype), min_size=1, max_size=max_batch))
    return config, np.stack(rows)


@st.composite
def clip_lists(draw, max_clips: int = 5):
    """``(config, clips)``: a configuration and a list of 1-D signals of different lengths, one dtype."""
    config = draw(configs())
    dtype = draw(st.sampled_from(FLOATS))
    ns = draw(st.lists(lengths(config["fft_length"]), min_size=1, max_size=max_clips))
    return config, [draw(signals(n, dtype)) for n in ns]


# --------------------------------------------------------------------------- helpers


def layer(config, **options) -> melplug.MelSpectrogram:
    """The layer for ``config``; drawn configurations may have empty bands, whose warning is expected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return melplug.MelSpectrogram(**config, **options)


def spec_frames(n: int, config) -> int:
    """The frame count of docs/parity.md (step 3), written out here rather than taken from melplug."""
    fft_length = config["fft_length"]
    return 1 + (n + 2 * (fft_length // 2) - fft_length) // config["sequence_stride"]


def assert_same(actual, expected):
    """Bit-for-bit equal, same dtype and shape."""
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


FAST = settings(max_examples=40, deadline=None)


# --------------------------------------------------------------------------- properties


@FAST
@given(batches())
def test_batch_equals_one_by_one(case):
    config, audio = case
    mel = layer(config)
    out = mel(audio)
    for i, clip in enumerate(audio):
        assert_same(out[i], mel(clip))


@FAST
@given(clip_lists())
def test_clip_list_equals_one_by_one(case):
    config, clips = case
    mel = layer(config)
    outs = mel(clips)
    assert isinstance(outs, list) and len(outs) == len(clips)
    for out, clip in zip(outs, clips, strict=True):
        assert_same(out, mel(clip))


@settings(max_examples=25, deadline=None)
@given(
    configs(),
    st.lists(st.integers(1, 3), min_size=2, max_size=3),
    st.integers(1, 600),
    st.sampled_from(FLOATS),
    st.integers(0, 2**32 - 1),
)
def test_nd_equals_reshaped_2d(config, lead, n, dtype, seed):
    audio = np.random.default_rng(seed).standard_normal((*lead, n)).astype(dtype)
    mel = layer(config)
    out = mel(audio)
    flat = mel(audio.reshape(-1, n))
    assert out.shape == (*lead, *flat.shape[1:])
    assert_same(out.reshape(flat.shape), flat)


@FAST
@given(configs(), st.lists(st.integers(1, 3), max_size=3), st.integers(1, MAX_SAMPLES))
def test_output_shape(config, lead, n):
    mel = layer(config)
    out = mel(np.zeros((*lead, n), dtype=np.float32))
    expected = (*lead, config["num_mel_bins"], spec_frames(n, config))
    assert out.shape == expected
    assert mel.num_frames(n) == expected[-1]
    assert mel.compute_output_shape((*lead, n)) == expected
    assert [o.shape for o in mel([np.zeros(n), np.zeros(n + 1)])] == [
        expected[-2:],
        (config["num_mel_bins"], spec_frames(n + 1, config)),
    ]


REAL_DTYPES = (np.float32, np.float64, np.float16, np.int16, np.int32, np.uint8, np.int64)


@settings(max_examples=30, deadline=None)
@given(
    configs(),
    st.lists(st.sampled_from(REAL_DTYPES), min_size=1, max_size=3),
    st.sampled_from([None, "float32", "float64"]),
    st.integers(1, 600),
)
def test_dtype_rules(config, dtypes, forced, n):
    """float64 in -> float64 out, anything else -> float32; ``dtype=`` forces, and is only a cast."""
    clips = [np.random.default_rng(i).integers(0, 200, n).astype(dt) for i, dt in enumerate(dtypes)]  # exact in all
    mel = layer(config, dtype=forced)
    plain = layer(config)

    def expected_dtype(inputs):
        if forced is not None:
            return np.dtype(forced)
        return np.dtype(np.float64 if all(dt == np.float64 for dt in inputs) else np.float32)

    out = mel(clips[0])
    assert out.dtype == expected_dtype(dtypes[:1])
    assert_same(out, plain(clips[0].astype(out.dtype)))
    outs = mel(clips)
    want = expected_dtype(dtypes)
    assert [o.dtype for o in outs] == [want] * len(clips)
    for o, clip in zip(outs, clips, strict=True):
        assert_same(o, plain(clip.astype(want)))


@FAST
@given(
    batches(),
    st.one_of(st.just(0.0), st.floats(0.0, 120.0)),
    st.sampled_from(["example", "batch"]),
)
def test_top_db_floor(case, top_db, scope):
    """The floor is ``max(D, max(D) - top_db)`` of the unfloored result, in its dtype, per example or per call.

    So ``out.min() >= out.max() - top_db`` holds exactly.
    """
    config, audio = case
    config = dict(config, power_to_db=True, top_db=top_db)
    out = layer(config, top_db_scope=scope)(audio)
    raw = layer(dict(config, top_db=None))(audio)
    peak = raw.max(axis=None if scope == "batch" else (1, 2), keepdims=True)
    assert_same(out, np.maximum(raw, peak - raw.dtype.type(top_db)))
    for example in [out] if scope == "batch" else out:
        assert example.min() >= example.max() - example.dtype.type(top_db)


@settings(max_examples=25, deadline=None)
@given(batches(max_batch=6), clip_lists())
def test_threads_do_not_change_results(case, list_case):
    """One thread or two: bit-for-bit the same.  Every call is made to use the pool, however small."""
    with mock.patch.object(_driver, "SERIAL_WORK", 0):
        for config, audio in (case, list_case):
            mel = layer(config)
            one = list(mel(audio, num_threads=1))
            for two in (mel(audio, num_threads=2), layer(config, num_threads=2)(audio)):
                for a, b in zip(one, two, strict=True):
                    assert_same(b, a)


@FAST
@given(st.data())
def test_matches_float64_reference(data):
    """Against the naive float64 reference (tests/references/mel.py), in dB to the dtype's tolerance (tests/_util.py).

    Values below the dtype's rounding level (``FFT_RESOLUTION`` of the largest
    amplitude a bin can take, through ``mag_exp`` and the mel sums) are noise
    in both implementations: both sides are floored there.  A band of bins that
    are zero but for rounding (a 1-sample signal pads to a constant) would
    otherwise compare rounding with rounding.  A compressive ``mag_exp < 1``
    lifts rounding ``r`` to ``r ** mag_exp`` (1e-7 becomes 2e-2 at 0.25), which
    no tolerance in dB can hold: such exponents are left to tests/presets/test_keras.py, whose
    audio has no spectral zeros.
    """
    pytest.importorskip("scipy", reason="tests/references/mel.py builds its windows with scipy.signal")
    from tests.references import mel as reference

    dtype = data.draw(st.sampled_from(FLOATS), label="dtype")
    config = data.draw(configs(min_mag_exp=1.0), label="config")
    n = data.draw(lengths(config["fft_length"]), label="n")
    audio = np.stack(data.draw(st.lists(signals(n, dtype, noise_only=True), min_size=1, max_size=3), label="audio"))
    mel = layer(config)
    got = mel(audio)
    expected = reference.mel_spectrogram(audio, **config)
    assert got.dtype == dtype
    assert got.shape == expected.shape

    window = reference.window_array(config["window"], mel.sequence_length, mel.fft_length)
    amplitude = np.abs(audio.astype(np.float64)).max(axis=-1) * np.abs(window).sum()  # bound of |rfft(frame)|
    # One level per example (the largest band's): the top_db floor carries the example's maximum into every band.
    level = mel.mel_weights.sum(axis=0).max() * (FFT_RESOLUTION[dtype] * amplitude) ** mel.mag_exp
    level = level[:, None, None]
    if mel.power_to_db:
        ref_db = 10 * np.log10(max(abs(mel.ref_power), mel.min_power))
        floor = 10 * np.log10(np.maximum(level, mel.min_power)) - ref_db
        got, expected = np.maximum(got, floor), np.maximum(expected, floor)
    else:
        floor = np.maximum(level, np.finfo(dtype).tiny)  # float32 flushes below it
        got, expected = 10 * np.log10(np.maximum(got, floor)), 10 * np.log10(np.maximum(expected, floor))
    np.testing.assert_allclose(got, expected, rtol=0, atol=DB_TOL[dtype])
