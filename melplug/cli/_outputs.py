"""Where ``compute`` writes, and how an output never disagrees with its metadata.

Two kinds of output, one policy:

* ``--format npy``: a folder ``OUT/`` with one ``.npy`` per input and the
  settings in ``OUT/melplug.json``;
* ``--format npz``: one file ``OUT.npz`` and the settings in ``OUT.json``.

The policy (also in ``docs/cli.md``):

1. **Settings first.**  The settings file is written (atomically) before the
   first mel spectrogram, so whatever a run leaves behind, even after Ctrl-C,
   is described by it.
2. **One set of settings per output.**  If the output already holds results
   made with other settings (its settings file differs, ``num_threads``
   aside, or cannot be read; or ``.npy`` files / an ``.npz`` exist without a
   settings file), the run stops before writing anything (exit status 2)
   unless ``--overwrite`` is given, which first removes every ``.npy`` below
   ``OUT/`` (or ``OUT.npz``).  Results made with the same settings are kept
   and added to.
3. **A failed input has no output.**  When an input cannot be read, computed
   or written, a previous output of it (made with the same settings from
   older audio) is removed, so that the outputs are exactly this run's
   results for this run's inputs.  An ``.npz`` is rewritten whole at the end
   with this run's results only.
4. **Every file is written atomically** (:mod:`melplug._io`): complete or
   absent, never half-written.
"""

from __future__ import annotations

import abc
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import _io
from ._common import CONFIG_NAME, UsageError

#: Config keys that do not change any value (left out when settings are compared).
_NOT_SETTINGS = ("num_threads",)


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as it reads back from JSON, less the keys that change no value."""
    return {k: v for k, v in json.loads(json.dumps(config)).items() if k not in _NOT_SETTINGS}


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = [k for k in {**old, **new} if old.get(k, "<missing>") != new.get(k, "<missing>")]
    shown = ", ".join(f"{k}={old.get(k, '<missing>')!r} there but {new.get(k, '<missing>')!r} now" for k in keys[:4])
    return shown + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")


class Output(abc.ABC):
    """Base of the two output kinds: the settings file and the conflict check."""

    config_path: Path
    target: str  # how the summary names the output

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def prepare(self, overwrite: bool) -> None:
        """Check for results made with other settings, clear them with ``overwrite``, write the settings."""
        if overwrite:
            self._remove_previous()
        else:
            self._check_previous()
        _io.save_json(self.config_path, self.config)

    def _check_previous(self) -> None:
        if not self.config_path.exists():
            orphans = self._previous_results()
            if orphans:
                raise UsageError(
                    f"{self.target} already holds {orphans} that no {self.config_path.name} describes, so their "
                    "settings are unknown; write to another output, or pass --overwrite to remove them first"
                )
            return
        try:
            old = json.loads(self.config_path.read_text(encoding="utf-8"))
            if not isinstance(old, dict):
                raise ValueError(f"it holds a {type(old).__name__}, not an object")
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"cannot read the settings of the existing output {self.config_path} ({exc}); write to another "
                "output, or pass --overwrite to remove its results first"
            ) from None
        old, new = _comparable(old), _comparable(self.config)
        if old != new:
            raise UsageError(
                f"{self.target} holds results computed with other settings ({_differences(old, new)}); write to "
                f"another output, pass the same settings (--config {self.config_path}), or pass --overwrite to "
                "remove its results first"
            )

    @abc.abstractmethod
    def _previous_results(self) -> str:
        """A description of results present without a settings file, or ``""``."""

    @abc.abstractmethod
    def _remove_previous(self) -> None:
        """Remove the results of earlier runs (``--overwrite``)."""

    @abc.abstractmethod
    def write(self, key: str, mel: np.ndarray) -> None:
        """Store the result of input ``key`` (``OSError`` if it cannot be written)."""

    @abc.abstractmethod
    def discard(self, key: str) -> None:
        """Make sure input ``key`` has no output (it failed in this run)."""

    def finish(self) -> None:  # noqa: B027 - optional hook: only the .npz writes at the end
        """Write what is written at the end (``OSError`` if it cannot be written)."""

    @abc.abstractmethod
    def location(self, key: str) -> str:
        """Where input ``key``'s result goes, for messages."""


class NpyFolder(Output):
    """``--format npy``: ``OUT/key.npy`` per input, settings in ``OUT/melplug.json``."""

    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        if folder.exists() and not folder.is_dir():
            raise UsageError(
                f"-o {folder} is a file; with --format npy, OUT is a folder (use --format npz for one file)"
            )
        super().__init__(config)
        self.folder = folder
        self.config_path = folder / CONFIG_NAME
        self.target = f"{folder}{os.sep}"

    def _npy_files(self) -> list[Path]:
        return sorted(self.folder.rglob("*.npy")) if self.folder.is_dir() else []

    def _previous_results(self) -> str:
        count = len(self._npy_files())
        return f"{count} .npy file{'s' * (count != 1)}" if count else ""

    def _remove_previous(self) -> None:
        for path in self._npy_files():
            _io.remove_file(path)

    def location(self, key: str) -> str:
        return str(self.folder / (key + ".npy"))

    def write(self, key: str, mel: np.ndarray) -> None:
        _io.save_npy(self.folder / (key + ".npy"), mel)

    def discard(self, key: str) -> None:
        _io.remove_file(self.folder / (key + ".npy"))


class NpzFile(Output):
    """``--format npz``: one ``OUT.npz`` keyed by input, written at the end; settings in ``OUT.json``."""

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        if path.suffix.lower() != ".npz":
            path = path.with_name(path.name + ".npz")
        if path.is_dir():
            raise UsageError(f"-o {path} is a folder; with --format npz, OUT is the .npz file to write")
        super().__init__(config)
        self.path = path
        self.config_path = path.with_suffix(".json")
        self.target = str(path)
        self.arrays: dict[str, np.ndarray] = {}

    def _previous_results(self) -> str:
        return str(self.path) if self.path.exists() else ""

    def _remove_previous(self) -> None:
        _io.remove_file(self.path)

    def location(self, key: str) -> str:
        return f"{self.path}[{key!r}]"

    def write(self, key: str, mel: np.ndarray) -> None:
        self.arrays[key] = mel

    def discard(self, key: str) -> None:
        self.arrays.pop(key, None)  # the .npz is rewritten whole: an older entry disappears with it

    def finish(self) -> None:
        _io.save_npz(self.path, self.arrays)


def open_output(path: str, fmt: str, config: dict[str, Any]) -> Output:
    """The output named by ``-o`` and ``--format``; a :class:`UsageError` if it is the wrong kind of path."""
    return NpzFile(Path(path), config) if fmt == "npz" else NpyFolder(Path(path), config)
