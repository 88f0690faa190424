"""Thread layer: melplug's own pool running nogil kernels on plain Python threads.

Why not ``numba.prange``: on this project's machines each of Numba's default
threading layers fails a pipeline requirement (docs/design.md): *workqueue*
aborts the process when two Python threads call a parallel function at once,
*omp* kills children forked after the parent ran a parallel region, and *tbb*
is not loadable from a pip install.  Running ``nogil`` serial kernels on a
small pool of Python threads sidesteps all three: any number of caller threads
may share the pool, a forked child gets a fresh pool (the old one is dropped by
an ``os.register_at_fork`` hook), and the thread count is an ordinary
per-call argument, with no global Numba state to set or restore.

The pool is shared by every caller and is never shut down while a caller may
hold it: when a call needs more workers than it has, a larger pool replaces it
for *later* calls, and the old one is left to finish what was submitted to it
(its idle threads exit once the last caller drops it).  Shutting it down
instead used to race with callers still submitting to it (``RuntimeError:
cannot schedule new futures after shutdown``).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _reset_after_fork() -> None:
    global _pool, _pool_size, _lock
    _pool = None
    _pool_size = 0
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _executor(workers: int) -> ThreadPoolExecutor:
    """A pool with at least ``workers`` threads; never shut down under a caller (see the module docstring)."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            # Sized for the default thread count too, so that growing is rare.
            size = max(workers, default_num_threads() - 1, 1)
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="melplug")
            _pool_size = size
        return _pool


def default_num_threads() -> int:
    """Numba's configured thread count (``NUMBA_NUM_THREADS`` or the usable cores).

    Read from ``numba.config`` so that no threading layer is started.
    """
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def split(costs: np.ndarray, parts: int) -> np.ndarray:
    """Bounds of ``parts`` contiguous ranges of ``costs`` with about equal sums."""
    cum = np.cumsum(costs)
    targets = cum[-1] * np.arange(1, parts) / parts
    inner = np.searchsorted(cum, targets, side="left") + 1
    return np.unique(np.concatenate(([0], np.minimum(inner, len(costs)), [len(costs)])))


def run(fn, bounds: np.ndarray, *args) -> None:
    """Call ``fn(*args, lo, hi)`` for each ``[lo, hi)`` in ``bounds``, in parallel.

    The calling thread runs the first range itself; the others go to the pool.
    Whatever ends the call (a range failing, ``KeyboardInterrupt``, a Ray task
    cancelled), ranges not yet started are cancelled and every started one is
    waited for before ``run`` returns or raises: they read the caller's input
    and write into its arrays, which may be freed as soon as ``run`` is left.
    The failure raised is the calling thread's own, else the earliest failing
    range's.
    """
    if len(bounds) == 2:  # one range: no pool, no bookkeeping
        fn(*args, int(bounds[0]), int(bounds[1]))
        return
    ranges = [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]
    if len(ranges) <= 1:
        for lo, hi in ranges:
            fn(*args, lo, hi)
        return
    pool = _executor(len(ranges) - 1)
    futures: list[Future] = []
    failure: BaseException | None = None
    try:
        for lo, hi in ranges[1:]:
            futures.append(pool.submit(fn, *args, lo, hi))
        fn(*args, *ranges[0])
    except BaseException as exc:  # noqa: BLE001 - re-raised below, once no range runs
        failure = exc
    finally:
        failure = _join(futures, failure)
    if failure is not None:
        raise failure


def map_items(fn, items, threads: int | None = None) -> list:
    """``[fn(i, item) for i, item in enumerate(items)]``, the items shared between melplug's threads.

    For per-clip Python work that spends its time in C code releasing the GIL
    (soundfile's decoding, soxr's resampling): contiguous shares of the items
    run in parallel, in order within a share.  The failure raised is the
    first failing item's (as :func:`run`: the earliest failing share's).
    """
    n = len(items)
    out: list = [None] * n
    if n == 0:
        return out
    parts = min(max(threads if threads is not None else default_num_threads(), 1), n)

    def share(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            out[i] = fn(i, items[i])

    run(share, split(np.ones(n), parts))
    return out


def _join(futures: list[Future], failure: BaseException | None) -> BaseException | None:
    """Wait until no future in ``futures`` runs; the failure to raise (``failure``, else the first range's).

    Once anything failed, the futures not started are cancelled.  An interrupt
    arriving while waiting (a second Ctrl-C, a Ray cancellation) does not
    end the wait: it cancels what has not started and becomes the failure if
    there was none.
    """
    if failure is not None:
        _cancel(futures)
    while True:
        try:
            for fut in futures:
                if fut.cancelled():
                    continue
                exc = fut.exception()  # waits for the range to end
                if exc is not None and failure is None:
                    failure = exc
                    _cancel(futures)
            return failure
        except BaseException as exc:  # noqa: BLE001 - interrupted while waiting: keep waiting, raise it after
            if failure is None:
                failure = exc
            _cancel(futures)


def _cancel(futures: list[Future]) -> None:
    for fut in futures:
        fut.cancel()


def in_worker_process() -> bool:
    """Whether this process was started by ``multiprocessing`` or ``multiprocess`` (a pool or loader worker).

    ``Dataset.map(num_proc=N)`` runs in ``multiprocess`` pool workers (forked);
    Grain and PyTorch loaders use ``multiprocessing``.  Adapters use one thread
    per call in such workers, so N workers never oversubscribe the cores.
    """
    import multiprocessing
    import sys

    if multiprocessing.parent_process() is not None:
        return True
    mp = sys.modules.get("multiprocess")
    return mp is not None and mp.parent_process() is not None
