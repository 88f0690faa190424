"""``librosa``, ``torchaudio``, ``librosa-mfcc`` and ``kaldi-mfcc`` over one reference grid.

Each clip of each case, one by one, against its reference (``_grid.py`` says
which: librosa, the torchaudio port, kaldi-native-fbank, and float64 versions
of each): shape (the presets' table in docs/presets.md), dtype, numbers, frame counts.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.presets._grid import (
    CASES,
    DEFAULT_RATE,
    GRID,
    KALDI_MFCC_CASES,
    assert_close,
    case_rate,
    check,
    expected_shape,
    kaldi_frames,
    make_preset,
    reference,
)
from tests.presets._tolerances import KNF_MFCC_TOL
from tests.references.libraries import kaldi_mfcc64
from tests.references.signals import DTYPES, make_signal


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


# --------------------------------------------------------------------------- parity with the references


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(("name", "case_id"), GRID, ids=[f"{n}-{c}" for n, c in GRID])
def test_matches_reference(refs, name, case_id, dtype):
    """Each clip, one by one, against its reference: shape (docs/presets.md's table), dtype, numbers."""
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


def test_kaldi_mfcc64_matches_kaldi_native_fbank(refs):
    """The float64 Kaldi MFCC used for float64 output agrees with kaldi-native-fbank on every clip of the grid."""
    for case in KALDI_MFCC_CASES:
        _, ref_kw, clips, expected = refs("kaldi-mfcc", case[0])
        for i, clip in enumerate(clips[np.float32]):
            exact = kaldi_mfcc64(clip.astype(np.float64), **ref_kw)
            assert_close(expected[np.float32][i], exact, KNF_MFCC_TOL, f"{case[0]} clip {i}")


# --------------------------------------------------------------------------- shapes, frames


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
    """docs/presets.md's table; ``num_frames(n)`` is the time axis, ``compute_output_shape`` the whole shape."""
    fx = make_preset(name)
    time_axis = 0 if name == "kaldi-mfcc" else 1
    x = make_signal("noise", 33001, DEFAULT_RATE[name], seed=4).astype(np.float32)
    for n in (201, 399, 400, 401, 511, 512, 513, 2047, 2048, 2049, 16000, 16383, 16384, 16385, 33001):
        out = fx(x[:n])
        assert out.shape == shape(n) == fx.compute_output_shape((n,)), n
        assert fx.num_frames(n) == out.shape[time_axis], n
    assert fx.compute_output_shape((2, 3, 16000)) == (2, 3, *shape(16000))
    assert fx.num_features == shape(16000)[1 - time_axis]
