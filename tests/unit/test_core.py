"""The core layer (``melplug.core``): one home for the defaults, the functional form, output shapes, and the
options: fixed once built, pickled by name, validated per step.

Regression tests: the functional form's cache used to key on values that hash
equal (``512`` and ``512.0``, ``True`` and ``1``), so whether a call was
validated depended on the calls before it; ``compute_output_shape`` used to
raise ``TypeError`` for unknown sizes where Keras returns ``None`` frames.
"""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest

import melplug
from melplug import _config, _plan, core
from tests._util import make_audio

KW = dict(fft_length=512, sequence_length=400, sequence_stride=160, num_mel_bins=40, min_freq=0.0)


def test_one_home_for_the_defaults():
    params = inspect.signature(melplug.MelSpectrogram.__init__).parameters
    assert core.KERAS_DEFAULTS == {k: params[k].default for k in core.KERAS_DEFAULTS}
    assert list(core.KERAS_DEFAULTS) == [
        "fft_length",
        "sequence_stride",
        "sequence_length",
        "window",
        "sampling_rate",
        "num_mel_bins",
        "min_freq",
        "max_freq",
        "power_to_db",
        "top_db",
        "mag_exp",
        "min_power",
        "ref_power",
    ]
    assert list(core.EXTRA_DEFAULTS) == ["top_db_scope", "dtype", "on_nonfinite", "num_threads"]


# --------------------------------------------------------------------------- the functional form's cache


@pytest.mark.parametrize(
    "first, second", [({"fft_length": 512}, {"fft_length": 512.0}), ({"power_to_db": True}, {"power_to_db": 1})]
)
def test_functional_form_validates_whatever_was_called_before(first, second):
    x = make_audio((2000,))
    melplug.mel_spectrogram(x, num_mel_bins=40, **first)
    with pytest.raises(TypeError):
        melplug.mel_spectrogram(x, num_mel_bins=40, **second)
    with pytest.raises(TypeError):
        melplug.mel_spectrogram(x, num_mel_bins=40, **second)


# --------------------------------------------------------------------------- unknown sizes


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((2, None), (2, 40, None)),
        ((None,), (40, None)),
        ((None, None), (None, 40, None)),
        ((None, 16000), (None, 40, 101)),
    ],
)
def test_compute_output_shape_with_unknown_sizes(shape, expected):
    assert melplug.MelSpectrogram(**KW).compute_output_shape(shape) == expected


def test_unknown_sizes_as_keras(keras):
    layer = keras.layers.MelSpectrogram(num_mel_bins=40)
    mel = melplug.MelSpectrogram(num_mel_bins=40)
    for shape in [(2, None), (None,), (None, None)]:
        assert mel.compute_output_shape(shape) == tuple(layer.compute_output_shape(shape))


X = np.random.default_rng(0).standard_normal(4000).astype(np.float32)
SMALL = dict(fft_length=256, sequence_stride=128, num_mel_bins=20)


@pytest.mark.parametrize(("name", "value"), [("top_db", 10.0), ("num_threads", 3), ("num_mel_bins", 8)])
def test_options_are_read_only(name, value):
    # `m.top_db = 10` used to be accepted and ignored; `m.num_threads = 3` was used but not reported.
    mel = melplug.MelSpectrogram(**SMALL)
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


def test_pickles_of_the_positional_plan_era_still_load():
    # Before options were pickled by name, the state was {"config": ..., "plan": <positional MelPlan>}:
    # a Ray cluster with mixed versions must still load them, rebuilding the plan from the options.
    import copyreg

    for fx in (melplug.preset("kaldi-mfcc"), melplug.MelSpectrogram(**SMALL)):
        old_config = {k: v for k, v in fx.get_config().items() if k not in ("log_guard", "pad_frames_to")}
        old_state = {"config": old_config, "plan": tuple(range(41))}  # the plan is never read
        data = pickle.dumps((copyreg._reconstructor, (type(fx), object, None), old_state))
        rebuild, args, state = pickle.loads(data)
        clone = rebuild(*args)
        clone.__setstate__(state)
        assert clone == fx
        np.testing.assert_array_equal(clone(X), fx(X))
