"""What the presets do with unusual input, beside what their references do.

Integer samples are read as the references read them.  Where a reference
refuses a clip (NaN/Inf), melplug raises a ``ValueError`` naming it, or gives
NaN for that clip only with ``on_nonfinite="propagate"``; where a reference
pads, ignores or overflows (empty clips, NaN/Inf in samples no frame reads,
float32 power overflow), melplug refuses on purpose (docs/presets.md).
"""

from __future__ import annotations

import numpy as np
import pytest

import melplug
from tests._util import max_error
from tests.presets._grid import CASES, DEFAULT_RATE, make_preset
from tests.presets._tolerances import TOL
from tests.references.libraries import kaldi_reference, whisper_exact, whisper_module, whisper_reference
from tests.references.signals import make_signal

# --------------------------------------------------------------------------- integer samples


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


# --------------------------------------------------------------------------- clips a reference refuses


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


# Deliberate differences from the references, listed in docs/presets.md (melplug's input contract wins over
# matching them): an empty clip, NaN/Inf in samples no frame reads, and float32 samples whose power overflows are
# refused with a ValueError naming the clip, where a reference pads, ignores or computes them.


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


# --------------------------------------------------------------------------- non-finite: the reference grid's presets


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
