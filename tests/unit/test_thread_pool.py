"""The thread layer (``melplug._parallel``): a pool many callers share, and its failures.

The first test is a regression test: growing the pool used to shut the old
one down while other callers were still submitting to it (``RuntimeError:
cannot schedule new futures after shutdown``).  When several ranges fail, the
first failure is raised.
"""

from __future__ import annotations

import numpy as np
import pytest

from melplug import _parallel
from tests._util import run_python


def test_concurrent_callers_growing_the_pool_never_fail():
    # A fresh process, so the pool starts small (NUMBA_NUM_THREADS=2); sizes 2..25 make it grow many times
    # while other callers submit to it.  Before the fix 4-13% of these calls raised "cannot schedule new
    # futures after shutdown".
    proc = run_python(
        """
        import threading, numpy as np, melplug
        mel = melplug.MelSpectrogram(fft_length=256, sequence_stride=64, num_mel_bins=32)
        rng = np.random.default_rng(0)
        clips = [rng.standard_normal(n).astype(np.float32) for n in (48000, 64000, 32000, 80000, 16000, 24000)]
        expected = mel(clips, num_threads=1)
        errors, done = [], []
        def call(threads, barrier):
            barrier.wait()
            for _ in range(3):
                try:
                    got = mel(clips, num_threads=threads)
                    assert all(np.array_equal(a, b) for a, b in zip(got, expected))
                    done.append(threads)
                except Exception as exc:
                    errors.append(repr(exc))
        for round_ in range(4):
            barrier = threading.Barrier(6)
            workers = [threading.Thread(target=call, args=(2 + i + 6 * round_, barrier)) for i in range(6)]
            for w in workers: w.start()
            for w in workers: w.join()
        print(len(done), len(errors), errors[:2])
        """,
        env={"NUMBA_NUM_THREADS": "2"},
    )
    assert proc.stdout.split()[:2] == ["72", "0"], proc.stdout


def test_the_first_failing_range_is_raised():
    def fn(lo, hi):
        if lo in (0, 1):  # the caller's range and the first pool range both fail
            raise RuntimeError(f"range {lo}")

    with pytest.raises(RuntimeError, match="range 0"):
        _parallel.run(fn, np.array([0, 1, 2, 3]))

    def fn2(lo, hi):
        if lo >= 1:
            raise ValueError(f"range {lo}")

    with pytest.raises(ValueError, match="range 1"):
        _parallel.run(fn2, np.array([0, 1, 2, 3]))
