"""What the four adapters share (``melplug._adapter.Adapter``), checked on each of them.

Configuration (the extractor nested under ``"extractor"``, ``from_config``
everywhere, the older flat layout still read), ``repr``/``==``/``replace``,
pickling, the output column's default, the thread policy, the output dtype
and the key/out_key of mapping elements.  Each adapter's engine translation
is tested in its own file.
"""

from __future__ import annotations

import importlib
import json
import pickle

import numpy as np
import pytest

import melplug
from tests._util import make_audio

KW = dict(num_mel_bins=40, fft_length=512, sequence_length=400, sequence_stride=160)
AUDIO = make_audio((4000,))
#: Per adapter: the options (other than defaults) the tests build it with.
OPTIONS = {
    "grain": {"key": "audio", "out_key": "mel"},
    "hf": {"column": "wav", "out_column": "fbank", "layout": "frames_mels", "multichannel": "raise"},
    "ray": {"column": "audio", "out_column": "feats", "rate_column": None},
    "tf": {"key": "audio", "out_key": "mel"},
}
NAMES = tuple(OPTIONS)


def _cls(name: str):
    return importlib.import_module(f"melplug.{name}").MelSpectrogram


@pytest.fixture(params=NAMES)
def name(request):
    pytest.importorskip({"hf": "datasets", "ray": "numpy", "grain": "grain", "tf": "tensorflow"}[request.param])
    return request.param


def _apply(name: str, adapter, audio: np.ndarray) -> np.ndarray:
    """One clip through the adapter, as its engine would hand it over; the output array."""
    if name == "grain":
        return adapter.map({"audio": audio})[adapter.out_key or "audio"]
    if name == "hf":
        return adapter({adapter.column: audio})[adapter.out_column]
    if name == "ray":
        return adapter({adapter.column: audio[None]})[adapter.out_column][0]
    import tensorflow as tf

    return adapter({"audio": tf.constant(audio)})[adapter.out_key or "audio"].numpy()


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("extractor", [None, "kaldi"])
def test_config_nests_the_extractor_and_round_trips(name, extractor):
    cls = _cls(name)
    args = {"extractor": extractor} if extractor else KW
    adapter = cls(**args, **OPTIONS[name])
    config = adapter.get_config()
    assert list(config) == ["extractor", *cls.OPTIONS]
    assert config["extractor"] == adapter.mel.get_config()
    assert {k: config[k] for k in OPTIONS[name]} == OPTIONS[name]
    again = cls.from_config(json.loads(json.dumps(config)))  # JSON-serialisable
    assert again == adapter and repr(again) == repr(adapter)
    assert type(again.mel) is type(adapter.mel)
    np.testing.assert_array_equal(_apply(name, again, AUDIO), _apply(name, adapter, AUDIO))


def test_from_config_reads_the_flat_layout(name):
    """Configs written by older versions: a MelSpectrogram's Keras keys beside the adapter's options."""
    cls = _cls(name)
    flat = {**melplug.MelSpectrogram(**KW).get_config(), **OPTIONS[name]}
    assert cls.from_config(flat) == cls(**KW, **OPTIONS[name])
    assert cls.from_config(melplug.MelSpectrogram(**KW).get_config()) == cls(**KW)  # a bare layer config


def test_from_config_errors(name):
    cls = _cls(name)
    config = cls(**KW).get_config()
    with pytest.raises(TypeError, match=r"unknown key\(s\) \['bogus'\] beside 'extractor'"):
        cls.from_config({**config, "bogus": 1})
    with pytest.raises(TypeError, match="must be a mapping"):
        cls.from_config([("extractor", {})])
    with pytest.raises(TypeError, match=r"config\['extractor'\] must be"):
        cls.from_config({"extractor": "kaldi"})


def test_repr_equality_and_replace(name):
    cls = _cls(name)
    adapter = cls(**KW, **OPTIONS[name])
    first = next(iter(cls.OPTIONS))
    assert repr(adapter).startswith(f"melplug.{name}.MelSpectrogram({first}={getattr(adapter, first)!r}, ")
    assert "num_mel_bins=40" in repr(adapter)
    assert adapter == cls(**KW, **OPTIONS[name]) and adapter != cls(**KW)
    changed = adapter.replace(num_mel_bins=32, num_threads=2)
    assert changed.mel == melplug.MelSpectrogram(**{**KW, "num_mel_bins": 32}, num_threads=2)
    assert changed != adapter and changed.replace(num_mel_bins=40, num_threads=None) == adapter
    assert adapter.replace(**{first: getattr(adapter, first)}) == adapter
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['hop'\]"):
        adapter.replace(hop=3)


@pytest.mark.parametrize("how", ["pickle", "cloudpickle", "dill"])
def test_pickles_to_an_equal_adapter_with_the_same_output(name, how):
    module = pytest.importorskip(how)
    adapter = _cls(name)(extractor="kaldi", **OPTIONS[name])
    payload = module.dumps(adapter)
    assert b"Dispatcher" not in payload  # configuration and arrays, never compiled code
    back = pickle.loads(payload) if how == "pickle" else module.loads(payload)
    assert back == adapter
    np.testing.assert_array_equal(_apply(name, back, AUDIO), _apply(name, adapter, AUDIO))


def test_extractor_and_keras_arguments_are_exclusive(name):
    with pytest.raises(TypeError, match="either extractor= or MelSpectrogram's arguments"):
        _cls(name)(num_mel_bins=40, extractor="whisper")
    with pytest.raises(TypeError, match="extractor must be a preset name"):
        _cls(name)(extractor=3)


# --------------------------------------------------------------------------- output column and dtype


@pytest.mark.parametrize("name", ["hf", "ray"])
def test_output_column_default(name):
    if name == "hf":
        pytest.importorskip("datasets")
    cls = _cls(name)
    assert cls(**KW).out_column == "mel"
    assert cls(extractor="keras").out_column == "mel"  # the preset is Keras' layer
    assert cls(extractor="kaldi").out_column == "input_features"  # what transformers models take
    assert cls(extractor=melplug.preset("whisper")).out_column == "input_features"
    assert cls(extractor="kaldi", out_column="fbank").out_column == "fbank"


def test_output_dtype_is_float32_unless_float64_is_forced(name):
    cls = _cls(name)
    audio64 = AUDIO.astype(np.float64)
    plain = cls(**KW, **OPTIONS[name])
    assert plain.output_dtype == np.float32
    assert _apply(name, plain, audio64).dtype == np.float32  # as Keras' layer: float32 whatever the input
    forced = cls(**KW, dtype="float64", **OPTIONS[name])
    assert forced.output_dtype == np.float64
    out = _apply(name, forced, AUDIO)
    assert out.dtype == np.float64
    want = melplug.MelSpectrogram(**KW, dtype="float64")(AUDIO)
    np.testing.assert_array_equal(out, want.T if name == "hf" else want)  # hf: layout="frames_mels"


def test_declared_dtypes_follow_the_rule():
    grain = pytest.importorskip("grain")
    pytest.importorskip("datasets")
    import melplug.grain
    import melplug.hf

    spec = grain.experimental.ShapeDtypeStruct(shape=(4000,), dtype=np.float64)
    assert melplug.grain.MelSpectrogram(**KW).output_spec(spec).dtype == np.float32
    assert melplug.grain.MelSpectrogram(**KW, dtype="float64").output_spec(spec).dtype == np.float64
    assert melplug.hf.MelSpectrogram(**KW, dtype="float64", layout="frames_mels").feature().dtype == "float64"
    assert melplug.hf.MelSpectrogram(**KW, layout="frames_mels").feature().dtype == "float32"


# --------------------------------------------------------------------------- threads


def test_explicit_num_threads_always_wins(name, monkeypatch):
    monkeypatch.setattr(melplug._parallel, "in_worker_process", lambda: True)
    adapter = _cls(name)(**KW, num_threads=3)
    assert adapter.num_threads == 3 and adapter.threads_per_call == 3


def test_thread_policy_hooks(monkeypatch):
    """num_threads=None: each engine's parallelism decides; elsewhere the core's default (None)."""
    pytest.importorskip("grain")
    pytest.importorskip("datasets")
    import melplug.grain
    import melplug.hf
    import melplug.ray

    grain_mel, hf_mel, ray_mel = (m.MelSpectrogram(**KW) for m in (melplug.grain, melplug.hf, melplug.ray))
    assert grain_mel.threads_per_call is None and hf_mel.threads_per_call is None
    assert ray_mel.threads_per_call is None
    monkeypatch.setattr(melplug.grain, "in_grain_worker", lambda: True)
    assert grain_mel.threads_per_call == 1  # Grain's worker processes are the parallelism
    monkeypatch.setattr(melplug._parallel, "in_worker_process", lambda: True)
    assert hf_mel.threads_per_call == 1  # map(num_proc=N)'s workers likewise
    for cpus, threads in ((2.5, 2), (0.5, 1), (None, None)):
        monkeypatch.setattr(melplug.ray, "assigned_cpus", lambda cpus=cpus: cpus)
        assert ray_mel.threads_per_call == threads  # Ray's CPU share, never the node's cores


def test_tf_thread_policy_one_in_graphs():
    tf = pytest.importorskip("tensorflow")
    import melplug.tf

    mel = melplug.tf.MelSpectrogram(**KW)
    seen = []

    @tf.function
    def traced():
        seen.append(mel.threads_per_call)
        return tf.constant(0)

    traced()
    assert mel.threads_per_call is None and seen == [1]  # eager: the core's default; graphs: one per call


# --------------------------------------------------------------------------- keys of mapping elements


def test_grain_and_tf_pick_keys_alike():
    pytest.importorskip("grain")
    tf = pytest.importorskip("tensorflow")
    import melplug.grain
    import melplug.tf

    for module, kind, array in ((melplug.grain, "mapping", np.zeros(400)), (melplug.tf, "dict", tf.zeros(400))):

        def call(element, module=module, **options):
            adapter = module.MelSpectrogram(**KW, **options)
            return adapter(element) if module is melplug.tf else adapter.map(element)

        with pytest.raises(TypeError, match=r"element is a dict with keys \['audio'\] but key=None; pass key="):
            call({"audio": array})
        with pytest.raises(ValueError, match=r"element has no key 'wav'; its keys are \['audio'\]"):
            call({"audio": array}, key="wav")
        with pytest.raises(TypeError, match=rf"key='wav' is set, so elements must be {kind}s"):
            call(array, key="wav")
        with pytest.raises(ValueError, match=rf"out_key='mel' needs key.*a {kind} element"):
            module.MelSpectrogram(**KW, out_key="mel")
        record = {"wav": array, "label": 3}
        out = call(record, key="wav", out_key="mel")
        assert set(out) == {"wav", "label", "mel"} and set(record) == {"wav", "label"}  # a new mapping
        assert set(call(record, key="wav")) == {"wav", "label"}  # out_key=None replaces the audio
