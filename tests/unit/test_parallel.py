"""``melplug._parallel.run``: a call never returns while a range it started still runs."""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest

from melplug import _parallel

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
