"""Frames that read only the zeros after a clip (Whisper's 30 s padding) are computed once and copied.

The check is independent of that shortcut: the clip zero-padded by hand to the framed length has no zero
extension (its zeros are samples, every frame is computed), and must give the same features bit for bit,
for every framing and padding mode, with whole-signal pre-emphasis and with cepstra and energy, at lengths
around the point where the last frames start reading the zeros.
"""

from __future__ import annotations

import numpy as np
import pytest

import melplug
from melplug import _geometry

N_EFF = 4000

CONFIGS = {
    "whisper": lambda: melplug.preset("whisper"),
    "centre-reflect": lambda: melplug.FeatureExtractor(
        fft_length=256, frame_length=200, hop_length=80, input_length=N_EFF, num_mel_bins=20, log="db"
    ),
    "centre-zeros": lambda: melplug.FeatureExtractor(
        fft_length=256,
        frame_length=200,
        hop_length=80,
        input_length=N_EFF,
        pad_mode="constant",
        num_mel_bins=40,
        log="ln",
    ),
    "kaldi_center-mfcc": lambda: melplug.preset("kaldi-mfcc", framing="kaldi_center", input_length=N_EFF),
    "snip-edges-ceil": lambda: melplug.preset("kaldi", input_length=N_EFF, frame_rule="ceil"),
    # 1 ms hops: many frames start in a short zero run and read past its end, reflected back into the clip
    "snip-edges-ceil-1ms": lambda: melplug.preset("kaldi", input_length=N_EFF, frame_rule="ceil", hop_length=1.0),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_silent_frames_equal_computed_ones(name, dtype):
    fx = CONFIGS[name]()
    n_eff = 480000 if name == "whisper" else N_EFF
    rng = np.random.default_rng(3)
    p = fx.plan
    last = (int(_geometry.plan_frames(p, n_eff)[0]) - 1) * p.hop_length - p.pad  # the last frame's first sample
    ends = (n_eff - p.pad_end - 3, n_eff - p.pad_end - 1, n_eff - p.pad_end, n_eff - 2, n_eff)
    for n in (1, 7, 1000, last - 1, last, last + 1, last - 100, *ends):  # around where the last frames read only zeros
        x = (0.2 * rng.standard_normal(n) + 0.01).astype(dtype)
        padded = np.concatenate([x, np.zeros(n_eff - n, dtype)])
        np.testing.assert_array_equal(fx(x), fx(padded), err_msg=f"{name} n={n}")
    batch = [x[:3000], x[:10]]  # ragged, in one call
    for clip, got in zip(batch, fx(batch), strict=True):
        np.testing.assert_array_equal(got, fx(np.concatenate([clip, np.zeros(n_eff - clip.shape[0], dtype)])))


def test_silent_frames_after_whole_signal_preemphasis():
    """NeMo's order: the clip is pre-emphasised, then zero-padded (its first zero stays zero)."""
    options = dict(
        fft_length=256, frame_length=200, hop_length=80, pad_mode="constant", num_mel_bins=40, log="ln", dtype="float64"
    )
    fx = melplug.FeatureExtractor(input_length=N_EFF, signal_preemphasis=0.97, **options)
    plain = melplug.FeatureExtractor(**options)
    rng = np.random.default_rng(4)
    for n in (1, 2, 1000, N_EFF - 101, N_EFF - 1, N_EFF):
        x = 0.2 * rng.standard_normal(n)
        y = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1], np.zeros(N_EFF - n)])
        np.testing.assert_allclose(fx(x), plain(y), rtol=0, atol=1e-9, err_msg=f"n={n}")
