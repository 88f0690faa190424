"""melplug's TensorFlow custom op: built from ``melplug_op.cc`` on first use, cached per user.

:func:`load` compiles the op's source with the C++ compiler (``$CXX``, split
like a shell word list so ``CXX="ccache g++"`` works; else ``g++``) and
TensorFlow's ``tf.sysconfig`` flags into ``$MELPLUG_TF_OP_CACHE`` (default
``$XDG_CACHE_HOME/melplug/tfop``, else ``~/.cache/melplug/tfop``), under a
name keyed by TensorFlow's version, the machine and CPU, the C library, the
compiler's identity and a hash of the source and flags.  A build writes a
temporary file and renames it into place (processes building at once are
safe) and is given :data:`BUILD_TIMEOUT` seconds.  Later processes load the
cached library; one that fails to load (damaged, or built elsewhere) is
rebuilt once.  :func:`load` returns the loaded op module, or ``None`` with
the reason in :func:`failure` (``MELPLUG_TF_OP=0``, no compiler, a failed
build or load).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
from functools import cache
from pathlib import Path

import tensorflow as tf

__all__ = ["BUILD_TIMEOUT", "cache_dir", "disabled", "failure", "library_path", "load"]

SOURCE = Path(__file__).with_name("melplug_op.cc")
#: Seconds a build of the op may take.
BUILD_TIMEOUT = 300
_lock = threading.Lock()
_state: dict = {}  # "module" or "failure", once decided


def _flags() -> list[str]:
    return ["-std=c++17", "-shared", "-fPIC", "-O2", "-w", *tf.sysconfig.get_compile_flags()]


def _compiler() -> list[str]:
    """``$CXX`` as a command (``"ccache g++"`` is two words), else ``g++``."""
    return shlex.split(os.environ.get("CXX") or "") or ["g++"]


@cache
def _compiler_identity(command: tuple[str, ...]) -> str:
    """The first line of ``<compiler> --version`` (``""`` if it does not run)."""
    try:
        proc = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0] if lines else ""


@cache
def _cpu() -> str:
    """The CPU's model name (Linux), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "cpu model", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def cache_dir() -> Path:
    """Where built op libraries are kept: ``$MELPLUG_TF_OP_CACHE``, else under the user's cache directory."""
    explicit = os.environ.get("MELPLUG_TF_OP_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "melplug" / "tfop"


def library_path() -> Path:
    """Where the op library for this TensorFlow, machine, compiler and source is (or will be) cached."""
    digest = hashlib.sha256(SOURCE.read_bytes())
    key = [
        *_flags(),
        *tf.sysconfig.get_link_flags(),
        platform.machine(),
        _cpu(),
        "-".join(platform.libc_ver()),
        _compiler_identity(tuple(_compiler())),
    ]
    digest.update("\0".join(key).encode())
    return cache_dir() / f"melplug_op-tf{tf.__version__}-{platform.machine()}-{digest.hexdigest()[:16]}.so"


def _run(cmd: list[str]) -> tuple[int, str]:
    """Run a build command for at most :data:`BUILD_TIMEOUT` seconds: ``(return code, stderr or stdout)``.

    It runs in its own process group, killed whole on timeout (the compiler's
    own subprocesses would otherwise keep running, and keep its pipes open).
    """
    pipe = subprocess.PIPE
    with subprocess.Popen(cmd, stdout=pipe, stderr=pipe, text=True, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise RuntimeError(f"building the op took more than {BUILD_TIMEOUT} s ({shlex.join(cmd)})") from None
    return proc.returncode, err or out


def _build(target: Path) -> None:
    """Compile the op into ``target`` (a temporary file renamed into place); ``RuntimeError`` on failure."""
    compiler = _compiler()
    if shutil.which(compiler[0]) is None:
        raise RuntimeError(f"no C++ compiler found ({' '.join(compiler)!r}; set CXX to one)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    cmd = [*compiler, *_flags(), str(SOURCE), "-o", tmp, *tf.sysconfig.get_link_flags()]
    try:
        returncode, output = _run(cmd)
        if returncode != 0:
            tail = "\n".join(output.strip().splitlines()[-12:])
            raise RuntimeError(f"building the op failed ({shlex.join(cmd)}):\n{tail}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)  # atomic: a concurrent build of the same source writes the same bytes
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load_library(path: Path):
    """The op module at ``path``, built first if missing, rebuilt once if the cached library does not load."""
    if not path.exists():
        _build(path)
        return tf.load_op_library(str(path))
    try:
        return tf.load_op_library(str(path))
    except Exception as exc:  # noqa: BLE001 - damaged, or built for another machine: rebuild it, once
        stale = f"{type(exc).__name__}: {exc}"
    _build(path)
    try:
        return tf.load_op_library(str(path))
    except Exception as exc:  # noqa: BLE001
        raise RuntimeError(
            f"the rebuilt op library {path} does not load either ({exc}; before the rebuild: {stale})"
        ) from exc


def load():
    """The op module (``tf.load_op_library``), built first if needed; ``None`` if unavailable (see :func:`failure`)."""
    with _lock:
        if not _state:
            if disabled():
                _state["failure"] = "MELPLUG_TF_OP=0 is set"
                return None
            try:
                _state["module"] = _load_library(library_path())
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
