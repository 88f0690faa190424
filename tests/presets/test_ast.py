"""The ``ast`` preset against its references.

transformers' ``ASTFeatureExtractor`` runs on its torchaudio path, which
torch-free tests cannot run: its Kaldi filter bank is checked against
kaldi-native-fbank (``window_type="hanning"``) where that library accepts the
bin count, and against the float64 ``tests/references/kaldi_fbank.py``
everywhere, including the default 128 bins at 16 kHz that kaldi-native-fbank
refuses (one band is empty; torchaudio keeps it at ``ln(eps)``).  The pad/cut
to 1024 rows and the scaling use the constants of the transformers object.
``tests/references/test_kaldi_fbank.py`` checks that float64 reference against
kaldi-native-fbank.
"""

from __future__ import annotations

import numpy as np
import pytest

import melplug
from tests._util import assert_within
from tests.presets._tolerances import LN_TOL
from tests.references import kaldi_fbank as rk
from tests.references.libraries import ast_constants, ast_post, ast_source, knf_fbank, rk_fbank
from tests.references.signals import DTYPES, SIGNALS, make


def _ast_tol(dtype):
    return LN_TOL[dtype] / (2.0 * ast_constants()[2])


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
        assert_within(got, ast_post(fbank), _ast_tol(dtype), f"ast vs float64 reference, {kind}, n={n}")
        if num_bins <= 126 or sr != 16000:
            # The reference casts to float32 first; kaldi-native-fbank computes in float32.
            kaldi = knf_fbank(knf, x.astype(np.float32), sr, num_bins, "hanning").astype(np.float64)
            assert_within(got, ast_post(kaldi), _ast_tol(np.float32), f"ast vs kaldi-native-fbank, {kind}, n={n}")


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
        assert_within(got, ast_post(rk_fbank(x, 16000, 128, "hanning")), tol, f"ast n={n}")
        # Padded rows: all equal to the scaled zero.
        np.testing.assert_array_equal(got[kept:], got[kept:][:1].repeat(max_length - kept, axis=0))
        assert_within(got[kept:], np.full((max_length - kept, 128), pad), tol, f"ast padding n={n}")
        # The empty band (index 3 at 16 kHz, see the test above) stays at ln(eps), scaled, in every frame.
        assert_within(got[:kept, 3], np.full(kept, floor), tol, f"ast empty band n={n}")
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
    assert_within(fx(x), want, _ast_tol(np.float32), "ast at 16400 Hz vs kaldi-native-fbank")
