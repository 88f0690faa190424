"""Reference tests of Presets II (SPEC §5): ``librosa``, ``torchaudio``, ``librosa-mfcc``, ``kaldi-mfcc``.

The references run in the test (never pasted numbers):

* ``librosa``: ``librosa.feature.melspectrogram(y=x, sr=...)``; for float64
  clips, librosa's own steps (``stft``, ``filters.mel``, the same ``einsum``)
  with a float64 filter bank, since librosa builds it in float32 whatever the
  input (``librosa_mel``, checked bit for bit against the public call).
* ``librosa-mfcc``: ``librosa.feature.mfcc(y=x, sr=...)``; for float64 clips
  ``librosa.feature.mfcc(S=power_to_db(...))`` of that float64 mel spectrogram.
* ``torchaudio``: ``tests/reference_torchaudio.py``, a float64 NumPy port of
  ``torchaudio.transforms.MelSpectrogram()`` (tests may not import torch; the
  port's docstring says how it was checked against torchaudio).
* ``kaldi-mfcc``: kaldi-native-fbank's ``OnlineMfcc(MfccOptions())`` with dither
  0 (float32 inside); for float64 output, a float64 MFCC built on
  ``tests/reference_kaldi.py`` (``kaldi_mfcc64``, checked against
  kaldi-native-fbank here).

Clips are ``tests.test_presets.make_signal``'s noise, tones and speech-like
bursts with silences, of lengths around one frame, odd, and past one block of
frames (the deferred-DCT path of ``librosa-mfcc``).
"""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest

import melplug
from melplug import kernels
from tests._util import assert_batching_consistent
from tests.references import kaldi_fbank as rk
from tests.references import torchaudio_mel as rt
from tests.test_presets import make_signal, max_error

# ----------------------------------------------------------------------------- tolerances (stated once)

DTYPES = [np.float32, np.float64]
#: librosa and torchaudio output linear power: max |melplug - reference| relative to the clip's largest
#: reference value.  float32: measured <= 3.4e-7 (librosa) and 3.0e-7 (torchaudio) on the grids below, a few
#: float32 ulps (torchaudio's own float32 transform is 1.5e-5 from its float64 port, reference_torchaudio.py).
#: float64: measured <= 5.0e-16 against the float64 references.
REL_TOL = {np.float32: 2e-6, np.float64: 1e-14}
#: librosa-mfcc, absolute, in its dB-DCT units: c0 of a frame of digital silence is -100 dB * sqrt(128) =
#: -1131, where a float32 ulp is 1.2e-4.  float32 vs librosa's float32 path: measured <= 1.3e-3 (there, ~10
#: ulps: float32 round-off of the 128-term DCT sum); float64 vs librosa's steps in float64: measured <= 1.6e-12.
#: For scale: 0.01 dB in every band would move c0 by 0.11.
MFCC_DB_TOL = {np.float32: 3e-3, np.float64: 1e-11}
#: kaldi-mfcc, absolute, in its units (liftered cepstra of ln power, up to x12; c0 = ln energy).  float32 vs
#: kaldi-native-fbank (float32 too): measured <= 5.3e-4; float64 vs kaldi_mfcc64: measured <= 9.6e-13.
KALDI_MFCC_TOL = {np.float32: 2e-3, np.float64: 1e-11}
#: kaldi_mfcc64 (float64) vs kaldi-native-fbank (float32): measured <= 5.6e-4.
KNF_MFCC_TOL = 2e-3

LIBROSA_REASON = "the librosa and librosa-mfcc references are librosa itself (melplug[test])"
KALDI_REASON = "the kaldi-mfcc reference is kaldi-native-fbank (melplug[test])"


def make_preset(name: str, **overrides) -> melplug.FeatureExtractor:
    """``melplug.preset(name, **overrides)``, quiet about empty mel bands (torchaudio has 4 at 16 kHz, and warns)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*mel bands are empty", category=UserWarning)
        return melplug.preset(name, **overrides)


def assert_close(got, expected, tol, what, *, relative=False):
    """dtype is checked by the caller; shape, then max |diff| (over the clip's max |expected| if ``relative``)."""
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    err = max_error(got, expected)
    if relative and expected.size:
        err /= float(np.abs(expected).max()) or 1.0
    assert err <= tol, f"{what}: max {'relative ' if relative else ''}error {err:.3g} > {tol:.3g}"


# ----------------------------------------------------------------------------- references


def librosa_module():
    return pytest.importorskip("librosa", reason=LIBROSA_REASON)


def librosa_mel(x, *, sr, n_fft=2048, hop_length=512, n_mels=128, basis_dtype=np.float64):
    """``librosa.feature.melspectrogram``'s steps, with the mel basis in ``basis_dtype``.

    With ``basis_dtype=np.float32`` (librosa's default) it is the public call
    bit for bit (``test_librosa_replica``); with float64 it is what librosa
    computes when nothing is rounded to float32.
    """
    librosa = librosa_module()
    with warnings.catch_warnings():  # "n_fft=2048 is too large for input signal of length=...": clips shorter
        warnings.filterwarnings("ignore", message="n_fft=.* is too large", category=UserWarning)  # than a frame
        spec = np.abs(librosa.stft(x, n_fft=n_fft, hop_length=hop_length, center=True, pad_mode="constant")) ** 2
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, dtype=basis_dtype)
    return np.einsum("...ft,mf->...mt", spec, basis, optimize=True)


def librosa_reference(name, x, *, sr, n_fft=2048, hop_length=512, n_mels=128, n_mfcc=20):
    """The reference for clip ``x``: librosa's public call for float32, its float64 steps for float64."""
    librosa = librosa_module()
    kw = dict(n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    if x.dtype == np.float32:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="n_fft=.* is too large", category=UserWarning)
            if name == "librosa":
                return librosa.feature.melspectrogram(y=x, sr=sr, **kw)
            return librosa.feature.mfcc(y=x, sr=sr, n_mfcc=n_mfcc, **kw)
    mel = librosa_mel(x, sr=sr, **kw)
    if name == "librosa":
        return mel
    return librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=n_mfcc)


def knf_mfcc(x, *, sr=16000, num_bins=23, num_ceps=13, shift_ms=10.0):
    """kaldi-native-fbank ``OnlineMfcc(MfccOptions())``, dither 0, of a float32 clip: ``(frames, num_ceps)``."""
    knf = pytest.importorskip("kaldi_native_fbank", reason=KALDI_REASON)
    opts = knf.MfccOptions()
    opts.frame_opts.dither = 0
    opts.frame_opts.samp_freq = sr
    opts.frame_opts.frame_shift_ms = shift_ms
    opts.mel_opts.num_bins = num_bins
    opts.num_ceps = num_ceps
    mfcc = knf.OnlineMfcc(opts)
    mfcc.accept_waveform(sr, np.asarray(x, np.float32))
    mfcc.input_finished()
    rows = [mfcc.get_frame(i) for i in range(mfcc.num_frames_ready)]
    return np.array(rows, dtype=np.float32).reshape(-1, num_ceps)


def kaldi_log_energy(x, *, sr=16000, shift_ms=10.0):
    """Kaldi's raw log energy per snip-edges frame: ``ln(max(sum((frame - mean)**2), float32 eps))``, float64."""
    x = np.asarray(x, dtype=np.float64)
    win, shift = rk.samples(sr, 25.0), rk.samples(sr, shift_ms)
    n_frames = max(0, 1 + (len(x) - win) // shift)
    energy = np.empty(n_frames)
    for f in range(n_frames):
        frame = x[f * shift : f * shift + win]
        energy[f] = np.log(max(float(np.sum((frame - frame.mean()) ** 2)), rk.F32_EPS))
    return energy


def kaldi_mfcc64(x, *, sr=16000, num_bins=23, num_ceps=13, shift_ms=10.0):
    """A float64 Kaldi MFCC: ``reference_kaldi.fbank``, orthonormal DCT-II, first ``num_ceps``, lifter 22, c0 energy."""
    win, shift = rk.samples(sr, 25.0), rk.samples(sr, shift_ms)
    fbank = rk.fbank(x, sampling_rate=sr, frame_length=win, frame_shift=shift, num_mel_bins=num_bins)
    k = np.arange(num_ceps)[:, None]
    m = np.arange(num_bins)[None, :]
    dct = np.sqrt(2.0 / num_bins) * np.cos(np.pi * k * (m + 0.5) / num_bins)
    dct[0] = np.sqrt(1.0 / num_bins)
    ceps = fbank @ dct.T * (1.0 + 11.0 * np.sin(np.pi * np.arange(num_ceps) / 22.0))
    ceps[:, 0] = kaldi_log_energy(x, sr=sr, shift_ms=shift_ms)
    return ceps


def kaldi_frames(n, sr=16000, shift_ms=10.0):
    win, shift = rk.samples(sr, 25.0), rk.samples(sr, shift_ms)
    return 1 + (n - win) // shift if n >= win else 0


# ----------------------------------------------------------------------------- grids

#: (id, preset overrides, reference arguments, [(kind, samples), ...]); clip i is make_signal(kind, n, sr, seed=i).
_LIBROSA_LENGTHS = [
    ("noise", 1),
    ("tones", 2),
    ("speech", 511),
    ("noise", 1024),
    ("tones", 2047),
    ("speech", 2048),
    ("quiet", 2049),
    ("tones", 12345),
    ("noise", 22051),
    ("speech", 66157),
]
LIBROSA_CASES = [
    ("22k", {}, {}, _LIBROSA_LENGTHS),
    (
        "16k-64",
        dict(sampling_rate=16000, num_mel_bins=64),
        dict(sr=16000, n_mels=64),
        [("speech", 16001), ("tones", 3)],
    ),
    ("22051", dict(sampling_rate=22051), dict(sr=22051), [("tones", 22051), ("quiet", 5000)]),
    ("fft1024", dict(fft_length=1024), dict(n_fft=1024), [("speech", 11025), ("noise", 1023), ("tones", 5)]),
    ("fft1001-hop256", dict(fft_length=1001, hop_length=256), dict(n_fft=1001, hop_length=256), [("speech", 11025)]),
    ("hop3000", dict(hop_length=3000), dict(hop_length=3000), [("tones", 11025)]),  # stride > frame
    ("stride300", dict(sequence_stride=300), dict(hop_length=300), [("quiet", 12001), ("tones", 299)]),
]
LIBROSA_MFCC_CASES = [
    *LIBROSA_CASES,
    ("13ceps", dict(num_ceps=13), dict(n_mfcc=13), [("speech", 33333), ("noise", 7)]),
    ("40bins-40ceps", dict(num_mel_bins=40, num_ceps=40), dict(n_mels=40, n_mfcc=40), [("speech", 33333)]),
]
TORCHAUDIO_CASES = [
    (
        "16k",
        {},
        {},
        [
            ("noise", 201),
            ("tones", 202),
            ("speech", 399),
            ("noise", 400),
            ("tones", 401),
            ("quiet", 16000),
            ("speech", 16001),
            ("noise", 48007),
        ],
    ),
    ("16k-40", dict(num_mel_bins=40), dict(n_mels=40), [("speech", 16001), ("tones", 777)]),
    ("8k-64", dict(sampling_rate=8000, num_mel_bins=64), dict(sampling_rate=8000, n_mels=64), [("speech", 8001)]),
    # f_max = sr // 2 = 11025 Hz, the mel grid linspace(0, 11025, 201): not sr / 2 = 11025.5.
    (
        "22051",
        dict(sampling_rate=22051),
        dict(sampling_rate=22051),
        [("tones", 22051), ("speech", 4001), ("noise", 201)],
    ),
    ("fft512", dict(fft_length=512), dict(n_fft=512), [("speech", 8001), ("noise", 257)]),
    ("fft401", dict(fft_length=401), dict(n_fft=401), [("tones", 5001), ("noise", 201)]),
    ("hop160", dict(hop_length=160), dict(hop=160), [("speech", 16001), ("noise", 333)]),
    ("stride123", dict(sequence_stride=123), dict(hop=123), [("quiet", 9999)]),
    ("hop500", dict(hop_length=500), dict(hop=500), [("speech", 8001)]),  # stride > frame
]
_KALDI_LENGTHS = [
    ("noise", 1),
    ("tones", 399),
    ("noise", 400),
    ("speech", 401),
    ("tones", 561),
    ("quiet", 16001),
    ("tones", 48017),
    ("speech", 80003),
]
KALDI_MFCC_CASES = [
    ("16k", {}, {}, _KALDI_LENGTHS),
    ("40bins-20ceps", dict(num_mel_bins=40, num_ceps=20), dict(num_bins=40, num_ceps=20), [("speech", 16001)]),
    ("13bins-13ceps", dict(num_mel_bins=13, num_ceps=13), dict(num_bins=13, num_ceps=13), [("speech", 16001)]),
    ("8k", dict(sampling_rate=8000), dict(sr=8000), [("speech", 8001), ("tones", 199), ("noise", 200)]),
    ("22k", dict(sampling_rate=22050), dict(sr=22050), [("speech", 22051), ("tones", 551)]),
    ("44k-40", dict(sampling_rate=44100, num_mel_bins=40), dict(sr=44100, num_bins=40), [("quiet", 44101)]),
    ("hop30ms", dict(hop_length=30.0), dict(shift_ms=30.0), [("speech", 16001), ("noise", 879)]),  # stride > frame
    ("stride5ms", dict(sequence_stride=5.0), dict(shift_ms=5.0), [("quiet", 8001)]),
]
CASES = {
    "librosa": LIBROSA_CASES,
    "librosa-mfcc": LIBROSA_MFCC_CASES,
    "torchaudio": TORCHAUDIO_CASES,
    "kaldi-mfcc": KALDI_MFCC_CASES,
}
DEFAULT_RATE = {"librosa": 22050, "librosa-mfcc": 22050, "torchaudio": 16000, "kaldi-mfcc": 16000}
GRID = [(name, case[0]) for name, cases in CASES.items() for case in cases]


def case_rate(name: str, ref_kw: dict) -> int:
    return ref_kw.get("sr", ref_kw.get("sampling_rate", DEFAULT_RATE[name]))


def reference(name: str, ref_kw: dict, clip: np.ndarray) -> np.ndarray:
    """The preset's reference output for one clip (float32 or float64), per the module docstring."""
    if name in ("librosa", "librosa-mfcc"):
        return librosa_reference(name, clip, **{"sr": DEFAULT_RATE[name], **ref_kw})
    if name == "torchaudio":
        return rt.mel_spectrogram(clip, **ref_kw)
    if clip.dtype == np.float32:
        return knf_mfcc(clip, **ref_kw)
    return kaldi_mfcc64(clip, **ref_kw)


def expected_shape(name: str, overrides: dict, ref_kw: dict, n: int) -> tuple[int, int]:
    """SPEC §5's table, with the case's overrides: (128, 1 + n // 512), (128, 1 + n // 200), (20, ...), (frames, 13)."""
    if name == "kaldi-mfcc":
        return (kaldi_frames(n, case_rate(name, ref_kw), ref_kw.get("shift_ms", 10.0)), ref_kw.get("num_ceps", 13))
    if name == "torchaudio":
        hop = ref_kw.get("hop", ref_kw.get("n_fft", 400) // 2)
        return (ref_kw.get("n_mels", 128), 1 + n // hop)
    rows = ref_kw.get("n_mfcc", 20) if name == "librosa-mfcc" else ref_kw.get("n_mels", 128)
    return (rows, 1 + n // ref_kw.get("hop_length", 512))


TOL = {
    "librosa": (REL_TOL, True),
    "torchaudio": (REL_TOL, True),
    "librosa-mfcc": (MFCC_DB_TOL, False),
    "kaldi-mfcc": (KALDI_MFCC_TOL, False),
}


def check(name: str, got, expected, dtype, what):
    tols, relative = TOL[name]
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}"
    assert_close(got, expected, tols[dtype], what, relative=relative)


@pytest.fixture(scope="module")
def refs():
    """Per (preset, case id): overrides, reference arguments, the clips per dtype and their references."""
    cache = {}

    def get(name, case_id):
        if (name, case_id) not in cache:
            _, overrides, ref_kw, spec = next(c for c in CASES[name] if c[0] == case_id)
            sr = case_rate(name, ref_kw)
            clips64 = [make_signal(kind, n, sr, seed=i) for i, (kind, n) in enumerate(spec)]
            clips = {np.float64: clips64, np.float32: [c.astype(np.float32) for c in clips64]}
            expected = {dt: [reference(name, ref_kw, c) for c in clips[dt]] for dt in DTYPES}
            cache[name, case_id] = overrides, ref_kw, clips, expected
        return cache[name, case_id]

    return get


# ----------------------------------------------------------------------------- parity with the references


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(("name", "case_id"), GRID, ids=[f"{n}-{c}" for n, c in GRID])
def test_matches_reference(refs, name, case_id, dtype):
    """Each clip, one by one, against its reference: shape (SPEC §5's table), dtype, numbers."""
    overrides, ref_kw, clips, expected = refs(name, case_id)
    fx = make_preset(name, **overrides)
    for i, clip in enumerate(clips[dtype]):
        want = expected[dtype][i]
        got = fx(clip)
        assert want.shape == expected_shape(name, overrides, ref_kw, len(clip)), (i, want.shape)
        check(name, got, want, dtype, f"{name} {case_id} clip {i} ({len(clip)} samples)")
        time_axis = 0 if name == "kaldi-mfcc" else 1
        assert fx.num_frames(len(clip)) == got.shape[time_axis], (i, len(clip))
        assert fx.num_features == got.shape[1 - time_axis]


@pytest.mark.parametrize("name", list(CASES))
def test_float32_input_forced_to_float64(refs, name):
    """``dtype="float64"`` computes float32 samples in float64: the float64 reference of those samples."""
    overrides, ref_kw, clips, _ = refs(name, CASES[name][0][0])
    fx = make_preset(name, dtype="float64")
    for clip in clips[np.float32][-3:]:
        got = fx(clip)
        check(name, got, reference(name, ref_kw, clip.astype(np.float64)), np.float64, f"{name} forced float64")


def test_librosa_replica():
    """``librosa_mel`` (the float64 reference's steps) with librosa's float32 basis is the public call, bit for bit."""
    librosa = librosa_module()
    for dtype in DTYPES:
        x = make_signal("speech", 12345, 22050, seed=3).astype(dtype)
        public = librosa.feature.melspectrogram(y=x, sr=22050)
        replica = librosa_mel(x, sr=22050, basis_dtype=np.float32)
        assert replica.dtype == public.dtype
        np.testing.assert_array_equal(replica, public)


def test_kaldi_mfcc64_matches_kaldi_native_fbank(refs):
    """The float64 Kaldi MFCC used for float64 output agrees with kaldi-native-fbank on every clip of the grid."""
    for case in KALDI_MFCC_CASES:
        _, ref_kw, clips, expected = refs("kaldi-mfcc", case[0])
        for i, clip in enumerate(clips[np.float32]):
            exact = kaldi_mfcc64(clip.astype(np.float64), **ref_kw)
            assert_close(expected[np.float32][i], exact, KNF_MFCC_TOL, f"{case[0]} clip {i}")


def test_torchaudio_port_mel_grid_at_odd_rate():
    """At 22051 Hz torchaudio's f_max and grid end at sr // 2 = 11025: the port's filter bank differs from sr / 2's."""
    fb = rt.melscale_fbanks(201, 0.0, 11025.0, 128, 22051)
    half = rt.melscale_fbanks(201, 0.0, 11025.5, 128, 22051)
    assert np.abs(fb - half).max() > 1e-4


# ----------------------------------------------------------------------------- batches, shapes, frames


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
def test_batched_equals_one_by_one(name, dtype):
    """2-D, 3-D and ragged input give each clip's 1-D result bit for bit."""
    fx = make_preset(name)
    clips = _batch_clips(name, dtype)
    assert_batching_consistent(fx, clips, dtype)


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("librosa", lambda n: (128, 1 + n // 512)),
        ("torchaudio", lambda n: (128, 1 + n // 200)),
        ("librosa-mfcc", lambda n: (20, 1 + n // 512)),
        ("kaldi-mfcc", lambda n: (kaldi_frames(n), 13)),
    ],
    ids=["librosa", "torchaudio", "librosa-mfcc", "kaldi-mfcc"],
)
def test_shapes_and_num_frames(name, shape):
    """SPEC §5's table; ``num_frames(n)`` is the output's time axis, ``compute_output_shape`` the whole shape."""
    fx = make_preset(name)
    time_axis = 0 if name == "kaldi-mfcc" else 1
    x = make_signal("noise", 33001, DEFAULT_RATE[name], seed=4).astype(np.float32)
    for n in (201, 399, 400, 401, 511, 512, 513, 2047, 2048, 2049, 16000, 16383, 16384, 16385, 33001):
        out = fx(x[:n])
        assert out.shape == shape(n) == fx.compute_output_shape((n,)), n
        assert fx.num_frames(n) == out.shape[time_axis], n
    assert fx.compute_output_shape((2, 3, 16000)) == (2, 3, *shape(16000))
    assert fx.num_features == shape(16000)[1 - time_axis]


# ----------------------------------------------------------------------------- librosa-mfcc's per-clip floor


def test_librosa_mfcc_top_db_floor_is_per_clip():
    """A loud and a 60 dB quieter clip in one call: each gets its own max - 80 dB floor, as one librosa call each.

    Clips past one block of frames (> 32 frames at n_fft 2048: here 3 s, 130 frames) take the deferred DCT,
    shorter ones (20 frames) the in-pass DCT; both run in the same calls.
    """
    librosa = librosa_module()
    fx = melplug.preset("librosa-mfcc")
    assert fx.plan.block_frames < 130
    loud_long = make_signal("speech", 66150, 22050, seed=30).astype(np.float32)
    quiet_long = (1e-3 * make_signal("quiet", 66150, 22050, seed=31)).astype(np.float32)
    loud_short = make_signal("speech", 10001, 22050, seed=32).astype(np.float32)
    quiet_short = (1e-3 * make_signal("tones", 10001, 22050, seed=33)).astype(np.float32)
    clips = [loud_long, quiet_short, quiet_long, loud_short]
    expected = [librosa.feature.mfcc(y=c, sr=22050) for c in clips]
    singles = [fx(c) for c in clips]
    for single, want, clip in zip(singles, expected, clips, strict=True):
        check("librosa-mfcc", single, want, np.float32, f"single of {len(clip)} samples")
    for got, single in zip(fx(clips), singles, strict=True):
        np.testing.assert_array_equal(got, single)
    for pair in ([loud_long, quiet_long], [quiet_short, loud_short]):
        batched = fx(np.stack(pair))
        for row, clip in zip(batched, pair, strict=True):
            np.testing.assert_array_equal(row, fx(clip))
    # The test can tell: with the floor taken over the batch, the quiet clips come out differently.
    batch_floor = melplug.preset("librosa-mfcc", top_db_scope="batch")(np.stack([loud_long, quiet_long]))
    assert max_error(batch_floor[1], singles[2]) > 1.0
    # Threads: the stash and the finishing DCT are split by work unit; any split gives the same bits.
    for threads in (1, 2, 3):
        for got, single in zip(fx(clips, num_threads=threads), singles, strict=True):
            np.testing.assert_array_equal(got, single)


# ----------------------------------------------------------------------------- kaldi-mfcc specifics


def test_kaldi_mfcc_c0_is_the_log_energy():
    """c0 is the frame's raw log energy (after DC removal, before pre-emphasis and window), as the reference's."""
    x = make_signal("speech", 16001, 16000, seed=5)
    energy = kaldi_log_energy(x)
    got = melplug.preset("kaldi-mfcc")(x.astype(np.float32))
    ref = knf_mfcc(x.astype(np.float32))
    assert got.shape == ref.shape == (energy.shape[0], 13)
    assert_close(ref[:, 0], energy, KNF_MFCC_TOL, "kaldi-native-fbank c0 vs log energy")
    assert_close(got[:, 0], energy, KALDI_MFCC_TOL[np.float32], "melplug c0 vs log energy")
    got64 = melplug.preset("kaldi-mfcc", dtype="float64")(x)
    assert_close(got64[:, 0], energy, KALDI_MFCC_TOL[np.float64], "melplug float64 c0 vs log energy")
    assert (energy == np.log(rk.F32_EPS)).any()  # whole frames of digital silence hit the floor
    dct_c0 = melplug.preset("kaldi-mfcc", energy_c0=False)(x.astype(np.float32))[:, 0]
    assert max_error(dct_c0, energy) > 1.0  # the DCT's c0 would be another number
    np.testing.assert_array_equal(melplug.preset("kaldi-mfcc", energy_c0=False)(x)[:, 1:], got64[:, 1:])


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("kaldi-mfcc", dict(num_mel_bins=12)),
        ("kaldi-mfcc", dict(num_ceps=24)),
        ("kaldi-mfcc", dict(num_mel_bins=40, num_ceps=41)),
        ("librosa-mfcc", dict(num_mel_bins=19)),
        ("librosa-mfcc", dict(num_ceps=129)),
    ],
)
def test_more_cepstra_than_mel_bins_is_refused(name, options):
    with pytest.raises(ValueError, match=r"(?<![a-z_])num_ceps\b"):
        melplug.preset(name, **options)


# ----------------------------------------------------------------------------- torchaudio's shortest clip


@pytest.mark.parametrize(("fft_length", "pad"), [(400, 200), (512, 256), (401, 200)])
def test_torchaudio_clip_must_be_longer_than_the_pad(fft_length, pad):
    """torch's reflect pad refuses clips of <= n_fft // 2 samples (the port does too); melplug names the length."""
    fx = make_preset("torchaudio", fft_length=fft_length)
    x = make_signal("noise", pad + 1, 16000, seed=6).astype(np.float32)
    with pytest.raises(ValueError, match="longer than"):
        rt.mel_spectrogram(x[:pad], n_fft=fft_length)
    with pytest.raises(ValueError, match=rf"^audio has {pad} samples.*at least {pad + 1}"):
        fx(x[:pad])
    with pytest.raises(ValueError, match=rf"audio\[1\] has 5 samples.*at least {pad + 1}"):
        fx([x, x[:5]])
    with pytest.raises(ValueError, match=rf"audio has {pad} samples"):
        fx(np.stack([x[:pad], x[:pad]]))
    got = fx(x)
    check("torchaudio", got, rt.mel_spectrogram(x, n_fft=fft_length), np.float32, f"{pad + 1} samples")
    assert got.shape == (128, 1 + (pad + 1) // (fft_length // 2))


def test_torchaudio_warns_of_its_empty_bands():
    """4 of 128 bands are empty at 16 kHz (torchaudio warns too); the port's filter bank has the same 4."""
    fb = rt.melscale_fbanks(201, 0.0, 8000.0, 128, 16000)
    empty = np.flatnonzero(fb.max(axis=0) == 0.0)
    assert empty.size == 4
    with pytest.warns(UserWarning, match=r"4 of num_mel_bins=128 mel bands are empty"):
        melplug.preset("torchaudio")
    assert np.all(make_preset("torchaudio")(make_signal("noise", 4000, 16000, seed=7))[empty] == 0.0)


# ----------------------------------------------------------------------------- configuration, pickle


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("librosa", {}),
        ("librosa", dict(sampling_rate=16000, fft_length=1024)),
        ("torchaudio", {}),
        ("torchaudio", dict(sampling_rate=22051, num_mel_bins=64)),
        ("librosa-mfcc", {}),
        ("librosa-mfcc", dict(num_ceps=13, dtype="float64")),
        ("kaldi-mfcc", {}),
        ("kaldi-mfcc", dict(sampling_rate=8000, num_mel_bins=40, num_ceps=20)),
    ],
)
def test_config_pickle_round_trip(name, options):
    fx = make_preset(name, **options)
    audio = make_signal("speech", 16001, fx.sampling_rate, seed=1).astype(np.float32)
    out = fx(audio)
    config = fx.get_config()
    assert json.loads(json.dumps(config)) == config
    text = repr(fx)
    assert text.startswith("FeatureExtractor(")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*mel bands are empty", category=UserWarning)
        again = melplug.FeatureExtractor.from_config(json.loads(json.dumps(config)))
        assert eval(text, {"FeatureExtractor": melplug.FeatureExtractor}) == fx  # noqa: S307 - our own repr
    assert type(again) is melplug.FeatureExtractor
    assert again == fx
    np.testing.assert_array_equal(again(audio), out)
    restored = pickle.loads(pickle.dumps(fx))
    assert restored == fx
    np.testing.assert_array_equal(restored(audio), out)
    assert restored.num_features == fx.num_features
    assert fx != make_preset(name, **{**options, "num_mel_bins": fx.num_mel_bins + 1})
    if name.endswith("mfcc"):
        assert fx != make_preset(name, **{**options, "num_ceps": fx.num_ceps - 1})


# ----------------------------------------------------------------------------- non-finite samples


def _bad_pair(name, n):
    good = make_signal("speech", n, DEFAULT_RATE[name], seed=8).astype(np.float32)
    bad = good.copy()
    bad[n // 2] = np.nan
    return good, bad


@pytest.mark.parametrize("n", [4001, 66150], ids=["short", "long"])
@pytest.mark.parametrize("name", list(CASES))
def test_nonfinite_clip_is_named_or_propagated(name, n):
    """NaN/Inf raise a ValueError naming the clip; ``on_nonfinite="propagate"`` gives NaN for that clip only.

    The long clips (130 frames at n_fft 2048) take librosa-mfcc's deferred DCT.
    """
    good, bad = _bad_pair(name, n)
    fx = make_preset(name)
    for value in (np.nan, np.inf):
        bad[n // 2] = value
        with pytest.raises(ValueError, match=r"audio\[2\] contains NaN or Inf"):
            fx([good, good, bad])
        with pytest.raises(ValueError, match=r"audio example 1 contains NaN or Inf"):
            fx(np.stack([good, bad]))
        with pytest.raises(ValueError, match=r"^audio contains NaN or Inf"):
            fx(bad)
    bad[n // 2] = np.nan
    propagate = make_preset(name, on_nonfinite="propagate")
    single = fx(good)
    for out in (propagate([good, bad, good[: n // 2]]), list(propagate(np.stack([good, bad])))):
        np.testing.assert_array_equal(out[0], single)
        assert out[1].shape == single.shape
        assert np.isnan(out[1]).all()
    np.testing.assert_array_equal(propagate([good, bad, good[: n // 2]])[2], fx(good[: n // 2]))


# ----------------------------------------------------------------------------- standalone Numba kernels


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
