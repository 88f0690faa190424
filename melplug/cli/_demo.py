"""``melplug demo``: the mel spectrogram of synthetic audio, a quick check that everything works."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..core import MelSpectrogram
from ._common import EXIT_OK, UsageError, paragraphs, require
from ._plot import plot_kwargs


def add_parser(commands: Any) -> None:
    """The ``demo`` subcommand and its flags."""
    parser = commands.add_parser(
        "demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="draw the mel spectrogram of synthetic audio (a quick check that everything works)",
        description=paragraphs(
            "Synthesise a few seconds of audio (a chirp, harmonics and noise), compute its mel spectrogram "
            "with Keras' default settings, print the shape and timings (the first call includes compiling the "
            "Numba kernels, or loading them from the disk cache), and write melplug_demo.png.",
        ),
        epilog="example:\n  melplug demo -o pictures/",
    )
    parser.add_argument(
        "-o", "--output", metavar="DIR", default=".", help="folder for melplug_demo.png (default: the current folder)"
    )
    parser.set_defaults(run=run, parser=parser)


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
        from .. import _kernels

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


def run(args: argparse.Namespace) -> int:
    """Run ``demo``; the exit status."""
    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"-o {out_dir} is a file; demo writes melplug_demo.png into a folder")
    require("matplotlib", "the demo's picture")
    from ..plot import plot_mel

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
        mel, out_dir / "melplug_demo.png", title="melplug demo: Keras-default mel spectrogram", **plot_kwargs(layer)
    )
    print(f"wrote {path}")
    return EXIT_OK


def _format_seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 1.0 else f"{value * 1000:.1f} ms"
