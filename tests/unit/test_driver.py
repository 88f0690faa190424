"""The driver layer (``melplug._driver``): per-example reductions over work units, clip lists without copies.

Regression tests: the finishing phase used to recompute a clip's peak for
every one of its work units (quadratic in the clip's length), and a list call
used to copy all its clips into one array.
"""

from __future__ import annotations

import tracemalloc

import numba
import numpy as np

import melplug
from melplug import _kernels
from tests._util import make_audio


@numba.njit
def _summarise(layout, unit_max, unit_bad, batch_peak):
    return _kernels._summarise(layout, unit_max, unit_bad, batch_peak)  # a step only kernels call


KW = dict(fft_length=512, sequence_length=400, sequence_stride=160, num_mel_bins=40, min_freq=0.0)


# --------------------------------------------------------------------------- per-example peaks once


def test_peaks_are_reduced_once_per_example():
    mel = melplug.MelSpectrogram(**KW)
    clips = [make_audio((n,), seed=n) * (np.arange(n) < n // 2) for n in (30000, 4000, 17000)]  # half silence
    clips[2] *= 1e-2  # a quiet clip: its floor is 40 dB below the others
    out = mel(clips, num_threads=1)
    # The floor of a clip spanning many units hangs from that clip's own maximum.
    for m in out:
        assert m.min() == np.float32(m.max()) - np.float32(80.0)
    plan = mel.plan
    n_frames = np.array([o.shape[1] for o in out], dtype=np.int64)
    unit_ex, unit_f0, first_unit = _kernels._units(n_frames, plan.block_frames)
    assert list(first_unit) == [0, *np.cumsum(-(-n_frames // plan.block_frames))[:-1]]
    rng = np.random.default_rng(0)
    unit_max = rng.standard_normal(len(unit_ex))
    unit_bad = np.zeros(len(unit_ex), dtype=np.uint8)
    unit_bad[first_unit[1]] = _kernels.BAD_INPUT
    layout = melplug._driver.Layout(
        np.zeros(3, np.int64),
        n_frames,
        n_frames,
        n_frames,
        unit_ex,
        unit_f0,
        first_unit,
        np.zeros(3, np.int64),
        n_frames,
        n_frames,
        n_frames,
    )
    bad, peaks = _summarise(layout, unit_max, unit_bad, False)
    expected = [unit_max[unit_ex == e].max() for e in range(3)]
    np.testing.assert_array_equal(peaks, expected)
    assert bad.tolist() == [0, _kernels.BAD_INPUT, 0]
    _, batch = _summarise(layout, unit_max, unit_bad, True)
    np.testing.assert_array_equal(batch, max(expected[0], expected[2]))  # flagged examples left out


# --------------------------------------------------------------------------- list calls copy nothing


def test_a_list_call_does_not_copy_its_clips():
    mel = melplug.MelSpectrogram(fft_length=512, sequence_stride=512, num_mel_bins=16)
    clip = make_audio((4_000_000,), seed=2)  # 16 MB
    out_bytes = 16 * mel.num_frames(clip.size) * 4  # 0.5 MB
    mel([clip[:1000]], num_threads=1)  # warm: compile and layouts outside the measurement
    tracemalloc.start()
    try:
        (result,) = mel([clip], num_threads=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.shape == (16, mel.num_frames(clip.size))
    assert peak < out_bytes + (1 << 20), f"peak {peak / 2**20:.1f} MiB for a {out_bytes / 2**20:.1f} MiB output"
    # Clips in another dtype are converted, one at a time: the float64 copy is the only extra.
    tracemalloc.start()
    try:
        mel([clip[:100_000].astype(np.float64), clip[:50_000]], num_threads=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000 * 4 + 100_000 * 8 + (1 << 20)
