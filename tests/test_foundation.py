"""Regression tests of issue 9 (the foundation): each failed on the code before it, and the layer structure.

Bugs 6 (HF channels-last audio) and 9 (CLI output folders) are tested
beside their adapters, in ``test_hf.py`` and ``test_cli*.py``.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import melplug
from melplug import _kernels, _parallel, core
from tests._util import make_audio, run_python

ROOT = Path(__file__).resolve().parents[1]
KW = dict(fft_length=512, sequence_length=400, sequence_stride=160, num_mel_bins=40, min_freq=0.0)


# --------------------------------------------------------------------------- bug 1: thread-pool race


def test_bug1_concurrent_callers_growing_the_pool_never_fail():
    # A fresh process, so the pool starts small (NUMBA_NUM_THREADS=2); sizes 2..25 make it grow many times
    # while other callers submit to it.  Before the fix 4-13% of these calls raised "cannot schedule new
    # futures after shutdown".
    proc = run_python(
        """
        import threading, numpy as np, melplug
        mel = melplug.MelSpectrogram(fft_length=256, sequence_stride=64, num_mel_bins=32)
        rng = np.random.default_rng(0)
        clips = [rng.standard_normal(n).astype(np.float32) for n in (48000, 64000, 32000, 80000, 16000, 24000)]
        expected = mel(clips, num_threads=1)
        errors, done = [], []
        def call(threads, barrier):
            barrier.wait()
            for _ in range(3):
                try:
                    got = mel(clips, num_threads=threads)
                    assert all(np.array_equal(a, b) for a, b in zip(got, expected))
                    done.append(threads)
                except Exception as exc:
                    errors.append(repr(exc))
        for round_ in range(4):
            barrier = threading.Barrier(6)
            workers = [threading.Thread(target=call, args=(2 + i + 6 * round_, barrier)) for i in range(6)]
            for w in workers: w.start()
            for w in workers: w.join()
        print(len(done), len(errors), errors[:2])
        """,
        env={"NUMBA_NUM_THREADS": "2"},
    )
    assert proc.stdout.split()[:2] == ["72", "0"], proc.stdout


def test_bug1_the_first_failing_range_is_raised():
    def fn(lo, hi):
        if lo in (0, 1):  # the caller's range and the first pool range both fail
            raise RuntimeError(f"range {lo}")

    with pytest.raises(RuntimeError, match="range 0"):
        _parallel.run(fn, np.array([0, 1, 2, 3]))

    def fn2(lo, hi):
        if lo >= 1:
            raise ValueError(f"range {lo}")

    with pytest.raises(ValueError, match="range 1"):
        _parallel.run(fn2, np.array([0, 1, 2, 3]))


# --------------------------------------------------------------------------- bug 2: from_config dtype


@pytest.mark.parametrize(
    "value, expected", [(np.float64, "float64"), (np.dtype("float32"), "float32"), ("float64", "float64"), (None, None)]
)
def test_bug2_from_config_keeps_every_valid_dtype(value, expected):
    config = {**melplug.MelSpectrogram().get_config(), "dtype": value}
    assert melplug.MelSpectrogram.from_config(config).dtype == expected


@pytest.mark.parametrize("value", ["float16", "int32", np.float16, 3])
def test_bug2_from_config_refuses_what_the_constructor_refuses(value):
    with pytest.raises(ValueError, match="dtype="):
        melplug.MelSpectrogram(dtype=value)
    with pytest.raises(ValueError, match="dtype="):
        melplug.MelSpectrogram.from_config({"dtype": value})


def test_bug2_keras_dtype_policies_are_skipped(keras):
    config = keras.layers.MelSpectrogram(num_mel_bins=40).get_config()
    assert isinstance(config["dtype"], dict)  # Keras 3 serialises its DTypePolicy
    assert melplug.MelSpectrogram.from_config(config).dtype is None
    policy = keras.DTypePolicy("float32")
    assert melplug.MelSpectrogram.from_config({"dtype": policy}).dtype is None


def test_bug2_hf_replace_dtype_goes_through_validation():
    hf = pytest.importorskip("melplug.hf", reason="the HF adapter needs datasets (melplug[hf])")
    mel = hf.MelSpectrogram(num_mel_bins=40)
    assert mel.replace(dtype=np.float64).mel.dtype == "float64"
    with pytest.raises(ValueError, match="dtype="):
        mel.replace(dtype="float16")


# --------------------------------------------------------------------------- bug 3: functional cache


@pytest.mark.parametrize(
    "first, second", [({"fft_length": 512}, {"fft_length": 512.0}), ({"power_to_db": True}, {"power_to_db": 1})]
)
def test_bug3_functional_form_validates_whatever_was_called_before(first, second):
    x = make_audio((2000,))
    melplug.mel_spectrogram(x, num_mel_bins=40, **first)
    with pytest.raises(TypeError):
        melplug.mel_spectrogram(x, num_mel_bins=40, **second)
    with pytest.raises(TypeError):
        melplug.mel_spectrogram(x, num_mel_bins=40, **second)


# --------------------------------------------------------------------------- bug 4: per-example peaks once


def test_bug4_peaks_are_reduced_once_per_example():
    mel = melplug.MelSpectrogram(**KW)
    clips = [make_audio((n,), seed=n) * (np.arange(n) < n // 2) for n in (30000, 4000, 17000)]  # half silence
    clips[2] *= 1e-2  # a quiet clip: its floor is 40 dB below the others
    out = mel(clips, num_threads=1)
    # The floor of a clip spanning many units hangs from that clip's own maximum.
    for m in out:
        assert m.min() == np.float32(m.max()) - np.float32(80.0)
    plan = mel.plan
    n_frames = np.array([o.shape[1] for o in out], dtype=np.int64)
    unit_ex, unit_f0, first_unit = _kernels._units(n_frames, plan.block_frames)
    assert list(first_unit) == [0, *np.cumsum(-(-n_frames // plan.block_frames))[:-1]]
    rng = np.random.default_rng(0)
    unit_max = rng.standard_normal(len(unit_ex))
    unit_bad = np.zeros(len(unit_ex), dtype=np.uint8)
    unit_bad[first_unit[1]] = _kernels.BAD_INPUT
    layout = melplug._driver.Layout(
        np.zeros(3, np.int64), n_frames, n_frames, n_frames, unit_ex, unit_f0, first_unit, np.zeros(3, np.int64)
    )
    bad, peaks = _kernels._summarise(layout, unit_max, unit_bad, False)
    expected = [unit_max[unit_ex == e].max() for e in range(3)]
    np.testing.assert_array_equal(peaks, expected)
    assert bad.tolist() == [0, _kernels.BAD_INPUT, 0]
    _, batch = _kernels._summarise(layout, unit_max, unit_bad, True)
    np.testing.assert_array_equal(batch, max(expected[0], expected[2]))  # flagged examples left out


# --------------------------------------------------------------------------- bug 5: NaN made inside the FFT


@pytest.mark.parametrize("dtype, big", [(np.float32, 3e38), (np.float64, 1e300)])
def test_bug5_finite_but_huge_audio_is_never_a_silent_floor(dtype, big):
    mel = melplug.MelSpectrogram(**KW)
    x = np.stack([make_audio((4000,), seed=1, dtype=dtype), np.full(4000, big, dtype=dtype)])
    with pytest.raises(ValueError, match=r"audio example 1 gives non-finite values.*too large.*scale the audio"):
        mel(x)
    with pytest.raises(ValueError, match=r"audio\[1\] gives non-finite values"):
        mel([x[0], x[1]])
    out = melplug.MelSpectrogram(**KW, on_nonfinite="propagate")(x)
    assert out.dtype == dtype
    assert np.isnan(out[1]).all()
    np.testing.assert_array_equal(out[0], mel(x[0]))


def test_bug5_kernel_block_reports_non_finite_power_for_both_dtypes():
    from melplug import kernels

    plan = melplug.MelSpectrogram(**KW).plan
    for dtype in (np.complex64, np.complex128):
        spectra = np.zeros((3, 257), dtype=dtype)
        spectra[1, 10] = np.nan
        mel = kernels.spectra_to_mel(spectra, plan)
        assert np.isnan(mel[:, 1]).any(), dtype  # the NaN reaches the output instead of becoming -100 dB
        assert np.isfinite(mel[:, 0]).all()


# --------------------------------------------------------------------------- bug 7: list calls copy nothing


def test_bug7_a_list_call_does_not_copy_its_clips():
    mel = melplug.MelSpectrogram(fft_length=512, sequence_stride=512, num_mel_bins=16)
    clip = make_audio((4_000_000,), seed=2)  # 16 MB
    out_bytes = 16 * mel.num_frames(clip.size) * 4  # 0.5 MB
    mel([clip[:1000]], num_threads=1)  # warm: compile and layouts outside the measurement
    tracemalloc.start()
    try:
        (result,) = mel([clip], num_threads=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.shape == (16, mel.num_frames(clip.size))
    assert peak < out_bytes + (1 << 20), f"peak {peak / 2**20:.1f} MiB for a {out_bytes / 2**20:.1f} MiB output"
    # Clips in another dtype are converted, one at a time: the float64 copy is the only extra.
    tracemalloc.start()
    try:
        mel([clip[:100_000].astype(np.float64), clip[:50_000]], num_threads=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000 * 4 + 100_000 * 8 + (1 << 20)


# --------------------------------------------------------------------------- bug 8: a damaged disk cache


@pytest.mark.parametrize("damage", [".nbi", ".nbc"])
def test_bug8_a_damaged_cache_is_recompiled_and_rewritten(tmp_path, damage):
    cache = tmp_path / "cache"
    env = {"NUMBA_CACHE_DIR": str(cache)}
    code = """
        import warnings, json, numpy as np, melplug
        from melplug import _kernels
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = melplug.MelSpectrogram(fft_length=256, num_mel_bins=20)(np.ones((2, 3000), np.float32))
        stats = _kernels._mel_units.stats
        print(json.dumps({"shape": list(out.shape), "hits": sum(stats.cache_hits.values()),
                          "misses": sum(stats.cache_misses.values()),
                          "warnings": [str(w.message) for w in caught]}))
    """
    first = json.loads(run_python(code, env).stdout)
    assert first["misses"] >= 1 and not first["warnings"]
    files = sorted(cache.rglob(f"*._mel_units-*{damage}"))
    assert files, sorted(p.name for p in cache.rglob("*"))
    for path in files:
        path.write_bytes(path.read_bytes()[:7])  # truncated
    second = json.loads(run_python(code, env).stdout)
    assert second["shape"] == first["shape"]
    assert len(second["warnings"]) == 1, second["warnings"]
    assert str(files[0].parent) in second["warnings"][0] and "recompiled" in second["warnings"][0]
    third = json.loads(run_python(code, env).stdout)  # the cache was rewritten: a plain hit, no warning
    assert third["hits"] >= 1 and third["misses"] == 0 and not third["warnings"]


# --------------------------------------------------------------------------- bug 10: unknown sizes


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((2, None), (2, 40, None)),
        ((None,), (40, None)),
        ((None, None), (None, 40, None)),
        ((None, 16000), (None, 40, 101)),
    ],
)
def test_bug10_compute_output_shape_with_unknown_sizes(shape, expected):
    assert melplug.MelSpectrogram(**KW).compute_output_shape(shape) == expected


def test_bug10_unknown_sizes_as_keras(keras):
    layer = keras.layers.MelSpectrogram(num_mel_bins=40)
    mel = melplug.MelSpectrogram(num_mel_bins=40)
    for shape in [(2, None), (None,), (None, None)]:
        assert mel.compute_output_shape(shape) == tuple(layer.compute_output_shape(shape))


# --------------------------------------------------------------------------- structure


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


def test_version_comes_from_package_metadata():
    assert melplug.__version__ == importlib.metadata.version("melplug")


def test_one_frame_count_formula():
    from melplug import _plan, kernels

    plan = melplug.MelSpectrogram(**KW).plan
    n = np.arange(1, 2000)
    expected = _plan.num_frames(n, plan.fft_length, plan.hop_length)
    assert _kernels._frame_count.py_func is _plan.frame_count
    assert [kernels.num_frames(int(k), plan) for k in n[::97]] == expected[::97].tolist()


@pytest.mark.parametrize(
    "module, layer",
    [
        ("_validate", "Validation layer"),
        ("_config", "Config layer"),
        ("_plan", "Plan layer"),
        ("_driver", "Driver layer"),
        ("_kernels", "Kernel layer"),
        ("_parallel", "Thread layer"),
        ("_jit", "JIT layer"),
        ("core", "Core layer"),
    ],
)
def test_each_module_names_its_layer(module, layer):
    mod = __import__(f"melplug.{module}", fromlist=["_"])
    assert mod.__doc__.startswith(layer)


def test_plan_is_a_pure_function_of_the_config():
    from melplug import _config, _plan

    mel = melplug.MelSpectrogram(**KW)
    engine = _config.keras_to_engine(_config.resolve({**core.KERAS_DEFAULTS, **core.EXTRA_DEFAULTS, **KW}))
    a, b = _plan.build_plan(engine), _plan.build_plan(dict(engine))
    for x, y, name in zip(a, b, a._fields, strict=True):
        np.testing.assert_array_equal(x, y, err_msg=name)
    np.testing.assert_array_equal(a.band_weights, mel.plan.band_weights)


def test_editing_a_module_the_kernels_compile_in_invalidates_their_cache(tmp_path):
    # Numba stamps a cached function with its own file only: the frame formula lives in _plan.py, inlined
    # into _kernels.py's kernels.  melplug stamps every kernel with all the modules compiled into it.
    import shutil

    shutil.copytree(ROOT / "melplug", tmp_path / "melplug", ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PYTHONPATH": str(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    code = """
        import json, numpy as np, melplug
        from melplug import _kernels
        assert melplug.__file__.startswith(%r)
        melplug.MelSpectrogram(fft_length=256, num_mel_bins=20)(np.ones((2, 3000), np.float32))
        stats = _kernels._mel_units.stats
        print(json.dumps([sum(stats.cache_hits.values()), sum(stats.cache_misses.values())]))
    """ % str(tmp_path)
    assert json.loads(run_python(code, env, cwd=tmp_path).stdout) == [0, 1]  # compiled
    assert json.loads(run_python(code, env, cwd=tmp_path).stdout) == [1, 0]  # loaded
    with open(tmp_path / "melplug" / "_plan.py", "a") as f:
        f.write("\n# an edit\n")
    assert json.loads(run_python(code, env, cwd=tmp_path).stdout) == [0, 1]  # recompiled, not stale
