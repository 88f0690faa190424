"""Flags shared by ``compute`` and ``plot``: the mel settings (and ``--config``) and how audio is read.

Each Keras argument is one flag whose help text takes its default from
:data:`melplug.core.KERAS_DEFAULTS` (melplug's extras from
:data:`melplug.core.EXTRA_DEFAULTS`), so the defaults have one home.  Every
flag's own default is ``SUPPRESS``: a flag is in the namespace only when
given, which lets it override the same key of ``--config``.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..core import EXTRA_DEFAULTS, KERAS_DEFAULTS, FeatureExtractor
from ._common import CONFIG_NAME, UsageError

__all__ = ["MEL_KEYS", "PRESET_KEYS", "add_audio_arguments", "add_mel_arguments", "build_layer", "read_config"]


# --------------------------------------------------------------------------- value parsers


def _none_or(convert: Callable[[str], Any], what: str) -> Callable[[str], Any]:
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


def _shown(value: Any) -> str:
    """A default as the flags spell it: ``none``, ``on``/``off``, or the value."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


# --------------------------------------------------------------------------- the mel settings


@dataclass(frozen=True)
class _Flag:
    key: str  # the MelSpectrogram argument
    help: str  # without the default, which is appended from KERAS_DEFAULTS / EXTRA_DEFAULTS
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    choices: Sequence[str] | None = None
    boolean: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")


_FLAGS = (
    _Flag("fft_length", "FFT size", int, "N"),
    _Flag("sequence_stride", "samples between frames", int, "N"),
    _Flag("sequence_length", "window length, <= fft-length; 'none' means fft-length", _none_or(int, "an integer"), "N"),
    _Flag("window", "periodic window; 'none' is rectangular", _window, "{hann,hamming,none}"),
    _Flag(
        "sampling_rate",
        "the audio's sampling rate; files at another rate are reported, or converted with --resample",
        _number,
        "HZ",
    ),
    _Flag("num_mel_bins", "mel bands", int, "N"),
    _Flag("min_freq", "lower edge of the lowest band", float, "HZ"),
    _Flag(
        "max_freq",
        "upper edge of the highest band; 'none' means sampling-rate / 2",
        _none_or(_number, "a number"),
        "HZ",
    ),
    _Flag("power_to_db", "convert to decibels; --no-power-to-db keeps mel power", boolean=True),
    _Flag("top_db", "floor at max - top-db; 'none' disables the floor", _none_or(float, "a number"), "DB"),
    _Flag("mag_exp", "exponent of the magnitude: 2 power, 1 magnitude", float, "X"),
    _Flag("min_power", "clamp before the logarithm", float, "X"),
    _Flag("ref_power", "reference power for 0 dB", float, "X"),
    _Flag(
        "top_db_scope",
        "where the top-db maximum is taken: per file, or per batch (as Keras)",
        choices=("example", "batch"),
    ),
)
_FLAG_OF = {spec.key: spec for spec in _FLAGS}

#: The MelSpectrogram arguments the flags can set (``on_nonfinite`` is not one:
#: the command line refuses NaN/Inf audio when it reads a file).
MEL_KEYS = (*KERAS_DEFAULTS, "top_db_scope", "dtype", "num_threads")


#: The flags that also apply to a preset other than keras (overrides every preset takes; see melplug.preset).
PRESET_KEYS = ("sampling_rate", "num_mel_bins", "fft_length", "sequence_stride", "dtype", "num_threads")


def add_mel_arguments(parser: argparse.ArgumentParser, *, presets: bool = False) -> None:
    """Keras' arguments as flags, plus melplug's extras, ``--config`` and (with ``presets``) ``--preset``."""
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
    defaults = {**KERAS_DEFAULTS, **EXTRA_DEFAULTS}
    for key in (*KERAS_DEFAULTS, "top_db_scope"):  # Keras' order; a new Keras argument needs a flag here
        spec = _FLAG_OF[key]
        text = f"{spec.help} (default: {_shown(defaults[spec.key])})"
        if spec.boolean:
            group.add_argument(spec.flag, action=argparse.BooleanOptionalAction, default=s, help=text)
        else:
            group.add_argument(
                spec.flag, type=spec.type, metavar=spec.metavar, choices=spec.choices, default=s, help=text
            )
    group.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default=s,
        help="compute and output dtype; audio is decoded in this dtype, float32 when not given",
    )
    group.add_argument(
        "--num-threads",
        type=int,
        metavar="N",
        default=s,
        help="threads for the computation; all usable cores when not given",
    )
    if presets:
        from ..presets import PRESETS

        group.add_argument(
            "--preset",
            choices=PRESETS,
            default=s,
            help="compute a model's front-end instead of Keras' layer (see docs/presets.md); with a preset other "
            "than keras only --sampling-rate, --num-mel-bins, --fft-length, --sequence-stride (the hop, in samples "
            "for every preset), --dtype and --num-threads apply",
        )


def add_audio_arguments(parser: argparse.ArgumentParser, channels: Sequence[str]) -> None:
    """``--channels`` (the policies in ``channels``) and ``--resample``."""
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


# --------------------------------------------------------------------------- building the layer


def read_config(path: str) -> dict[str, Any]:
    """The settings in a ``--config`` file: a layer's ``get_config()``, or Keras' serialised wrapper of it."""
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


def build_layer(args: argparse.Namespace) -> FeatureExtractor:
    """The extractor from ``--preset`` or ``--config`` and the flags; invalid settings are a :class:`UsageError`."""
    from .._adapter import extractor_from_config
    from ..presets import _hop_in_samples, preset

    name = getattr(args, "preset", "keras")
    given = {key: getattr(args, key) for key in MEL_KEYS if hasattr(args, key)}
    if name != "keras":
        if hasattr(args, "config"):
            raise UsageError(f"--preset {name} and --config are exclusive: a preset is a complete configuration")
        other = sorted(set(given) - set(PRESET_KEYS))
        if other:
            flags = ", ".join("--" + key.replace("_", "-") for key in other)
            raise UsageError(
                f"{flags} cannot be used with --preset {name}; a preset takes only --sampling-rate, "
                "--num-mel-bins, --fft-length, --sequence-stride, --dtype and --num-threads"
            )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if name != "keras":
                layer = preset(name, **given)
            else:
                config = read_config(args.config) if hasattr(args, "config") else {}
                if "framing" in config and given:  # an engine config (a preset's melplug.json)
                    config.update({k: v for k, v in given.items() if k in PRESET_KEYS and k != "sequence_stride"})
                    if "sequence_stride" in given:  # the hop in samples, as for --preset
                        config.update(_hop_in_samples(config, given["sequence_stride"]))
                else:
                    config.update(given)
                layer = extractor_from_config(config)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"invalid mel spectrogram settings: {exc}") from None
    for warning in caught:
        print(f"melplug: warning: {warning.message}", file=sys.stderr)
    return layer
