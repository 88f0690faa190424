"""JIT layer: the one place where melplug's Numba compilation options are chosen.

Every kernel is compiled with ``cache=True`` (compiled code is stored on disk
and reloaded by new processes, ``NUMBA_CACHE_DIR`` honoured), ``nogil=True``
(kernels release the GIL so several Python threads can run them at once) and a
fastmath subset *without* ``nnan``/``ninf``, so NaN detection and clamping stay
exact.  ``parallel=True`` is deliberately never used: melplug parallelises by
running nogil kernels on its own Python thread pool, which makes it independent
of Numba's threading layers (see ``docs/design.md``).

Each kernel's cache entry is stamped with a hash of every module whose code
the kernels compile in (Numba stamps only the function's own file), and the
disk cache recovers from damage: a truncated or otherwise unreadable
index (``.nbi``) or data (``.nbc``) file is dropped, the kernel is recompiled
and the cache rewritten, with one ``RuntimeWarning`` naming the directory
(Numba itself raises ``EOFError``/``UnpicklingError`` on every later call).
"""

from __future__ import annotations

import hashlib
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


#: The modules whose code ends up inside compiled kernels (called or inlined from them).
_KERNEL_SOURCES = ("_jit.py", "_plan.py", "_geometry.py", "_driver.py", "_kernels.py", "kernels.py")
_package_stamp_value: str | None = None


def _package_stamp() -> str:
    """A hash of every module whose code the kernels compile in.

    Numba stamps a cached function with its own file only, so a kernel that
    calls or inlines code from another module (the frame formula in
    ``_plan``, the private kernels under ``kernels``) would load stale machine
    code after that module changed.  Every melplug kernel's stamp includes
    this hash instead.
    """
    global _package_stamp_value
    if _package_stamp_value is None:
        digest = hashlib.sha256()
        here = os.path.dirname(os.path.abspath(__file__))
        for name in _KERNEL_SOURCES:
            with open(os.path.join(here, name), "rb") as f:
                digest.update(f.read())
        _package_stamp_value = digest.hexdigest()
    return _package_stamp_value


def _recovering(dispatcher):
    """Give ``dispatcher`` the recovering, package-stamped disk cache (a no-op where Numba's internals differ)."""
    cache = getattr(dispatcher, "_cache", None)
    if type(cache) is FunctionCache and hasattr(cache, "_cache_file"):
        cache.__class__ = _RecoveringCache
        cache._cache_file._source_stamp = (cache._cache_file._source_stamp, _package_stamp())
    return dispatcher


def jit_inline(func):
    """Compile ``func`` inlined into its callers at Numba's IR level (``inline="always"``): no function of its own.

    For small steps called from one place in a kernel: each separately
    compiled function adds its own pass through Numba's pipeline to a cold
    compile, an inlined one does not.  The caller's disk cache holds it.
    """
    options = {k: v for k, v in JIT_OPTIONS.items() if k != "cache"}
    return numba.njit(inline="always", **options)(func)


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
