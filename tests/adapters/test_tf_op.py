"""melplug.tf's custom op (melplug/_tfop, melplug/_cabi): same numbers and words as the NumPy API, and its fallback.

tests/adapters/test_tf.py runs every adapter test on both paths (the op, and tf.numpy_function); these tests
look at the op itself: bit-for-bit equality with the NumPy API for presets and dtypes, its error
messages against the numpy_function path's, concurrency, and the fallback when it cannot be built.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import pytest

tf = pytest.importorskip("tensorflow", reason="melplug.tf needs TensorFlow (melplug[tf])")

import numpy as np  # noqa: E402

import melplug  # noqa: E402
import melplug.tf  # noqa: E402
from melplug import _cabi, _tfop  # noqa: E402
from tests._util import ROOT, make_audio  # noqa: E402

CONFIG = dict(num_mel_bins=40, fft_length=512, sequence_length=400, sequence_stride=160)
AUTOTUNE = tf.data.AUTOTUNE


@pytest.fixture(scope="module", autouse=True)
def op():
    module = melplug.tf._op()
    if module is None:
        pytest.skip(f"the custom op is unavailable here: {_tfop.failure()}")
    return module


def _ops(fn, spec) -> list[str]:
    return [o.type for o in tf.function(fn).get_concrete_function(spec).graph.get_operations()]


def _quiet_preset(name, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty-band notices of some presets
        return melplug.preset(name, **kwargs)


@pytest.mark.parametrize("name", melplug.PRESETS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_op_equals_numpy_api_bit_for_bit(name, dtype):
    extractor = _quiet_preset(name, **({"dtype": "float64"} if dtype == "float64" else {}))
    mel = melplug.tf.MelSpectrogram(extractor=extractor)
    for shape in [(16000,), (3, 12345), (2, 2, 4001)]:
        audio = make_audio(shape, seed=len(shape), dtype=np.dtype(dtype).type)
        spec = tf.TensorSpec(shape, dtype)
        assert "MelplugMelSpectrogram" in _ops(mel, spec) and "PyFunc" not in _ops(mel, spec)
        got = tf.function(mel)(tf.constant(audio)).numpy()
        wanted = extractor(audio)
        assert got.dtype == wanted.dtype and got.shape == wanted.shape
        np.testing.assert_array_equal(got, wanted)
        # unknown length: the op's shape function leaves frames open, the values are the same
        open_spec = tf.TensorSpec([None] * len(shape), dtype)
        np.testing.assert_array_equal(tf.function(mel, input_signature=[open_spec])(audio).numpy(), wanted)


def test_integer_samples_and_dict_elements_in_tf_data():
    clips = (make_audio((6, 4000), seed=2) * 3000).astype(np.int16)
    mel = melplug.tf.MelSpectrogram(**CONFIG, key="audio", out_key="mel")
    ds = tf.data.Dataset.from_tensor_slices({"audio": clips, "label": np.arange(6)}).batch(4).map(mel, AUTOTUNE)
    outs = list(ds)
    np.testing.assert_array_equal(np.concatenate([o["mel"].numpy() for o in outs]), mel.mel(clips))
    assert [o["label"].numpy().tolist() for o in outs] == [[0, 1, 2, 3], [4, 5]]


def test_autotune_parallel_equals_serial_and_numpy_api():
    clips = make_audio((64, 16000), seed=5)
    clips[7, 100] = 1e3  # loud click: per-example floors must not leak between concurrent calls
    mel = melplug.tf.MelSpectrogram(**CONFIG, top_db=40.0)
    options = tf.data.Options()
    options.experimental_optimization.map_parallelization = False
    serial = [o.numpy() for o in tf.data.Dataset.from_tensor_slices(clips).map(mel).with_options(options)]
    for _ in range(3):
        parallel = tf.data.Dataset.from_tensor_slices(clips).map(mel, AUTOTUNE, deterministic=True).batch(16)
        np.testing.assert_array_equal(np.concatenate([b.numpy() for b in parallel]), np.stack(serial))
    np.testing.assert_array_equal(np.stack(serial), mel.mel(clips))


def _message(ds_or_fn, *args) -> str:
    """The melplug part of the error a pipeline (or a tf.function call) raises."""
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        if args:
            ds_or_fn(*args)
        else:
            list(ds_or_fn)
    found = re.search(r"melplug\.tf\.MelSpectrogram: [^\n]*", info.value.message)
    assert found, info.value.message
    return found.group(0).rstrip()


def _both_paths(make, args):
    """The error message of the op path and of the numpy_function path, for the same pipeline."""
    messages = []
    for use_op in (True, False):
        mel = make()
        mel._use_op = use_op
        messages.append(_message(*args(mel)))
    return messages


@pytest.mark.filterwarnings("ignore:4 of num_mel_bins=128 mel bands are empty")  # the torchaudio preset at 16 kHz
@pytest.mark.parametrize(
    "case",
    ["nan in a batch", "inf in a dict field", "overflow", "2-d lead", "one clip", "reflect_once", "normalize"],
)
def test_errors_name_the_problem_with_the_numpy_paths_words(case):
    clips = make_audio((8, 4000), seed=3)
    key = None
    make = lambda: melplug.tf.MelSpectrogram(**CONFIG, key=key, out_key=None)  # noqa: E731
    if case == "nan in a batch":
        clips[5, 17] = np.nan
        expect = r"audio example 1 contains NaN or Inf samples \(1 of 4 examples affected\); clean the audio"

        def args(mel):
            return (tf.data.Dataset.from_tensor_slices(clips).batch(4).map(mel, AUTOTUNE),)
    elif case == "inf in a dict field":
        clips[2, 0] = np.inf
        key = "audio"
        expect = r"element\['audio'\] contains NaN or Inf samples \(1 of 1 examples affected\)"

        def args(mel):
            return (tf.data.Dataset.from_tensor_slices({"audio": clips}).map(mel),)
    elif case == "overflow":
        clips[3] *= 1e30
        expect = r"audio example 3 gives non-finite values although its samples are finite: .* float32 arithmetic"

        def args(mel):
            return (tf.data.Dataset.from_tensor_slices(clips).batch(8).map(mel),)
    elif case == "2-d lead":
        clips[6, 1] = np.nan
        expect = r"audio example \(1, 2\) contains NaN"

        def args(mel):
            return (tf.data.Dataset.from_tensor_slices(clips.reshape(1, 2, 4, 4000)).map(mel),)
    elif case == "one clip":
        clips[0, 0] = np.nan
        expect = r"audio contains NaN or Inf samples \(1 of 1 examples affected\)"

        def args(mel):
            return (tf.function(mel, input_signature=[tf.TensorSpec([None], tf.float32)]), clips[0])
    elif case == "reflect_once":
        make = lambda: melplug.tf.MelSpectrogram(extractor="torchaudio")  # noqa: E731
        expect = r"audio has 150 samples; pad_mode='reflect_once' .* clips of at least 201 samples"

        def args(mel):
            return (tf.data.Dataset.from_tensor_slices(clips[:2, :150]).map(mel),)
    else:
        make = lambda: melplug.tf.MelSpectrogram(extractor="w2v-bert")  # noqa: E731
        expect = r"audio has 300 samples, 0 valid frame\(s\); per-clip normalisation"

        def args(mel):
            return (tf.data.Dataset.from_tensor_slices(clips[:2, :300]).map(mel),)

    op_message, numpy_message = _both_paths(make, args)
    assert op_message == numpy_message
    assert re.search(expect, op_message), op_message


def test_op_path_errors_for_shapes_only_the_data_shows():
    mel = melplug.tf.MelSpectrogram(**CONFIG)
    scalar = tf.data.Dataset.from_generator(lambda: iter([np.float32(1.0)]), output_signature=tf.TensorSpec(None))
    assert _message(scalar.map(mel)) == (
        "melplug.tf.MelSpectrogram: audio is a scalar (0-d); pass an array of shape (..., samples)"
    )
    fn = tf.function(mel, input_signature=[tf.TensorSpec([None, None], tf.float32)])
    assert _message(fn, np.zeros((2, 0), np.float32)) == (
        "melplug.tf.MelSpectrogram: audio is empty (shape (2, 0)); it needs at least one example of >= 1 sample"
    )


def test_propagate_gives_nan_examples():
    clips = make_audio((4, 4000), seed=8)
    clips[1, 9] = np.nan
    mel = melplug.tf.MelSpectrogram(**CONFIG, on_nonfinite="propagate")
    out = next(iter(tf.data.Dataset.from_tensor_slices(clips).batch(4).map(mel))).numpy()
    np.testing.assert_array_equal(out, mel.mel(clips))
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2, 3]]).all()


def test_packed_plan_is_a_record_named_after_the_plan_fields():
    names = _cabi.PLAN_RECORD.names
    for field in melplug.MelPlan._fields:
        assert field in names or f"{field}__address" in names, field
    packed = _cabi.PackedPlan(_quiet_preset("kaldi-mfcc").plan)
    assert packed.record["num_ceps"][0] == 13 and packed.record.dtype == _cabi.PLAN_RECORD


FALLBACK = r"""
import os, warnings
import numpy as np, tensorflow as tf
import melplug.tf
from melplug import _tfop
clips = np.random.default_rng(0).standard_normal((4, 4000)).astype(np.float32)
mel = melplug.tf.MelSpectrogram(num_mel_bins=40)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    ds = tf.data.Dataset.from_tensor_slices(clips).map(mel)
    ds2 = tf.data.Dataset.from_tensor_slices(clips).batch(2).map(mel)
out = np.stack([o.numpy() for o in ds])
assert np.array_equal(out, mel.mel(clips))
ops = [o.type for o in tf.function(mel).get_concrete_function(tf.TensorSpec([4000])).graph.get_operations()]
texts = [str(w.message) for w in caught if "custom op" in str(w.message)]
print("OPS", "MelplugMelSpectrogram" in ops, any(o.startswith("PyFunc") for o in ops))
print("WARNINGS", len(texts))
print("TEXT", texts[0] if texts else "")
print("FAILURE", _tfop.failure())
"""


def _run_fallback(tmp_path, **env):
    import os

    full = {**os.environ, "MELPLUG_TF_OP_CACHE": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "2", **env}
    proc = subprocess.run(
        [sys.executable, "-c", FALLBACK], cwd=ROOT, env=full, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_fallback_when_the_build_fails_warns_once_why(tmp_path):
    out = _run_fallback(tmp_path, CXX=str(tmp_path / "no-such-compiler"))
    assert "OPS False True" in out and "WARNINGS 1" in out
    assert "custom op is unavailable (RuntimeError: no C++ compiler found" in out


def test_fallback_on_a_compile_error(tmp_path):
    fake = tmp_path / "bad-cxx"
    fake.write_text("#!/bin/sh\necho 'melplug_op.cc:1: error: something broke' >&2\nexit 1\n")
    fake.chmod(0o755)
    out = _run_fallback(tmp_path, CXX=str(fake))
    assert "OPS False True" in out and "WARNINGS 1" in out and "something broke" in out


def test_melplug_tf_op_0_chooses_numpy_function_silently(tmp_path):
    out = _run_fallback(tmp_path, MELPLUG_TF_OP="0")
    assert "OPS False True" in out and "WARNINGS 0" in out and "FAILURE MELPLUG_TF_OP=0 is set" in out


def test_concurrent_first_builds_share_one_cached_library(tmp_path):
    import os

    code = "from melplug import _tfop; assert _tfop.load() is not None, _tfop.failure(); print(_tfop.library_path())"
    env = {**os.environ, "MELPLUG_TF_OP_CACHE": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    paths = {p.communicate(timeout=300)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs) and len(paths) == 1
    assert [f.name for f in (tmp_path / "cache").iterdir()] == [os.path.basename(paths.pop())]  # no temporaries
