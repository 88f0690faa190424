"""The disk cache's source stamp: derived from the kernels' imports, not a hand-kept list."""

from __future__ import annotations

from pathlib import Path

from melplug import _jit

PACKAGE = Path(_jit.__file__).parent


def _names(module: str) -> set[str]:
    return {Path(p).relative_to(PACKAGE).as_posix() for p in _jit.kernel_sources(module)}


def test_kernel_sources_follow_the_imports():
    names = _names("melplug._kernels._phases")
    kernel_modules = {p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "_kernels").glob("_*.py")}
    kernel_modules.discard("_kernels/__init__.py")
    assert kernel_modules <= names  # every step family the phases call
    assert {"_jit.py", "_plan.py"} <= names
    # pure-Python layers are not compiled into kernels: editing them keeps the cache
    assert not names & {"_driver.py", "core.py", "_config.py", "presets.py", "hf.py", "__init__.py"}


def test_public_entry_points_are_stamped_with_the_private_kernels():
    names = _names("melplug.kernels")
    assert {"kernels.py", "_kernels/_phases.py", "_kernels/_frames.py"} <= names
    assert "_driver.py" not in names  # the layout lives at kernel level


def test_every_kernel_cache_carries_its_stamp():
    from melplug import _kernels

    stamp = _kernels._mel_units._cache._cache_file._source_stamp
    assert stamp[1] == _jit._source_stamp("melplug._kernels._phases")
