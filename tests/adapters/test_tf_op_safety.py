"""melplug.tf's custom op fails safely: other processes, raising computations, odd plans, fixed shapes, builds."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

tf = pytest.importorskip("tensorflow", reason="melplug.tf needs TensorFlow (melplug[tf])")

import numpy as np  # noqa: E402

import melplug  # noqa: E402
import melplug.tf  # noqa: E402
from melplug import _tfop  # noqa: E402
from tests._util import ROOT, make_audio  # noqa: E402

CONFIG = dict(num_mel_bins=40, fft_length=512, sequence_length=400, sequence_stride=160)


@pytest.fixture(scope="module")
def op():
    module = melplug.tf._op()
    if module is None:
        pytest.skip(f"the custom op is unavailable here: {_tfop.failure()}")
    return module


def _env(**extra) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def _python(code: str, *args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=_env(**env), capture_output=True, text=True, timeout=600
    )


def _ops(fn, spec) -> list[str]:
    return [o.type for o in tf.function(fn).get_concrete_function(spec).graph.get_operations()]


def _with_plan(**fields):
    """A Keras-configured extractor whose ``plan`` (what the op reads) has ``fields`` replaced; it computes
    with its own, unchanged plan on the NumPy path."""

    class WithPlan(melplug.MelSpectrogram):
        @property
        def plan(self):
            return super().plan._replace(**fields)

    return WithPlan(**CONFIG)


# ----------------------------------------------------------------------------- another process

SAVE = """
import sys
import tensorflow as tf
import melplug.tf
mel = melplug.tf.MelSpectrogram(num_mel_bins=40, fft_length=512, sequence_stride=160)

class Features(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, audio):
        return mel(audio)

features = Features()
ops = [o.type for o in features.__call__.get_concrete_function().graph.get_operations()]
assert "MelplugMelSpectrogram" in ops, ops
tf.saved_model.save(features, sys.argv[1])
print("SAVED")
"""

LOAD = """
import sys
import numpy as np, tensorflow as tf
import melplug.tf
assert melplug.tf._op() is not None  # this process registered the op too: the graph's kernel exists
try:
    loaded = tf.saved_model.load(sys.argv[1])
    print("RAN", loaded(np.zeros(4000, np.float32)).shape)
except Exception as exc:
    print("ERROR", type(exc).__name__, str(exc).replace("\\n", " "))
"""


def test_a_graph_saved_in_another_process_fails_cleanly(op, tmp_path):
    saved = _python(SAVE, str(tmp_path / "model"))
    assert saved.returncode == 0 and "SAVED" in saved.stdout, saved.stderr[-3000:]
    loaded = _python(LOAD, str(tmp_path / "model"))
    assert loaded.returncode == 0, f"exit {loaded.returncode}: {loaded.stderr[-3000:]}"  # not a signal (-11)
    assert "ERROR" in loaded.stdout and "this graph was built in another process" in loaded.stdout, loaded.stdout


# ----------------------------------------------------------------------------- failures inside the op


def test_a_raising_computation_fails_the_op(op, monkeypatch):
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)  # where Numba's cfunc wrapper reports it
    mel = melplug.tf.MelSpectrogram(extractor=_with_plan(fft_length=2**62))  # an allocation no machine has
    fn = tf.function(mel, input_signature=[tf.TensorSpec([4000], tf.float32)])
    assert "MelplugMelSpectrogram" in _ops(mel, tf.TensorSpec([4000], tf.float32))
    with pytest.raises(tf.errors.OpError, match="melplug's C entry point melplug_mel raised"):
        fn(make_audio((4000,)))
    assert [type(r.exc_value) for r in reported] == [ValueError]


def test_a_plan_the_op_cannot_take_sends_only_its_extractor_to_numpy_function(op):
    bad = melplug.tf.MelSpectrogram(extractor=_with_plan(dither_seed=2**63 + 12345))
    good = melplug.tf.MelSpectrogram(**CONFIG)
    spec = tf.TensorSpec([4000], tf.float32)
    with pytest.warns(RuntimeWarning, match=r"custom op cannot run WithPlan\(.*OverflowError"):
        bad_ops = _ops(bad, spec)
    assert "MelplugMelSpectrogram" not in bad_ops and any(o.startswith("PyFunc") for o in bad_ops)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per configuration
        assert "MelplugMelSpectrogram" not in _ops(bad, spec)
        assert "MelplugMelSpectrogram" in _ops(good, spec)
    assert "failure" not in melplug.tf._op_state
    audio = make_audio((4000,))
    np.testing.assert_array_equal(tf.function(bad)(audio).numpy(), bad.mel(audio))
    np.testing.assert_array_equal(tf.function(good)(audio).numpy(), good.mel(audio))


# ----------------------------------------------------------------------------- static shapes

FIXED = [("whisper", (80, 3000)), ("ast", (1024, 128))]


@pytest.mark.parametrize("name, example", [*FIXED, ("kaldi", (None, 23)), ("w2v-bert", (None, 160))])
def test_the_op_shape_function_keeps_fixed_outputs(op, name, example):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extractor = melplug.preset(name)
    shapes = []

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def features(audio):
        out = melplug.tf._op_call(extractor, audio, "audio")  # the op alone, before the adapter sets a shape
        shapes.append(tuple(out.shape))
        return out

    features.get_concrete_function()
    assert shapes == [(None, *example)]


@pytest.mark.parametrize("use_op", [True, False], ids=["op", "numpy_function"])
@pytest.mark.parametrize("name, example", FIXED)
def test_per_clip_maps_of_unknown_length_keep_fixed_shapes(op, name, example, use_op):
    mel = melplug.tf.MelSpectrogram(extractor=name)
    mel._use_op = use_op
    clips = [make_audio((n,), seed=n) for n in (8000, 20000)]
    ds = tf.data.Dataset.from_generator(lambda: iter(clips), output_signature=tf.TensorSpec([None], tf.float32))
    ds = ds.map(mel, num_parallel_calls=tf.data.AUTOTUNE)
    assert ds.element_spec.shape == example
    for got, clip in zip(ds, clips, strict=True):
        np.testing.assert_array_equal(got.numpy(), mel.mel(clip))


# ----------------------------------------------------------------------------- the build cache

LOAD_OP = """
from melplug import _tfop
module = _tfop.load()
print("LOADED", module is not None, _tfop.failure())
"""


def test_a_damaged_cached_library_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("MELPLUG_TF_OP_CACHE", str(tmp_path))
    path = _tfop.library_path()
    path.write_bytes(b"\x7fELF but not really a library")
    proc = _python(LOAD_OP, MELPLUG_TF_OP_CACHE=str(tmp_path))
    assert proc.returncode == 0 and "LOADED True None" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # replaced in place, no temporaries left
    assert path.read_bytes()[:4] == b"\x7fELF" and path.stat().st_size > 10_000


def test_a_compiler_wrapper_in_cxx_works(tmp_path):
    proc = _python(LOAD_OP, MELPLUG_TF_OP_CACHE=str(tmp_path), CXX="env g++")
    assert proc.returncode == 0 and "LOADED True None" in proc.stdout, proc.stdout + proc.stderr[-3000:]


def test_the_cache_key_names_the_compiler_and_the_machine(tmp_path, monkeypatch):
    fake = tmp_path / "fake-cxx"
    fake.write_text("#!/bin/sh\necho 'fakecc 1.0'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("MELPLUG_TF_OP_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", "g++")
    plain = _tfop.library_path()
    monkeypatch.setenv("CXX", str(fake))
    assert _tfop.library_path() != plain
    assert __import__("platform").machine() in plain.name


def test_a_build_that_hangs_times_out(tmp_path):
    slow = tmp_path / "slow-cxx"
    slow.write_text('#!/bin/sh\n[ "$1" = --version ] && { echo slowcc 1; exit 0; }\nsleep 120\n')
    slow.chmod(0o755)
    code = "from melplug import _tfop; _tfop.BUILD_TIMEOUT = 2;" + LOAD_OP.replace("from melplug import _tfop\n", "")
    proc = _python(code, MELPLUG_TF_OP_CACHE=str(tmp_path / "cache"), CXX=str(slow))
    assert proc.returncode == 0 and "LOADED False RuntimeError: building the op took more than 2 s" in proc.stdout


FALLBACK = """
import warnings
import numpy as np, tensorflow as tf
import melplug.tf
mel = melplug.tf.MelSpectrogram(num_mel_bins=40)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    tf.data.Dataset.from_tensor_slices(np.zeros((2, 4000), np.float32)).map(mel)
print("TEXT", *[str(w.message) for w in caught if "custom op" in str(w.message)])
"""


def test_the_fallback_warning_names_the_cache_variable(tmp_path):
    proc = _python(FALLBACK, MELPLUG_TF_OP_CACHE=str(tmp_path / "cache"), CXX=str(tmp_path / "no-such-compiler"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "custom op is unavailable (RuntimeError: no C++ compiler found" in proc.stdout
    assert f"MELPLUG_TF_OP_CACHE (here {tmp_path / 'cache'})" in proc.stdout
