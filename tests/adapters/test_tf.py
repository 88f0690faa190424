"""melplug.tf.MelSpectrogram in real tf.data pipelines, eagerly and in tf.function.

Outputs are compared with ``melplug.MelSpectrogram`` called directly (which tests/presets/test_keras.py checks
against Keras on the numpy backend), and, in a subprocess, with ``keras.layers.MelSpectrogram`` on the
TensorFlow backend inside tf.data (this test session imports Keras with the numpy backend, and Keras'
backend is fixed per process).  The integration script and the benchmark are smoke-tested at the end.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import pytest

tf = pytest.importorskip("tensorflow", reason="melplug.tf needs TensorFlow (melplug[tf])")

import numpy as np  # noqa: E402

import melplug  # noqa: E402
import melplug.tf  # noqa: E402
from tests._util import KERAS_DB_TOL, ROOT, make_audio, run_python  # noqa: E402

CONFIG = dict(num_mel_bins=40, fft_length=512, sequence_length=400, sequence_stride=160)
SAMPLES = 4000
FRAMES = 1 + SAMPLES // CONFIG["sequence_stride"]
AUTOTUNE = tf.data.AUTOTUNE


@pytest.fixture(autouse=True, params=["op", "numpy_function"])
def tf_path(request, monkeypatch):
    """Every test runs on both paths: the custom op (graphs) and tf.numpy_function (its fallback)."""
    if request.param == "numpy_function":
        monkeypatch.setenv("MELPLUG_TF_OP", "0")  # subprocesses too
        monkeypatch.setattr(melplug.tf, "_op", lambda: None)
    elif melplug.tf._op() is None:
        pytest.skip(f"the custom op is unavailable here: {melplug._tfop.failure()}")
    return request.param


@pytest.fixture(scope="module")
def core():
    mel = melplug.MelSpectrogram(**CONFIG)
    mel(make_audio((2, SAMPLES)))  # compile (or load) once
    return mel


@pytest.fixture(scope="module")
def clips():
    return make_audio((8, SAMPLES), seed=3)


def _slices(clips, **extra):
    if extra:
        return tf.data.Dataset.from_tensor_slices({"audio": clips, **extra})
    return tf.data.Dataset.from_tensor_slices(clips)


def _serial(ds):
    """One call at a time: stateful=False would otherwise let tf.data parallelise even a plain map."""
    options = tf.data.Options()
    options.experimental_optimization.map_parallelization = False
    options.deterministic = True
    return ds.with_options(options)


def _assert_same(actual, wanted):
    actual = actual.numpy() if hasattr(actual, "numpy") else actual
    assert actual.shape == wanted.shape
    assert actual.dtype == wanted.dtype
    np.testing.assert_array_equal(actual, wanted)


# --------------------------------------------------------------------------- maps


def test_element_wise_map_equals_numpy_api(core, clips):
    ds = _slices(clips).map(melplug.tf.MelSpectrogram(**CONFIG))
    assert ds.element_spec == tf.TensorSpec((CONFIG["num_mel_bins"], FRAMES), tf.float32)
    outs = list(ds)
    assert len(outs) == len(clips)
    for out, clip in zip(outs, clips, strict=True):
        _assert_same(out, core(clip))


@pytest.mark.parametrize("scope", ["example", "batch"])
def test_batched_map_equals_numpy_api(clips, scope):
    core = melplug.MelSpectrogram(**CONFIG, top_db_scope=scope)
    clips = clips.copy()
    clips[1] *= 1e-3  # a quiet clip: the batch floor differs from the per-example one
    ds = _slices(clips).batch(4).map(melplug.tf.MelSpectrogram(**CONFIG, top_db_scope=scope))
    assert ds.element_spec == tf.TensorSpec((None, CONFIG["num_mel_bins"], FRAMES), tf.float32)
    outs = list(ds)
    assert [o.shape[0] for o in outs] == [4, 4]
    for i, out in enumerate(outs):
        _assert_same(out, core(clips[4 * i : 4 * i + 4]))
    if scope == "batch":  # the floor really is the batch's (the test can tell the two scopes apart)
        assert not np.array_equal(outs[0].numpy()[1], melplug.MelSpectrogram(**CONFIG)(clips[1]))


def test_dict_elements_key_and_out_key(core, clips):
    labels = np.arange(len(clips))
    ds = _slices(clips, label=labels).batch(4)
    out_ds = ds.map(melplug.tf.MelSpectrogram(**CONFIG, key="audio", out_key="mel"))
    assert set(out_ds.element_spec) == {"audio", "label", "mel"}
    assert out_ds.element_spec["audio"] == ds.element_spec["audio"]
    first = next(iter(out_ds))
    _assert_same(first["mel"], core(clips[:4]))
    _assert_same(first["audio"], clips[:4])
    assert first["label"].numpy().tolist() == [0, 1, 2, 3]
    replaced = next(iter(ds.map(melplug.tf.MelSpectrogram(**CONFIG, key="audio"))))
    assert set(replaced) == {"audio", "label"}
    _assert_same(replaced["audio"], core(clips[:4]))


def test_autotune_parallel_map_equals_serial(clips):
    many = np.concatenate([clips, make_audio((24, SAMPLES), seed=4)])
    many[5, 100] = 1e3  # a loud click: per-example floors must not leak between concurrent calls
    mel = melplug.tf.MelSpectrogram(**CONFIG)
    serial = [o.numpy() for o in _serial(_slices(many).map(mel))]
    for threads in (None, 2):
        mel = melplug.tf.MelSpectrogram(**CONFIG, num_threads=threads)
        for repeat in range(2):
            ds = _slices(many).map(mel, num_parallel_calls=AUTOTUNE, deterministic=True)
            parallel = [o.numpy() for o in ds]
            assert len(parallel) == len(serial)
            for a, b in zip(parallel, serial, strict=True):
                np.testing.assert_array_equal(a, b, err_msg=f"num_threads={threads}, repeat {repeat}")


def test_per_clip_maps_take_the_core_fast_path(core, clips):
    """After the first call of a shape, a call skips the core's per-call checks; flagged calls take the full call."""
    mel = melplug.tf.MelSpectrogram(**CONFIG)
    mel._use_op = False  # the numpy_function path's mechanics (the op has no Python per call)
    for out, clip in zip(_serial(_slices(clips).map(mel)), clips, strict=True):
        _assert_same(out, core(clip))
    assert [bool(fast) for fast in mel.mel._fast.values()] == [True]  # one shape, prepared once
    calls = []
    real = melplug.MelSpectrogram.__call__
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(melplug.MelSpectrogram, "__call__", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
        assert len(list(_serial(_slices(clips).map(mel)))) == len(clips)
        assert calls == []  # every call took the fast path
        bad = clips.copy()
        bad[3, 9] = np.inf
        with pytest.raises(
            tf.errors.InvalidArgumentError, match=r"melplug.tf.MelSpectrogram: audio contains NaN or Inf"
        ):
            list(_serial(_slices(bad).map(mel)))
        assert calls == [1]  # the flagged call was redone by the full call, which raised
    # what the fast path does not take goes the full way: another dtype, empty input; a batch floor
    # runs the driver's phases like any other call, so it takes the fast path too, with the same numbers
    from melplug import _call

    batch_floor = melplug.MelSpectrogram(**CONFIG, top_db_scope="batch")
    assert _call._fast_shape(batch_floor, (4, SAMPLES), np.dtype("float32"), 1) == (4, *core(clips[0]).shape)
    _assert_same(batch_floor._fast_call(clips[:4], 1), batch_floor(clips[:4]))
    assert not _call._fast_shape(core, (SAMPLES,), np.dtype("int16"), 1)
    assert not _call._fast_shape(core, (0, SAMPLES), np.dtype("float32"), 1)


def test_parallel_calls_run_side_by_side():
    """Two AUTOTUNE calls overlap in time (the GIL is released), which a serial map never does."""
    import threading
    import time

    active = {"now": 0, "max": 0}
    lock = threading.Lock()
    core = melplug.MelSpectrogram(**CONFIG)

    class Spy:
        """Stands in for the core object: counts calls in flight around the real (GIL-free) kernel call."""

        num_threads = None
        dtype = None

        def __call__(self, audio, num_threads=None):
            with lock:
                active["now"] += 1
                active["max"] = max(active["max"], active["now"])
            try:
                time.sleep(0.005)  # releases the GIL, as the kernels do
                return core(audio, num_threads=num_threads)
            finally:
                with lock:
                    active["now"] -= 1

        def compute_output_shape(self, shape):
            return core.compute_output_shape(shape)

    mel = melplug.tf.MelSpectrogram(**CONFIG)
    mel._mel = Spy()
    ds = _slices(make_audio((32, SAMPLES))).map(mel, num_parallel_calls=AUTOTUNE)
    assert len(list(ds)) == 32
    assert active["max"] >= 2, active
    active["max"] = 0
    assert len(list(_serial(_slices(make_audio((8, SAMPLES))).map(mel)))) == 8
    assert active["max"] == 1, active


# --------------------------------------------------------------------------- shapes, dtypes, call modes


def test_static_shapes_from_the_element_spec():
    mel = melplug.tf.MelSpectrogram(**CONFIG)
    M = CONFIG["num_mel_bins"]
    cases = {
        (SAMPLES,): (M, FRAMES),
        (None, SAMPLES): (None, M, FRAMES),
        (3, 2, SAMPLES): (3, 2, M, FRAMES),
        (None,): (M, None),
        (4, None): (4, M, None),
    }
    for shape, wanted in cases.items():
        fn = tf.function(mel, input_signature=[tf.TensorSpec(shape, tf.float32)])
        out = fn.get_concrete_function().structured_outputs
        assert tuple(out.shape) == wanted, shape
    # unknown rank: the shape stays unknown, and the call still works
    gen = tf.data.Dataset.from_generator(
        lambda: iter([np.zeros((2, SAMPLES), np.float32)]), output_signature=tf.TensorSpec(None, tf.float32)
    )
    ds = gen.map(mel)
    assert ds.element_spec.shape.rank is None
    assert next(iter(ds)).shape == (2, M, FRAMES)


@pytest.mark.filterwarnings("ignore:4 of num_mel_bins=128 mel bands are empty")  # torchaudio at 16 kHz
@pytest.mark.parametrize("name", ["whisper", "kaldi", "w2v-bert", "torchaudio", "librosa-mfcc", "kaldi-mfcc"])
def test_extractor_presets_shapes_and_values(name):
    fx = melplug.preset(name)
    audio = make_audio((2, 16000), seed=5)
    ds = _slices(audio).map(melplug.tf.MelSpectrogram(extractor=name), num_parallel_calls=AUTOTUNE)
    assert tuple(ds.element_spec.shape) == fx.compute_output_shape((16000,))
    for out, clip in zip(ds, audio, strict=True):
        _assert_same(out, fx(clip))
    # an extractor object works the same as its name
    obj = melplug.tf.MelSpectrogram(extractor=fx)
    _assert_same(obj(tf.constant(audio[0])), fx(audio[0]))


def test_dtypes_float32_unless_the_extractor_forces_float64():
    audio = make_audio((2, SAMPLES), dtype=np.float64)
    mel = melplug.tf.MelSpectrogram(**CONFIG)
    out = mel(tf.constant(audio))
    assert out.dtype == tf.float32  # Keras' layer computes in float32 whatever the input
    _assert_same(out, melplug.MelSpectrogram(**CONFIG)(audio.astype(np.float32)))
    ints = (audio * 1000).astype(np.int16)  # cast without scaling, as the NumPy API and Keras do
    _assert_same(mel(tf.constant(ints)), melplug.MelSpectrogram(**CONFIG)(ints))
    mel64 = melplug.tf.MelSpectrogram(**CONFIG, dtype="float64")
    assert mel64.dtype == tf.float64
    for x in (audio, audio.astype(np.float32)):
        ds = _slices(x).map(mel64)
        assert ds.element_spec.dtype == tf.float64
        for o, clip in zip(ds, x, strict=True):
            _assert_same(o, melplug.MelSpectrogram(**CONFIG, dtype="float64")(clip))


def test_eager_and_tf_function_calls(core):
    audio = make_audio((3, SAMPLES), seed=7)
    mel = melplug.tf.MelSpectrogram(**CONFIG)
    eager = mel(tf.constant(audio))
    assert isinstance(eager, tf.Tensor) and eager.shape == (3, CONFIG["num_mel_bins"], FRAMES)
    _assert_same(eager, core(audio))
    _assert_same(mel(audio[0]), core(audio[0]))  # a NumPy array is converted
    traced = tf.function(mel)  # the adapter is hashable, as tf.function needs
    _assert_same(traced(tf.constant(audio)), core(audio))

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def features(x):
        return mel(x) * 2.0

    _assert_same(features(tf.constant(audio)), core(audio) * 2.0)
    _assert_same(features(tf.constant(audio[:1, :3001])), core(audio[:1, :3001]) * 2.0)


def test_threads_per_call_one_in_graphs_default_eagerly(monkeypatch, tf_path):
    seen = []
    real = melplug.tf._call_core

    def spy(mel, threads, what, audio):
        seen.append(threads)
        return real(mel, threads, what, audio)

    monkeypatch.setattr(melplug.tf, "_call_core", spy)
    audio = make_audio((2, SAMPLES))
    mel = melplug.tf.MelSpectrogram(**CONFIG)
    mel(tf.constant(audio))
    list(_slices(audio).map(mel, num_parallel_calls=AUTOTUNE))
    tf.function(lambda x: mel(x))(tf.constant(audio))
    # graphs run one thread per call: through the op (no Python call at all), or numpy_function with 1
    assert seen == ([None] if tf_path == "op" else [None, 1, 1, 1])
    seen.clear()
    three = melplug.tf.MelSpectrogram(**CONFIG, num_threads=3)
    three(tf.constant(audio))
    list(_slices(audio).map(three))
    assert seen == [3, 3, 3]


def test_pickle_repr_config_and_equality(core, clips):
    mel = melplug.tf.MelSpectrogram(**CONFIG, key="audio", out_key="mel")
    back = pickle.loads(pickle.dumps(mel))
    assert back == mel and hash(back) == hash(mel)
    assert back != melplug.tf.MelSpectrogram(**CONFIG, key="audio")
    out = next(iter(_slices(clips, label=np.arange(8)).map(back)))
    _assert_same(out["mel"], core(clips[0]))
    text = repr(mel)
    assert text.startswith("melplug.tf.MelSpectrogram(key='audio', out_key='mel', ") and "num_mel_bins=40" in text
    config = mel.get_config()
    assert config["key"] == "audio" and config["out_key"] == "mel" and config["extractor"]["fft_length"] == 512
    assert mel.mel == core and mel.num_threads is None


# --------------------------------------------------------------------------- errors


def test_construction_errors():
    with pytest.raises(ValueError, match=r"out_key='mel' needs key"):
        melplug.tf.MelSpectrogram(out_key="mel")
    with pytest.raises(TypeError, match=r"either extractor= or MelSpectrogram's arguments"):
        melplug.tf.MelSpectrogram(num_mel_bins=40, extractor="whisper")
    with pytest.raises(TypeError, match=r"key must be None or a hashable"):
        melplug.tf.MelSpectrogram(key=["audio"])
    with pytest.raises(ValueError, match=r"sequence_stride=0"):
        melplug.tf.MelSpectrogram(sequence_stride=0)
    with pytest.raises(ValueError, match=r"preset"):
        melplug.tf.MelSpectrogram(extractor="no-such-preset")


def test_errors_the_element_spec_shows_are_raised_by_map(clips):
    mel = melplug.tf.MelSpectrogram(**CONFIG)
    with pytest.raises(TypeError, match=r"dict with keys \['audio'\] but key=None"):
        _slices(clips, label=np.arange(8)).map(lambda e: mel({"audio": e["audio"]}))
    with pytest.raises(ValueError, match=r"no key 'wav'; its keys are \['audio', 'label'\]"):
        _slices(clips, label=np.arange(8)).map(melplug.tf.MelSpectrogram(**CONFIG, key="wav"))
    with pytest.raises(TypeError, match=r"key='audio' is set, so elements must be dicts"):
        _slices(clips).map(melplug.tf.MelSpectrogram(**CONFIG, key="audio"))
    with pytest.raises(TypeError, match=r"tuples of 2 components.*lambda audio, label"):
        tf.data.Dataset.from_tensor_slices((clips, np.arange(8))).map(mel)
    with pytest.raises(TypeError, match=r"audio has dtype string"):
        tf.data.Dataset.from_tensor_slices(["a", "b"]).map(mel)
    with pytest.raises(TypeError, match=r"audio has dtype complex64"):
        mel(tf.complex(tf.zeros(SAMPLES), tf.zeros(SAMPLES)))
    with pytest.raises(TypeError, match=r"element\['audio'\] has dtype bool"):
        melplug.tf.MelSpectrogram(**CONFIG, key="audio")({"audio": tf.zeros(SAMPLES, tf.bool)})
    with pytest.raises(ValueError, match=r"audio is a scalar"):
        tf.data.Dataset.from_tensor_slices(np.zeros(4, np.float32)).map(mel)
    with pytest.raises(ValueError, match=r"0 samples"):
        mel(tf.zeros((2, 0)))
    with pytest.raises(TypeError, match=r"RaggedTensor.*padded_batch"):
        mel(tf.ragged.constant([[0.0, 1.0], [2.0]]))


def test_errors_in_the_data_surface_from_tf_data(clips):
    bad = clips.copy()
    bad[5, 17] = np.nan
    ds = _slices(bad).batch(4).map(melplug.tf.MelSpectrogram(**CONFIG), num_parallel_calls=AUTOTUNE)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"melplug.tf.MelSpectrogram: audio example 1 .*NaN"):
        list(ds)
    inf = clips.copy()
    inf[2, 0] = np.inf
    ds = _slices(inf, label=np.arange(8)).map(melplug.tf.MelSpectrogram(**CONFIG, key="audio", out_key="mel"))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"element\['audio'\].*[Ii]nf"):
        list(ds)
    # a scalar that only the data shows (unknown rank)
    gen = tf.data.Dataset.from_generator(
        lambda: iter([np.float32(1.0)]), output_signature=tf.TensorSpec(None, tf.float32)
    ).map(melplug.tf.MelSpectrogram(**CONFIG))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"audio is a scalar"):
        list(gen)
    # eager calls raise melplug's own ValueError
    with pytest.raises(ValueError, match=r"melplug.tf.MelSpectrogram: audio example 5 contains NaN"):
        melplug.tf.MelSpectrogram(**CONFIG)(tf.constant(bad))
    # on_nonfinite="propagate" keeps Keras' behaviour: that example is NaN, the pipeline goes on
    ds = _slices(bad).map(melplug.tf.MelSpectrogram(**CONFIG, on_nonfinite="propagate"))
    outs = [o.numpy() for o in ds]
    assert np.isnan(outs[5]).all() and np.isfinite(outs[4]).all()


# --------------------------------------------------------------------------- Keras' layer, TensorFlow backend

KERAS_TF = r"""
import json, os
os.environ["KERAS_BACKEND"] = "tensorflow"
import numpy as np, tensorflow as tf, keras
import melplug.tf
from tests._util import make_audio
assert keras.backend.backend() == "tensorflow"
configs = [
    dict(num_mel_bins=80, fft_length=512, sequence_length=400, sequence_stride=160),
    dict(num_mel_bins=64, fft_length=1000, sequence_length=800, sequence_stride=256, window="hamming",
         sampling_rate=22050, min_freq=50.0, max_freq=8000.0),
    dict(num_mel_bins=32, fft_length=256, sequence_stride=100, top_db=40.0, mag_exp=1.0, ref_power=2.0),
]
audio = make_audio((6, 8001), seed=11)
audio[2, :4000] *= 1e-3  # a quiet stretch: the top_db floor is active
results = []
for cfg in configs:
    layer = keras.layers.MelSpectrogram(**cfg)
    per_clip = [tf.data.Dataset.from_tensor_slices(audio).map(fn, num_parallel_calls=tf.data.AUTOTUNE)
                for fn in (layer, melplug.tf.MelSpectrogram(**cfg))]
    batched = [tf.data.Dataset.from_tensor_slices(audio).batch(3).map(fn, num_parallel_calls=tf.data.AUTOTUNE)
               for fn in (layer, melplug.tf.MelSpectrogram(**cfg, top_db_scope="batch"))]
    for mode, (ka, me) in (("per clip", per_clip), ("batched", batched)):
        pairs = [(k.numpy(), m.numpy()) for k, m in zip(ka, me, strict=True)]
        results.append({
            "config": cfg, "mode": mode, "count": len(pairs),
            "specs": [str(ka.element_spec), str(me.element_spec)],
            "shapes": [[list(k.shape), list(m.shape)] for k, m in pairs],
            "dtypes": sorted({str(k.dtype) + "/" + str(m.dtype) for k, m in pairs}),
            "max_diff": max(float(np.max(np.abs(k - m))) for k, m in pairs),
            "floored": sum(int(np.sum(m == m.min())) for _, m in pairs),
        })
print("RESULTS " + json.dumps(results))
"""


def test_equals_keras_layer_on_the_tensorflow_backend_in_tf_data():
    proc = run_python(KERAS_TF, env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"})
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULTS ")]
    assert line, proc.stdout
    results = json.loads(line[0].removeprefix("RESULTS "))
    assert len(results) == 6
    for r in results:
        assert r["count"] == (6 if r["mode"] == "per clip" else 2), r
        assert r["dtypes"] == ["float32/float32"], r
        for k, m in r["shapes"]:
            assert k == m, r
        # melplug declares the static shape (None: the batch dimension) where Keras' ops may not
        assert "shape=(" in r["specs"][1] and "None, None" not in r["specs"][1], r
        assert r["max_diff"] < KERAS_DB_TOL, r
        assert r["floored"] > 0, r  # the floor was exercised


# --------------------------------------------------------------------------- scripts

SCRIPTS = {
    "pipeline": [sys.executable, "integrations/tf_pipeline.py", "--quick"],
    "bench": [sys.executable, "benchmarks/bench_tf.py", "--quick", "--json", "{tmp}/bench.json"],
}


@pytest.fixture(scope="module")
def script_runs(tmp_path_factory):
    """Both scripts, started together (as a user runs them: files, from the clone's root)."""
    tmp = tmp_path_factory.mktemp("tf_scripts")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("KERAS_BACKEND", None)  # the scripts choose the TensorFlow backend themselves
    procs = {
        name: subprocess.Popen(
            [a.format(tmp=tmp) for a in args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in SCRIPTS.items()
    }
    out = {}
    try:
        for name, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=240)
            out[name] = (proc.returncode, stdout, stderr)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    return tmp, out


def test_pipeline_script_trains_and_compares(script_runs):
    _, out = script_runs
    rc, stdout, stderr = out["pipeline"]
    assert rc == 0, f"stdout:\n{stdout}\nstderr:\n{stderr}"
    assert "element_spec: TensorSpec(shape=(None, 80, 101), dtype=tf.float32" in stdout
    loss = float(stdout.split("loss ")[1].split(",")[0])
    assert np.isfinite(loss)
    diff = float(stdout.split("max |keras - melplug| = ")[1].split(" dB")[0])
    assert diff < KERAS_DB_TOL
    ratio = float(stdout.split("ratio ")[1].split("x")[0])
    assert ratio > 0


def test_bench_quick_prints_its_tables(script_runs):
    tmp, out = script_runs
    rc, stdout, stderr = out["bench"]
    assert rc == 0, f"stdout:\n{stdout}\nstderr:\n{stderr}"
    assert "x keras" in stdout and "Parallel scaling" in stdout and "target >= 2x" in stdout
    doc = json.loads((tmp / "bench.json").read_text())
    assert set(doc["workloads"]) == {"1 s", "10 s"}
    for block in doc["workloads"].values():
        for mode in ("per clip", "per batch"):
            rows = block[mode]
            assert rows["keras"]["clips_per_s"] > 0 and rows["melplug"]["vs_keras"] > 0
            assert rows["max_abs_db_diff"] < KERAS_DB_TOL, rows
    for block in doc["scaling"].values():
        assert all(r["serial"] > 0 and r["autotune"] > 0 for r in block.values())
