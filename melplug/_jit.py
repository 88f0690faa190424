"""JIT layer: the one place where melplug's Numba compilation options are chosen.

Every kernel is compiled with ``cache=True`` (compiled code is stored on disk
and reloaded by new processes, ``NUMBA_CACHE_DIR`` honoured), ``nogil=True``
(kernels release the GIL so several Python threads can run them at once) and a
fastmath subset *without* ``nnan``/``ninf``, so NaN detection and clamping stay
exact.  ``parallel=True`` is deliberately never used: melplug parallelises by
running nogil kernels on its own Python thread pool, which makes it independent
of Numba's threading layers (see ``docs/design.md``).

Each kernel's cache entry is stamped with a hash of every module whose code
it can compile in, derived from the imports (Numba stamps only the
function's own file; :func:`kernel_sources`), and the
disk cache recovers from damage: a truncated or otherwise unreadable
index (``.nbi``) or data (``.nbc``) file is dropped, the kernel is recompiled
and the cache rewritten, with one ``RuntimeWarning`` naming the directory
(Numba itself raises ``EOFError``/``UnpicklingError`` on every later call).

Entry points (kernels Python calls) are :func:`jit`; steps only kernels call
are :func:`jit_internal` (or :func:`jitable` for functions Python also runs
as plain Python): *link-only*, their code optimised and compiled once, in
the kernels that call them, which halves a cold compile (``docs/design.md``).
"""

from __future__ import annotations

import functools
import os
import re
import warnings

import numba
from numba.core import compiler
from numba.core.caching import FunctionCache
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler_lock import require_global_compiler_lock
from numba.extending import register_jitable

from ._stamp import files_stamp

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


_stamps: dict[str, str] = {}


@functools.lru_cache(maxsize=None)
def _module_file(name: str) -> str | None:
    """The source file of melplug module ``name`` (``"melplug._kernels._phases"``), or ``None``."""
    root = os.path.dirname(os.path.abspath(__file__))
    parts = name.split(".")[1:]
    base = os.path.join(root, *parts)
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


#: Top-level import statements (kernels can only use module globals, so imports inside functions or
#: ``if TYPE_CHECKING:`` blocks never reach compiled code).
_IMPORT = re.compile(
    r"^(?:from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]*)|import[ \t]+(melplug[\w.]*))", re.M
)


@functools.lru_cache(maxsize=None)
def _melplug_imports(name: str, path: str) -> frozenset[str]:
    """The melplug modules that module ``name`` (at ``path``) imports, read from its source (not executed).

    A regular expression over its top-level ``import`` statements (an AST
    would cost tens of milliseconds at ``import melplug``).
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    found = set()
    for source, names, plain in _IMPORT.findall(text):
        if plain:
            found.add(plain)
            continue
        level = len(source) - len(source.lstrip("."))
        if level:
            base = package.split(".")
            base = base[: len(base) - (level - 1)]
            target = ".".join(base + ([source[level:]] if source[level:] else []))
        else:
            target = source
        if target.split(".")[0] != "melplug":
            continue
        for alias in names.strip("() \n").replace("\n", " ").split(","):
            alias = alias.split(" as ")[0].strip()
            if not alias:
                continue
            sub = f"{target}.{alias}"  # `from . import _plan` names a module, `from ._jit import jit` an attribute
            found.add(sub if _module_file(sub) is not None else target)
    return frozenset(m for m in found if _module_file(m) is not None)


def kernel_sources(module: str) -> list[str]:
    """The files whose code can end up in a kernel defined in ``module``: it and what it imports from melplug.

    Derived from the import statements, transitively (a package's
    ``__init__`` counts when it is imported), so a new kernel module or a
    new helper module is stamped without a hand-kept list; modules the
    kernels never import (the driver, the core, the adapters) are not, so
    editing them keeps the compiled kernels.
    """
    seen: dict[str, str] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if name in seen or path is None:
            continue
        seen[name] = path
        todo.extend(_melplug_imports(name, path) - set(seen))
    return sorted(set(seen.values()))


def _source_stamp(module: str) -> str:
    """A hash of :func:`kernel_sources` of ``module`` (computed once per module and process).

    Numba stamps a cached function with its own file only, so a kernel that
    calls or inlines code from another module (the frame formula, the steps
    of another kernel module) would load stale machine code after that module
    changed.  Every melplug kernel's cache entry carries this hash too.
    """
    stamp = _stamps.get(module)
    if stamp is None:
        stamp = _stamps[module] = files_stamp(kernel_sources(module))
    return stamp


def _recovering(dispatcher):
    """Give ``dispatcher`` the recovering, package-stamped disk cache (a no-op where Numba's internals differ)."""
    cache = getattr(dispatcher, "_cache", None)
    func = getattr(dispatcher, "py_func", None) or getattr(dispatcher, "_pyfunc", None)
    if type(cache) is FunctionCache and hasattr(cache, "_cache_file") and func is not None:
        cache.__class__ = _RecoveringCache
        cache._cache_file._source_stamp = (cache._cache_file._source_stamp, _source_stamp(func.__module__))
    return dispatcher


def jit_inline(func):
    """Compile ``func`` inlined into its callers at Numba's IR level (``inline="always"``): no function of its own.

    For one-line helpers (a view of an address).  Numba re-runs its front end
    on every inlined copy, so a step of any size is cheaper to compile as
    :func:`jit_internal`.  The caller's disk cache holds it.
    """
    options = {k: v for k, v in JIT_OPTIONS.items() if k != "cache"}
    return numba.njit(inline="always", **options)(func)


class _LinkOnlyLibrary(JITCodeLibrary):
    """The code of a kernel that only other kernels call: linked into theirs, never optimised or compiled alone.

    Numba gives every compiled function its own library and finalises it:
    the whole module optimisation and the machine code.  A caller then links
    the callee's module into its own and optimises and compiles it all again,
    so each step's code went through LLVM once per level above it.  This
    library finalises by linking only; its callers' optimisation is the one
    its code gets.  It has no address to call (:func:`jit_internal`).
    """

    def finalize(self):
        require_global_compiler_lock()
        self._raise_if_finalized()
        seen = set()
        for library in self._linking_libraries:
            if library not in seen:
                seen.add(library)
                self._reload_init.update(library._reload_init)
                self._final_module.link_in(library._get_module_for_linking(), preserve=True)
        self._finalized = True

    def get_pointer_to_function(self, name):
        return 0  # no machine code: its callers hold it

    @property
    def codegen(self):
        return _NoEnvironment(self._codegen)


class _NoEnvironment:
    """A link-only library's codegen as Numba's lowering sees it: no environment pointer to set.

    Without machine code the library has no environment global; Numba would write through a null address.
    """

    def __init__(self, codegen):
        self._codegen = codegen

    def set_env(self, env_name, env):
        pass

    def __getattr__(self, name):
        return getattr(self._codegen, name)


class _LinkOnlyCompiler(compiler.Compiler):
    """Numba's default pipeline, lowering into a :class:`_LinkOnlyLibrary`."""

    def compile_extra(self, func):
        if self.state.library is None:
            library = self.state.targetctx.codegen().create_library(func.__qualname__)
            if type(library) is JITCodeLibrary:
                library.__class__ = _LinkOnlyLibrary
                self.state.library = library
        return super().compile_extra(func)


#: Numba options of a step compiled only for other kernels (:func:`jit_internal`; ``overload``'s ``jit_options``).
LINK_ONLY = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True, "pipeline_class": _LinkOnlyCompiler}


def jitable(func):
    """``register_jitable`` with :data:`LINK_ONLY`: plain Python from Python, a link-only step in kernels."""
    return register_jitable(**LINK_ONLY)(func)


def jit_internal(func):
    """Compile ``func`` for other kernels to call, not Python: no wrappers, no machine code or disk cache of its own.

    A step called from several kernels (so not :func:`jit_inline`) whose code
    goes through LLVM only inside its callers (:class:`_LinkOnlyLibrary`); the
    callers' disk cache holds it.  Calling it from Python is an error, not a
    crash: it has no Python entry point.
    """
    options = {k: v for k, v in JIT_OPTIONS.items() if k != "cache"}
    dispatcher = numba.njit(**LINK_ONLY, **options)(func)
    dispatcher.__class__ = _internal_class(type(dispatcher))
    return dispatcher


@functools.lru_cache(maxsize=None)
def _internal_class(base):
    def __call__(self, *args, **kwargs):
        raise TypeError(
            f"{self.py_func.__module__}.{self.py_func.__qualname__} is a step that melplug's kernels call; "
            "it cannot be called from Python (call it from a @numba.njit function)"
        )

    return type(f"Internal{base.__name__}", (base,), {"__call__": __call__, "__module__": __name__})


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
