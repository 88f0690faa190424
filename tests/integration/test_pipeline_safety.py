"""Pipeline safety (docs/design.md): threads, fork and spawn workers, pickling.

Numba's disk cache, read-only installs: ``tests/unit/test_jit.py``.
"""

from __future__ import annotations

import multiprocessing
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import melplug
from tests import _workers
from tests._util import make_audio, run_python

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
