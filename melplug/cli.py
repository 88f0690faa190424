"""The ``melplug`` command line: ``demo``, ``compute`` and ``plot``.

``melplug demo`` draws a mel spectrogram of synthetic audio; ``melplug
compute`` turns audio files and folders into ``.npy`` / ``.npz`` mel
spectrograms; ``melplug plot`` draws one.  See ``docs/cli.md``.

Only the standard library is imported at module level; NumPy's siblings
(soundfile, soxr, matplotlib) load inside the commands that need them, so
``melplug --help`` is fast.

Exit status: 0 success, 1 some inputs failed (each is reported, the others
are still written), 2 invalid arguments, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import __version__
from .core import KERAS_DEFAULTS, MelSpectrogram

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "demo_audio", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Suffixes found when a folder is searched (case-insensitive).  Files named
#: explicitly on the command line are read whatever their suffix.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
#: A batch closes at this many files or this many samples, whichever comes first.
BATCH_FILES = 64
BATCH_SAMPLES = 1 << 23
#: The settings used by ``compute`` are saved under this name in the output folder.
CONFIG_NAME = "melplug.json"


class UsageError(Exception):
    """Invalid arguments: reported argparse-style, exit status 2."""


class FileFailure(Exception):
    """One input could not be processed: reported by name and skipped."""


# --------------------------------------------------------------------------- argument parsing


def _none_or(convert, what: str):
    def parse(text: str):
        if text.strip().lower() == "none":
            return None
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} or 'none', got {text!r}") from None

    parse.__name__ = what  # argparse names the type in its messages
    return parse


def _number(text: str) -> int | float:
    """An int when the text is one (``16000``), else a float (``22050.5``)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _window(text: str) -> str | None:
    value = text.strip().lower()
    if value == "none":
        return None
    if value not in ("hann", "hamming"):
        raise argparse.ArgumentTypeError(f"expected hann, hamming or none, got {text!r}")
    return value


def _add_mel_arguments(parser: argparse.ArgumentParser) -> None:
    """Keras' arguments as flags, plus melplug's extras and ``--config``.

    Every default is ``SUPPRESS``, so a flag is present in the namespace only
    when given and can override ``--config``.
    """
    group = parser.add_argument_group(
        "mel spectrogram settings",
        textwrap.fill(
            "Keras' MelSpectrogram arguments (defaults as in keras.layers.MelSpectrogram). Flags given "
            "here override the same keys in --config.",
            76,
        ),
    )
    s = argparse.SUPPRESS
    group.add_argument(
        "--config",
        metavar="FILE.json",
        default=s,
        help="JSON holding a Keras MelSpectrogram layer's get_config() (or melplug's, e.g. the "
        f"{CONFIG_NAME} written by compute); keys name, trainable and a dtype policy are ignored",
    )
    group.add_argument("--fft-length", type=int, metavar="N", default=s, help="FFT size (default: 2048)")
    group.add_argument(
        "--sequence-stride", type=int, metavar="N", default=s, help="samples between frames (default: 512)"
    )
    group.add_argument(
        "--sequence-length",
        type=_none_or(int, "an integer"),
        metavar="N",
        default=s,
        help="window length, <= fft-length; 'none' means fft-length (default: none)",
    )
    group.add_argument(
        "--window",
        type=_window,
        metavar="{hann,hamming,none}",
        default=s,
        help="periodic window; 'none' is rectangular (default: hann)",
    )
    group.add_argument(
        "--sampling-rate",
        type=_number,
        metavar="HZ",
        default=s,
        help="the audio's sampling rate; files at another rate are reported, or converted with "
        "--resample (default: 16000)",
    )
    group.add_argument("--num-mel-bins", type=int, metavar="N", default=s, help="mel bands (default: 128)")
    group.add_argument(
        "--min-freq", type=float, metavar="HZ", default=s, help="lower edge of the lowest band (default: 20.0)"
    )
    group.add_argument(
        "--max-freq",
        type=_none_or(_number, "a number"),
        metavar="HZ",
        default=s,
        help="upper edge of the highest band; 'none' means sampling-rate / 2 (default: none)",
    )
    group.add_argument(
        "--power-to-db",
        action=argparse.BooleanOptionalAction,
        default=s,
        help="convert to decibels (default: yes; --no-power-to-db keeps mel power)",
    )
    group.add_argument(
        "--top-db",
        type=_none_or(float, "a number"),
        metavar="DB",
        default=s,
        help="floor at max - top-db; 'none' disables the floor (default: 80.0)",
    )
    group.add_argument(
        "--mag-exp",
        type=float,
        metavar="X",
        default=s,
        help="exponent of the magnitude: 2 power, 1 magnitude (default: 2.0)",
    )
    group.add_argument(
        "--min-power", type=float, metavar="X", default=s, help="clamp before the logarithm (default: 1e-10)"
    )
    group.add_argument(
        "--ref-power", type=float, metavar="X", default=s, help="reference power for 0 dB (default: 1.0)"
    )
    group.add_argument(
        "--top-db-scope",
        choices=("example", "batch"),
        default=s,
        help="where the top-db maximum is taken: per file (default) or per batch (as Keras)",
    )
    group.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default=s,
        help="compute and output dtype; audio is decoded in this dtype (default: float32)",
    )
    group.add_argument(
        "--num-threads",
        type=int,
        metavar="N",
        default=s,
        help="threads for the computation (default: all usable cores)",
    )


def _add_audio_arguments(parser: argparse.ArgumentParser, channels: Sequence[str]) -> None:
    group = parser.add_argument_group("reading audio")
    group.add_argument(
        "--channels",
        choices=channels,
        default="mean",
        help="multi-channel files: 'mean' averages the channels to mono (default; as librosa.to_mono does, and "
        "Hugging Face datasets' Audio(mono=True) did before datasets 4), 'first' keeps the first channel"
        + (
            ", 'all' computes every channel: output shape (channels, num_mel_bins, frames)" if "all" in channels else ""
        ),
    )
    group.add_argument(
        "--resample",
        action="store_true",
        help="convert files at another sampling rate to --sampling-rate with soxr (high quality) "
        "instead of reporting them",
    )


_KERAS_FLAGS = tuple(KERAS_DEFAULTS) + ("top_db_scope", "dtype", "num_threads")


def _read_config(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except OSError as exc:
        raise UsageError(f"cannot read --config {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"--config {path} is not valid JSON: {exc}") from None
    # keras.saving.serialize_keras_object() wraps the config: {"class_name": ..., "config": {...}}
    if isinstance(config, dict) and isinstance(config.get("config"), dict) and "class_name" in config:
        if config["class_name"] != "MelSpectrogram":
            raise UsageError(f"--config {path} describes a Keras {config['class_name']!r}, not a MelSpectrogram")
        config = config["config"]
    if not isinstance(config, dict):
        raise UsageError(
            f"--config {path} must hold a JSON object (a layer's get_config()); it holds a {type(config).__name__}"
        )
    return config


def _build_layer(args: argparse.Namespace) -> MelSpectrogram:
    """The MelSpectrogram from ``--config`` and the flags; invalid settings are a UsageError."""
    config = _read_config(args.config) if hasattr(args, "config") else {}
    config.update({key: getattr(args, key) for key in _KERAS_FLAGS if hasattr(args, key)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            layer = MelSpectrogram.from_config(config)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"invalid mel spectrogram settings: {exc}") from None
    for warning in caught:
        print(f"melplug: warning: {warning.message}", file=sys.stderr)
    return layer


def _paragraphs(*texts: str) -> str:
    """Wrap each paragraph for a raw-description help text (which keeps the examples' layout)."""
    return "\n\n".join(textwrap.fill(text, 78) for text in texts)


def build_parser(prog: str = "melplug") -> argparse.ArgumentParser:
    """The argument parser of the ``melplug`` command."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Keras-exact mel spectrograms computed by parallel Numba kernels.",
        epilog=f"Run '{prog} COMMAND --help' for a command's options. Exit status: 0 success, 1 some inputs "
        "failed, 2 invalid arguments, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"melplug {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    demo = sub.add_parser(
        "demo",
        formatter_class=formatter,
        help="draw the mel spectrogram of synthetic audio (a quick check that everything works)",
        description=_paragraphs(
            "Synthesise a few seconds of audio (a chirp, harmonics and noise), compute its mel spectrogram "
            "with Keras' default settings, print the shape and timings (the first call includes compiling the "
            "Numba kernels, or loading them from the disk cache), and write melplug_demo.png.",
        ),
        epilog="example:\n  melplug demo -o pictures/",
    )
    demo.add_argument(
        "-o", "--output", metavar="DIR", default=".", help="folder for melplug_demo.png (default: the current folder)"
    )
    demo.set_defaults(run=_run_demo, parser=demo)

    compute = sub.add_parser(
        "compute",
        formatter_class=formatter,
        help="compute mel spectrograms of audio files and folders",
        description=_paragraphs(
            "Compute the mel spectrogram of every audio file given, and of every .wav, .flac, .ogg and .mp3 "
            "file under the folders given (searched recursively; hidden names are skipped). Files are decoded "
            "to floats in [-1, 1] and computed in batches, each batch in one parallel call.",
            "Outputs mirror the input tree below the inputs' deepest common folder: data/a/x.wav -> "
            "OUT/a/x.npy, each of shape (num_mel_bins, frames). With --format npz, OUT is one .npz file "
            "keyed by the same relative paths without suffix ('a/x'). The settings are saved as JSON "
            f"(OUT/{CONFIG_NAME}, or OUT.json beside an .npz) and can be passed back with --config.",
            "Files that cannot be read, or are at another sampling rate (without --resample), are reported "
            "and skipped; the others are still written, and the exit status is 1.",
        ),
        epilog="examples:\n"
        "  melplug compute speech/ -o mels/\n"
        "  melplug compute a.wav b.flac -o mels/ --num-mel-bins 80 --fft-length 512 "
        "--sequence-length 400 --sequence-stride 160\n"
        "  melplug compute speech/ -o mels.npz --format npz --config keras_layer.json --resample",
    )
    compute.add_argument("paths", nargs="+", metavar="PATH", help="audio files and folders")
    compute.add_argument(
        "-o", "--output", metavar="OUT", required=True, help="output folder (--format npy) or .npz file (--format npz)"
    )
    compute.add_argument(
        "--format", choices=("npy", "npz"), default="npy", help="one .npy per input file (default), or a single .npz"
    )
    compute.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal and the run is long)",
    )
    compute.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    _add_audio_arguments(compute, ("mean", "first", "all"))
    _add_mel_arguments(compute)
    compute.set_defaults(run=_run_compute, parser=compute)

    plot = sub.add_parser(
        "plot",
        formatter_class=formatter,
        help="draw a mel spectrogram of an audio file or a saved .npy",
        description=_paragraphs(
            "Draw the mel spectrogram of INPUT as a PNG: time in seconds on x, mel bands labelled in Hz on y, "
            "a dB colour bar.",
            "INPUT is an audio file (its mel spectrogram is computed with the settings below) or a .npy of "
            "shape (num_mel_bins, frames) saved by 'melplug compute'; for a .npy the settings only label the "
            f"axes, so pass the ones it was computed with (--config OUT/{CONFIG_NAME}).",
        ),
        epilog="examples:\n"
        "  melplug plot speech/a.wav -o a.png\n"
        f"  melplug plot mels/a.npy --config mels/{CONFIG_NAME} -o a.png",
    )
    plot.add_argument("input", metavar="INPUT", help="an audio file or a .npy mel spectrogram")
    plot.add_argument(
        "-o",
        "--output",
        metavar="OUT.png",
        default=None,
        help="the PNG to write (default: INPUT's name with .png, in the current folder)",
    )
    plot.add_argument("--title", default=None, help="title above the picture (default: INPUT's file name)")
    _add_audio_arguments(plot, ("mean", "first"))
    _add_mel_arguments(plot)
    plot.set_defaults(run=_run_plot, parser=plot)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "melplug") -> int:
    """Run the ``melplug`` command line and return its exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after the program name (default: ``sys.argv[1:]``).
    prog : str
        Program name shown in help and errors.

    Returns
    -------
    int
        0 success, 1 some inputs failed, 2 invalid arguments, 130 interrupted.

    Examples
    --------
    >>> from melplug.cli import main
    >>> main(["--version"])
    melplug ...
    0
    """
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and argparse's own errors
        return _exit_status(exc)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.run(args)
    except UsageError as exc:
        try:
            args.parser.error(str(exc))
        except SystemExit as stop:
            return _exit_status(stop)
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `melplug demo | head -1`: the reader left; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return EXIT_USAGE  # not reached: parser.error() always exits


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return EXIT_OK
    return exc.code if isinstance(exc.code, int) else EXIT_USAGE


# --------------------------------------------------------------------------- reading audio


def _read_audio(path: Path, layer: MelSpectrogram, channels: str, resample: bool) -> np.ndarray:
    """Decode ``path`` as ``(channels, samples)`` C-contiguous, at the layer's rate; FileFailure if impossible."""
    import soundfile

    dtype = "float64" if layer.dtype == "float64" else "float32"
    try:
        data, rate = soundfile.read(path, dtype=dtype, always_2d=True)  # (samples, channels)
    except Exception as exc:  # libsndfile, format and OS errors all mean "unreadable"
        raise FileFailure(f"cannot read it as audio: {exc}") from None
    if data.shape[0] == 0:
        raise FileFailure("it holds no audio samples")
    if channels == "mean":
        data = data.mean(axis=1, keepdims=True, dtype=data.dtype)
    elif channels == "first":
        data = data[:, :1]
    if rate != layer.sampling_rate:
        if not resample:
            raise FileFailure(
                f"its sampling rate is {rate} Hz, not {layer.sampling_rate} Hz: pass --resample to convert it, "
                f"or --sampling-rate {rate} to compute at its own rate"
            )
        import soxr

        data = soxr.resample(data, rate, layer.sampling_rate)
        if data.shape[0] == 0:
            raise FileFailure(f"it is too short to resample from {rate} Hz to {layer.sampling_rate} Hz")
    if not np.isfinite(data).all():
        raise FileFailure("it contains NaN or Inf samples")
    return np.ascontiguousarray(data.T)


# --------------------------------------------------------------------------- progress


class _Progress:
    """A plain-text progress bar on a stream, drawn only once a run has lasted ``delay`` seconds."""

    def __init__(self, total: int, enabled: bool, stream: TextIO, *, delay: float = 1.0) -> None:
        self.total = total
        self.enabled = enabled
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.delay = delay if self.tty else 0.0
        self.start = time.perf_counter()
        self.last = -1.0
        self.shown = False

    def update(self, done: int, failed: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        elapsed = now - self.start
        finished = done >= self.total
        if elapsed < self.delay and not (finished and self.shown):
            return
        if not finished and now - self.last < (0.1 if self.tty else 2.0):
            return
        self.last = now
        width = 30
        filled = int(width * done / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        text = f"[{bar}] {done}/{self.total} files"
        if failed:
            text += f", {failed} failed"
        text += f", {elapsed:.1f} s"
        if 0 < done < self.total:
            text += f", about {elapsed * (self.total - done) / done:.0f} s left"
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.shown = True

    def message(self, text: str) -> None:
        """Print a line (an error report) without breaking the bar."""
        if self.shown and self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()
        self.last = -1.0  # redraw the bar at the next update

    def close(self) -> None:
        if self.shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- compute


@dataclass(frozen=True)
class _Job:
    source: Path  # the input file
    key: str  # its path relative to the common root, without suffix, with '/' separators


def _collect(paths: Sequence[str]) -> list[_Job]:
    """Input files (explicit files, and audio files under folders) with their output keys."""
    found: dict[str, Path] = {}  # absolute path -> path as given
    roots = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            roots.append(os.path.abspath(path))
            for folder, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # prune hidden folders
                for name in sorted(names):
                    child = Path(folder, name)
                    if not name.startswith(".") and child.suffix.lower() in AUDIO_SUFFIXES and child.is_file():
                        found.setdefault(os.path.abspath(child), child)
        elif path.exists():
            roots.append(os.path.dirname(os.path.abspath(path)))
            found.setdefault(os.path.abspath(path), path)
        else:
            raise UsageError(f"{given}: no such file or folder")
    if not found:
        return []
    try:
        root = os.path.commonpath(roots)
    except ValueError:  # paths on different drives (Windows)
        raise UsageError("the inputs have no common folder (different drives); run them separately") from None
    jobs: dict[str, _Job] = {}
    for absolute, path in found.items():
        key = Path(os.path.relpath(absolute, root)).with_suffix("").as_posix()
        if key in jobs:
            raise UsageError(
                f"{jobs[key].source} and {path} would both be written as {key!r}; rename one, or compute them "
                "into different outputs"
            )
        jobs[key] = _Job(path, key)
    return sorted(jobs.values(), key=lambda job: job.key)


def _read_batches(jobs, layer, channels, resample) -> Iterator[list[tuple[_Job, np.ndarray | str]]]:
    """Batches of (job, audio of shape (channels, samples) or an error message)."""
    batch: list[tuple[_Job, np.ndarray | str]] = []
    samples = 0
    for job in jobs:
        try:
            audio = _read_audio(job.source, layer, channels, resample)
            samples += audio.size
            batch.append((job, audio))
        except FileFailure as exc:
            batch.append((job, str(exc)))
        if len(batch) >= BATCH_FILES or samples >= BATCH_SAMPLES:
            yield batch
            batch, samples = [], 0
    if batch:
        yield batch


def _compute_batch(layer, batch, channels):
    """Mel spectrograms of a batch in one ragged call; returns (job, mel or error message) pairs."""
    loaded = [(job, audio) for job, audio in batch if not isinstance(audio, str)]
    clips = [row for _, audio in loaded for row in audio]
    try:
        mels = layer(clips) if clips else []
    except (ValueError, TypeError):
        mels = None  # isolate the culprit below (the reading checks should make this unreachable)
    results: dict[str, np.ndarray | str] = {}
    start = 0
    for job, audio in loaded:
        count = audio.shape[0]
        try:
            parts = mels[start : start + count] if mels is not None else layer(list(audio))
        except (ValueError, TypeError) as exc:
            results[job.key] = f"cannot compute its mel spectrogram: {exc}"
        else:
            results[job.key] = np.stack(parts) if channels == "all" else parts[0]
        start += count
    return [(job, audio if isinstance(audio, str) else results[job.key]) for job, audio in batch]


def _save_npy(path: Path, array: np.ndarray) -> None:
    from .plot import _atomic_write

    _atomic_write(path, lambda f: np.save(f, array))


def _save_json(path: Path, config: dict) -> None:
    from .plot import _atomic_write

    text = json.dumps(config, indent=2) + "\n"
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _run_compute(args: argparse.Namespace) -> int:
    layer = _build_layer(args)
    out = Path(args.output)
    if args.format == "npz":
        if out.suffix.lower() != ".npz":
            out = out.with_name(out.name + ".npz")
        if out.is_dir():
            raise UsageError(f"-o {out} is a folder; with --format npz, OUT is the .npz file to write")
        config_path = out.with_suffix(".json")
    else:
        if out.exists() and not out.is_dir():
            raise UsageError(f"-o {out} is a file; with --format npy, OUT is a folder (use --format npz for one file)")
        config_path = out / CONFIG_NAME
    jobs = _collect(args.paths)
    if not jobs:
        print("melplug: no audio files found (searched folders for " + ", ".join(AUDIO_SUFFIXES) + ")", file=sys.stderr)
        return EXIT_FAILED
    try:
        import soundfile  # noqa: F401
    except ImportError:
        raise UsageError("reading audio needs soundfile: pip install 'melplug[cli]'") from None
    if args.resample:
        try:
            import soxr  # noqa: F401
        except ImportError:
            raise UsageError("--resample needs soxr: pip install 'melplug[cli]'") from None

    show = (sys.stderr.isatty() if args.progress is None else args.progress) and not args.quiet
    progress = _Progress(len(jobs), show, sys.stderr, delay=1.0 if args.progress is None else 0.0)
    started = time.perf_counter()
    failures: list[tuple[Path, str]] = []
    arrays: dict[str, np.ndarray] = {}
    done = 0
    batches = _read_batches(jobs, layer, args.channels, args.resample)
    try:
        # Decode the next batch on a second thread while this one is computed.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="melplug-read") as reader:
            pending = reader.submit(next, batches, None)
            try:
                while (batch := pending.result()) is not None:
                    pending = reader.submit(next, batches, None)
                    for job, result in _compute_batch(layer, batch, args.channels):
                        if isinstance(result, np.ndarray):
                            if args.format == "npz":
                                arrays[job.key] = result
                            else:
                                target = out / (job.key + ".npy")
                                try:
                                    _save_npy(target, result)
                                except OSError as exc:
                                    result = f"cannot write {target}: {exc.strerror or exc}"
                        if isinstance(result, str):
                            failures.append((job.source, result))
                            progress.message(f"melplug: {job.source}: {result}")
                        done += 1
                    progress.update(done, len(failures))
            finally:
                pending.cancel()
    finally:
        batches.close()  # the reader thread has finished: the executor waited for it
    progress.close()

    written = len(jobs) - len(failures)
    try:
        if args.format == "npz" and arrays:
            _atomic_npz(out, arrays)
        if written:
            _save_json(config_path, layer.get_config())
    except OSError as exc:
        print(f"melplug: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    elapsed = time.perf_counter() - started
    if not args.quiet:
        where = out if args.format == "npz" or not written else f"{out}{os.sep}"
        print(f"melplug: wrote {written} mel spectrogram{'s' * (written != 1)} to {where} in {elapsed:.2f} s")
    if failures:
        print(
            f"melplug: {len(failures)} of {len(jobs)} file{'s' * (len(jobs) != 1)} failed (reported above) "
            f"and {'were' if len(failures) > 1 else 'was'} skipped",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def _atomic_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    from .plot import _atomic_write

    _atomic_write(path, lambda f: np.savez(f, **arrays))


# --------------------------------------------------------------------------- plot


def _plot_kwargs(layer: MelSpectrogram) -> dict[str, Any]:
    return dict(
        sampling_rate=layer.sampling_rate,
        sequence_stride=layer.sequence_stride,
        min_freq=layer.min_freq,
        max_freq=layer.max_freq,
        db=layer.power_to_db,
    )


def _run_plot(args: argparse.Namespace) -> int:
    from .plot import plot_mel

    layer = _build_layer(args)
    source = Path(args.input)
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    if source.suffix.lower() == ".npy":
        try:
            mel = np.load(source, allow_pickle=False)
        except (OSError, ValueError) as exc:
            print(f"melplug: {source}: cannot read it as a .npy array: {exc}", file=sys.stderr)
            return EXIT_FAILED
        if mel.ndim == 3 and mel.shape[0] == 1:
            mel = mel[0]
        if mel.ndim != 2:
            raise UsageError(
                f"{source} has shape {mel.shape}; plot draws one spectrogram of shape "
                "(num_mel_bins, frames) (for --channels all output, save one channel: a[i])"
            )
        if mel.shape[0] != layer.num_mel_bins:
            raise UsageError(
                f"{source} has {mel.shape[0]} mel bands but num_mel_bins={layer.num_mel_bins}; pass "
                "the settings it was computed with (--config FILE.json or --num-mel-bins and others)"
            )
    else:
        try:
            import soundfile  # noqa: F401
        except ImportError:
            raise UsageError("reading audio needs soundfile: pip install 'melplug[cli]'") from None
        try:
            audio = _read_audio(source, layer, args.channels, args.resample)
        except FileFailure as exc:
            print(f"melplug: {source}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        mel = layer(audio[0])
    out = Path(args.output) if args.output else Path(source.with_suffix(".png").name)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("plotting needs matplotlib: pip install 'melplug[cli]'") from None
    try:
        plot_mel(mel, out, title=args.title or source.name, **_plot_kwargs(layer))
    except OSError as exc:
        print(f"melplug: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    print(out)
    return EXIT_OK


# --------------------------------------------------------------------------- demo


def demo_audio(sampling_rate: int = 16000, seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """Deterministic test audio: a rising chirp, a harmonic tone, a noise burst and background noise.

    Parameters
    ----------
    sampling_rate : int > 0
        Samples per second.
    seconds : float > 0
        Duration.
    seed : int
        Seed of the noise.

    Returns
    -------
    ndarray of float32, shape (round(sampling_rate * seconds),)
        Samples in [-1, 1].

    Examples
    --------
    >>> from melplug.cli import demo_audio
    >>> audio = demo_audio(16000, 1.0)
    >>> audio.shape, audio.dtype, bool(abs(audio).max() <= 1)
    ((16000,), dtype('float32'), True)
    """
    n = int(round(sampling_rate * seconds))
    t = np.arange(n) / sampling_rate
    nyquist = sampling_rate / 2
    # Exponential chirp 100 Hz -> 0.85 Nyquist over the whole clip.
    f0, f1 = 100.0, 0.85 * nyquist
    k = np.log(f1 / f0) / seconds
    chirp = 0.3 * np.sin(2 * np.pi * f0 * np.expm1(k * t) / k)
    # A 220 Hz tone with 8 decaying harmonics in the middle half, with soft edges.
    gate = np.clip(np.minimum(t - 0.25 * seconds, 0.75 * seconds - t) / 0.05, 0.0, 1.0)
    tone = sum(0.25 / h * np.sin(2 * np.pi * 220.0 * h * t) for h in range(1, 9) if 220.0 * h < nyquist)
    rng = np.random.default_rng(seed)
    noise = 0.01 * rng.standard_normal(n)
    burst = ((t > 0.82 * seconds) & (t < 0.9 * seconds)) * 0.2 * rng.standard_normal(n)
    audio = chirp + gate * tone + noise + burst
    audio /= max(1.0, float(np.abs(audio).max()))
    return audio.astype(np.float32)


def _compile_note() -> str:
    """Whether the first call compiled the kernels or loaded them from Numba's disk cache."""
    try:
        from . import _kernels

        misses = hits = 0
        for value in vars(_kernels).values():
            stats = getattr(value, "stats", None)
            if stats is not None and hasattr(stats, "cache_misses"):
                misses += sum(stats.cache_misses.values())
                hits += sum(stats.cache_hits.values())
    except Exception:  # Numba internals: the note is optional
        misses = hits = 0
    if misses:
        return "includes compiling the kernels; they are now cached on disk for later runs"
    if hits:
        return "includes loading the compiled kernels from Numba's disk cache"
    return "includes compiling or loading the kernels"


def _run_demo(args: argparse.Namespace) -> int:
    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"-o {out_dir} is a file; demo writes melplug_demo.png into a folder")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("the demo's picture needs matplotlib: pip install 'melplug[cli]'") from None
    from .plot import plot_mel

    sampling_rate, seconds = 16000, 4.0
    audio = demo_audio(sampling_rate, seconds)
    layer = MelSpectrogram()  # Keras' defaults
    print(
        f"melplug {__version__} demo: {seconds:g} s of synthetic audio at {sampling_rate} Hz "
        "(chirp + harmonics + noise)"
    )
    print(
        f"settings: Keras defaults (fft_length={layer.fft_length}, sequence_stride={layer.sequence_stride}, "
        f"num_mel_bins={layer.num_mel_bins}, window={layer.window!r})"
    )
    t0 = time.perf_counter()
    mel = layer(audio)
    t1 = time.perf_counter()
    layer(audio)
    t2 = time.perf_counter()
    first, warm = t1 - t0, t2 - t1
    print(
        f"mel spectrogram: shape {mel.shape} (num_mel_bins, frames), {mel.dtype}, "
        f"{float(mel.min()):.1f} to {float(mel.max()):.1f} dB"
    )
    print(f"first call:  {_format_seconds(first)}  ({_compile_note()})")
    print(f"second call: {_format_seconds(warm)}  (warm: {seconds / warm:,.0f}x faster than real time)")
    path = plot_mel(
        mel, out_dir / "melplug_demo.png", title="melplug demo: Keras-default mel spectrogram", **_plot_kwargs(layer)
    )
    print(f"wrote {path}")
    return EXIT_OK


def _format_seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 1.0 else f"{value * 1000:.1f} ms"
