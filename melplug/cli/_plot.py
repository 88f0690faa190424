"""``melplug plot``: a PNG of one mel spectrogram (or cepstra), from an audio file or a saved ``.npy``.

The picture is described by the extractor's engine options (hop, sampling
rate, mel range and scale, logarithm), so it works for Keras' layer and for
every preset: frames-first outputs (kaldi's ``(frames, bins)``) are
transposed for drawing, stacked frames (w2v-bert) are unstacked, and MFCC
outputs are drawn as cepstra.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .. import _audio, _plan
from .._config import keras_to_engine
from ..core import FeatureExtractor, MelSpectrogram
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
            "Draw the mel spectrogram of INPUT as a PNG: time in seconds on x, mel bands labelled in Hz on y "
            "(cepstral coefficients by index for MFCC presets), a colour bar of the values.",
            "INPUT is an audio file (its features are computed with the settings below or --preset) or a .npy "
            "saved by 'melplug compute', of any preset's shape ((num_mel_bins, frames), kaldi's (frames, "
            "num_mel_bins), ...); for a .npy the settings only label the axes, so pass the ones it was computed "
            f"with (--config OUT/{CONFIG_NAME}).",
        ),
        epilog="examples:\n"
        "  melplug plot speech/a.wav -o a.png\n"
        "  melplug plot speech/a.wav --preset kaldi -o a.png\n"
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
    add_mel_arguments(parser, presets=True)
    parser.set_defaults(run=run, parser=parser)


def _engine(layer: FeatureExtractor) -> dict[str, Any]:
    """``layer``'s engine options (a MelSpectrogram's Keras arguments mapped to them)."""
    config = layer.get_config()
    return keras_to_engine(config) if isinstance(layer, MelSpectrogram) else config


def plot_kwargs(layer: FeatureExtractor) -> dict[str, Any]:
    """The :func:`melplug.plot.plot_mel` arguments that describe ``layer``'s axes and values."""
    engine = _engine(layer)
    rate = engine["sampling_rate"]
    cepstra = engine["num_ceps"] is not None
    log = engine["log"]
    rescaled = engine["normalize"] or engine["scale"] != 1.0 or engine["offset"] != 0.0
    what = "mel power" if engine["magnitude_power"] == 2.0 else "mel magnitude"
    if cepstra:
        label = "Cepstral coefficient"
    elif log is None:
        label = what.capitalize()
    elif log == "db" and not rescaled:
        label = "Power (dB)"
    else:
        label = f"Log {what} ({'dB' if log == 'db' else log})"
    if rescaled and not cepstra:
        label += ", normalised" if engine["normalize"] else ", scaled"
    return dict(
        sampling_rate=rate,
        sequence_stride=_plan.samples(engine["hop_length"], engine["frame_unit"], rate),
        min_freq=engine["min_freq"],
        max_freq=engine["max_freq"],
        db=log == "db" and not rescaled and not cepstra,
        mel_scale=engine["mel_scale"],
        kind="cepstra" if cepstra else "mel",
        label=label,
    )


def drawable(values: np.ndarray, layer: FeatureExtractor) -> np.ndarray:
    """One example of ``layer``'s output as ``(num_features, frames)``: frames unstacked, frames-first transposed."""
    engine = _engine(layer)
    if engine["stack_frames"] > 1:  # (frames / k, k * M) -> (frames, M): each row holds k consecutive frames
        values = values.reshape(-1, layer.num_features)
    if engine["stack_frames"] > 1 or engine["layout"] == "frames_mels":
        values = values.T
    return values


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
        plot_mel(drawable(mel, layer), out, title=args.title or source.name, **plot_kwargs(layer))
    except OSError as exc:
        print(f"melplug: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    print(out)
    return EXIT_OK


def _load_npy(source: Path, layer: FeatureExtractor) -> np.ndarray:
    """A saved array of one example's output that fits the settings (its shape is ``layer``'s)."""
    try:
        mel = np.load(source, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise _audio.AudioError(str(source), f"cannot read it as a .npy array: {exc}") from None
    if mel.ndim == 3 and mel.shape[0] == 1:
        mel = mel[0]
    engine = _engine(layer)
    per_frame = "num_ceps" if engine["num_ceps"] is not None else "num_mel_bins"
    width, stack = layer.num_features, engine["stack_frames"]
    if stack > 1:
        expected, axis = f"(frames, {stack} stacked frames x {per_frame}={width})", 1
    elif engine["layout"] == "frames_mels":
        expected, axis = f"(frames, {per_frame}={width})", 1
    else:
        expected, axis = f"({per_frame}={width}, frames)", 0
    if mel.ndim != 2:
        raise UsageError(
            f"{source} has shape {mel.shape}; plot draws one example, of shape {expected} for these settings "
            "(for --channels all output, save one channel: a[i])"
        )
    if mel.shape[axis] != width * stack:
        raise UsageError(
            f"{source} has shape {mel.shape} but these settings give {expected}; pass the settings it was "
            f"computed with (--config FILE.json, e.g. the {CONFIG_NAME} compute wrote beside it, or --preset, "
            "--num-mel-bins and others)"
        )
    return mel
