"""melplug.hf with real Hugging Face ``datasets``: map, storage, fingerprints, workers, streaming, nodes, files."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

datasets = pytest.importorskip("datasets", reason="melplug.hf needs Hugging Face datasets (melplug[hf])")

import melplug  # noqa: E402
import melplug.hf  # noqa: E402
from melplug._parallel import default_num_threads  # noqa: E402
from tests._util import ROOT, make_audio  # noqa: E402

KW = {"num_mel_bins": 40, "sampling_rate": 16000, "fft_length": 512, "sequence_length": 400, "sequence_stride": 160}
LENGTHS = (4000, 1600, 3001, 800, 2500, 160)
FIXED = 800  # crop length for equal-length tests (the 160-sample clip left out)


@pytest.fixture(scope="module", autouse=True)
def hf_env(tmp_path_factory):
    """HF caches in a temporary folder, offline, quiet; the same for subprocesses."""
    cache = tmp_path_factory.mktemp("hf-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_DATASETS_CACHE", str(cache))
        mp.setenv("HF_HOME", str(cache))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
        mp.setattr(datasets.config, "HF_HUB_OFFLINE", True)
        datasets.disable_progress_bars()
        yield cache
        datasets.enable_progress_bars()


@pytest.fixture(scope="module")
def clips():
    return [make_audio((n,), seed=i) for i, n in enumerate(LENGTHS)]


@pytest.fixture(scope="module")
def core():
    return melplug.MelSpectrogram(**KW)


@pytest.fixture(scope="module")
def mel(core, clips):
    core(clips)  # the parent process has used melplug before any worker forks
    return melplug.hf.MelSpectrogram(**KW)


@pytest.fixture(scope="module")
def ds(clips):
    features = datasets.Features({"audio": datasets.List(datasets.Value("float32")), "id": datasets.Value("int64")})
    return datasets.Dataset.from_dict({"audio": clips, "id": list(range(len(clips)))}, features=features)


@pytest.fixture(scope="module")
def saved(ds, tmp_path_factory):
    """The dataset saved to disk: maps over it write (and reuse) cache files beside it."""
    path = str(tmp_path_factory.mktemp("saved") / "clips")
    ds.save_to_disk(path)
    return path


def assert_rows_equal(stored, expected, layout="mels_frames"):
    assert len(stored) == len(expected)
    for got, want in zip(stored, expected, strict=True):
        got = np.asarray(got)
        assert got.dtype == np.float32
        want = want.astype(np.float32)
        if layout == "frames_mels":
            want = want.T
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


class Counting:
    """Delegates to a core object and records each call's audio."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __call__(self, audio, **kwargs):
        self.calls.append(audio)
        return self.inner(audio, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class FakeTensor:
    def __init__(self, array):
        self.array = array

    def cpu(self):
        return self

    def numpy(self):
        return self.array


class FakeDecoder:
    """Quacks like torchcodec's AudioDecoder: get_all_samples() -> .data (C, N), .sample_rate."""

    def __init__(self, data, sample_rate):
        self.data, self.sample_rate = FakeTensor(np.asarray(data, dtype=np.float32)), sample_rate

    def get_all_samples(self):
        return self


class ThreadProbe(melplug.hf.MelSpectrogram):
    """Also reports the thread count each call used and the process it ran in."""

    def __call__(self, example):
        out = super().__call__(example)
        rows = len(out[self.out_column])
        out["threads"] = [self.threads_per_call or 0] * rows
        out["pid"] = [os.getpid()] * rows
        return out


# --------------------------------------------------------------------------- map, rows and batches


@pytest.mark.parametrize("layout", ["mels_frames", "frames_mels"])
@pytest.mark.parametrize("batched", [True, False])
def test_map_matches_core(ds, mel, core, clips, layout, batched):
    fn = mel.replace(layout=layout)
    out = fn.map(ds.with_format("numpy"), batched=batched, batch_size=4, remove_columns=["audio"])
    assert out.features["mel"] == fn.feature()
    assert list(out.column_names) == ["id", "mel"]
    out = out.with_format("numpy")
    assert [int(i) for i in out["id"]] == list(range(len(clips)))
    assert_rows_equal(list(out["mel"]), core(clips), layout)


def test_default_python_format_follows_core_dtype_rules(ds, mel, core, clips):
    # The default format hands rows over as Python floats: float64 audio, computed in float64, stored as float32.
    out = ds.map(mel, batched=True, batch_size=4, features=mel.features(ds.features))
    expected = core([np.asarray(c.tolist()) for c in clips])
    assert expected[0].dtype == np.float64
    assert_rows_equal(list(out.with_format("numpy")["mel"]), expected)


def test_batch_of_different_lengths_is_one_core_call(mel, core, clips):
    fn = mel.replace()
    fn._mel = Counting(fn._mel)
    out = fn({"audio": list(clips), "id": list(range(len(clips)))})
    assert len(fn._mel.calls) == 1 and len(fn._mel.calls[0]) == len(clips)
    assert_rows_equal(out["mel"], core(clips))
    # numpy-formatted ragged batch (an object array) and an equal-length 2-D batch: one call each as well
    fn({"audio": np.array(list(clips) + [None], dtype=object)[:-1]})
    batch = np.stack([c[:FIXED] for c in clips if len(c) >= FIXED])
    out = fn({"audio": batch})
    assert len(fn._mel.calls) == 3 and fn._mel.calls[2] is batch
    assert out["mel"].dtype == np.float32 and out["mel"].shape == (len(batch), 40, 6)
    np.testing.assert_array_equal(out["mel"], core(batch))


def test_values_lists_dicts_and_decoders(mel, core, clips):
    clip = clips[0]
    want = core(clip)
    for value in (
        clip,
        clip.tolist(),
        {"array": clip, "sampling_rate": 16000},
        {"array": clip},
        FakeDecoder(clip[None, :], 16000),
    ):
        got = mel({"audio": value})["mel"]
        assert got.dtype == np.float32
        if isinstance(value, list):
            np.testing.assert_array_equal(got, core(np.asarray(value)).astype(np.float32))
        else:
            np.testing.assert_array_equal(got, want)
    batch = [{"array": clips[1], "sampling_rate": 16000}, FakeDecoder(clips[2][None, :], 16000), clips[3]]
    assert_rows_equal(mel({"audio": batch})["mel"], core([clips[1], clips[2], clips[3]]))


def test_multichannel_mean_or_raise(mel, core, clips):
    stereo = np.stack([clips[0], 0.5 * clips[0][::-1]])
    mono = np.mean(stereo, axis=0, dtype=np.float32)
    want = core(mono)
    for value in ({"array": stereo, "sampling_rate": 16000}, FakeDecoder(stereo, 16000)):
        np.testing.assert_array_equal(mel({"audio": value})["mel"], want)
        np.testing.assert_array_equal(mel({"audio": [value, value]})["mel"][1], want)
    strict = mel.replace(multichannel="raise")
    with pytest.raises(ValueError, match=r"2 channels.*Audio\(num_channels=1\)"):
        strict({"audio": FakeDecoder(stereo, 16000)})
    with pytest.raises(ValueError, match="1-D .* or 2-D"):
        mel({"audio": {"array": stereo[None], "sampling_rate": 16000}})


def test_channels_last_arrays_are_detected(mel, core, clips):
    """soundfile/scipy give stereo as (samples, channels); such arrays were once averaged over the samples axis."""
    stereo = np.stack([clips[0], 0.5 * clips[0][::-1]])  # (2, N): channels first
    want = core(np.mean(stereo, axis=0, dtype=np.float32))
    for array in (stereo, stereo.T, np.ascontiguousarray(stereo.T)):  # first, last (a view), last (copied)
        got = mel({"audio": {"array": array, "sampling_rate": 16000}})["mel"]
        assert got.shape == want.shape == (40, 1 + len(clips[0]) // 160)
        np.testing.assert_array_equal(got, want)
    mono_column = np.ascontiguousarray(clips[1][:, None])  # (N, 1): one channel, last
    np.testing.assert_array_equal(mel({"audio": [mono_column]})["mel"][0], core(clips[1]))
    # Through Dataset.map: a stored (samples, channels) Array2D column, in batches and row by row.
    features = datasets.Features({"audio": datasets.Array2D(shape=(None, 2), dtype="float32")})
    rows = datasets.Dataset.from_dict({"audio": [np.ascontiguousarray(stereo.T)] * 2}, features=features)
    out = mel.map(rows.with_format("numpy"), batch_size=2, remove_columns=["audio"]).with_format("numpy")
    assert_rows_equal(list(out["mel"]), [want, want])
    out = rows.map(mel, batched=False, remove_columns=["audio"]).with_format("numpy")  # Python lists: float64
    want64 = core(np.mean(stereo.astype(np.float64), axis=0))
    assert_rows_equal(list(out["mel"]), [want64, want64])
    # numpy format, row by row: the row is a plain dict, and (samples, 2) is one clip, not 2-sample clips
    out = mel.map(rows.with_format("numpy"), batched=False, remove_columns=["audio"]).with_format("numpy")
    assert_rows_equal(list(out["mel"]), [want, want])


@pytest.mark.parametrize("shape", [(2, 2), (20, 30), (17, 4000), (4000, 17)])
def test_ambiguous_channel_layouts_are_refused(mel, shape):
    value = {"array": np.zeros(shape, np.float32), "sampling_rate": 16000}
    with pytest.raises(
        ValueError,
        match=rf"row 0 of the batch: shape \({shape[0]}, {shape[1]}\) is ambiguous.*"
        r"channels first.*np\.moveaxis",
    ):
        mel({"audio": [value]})


def test_sampling_rate_mismatch(ds, mel, clips):
    value = {"array": clips[0], "sampling_rate": 44100}
    pattern = r"sampling_rate=44100.*sampling_rate=16000.*cast_column\('audio', Audio\(sampling_rate=16000\)\)"
    with pytest.raises(ValueError, match=pattern):
        mel({"audio": value})
    with pytest.raises(ValueError, match="row 1 of the batch has sampling_rate=22050"):
        mel({"audio": [clips[0], FakeDecoder(clips[1][None], 22050)]})
    rows = datasets.Dataset.from_dict({"audio": [{"array": clips[0], "sampling_rate": 8000}]})
    with pytest.raises(ValueError, match="sampling_rate=8000"):
        rows.map(mel)


def test_adapter_errors(mel, clips):
    with pytest.raises(ValueError, match=r"column='audio' is not in the example; its columns are 'speech'"):
        mel({"speech": clips[0]})
    with pytest.raises(TypeError, match=r"mel\.mel\(audio\)"):
        mel(clips[0])
    with pytest.raises(ValueError, match="missing"):
        mel({"audio": None})
    with pytest.raises(ValueError, match="layout='mels'"):
        melplug.hf.MelSpectrogram(layout="mels")
    with pytest.raises(ValueError, match="multichannel='first'"):
        melplug.hf.MelSpectrogram(multichannel="first")
    with pytest.raises(TypeError, match="out_column"):
        melplug.hf.MelSpectrogram(out_column=3)
    with pytest.raises(ValueError, match="fft_length=0"):  # validated by the core
        melplug.hf.MelSpectrogram(fft_length=0)
    with pytest.raises(TypeError, match="unknown"):
        mel.replace(hop=3)


def test_config_repr_pickle_roundtrips(mel, clips):
    import dill

    custom = melplug.hf.MelSpectrogram(
        column="wav", out_column="fbank", layout="frames_mels", window="hamming", top_db=None, num_threads=1, **KW
    )
    assert melplug.hf.MelSpectrogram.from_config(custom.get_config()) == custom
    assert custom.replace(num_threads=None) != custom
    assert "column='wav'" in repr(custom) and "num_mel_bins=40" in repr(custom)
    want = custom({"wav": clips[0]})["fbank"]
    dumps = [pickle.dumps, dill.dumps]
    try:
        import cloudpickle
    except ImportError:
        pass
    else:
        dumps.append(cloudpickle.dumps)
    for dump in dumps:
        back = pickle.loads(dump(custom))
        assert back == custom and repr(back) == repr(custom)
        np.testing.assert_array_equal(back({"wav": clips[0]})["fbank"], want)


# --------------------------------------------------------------------------- storage


def test_storage_is_float32_and_reads_back_as_numpy(ds, core, clips):
    core64 = melplug.hf.MelSpectrogram(layout="frames_mels", **KW)
    out = core64.map(ds.with_format("numpy"), batch_size=4)
    assert out.features["mel"] == datasets.Array2D(shape=(None, 40), dtype="float32")
    assert out.features["audio"] == ds.features["audio"]
    arrow_type = out.data.schema.field("mel").type.storage_type
    assert str(arrow_type) == "list<item: list<item: float>>"  # Arrow's float is float32
    stored = out.with_format("numpy")[:]["mel"]
    assert_rows_equal(list(stored), [m.astype(np.float32) for m in core64.mel(clips)], "frames_mels")
    forced = melplug.hf.MelSpectrogram(dtype="float64", layout="frames_mels", **KW)  # float64 only when forced
    assert forced.map(ds, batch_size=4).features["mel"] == datasets.Array2D(shape=(None, 40), dtype="float64")


@pytest.mark.parametrize("layout", ["mels_frames", "frames_mels"])
def test_fixed_length_clips_store_as_fixed_array2d(mel, core, clips, layout):
    fixed = [c[:FIXED] for c in clips if len(c) >= FIXED]
    fn = mel.replace(layout=layout)
    ds = datasets.Dataset.from_dict({"audio": fixed}).with_format("numpy")
    out = fn.map(ds, remove_columns=["audio"], features=fn.features(num_samples=FIXED))
    shape = (40, 6) if layout == "mels_frames" else (6, 40)
    assert out.features["mel"] == datasets.Array2D(shape=shape, dtype="float32")
    block = out.with_format("numpy")[:]["mel"]
    assert isinstance(block, np.ndarray) and block.shape == (len(fixed), *shape) and block.dtype == np.float32
    want = core(np.stack(fixed))
    np.testing.assert_array_equal(block, want if layout == "mels_frames" else want.transpose(0, 2, 1))


def test_features_helper_keeps_and_removes_columns(mel, ds):
    feats = mel.features(ds.features, remove_columns="audio")
    assert list(feats) == ["id", "mel"]
    assert feats["mel"] == datasets.List(datasets.List(datasets.Value("float32")), length=40)
    assert list(mel.features(ds.features)) == ["audio", "id", "mel"]


# --------------------------------------------------------------------------- fingerprints and cache

FINGERPRINT_SCRIPT = textwrap.dedent(
    """
    import glob, json, os, sys
    import datasets, melplug.hf
    from datasets.fingerprint import Hasher

    datasets.logging.set_verbosity_info()
    datasets.disable_progress_bars()
    path, configs = sys.argv[1], json.loads(sys.argv[2])
    ds = datasets.load_from_disk(path).with_format("numpy")
    results = []
    for config in configs:
        mel = melplug.hf.MelSpectrogram(**config)
        before = set(glob.glob(os.path.join(path, "cache-*.arrow")))
        out = ds.map(mel, batched=True, batch_size=4, features=mel.features(ds.features))
        cache_file = out.cache_files[0]["filename"]
        results.append({"fingerprint": out._fingerprint, "hash": Hasher.hash(mel), "cache_file": cache_file,
                        "existed": cache_file in before, "first": out.with_format("numpy")[0]["mel"].sum().item()})
    print("RESULTS " + json.dumps(results))
    """
)


def _run_fingerprint_process(saved, configs, seed, tmp_path):
    script = tmp_path / "fingerprint.py"
    script.write_text(FINGERPRINT_SCRIPT)
    env = dict(os.environ, PYTHONHASHSEED=str(seed), PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, str(script), saved, json.dumps(configs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "couldn't be hashed" not in proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULTS "))
    return json.loads(line[len("RESULTS ") :]), proc.stderr


def test_fingerprint_stable_across_processes_and_cache_hit(saved, tmp_path):
    a = dict(KW)
    (first,), _ = _run_fingerprint_process(saved, [a], seed=1, tmp_path=tmp_path)
    assert not first["existed"]
    second, log = _run_fingerprint_process(
        saved,
        [a, dict(a, num_threads=1), dict(a, top_db=60.0), dict(a, layout="frames_mels")],
        seed=2,
        tmp_path=tmp_path,
    )
    same, threads, other, layout = second
    # the same configuration in another process: same hash, same fingerprint, and the cached file is loaded
    assert same["hash"] == first["hash"] and same["fingerprint"] == first["fingerprint"]
    assert same["existed"] and same["cache_file"] == first["cache_file"] and same["first"] == first["first"]
    assert f"Loading cached processed dataset at {first['cache_file'][: -len('.arrow')]}" in log
    # the thread count never changes a value, so it does not change the fingerprint (as num_proc does not)
    assert threads["fingerprint"] == first["fingerprint"] and threads["existed"]
    # a different configuration is a different computation
    for changed in (other, layout):
        assert changed["fingerprint"] != first["fingerprint"] and not changed["existed"]
    assert other["fingerprint"] != layout["fingerprint"]


def test_fingerprint_in_process(mel):
    from datasets.fingerprint import Hasher, update_fingerprint

    assert Hasher.hash(mel) == Hasher.hash(melplug.hf.MelSpectrogram(**KW))
    assert Hasher.hash(mel) == Hasher.hash(pickle.loads(pickle.dumps(mel)))
    assert Hasher.hash(mel) == Hasher.hash(mel.replace(num_threads=2))
    for change in (
        {"top_db": None},
        {"num_mel_bins": 41},
        {"column": "wav"},
        {"out_column": "m"},
        {"layout": "frames_mels"},
        {"multichannel": "raise"},
        {"window": "hamming"},
        {"dtype": "float64"},
    ):
        assert Hasher.hash(mel.replace(**change)) != Hasher.hash(mel), change
    # a random fingerprint (what datasets falls back to when hashing fails) would differ between calls
    assert update_fingerprint("abc", mel, {}) == update_fingerprint("abc", mel.replace(), {})


# --------------------------------------------------------------------------- workers and threads


def test_num_proc_2_after_parent_use_without_oversubscription(saved, mel, core, clips):
    from datasets.fingerprint import Hasher

    ds = datasets.load_from_disk(saved).with_format("numpy")
    probe = ThreadProbe(**KW)
    out = ds.map(
        probe, batched=True, batch_size=2, num_proc=2, remove_columns=["audio"], load_from_cache_file=False
    ).with_format("numpy")
    assert len({int(p) for p in out["pid"]} - {os.getpid()}) == 2  # two worker processes did the work
    assert {int(t) for t in out["threads"]} == {1}  # one thread per worker by default: 2 x 1 <= cores
    assert_rows_equal(list(out["mel"]), core(clips))
    # the helper gives each of the N workers cores // N threads, and the same cache key as a plain map
    out = probe.map(ds, num_proc=1, batch_size=2, features=None, load_from_cache_file=False)
    assert set(out["threads"]) == {default_num_threads()}
    # a plain numeric column is computed here with min(N, cores) threads: no worker processes to start
    out = probe.map(ds, num_proc=2, batch_size=2, features=None, load_from_cache_file=False)
    assert {int(p) for p in out["pid"]} == {os.getpid()}
    assert set(out["threads"]) == {min(2, default_num_threads())}
    # a column that needs per-row Python work (dicts of samples and rate here) keeps the workers
    dicts = datasets.Dataset.from_dict({"audio": [{"array": c, "sampling_rate": 16000} for c in clips]})
    out = probe.map(dicts, num_proc=2, batch_size=2, features=None, load_from_cache_file=False)
    assert os.getpid() not in {int(p) for p in out["pid"]}
    assert set(out["threads"]) == {max(1, default_num_threads() // 2)}
    assert_rows_equal(list(out.with_format("numpy")["mel"]), core([c.astype(np.float64) for c in clips]))  # as lists
    # an explicit thread count travels to the workers (the fingerprint leaves it out; the pickled state does not)
    explicit = ThreadProbe(num_threads=3, **KW)
    assert Hasher.hash(explicit) == Hasher.hash(probe)  # subclasses are hashed without num_threads too
    out = ds.map(explicit, batched=True, batch_size=2, num_proc=2, load_from_cache_file=False)
    assert os.getpid() not in {int(p) for p in out["pid"]}  # computed in workers
    assert {int(t) for t in out["threads"]} == {3}
    # in the main process the core's default applies
    assert probe.threads_per_call is None
    out = mel.map(ds, num_proc=2, batch_size=2, remove_columns=["audio"])
    assert_rows_equal(list(out.with_format("numpy")["mel"]), core(clips))
    features = mel.features(ds.features, remove_columns=["audio"])
    plain = ds.map(mel, batched=True, batch_size=2, remove_columns=["audio"], features=features)
    assert plain._fingerprint == out._fingerprint  # helper (threads set per worker) and plain map share the cache
    assert plain.cache_files == out.cache_files


# --------------------------------------------------------------------------- streaming and nodes


@pytest.mark.parametrize("batched", [True, False])
def test_iterable_dataset_map(ds, mel, core, clips, batched):
    it = ds.with_format("numpy").to_iterable_dataset(num_shards=2)
    out = mel.map(it, batched=batched, batch_size=4, remove_columns=["audio"])
    assert out.features["mel"] == mel.feature()
    rows = list(out.with_format("numpy"))
    assert [int(r["id"]) for r in rows] == list(range(len(clips)))
    assert_rows_equal([r["mel"] for r in rows], core(clips))
    # and a plain ds.map over the unformatted stream (Python lists: float64 compute)
    rows = list(ds.to_iterable_dataset().map(mel, batched=batched, batch_size=4))
    assert_rows_equal([r["mel"] for r in rows], core([np.asarray(c.tolist()) for c in clips]))


def test_streaming_from_parquet_files(ds, mel, core, clips, tmp_path):
    ds.to_parquet(str(tmp_path / "clips.parquet"))
    stream = datasets.load_dataset("parquet", data_files=str(tmp_path / "clips.parquet"), split="train", streaming=True)
    assert isinstance(stream, datasets.IterableDataset)
    rows = list(mel.map(stream.with_format("numpy"), batch_size=4, remove_columns=["audio"]))
    assert_rows_equal([r["mel"] for r in rows], core(clips))


@pytest.mark.parametrize("streaming", [False, True])
def test_split_dataset_by_node_covers_once(saved, mel, core, clips, streaming):
    from datasets.distributed import split_dataset_by_node

    ds = datasets.load_from_disk(saved).with_format("numpy")
    if streaming:
        ds = ds.to_iterable_dataset(num_shards=2)
    single = {int(r["id"]): r["mel"] for r in mel.map(ds, remove_columns=["audio"]).with_format("numpy")}
    seen = []
    for rank in range(2):
        part = split_dataset_by_node(ds, rank=rank, world_size=2)
        rows = list(mel.map(part, batch_size=2, remove_columns=["audio"]).with_format("numpy"))
        assert 0 < len(rows) < len(clips)
        for row in rows:
            seen.append(int(row["id"]))
            np.testing.assert_array_equal(row["mel"], single[int(row["id"])])
    assert sorted(seen) == list(range(len(clips)))
    assert_rows_equal([single[i] for i in range(len(clips))], core(clips))


# --------------------------------------------------------------------------- real audio files


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory):
    sf = pytest.importorskip("soundfile", reason="melplug.hf decodes audio files with soundfile (melplug[hf])")
    folder = tmp_path_factory.mktemp("audio")
    stereo = np.stack([make_audio((3000,), seed=10), make_audio((3000,), seed=11)[::-1]], axis=1)
    files = {
        "stereo.wav": (stereo, 16000, "PCM_16"),
        "mono.flac": (make_audio((2100,), seed=12), 16000, "PCM_16"),
        "float.wav": (make_audio((1200,), seed=13), 16000, "FLOAT"),
    }
    paths = []
    for name, (data, rate, subtype) in files.items():
        path = str(folder / name)
        sf.write(path, data, rate, subtype=subtype)
        paths.append(path)
    odd = str(folder / "cd.wav")
    sf.write(odd, make_audio((2205,), seed=14), 22050)
    return paths, odd


def _decoded(path):
    import soundfile as sf

    data, rate = sf.read(path, dtype="float32", always_2d=True)
    assert rate == 16000
    return np.mean(data.T, axis=0, dtype=np.float32)


@pytest.mark.parametrize("embed", [False, True])
def test_wav_and_flac_files_audio_feature_decode_false(audio_files, mel, core, tmp_path, embed):
    paths, _ = audio_files
    if embed:
        values = [{"bytes": open(p, "rb").read(), "path": os.path.basename(p)} for p in paths]  # noqa: SIM115
    else:
        values = paths
    ds = datasets.Dataset.from_dict({"audio": values}).cast_column("audio", datasets.Audio(decode=False))
    ds.save_to_disk(str(tmp_path / "files"))
    ds = datasets.load_from_disk(str(tmp_path / "files"))
    assert ds.features["audio"] == datasets.Audio(decode=False)
    out = mel.map(ds, batch_size=2)
    assert out.features["audio"] == datasets.Audio(decode=False)
    assert_rows_equal(list(out.with_format("numpy")["mel"]), core([_decoded(p) for p in paths]))
    row = mel.map(ds, batched=False, remove_columns=["audio"]).with_format("numpy")[0]["mel"]
    np.testing.assert_array_equal(row, core(_decoded(paths[0])))


def test_audio_file_errors(audio_files, mel, tmp_path):
    _, odd = audio_files
    ds = datasets.Dataset.from_dict({"audio": [odd]}).cast_column("audio", datasets.Audio(decode=False))
    with pytest.raises(ValueError, match=r"sampling_rate=22050.*sampling_rate=16000.*Audio\(sampling_rate=16000\)"):
        ds.map(mel, batched=True)
    bad = tmp_path / "not_audio.wav"
    bad.write_bytes(b"this is not audio")
    with pytest.raises(ValueError, match=r"not_audio\.wav'\): cannot read it as audio: .*decode it another way"):
        mel({"audio": {"bytes": None, "path": str(bad)}})
    with pytest.raises(ValueError, match="'array'.*'bytes'/'path'"):
        mel({"audio": {"path": None, "bytes": None}})


def test_audio_feature_decoded_by_torchcodec(audio_files, mel, core):
    """The real decode=True path; runs where torchcodec works (it does not on this project's machines)."""
    pytest.importorskip("torchcodec")
    if not datasets.config.TORCHCODEC_AVAILABLE:
        pytest.skip("torchcodec is installed but datasets cannot use it")
    paths, _ = audio_files
    ds = datasets.Dataset.from_dict({"audio": paths}).cast_column("audio", datasets.Audio(sampling_rate=16000))
    decoders = [ds[i]["audio"] for i in range(len(paths))]
    expected = core([np.asarray(d["array"], dtype=np.float32) for d in decoders])
    out = mel.map(ds, batch_size=2, remove_columns=["audio"])
    assert_rows_equal(list(out.with_format("numpy")["mel"]), expected)


# --------------------------------------------------------------------------- replace and dtype


def test_hf_replace_dtype_goes_through_validation():
    # replace(dtype=...) goes through from_config, which once let np.float64 become None and accepted "float16".
    hf = pytest.importorskip("melplug.hf", reason="the HF adapter needs datasets (melplug[hf])")
    mel = hf.MelSpectrogram(num_mel_bins=40)
    assert mel.replace(dtype=np.float64).mel.dtype == "float64"
    with pytest.raises(ValueError, match="dtype="):
        mel.replace(dtype="float16")
