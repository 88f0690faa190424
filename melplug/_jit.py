"""The one place where melplug's Numba compilation options are chosen.

Every kernel is compiled with ``cache=True`` (compiled code is stored on disk
and reloaded by new processes, ``NUMBA_CACHE_DIR`` honoured), ``nogil=True``
(kernels release the GIL so several Python threads can run them at once) and a
fastmath subset *without* ``nnan``/``ninf``, so NaN detection and clamping stay
exact.  ``parallel=True`` is deliberately never used: melplug parallelises by
running nogil kernels on its own Python thread pool, which makes it independent
of Numba's threading layers (see ``docs/design.md``).
"""

from __future__ import annotations

import warnings

import numba

FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})
JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": set(FASTMATH), "error_model": "numpy"}

_warned_no_cache = False


def jit(func):
    """Compile ``func`` with melplug's options, falling back to no disk cache.

    Numba raises ``RuntimeError: cannot cache function ...: no locator
    available`` at decoration time when neither the package directory nor a
    user cache directory is writable (a read-only install with a read-only
    home).  melplug then compiles in memory and warns once, suggesting
    ``NUMBA_CACHE_DIR``.
    """
    global _warned_no_cache
    try:
        return numba.njit(**JIT_OPTIONS)(func)
    except RuntimeError as exc:
        if "cannot cache" not in str(exc):
            raise
        if not _warned_no_cache:
            _warned_no_cache = True
            warnings.warn(
                "melplug cannot write Numba's disk cache here (read-only install); kernels "
                "will be compiled in every new process. Set NUMBA_CACHE_DIR to a writable "
                "directory to cache them.",
                RuntimeWarning,
                stacklevel=2,
            )
        options = dict(JIT_OPTIONS, cache=False)
        return numba.njit(**options)(func)
