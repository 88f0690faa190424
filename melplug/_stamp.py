"""Source stamps: hashes of melplug's own files, for caches keyed on the code that wrote them.

A version number does not change when an editable install's code does, so a
cache keyed on ``__version__`` alone (the Hugging Face adapter's fingerprint,
Numba's disk cache) would hand back results of older code.  A stamp is a hash
of the files themselves: their paths inside the package and their bytes.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["PACKAGE", "SOURCE_SUFFIXES", "files_stamp", "package_files", "package_stamp"]

#: The folder of the ``melplug`` package.
PACKAGE = Path(__file__).resolve().parent
#: The files that make up melplug's code: Python modules and the C++ of the TensorFlow op.
SOURCE_SUFFIXES = (".py", ".cc")


def files_stamp(names: Iterable[str | os.PathLike], root: str | os.PathLike = PACKAGE) -> str:
    """A hex SHA-256 of the files ``names`` (paths relative to ``root``, or absolute), in the order given.

    Each file adds its path relative to ``root`` and its length before its
    bytes, so the stamp does not depend on where the package is installed,
    and moving code from one file to the next changes it.

    Examples
    --------
    >>> from melplug._stamp import files_stamp
    >>> len(files_stamp(["_stamp.py"]))
    64
    >>> files_stamp(["_stamp.py"]) == files_stamp(["_stamp.py", "_io.py"])
    False
    """
    root = Path(root)
    digest = hashlib.sha256()
    for name in names:
        path = root / name
        data = path.read_bytes()
        shown = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(name)
        digest.update(f"{shown}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def package_files(root: str | os.PathLike = PACKAGE) -> list[str]:
    """Every ``.py`` and ``.cc`` file under ``root`` (caches excluded), relative and sorted."""
    root = Path(root)
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.suffix in SOURCE_SUFFIXES and path.is_file() and "__pycache__" not in path.parts
    )


@functools.lru_cache(maxsize=None)
def package_stamp() -> str:
    """The stamp of the whole package's sources (:func:`files_stamp` of :func:`package_files`), once per process.

    Examples
    --------
    >>> from melplug._stamp import package_stamp
    >>> package_stamp() == package_stamp() and len(package_stamp()) == 64
    True
    """
    return files_stamp(package_files())
