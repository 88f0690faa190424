"""An extractor's options: fixed once built, pickled by name, validated per step (regressions)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import melplug
from melplug import _config, _plan, core

X = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
KW = dict(fft_length=256, sequence_stride=128, num_mel_bins=20)


@pytest.mark.parametrize(("name", "value"), [("top_db", 10.0), ("num_threads", 3), ("num_mel_bins", 8)])
def test_options_are_read_only(name, value):
    # `m.top_db = 10` used to be accepted and ignored; `m.num_threads = 3` was used but not reported.
    mel = melplug.MelSpectrogram(**KW)
    before = mel(X)
    with pytest.raises(AttributeError, match=rf"MelSpectrogram\.{name} cannot be set.*replace\({name}="):
        setattr(mel, name, value)
    assert getattr(mel, name) == mel.get_config()[name]
    np.testing.assert_array_equal(mel(X), before)
    changed = mel.replace(**{name: value})
    assert getattr(changed, name) == value and changed.get_config()[name] == value and changed != mel


def test_replace_refuses_unknown_options():
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['hop'\]"):
        melplug.preset("kaldi").replace(hop=3)


def test_equal_extractors_hash_alike():
    assert hash(melplug.preset("whisper")) == hash(melplug.preset("whisper"))
    assert len({melplug.preset("kaldi"), melplug.preset("kaldi"), melplug.preset("kaldi-mfcc")}) == 2


@pytest.mark.parametrize("name", ["keras", "whisper", "kaldi-mfcc", "w2v-bert"])
def test_pickles_carry_options_not_the_plan(name, monkeypatch):
    # Pickles used to carry the plan positionally, with no version: a cluster with mixed versions
    # mis-assigned fields.  Now they carry the options by name, and the loader builds the plan.
    fx = melplug.preset(name)
    data = pickle.dumps(fx)
    assert b"MelPlan" not in data and b"band_weights" not in data
    built = []
    real = _plan.build_plan
    monkeypatch.setattr(_plan, "build_plan", lambda config: built.append(1) or real(config))
    clone = pickle.loads(data)
    assert built == [1] and clone == fx
    for a, b, field in zip(clone.plan, fx.plan, fx.plan._fields, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=field)


@pytest.mark.parametrize("seed", [2**63, 2**64, -1])
def test_dither_seed_is_checked_at_construction(seed):
    # >= 2**63 used to overflow the packed plan (and disable the TF op), 2**63..2**64 compiled a second
    # kernel, >= 2**64 failed only at the first call.
    with pytest.raises(ValueError, match=r"dither_seed=.* is invalid: it must be an integer in \[0, 2\*\*63 - 1\]"):
        melplug.preset("kaldi", dither=1.0, dither_seed=seed)


def test_largest_dither_seed_works():
    fx = melplug.preset("kaldi", dither=1.0, dither_seed=2**63 - 1)
    assert np.isfinite(fx(X)).all()


def test_engine_defaults_are_keras_defaults():
    # keras_to_engine maps Keras' options onto the engine's defaults (read from the signature), not a
    # second table of defaults: the engine with its defaults computes Keras' layer.
    x = np.random.default_rng(1).standard_normal(20000).astype(np.float32)
    np.testing.assert_array_equal(melplug.FeatureExtractor()(x), melplug.MelSpectrogram()(x))
    engine = _config.keras_to_engine(_config.resolve({**core.KERAS_DEFAULTS, **core.EXTRA_DEFAULTS}))
    defaults = _config.engine_defaults()
    assert set(engine) == set(defaults)
    differ = {k for k in engine if engine[k] != defaults[k]}
    assert differ <= {"max_freq", "window_length"}, differ  # Keras resolves None to int(sr / 2) and fft_length


def test_each_step_family_validates_its_options():
    names = [check.__name__ for check, _ in _plan.ENGINE_STEPS]
    assert len(names) == len(set(names)) >= 10
    resolved = _plan.resolve_engine(_config.engine_defaults())
    assert list(resolved) == list(_config.engine_defaults())  # every option, in the signature's order
