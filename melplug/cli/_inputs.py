"""The inputs of ``compute`` and ``plot``: finding audio files, decoding them, grouping them in batches.

Decoding and channel handling are :mod:`melplug._audio`'s; this module adds
what only the command line needs: searching folders, naming outputs after
their inputs, the sampling-rate policy (``--resample``) and batching.

A broken input is reported, never skipped in silence: a dangling symbolic
link with an audio suffix inside a searched folder becomes a job whose
decoding fails with a clear reason, and a folder that cannot be listed
becomes a failure of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _audio
from ..core import MelSpectrogram
from ._common import UsageError

#: Suffixes found when a folder is searched (case-insensitive).  Files named
#: explicitly on the command line are read whatever their suffix.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
#: A batch closes at this many files or this many samples, whichever comes first.
BATCH_FILES = 64
BATCH_SAMPLES = 1 << 23


@dataclass(frozen=True)
class Job:
    """One input file and the key of its output."""

    source: Path  # the input file, as found
    key: str  # its path relative to the common root, without suffix, with '/' separators


@dataclass(frozen=True)
class Failure:
    """An input that produced no output, and why."""

    source: Path
    reason: str
    key: str | None = None  # the job's key; None for a folder that could not be searched


# --------------------------------------------------------------------------- finding files


def collect(paths: Sequence[str]) -> tuple[list[Job], list[Failure]]:
    """Input files (explicit files, and audio files under folders) with their output keys.

    Returns the jobs sorted by key, and the folders that could not be searched.
    A path that does not exist is a :class:`UsageError`; so are two inputs
    whose outputs would have the same key.
    """
    found: dict[str, Path] = {}  # absolute path -> path as found
    roots: list[str] = []
    failures: list[Failure] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            roots.append(os.path.abspath(path))
            for child in _search(path, failures):
                found.setdefault(os.path.abspath(child), child)
        elif path.exists() or path.is_symlink():  # a broken link is reported when it is read
            roots.append(os.path.dirname(os.path.abspath(path)))
            found.setdefault(os.path.abspath(path), path)
        else:
            raise UsageError(f"{given}: no such file or folder")
    return _keyed(found, roots), failures


def _search(folder: Path, failures: list[Failure]) -> Iterator[Path]:
    """Audio files below ``folder``, hidden names skipped; folders that cannot be listed go to ``failures``."""

    def unreadable(exc: OSError) -> None:
        failures.append(Failure(Path(exc.filename or folder), f"cannot search this folder: {exc.strerror or exc}"))

    for parent, dirs, names in os.walk(folder, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # prune hidden folders
        for name in sorted(names):
            child = Path(parent, name)
            if name.startswith(".") or child.suffix.lower() not in AUDIO_SUFFIXES:
                continue
            if child.is_file() or child.is_symlink():  # a dangling link is an input that fails, not nothing
                yield child


def _keyed(found: dict[str, Path], roots: list[str]) -> list[Job]:
    if not found:
        return []
    try:
        root = os.path.commonpath(roots)
    except ValueError:  # paths on different drives (Windows)
        raise UsageError("the inputs have no common folder (different drives); run them separately") from None
    jobs: dict[str, Job] = {}
    for absolute, path in found.items():
        key = Path(os.path.relpath(absolute, root)).with_suffix("").as_posix()
        if key in jobs:
            raise UsageError(
                f"{jobs[key].source} and {path} would both be written as {key!r}; rename one, or compute them "
                "into different outputs"
            )
        jobs[key] = Job(path, key)
    return sorted(jobs.values(), key=lambda job: job.key)


# --------------------------------------------------------------------------- reading


def read_audio(path: Path, layer: MelSpectrogram, channels: str, resample: bool) -> np.ndarray:
    """Decode ``path`` as C-contiguous ``(channels, samples)`` at the layer's rate.

    ``channels`` is ``"mean"`` or ``"first"`` (one row) or ``"all"``.  Raises
    :class:`melplug._audio.AudioError` when the file cannot be used.
    """
    where = str(path)
    dtype = "float64" if layer.dtype == "float64" else "float32"
    data, rate = _audio.decode(path, where=where, dtype=dtype)
    data = _audio.select_channels(data, channels, where=where)
    if rate != layer.sampling_rate:
        if not resample:
            raise _audio.AudioError(
                where,
                f"its sampling rate is {rate} Hz, not {layer.sampling_rate} Hz: pass --resample to convert it, "
                f"or --sampling-rate {rate} to compute at its own rate",
            )
        data = _audio.resample(data, rate, layer.sampling_rate, where=where)
    _audio.check_finite(data, where=where)
    return np.ascontiguousarray(data)


def read_batches(
    jobs: Sequence[Job], layer: MelSpectrogram, channels: str, resample: bool
) -> Iterator[list[tuple[Job, np.ndarray | str]]]:
    """Batches of (job, audio of shape (channels, samples), or the reason it cannot be read)."""
    batch: list[tuple[Job, np.ndarray | str]] = []
    samples = 0
    for job in jobs:
        try:
            audio = read_audio(job.source, layer, channels, resample)
        except _audio.AudioError as exc:
            batch.append((job, exc.reason))
        else:
            samples += audio.size
            batch.append((job, audio))
        if len(batch) >= BATCH_FILES or samples >= BATCH_SAMPLES:
            yield batch
            batch, samples = [], 0
    if batch:
        yield batch
