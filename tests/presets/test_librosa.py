"""``librosa`` and ``librosa-mfcc``: what is librosa's own.

Their reference grid (``librosa.feature.melspectrogram`` and ``mfcc``, run in
the test) is in ``test_reference_grid.py``, with torchaudio's and
kaldi-mfcc's; here the float64 reference's replica of librosa, and the
per-clip ``top_db`` floor of ``librosa-mfcc``.
"""

from __future__ import annotations

import numpy as np

import melplug
from tests._util import max_error
from tests.presets._grid import check
from tests.references.libraries import librosa_mel, librosa_module
from tests.references.signals import DTYPES, make_signal


def test_librosa_replica():
    """``librosa_mel`` (the float64 reference's steps) with librosa's float32 basis is the public call, bit for bit."""
    librosa = librosa_module()
    for dtype in DTYPES:
        x = make_signal("speech", 12345, 22050, seed=3).astype(dtype)
        public = librosa.feature.melspectrogram(y=x, sr=22050)
        replica = librosa_mel(x, sr=22050, basis_dtype=np.float32)
        assert replica.dtype == public.dtype
        np.testing.assert_array_equal(replica, public)


# --------------------------------------------------------------------------- librosa-mfcc's per-clip floor


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
