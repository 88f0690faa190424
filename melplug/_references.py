"""The transformers feature extractors melplug reproduces: their names, keys and constructor defaults (data only).

:mod:`melplug._transformers` turns a config of one of these into engine
options; :mod:`melplug.presets` names each one a preset; the adapters read
:data:`REFERENCES` for the reference's output and mask keys (an extractor's
``reference`` option).  Each class's ``defaults`` are the arguments of its
constructor that change its output, with the constructor's defaults
(transformers 5.25; ``tests/presets/test_transformers.py`` checks them
against the classes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["REFERENCES", "REFUSED", "Reference", "by_class", "check_reference"]


class Reference(NamedTuple):
    """One reference front-end.

    Attributes
    ----------
    cls : str
        Its transformers class (``feature_extractor_type`` in its config).
    output_key : str
        The key of its features in the reference's output.
    mask_key : str or None
        The key of its per-frame attention mask, where it returns one for a
        clip by default (``None``: it returns none).
    defaults : Mapping
        Its constructor's arguments that change the output, and their defaults.
    """

    cls: str
    output_key: str
    mask_key: str | None
    defaults: Mapping[str, Any]


_WHISPER = {"feature_size": 80, "sampling_rate": 16000, "hop_length": 160, "chunk_length": 30, "n_fft": 400}
_NEMO = {
    "feature_size": 80,
    "sampling_rate": 16000,
    "hop_length": 160,
    "n_fft": 512,
    "win_length": 400,
    "preemphasis": 0.97,
}

#: Preset name -> reference, for every transformers extractor melplug reproduces.
REFERENCES: dict[str, Reference] = {
    "whisper": Reference(
        "WhisperFeatureExtractor", "input_features", None, {**_WHISPER, "padding_value": 0.0, "dither": 0.0}
    ),
    "ast": Reference(
        "ASTFeatureExtractor",
        "input_values",
        None,
        {
            "sampling_rate": 16000,
            "num_mel_bins": 128,
            "max_length": 1024,
            "do_normalize": True,
            "mean": -4.2677393,
            "std": 4.5689974,
        },
    ),
    "w2v-bert": Reference(
        "SeamlessM4TFeatureExtractor",
        "input_features",
        "attention_mask",
        {"feature_size": 80, "sampling_rate": 16000, "num_mel_bins": 80, "padding_value": 0.0, "stride": 2},
    ),
    "speech-to-text": Reference(
        "Speech2TextFeatureExtractor",
        "input_features",
        "attention_mask",
        {
            "feature_size": 80,
            "sampling_rate": 16000,
            "num_mel_bins": 80,
            "padding_value": 0.0,
            "dither": 0.0,
            "do_ceptral_normalize": True,
            "normalize_means": True,
            "normalize_vars": True,
        },
    ),
    "parakeet": Reference(
        "ParakeetFeatureExtractor", "input_features", "attention_mask", {**_NEMO, "padding_value": 0.0}
    ),
    "cohere-asr": Reference(
        "CohereAsrFeatureExtractor",
        "input_features",
        "attention_mask",
        {
            **_NEMO,
            "feature_size": 128,
            "padding_value": 0.0,
            "dither": 1e-05,
            "max_audio_clip_s": 35.0,
            "overlap_chunk_second": 5.0,
        },
    ),
    "nemotron-asr-streaming": Reference(
        "NemotronAsrStreamingFeatureExtractor",
        "input_features",
        "attention_mask",
        {**_NEMO, "padding_value": 0.0, "mel_filters_dtype": "float32"},
    ),
    "gemma3n": Reference(
        "Gemma3nAudioFeatureExtractor",
        "input_features",
        "input_features_mask",
        {
            "feature_size": 128,
            "sampling_rate": 16000,
            "padding_value": 0.0,
            "frame_length_ms": 32.0,
            "hop_length_ms": 10.0,
            "min_frequency": 125.0,
            "max_frequency": 7600.0,
            "preemphasis": 0.97,
            "preemphasis_htk_flavor": True,
            "fft_overdrive": True,
            "dither": 0.0,
            "input_scale_factor": 1.0,
            "mel_floor": 1e-05,
            "per_bin_mean": None,
            "per_bin_stddev": None,
        },
    ),
    "qwen3-asr": Reference(
        "Qwen3ASRFeatureExtractor",
        "input_features",
        "attention_mask",
        {**_WHISPER, "feature_size": 128, "padding_value": 0.0, "dither": 0.0, "n_window": 50, "min_length": 8000},
    ),
    "voxtral-realtime": Reference(
        "VoxtralRealtimeFeatureExtractor",
        "input_features",
        None,
        {
            "feature_size": 128,
            "sampling_rate": 16000,
            "hop_length": 160,
            "n_fft": 400,
            "win_length": 400,
            "padding_value": 0.0,
            "global_log_mel_max": 1.5,
        },
    ),
    "phi4-multimodal": Reference(
        "Phi4MultimodalFeatureExtractor",
        "audio_input_features",
        None,
        {**_NEMO, "padding_value": 0.0, "mel_min_frequency": 0, "mel_max_frequency": 7690},
    ),
    "lasr": Reference(
        "LasrFeatureExtractor",
        "input_features",
        None,
        {"feature_size": 128, "sampling_rate": 16000, "hop_length": 160, "n_fft": 512, "win_length": 400},
    ),
    "granite-speech": Reference(
        "GraniteSpeechFeatureExtractor",
        "input_features",
        None,
        {"sampling_rate": 16000, "n_fft": 512, "win_length": 400, "hop_length": 160, "n_mels": 80},
    ),
    "fun-asr-nano": Reference(
        "FunAsrNanoFeatureExtractor",
        "input_features",
        "input_features_mask",
        {
            "feature_size": 80,
            "sampling_rate": 16000,
            "frame_length": 25,
            "frame_shift": 10,
            "num_frames_lfr": 7,
            "stride_lfr": 6,
            "window": "hamming",
            "padding_value": 0.0,
        },
    ),
    "granite-speech5": Reference(
        "GraniteSpeech5FeatureExtractor",
        "input_features",
        "attention_mask",
        {
            "num_mel_bins": 80,
            "sampling_rate": 16000,
            "n_fft": 512,
            "win_length": 400,
            "hop_length": 160,
            "delta_win_length": 3,
            "logmel_floor_db": 8.0,
            "padding_value": 0.0,
        },
    ),
    "moss-transcribe-diarize": Reference(
        "MossTranscribeDiarizeFeatureExtractor",
        "input_features",
        "input_features_mask",
        {**_WHISPER, "padding_value": 0.0, "dither": 0.0},
    ),
    "clvp": Reference(
        "ClvpFeatureExtractor",
        "input_features",
        None,
        {
            "feature_size": 80,
            "sampling_rate": 22050,
            "default_audio_length": 6,
            "hop_length": 256,
            "n_fft": 1024,
            "padding_value": 0.0,
            "mel_norms": None,
        },
    ),
    "inkling": Reference(
        "InklingFeatureExtractor",
        "input_features",
        "input_features_mask",
        {
            "feature_size": 80,
            "sampling_rate": 16000,
            "padding_value": 0.0,
            "audio_token_duration_s": 0.05,
            "window_size_multiplier": 2.0,
            "n_fft": None,
        },
    ),
}

#: transformers feature extractors melplug refuses, and why (its output is not a spectrogram melplug computes).
REFUSED: dict[str, str] = {
    "Wav2Vec2FeatureExtractor": "it returns the raw (normalised) waveform, not spectral features",
    "Gemma4UnifiedAudioFeatureExtractor": (
        "it returns the raw waveform cut into 640-sample tokens, not spectral features"
    ),
    "UnivNetFeatureExtractor": (
        "its magnitude is sqrt(|X|**2 + mel_floor), an additive guard melplug does not compute, and it returns "
        "random noise beside the features"
    ),
    "Dots3NoteFeatureExtractor": (
        "its max - 8 floor is taken over a whole 60 s chunk while its output keeps only 8 * ceil(n / 1280) "
        "frames of it; melplug floors over the frames it outputs"
    ),
    "ClapFeatureExtractor": "it crops long clips at random (rand_trunc) or fuses random crops",
    "EncodecFeatureExtractor": "it returns the raw waveform (a codec's input), not spectral features",
    "DacFeatureExtractor": "it returns the raw waveform (a codec's input), not spectral features",
}


def by_class(cls_name: str) -> str | None:
    """The preset name of transformers class ``cls_name``, or ``None``."""
    for name, ref in REFERENCES.items():
        if ref.cls == cls_name:
            return name
    return None


def check_reference(value) -> str | None:
    """An extractor's ``reference`` option: ``None`` or a name of :data:`REFERENCES`."""
    if value is None or (isinstance(value, str) and value in REFERENCES):
        return value
    raise ValueError(
        f"reference={value!r} is not a reference melplug reproduces; it must be None or one of "
        f"{', '.join(map(repr, REFERENCES))}"
    )
