"""Presets: the front-ends models are trained on, as configurations of :class:`melplug.FeatureExtractor`.

Each preset reproduces its reference library exactly (SPEC §5); the steps
below were read from the references' sources and are checked against them
by the test suite.  A preset is a function of the two overrides every
reference takes in its constructor (``sampling_rate``, ``num_mel_bins``),
returning engine options; any other engine option may be overridden too.

==========  ==========================================================================
name        reference
==========  ==========================================================================
keras       ``keras.layers.MelSpectrogram()`` (this is :class:`melplug.MelSpectrogram`)
whisper     transformers ``WhisperFeatureExtractor(feature_size=num_mel_bins)``, numpy path
kaldi       ``kaldi_native_fbank.OnlineFbank(FbankOptions())`` with ``dither = 0``
ast         transformers ``ASTFeatureExtractor()`` on its torchaudio path (``compliance.kaldi.fbank``)
w2v-bert    transformers ``SeamlessM4TFeatureExtractor()``, ``input_features`` only
==========  ==========================================================================
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._validate import check_int, check_real
from .core import FeatureExtractor, MelSpectrogram

__all__ = [
    "PRESETS",
    "adapter_config",
    "adapter_extractor",
    "adapter_from_config",
    "adapter_signature",
    "as_extractor",
    "extractor_from_config",
    "preset",
]

_F32_EPS = float(np.finfo(np.float32).eps)  # Kaldi's log floor


def _whisper(sampling_rate=16000, num_mel_bins=80) -> dict[str, Any]:
    sampling_rate = check_int("sampling_rate", sampling_rate, 1, "the whisper preset needs an integer rate >= 1 (Hz)")
    # transformers' WhisperFeatureExtractor: the clip is zero-padded or cut to 30 s *before* the
    # reflect centre padding; log10 of slaney-normalised slaney mels over 0-8000 Hz whatever the
    # rate; the last frame is dropped (output_frames) so the max - 8 floor is taken over the kept ones.
    n_samples = 30 * sampling_rate
    return dict(
        sampling_rate=sampling_rate,
        input_length=n_samples,
        framing="center",
        pad_mode="reflect",
        frame_length=400,
        hop_length=160,
        window="hann",
        window_periodic=True,
        num_mel_bins=num_mel_bins,
        mel_scale="slaney",
        mel_triangles="hz",
        mel_grid="integer",
        mel_norm="slaney",
        min_freq=0.0,
        max_freq=8000.0,
        empty_bands="ignore",
        log="log10",
        log_floor=1e-10,
        top_db=8.0,
        scale=0.25,
        offset=1.0,
        output_frames=n_samples // 160,
        layout="mels_frames",
    )


def _kaldi(sampling_rate=16000, num_mel_bins=23) -> dict[str, Any]:
    # kaldi-native-fbank FbankOptions(): 25/10 ms snip-edges frames, DC removal, pre-emphasis 0.97,
    # Povey window at the start of a power-of-two FFT buffer, power, Kaldi mels 20 Hz - Nyquist
    # (Nyquist bin excluded), ln with float32 eps floor, (frames, bins).
    check_real("sampling_rate", sampling_rate, "it must be a finite number > 0 (Hz)", minimum=0.0, strict=True)
    check_int("num_mel_bins", num_mel_bins, 3, "Kaldi needs at least 3 mel bins")
    return dict(
        sampling_rate=sampling_rate,
        framing="snip_edges",
        frame_unit="ms",
        frame_length=25.0,
        hop_length=10.0,
        fft_length="pow2",
        window="povey",
        window_periodic=False,
        window_position="start",
        remove_dc=True,
        preemphasis=0.97,
        num_mel_bins=num_mel_bins,
        mel_scale="kaldi",
        mel_triangles="mel",
        mel_grid="kaldi",
        min_freq=20.0,
        max_freq=None,
        empty_bands="raise",
        log="ln",
        log_floor=_F32_EPS,
        top_db=None,
        layout="frames_mels",
    )


def _ast(sampling_rate=16000, num_mel_bins=128) -> dict[str, Any]:
    # transformers' ASTFeatureExtractor, torchaudio path: torchaudio.compliance.kaldi.fbank(window_type="hanning",
    # num_mel_bins=128) = the kaldi steps with a symmetric Hann window (one band is empty at 16 kHz and stays
    # ln(eps), as there); rows zero-padded or cut to 1024, *then* (x + 4.2677393) / (2 * 4.5689974).
    mean, std = -4.2677393, 4.5689974
    options = _kaldi(sampling_rate, num_mel_bins)
    options.update(
        window="hann",
        empty_bands="ignore",
        output_frames=1024,
        pad_value=0.0,
        pad_before_scaling=True,
        scale=1.0 / (2.0 * std),
        offset=-mean / (2.0 * std),
    )
    return options


def _w2v_bert(sampling_rate=16000, num_mel_bins=80) -> dict[str, Any]:
    # transformers' SeamlessM4TFeatureExtractor (wav2vec-BERT 2.0), input_features: samples x 2**15, Kaldi's
    # steps with 400/160-sample frames at every rate and a 512 FFT, mels 20 Hz - sr // 2, ln, per-bin
    # normalisation over the clip (ddof 1), one zero frame after an odd count, pairs of frames stacked.
    options = _kaldi(sampling_rate, num_mel_bins)
    options.update(
        input_gain=2.0**15,
        frame_unit="samples",
        frame_length=400,
        hop_length=160,
        fft_length=512,
        max_freq=sampling_rate // 2,
        empty_bands="ignore",
        normalize=True,
        normalize_ddof=1,
        normalize_eps=1e-7,
        stack_frames=2,
    )
    return options


_BUILDERS = {"whisper": _whisper, "kaldi": _kaldi, "ast": _ast, "w2v-bert": _w2v_bert}
#: The preset names, in the order of SPEC §5's table.
PRESETS: tuple[str, ...] = ("keras", *_BUILDERS)


def preset(name: str, **overrides: Any) -> FeatureExtractor:
    """The feature extractor of preset ``name``, with options overridden.

    Parameters
    ----------
    name : str
        One of :data:`PRESETS`.
    **overrides
        ``sampling_rate`` and ``num_mel_bins`` go where the reference's
        constructor takes them (e.g. whisper's 30 s input follows the rate);
        other :class:`FeatureExtractor` options replace the preset's value.
        For ``"keras"`` the options are :class:`MelSpectrogram`'s.

    Examples
    --------
    >>> import numpy as np
    >>> import melplug
    >>> fx = melplug.preset("whisper")
    >>> fx(np.zeros(16000, np.float32)).shape
    (80, 3000)
    >>> melplug.preset("kaldi", num_mel_bins=80)(np.zeros(16000, np.float32)).shape
    (98, 80)
    >>> melplug.preset("keras") == melplug.MelSpectrogram()
    True
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"preset {name!r} is unknown; the presets are {', '.join(map(repr, PRESETS))}")
    cls = MelSpectrogram if name == "keras" else FeatureExtractor
    known = cls._config_keys()
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ValueError(
            f"preset {name!r} has no option {', '.join(map(repr, unknown))}; its overrides are {cls.__name__} "
            f"options: {', '.join(known)}"
        )
    if name == "keras":
        return MelSpectrogram(**overrides)
    reference = {k: overrides.pop(k) for k in ("sampling_rate", "num_mel_bins") if k in overrides}
    options = _BUILDERS[name](**reference)
    options.update(overrides)
    return FeatureExtractor(**options)


def as_extractor(extractor) -> FeatureExtractor:
    """``extractor=`` of the adapters: a preset name or a :class:`FeatureExtractor` (returned as is)."""
    if isinstance(extractor, str):
        return preset(extractor)
    if isinstance(extractor, FeatureExtractor):
        return extractor
    raise TypeError(
        f"extractor must be a preset name ({', '.join(map(repr, PRESETS))}) or a melplug.FeatureExtractor / "
        f"MelSpectrogram object; received {extractor!r} of type {type(extractor).__name__}"
    )


def extractor_from_config(config) -> FeatureExtractor:
    """The extractor a ``get_config()`` describes: engine options (``"framing"`` among them) or Keras' arguments."""
    cls = FeatureExtractor if "framing" in config else MelSpectrogram
    return cls.from_config(config)


def adapter_extractor(extractor, args: tuple, kwargs: dict) -> FeatureExtractor:
    """What an adapter computes: ``MelSpectrogram(*args, **kwargs)``, or ``extractor=`` (not both)."""
    if extractor is None:
        return MelSpectrogram(*args, **kwargs)
    if args or kwargs:
        raise TypeError(
            f"pass either extractor= or MelSpectrogram's arguments, not both; received extractor={extractor!r} "
            f"and {len(args)} positional, {sorted(kwargs)} keyword argument(s)"
        )
    return as_extractor(extractor)


def adapter_config(extractor: FeatureExtractor, own: dict[str, Any]) -> dict[str, Any]:
    """An adapter's ``get_config()``: a MelSpectrogram's keys flat (Keras' layout), others under ``"extractor"``.

    Nesting keeps an extractor's own keys (``layout``, ...) apart from the adapter's.
    """
    if isinstance(extractor, MelSpectrogram):
        return {**extractor.get_config(), **own}
    return {"extractor": extractor.get_config(), **own}


def adapter_from_config(config: Mapping[str, Any], defaults: Mapping[str, Any]):
    """Split an adapter config (:func:`adapter_config`) into ``(extractor, own options)``."""
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping (a dict from get_config()); received {type(config).__name__}")
    config = dict(config)
    own = {name: config.pop(name, default) for name, default in defaults.items()}
    core = config.pop("extractor") if isinstance(config.get("extractor"), Mapping) else config
    if core is not config and config:
        raise TypeError(f"config has unknown key(s) {sorted(config)} beside 'extractor'")
    return extractor_from_config(core), own


def adapter_signature(*names: str) -> inspect.Signature:
    """MelSpectrogram's signature plus ``extractor`` and the adapter's keyword-only ``names``, for ``help()``."""
    params = list(inspect.signature(MelSpectrogram.__init__).parameters.values())
    kw = inspect.Parameter.KEYWORD_ONLY
    extra = [inspect.Parameter("extractor", kw, default=None, annotation="str | FeatureExtractor | None")]
    extra += [inspect.Parameter(name, kw, default=None, annotation="Hashable | None") for name in names]
    return inspect.Signature([*params, *extra])
