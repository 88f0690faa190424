"""Pipeline behaviour (SPEC §4): threads, fork and spawn workers, pickling, disk cache, read-only installs."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import melplug
from tests import _workers
from tests._util import make_audio, run_python

ROOT = Path(__file__).resolve().parents[1]
KW = dict(fft_length=512, sequence_length=400, sequence_stride=160, num_mel_bins=40, min_freq=0.0)


@pytest.fixture(scope="module")
def mel():
    return melplug.MelSpectrogram(**KW)


@pytest.fixture(scope="module")
def batch():
    return make_audio((6, 16000), seed=3)


@pytest.fixture(scope="module")
def expected(mel, batch):
    return mel(batch, num_threads=1)


def test_thread_pool_and_serial_paths_agree(mel, batch, expected):
    np.testing.assert_array_equal(mel(batch, num_threads=2), expected)
    np.testing.assert_array_equal(mel(batch, num_threads=3), expected)
    ragged = [batch[0], batch[1, :7000], batch[2, :1]]
    for a, b in zip(mel(ragged, num_threads=2), mel(ragged, num_threads=1), strict=True):
        np.testing.assert_array_equal(a, b)


def test_one_long_signal_uses_every_thread(mel):
    long = make_audio((16000 * 20,), seed=4)
    np.testing.assert_array_equal(mel(long, num_threads=2), mel(long, num_threads=1))


def test_four_python_threads_share_one_object(mel, batch, expected):
    long = make_audio((2, 16000 * 5), seed=5)
    long_expected = mel(long, num_threads=1)
    barrier = threading.Barrier(4)

    def work(i):
        barrier.wait()
        results = []
        for _ in range(5):
            results.append(np.array_equal(mel(batch, num_threads=2), expected))
            results.append(np.array_equal(mel(long, num_threads=2), long_expected))
        return all(results)

    with ThreadPoolExecutor(4) as ex:
        assert all(ex.map(work, range(4)))


def test_num_threads_is_honoured_per_call(mel):
    code = f"""
        import threading, numpy as np, melplug
        mel = melplug.MelSpectrogram(**{KW!r})
        x = np.random.default_rng(0).standard_normal((8, 16000)).astype(np.float32)
        names = lambda: sorted(t.name for t in threading.enumerate() if t.name.startswith("melplug"))
        mel(x, num_threads=1)
        assert names() == [], names()
        mel(x, num_threads=2)
        assert len(names()) == 1, names()
        one = melplug.MelSpectrogram(**{KW!r}, num_threads=1)
        assert np.array_equal(one(x), mel(x, num_threads=1))
        print("ok")
    """
    assert run_python(code).stdout.strip() == "ok"


def test_pickle_keeps_only_configuration_and_arrays(mel, batch, expected):
    for dumps, loads in [(pickle.dumps, pickle.loads)] + [
        (mod.dumps, mod.loads) for mod in (pytest.importorskip("cloudpickle"), pytest.importorskip("dill"))
    ]:
        clone = loads(dumps(mel))
        assert clone == mel and repr(clone) == repr(mel)
        np.testing.assert_array_equal(clone(batch), expected)
    rebuild, (cls, config) = mel.__reduce__()  # the options by name, never the plan
    assert cls is type(mel) and config == mel.get_config()
    assert all(isinstance(v, (int, float, str, bool, list, type(None))) for v in config.values())
    assert b"numba" not in pickle.dumps(mel)


FORK_SETUP = f"""
    import multiprocessing, os, numpy as np, melplug
    from tests import _workers
    mel = melplug.MelSpectrogram(**{KW!r})
    batch = np.random.default_rng(3).standard_normal((6, 16000)).astype(np.float32)
    expected = mel(batch, num_threads=1)
    mel(batch, num_threads=2)   # the parent's pool threads exist before the fork
"""


def test_fork_workers_after_parent_used_threads():
    # A clean interpreter (pytest's may hold JAX threads, which make any fork unsafe).
    code = (
        FORK_SETUP
        + """
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map_async(_workers.compute, [(mel, batch[i:i + 2]) for i in range(0, 6, 2)]).get(120)
    assert np.array_equal(np.concatenate([r[0] for r in results]), expected)
    print("ok")
    """
    )
    assert run_python(code).stdout.strip() == "ok"


def test_fork_child_can_use_thread_pool():
    code = (
        FORK_SETUP
        + """
    pid = os.fork()
    if pid == 0:  # child: the pool must be rebuilt, not inherited dead
        ok = np.array_equal(mel(batch, num_threads=2), expected)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    print("ok")
    """
    )
    assert run_python(code).stdout.strip() == "ok"


def test_spawn_workers_load_kernels_from_disk_cache(mel, batch, expected):
    mel(batch[:1], num_threads=1)  # make sure the serial kernel is compiled and cached
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.map_async(_workers.compute, [(mel, batch[i : i + 3]) for i in (0, 3)]).get(300)
    np.testing.assert_array_equal(np.concatenate([r[0] for r in results]), expected)
    for _, _, stats in results:
        hits = sum(h for h, _ in stats.values())
        misses = sum(m for _, m in stats.values())
        assert misses == 0 and hits >= 1, stats


def test_disk_cache_cold_then_warm(tmp_path):
    code = """
        import json, time
        t0 = time.perf_counter()
        import numpy as np, melplug
        t_import = time.perf_counter() - t0
        from melplug import _kernels
        mel = melplug.MelSpectrogram(fft_length=512, num_mel_bins=40)
        x = np.ones(4000, np.float32)
        t0 = time.perf_counter(); mel(x); t_first = time.perf_counter() - t0
        s = _kernels._mel_units.stats
        print(json.dumps({"import": t_import, "first": t_first,
                          "hits": sum(s.cache_hits.values()), "misses": sum(s.cache_misses.values())}))
    """
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    cold = json.loads(run_python(code, env).stdout.strip().splitlines()[-1])
    warm = json.loads(run_python(code, env).stdout.strip().splitlines()[-1])
    assert cold["misses"] >= 1 and cold["hits"] == 0
    assert warm["misses"] == 0 and warm["hits"] >= 1
    assert any((tmp_path / "cache").rglob("*.nbi"))
    assert warm["first"] < cold["first"]


def test_no_cache_location_falls_back_to_memory(tmp_path):
    code = """
        import warnings, numpy as np
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            import melplug
            out = melplug.MelSpectrogram(fft_length=256, num_mel_bins=16)(np.ones(2000, np.float32))
        msgs = [str(w.message) for w in rec if issubclass(w.category, RuntimeWarning)]
        assert len(msgs) == 1 and "NUMBA_CACHE_DIR" in msgs[0], msgs
        assert out.shape == (16, 4), out.shape
        print("ok")
    """
    # No locator can be used: what Numba sees for a read-only install with an unwritable home.
    env = {"NUMBA_CACHE_LOCATOR_CLASSES": "ZipCacheLocator", "HOME": str(tmp_path)}
    assert run_python(code, env).stdout.strip().endswith("ok")


def _mount_read_only(src: Path, dst: Path) -> bool:
    dst.mkdir()
    ok = subprocess.run(["mount", "--bind", str(src), str(dst)], capture_output=True).returncode == 0
    if ok and subprocess.run(["mount", "-o", "remount,ro,bind", str(dst)], capture_output=True).returncode != 0:
        subprocess.run(["umount", str(dst)], capture_output=True)
        ok = False
    return ok


@pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0, reason="needs root on Linux for a bind mount")
def test_read_only_install_and_home(tmp_path):
    """A real read-only file system for the package and for $HOME: import and compute still work."""
    import shutil

    src = tmp_path / "src"
    shutil.copytree(ROOT / "melplug", src / "melplug", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "home-src").mkdir()
    site, home = tmp_path / "site", tmp_path / "home"
    if not _mount_read_only(src, site):
        pytest.skip("bind mounts are not permitted here")
    try:
        if not _mount_read_only(tmp_path / "home-src", home):
            pytest.skip("bind mounts are not permitted here")
        code = """
            import warnings, numpy as np
            with warnings.catch_warnings(record=True) as rec:
                warnings.simplefilter("always")
                import melplug
                out = melplug.MelSpectrogram(fft_length=256, num_mel_bins=16)(np.ones(2000, np.float32))
            print(melplug.__file__, out.shape, [str(w.message)[:40] for w in rec])
        """
        env = {"PYTHONPATH": str(site), "HOME": str(home), "XDG_CACHE_HOME": "", "NUMBA_CACHE_DIR": ""}
        env = {k: v for k, v in {**os.environ, **env}.items() if v != ""}
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=300, cwd="/"
        )
        assert proc.returncode == 0, proc.stderr
        assert str(site) in proc.stdout and "(16, 4)" in proc.stdout
        assert "cannot write Numba's disk cache" in proc.stdout
    finally:
        subprocess.run(["umount", str(home)], capture_output=True)
        subprocess.run(["umount", str(site)], capture_output=True)


def test_import_is_light():
    code = """
        import sys, melplug
        heavy = [m for m in ("grain", "datasets", "keras", "jax", "torch", "tensorflow", "matplotlib", "soundfile",
                             "ray")
                 if m in sys.modules]
        assert heavy == [], heavy
        print("ok")
    """
    assert run_python(code).stdout.strip() == "ok"
