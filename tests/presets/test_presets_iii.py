"""Presets III: NeMo, SpeechBrain, WeSpeaker/pyannote, FunASR SenseVoice, BEATs, EAT, Dasheng, Vocos and BigVGAN.

Each preset is compared per clip with its reference: the float64 NumPy ports of the torch-only ones
(``tests/references/nemo_features.py``, ``speechbrain_fbank.py``, ``vocoder_mels.py``, each checked by hand against
the real package, see its docstring), funasr_onnx's ``WavFrontend`` (``funasr_frontend.py``: bit for bit the library's
code, run on kaldi-native-fbank), and for the torchaudio Kaldi front ends (WeSpeaker, pyannote, BEATs, EAT) the float64
Kaldi reference (``kaldi_fbank.py``, itself checked against kaldi-native-fbank) followed by the steps quoted from their
sources.  float64 output is held to round-off against the float64 references; float32 output to float32 round-off
in the preset's own units.
"""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest

import melplug
from tests.presets._tolerances import LN_TOL
from tests.references import funasr_frontend, nemo_features, speechbrain_fbank, vocoder_mels
from tests.references import kaldi_fbank as rk
from tests.references.signals import make_signal

NAMES = ("nemo", "speechbrain-fbank", "wespeaker", "sensevoice", "beats", "eat", "dasheng", "vocos", "bigvgan")
KINDS = ("noise", "tones", "speech", "burst")
_DB_PER_LN = 10.0 / math.log(10.0)


def _clip(kind: str, n: int, sr: int, seed: int = 1) -> np.ndarray:
    """A float32-exact float64 clip; ``burst`` is near-silence (-60 dB) with a 0.1 s tone burst and a DC offset."""
    if kind == "burst":
        rng = np.random.default_rng(seed)
        x = 1e-3 * rng.standard_normal(n) + 0.05
        a = n // 3
        b = min(n, a + sr // 10)
        x[a:b] += 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(b - a) / sr)
    else:
        x = make_signal(kind, n, sr, seed)
    return x.astype(np.float32).astype(np.float64)


def _kaldi(x, sr, bins, window, gain=1.0):
    return rk.fbank(x * gain, sampling_rate=sr, frame_length=rk.samples(sr, 25), frame_shift=rk.samples(sr, 10),
                    window_type=window, num_mel_bins=bins)  # fmt: skip


def _mean_removed(feats):
    return feats - feats.mean(axis=0, keepdims=True)


def _eat(x, sr=16000, bins=128, target=1024):
    # EAT preprocess_audio: wav - wav.mean(); kaldi.fbank(hanning, no energy, dither 0); zero-pad/cut rows; normalise.
    feats = _kaldi(x - x.mean(), sr, bins, "hanning")[:target]
    feats = np.vstack([feats, np.zeros((target - feats.shape[0], bins))])
    return (feats - -4.268) / (4.569 * 2)


def _sensevoice(x, cmvn=None, lfr_m=7, lfr_n=6):
    # WavFrontend in float64: x 2**15, Kaldi fbank (Hamming), LFR, (x + shift) * scale.
    stacked = _lfr64(_kaldi(x, 16000, 80, "hamming", 2.0**15), lfr_m, lfr_n)
    return stacked if cmvn is None else funasr_frontend.apply_cmvn(stacked, cmvn)


def _lfr64(feats, m, n):
    """``apply_lfr`` without its float32 cast (float64 rows)."""
    left = (m - 1) // 2
    padded = np.vstack([np.repeat(feats[:1], left, axis=0), feats])
    rows = -(-feats.shape[0] // n)
    idx = np.minimum(np.arange(rows)[:, None] * n + np.arange(m)[None, :], padded.shape[0] - 1)
    return padded[idx].reshape(rows, -1)


#: name -> (float64 reference of one clip, float32 tolerance in the preset's output units).
REFERENCES = {
    "nemo": (lambda x: nemo_features.filterbank_features(x)[0], 1e-3),
    "speechbrain-fbank": (
        lambda x: speechbrain_fbank.sentence_mean_norm(speechbrain_fbank.fbank(x)),
        LN_TOL[np.float32] * _DB_PER_LN,
    ),
    "wespeaker": (lambda x: _mean_removed(_kaldi(x, 16000, 80, "hamming", 2.0**15)), LN_TOL[np.float32]),
    "sensevoice": (_sensevoice, LN_TOL[np.float32]),
    "beats": (
        lambda x: (_kaldi(x, 16000, 128, "povey", 2.0**15) - 15.41663) / (2 * 6.55582),
        LN_TOL[np.float32] / (2 * 6.55582),
    ),
    "eat": (_eat, LN_TOL[np.float32] / (2 * 4.569)),
    "dasheng": (vocoder_mels.dasheng_mel, LN_TOL[np.float32] * _DB_PER_LN),
    "vocos": (vocoder_mels.vocos_mel, LN_TOL[np.float32]),
    "bigvgan": (vocoder_mels.bigvgan_mel, LN_TOL[np.float32]),
}


@pytest.fixture(scope="module", params=NAMES)
def preset(request):
    return request.param, melplug.preset(request.param)


def _lengths(sr: int) -> tuple[int, ...]:
    return (2 * sr + 7, int(0.27 * sr), sr)  # odd, shorter than 0.5 s, a multiple of the hop


@pytest.mark.parametrize("kind", KINDS)
def test_matches_its_reference(preset, kind):
    name, fx = preset
    sr = int(fx.sampling_rate)
    ref, tol32 = REFERENCES[name]
    for n in _lengths(sr):
        x = _clip(kind, n, sr)
        want = ref(x)
        for dtype in (np.float32, np.float64):
            got = fx(x.astype(dtype))
            assert got.shape == want.shape and got.dtype == dtype, (name, kind, n, got.shape, want.shape)
            assert fx.num_frames(n) == got.shape[0 if fx.layout == "frames_mels" else 1]
            err = np.abs(got - want).max(initial=0.0)
            tol = tol32 if dtype == np.float32 else 1e-9 * max(1.0, np.abs(want).max(initial=0.0))
            assert err <= tol, f"{name} {kind} n={n} {dtype.__name__}: {err:.3g} > {tol:.3g}"


def test_nemo_valid_frames_pad_to_and_128_mels():
    fx = melplug.preset("nemo", num_mel_bins=128, pad_to=16)
    for n in (16000, 4001, 1234):
        x = _clip("speech", n, 16000)
        want, valid = nemo_features.filterbank_features(x, nfilt=128, pad_to=16)
        got = fx(x)
        assert got.shape == want.shape and got.shape[1] % 16 == 0, (n, got.shape, want.shape)
        assert fx.valid_frames(n) == valid == n // 160
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-3)
        assert (got[:, valid:] == 0.0).all()


def test_nemo_clips_too_short_to_normalise_are_refused():
    # NeMo sets the NaN deviation of a single valid frame to 0 (its output there is 0 / 1e-5 = 0): melplug refuses
    # the clip instead of returning a frame of zeros, naming the shortest clip it normalises.
    fx = melplug.preset("nemo")
    with pytest.raises(ValueError, match=r"clips of at least 320 samples"):
        fx(np.ones(319, np.float32))
    want, _ = nemo_features.filterbank_features(_clip("noise", 320, 16000))
    np.testing.assert_allclose(fx(_clip("noise", 320, 16000)), want, rtol=0, atol=1e-9 * np.abs(want).max())


def test_speechbrain_filters_are_its_symmetric_triangles():
    """The ``hz_symmetric`` triangles against SpeechBrain's ``Filterbank`` matrix (8 kHz, 40 bands too)."""
    from melplug import _filters

    for sr, bins in ((16000, 80), (8000, 40)):
        fx = melplug.preset("speechbrain-fbank", sampling_rate=sr, num_mel_bins=bins)
        weights = _filters.mel_weights(fx.get_config(), 400)
        want = speechbrain_fbank.filterbank_matrix(sample_rate=sr, n_fft=400, n_mels=bins)
        np.testing.assert_allclose(weights, want, rtol=0, atol=1e-12)
        x = _clip("speech", sr + 11, sr)
        np.testing.assert_allclose(
            fx(x), speechbrain_fbank.sentence_mean_norm(speechbrain_fbank.fbank(x, sample_rate=sr, n_mels=bins)),
            rtol=0, atol=1e-9 * 100,
        )  # fmt: skip


@pytest.fixture(scope="module")
def am_mvn(tmp_path_factory):
    rng = np.random.default_rng(7)
    shift, scale = rng.uniform(-15.0, -5.0, 560), rng.uniform(0.1, 0.3, 560)
    path = tmp_path_factory.mktemp("cmvn") / "am.mvn"
    funasr_frontend.write_am_mvn(path, shift, scale)
    return path


def test_sensevoice_with_cmvn_matches_funasr_onnx(knf, am_mvn):
    """Against funasr_onnx's WavFrontend itself (its code on kaldi-native-fbank) and the float64 steps."""
    fx = melplug.preset("sensevoice", cmvn=am_mvn)
    cmvn = funasr_frontend.load_cmvn(am_mvn)
    for n in (16000, 2 * 16000 + 7, 1234):
        x = _clip("speech", n, 16000)
        library = funasr_frontend.wav_frontend(x.astype(np.float32), cmvn=am_mvn)
        got = fx(x.astype(np.float32))
        assert got.shape == library.shape == (-(-(1 + (n - 400) // 160) // 6), 560)
        np.testing.assert_allclose(got, library, rtol=0, atol=LN_TOL[np.float32] * cmvn[1].max())
        want = _sensevoice(x, cmvn)
        np.testing.assert_allclose(fx(x), want, rtol=0, atol=1e-9 * np.abs(want).max())
    # The same from the (2, 560) array funasr_onnx loads, and the rows before CMVN as it stacks them.
    assert melplug.preset("sensevoice", cmvn=cmvn) == fx
    x = _clip("noise", 8000, 16000).astype(np.float32)
    plain = funasr_frontend.wav_frontend(x)
    np.testing.assert_allclose(melplug.preset("sensevoice")(x), plain, rtol=0, atol=LN_TOL[np.float32])


def test_sensevoice_other_low_frame_rates(knf):
    for m, n in ((5, 1), (4, 3), (1, 1)):
        fx = melplug.preset("sensevoice", lfr_m=m, lfr_n=n)
        x = _clip("speech", 9999, 16000)
        feats = _kaldi(x, 16000, 80, "hamming", 2.0**15)
        want = _lfr64(feats, m, n)
        np.testing.assert_array_equal(want.astype(np.float32), funasr_frontend.apply_lfr(feats, m, n))
        np.testing.assert_allclose(fx(x), want, rtol=0, atol=1e-9 * np.abs(want).max())
        np.testing.assert_allclose(
            fx(x.astype(np.float32)), funasr_frontend.wav_frontend(x.astype(np.float32), lfr_m=m, lfr_n=n),
            rtol=0, atol=LN_TOL[np.float32],
        )  # fmt: skip


def test_am_mvn_errors_name_the_file_and_line(tmp_path, am_mvn):
    missing = tmp_path / "nope.mvn"
    with pytest.raises(ValueError, match=r"nope\.mvn.*cannot be read"):
        melplug.preset("sensevoice", cmvn=missing)
    lines = am_mvn.read_text().splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith("<Rescale>"))
    bad = tmp_path / "bad.mvn"
    bad.write_text("\n".join(lines[: k + 1] + [lines[k + 1].replace("[ ", "[ x ", 1)] + lines[k + 2 :]) + "\n")
    with pytest.raises(ValueError, match=rf"bad\.mvn', line {k + 2}: the <Rescale> vector holds a value"):
        melplug.preset("sensevoice", cmvn=bad)
    cut = tmp_path / "cut.mvn"
    cut.write_text("\n".join(lines[: k + 1]) + "\n")
    with pytest.raises(ValueError, match=rf"cut\.mvn', line {k + 2}: expected the <Rescale> vector"):
        melplug.preset("sensevoice", cmvn=cut)
    none = tmp_path / "none.mvn"
    none.write_text("<Nnet>\n</Nnet>\n")
    with pytest.raises(ValueError, match=r"none\.mvn' has no <AddShift> and no <Rescale> vector"):
        melplug.preset("sensevoice", cmvn=none)
    with pytest.raises(ValueError, match=r"cmvn has 560 values per row; .* 5 x 80 = 400"):
        melplug.preset("sensevoice", cmvn=am_mvn, lfr_m=5, lfr_n=5)
    with pytest.raises(ValueError, match=r"shape \(560,\)"):
        melplug.preset("sensevoice", cmvn=np.ones(560))
    with pytest.raises(ValueError, match="lfr_n=8"):
        melplug.preset("sensevoice", lfr_n=8)


def test_eat_mean_removal_is_kaldis_dc_removal():
    # EAT subtracts the clip's mean before Kaldi's fbank, whose per-frame DC removal makes that a no-op in exact
    # arithmetic: melplug relies on it.  The burst clip carries a DC offset; a larger one here.
    fx = melplug.preset("eat")
    x = _clip("speech", 16000, 16000) + 0.25
    want = _eat(x)
    np.testing.assert_allclose(fx(x), want, rtol=0, atol=1e-9 * np.abs(want).max())
    np.testing.assert_allclose(fx(x.astype(np.float32)), want, rtol=0, atol=REFERENCES["eat"][1])


def test_vocoders_take_their_configs():
    x = _clip("speech", 22050 + 5, 22050)
    fx = melplug.preset("bigvgan", sampling_rate=22050, num_mel_bins=80, fft_length=1024, hop_length=256)
    want = vocoder_mels.bigvgan_mel(x, sampling_rate=22050, num_mels=80)
    np.testing.assert_allclose(fx(x), want, rtol=0, atol=1e-9 * np.abs(want).max())
    fx = melplug.preset("bigvgan", sampling_rate=22050, num_mel_bins=80, max_freq=8000.0)
    want = vocoder_mels.bigvgan_mel(x, sampling_rate=22050, num_mels=80, fmax=8000)
    np.testing.assert_allclose(fx(x), want, rtol=0, atol=1e-9 * np.abs(want).max())
    with pytest.raises(ValueError, match="384"):
        melplug.preset("bigvgan")(np.zeros(384, np.float32))  # torch's reflect padding needs more than the pad
    fx = melplug.preset("vocos", sampling_rate=22050, num_mel_bins=80)
    want = vocoder_mels.vocos_mel(x, sample_rate=22050, n_mels=80)
    np.testing.assert_allclose(fx(x), want, rtol=0, atol=1e-9 * np.abs(want).max())


def test_dasheng_floors_each_clip_alone():
    """torchaudio's AmplitudeToDB floors a whole batch at once; melplug computes each clip as if alone."""
    fx = melplug.preset("dasheng")
    loud = _clip("speech", 16000, 16000)
    quiet = loud * 1e-4
    batch = fx(np.stack([loud, quiet]))
    np.testing.assert_allclose(batch[1], vocoder_mels.dasheng_mel(quiet), rtol=0, atol=1e-9 * 200)


@pytest.mark.parametrize("name", NAMES)
def test_round_trips_batches_and_ragged_lists(name):
    fx = melplug.preset(name)
    clone = melplug.FeatureExtractor.from_config(json.loads(json.dumps(fx.get_config())))
    assert clone == fx and pickle.loads(pickle.dumps(fx)) == fx
    sr = int(fx.sampling_rate)
    clips = [_clip("speech", n, sr, seed=i).astype(np.float32) for i, n in enumerate((sr, sr // 3 + 5))]
    for got, clip in zip(fx(clips), clips, strict=True):
        np.testing.assert_array_equal(got, fx(clip))
        np.testing.assert_array_equal(got, clone(clip))
