"""``whisper`` against transformers' ``WhisperFeatureExtractor`` on its numpy path.

The reference runs in the test (never pasted numbers), fed the same clips as
melplug: noise, tones and speech-like bursts with silences, of lengths around
one frame, odd, and around Whisper's 30 s.  What every preset shares
(unusual input, batching, configuration) is tested across presets in
``test_inputs.py``, ``test_batching.py`` and ``test_config.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

import melplug
from tests._util import max_error
from tests.presets._tolerances import TOL
from tests.references.libraries import whisper_exact, whisper_module, whisper_reference
from tests.references.signals import DTYPES, clips_of

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


# --------------------------------------------------------------------------- parity with the reference


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


# --------------------------------------------------------------------------- frames and options


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


@pytest.mark.parametrize("rate", ["16k", 16000.0], ids=["str", "float"])
def test_whisper_sampling_rate_error_named(rate):
    with pytest.raises(TypeError, match="sampling_rate"):
        melplug.preset("whisper", sampling_rate=rate)
