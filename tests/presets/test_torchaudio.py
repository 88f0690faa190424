"""``torchaudio``: what is torchaudio's own.

Its reference grid (``tests/references/torchaudio_mel.py``, a float64 NumPy
port of ``torchaudio.transforms.MelSpectrogram()``) is in
``test_reference_grid.py``; here the port's mel grid at an odd rate, the
shortest clip torch's reflect pad accepts, and the empty bands.
"""

from __future__ import annotations

import numpy as np
import pytest

import melplug
from tests.presets._grid import check, make_preset
from tests.references import torchaudio_mel as rt
from tests.references.signals import make_signal


def test_torchaudio_port_mel_grid_at_odd_rate():
    """At 22051 Hz torchaudio's f_max and grid end at sr // 2 = 11025: the port's filter bank differs from sr / 2's."""
    fb = rt.melscale_fbanks(201, 0.0, 11025.0, 128, 22051)
    half = rt.melscale_fbanks(201, 0.0, 11025.5, 128, 22051)
    assert np.abs(fb - half).max() > 1e-4


# --------------------------------------------------------------------------- torchaudio's shortest clip


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
