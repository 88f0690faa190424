"""JIT layer: the one place where melplug's Numba compilation options are chosen.

Every kernel is compiled with ``cache=True`` (compiled code is stored on disk
and reloaded by new processes, ``NUMBA_CACHE_DIR`` honoured), ``nogil=True``
(kernels release the GIL so several Python threads can run them at once) and a
fastmath subset *without* ``nnan``/``ninf``, so NaN detection and clamping stay
exact.  ``parallel=True`` is deliberately never used: melplug parallelises by
running nogil kernels on its own Python thread pool, which makes it independent
of Numba's threading layers (see ``docs/design.md``).

The disk cache also recovers from damage: a truncated or otherwise unreadable
index (``.nbi``) or data (``.nbc``) file is dropped, the kernel is recompiled
and the cache rewritten, with one ``RuntimeWarning`` naming the directory
(Numba itself raises ``EOFError``/``UnpicklingError`` on every later call).
"""

from __future__ import annotations

import os
import warnings

import numba
from numba.core.caching import FunctionCache

FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})
JIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": set(FASTMATH), "error_model": "numpy"}

_warned_no_cache = False
_warned_corrupt = False


class _RecoveringCache(FunctionCache):
    """Numba's per-function disk cache, recompiling over an unreadable cache instead of failing.

    Numba's ``Cache`` swallows only "spurious" I/O errors; a damaged index or
    data file raises from every load and save.  Here any failure to load is
    reported once, the index is removed (so the next save starts a new one and
    overwrites the data file) and ``None`` is returned, which makes Numba
    compile.  A save that still fails disables the disk cache for that kernel.
    """

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception as exc:  # noqa: BLE001 - EOFError, UnpicklingError, ValueError, ... from a damaged file
            _warn_corrupt(self.cache_path, exc)
            self._drop_index()
            return None

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except Exception as exc:  # noqa: BLE001 - the index went bad again: compile in memory from now on
            _warn_corrupt(self.cache_path, exc)
            self._drop_index()
            self.disable()

    def _drop_index(self) -> None:
        try:
            os.unlink(self._cache_file._index_path)
        except OSError:
            pass


def _warn_corrupt(path, exc: BaseException) -> None:
    global _warned_corrupt
    if _warned_corrupt:
        return
    _warned_corrupt = True
    warnings.warn(
        f"melplug: Numba's disk cache in {path} could not be read ({type(exc).__name__}: {exc}); the kernels "
        "are recompiled and the damaged cache files overwritten",
        RuntimeWarning,
        stacklevel=3,
    )


def _recovering(dispatcher):
    """Give ``dispatcher`` the recovering disk cache (a no-op where Numba's internals differ)."""
    if type(getattr(dispatcher, "_cache", None)) is FunctionCache:
        dispatcher._cache.__class__ = _RecoveringCache
    return dispatcher


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
        return _recovering(numba.njit(**JIT_OPTIONS)(func))
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
