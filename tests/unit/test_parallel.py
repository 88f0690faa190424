"""The thread layer (``melplug._parallel``): a pool many callers share, its failures and interrupts.

Regression tests: growing the pool used to shut the old one down while other
callers were still submitting to it (``RuntimeError: cannot schedule new
futures after shutdown``); an interrupted call (Ctrl-C, a cancelled Ray task)
used to return while pool threads still read the caller's arrays.  When
several ranges fail, the first failure is raised.
"""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest

from melplug import _parallel
from tests._util import run_python

BOUNDS = np.array([0, 1, 2, 3])  # three ranges: the caller runs [0, 1), the pool [1, 2) and [2, 3)
SLOW = 0.4  # seconds a pool range keeps running after the interrupt


@pytest.fixture
def sigint_raises():
    """Ctrl-C raises KeyboardInterrupt in the main thread (Python's default handler), whatever the runner set."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are handled in the main thread only")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_interrupt_while_waiting_for_the_pool_waits_for_every_started_range(sigint_raises):
    """Ctrl-C (or a Ray cancellation) arriving while ``run`` waits must not leave pool threads running."""
    main = threading.main_thread().ident
    own_done = threading.Event()
    finished: list[int] = []

    def fn(lo, hi):
        if lo == 0:
            own_done.set()
            return
        if lo == 1:
            own_done.wait(10)
            time.sleep(0.05)  # the caller is now waiting for this range and the next
            signal.pthread_kill(main, signal.SIGINT)
        time.sleep(SLOW)  # still reading the caller's input after the interrupt
        finished.append(lo)

    with pytest.raises(KeyboardInterrupt):
        _parallel.run(fn, BOUNDS)
    assert sorted(finished) == [1, 2]  # run() raised only once both pool ranges had ended


def test_interrupt_in_the_callers_own_range_waits_for_the_pool(sigint_raises):
    started = threading.Barrier(3, timeout=10)
    finished: list[int] = []

    def fn(lo, hi):
        started.wait()
        if lo == 0:
            raise KeyboardInterrupt
        time.sleep(SLOW)
        finished.append(lo)

    with pytest.raises(KeyboardInterrupt):
        _parallel.run(fn, BOUNDS)
    assert sorted(finished) == [1, 2]


def test_the_earliest_failure_is_raised_after_all_ranges_end():
    finished: list[int] = []

    def fn(lo, hi):
        if lo == 2:
            raise ValueError("range 2")
        if lo == 1:
            time.sleep(0.2)
            raise ValueError("range 1")
        time.sleep(0.1)
        finished.append(lo)

    with pytest.raises(ValueError, match="range 1"):
        _parallel.run(fn, np.array([0, 1, 2, 3, 4]))
    assert 0 in finished  # the caller's own range ran to its end


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
