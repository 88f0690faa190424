"""The references of the transformers presets, per clip: the extractors themselves where they run without torch,
else the float64 ports of their torch paths (``tests/references/hf_*_ports.py``).

Each entry is ``preset name -> (reference(clip, config) -> dict, its float64 path or None)``: the dict holds the
reference's output keys for one clip, batch axis removed.  A reference whose numpy path runs (Gemma 3n, Clvp,
Moss, Whisper, SeamlessM4T, Speech2Text) is the transformers class itself, called on a batch of one clip with
torch hidden, as ``tests/references/libraries.py`` calls Whisper.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

from tests.references import hf_nemo_ports, hf_torchaudio_ports, hf_whisper_ports

REASON = "the transformers presets' references are transformers' extractors (melplug[test])"

_MODULES = {
    "whisper": ("whisper", "WhisperFeatureExtractor"),
    "w2v-bert": ("seamless_m4t", "SeamlessM4TFeatureExtractor"),
    "speech-to-text": ("speech_to_text", "Speech2TextFeatureExtractor"),
    "gemma3n": ("gemma3n", "Gemma3nAudioFeatureExtractor"),
    "moss-transcribe-diarize": ("moss_transcribe_diarize", "MossTranscribeDiarizeFeatureExtractor"),
    "clvp": ("clvp", "ClvpFeatureExtractor"),
}


def transformers_class(name: str):
    """The transformers class of preset ``name`` (skips without transformers)."""
    module, cls = _MODULES[name]
    mod = pytest.importorskip(f"transformers.models.{module}.feature_extraction_{module}", reason=REASON)
    return mod, getattr(mod, cls)


def _numpy_reference(name: str):
    def run(clip, **config):
        mod, cls = transformers_class(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fe = cls(**config)
        with pytest.MonkeyPatch.context() as mp:
            for attr in ("is_torch_available", "is_speech_available"):
                if hasattr(mod, attr):
                    mp.setattr(mod, attr, lambda: False)
            kwargs = {"sampling_rate": fe.sampling_rate, "return_tensors": "np"}
            out = fe([np.asarray(clip)], **kwargs)
        return {k: np.asarray(v)[0] for k, v in out.items()}

    return run


#: preset name -> reference(clip, **config) -> {key: per-clip array}
REFERENCE_CALLS = {
    "whisper": _numpy_reference("whisper"),
    "w2v-bert": _numpy_reference("w2v-bert"),
    "speech-to-text": _numpy_reference("speech-to-text"),
    "gemma3n": _numpy_reference("gemma3n"),
    "moss-transcribe-diarize": _numpy_reference("moss-transcribe-diarize"),
    "clvp": _numpy_reference("clvp"),
    "speech-to-text-64": hf_torchaudio_ports.speech_to_text,
    "parakeet": hf_nemo_ports.parakeet,
    "cohere-asr": lambda clip, **c: hf_nemo_ports.cohere_asr(clip, **{"dither": 0.0, **c}),
    "nemotron-asr-streaming": hf_nemo_ports.nemotron_asr_streaming,
    "inkling": hf_nemo_ports.inkling,
    "qwen3-asr": lambda clip, **c: hf_whisper_ports.qwen3_asr(clip, return_attention_mask=True, **c),
    "voxtral-realtime": lambda clip, **c: hf_whisper_ports.voxtral_realtime(clip, return_attention_mask=True, **c),
    "lasr": lambda clip, **c: hf_whisper_ports.lasr(clip, return_attention_mask=True, **c),
    "phi4-multimodal": hf_whisper_ports.phi4_multimodal,
    "granite-speech": hf_torchaudio_ports.granite_speech,
    "granite-speech5": hf_torchaudio_ports.granite_speech5,
    "fun-asr-nano": hf_torchaudio_ports.fun_asr_nano,
}

#: The references computed in float64 (the ports): melplug's float64 output is held to float64 round-off there.
FLOAT64_REFERENCES = {
    "speech-to-text-64",
    "parakeet",
    "cohere-asr",
    "nemotron-asr-streaming",
    "inkling",
    "qwen3-asr",
    "voxtral-realtime",
    "lasr",
    "phi4-multimodal",
    "granite-speech",
    "granite-speech5",
    "fun-asr-nano",
}


def gemma3n_float64(clip, **config) -> dict:
    """Gemma 3n's own steps (``_extract_spectrogram``) on the float64 clip after its padding: its float64 path."""
    _, cls = transformers_class("gemma3n")
    fe = cls(**config)
    fe.window = 0.5 * (1 - np.cos(2 * np.pi * np.arange(fe.frame_length) / fe.frame_length))  # float32 there
    x = np.asarray(clip, dtype=np.float64)[:480000]
    n = x.shape[0]
    padded = np.zeros(-(-n // 128) * 128)
    padded[:n] = x
    mask = np.zeros(padded.shape[0], dtype=np.int32)
    mask[:n] = 1
    features, mask = fe._extract_spectrogram(padded, mask)
    return {"input_features": features, "input_features_mask": mask}


REFERENCE_CALLS["gemma3n-64"] = gemma3n_float64
FLOAT64_REFERENCES.add("gemma3n-64")


def reference(name: str, clip, **config) -> dict:
    importlib.import_module("transformers")
    return REFERENCE_CALLS[name](clip, **config)
