"""Atomic file writes: a file is either complete or untouched, never half-written.

A private helper layer used by the front-ends (the CLI's outputs and
:func:`melplug.plot.plot_mel`'s pictures); the core and the kernels never
write files.  Each writer writes to a hidden temporary file in the
destination's folder and renames it into place (``os.replace``, atomic on
POSIX and Windows); the temporary file is removed if writing fails or is
interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

__all__ = ["atomic_write", "remove_file", "save_json", "save_npy", "save_npz"]


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``.

    The temporary name is hidden (``.NAME.PID.RANDOM.tmp``) and unique, and is
    removed if ``write`` fails or is interrupted, so ``path`` is either the
    complete new file or untouched.  Missing parent folders are created.  The
    file gets the usual permissions (``0o666`` less the umask).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    write : callable
        Called once with a binary file object open for writing.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> from melplug._io import atomic_write
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     target = atomic_write(os.path.join(tmp, "a", "x.bin"), lambda f: f.write(b"abc"))
    ...     target.read_bytes(), sorted(os.listdir(target.parent))
    (b'abc', ['x.bin'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as a ``.npy`` file, atomically."""
    return atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``arrays`` (name -> array) as an uncompressed ``.npz`` file, atomically."""
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented UTF-8 JSON with a final newline, atomically."""
    text = json.dumps(obj, indent=2) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def remove_file(path: str | os.PathLike) -> bool:
    """Remove ``path`` if it exists (a file or a link); return whether something was removed.

    Errors other than "it does not exist" (permissions, a folder) are raised.
    """
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True
