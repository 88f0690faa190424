"""The ``w2v-bert`` and ``ast`` presets against their references (SPEC §5).

* ``w2v-bert``: transformers' ``SeamlessM4TFeatureExtractor`` (numpy only),
  ``input_features`` of one clip, and a float64 version built from
  ``tests/reference_kaldi.py``.
* ``ast``: transformers' ``ASTFeatureExtractor`` on its torchaudio path, which
  torch-free tests cannot run: its Kaldi filter bank is checked against
  kaldi-native-fbank (``window_type="hanning"``) where that library accepts the
  bin count, and against the float64 ``tests/reference_kaldi.py`` everywhere,
  including the default 128 bins at 16 kHz that kaldi-native-fbank refuses (one
  band is empty; torchaudio keeps it at ``ln(eps)``).  The pad/cut to 1024 rows
  and the scaling use the constants of the transformers object.

``tests/reference_kaldi.py`` is itself validated here against kaldi-native-fbank.

Test signals keep every mel band within ~70 dB of its frame's strongest one
(FINDINGS "Preset references") except where pre-emphasis, a one-FFT-bin band
or a random dip of noise push a band lower; float32 round-off grows there.
"""

from __future__ import annotations

import ast as pyast
import functools
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

import melplug
from melplug import kernels
from tests.references import kaldi_fbank as rk

# --------------------------------------------------------------------------- tolerances (stated once)

#: Kaldi log-mel error budget, ln units, per compute dtype.  float32: melplug computes in float32; its
#: round-off measured <= 3.9e-4 ln (ast) and <= 2.9e-4 ln equivalent (w2v-bert, below) on these signals,
#: largest in the lowest bands, which pre-emphasis puts ~87 dB below the frame's peak.  kaldi-native-fbank
#: (float32 too) is <= 5.0e-4 ln off the float64 reference on the same signals, so two float32
#: implementations may differ by about the sum (melplug vs kaldi-native-fbank measured <= 5.1e-4 ln); 2e-3
#: is twice that sum, and 1e-3 ln is already ~0.004 dB.  float64: melplug vs the float64 reference measured
#: <= 2.1e-12 ln; 1e-9 leaves room for other FFT orders while catching any real difference.
LN_TOL = {np.float32: 2e-3, np.float64: 1e-9}
#: tests/reference_kaldi.py (float64) vs kaldi-native-fbank (float32), ln: measured <= 5.0e-4.
KNF_LN_TOL = 1e-3
#: ast output units are ln / (2 * std) with the reference's std (4.5689974): its tolerance is
#: ``LN_TOL[dtype] / (2 * std)`` (2.2e-4 for float32), computed in ``_ast_tol``.
#: w2v-bert output units are ln / sqrt(var_b + 1e-7), per mel bin b over the clip: an error of e ln in the
#: log-mel is e / sqrt(var_b + 1e-7) there.  So the tolerance is per bin, ``LN_TOL[dtype] / sqrt(var_b + 1e-7)``
#: with var_b from the float64 reference, and errors are reported as |diff| * sqrt(var_b + 1e-7) ("ln
#: equivalent").  A flat tolerance would be too loose for speech (var_b ~ 1..150) and far too tight for
#: steady tones (sqrt(var_b) ~ 0.006) and empty bands (var_b = 0: the reference's own float32 mean, one ulp
#: of ln(eps) off, becomes 3e-3 there).
#: w2v-bert's empty bands (44.1 kHz, 128 bins) are constant, so 0 in exact arithmetic; any error in their mean is
#: divided by sqrt(1e-7).  melplug measured 5.6e-12 (a float64 mean one ulp off), transformers 3.0e-3 (a float32
#: mean one ulp off): a flat bound in normalised units.
EMPTY_BAND_TOL = 1e-9
#: Kernel path vs Python API, float64 w2v-bert, ln equivalent as above: the same normalisation loop compiled
#: in two places (fastmath reassoc/contract) measured 7.2e-15 apart (1.8e-13 normalised, on a steady tone);
#: float32 and ast are bit-for-bit.
KERNEL_F64_LN_TOL = 1e-13

DTYPES = [np.float32, np.float64]

# --------------------------------------------------------------------------- test signals


def noise(n, sr, seed):
    return 0.1 * np.random.default_rng(seed).standard_normal(n)


def tones(n, sr, seed):
    """Three steady tones over a noise floor ~20 dB below them, so no band sits at the window's leakage floor."""
    t = np.arange(n) / sr
    x = 0.3 * np.sin(2 * np.pi * 220.0 * t + 0.1) + 0.2 * np.sin(2 * np.pi * 1000.0 * t + 1.0)
    x += 0.1 * np.sin(2 * np.pi * 0.37 * sr * t + 2.0)
    return x + 3e-2 * np.random.default_rng(seed).standard_normal(n)


def speech(n, sr, seed):
    """Voiced bursts (gliding f0, 29 harmonics, breath noise) with gaps: digital silence, then a noise floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    phase = 2 * np.pi * np.cumsum(120.0 + 30.0 * np.sin(2 * np.pi * 3.0 * t)) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 30))
    env = np.sqrt(np.clip(np.sin(2 * np.pi * 2.5 * t), 0.0, None))
    x = 0.3 * env * (voiced + 0.05 * rng.standard_normal(n))
    quiet = (env == 0) & (t > 0.5 * t[-1])
    x[quiet] = 1e-3 * rng.standard_normal(quiet.sum())
    return x


SIGNALS = {"noise": noise, "tones": tones, "speech": speech}


def make(kind, n, sr, dtype, seed=0):
    return SIGNALS[kind](n, sr, seed + n).astype(dtype)


def _assert_within(got, want, tol, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if got.size == 0:
        return
    err = np.abs(got.astype(np.float64) - want)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= tol, (
        f"{what}: max |diff| {err.max():.3g} > {tol:.3g} at {worst} (got {got[worst]}, expected {want[worst]})"
    )


# --------------------------------------------------------------------------- references


@pytest.fixture(scope="module")
def knf():
    return pytest.importorskip("kaldi_native_fbank", reason="the Kaldi reference needs kaldi-native-fbank")


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers", reason="the ast and w2v-bert references are transformers' extractors")


def knf_fbank(knf, x, sr, num_bins, window_type):
    """kaldi-native-fbank's filter bank of a 1-D float32 clip, dither off, (frames, num_bins) float32."""
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = window_type
    opts.frame_opts.samp_freq = sr
    opts.mel_opts.num_bins = num_bins
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(sr, np.asarray(x, np.float32).tolist())
    fbank.input_finished()
    return np.array([fbank.get_frame(i) for i in range(fbank.num_frames_ready)], np.float32).reshape(-1, num_bins)


def rk_fbank(x, sr, num_bins, window_type):
    """tests/reference_kaldi.py with the 25/10 ms framing of kaldi-native-fbank and torchaudio."""
    return rk.fbank(
        x,
        sampling_rate=sr,
        frame_length=rk.samples(sr, 25),
        frame_shift=rk.samples(sr, 10),
        window_type=window_type,
        num_mel_bins=num_bins,
    )


@functools.lru_cache
def ast_source():
    """transformers' ASTFeatureExtractor as written: constructor defaults, its torchaudio call, its normalize.

    The class needs torch even to be inspected, so its source is parsed: ``(defaults, fbank_keywords,
    normalize_expression)``, the keywords and expression as source text.
    """
    spec = importlib.util.find_spec(
        "transformers.models.audio_spectrogram_transformer.feature_extraction_audio_spectrogram_transformer"
    )
    tree = pyast.parse(Path(spec.origin).read_text())
    cls = next(n for n in pyast.walk(tree) if isinstance(n, pyast.ClassDef) and n.name == "ASTFeatureExtractor")
    methods = {n.name: n for n in cls.body if isinstance(n, pyast.FunctionDef)}
    init = methods["__init__"].args
    defaults = {
        a.arg: pyast.literal_eval(d) for a, d in zip(init.args[-len(init.defaults) :], init.defaults, strict=True)
    }
    call = next(n for n in pyast.walk(cls) if isinstance(n, pyast.Call) and pyast.unparse(n.func) == "ta_kaldi.fbank")
    keywords = {k.arg: pyast.unparse(k.value) for k in call.keywords}
    (normalize,) = [pyast.unparse(s.value) for s in methods["normalize"].body if isinstance(s, pyast.Return)]
    return defaults, keywords, normalize


def ast_constants():
    """(max_length, mean, std) of the reference."""
    defaults = ast_source()[0]
    return defaults["max_length"], defaults["mean"], defaults["std"]


def ast_post(fbank):
    """ASTFeatureExtractor after the filter bank: zero-pad or cut to max_length rows, then (x - mean) / (2 std)."""
    max_length, mean, std = ast_constants()
    rows = np.zeros((max_length, fbank.shape[1]))
    kept = min(max_length, len(fbank))
    rows[:kept] = fbank[:kept]
    return (rows - mean) / (2.0 * std)


def _ast_tol(dtype):
    return LN_TOL[dtype] / (2.0 * ast_constants()[2])


@functools.lru_cache
def seamless(sr, num_bins):
    """SeamlessM4TFeatureExtractor for rate ``sr`` with ``num_bins`` mels.

    ``num_mel_bins=`` is the argument that sets the mel count (``feature_size`` alone only labels the padding).
    """
    from transformers import SeamlessM4TFeatureExtractor

    with warnings.catch_warnings():  # "At least one mel filter has all zero values" (44.1 kHz, 128 bins)
        warnings.simplefilter("ignore", UserWarning)
        return SeamlessM4TFeatureExtractor(sampling_rate=sr, feature_size=num_bins, num_mel_bins=num_bins)


def w2v_reference(x, sr, num_bins):
    """transformers' input_features of one clip, ((frames + 1) // 2, 2 * num_bins) float32."""
    out = seamless(sr, num_bins)(x, sampling_rate=sr, return_tensors="np")["input_features"]
    assert out.shape[0] == 1
    return out[0]


def w2v_exact(x, sr, num_bins):
    """float64 w2v-bert from tests/reference_kaldi.py: x 2**15, 400/160 samples, povey, 20 Hz - sr // 2, ln;
    per-bin (x - mean) / sqrt(var(ddof=1) + 1e-7); a zero frame after an odd count; pairs stacked.

    Returns the features and each output column's normaliser sqrt(var + 1e-7).
    """
    fb = rk.fbank(
        np.asarray(x, np.float64) * 2.0**15,
        sampling_rate=sr,
        frame_length=400,
        frame_shift=160,
        window_type="povey",
        num_mel_bins=num_bins,
        high_freq=sr // 2,
    )
    norm = np.sqrt(fb.var(axis=0, ddof=1) + 1e-7)
    z = (fb - fb.mean(axis=0)) / norm
    if len(z) % 2:
        z = np.vstack([z, np.zeros((1, num_bins))])
    return z.reshape(-1, 2 * num_bins), np.tile(norm, 2)


def _assert_w2v_within(got, want, norm, ln_tol, what):
    """Per-bin tolerance: |diff| * sqrt(var_b + 1e-7) (the error in ln) <= ln_tol."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    err = np.abs(got.astype(np.float64) - want.astype(np.float64)) * norm
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= ln_tol, (
        f"{what}: ln-equivalent error {err.max():.3g} > {ln_tol:.3g} at {worst} "
        f"(got {got[worst]}, expected {want[worst]}, normaliser {norm[worst[1]]:.3g})"
    )


# --------------------------------------------------------------------------- the float64 Kaldi reference itself


@pytest.mark.parametrize(
    "sr, num_bins, window_type",
    [
        (16000, 23, "povey"),  # kaldi-native-fbank's defaults
        (16000, 80, "hanning"),
        (16000, 126, "hanning"),  # the most bins kaldi-native-fbank accepts at 16 kHz
        (22050, 128, "hanning"),  # 551/220-sample frames, FFT 1024
        (8000, 64, "povey"),  # FFT 256
        (16400, 64, "hanning"),  # 25 ms = 410 samples here (rk.samples, as kaldi-native-fbank counts them)
    ],
)
@pytest.mark.parametrize("kind", list(SIGNALS))
def test_reference_kaldi_matches_kaldi_native_fbank(knf, sr, num_bins, window_type, kind):
    for n in (rk.samples(sr, 25) - 1, rk.samples(sr, 25), 4001, sr + 7):
        x = make(kind, n, sr, np.float32)
        want = knf_fbank(knf, x, sr, num_bins, window_type)
        got = rk_fbank(x, sr, num_bins, window_type)
        assert got.shape == want.shape == (max(0, 1 + (n - rk.samples(sr, 25)) // rk.samples(sr, 10)), num_bins)
        _assert_within(got, want.astype(np.float64), KNF_LN_TOL, f"reference_kaldi vs knf, {kind}, n={n}")


def test_kaldi_native_fbank_refuses_the_ast_default_and_one_band_is_empty(knf):
    # Why tests/reference_kaldi.py is needed: at 16 kHz (FFT 512, 31.25 Hz bins) 127 or more bands leave one
    # without an FFT bin; kaldi-native-fbank refuses that, torchaudio (ast's reference) keeps it at ln(eps).
    x = make("noise", 4001, 16000, np.float32)
    assert knf_fbank(knf, x, 16000, 126, "hanning").shape == (23, 126)
    for bins in (127, 128):
        with pytest.raises(ValueError, match="num_mel_bins too large"):
            knf_fbank(knf, x, 16000, bins, "hanning")
    weights = rk.mel_banks(128, 512, 16000, 20.0, 8000.0)
    assert np.flatnonzero(weights.sum(axis=0) == 0).tolist() == [3]
    np.testing.assert_array_equal(rk_fbank(x, 16000, 128, "hanning")[:, 3], np.log(rk.F32_EPS))


# --------------------------------------------------------------------------- ast


def test_ast_reference_is_what_these_tests_emulate(transformers):
    defaults, keywords, normalize = ast_source()
    assert keywords == {
        "sample_frequency": "self.sampling_rate",
        "window_type": "'hanning'",
        "num_mel_bins": "self.num_mel_bins",
    }
    assert normalize == "(input_values - self.mean) / (self.std * 2)"
    assert defaults["do_normalize"] is True and defaults["padding_value"] == 0.0
    fx = melplug.preset("ast")
    assert fx.num_frames(16000) == defaults["max_length"]
    assert fx(np.zeros(16000, np.float32)).shape == (defaults["max_length"], defaults["num_mel_bins"])
    assert fx.get_config()["sampling_rate"] == defaults["sampling_rate"]


AST_CONFIGS = [(16000, 128), (16000, 126), (22050, 128), (8000, 64)]  # (sampling_rate, num_mel_bins)


@pytest.mark.parametrize("sr, num_bins", AST_CONFIGS)
@pytest.mark.parametrize("kind", list(SIGNALS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_ast_matches_references(transformers, knf, sr, num_bins, kind, dtype):
    """Against the float64 reference (all configs) and kaldi-native-fbank (where it accepts the bin count)."""
    fx = melplug.preset("ast", sampling_rate=sr, num_mel_bins=num_bins)
    max_length = ast_constants()[0]
    win = rk.samples(sr, 25)
    for n in (win, win + 1, 4001, sr + 7):  # 1, 1, ~, ~100 frames
        x = make(kind, n, sr, dtype)
        got = fx(x)
        assert got.shape == (max_length, num_bins) and got.dtype == dtype
        assert fx.num_frames(n) == got.shape[0]
        fbank = rk_fbank(x, sr, num_bins, "hanning")
        _assert_within(got, ast_post(fbank), _ast_tol(dtype), f"ast vs float64 reference, {kind}, n={n}")
        if num_bins <= 126 or sr != 16000:
            # The reference casts to float32 first; kaldi-native-fbank computes in float32.
            kaldi = knf_fbank(knf, x.astype(np.float32), sr, num_bins, "hanning").astype(np.float64)
            _assert_within(got, ast_post(kaldi), _ast_tol(np.float32), f"ast vs kaldi-native-fbank, {kind}, n={n}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_ast_padding_cutting_and_empty_band(transformers, dtype):
    fx = melplug.preset("ast")
    max_length, mean, std = ast_constants()
    pad = -mean / (2.0 * std)
    assert round(pad, 6) == 0.467032  # the value the docs quote for padded rows
    floor = (np.log(rk.F32_EPS) - mean) / (2.0 * std)
    tol = _ast_tol(dtype)
    hop = rk.samples(16000, 10)
    # 23 frames (padded), exactly max_length frames, and more (cut): 400 + (max_length - 1) * 160 samples.
    for n in (4001, 400 + (max_length - 1) * hop, 400 + (max_length + 24) * hop + 7):
        x = make("speech", n, 16000, dtype)
        got = fx(x)
        assert got.shape == (max_length, 128) and got.dtype == dtype
        frames = 1 + (n - 400) // hop
        kept = min(frames, max_length)
        _assert_within(got, ast_post(rk_fbank(x, 16000, 128, "hanning")), tol, f"ast n={n}")
        # Padded rows: all equal to the scaled zero.
        np.testing.assert_array_equal(got[kept:], got[kept:][:1].repeat(max_length - kept, axis=0))
        _assert_within(got[kept:], np.full((max_length - kept, 128), pad), tol, f"ast padding n={n}")
        # The empty band (index 3 at 16 kHz, see the test above) stays at ln(eps), scaled, in every frame.
        _assert_within(got[:kept, 3], np.full(kept, floor), tol, f"ast empty band n={n}")
        assert (np.delete(got[:kept], 3, axis=1) > floor + 1.0).mean() > 0.5  # the other bands are not floored


@pytest.mark.parametrize("sr", [16000, 22050])
def test_ast_refuses_clips_shorter_than_one_window(sr):
    fx = melplug.preset("ast", sampling_rate=sr)
    win = rk.samples(sr, 25)  # torchaudio asserts 2 <= window_size <= len(waveform)
    assert fx(np.zeros(win, np.float32)).shape == (fx.num_frames(win), 128)
    with pytest.raises(ValueError, match=rf"^audio has {win - 1} samples.*at least {win} samples"):
        fx(np.zeros(win - 1, np.float32))
    with pytest.raises(ValueError, match=rf"^audio has 1 samples.*at least {win} samples"):
        fx(np.zeros((3, 1), np.float32))
    with pytest.raises(ValueError, match=rf"^audio\[1\] has {win - 7} samples.*at least {win} samples"):
        fx([np.zeros(win, np.float32), np.zeros(win - 7, np.float32)])


def test_ast_window_length_at_16400_hz(knf, transformers):
    sr = 16400
    fx = melplug.preset("ast", sampling_rate=sr, num_mel_bins=64)
    x = make("speech", sr, sr, np.float32)
    want = ast_post(knf_fbank(knf, x, sr, 64, "hanning").astype(np.float64))
    assert rk.samples(sr, 25) == 410
    assert fx.plan.frame_length == 410
    _assert_within(fx(x), want, _ast_tol(np.float32), "ast at 16400 Hz vs kaldi-native-fbank")


# --------------------------------------------------------------------------- w2v-bert

W2V_CONFIGS = [(16000, 80), (16000, 40), (8000, 80), (22050, 80), (44100, 128)]  # (sampling_rate, num_mel_bins)
W2V_LENGTHS = (560, 721, 4001, 16007)  # 2 frames (the minimum), 3, 23 (odd: a zero frame), 98


@pytest.mark.parametrize("sr, num_bins", W2V_CONFIGS)
@pytest.mark.parametrize("kind", list(SIGNALS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_w2v_bert_matches_references(transformers, sr, num_bins, kind, dtype):
    fx = melplug.preset("w2v-bert", sampling_rate=sr, num_mel_bins=num_bins)
    for n in W2V_LENGTHS:
        x = make(kind, n, sr, dtype)
        frames = 1 + (n - 400) // 160
        got = fx(x)
        assert got.shape == ((frames + 1) // 2, 2 * num_bins) and got.dtype == dtype
        assert fx.num_frames(n) == got.shape[0]
        want = w2v_reference(x, sr, num_bins)
        exact, norm = w2v_exact(x, sr, num_bins)
        assert want.shape == exact.shape == got.shape
        # transformers computes from float32 samples and returns float32: the float32 budget for both dtypes.
        _assert_w2v_within(got, want, norm, LN_TOL[np.float32], f"w2v-bert vs transformers, {kind}, n={n}")
        _assert_w2v_within(got, exact, norm, LN_TOL[dtype], f"w2v-bert vs float64 reference, {kind}, n={n}")
        if frames % 2:  # the zero frame appended after normalising
            np.testing.assert_array_equal(got[-1, num_bins:], 0.0)
            np.testing.assert_array_equal(want[-1, num_bins:], 0.0)
        empty = np.flatnonzero(rk.mel_banks(num_bins, 512, sr, 20.0, sr // 2).sum(axis=0) == 0)
        assert (len(empty) > 0) == (sr == 44100)
        assert np.abs(got[:, np.concatenate([empty, empty + num_bins])]).max(initial=0.0) <= EMPTY_BAND_TOL


def test_w2v_bert_reference_batches_pad_each_clip_alone(transformers):
    # The reference normalises each clip alone, then zero-pads to the longest (to a multiple of 2 frames) and
    # stacks: a clip's rows in a batch are bit-for-bit its rows alone, then zeros.  Its attention mask marks
    # frames // 2 rows: for an odd count the last row (one real frame, one zero frame) is masked, though
    # input_features (and melplug) have (frames + 1) // 2 rows.
    fe = seamless(16000, 80)
    fx = melplug.preset("w2v-bert")
    lengths = (16007, 12345, 4001)  # 98, 75, 23 frames
    clips = [make("speech", n, 16000, np.float32) for n in lengths]
    batch = fe(clips, sampling_rate=16000, return_tensors="np")
    ours = fx(clips)
    assert batch["input_features"].shape == (3, 49, 160)
    for i, n in enumerate(lengths):
        frames = 1 + (n - 400) // 160
        alone = w2v_reference(clips[i], 16000, 80)
        rows = (frames + 1) // 2
        assert alone.shape == ours[i].shape == (rows, 160) and ours[i].dtype == np.float32
        np.testing.assert_array_equal(batch["input_features"][i, :rows], alone)
        np.testing.assert_array_equal(batch["input_features"][i, rows:], 0.0)
        assert batch["attention_mask"][i].sum() == frames // 2
        np.testing.assert_array_equal(ours[i], fx(clips[i]))
        _assert_w2v_within(ours[i], alone, w2v_exact(clips[i], 16000, 80)[1], LN_TOL[np.float32], f"clip {i}")


@pytest.mark.parametrize("n", [400, 559])
def test_w2v_bert_refuses_clips_with_one_frame(transformers, n):
    x = make("noise", n, 16000, np.float32)
    with warnings.catch_warnings():  # numpy: "Degrees of freedom <= 0", "invalid value encountered"
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(w2v_reference(x, 16000, 80)).any()  # the reference returns NaN
    fx = melplug.preset("w2v-bert")
    with pytest.raises(ValueError, match=rf"^audio has {n} samples.*at least 560 samples"):
        fx(x)
    with pytest.raises(ValueError, match=rf"^audio\[1\] has {n} samples.*at least 560 samples"):
        fx([make("noise", 560, 16000, np.float32), x])


def test_w2v_bert_refuses_clips_without_frames_naming_the_minimum():
    with pytest.raises(ValueError, match=r"^audio has 399 samples.*at least 560 samples"):
        melplug.preset("w2v-bert")(np.zeros(399, np.float32))


# --------------------------------------------------------------------------- both: batching, kernels


@pytest.mark.parametrize("name", ["ast", "w2v-bert"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_equals_one_by_one(name, dtype):
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
