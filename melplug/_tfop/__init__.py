"""melplug's TensorFlow custom op: built from ``melplug_op.cc`` on first use, cached per user.

:func:`load` compiles the op's source with the C++ compiler (``$CXX``, else
``g++``) and TensorFlow's ``tf.sysconfig`` flags into
``$MELPLUG_TF_OP_CACHE`` (default ``$XDG_CACHE_HOME/melplug/tfop``, else
``~/.cache/melplug/tfop``), under a name keyed by TensorFlow's version and a
hash of the source and flags; a build writes a temporary file and renames it
into place, so processes building at once are safe.  Later processes load the
cached library.  It returns the loaded op module, or ``None`` with the reason
in :func:`failure` (``MELPLUG_TF_OP=0``, no compiler, a failed build or load).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import tensorflow as tf

__all__ = ["disabled", "failure", "library_path", "load"]

SOURCE = Path(__file__).with_name("melplug_op.cc")
_lock = threading.Lock()
_state: dict = {}  # "module" or "failure", once decided


def _flags() -> list[str]:
    return ["-std=c++17", "-shared", "-fPIC", "-O2", "-w", *tf.sysconfig.get_compile_flags()]


def _cache_dir() -> Path:
    explicit = os.environ.get("MELPLUG_TF_OP_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "melplug" / "tfop"


def library_path() -> Path:
    """Where the op library for this TensorFlow and this source is (or will be) cached."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    digest.update("\0".join(_flags() + tf.sysconfig.get_link_flags()).encode())
    return _cache_dir() / f"melplug_op-tf{tf.__version__}-{digest.hexdigest()[:16]}.so"


def _build(target: Path) -> None:
    """Compile the op into ``target`` (a temporary file renamed into place); ``RuntimeError`` on failure."""
    compiler = os.environ.get("CXX") or "g++"
    if shutil.which(compiler) is None:
        raise RuntimeError(f"no C++ compiler found ({compiler!r}; set CXX to one)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        cmd = [compiler, *_flags(), str(SOURCE), "-o", tmp, *tf.sysconfig.get_link_flags()]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
            raise RuntimeError(f"building the op failed ({' '.join(cmd)}):\n{tail}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)  # atomic: a concurrent build of the same source writes the same bytes
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load():
    """The op module (``tf.load_op_library``), built first if needed; ``None`` if unavailable (see :func:`failure`)."""
    with _lock:
        if not _state:
            if disabled():
                _state["failure"] = "MELPLUG_TF_OP=0 is set"
                return None
            try:
                path = library_path()
                if not path.exists():
                    _build(path)
                _state["module"] = tf.load_op_library(str(path))
            except Exception as exc:  # noqa: BLE001 - any failure means: use the numpy_function path
                _state["failure"] = f"{type(exc).__name__}: {exc}"
        return _state.get("module")


def disabled() -> bool:
    """Whether ``MELPLUG_TF_OP=0`` (or false/no/off) turns the op off."""
    return os.environ.get("MELPLUG_TF_OP", "1").strip().lower() in ("0", "false", "no", "off")


def failure() -> str | None:
    """Why :func:`load` gave ``None`` (``None`` if it loaded the op, or was not called yet)."""
    return _state.get("failure")


def _reset() -> None:
    """Forget the decision (tests)."""
    with _lock:
        _state.clear()
