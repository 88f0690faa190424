"""The reference grid of the ``librosa``, ``torchaudio``, ``librosa-mfcc`` and ``kaldi-mfcc`` presets.

The references run in the test (never pasted numbers):

* ``librosa``: ``librosa.feature.melspectrogram(y=x, sr=...)``; for float64
  clips, librosa's own steps (``stft``, ``filters.mel``, the same ``einsum``)
  with a float64 filter bank, since librosa builds it in float32 whatever the
  input (``librosa_mel``, checked bit for bit against the public call).
* ``librosa-mfcc``: ``librosa.feature.mfcc(y=x, sr=...)``; for float64 clips
  ``librosa.feature.mfcc(S=power_to_db(...))`` of that float64 mel spectrogram.
* ``torchaudio``: ``tests/references/torchaudio_mel.py``, a float64 NumPy port of
  ``torchaudio.transforms.MelSpectrogram()`` (tests may not import torch; the
  port's docstring says how it was checked against torchaudio).
* ``kaldi-mfcc``: kaldi-native-fbank's ``OnlineMfcc(MfccOptions())`` with dither
  0 (float32 inside); for float64 output, a float64 MFCC built on
  ``tests/references/kaldi_fbank.py`` (``kaldi_mfcc64``, checked against
  kaldi-native-fbank in ``test_reference_grid.py``).

Clips are :func:`tests.references.signals.make_signal`'s noise, tones and
speech-like bursts with silences, of lengths around one frame, odd, and past
one block of frames (the deferred-DCT path of ``librosa-mfcc``).  The grid's
tests are in ``test_reference_grid.py``; the other preset tests use its
helpers and tables.
"""

from __future__ import annotations

import warnings

import numpy as np

import melplug
from tests._util import max_error
from tests.presets._tolerances import KALDI_MFCC_TOL, MFCC_DB_TOL, REL_TOL
from tests.references import kaldi_fbank as rk
from tests.references import torchaudio_mel as rt
from tests.references.libraries import kaldi_mfcc64, knf_mfcc, librosa_reference


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


def kaldi_frames(n, sr=16000, shift_ms=10.0):
    win, shift = rk.samples(sr, 25.0), rk.samples(sr, shift_ms)
    return 1 + (n - win) // shift if n >= win else 0


# --------------------------------------------------------------------------- grids


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
    ("stride5ms", dict(hop_length=5.0), dict(shift_ms=5.0), [("quiet", 8001)]),
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
    """docs/presets.md's table, with the case's overrides.

    (128, 1 + n // 512), (128, 1 + n // 200), (20, ...), (frames, 13).
    """
    if name == "kaldi-mfcc":
        return (kaldi_frames(n, case_rate(name, ref_kw), ref_kw.get("shift_ms", 10.0)), ref_kw.get("num_ceps", 13))
    if name == "torchaudio":
        hop = ref_kw.get("hop", ref_kw.get("n_fft", 400) // 2)
        return (ref_kw.get("n_mels", 128), 1 + n // hop)
    rows = ref_kw.get("n_mfcc", 20) if name == "librosa-mfcc" else ref_kw.get("n_mels", 128)
    return (rows, 1 + n // ref_kw.get("hop_length", 512))


GRID_TOL = {
    "librosa": (REL_TOL, True),
    "torchaudio": (REL_TOL, True),
    "librosa-mfcc": (MFCC_DB_TOL, False),
    "kaldi-mfcc": (KALDI_MFCC_TOL, False),
}


def check(name: str, got, expected, dtype, what):
    tols, relative = GRID_TOL[name]
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}"
    assert_close(got, expected, tols[dtype], what, relative=relative)
