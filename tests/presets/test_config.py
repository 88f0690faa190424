"""Every preset's configuration: JSON ``get_config``, ``from_config``, pickle, ``repr`` and equality."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest

import melplug
from tests.presets._grid import make_preset
from tests.references.signals import make_signal


@pytest.mark.parametrize(
    "overrides",
    [
        ("whisper", {}),
        ("whisper", dict(num_mel_bins=128)),
        ("whisper", dict(sampling_rate=8000)),
        ("kaldi", {}),
        ("kaldi", dict(sampling_rate=44100, num_mel_bins=80)),
        ("kaldi", dict(dtype="float64", num_threads=1)),
    ],
    ids=["whisper", "whisper-128", "whisper-8k", "kaldi", "kaldi-44k-80", "kaldi-f64-1thread"],
)
def test_config_pickle_repr_eq(overrides):
    name, options = overrides
    fx = melplug.preset(name, **options)
    audio = make_signal("speech", 16001, fx.sampling_rate, seed=1).astype(np.float32)
    out = fx(audio)
    assert out.dtype == (np.float64 if options.get("dtype") == "float64" else np.float32)
    # get_config is JSON and round-trips through from_config
    config = fx.get_config()
    assert json.loads(json.dumps(config)) == config
    assert {k: config[k] for k in options} == options
    again = melplug.FeatureExtractor.from_config(json.loads(json.dumps(config)))
    assert type(again) is melplug.FeatureExtractor
    assert again == fx
    np.testing.assert_array_equal(again(audio), out)
    # pickle: equal, identical output
    restored = pickle.loads(pickle.dumps(fx))
    assert restored == fx
    assert restored.plan.num_mel_bins == fx.plan.num_mel_bins
    np.testing.assert_array_equal(restored(audio), out)
    # repr shows the configuration and rebuilds it
    text = repr(fx)
    assert text.startswith("FeatureExtractor(")
    assert f"num_mel_bins={fx.num_mel_bins!r}" in text
    assert eval(text, {"FeatureExtractor": melplug.FeatureExtractor}) == fx  # noqa: S307 - our own repr
    # equality is by configuration
    assert melplug.preset(name, **options) == fx
    assert fx != melplug.preset("kaldi" if name == "whisper" else "whisper")
    assert fx != melplug.preset(name, **{**options, "num_mel_bins": fx.num_mel_bins + 1})
    assert (fx == name) is False
    assert hash(fx) == hash(melplug.preset(name, **options))  # options are fixed: hashable, like eq


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("librosa", {}),
        ("librosa", dict(sampling_rate=16000, fft_length=1024)),
        ("torchaudio", {}),
        ("torchaudio", dict(sampling_rate=22051, num_mel_bins=64)),
        ("librosa-mfcc", {}),
        ("librosa-mfcc", dict(num_ceps=13, dtype="float64")),
        ("kaldi-mfcc", {}),
        ("kaldi-mfcc", dict(sampling_rate=8000, num_mel_bins=40, num_ceps=20)),
    ],
)
def test_config_pickle_round_trip(name, options):
    fx = make_preset(name, **options)
    audio = make_signal("speech", 16001, fx.sampling_rate, seed=1).astype(np.float32)
    out = fx(audio)
    config = fx.get_config()
    assert json.loads(json.dumps(config)) == config
    text = repr(fx)
    assert text.startswith("FeatureExtractor(")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*mel bands are empty", category=UserWarning)
        again = melplug.FeatureExtractor.from_config(json.loads(json.dumps(config)))
        assert eval(text, {"FeatureExtractor": melplug.FeatureExtractor}) == fx  # noqa: S307 - our own repr
    assert type(again) is melplug.FeatureExtractor
    assert again == fx
    np.testing.assert_array_equal(again(audio), out)
    restored = pickle.loads(pickle.dumps(fx))
    assert restored == fx
    np.testing.assert_array_equal(restored(audio), out)
    assert restored.num_features == fx.num_features
    assert fx != make_preset(name, **{**options, "num_mel_bins": fx.num_mel_bins + 1})
    if name.endswith("mfcc"):
        assert fx != make_preset(name, **{**options, "num_ceps": fx.num_ceps - 1})


def test_from_config_rejects_unknown_keys():
    config = melplug.preset("whisper").get_config()
    with pytest.raises(TypeError, match="feature_size"):
        melplug.FeatureExtractor.from_config({**config, "feature_size": 80})
