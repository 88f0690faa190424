"""melplug.grain.MelSpectrogram in real Grain pipelines.

Outputs are compared with ``melplug.MelSpectrogram`` called directly (which
tests/presets/test_keras.py checks against Keras).  Pipelines with worker processes use the
importable helpers in tests/_grain_helpers.py.
"""

from __future__ import annotations

import collections
import concurrent.futures
import gc
import os
import pickle
import types

import pytest

grain = pytest.importorskip("grain", reason="melplug.grain needs Google Grain (melplug[grain])")

import numpy as np  # noqa: E402

import melplug  # noqa: E402
import melplug.grain  # noqa: E402
from tests import _grain_helpers as helpers  # noqa: E402

CONFIG = helpers.CONFIG
SAMPLES = helpers.SAMPLES
FRAMES = 1 + SAMPLES // CONFIG["sequence_stride"]
NUM_RECORDS = 8


@pytest.fixture(scope="module", autouse=True)
def absl_flags_parsed():
    """Grain reads absl flags when it starts workers; with jax installed and no
    ``absl.app`` they must be marked parsed (defaults).  Restored afterwards."""
    from absl import flags

    was_parsed = flags.FLAGS.is_parsed()
    if not was_parsed:
        flags.FLAGS.mark_as_parsed()
    yield
    if not was_parsed:
        flags.FLAGS.unparse_flags()


@pytest.fixture(scope="module")
def core():
    mel = melplug.MelSpectrogram(**CONFIG)
    mel(helpers.audio(0))  # compile (or load) the kernels once, filling the disk cache for workers
    return mel


@pytest.fixture(scope="module")
def expected(core):
    """The direct result for every record, by index."""
    return {i: core(helpers.audio(i)) for i in range(NUM_RECORDS)}


def _plain(tree):
    """Copy Grain outputs (possibly shared-memory arrays) into ordinary arrays."""
    if isinstance(tree, dict):
        return {k: _plain(v) for k, v in tree.items()}
    return np.array(tree)


def _assert_mel(actual, wanted):
    assert actual.shape == wanted.shape
    assert actual.dtype == wanted.dtype
    np.testing.assert_array_equal(actual, wanted)


def _sampler(num_records=NUM_RECORDS):
    return grain.samplers.IndexSampler(num_records=num_records, shuffle=False, num_epochs=1)


# --------------------------------------------------------------------------- single elements


def test_array_elements_1d_and_2d(core):
    t = melplug.grain.MelSpectrogram(**CONFIG)
    x = helpers.audio(3)
    out = t.map(x)
    assert out.shape == (CONFIG["num_mel_bins"], FRAMES)
    _assert_mel(out, core(x))
    batch = np.stack([helpers.audio(i) for i in range(3)])
    out = t.map(batch)
    assert out.shape == (3, CONFIG["num_mel_bins"], FRAMES)
    _assert_mel(out, core(batch))
    _assert_mel(t.map(x.astype(np.float64)), core(x.astype(np.float64)).astype(np.float32))  # float32 out


def test_mapping_elements_key_and_out_key(core):
    record = {"audio": helpers.audio(1), "label": 7, "text": "hi"}
    replaced = melplug.grain.MelSpectrogram(**CONFIG, key="audio").map(record)
    assert set(replaced) == {"audio", "label", "text"}
    _assert_mel(replaced["audio"], core(record["audio"]))
    assert replaced["label"] == 7 and replaced["text"] == "hi"

    added = melplug.grain.MelSpectrogram(**CONFIG, key="audio", out_key="mel").map(record)
    assert list(added) == ["audio", "label", "text", "mel"]
    assert added["audio"] is record["audio"]
    _assert_mel(added["mel"], core(record["audio"]))
    # The input mapping is left untouched.
    assert set(record) == {"audio", "label", "text"} and record["audio"].ndim == 1


def test_mapping_kind_is_kept_where_possible(core):
    t = melplug.grain.MelSpectrogram(**CONFIG, key="audio", out_key="mel")
    ordered = collections.OrderedDict(audio=helpers.audio(2), index=2)
    out = t.map(ordered)
    assert type(out) is collections.OrderedDict and list(out) == ["audio", "index", "mel"]
    assert list(ordered) == ["audio", "index"]
    frozen = types.MappingProxyType({"audio": helpers.audio(2)})
    out = t.map(frozen)
    assert type(out) is dict and set(out) == {"audio", "mel"}
    _assert_mel(out["mel"], core(helpers.audio(2)))


def test_errors_name_key_and_fix():
    t = melplug.grain.MelSpectrogram(**CONFIG, key="audio")
    with pytest.raises(ValueError, match=r"no key 'audio'.*'wave'.*Set key="):
        t.map({"wave": helpers.audio(0)})
    with pytest.raises(TypeError, match=r"key='audio' is set.*mappings; received ndarray.*key=None"):
        t.map(helpers.audio(0))
    with pytest.raises(TypeError, match=r"dict with keys \['audio'\] but key=None.*key="):
        melplug.grain.MelSpectrogram(**CONFIG).map({"audio": helpers.audio(0)})
    with pytest.raises(ValueError, match=r"out_key='mel' needs key"):
        melplug.grain.MelSpectrogram(**CONFIG, out_key="mel")
    with pytest.raises(TypeError, match=r"key must be None or a hashable"):
        melplug.grain.MelSpectrogram(key=["audio"])
    # Arguments are validated by the core object, with its messages.
    with pytest.raises(ValueError, match=r"sequence_stride=0"):
        melplug.grain.MelSpectrogram(sequence_stride=0)
    with pytest.raises(ValueError, match=r"num_threads=0"):
        melplug.grain.MelSpectrogram(num_threads=0)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'keyy'"):
        melplug.grain.MelSpectrogram(keyy="audio")
    # Audio errors come from the core, naming the problem.
    with pytest.raises(ValueError, match=r"NaN or Inf"):
        t.map({"audio": np.full(SAMPLES, np.nan, np.float32)})


def test_forwards_every_core_argument():
    window = np.hamming(200)
    args = (512, 100, 200, window, 16000, 40, 50.0, 7000.0, True, 60.0, 1.0, 1e-8, 2.0)  # Keras' 13, in order
    extras = dict(top_db_scope="batch", dtype="float64", on_nonfinite="propagate", num_threads=2)
    t = melplug.grain.MelSpectrogram(*args, **extras, key="a")
    direct = melplug.MelSpectrogram(*args, **extras)
    assert t.mel == direct
    assert t.get_config() == {"extractor": direct.get_config(), "key": "a", "out_key": None, "resample": False}
    assert t.num_threads == 2
    x = helpers.audio(5, 4000)
    _assert_mel(t.map({"a": x})["a"], direct(x))


def test_repr_shows_configuration():
    t = melplug.grain.MelSpectrogram(**CONFIG, key="audio", out_key="mel", num_threads=2)
    text = repr(t)
    assert text.startswith("melplug.grain.MelSpectrogram(key='audio', out_key='mel', resample=False, fft_length=256,")
    for part in (
        "sequence_stride=128",
        "num_mel_bins=32",
        "sampling_rate=8000",
        "num_threads=2",
        "top_db_scope='example'",
    ):
        assert part in text
    # Grain names transforms by their repr in errors and pipeline summaries.
    assert grain.MapDataset.range(2).map(t)._transform_name == text


@pytest.mark.parametrize("module", ["pickle", "cloudpickle", "dill"])
def test_pickle_round_trip_gives_identical_output(module):
    serializer = pytest.importorskip(module)
    t = melplug.grain.MelSpectrogram(**CONFIG, window=np.hanning(256), key="audio", out_key="mel")
    clone = serializer.loads(serializer.dumps(t))
    assert type(clone) is melplug.grain.MelSpectrogram
    assert clone == t and repr(clone) == repr(t)
    record = {"audio": helpers.audio(4)}
    np.testing.assert_array_equal(clone.map(record)["mel"], t.map(record)["mel"])
    # Config and arrays only: no Numba dispatcher travels with the object.
    assert b"numba" not in pickle.dumps(t)


def test_thread_safe_under_concurrent_calls(core):
    t = melplug.grain.MelSpectrogram(**CONFIG, key="audio")
    # Mixed sizes: small calls run serially, the long one uses melplug's thread pool.
    inputs = [helpers.audio(i, SAMPLES if i % 4 else 70_000) for i in range(24)]
    wanted = [core(x) for x in inputs]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda x: t.map({"audio": x})["audio"], inputs))
    for got, want in zip(results, wanted, strict=True):
        _assert_mel(got, want)


# --------------------------------------------------------------------------- element spec


def test_output_spec_for_arrays_and_mappings():
    spec = grain.experimental.ShapeDtypeStruct
    t = melplug.grain.MelSpectrogram(**CONFIG)
    assert t.output_spec(spec((4, SAMPLES), np.float32)) == spec((4, 32, FRAMES), np.dtype(np.float32))
    assert t.output_spec(spec((SAMPLES,), np.float64)).dtype == np.float32
    assert t.output_spec(spec((SAMPLES,), np.int16)).dtype == np.float32
    assert t.output_spec(spec((None, None), np.float32)).shape == (None, 32, None)
    forced = melplug.grain.MelSpectrogram(**CONFIG, dtype="float64")
    assert forced.output_spec(spec((SAMPLES,), np.float32)).dtype == np.float64
    keyed = melplug.grain.MelSpectrogram(**CONFIG, key="audio", out_key="mel")
    label = spec((), np.int64)
    out = keyed.output_spec({"audio": spec((SAMPLES,), np.float32), "label": label})
    assert out == {
        "audio": spec((SAMPLES,), np.float32),
        "label": label,
        "mel": spec((32, FRAMES), np.dtype(np.float32)),
    }
    with pytest.raises(ValueError, match="no key 'audio'"):
        keyed.output_spec({"wave": spec((SAMPLES,), np.float32)})
    with pytest.raises(TypeError, match="complex"):
        t.output_spec(spec((SAMPLES,), np.complex64))


def test_element_spec_inference_through_a_pipeline(core):
    spec = grain.experimental.ShapeDtypeStruct
    t = melplug.grain.MelSpectrogram(**CONFIG)
    ds = grain.MapDataset.range(6).map(helpers.MakeAudio()).map(t).batch(2, drop_remainder=True)
    inferred = grain.experimental.get_element_spec(ds)
    assert inferred == spec((2, 32, FRAMES), np.dtype(np.float32))
    assert inferred.shape == ds[0].shape and inferred.dtype == ds[0].dtype
    keyed = (
        grain.MapDataset.range(6)
        .map(helpers.MakeAudio(as_dict=True))
        .map(melplug.grain.MelSpectrogram(**CONFIG, key="audio", out_key="mel"))
    )
    inferred = grain.experimental.get_element_spec(keyed.to_iter_dataset())
    assert inferred["mel"] == spec((32, FRAMES), np.dtype(np.float32))
    assert set(inferred) == set(keyed[0]) == {"audio", "index", "mel"}


# --------------------------------------------------------------------------- in-process pipelines


def test_map_dataset_map(expected):
    ds = grain.MapDataset.source([helpers.audio(i) for i in range(NUM_RECORDS)]).map(
        melplug.grain.MelSpectrogram(**CONFIG)
    )
    assert len(ds) == NUM_RECORDS
    for i in range(NUM_RECORDS):
        _assert_mel(ds[i], expected[i])


def test_map_dataset_batch_then_map(core):
    t = melplug.grain.MelSpectrogram(**CONFIG, key="audio", out_key="mel")
    ds = grain.MapDataset.source(helpers.Records(NUM_RECORDS)).batch(3).map(t)
    batches = list(ds)
    assert [b["mel"].shape[0] for b in batches] == [3, 3, 2]
    for b in batches:
        assert b["audio"].shape == (b["index"].shape[0], SAMPLES)
        # One call on the stacked (B, N) audio; top_db per example, so equal to per-record results.
        _assert_mel(b["mel"], core(b["audio"]))
        for row, i in zip(b["mel"], b["index"], strict=True):
            np.testing.assert_array_equal(row, core(helpers.audio(int(i))))


def test_map_dataset_map_then_batch(expected):
    t = melplug.grain.MelSpectrogram(**CONFIG, key="audio", out_key="mel")
    batch = grain.MapDataset.source(helpers.Records(NUM_RECORDS)).map(t).batch(4)[1]
    assert batch["mel"].shape == (4, 32, FRAMES) and batch["label"].shape == (4,)
    _assert_mel(batch["mel"], np.stack([expected[i] for i in range(4, 8)]))


def test_iter_dataset_with_default_read_threads(expected):
    # to_iter_dataset() reads (and maps) with Grain's default ReadOptions: 16 threads.
    assert grain.ReadOptions().num_threads > 1
    t = melplug.grain.MelSpectrogram(**CONFIG, key="audio", out_key="mel")
    ds = grain.MapDataset.source(helpers.Records(NUM_RECORDS)).repeat(4).map(t).to_iter_dataset()
    out = list(ds)
    assert len(out) == 4 * NUM_RECORDS
    for i, rec in enumerate(out):
        assert rec["index"] == i % NUM_RECORDS
        _assert_mel(rec["mel"], expected[i % NUM_RECORDS])
    # IterDataset.map, after batching in the IterDataset.
    it_ds = grain.MapDataset.source(helpers.Records(NUM_RECORDS)).to_iter_dataset().batch(4).map(t)
    batches = list(it_ds)
    assert len(batches) == 2
    _assert_mel(batches[1]["mel"], np.stack([expected[i] for i in range(4, 8)]))


def test_thread_default_in_the_main_process():
    assert not melplug.grain.in_grain_worker()
    assert melplug.grain.MelSpectrogram(**CONFIG).threads_per_call is None  # the core's default
    assert melplug.grain.MelSpectrogram(**CONFIG, num_threads=3).threads_per_call == 3


def test_worker_detection_falls_back_to_any_worker_process(monkeypatch):
    """Without Grain's private worker flag, a multiprocessing/multiprocess child counts as a worker."""
    from grain._src.python.dataset.transformations import process_prefetch

    monkeypatch.delattr(process_prefetch, "is_in_worker_process")
    monkeypatch.setattr(melplug._parallel, "in_worker_process", lambda: True)
    assert melplug.grain.in_grain_worker()
    assert melplug.grain.MelSpectrogram(**CONFIG).threads_per_call == 1
    monkeypatch.setattr(melplug._parallel, "in_worker_process", lambda: False)
    assert not melplug.grain.in_grain_worker()


def test_multi_host_shards_are_disjoint_and_complete(expected):
    t = melplug.grain.MelSpectrogram(**CONFIG, key="audio", out_key="mel")

    def run(shard_options):
        loader = grain.DataLoader(
            data_source=helpers.Records(NUM_RECORDS),
            sampler=_sampler(),
            operations=[t],
            shard_options=shard_options,
            worker_count=0,
        )
        return {int(rec["index"]): rec["mel"] for rec in loader}

    single = run(grain.sharding.NoSharding())
    shards = [run(grain.sharding.ShardOptions(shard_index=i, shard_count=2)) for i in range(2)]
    assert sorted(single) == list(range(NUM_RECORDS))
    assert shards[0] and shards[1] and not set(shards[0]) & set(shards[1])
    assert set(shards[0]) | set(shards[1]) == set(single)
    for shard in shards:
        for i, mel in shard.items():
            _assert_mel(mel, single[i])
            _assert_mel(mel, expected[i])


# --------------------------------------------------------------------------- worker processes


def _check_worker_records(records, expected, parent_pid, threads):
    """Outputs equal; computed in >= 1 Grain worker; first calls loaded kernels from the disk cache."""
    assert sorted(int(r["index"]) for r in records) == list(range(NUM_RECORDS))
    for r in records:
        _assert_mel(r["mel"], expected[int(r["index"])])
        assert r["pid"] != parent_pid and r["in_worker"]
        assert r["threads"] == threads
    firsts = [r for r in records if r["first_call"]]
    assert len({int(r["pid"]) for r in firsts}) == len(firsts) >= 1
    for r in firsts:
        # A recompilation would show as a cache miss (and take seconds); loading from the cache does not.
        assert r["cache_misses"] == 0 and r["cache_hits"] >= 1
    return {int(r["pid"]): float(r["call_s"]) for r in firsts}


def test_iter_dataset_mp_prefetch(core, expected, record_property):
    t = helpers.Probe(melplug.grain.MelSpectrogram(**CONFIG, key="audio", out_key="mel", num_threads=2))
    ds = grain.MapDataset.source(helpers.Records(NUM_RECORDS)).to_iter_dataset().map(t)
    ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=2))
    it = iter(ds)
    try:
        records = [_plain(r) for r in it]
    finally:
        it.close()
    # An explicit num_threads is honoured inside workers.
    first_call_s = _check_worker_records(records, expected, parent_pid=os.getpid(), threads=2)
    assert len(first_call_s) == 2
    record_property("worker_first_call_s", first_call_s)


def test_data_loader_with_two_workers(core, expected, record_property):
    t = helpers.Probe(melplug.grain.MelSpectrogram(**CONFIG, key="audio", out_key="mel"))
    loader = grain.DataLoader(
        data_source=helpers.Records(NUM_RECORDS),
        sampler=_sampler(),
        operations=[t, grain.transforms.Batch(batch_size=2, drop_remainder=True)],
        worker_count=2,
    )
    batches = [_plain(b) for b in loader]
    del loader
    gc.collect()
    assert len(batches) == NUM_RECORDS // 2
    assert all(b["mel"].shape == (2, 32, FRAMES) and b["mel"].dtype == np.float32 for b in batches)
    records = [{k: v[j] for k, v in b.items()} for b in batches for j in range(2)]
    # Default thread count inside a Grain worker: one per call (workers x threads <= cores).
    first_call_s = _check_worker_records(records, expected, parent_pid=os.getpid(), threads=1)
    assert len(first_call_s) == 2
    record_property("worker_first_call_s", first_call_s)
    print(f"per-worker first-call time (s): {first_call_s}")
