"""The ``melplug`` command line: ``demo``, ``compute`` and ``plot``.

``melplug demo`` draws a mel spectrogram of synthetic audio; ``melplug
compute`` turns audio files and folders into ``.npy`` / ``.npz`` mel
spectrograms; ``melplug plot`` draws one.  See ``docs/cli.md``.

A front-end over the public core (:class:`melplug.MelSpectrogram`), one
module per concern:

* ``_args``: the flags shared by ``compute`` and ``plot`` (their help takes
  each default from :data:`melplug.core.KERAS_DEFAULTS`) and ``--config``;
* ``_inputs``: finding and decoding input files (through
  :mod:`melplug._audio`) and batching them;
* ``_outputs``: the output folder or ``.npz`` and its settings file.  The
  rule: nothing in an output disagrees with its settings file.  The settings
  are written before the first result; an output holding results made with
  other settings is refused unless ``--overwrite`` clears it; an input that
  fails has no output (an older one is removed);
* ``_compute``, ``_plot``, ``_demo``: the three commands.

Only the standard library and NumPy are imported at start-up; soundfile,
soxr, tqdm and matplotlib load inside the commands that need them, so
``melplug --help`` is fast.

Exit status: 0 success, 1 some inputs failed (each is reported, the others
are still written), 2 invalid arguments (nothing is written), 130
interrupted (the results already written are complete and described by the
settings file).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from . import _compute, _demo, _plot
from ._common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError
from ._demo import demo_audio

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "demo_audio", "main"]

#: Exit status when stdout is closed early (``melplug demo | head -1``), as a shell reports SIGPIPE.
_EXIT_BROKEN_PIPE = 141


def build_parser(prog: str = "melplug") -> argparse.ArgumentParser:
    """The argument parser of the ``melplug`` command.

    Examples
    --------
    >>> from melplug.cli import build_parser
    >>> args = build_parser().parse_args(["compute", "speech/", "-o", "mels/", "--num-mel-bins", "80"])
    >>> args.command, args.paths, args.num_mel_bins
    ('compute', ['speech/'], 80)
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Keras-exact mel spectrograms computed by parallel Numba kernels.",
        epilog=f"Run '{prog} COMMAND --help' for a command's options. Exit status: 0 success, 1 some inputs "
        "failed, 2 invalid arguments, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"melplug {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in (_demo, _compute, _plot):
        command.add_parser(commands)
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
    except BrokenPipeError:  # the reader left; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return _EXIT_BROKEN_PIPE
    return EXIT_USAGE  # not reached: parser.error() always exits


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return EXIT_OK
    return exc.code if isinstance(exc.code, int) else EXIT_USAGE
