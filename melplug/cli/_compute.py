"""``melplug compute``: audio files and folders to ``.npy`` / ``.npz`` mel spectrograms.

The steps, each a small function: build the layer from the flags, open the
output (:mod:`._outputs`, which owns the rule that nothing in an output may
disagree with its settings file), find the inputs (:mod:`._inputs`), then
decode batch *k + 1* on a second thread while batch *k* is computed in one
ragged call, store each result or report its failure, and print a summary.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..core import MelSpectrogram
from . import _inputs
from ._args import add_audio_arguments, add_mel_arguments, build_layer
from ._common import CONFIG_NAME, EXIT_FAILED, EXIT_OK, paragraphs, require
from ._inputs import AUDIO_SUFFIXES, Failure, Job
from ._outputs import Output, open_output


def add_parser(commands: Any) -> None:
    """The ``compute`` subcommand and its flags."""
    parser = commands.add_parser(
        "compute",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="compute mel spectrograms of audio files and folders",
        description=paragraphs(
            "Compute the mel spectrogram of every audio file given, and of every .wav, .flac, .ogg and .mp3 "
            "file under the folders given (searched recursively; hidden names are skipped). Files are decoded "
            "to floats in [-1, 1] and computed in batches, each batch in one parallel call.",
            "Outputs mirror the input tree below the inputs' deepest common folder: data/a/x.wav -> "
            "OUT/a/x.npy, each of shape (num_mel_bins, frames). With --format npz, OUT is one .npz file "
            "keyed by the same relative paths without suffix ('a/x'). The settings are saved as JSON "
            f"(OUT/{CONFIG_NAME}, or OUT.json beside an .npz) before the first output, and can be passed "
            "back with --config.",
            "An output already holding results made with other settings is refused (--overwrite clears it "
            "first). Files that cannot be read, or are at another sampling rate (without --resample), are "
            "reported and have no output (an older output of theirs is removed); the others are still "
            "written, and the exit status is 1.",
        ),
        epilog="examples:\n"
        "  melplug compute speech/ -o mels/\n"
        "  melplug compute a.wav b.flac -o mels/ --num-mel-bins 80 --fft-length 512 "
        "--sequence-length 400 --sequence-stride 160\n"
        "  melplug compute speech/ -o mels.npz --format npz --config keras_layer.json --resample",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files and folders")
    parser.add_argument(
        "-o", "--output", metavar="OUT", required=True, help="output folder (--format npy) or .npz file (--format npz)"
    )
    parser.add_argument(
        "--format", choices=("npy", "npz"), default="npy", help="one .npy per input file (default), or a single .npz"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="remove the output's previous results (every .npy below OUT, or OUT.npz) before computing; "
        "without it, an output holding results made with other settings is refused",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal and the run is long)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    add_audio_arguments(parser, ("mean", "first", "all"))
    add_mel_arguments(parser, presets=True)
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    """Run ``compute``; the exit status."""
    layer = build_layer(args)
    output = open_output(args.output, args.format, layer.get_config())
    jobs, failures = _inputs.collect(args.paths)
    if not jobs and not failures:
        print("melplug: no audio files found (searched folders for " + ", ".join(AUDIO_SUFFIXES) + ")", file=sys.stderr)
        return EXIT_FAILED
    _check_dependencies(args)
    try:
        output.prepare(args.overwrite)
    except OSError as exc:
        print(f"melplug: cannot write {output.config_path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    started = time.perf_counter()
    with _Reporter(args, len(jobs)) as reporter, contextlib.closing(_results(jobs, layer, args)) as results:
        for failure in failures:
            reporter.failed(failure)
        for job, result in results:  # on Ctrl-C, closing() stops the reader thread before main() reports it
            _store(output, job, result, reporter)
    try:
        output.finish()
    except OSError as exc:
        print(f"melplug: cannot write {output.target}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    return _summary(args, output, len(jobs), reporter.failures, time.perf_counter() - started)


def _check_dependencies(args: argparse.Namespace) -> None:
    require("soundfile", "reading audio")
    if args.resample:
        require("soxr", "--resample")
    if args.progress:
        require("tqdm", "--progress")


# --------------------------------------------------------------------------- computing


def _results(jobs: list[Job], layer: MelSpectrogram, args: argparse.Namespace) -> Iterator[tuple[Job, Any]]:
    """(job, mel or the reason it failed) for every job, in order; reading runs one batch ahead."""
    batches = _inputs.read_batches(jobs, layer, args.channels, args.resample)
    with contextlib.closing(batches), contextlib.closing(_read_ahead(batches)) as ready:
        for batch in ready:
            yield from _compute_batch(layer, batch, args.channels)


def _read_ahead(batches: Iterator[list]) -> Iterator[list]:
    """The items of ``batches``, the next one decoded on a second thread while the caller works on this one."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="melplug-read") as reader:
        pending = reader.submit(next, batches, None)
        try:
            while (batch := pending.result()) is not None:
                pending = reader.submit(next, batches, None)
                yield batch
        finally:
            pending.cancel()  # then the executor waits for a read in progress


def _compute_batch(layer: MelSpectrogram, batch: list[tuple[Job, Any]], channels: str) -> list[tuple[Job, Any]]:
    """Mel spectrograms of a batch in one ragged call: (job, mel or the reason it failed) pairs."""
    loaded = [(job, audio) for job, audio in batch if not isinstance(audio, str)]
    clips = [row for _, audio in loaded for row in audio]
    try:
        mels = layer(clips) if clips else []
    except (ValueError, TypeError):
        mels = None  # isolate the culprit below (the reading checks should make this unreachable)
    results: dict[str, Any] = {}
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


def _store(output: Output, job: Job, result: Any, reporter: _Reporter) -> None:
    """Write a result, or remove the input's previous output when it failed; report failures."""
    if isinstance(result, np.ndarray):
        try:
            output.write(job.key, result)
        except OSError as exc:
            result = f"cannot write {output.location(job.key)}: {exc.strerror or exc}"
    if isinstance(result, str):
        try:
            output.discard(job.key)
        except OSError as exc:
            result += f"; its previous output {output.location(job.key)} could not be removed: {exc.strerror or exc}"
        reporter.failed(Failure(job.source, result, job.key))
    reporter.advance()


# --------------------------------------------------------------------------- messages


class _Reporter:
    """Failure lines on stderr and, when wanted, a tqdm progress bar they do not break."""

    def __init__(self, args: argparse.Namespace, total: int) -> None:
        self.failures: list[Failure] = []
        self.bar = _progress_bar(args, total)

    def __enter__(self) -> _Reporter:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.bar is not None:
            self.bar.close()

    def failed(self, failure: Failure) -> None:
        self.failures.append(failure)
        text = f"melplug: {failure.source}: {failure.reason}"
        if self.bar is None:
            print(text, file=sys.stderr, flush=True)
        else:
            self.bar.write(text, file=sys.stderr)
            self.bar.set_postfix_str(f"{len(self.failures)} failed", refresh=False)

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)


def _progress_bar(args: argparse.Namespace, total: int):
    """A tqdm bar on stderr, or ``None``: shown with --progress, or on a terminal after a second; never with -q."""
    tty = sys.stderr.isatty()
    if args.quiet or not (tty if args.progress is None else args.progress):
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # only reached without --progress (checked earlier): no bar then
        return None
    return tqdm(
        total=total,
        file=sys.stderr,
        unit="file",
        delay=1.0 if args.progress is None else 0.0,
        mininterval=0.1 if tty else 2.0,  # a log file gets a line every few seconds
        dynamic_ncols=True,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} files [{elapsed}<{remaining}{postfix}]",
    )


def _summary(args: argparse.Namespace, output: Output, total: int, failures: list[Failure], elapsed: float) -> int:
    folders = sum(1 for f in failures if f.key is None)
    failed = len(failures) - folders
    written = total - failed
    if not args.quiet:
        print(f"melplug: wrote {written} mel spectrogram{'s' * (written != 1)} to {output.target} in {elapsed:.2f} s")
    if failed:
        print(
            f"melplug: {failed} of {total} file{'s' * (total != 1)} failed (reported above) and "
            f"{'have' if failed > 1 else 'has'} no output",
            file=sys.stderr,
        )
    if folders:
        print(
            f"melplug: {folders} folder{'s' * (folders != 1)} could not be searched (reported above)", file=sys.stderr
        )
    return EXIT_FAILED if failures else EXIT_OK
