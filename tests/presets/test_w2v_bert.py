"""The ``w2v-bert`` preset against its references.

transformers' ``SeamlessM4TFeatureExtractor`` (numpy only), ``input_features``
of one clip, and a float64 version built from
``tests/references/kaldi_fbank.py`` (``w2v_exact``).  Tolerances are per mel
bin (see ``_tolerances.py``): the output is normalised per bin over the clip.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import melplug
from tests.presets._tolerances import EMPTY_BAND_TOL, LN_TOL
from tests.references import kaldi_fbank as rk
from tests.references.libraries import seamless, w2v_exact, w2v_reference
from tests.references.signals import DTYPES, SIGNALS, make


def _assert_w2v_within(got, want, norm, ln_tol, what):
    """Per-bin tolerance: |diff| * sqrt(var_b + 1e-7) (the error in ln) <= ln_tol."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    err = np.abs(got.astype(np.float64) - want.astype(np.float64)) * norm
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= ln_tol, (
        f"{what}: ln-equivalent error {err.max():.3g} > {ln_tol:.3g} at {worst} "
        f"(got {got[worst]}, expected {want[worst]}, normaliser {norm[worst[1]]:.3g})"
    )


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
