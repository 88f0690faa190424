"""Reference tests of the presets (SPEC §5, issue 10): each preset against its reference library.

The references run in the test (never pasted numbers): transformers'
``WhisperFeatureExtractor`` on its numpy path for ``"whisper"`` and
kaldi-native-fbank's ``OnlineFbank`` (dither 0) for ``"kaldi"``.  Each is
fed the same clips as melplug: noise, tones and speech-like bursts with
silences, of lengths around one frame, odd, and around Whisper's 30 s.
"""

from __future__ import annotations

import inspect
import json
import math
import pickle
import subprocess
import sys
import textwrap
import warnings

import numba
import numpy as np
import pytest

import melplug
from melplug import kernels
from tests._util import DB_TOL, assert_batching_consistent

# ----------------------------------------------------------------------------- tolerances (stated once)

_DB = DB_TOL[np.float32]  # the Keras preset's target, 0.01 dB, expressed below in each preset's own units
#: max |melplug - reference| per (preset, output dtype), in the preset's output units.
TOL = {
    # whisper outputs (log10(M) + 4) / 4: 0.01 dB = 0.001 log10 = 0.00025 output units.
    ("whisper", np.float32): _DB / 10 / 4,
    # float64: against the reference's own float64 values (before its float32 cast; it keeps the STFT
    # in complex64, ~1e-8 from exact).
    ("whisper", np.float64): 1e-6,
    # kaldi outputs ln(M): 0.01 dB = 0.0023 ln.  kaldi-native-fbank computes in float32 whatever the
    # input, so float64 output is held to the same bound.
    ("kaldi", np.float32): _DB * math.log(10) / 10,
    ("kaldi", np.float64): _DB * math.log(10) / 10,
}
DTYPES = [np.float32, np.float64]
WHISPER_REASON = "the whisper reference is transformers' WhisperFeatureExtractor (melplug[test])"
KALDI_REASON = "the kaldi reference is kaldi-native-fbank (melplug[test])"


# ----------------------------------------------------------------------------- test signals


def make_signal(kind: str, n: int, sr: int, seed: int) -> np.ndarray:
    """A deterministic float64 test clip of ``n`` samples at ``sr`` Hz.

    ``noise``: white noise.  ``tones``: three sines (one near Nyquist) and a
    50 Hz hum over a noise floor 40 dB down.  ``speech``: voiced bursts (a
    wobbling 90-150 Hz pitch, 40 harmonics with 1/k roll-off) and
    fricative-like noise bursts, with the hum and a noise floor 40 dB down,
    separated by digital silence, so that whole frames hit the log floors.
    ``quiet``: the same with the silences filled by noise 60 dB below the
    peak.  The hum and the noise floors keep a frame's bands within about
    70 dB of its strongest (a few transition frames reach 85 dB): further
    down, float32 round-off is of the order of the references' own
    disagreement (FINDINGS "Preset references").
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    if kind == "noise":
        return 0.1 * rng.standard_normal(n)
    if kind == "tones":
        x = 0.3 * np.sin(2 * np.pi * 220.0 * t + 0.3) + 0.2 * np.sin(2 * np.pi * 1234.5 * t)
        x += 0.1 * np.sin(2 * np.pi * 0.43 * sr * t + 1.0) + 0.03 * np.sin(2 * np.pi * 50.0 * t)
        return x + 0.006 * rng.standard_normal(n)
    if kind not in ("speech", "quiet"):
        raise ValueError(kind)
    f0 = 120.0 + 30.0 * np.sin(2 * np.pi * 2.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    num_harmonics = min(40, int(sr / 2 / 150.0))
    hum = 0.03 * np.sin(2 * np.pi * 50.0 * t)  # mains hum: keeps the lowest Kaldi bands within ~70 dB
    x = np.zeros(n)
    start = int(rng.integers(0, max(1, sr // 20)))
    while start < n:
        length = int(rng.integers(sr // 12, sr // 4))
        stop = min(n, start + length)
        if rng.random() < 0.7:  # voiced: harmonics k = 1..40 of the pitch, amplitude 1/k
            z = np.exp(1j * phase[start:stop])
            zk, source = z.copy(), np.zeros(stop - start)
            for k in range(1, num_harmonics + 1):
                source += zk.imag / (3 * k)
                zk *= z
        else:  # fricative: differentiated (high-passed) noise
            source = 0.15 * np.diff(rng.standard_normal(stop - start + 1))
        envelope = np.sin(np.pi * (np.arange(stop - start) + 0.5) / length) ** 0.5
        x[start:stop] = source * envelope + hum[start:stop] + 0.01 * rng.standard_normal(stop - start)
        start = stop + int(rng.integers(sr // 20, sr // 6))
    if kind == "quiet":
        x += 10 ** (-60 / 20) * rng.standard_normal(n) * (x == 0)
    return x


def clips_of(spec, sr: int) -> dict:
    """Clips ``make_signal(kind, n, sr, seed=i)`` for ``spec = [(kind, n), ...]``, per dtype of :data:`DTYPES`."""
    clips = [make_signal(kind, n, sr, seed=i) for i, (kind, n) in enumerate(spec)]
    return {dtype: [c.astype(dtype) for c in clips] for dtype in DTYPES}


# ----------------------------------------------------------------------------- references


def whisper_module():
    """transformers' Whisper feature-extraction module (skips the test without transformers)."""
    return pytest.importorskip("transformers.models.whisper.feature_extraction_whisper", reason=WHISPER_REASON)


def whisper_reference(sr: int, bins: int, clips) -> np.ndarray:
    """transformers' ``WhisperFeatureExtractor(feature_size=bins, sampling_rate=sr)`` on its numpy path.

    Its public ``__call__`` (float32 samples in, float32 features out), with
    torch hidden so the numpy path runs even where torch is installed.
    Returns ``(len(clips), bins, frames)``.
    """
    module = whisper_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # empty mel filters at 8 kHz, as SPEC §5 says
        fe = module.WhisperFeatureExtractor(feature_size=bins, sampling_rate=sr)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(module, "is_torch_available", lambda: False)
        out = fe(list(clips), sampling_rate=sr, return_tensors="np")["input_features"]
    return np.asarray(out)


def whisper_exact(sr: int, bins: int, clip, dtype=np.float64) -> np.ndarray:
    """``WhisperFeatureExtractor._np_extract_fbank_features`` of one clip, computed in ``dtype``.

    The same calls as transformers' numpy path (``audio_utils.spectrogram``
    then its post-processing), on the clip zero-padded or cut to 30 s as its
    ``pad`` does, but with ``dtype=np.float64`` the final float32 cast is
    skipped: the reference's own float64 values.  With ``np.float32`` it is
    the public output bit for bit (checked by ``test_whisper_exact_reference_replica``).
    """
    module = whisper_module()
    from transformers.audio_utils import spectrogram, window_function

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fe = module.WhisperFeatureExtractor(feature_size=bins, sampling_rate=sr)
    waveform = np.zeros(fe.n_samples, dtype=np.float64)
    n = min(len(clip), fe.n_samples)
    waveform[:n] = clip[:n]
    log_spec = spectrogram(
        waveform,
        window_function(fe.n_fft, "hann"),
        frame_length=fe.n_fft,
        hop_length=fe.hop_length,
        power=2.0,
        dither=fe.dither,
        mel_filters=fe.mel_filters,
        log_mel="log10",
        dtype=dtype,
    )
    log_spec = log_spec[:, :-1]
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def kaldi_options(sr: int, bins: int):
    knf = pytest.importorskip("kaldi_native_fbank", reason=KALDI_REASON)
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0
    opts.frame_opts.samp_freq = sr
    opts.mel_opts.num_bins = bins
    return knf, opts


def kaldi_reference(sr: int, bins: int, clip) -> np.ndarray:
    """kaldi-native-fbank ``OnlineFbank`` (dither 0) of one clip: ``(frames, bins)`` float32."""
    knf, opts = kaldi_options(sr, bins)
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(sr, np.asarray(clip))
    fbank.input_finished()
    rows = [fbank.get_frame(i) for i in range(fbank.num_frames_ready)]
    return np.array(rows, dtype=np.float32).reshape(-1, bins)


def kaldi_samples(sr: int, ms: float) -> int:
    """Kaldi's samples per ``ms`` milliseconds, ``int(float32(sr) * 0.001 * ms)`` (in float32, as Kaldi)."""
    return int(np.float32(sr) * np.float32(0.001) * np.float32(ms))


def kaldi_frames(n: int, sr: int) -> int:
    """Kaldi's snip-edges frame count for 25 ms windows every 10 ms: none for a clip shorter than a window."""
    win, shift = kaldi_samples(sr, 25.0), kaldi_samples(sr, 10.0)
    return 1 + (n - win) // shift if n >= win else 0


# ----------------------------------------------------------------------------- grids

#: (id, sampling_rate, num_mel_bins, [(kind, samples), ...]).  One frame of whisper is 400 samples at every
#: rate; its input is 30 s (480000 samples at 16 kHz).  Four clips of 30 s or more.
WHISPER_CASES = [
    (
        "16k-80",
        16000,
        80,
        [
            ("noise", 1),
            ("noise", 2),
            ("tones", 3),
            ("noise", 199),
            ("speech", 200),
            ("noise", 201),
            ("tones", 400),
            ("noise", 401),
            ("speech", 16001),
            ("quiet", 48000),
            ("speech", 96007),
            ("noise", 479999),
            ("speech", 480000),
            ("tones", 480001),
            ("quiet", 531234),
        ],
    ),
    ("16k-128", 16000, 128, [("speech", 32003), ("noise", 5), ("tones", 7777)]),
    ("8k-80", 8000, 80, [("speech", 16001), ("quiet", 24000), ("tones", 1)]),
    ("22k-80", 22050, 80, [("speech", 44101), ("noise", 3), ("tones", 12345)]),
]


def _kaldi_lengths(sr: int) -> list[tuple[str, int]]:
    win = kaldi_samples(sr, 25.0)
    return [("noise", win - 1), ("tones", win), ("speech", win + 1), ("quiet", 3 * sr // 2 + 1), ("tones", sr + 7)]


KALDI_CASES = [
    (
        "16k-23",
        16000,
        23,
        [
            ("noise", 1),
            ("noise", 2),
            ("tones", 399),
            ("noise", 400),
            ("speech", 401),
            ("noise", 559),
            ("tones", 560),
            ("speech", 561),
            ("noise", 1601),
            ("speech", 16000),
            ("quiet", 16001),
            ("tones", 48017),
            ("speech", 80003),
        ],
    ),
    ("16k-40", 16000, 40, _kaldi_lengths(16000)),
    ("16k-80", 16000, 80, _kaldi_lengths(16000)),
    ("8k-23", 8000, 23, _kaldi_lengths(8000)),
    ("22k-23", 22050, 23, _kaldi_lengths(22050)),
    ("44k-23", 44100, 23, _kaldi_lengths(44100)),
    ("44k-80", 44100, 80, _kaldi_lengths(44100)),
]


@pytest.fixture(scope="module")
def whisper_refs():
    """Per case id: the clips (float32 and float64), the public reference and the float64 reference."""
    whisper_module()
    cache = {}

    def get(case_id):
        if case_id not in cache:
            _, sr, bins, spec = next(c for c in WHISPER_CASES if c[0] == case_id)
            clips = clips_of(spec, sr)
            public = whisper_reference(sr, bins, clips[np.float32])
            exact = [whisper_exact(sr, bins, c) for c in clips[np.float64]]
            cache[case_id] = sr, bins, clips, public, exact
        return cache[case_id]

    return get


@pytest.fixture(scope="module")
def kaldi_refs():
    kaldi_options(16000, 23)
    cache = {}

    def get(case_id):
        if case_id not in cache:
            _, sr, bins, spec = next(c for c in KALDI_CASES if c[0] == case_id)
            clips = clips_of(spec, sr)
            refs = [kaldi_reference(sr, bins, c) for c in clips[np.float32]]
            cache[case_id] = sr, bins, clips, refs
        return cache[case_id]

    return get


def max_error(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(got.astype(np.float64) - expected.astype(np.float64)).max(initial=0.0))


# ----------------------------------------------------------------------------- parity with the references


def test_whisper_exact_reference_replica(whisper_refs):
    """The float64 reference used below is transformers' numpy path: in float32 it is the public output."""
    sr, bins, clips, public, _ = whisper_refs("16k-80")
    for i in (0, 8, 13, 14):  # 1 sample, 1 s, just over and well over 30 s
        replica = whisper_exact(sr, bins, clips[np.float32][i], dtype=np.float32)
        assert replica.dtype == np.float32
        np.testing.assert_array_equal(replica, public[i])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case_id", [c[0] for c in WHISPER_CASES])
def test_whisper_matches_reference(whisper_refs, case_id, dtype):
    sr, bins, clips, public, exact = whisper_refs(case_id)
    fx = melplug.preset("whisper", sampling_rate=sr, num_mel_bins=bins)
    tol = TOL["whisper", dtype]
    for i, clip in enumerate(clips[dtype]):
        got = fx(clip)
        expected = public[i] if dtype == np.float32 else exact[i]
        assert got.dtype == dtype, i
        assert got.shape == expected.shape == (bins, 30 * sr // 160), i
        assert max_error(got, expected) <= tol, (case_id, i, len(clip), max_error(got, expected))


def test_whisper_float32_input_forced_to_float64(whisper_refs):
    """``dtype="float64"`` computes float32 samples in float64: the reference's float64 values."""
    sr, bins, clips, _, _ = whisper_refs("16k-80")
    fx = melplug.preset("whisper", dtype="float64")
    for clip in clips[np.float32][8:10]:
        got = fx(clip)
        assert got.dtype == np.float64
        expected = whisper_exact(sr, bins, clip.astype(np.float64))
        assert got.shape == expected.shape
        assert max_error(got, expected) <= TOL["whisper", np.float64]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case_id", [c[0] for c in KALDI_CASES])
def test_kaldi_matches_reference(kaldi_refs, case_id, dtype):
    sr, bins, clips, refs = kaldi_refs(case_id)
    fx = melplug.preset("kaldi", sampling_rate=sr, num_mel_bins=bins)
    for i, clip in enumerate(clips[dtype]):
        got, expected = fx(clip), refs[i]
        assert got.dtype == dtype, i
        assert got.shape == expected.shape == (kaldi_frames(len(clip), sr), bins), (i, len(clip), got.shape)
        assert max_error(got, expected) <= TOL["kaldi", dtype], (case_id, i, len(clip), max_error(got, expected))


@pytest.mark.parametrize("name", ["whisper", "kaldi"])
def test_integer_input(name):
    """int16 samples are cast without scaling (float32 output), as both references read them."""
    clip = (3000 * make_signal("speech", 16001, 16000, seed=3)).astype(np.int16)
    if name == "whisper":
        expected = whisper_reference(16000, 80, [clip])[0]  # transformers takes the int16 array as it is
    else:
        expected = kaldi_reference(16000, 23, clip.astype(np.float32))  # Kaldi reads int16 PCM as floats
    got = melplug.preset(name)(clip)
    assert got.dtype == np.float32
    assert got.shape == expected.shape
    assert max_error(got, expected) <= TOL[name, np.float32]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_kaldi_clips_shorter_than_a_window(kaldi_refs, dtype):
    """The reference gives no frame below 400 samples; melplug gives a ``(0, bins)`` array, batched too."""
    sr, bins, clips, refs = kaldi_refs("16k-23")
    fx = melplug.preset("kaldi")
    short = [c for c, r in zip(clips[dtype], refs, strict=True) if r.shape[0] == 0]
    assert [len(c) for c in short] == [1, 2, 399]
    batch = np.stack([short[2], short[2][::-1]])
    out = fx(batch)
    assert out.dtype == dtype
    assert out.shape == (2, 0, bins)
    outs = fx([*short, clips[dtype][3]])  # ragged: three short clips and one of exactly one window
    assert [o.shape for o in outs] == [(0, bins)] * 3 + [(1, bins)]
    assert all(o.dtype == dtype for o in outs)
    np.testing.assert_array_equal(outs[3], fx(clips[dtype][3]))


# ----------------------------------------------------------------------------- batching, Numba, frames


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
def test_batched_equals_one_by_one(name, dtype):
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


@pytest.mark.parametrize(
    ("sr", "bins"), [(16000, 80), (16000, 128), (8000, 80), (22050, 80)], ids=["16k", "16k-128", "8k", "22k"]
)
def test_whisper_num_frames(sr, bins):
    """``num_frames(n)`` is the output's time axis: ``30 * sr // 160`` (3000 at 16 kHz) whatever ``n`` is."""
    fx = melplug.preset("whisper", sampling_rate=sr, num_mel_bins=bins)
    for n in (1, 399, 400, 401, 30 * sr - 1, 30 * sr, 30 * sr + 161):
        assert fx.num_frames(n) == 30 * sr // 160
    for n in (1, 400, 30 * sr + 161):
        assert fx(np.ones(n, np.float32)).shape == (bins, fx.num_frames(n))
    with pytest.raises(ValueError, match="num_samples"):
        fx.num_frames(0)


@pytest.mark.parametrize("sr", [16000, 8000, 22050, 44100])
def test_kaldi_num_frames(sr):
    """``num_frames(n)`` is ``1 + (n - win) // shift``, or 0 below one window: the reference's row count."""
    fx = melplug.preset("kaldi", sampling_rate=sr)
    win, shift = kaldi_samples(sr, 25.0), kaldi_samples(sr, 10.0)
    x = make_signal("noise", win + 3 * shift + 1, sr, seed=0).astype(np.float32)
    for n in (1, win - 1, win, win + 1, win + shift - 1, win + shift, win + 3 * shift + 1):
        expected = kaldi_reference(sr, 23, x[:n]).shape[0]
        assert expected == kaldi_frames(n, sr)
        assert fx.num_frames(n) == expected
        assert fx(x[:n]).shape == (expected, 23)
    assert fx.compute_output_shape((3, win)) == (3, 1, 23)


# ----------------------------------------------------------------------------- preset() and its options


def test_keras_preset_is_melspectrogram():
    assert melplug.PRESETS[0] == "keras"
    assert {"keras", "whisper", "kaldi"} <= set(melplug.PRESETS)
    keras = melplug.preset("keras")
    assert type(keras) is melplug.MelSpectrogram
    assert keras == melplug.MelSpectrogram()
    assert melplug.preset("keras", num_mel_bins=80, fft_length=512) == melplug.MelSpectrogram(
        num_mel_bins=80, fft_length=512
    )
    assert melplug.preset("keras", num_mel_bins=80) != melplug.MelSpectrogram()


@pytest.mark.parametrize("name", [None, 3, "", "Whisper", "whisper ", "kaldi-fbank"])
def test_unknown_preset(name):
    with pytest.raises(ValueError, match=r"preset .* is unknown; the presets are 'keras', 'whisper', 'kaldi'"):
        melplug.preset(name)


@pytest.mark.parametrize("name", ["whisper", "kaldi"])
@pytest.mark.parametrize("option", ["n_fft", "feature_size", "fft_length_ms", "sequence_length"])
def test_unknown_override(name, option):
    """An option the engine does not have is named, with the list of those it has."""
    with pytest.raises(ValueError, match=rf"preset '{name}' has no option '{option}'.*num_mel_bins"):
        melplug.preset(name, **{option: 1})


def test_unknown_keras_override():
    with pytest.raises(ValueError, match=r"'n_fft'.*sequence_stride"):
        melplug.preset("keras", n_fft=512)


@pytest.mark.parametrize("bins", [0, 1, 2])
def test_kaldi_needs_three_bins(bins):
    with pytest.raises(ValueError, match=rf"num_mel_bins={bins}.*at least 3"):
        melplug.preset("kaldi", num_mel_bins=bins)


def test_kaldi_num_mel_bins_type():
    with pytest.raises(TypeError, match="num_mel_bins"):
        melplug.preset("kaldi", num_mel_bins=80.0)


@pytest.mark.parametrize("rate", ["16k", 16000.0], ids=["str", "float"])
def test_whisper_sampling_rate_error_named(rate):
    with pytest.raises(TypeError, match="sampling_rate"):
        melplug.preset("whisper", sampling_rate=rate)


#: (sampling_rate, num_mel_bins) around kaldi-native-fbank's limits (its answers decide the test).
KALDI_BIN_PROBES = [(16000, n) for n in (1, 2, 3, 23, 126, 127, 128, 200)] + [
    (8000, 95),
    (8000, 96),
    (22050, 216),
    (22050, 217),
    (44100, 267),
    (44100, 268),
]


def test_kaldi_bin_limits_match_reference():
    """melplug refuses exactly the (rate, bins) kaldi-native-fbank refuses (too few, or an empty band)."""
    pytest.importorskip("kaldi_native_fbank", reason=KALDI_REASON)
    # In a subprocess: kaldi-native-fbank aborts the process on some invalid options.
    code = textwrap.dedent(f"""
        import json, kaldi_native_fbank as knf
        accepted = []
        for sr, bins in {KALDI_BIN_PROBES!r}:
            opts = knf.FbankOptions()
            opts.frame_opts.dither = 0
            opts.frame_opts.samp_freq = sr
            opts.mel_opts.num_bins = bins
            try:
                fbank = knf.OnlineFbank(opts)
                fbank.accept_waveform(sr, [0.1, -0.2] * sr)
                fbank.input_finished()
                accepted.append(fbank.num_frames_ready > 0)
            except ValueError:
                accepted.append(False)
        print(json.dumps(accepted))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    accepted = json.loads(proc.stdout.strip().splitlines()[-1])
    assert accepted.count(False) >= 6, accepted  # the probes straddle both limits
    for (sr, bins), ok in zip(KALDI_BIN_PROBES, accepted, strict=True):
        if ok:
            assert melplug.preset("kaldi", sampling_rate=sr, num_mel_bins=bins).num_mel_bins == bins
        else:
            with pytest.raises(ValueError, match=rf"num_mel_bins={bins}"):
                melplug.preset("kaldi", sampling_rate=sr, num_mel_bins=bins)


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


@pytest.mark.parametrize(
    ("name", "options", "error", "option"),
    [
        ("kaldi", dict(preemphasis=1.5), ValueError, "preemphasis"),
        ("kaldi", dict(frame_length=0.01), ValueError, "frame_length"),
        ("kaldi", dict(window="hanning"), ValueError, "window"),
        ("kaldi", dict(sampling_rate=0), ValueError, "sampling_rate"),
        ("whisper", dict(layout="frames"), ValueError, "layout"),
        ("whisper", dict(window_periodic=1), TypeError, "window_periodic"),
        ("whisper", dict(output_frames=0), ValueError, "output_frames"),
        ("whisper", dict(sampling_rate=-16000), ValueError, "sampling_rate"),
        ("whisper", dict(num_mel_bins=0), ValueError, "num_mel_bins"),
        ("whisper", dict(num_mel_bins=80.0), TypeError, "num_mel_bins"),
    ],
)
def test_override_errors(name, options, error, option):
    """A preset's overrides are validated like the engine's options."""
    with pytest.raises(error, match=rf"(?<![a-z_]){option}\b"):
        melplug.preset(name, **options)


# ----------------------------------------------------------------------------- configuration, pickle, repr


@pytest.mark.parametrize(
    "overrides",
    [
        ("whisper", {}),
        ("whisper", dict(num_mel_bins=128)),
        ("whisper", dict(sampling_rate=8000)),
        ("kaldi", {}),
        ("kaldi", dict(sampling_rate=44100, num_mel_bins=80)),
        ("kaldi", dict(dtype="float64", num_threads=1)),
    ],
    ids=["whisper", "whisper-128", "whisper-8k", "kaldi", "kaldi-44k-80", "kaldi-f64-1thread"],
)
def test_config_pickle_repr_eq(overrides):
    name, options = overrides
    fx = melplug.preset(name, **options)
    audio = make_signal("speech", 16001, fx.sampling_rate, seed=1).astype(np.float32)
    out = fx(audio)
    assert out.dtype == (np.float64 if options.get("dtype") == "float64" else np.float32)
    # get_config is JSON and round-trips through from_config
    config = fx.get_config()
    assert json.loads(json.dumps(config)) == config
    assert {k: config[k] for k in options} == options
    again = melplug.FeatureExtractor.from_config(json.loads(json.dumps(config)))
    assert type(again) is melplug.FeatureExtractor
    assert again == fx
    np.testing.assert_array_equal(again(audio), out)
    # pickle: equal, identical output
    restored = pickle.loads(pickle.dumps(fx))
    assert restored == fx
    assert restored.plan.num_mel_bins == fx.plan.num_mel_bins
    np.testing.assert_array_equal(restored(audio), out)
    # repr shows the configuration and rebuilds it
    text = repr(fx)
    assert text.startswith("FeatureExtractor(")
    assert f"num_mel_bins={fx.num_mel_bins!r}" in text
    assert eval(text, {"FeatureExtractor": melplug.FeatureExtractor}) == fx  # noqa: S307 - our own repr
    # equality is by configuration
    assert melplug.preset(name, **options) == fx
    assert fx != melplug.preset("kaldi" if name == "whisper" else "whisper")
    assert fx != melplug.preset(name, **{**options, "num_mel_bins": fx.num_mel_bins + 1})
    assert (fx == name) is False
    assert hash(fx) == hash(melplug.preset(name, **options))  # options are fixed: hashable, like eq


def test_from_config_rejects_unknown_keys():
    config = melplug.preset("whisper").get_config()
    with pytest.raises(TypeError, match="feature_size"):
        melplug.FeatureExtractor.from_config({**config, "feature_size": 80})


# ----------------------------------------------------------------------------- clips a reference refuses


def test_whisper_nonfinite_clip_is_named():
    """The reference returns NaN for a clip holding NaN/Inf; melplug raises a ValueError naming the clip."""
    whisper_module()
    good = make_signal("speech", 470000, 16000, seed=0).astype(np.float32)
    for bad_value in (np.nan, np.inf):
        bad = good.copy()
        bad[4000] = bad_value
        with np.errstate(invalid="ignore"):
            assert not np.isfinite(whisper_reference(16000, 80, [bad])).all()
        fx = melplug.preset("whisper")
        with pytest.raises(ValueError, match=r"audio\[1\] contains NaN or Inf"):
            fx([good, bad])
        with pytest.raises(ValueError, match=r"audio example 1 contains NaN or Inf"):
            fx(np.stack([good, bad]))
        out = melplug.preset("whisper", on_nonfinite="propagate")([good, bad])
        np.testing.assert_array_equal(out[0], fx(good))
        assert np.isnan(out[1]).all()


def test_kaldi_nonfinite_clip_is_named():
    """The reference raises for a clip holding NaN; melplug raises a ValueError naming the clip."""
    good = make_signal("speech", 8000, 16000, seed=0).astype(np.float32)
    bad = good.copy()
    bad[4000] = np.nan
    with pytest.raises(RuntimeError, match="nan"):
        kaldi_reference(16000, 23, bad)
    fx = melplug.preset("kaldi")
    with pytest.raises(ValueError, match=r"audio\[2\] contains NaN or Inf"):
        fx([good, good, bad])
    with pytest.raises(ValueError, match=r"audio example 1 contains NaN or Inf"):
        fx(np.stack([good, bad]))


# Deliberate differences from the references (SPEC §2-§3 win over matching them; docs/presets.md lists them):
# an empty clip, NaN/Inf in samples no frame reads, and float32 samples whose power overflows are refused with a
# ValueError naming the clip, where a reference pads, ignores or computes them.


def test_empty_clip_is_refused_where_references_pad_or_return_nothing():
    whisper_module()
    empty = np.zeros(0, np.float32)
    padded = whisper_reference(16000, 80, [empty])[0]
    assert padded.shape == (80, 3000) and np.all(padded == padded.flat[0])  # 30 s of silence
    assert kaldi_reference(16000, 23, empty).shape == (0, 23)
    for name in ("whisper", "kaldi"):
        with pytest.raises(ValueError, match=r"audio\[1\] is empty \(0 samples\)"):
            melplug.preset(name)([np.ones(500, np.float32), empty])


@pytest.mark.parametrize(
    ("name", "n", "where"),
    [("whisper", 480010, 480005), ("kaldi", 1001, 1000), ("kaldi", 300, 10)],
    ids=["whisper-after-30s", "kaldi-tail", "kaldi-short"],
)
def test_nan_in_unread_samples_is_refused(name, n, where):
    clip = make_signal("noise", n, 16000, seed=5).astype(np.float32)
    clip[where] = np.nan
    if name == "whisper":
        whisper_module()
        expected = whisper_reference(16000, 80, [clip])[0]
    else:
        expected = kaldi_reference(16000, 23, clip)
    assert np.isfinite(expected).all()  # the reference never reads that sample
    with pytest.raises(ValueError, match="audio contains NaN or Inf"):
        melplug.preset(name)(clip)
    got = melplug.preset(name, on_nonfinite="propagate")(clip)
    assert got.shape == expected.shape and np.isnan(got).all()


def test_overflow_in_float32():
    """Samples so large that the float32 power overflows: kaldi-native-fbank (float32) gives inf; melplug
    raises a ValueError saying why; float64 (input or ``dtype``) computes them."""
    clip = (1e19 * make_signal("noise", 4000, 16000, seed=2)).astype(np.float32)  # std 1e18
    assert not np.isfinite(kaldi_reference(16000, 23, clip)).all()
    for name in ("whisper", "kaldi"):
        with pytest.raises(ValueError, match="too large for float32"):
            melplug.preset(name)(clip)
    whisper_module()
    got = melplug.preset("whisper", dtype="float64")(clip)
    assert np.isfinite(got).all()
    assert max_error(got, whisper_exact(16000, 80, clip.astype(np.float64))) <= TOL["whisper", np.float64]


def test_whisper_float32_overflow_is_refused_float64_computes_it():
    whisper_module()
    clip = (1e19 * make_signal("noise", 4000, 16000, seed=2)).astype(np.float32)  # std 1e18
    expected = whisper_reference(16000, 80, [clip])[0]  # transformers computes in float64 inside
    assert np.isfinite(expected).all()
    with pytest.raises(ValueError, match="too large for float32"):
        melplug.preset("whisper")(clip)
    got = melplug.preset("whisper", dtype="float64")(clip).astype(np.float32)
    assert max_error(got, expected) <= TOL["whisper", np.float32]
