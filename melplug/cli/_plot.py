"""``melplug plot``: a PNG of one mel spectrogram, from an audio file or a saved ``.npy``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .. import _audio
from ..core import MelSpectrogram
from ._args import add_audio_arguments, add_mel_arguments, build_layer
from ._common import CONFIG_NAME, EXIT_FAILED, EXIT_OK, UsageError, paragraphs, require
from ._inputs import read_audio


def add_parser(commands: Any) -> None:
    """The ``plot`` subcommand and its flags."""
    parser = commands.add_parser(
        "plot",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="draw a mel spectrogram of an audio file or a saved .npy",
        description=paragraphs(
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
    parser.add_argument("input", metavar="INPUT", help="an audio file or a .npy mel spectrogram")
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT.png",
        default=None,
        help="the PNG to write (default: INPUT's name with .png, in the current folder)",
    )
    parser.add_argument("--title", default=None, help="title above the picture (default: INPUT's file name)")
    add_audio_arguments(parser, ("mean", "first"))
    add_mel_arguments(parser)
    parser.set_defaults(run=run, parser=parser)


def plot_kwargs(layer: MelSpectrogram) -> dict[str, Any]:
    """The :func:`melplug.plot.plot_mel` arguments that describe ``layer``'s axes."""
    return dict(
        sampling_rate=layer.sampling_rate,
        sequence_stride=layer.sequence_stride,
        min_freq=layer.min_freq,
        max_freq=layer.max_freq,
        db=layer.power_to_db,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``plot``; the exit status."""
    layer = build_layer(args)
    source = Path(args.input)
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    is_npy = source.suffix.lower() == ".npy"
    require("matplotlib", "plotting")
    if not is_npy:
        require("soundfile", "reading audio")
        if args.resample:
            require("soxr", "--resample")
    try:
        mel = _load_npy(source, layer) if is_npy else layer(read_audio(source, layer, args.channels, args.resample)[0])
    except _audio.AudioError as exc:
        print(f"melplug: {exc}", file=sys.stderr)
        return EXIT_FAILED
    from ..plot import plot_mel

    out = Path(args.output) if args.output else Path(source.with_suffix(".png").name)
    try:
        plot_mel(mel, out, title=args.title or source.name, **plot_kwargs(layer))
    except OSError as exc:
        print(f"melplug: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    print(out)
    return EXIT_OK


def _load_npy(source: Path, layer: MelSpectrogram) -> np.ndarray:
    """A saved ``(num_mel_bins, frames)`` array that fits the settings."""
    try:
        mel = np.load(source, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise _audio.AudioError(str(source), f"cannot read it as a .npy array: {exc}") from None
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
    return mel
