"""melplug.ray: direct calls on every batch form, then Ray Data pipelines on a real local cluster.

One module-scoped cluster (``ray.init(num_cpus=2)``, Ray's testing guide).
Actors get ``num_cpus=0.5``: actors holding every CPU of this 2-CPU cluster
starve ``read_audio``'s read tasks forever (ray-project/ray#44687).
Expected values come from melplug's NumPy API on the same samples
(soundfile's decode, channels averaged) and from the float64 reference in
``tests/references/mel.py``.
"""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="melplug.ray is tested on a Ray cluster (melplug[ray])")
sf = pytest.importorskip("soundfile", reason="the test audio files are written with soundfile (melplug[ray])")
pytest.importorskip("ray.data", reason="melplug.ray needs Ray Data (ray[data], melplug[ray])")

import melplug  # noqa: E402
import melplug.ray  # noqa: E402
from tests._util import DB_TOL, make_audio, run_python  # noqa: E402
from tests.references import mel as reference  # noqa: E402

KW = {"num_mel_bins": 40, "sampling_rate": 16000, "fft_length": 512, "sequence_length": 400, "sequence_stride": 160}
#: (file name, channels, samples): mono and stereo, two lengths, WAV and FLAC
FILES = [("a.wav", 1, 16000), ("b.flac", 2, 16000), ("c.wav", 1, 9600), ("d.flac", 2, 9600), ("e.wav", 1, 16000)]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
ACTOR_CPUS = 0.5  # fractional: leaves CPUs to read_audio's read tasks on a 2-CPU cluster


@pytest.fixture(scope="module")
def core():
    return melplug.MelSpectrogram(**KW)


@pytest.fixture(scope="module")
def cluster():
    # The module is imported as tests.adapters.test_ray; Ray workers could not import it, so its functions
    # travel by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    """The FILES as 16-bit WAV/FLAC at 16 kHz; returns the folder and each file's float32 decode (channels, N)."""
    folder = tmp_path_factory.mktemp("audio")
    decoded = {}
    for i, (name, channels, n) in enumerate(FILES):
        x = np.stack([make_audio((n,), seed=10 * i + c) * (0.8 - 0.3 * c) for c in range(channels)], axis=1)
        sf.write(folder / name, x, 16000, subtype="PCM_16")
        data, rate = sf.read(folder / name, dtype="float32", always_2d=True)
        assert rate == 16000
        decoded[name] = np.ascontiguousarray(data.T)
    return folder, decoded


def downmix(x):
    return x.mean(axis=0, dtype=x.dtype) if x.shape[0] > 1 else x[0]


# --------------------------------------------------------------------------- direct calls: batch forms


def test_2d_batch_is_one_tensor_equal_to_core_and_reference(core):
    audio = make_audio((3, 8000), seed=1)
    out = melplug.ray.MelSpectrogram(**KW)({"amplitude": audio, "label": np.array([7, 8, 9])})
    assert out["mel"].dtype == np.float32 and out["mel"].shape == (3, 40, 51)
    np.testing.assert_array_equal(out["mel"], core(audio))
    np.testing.assert_allclose(out["mel"], reference.mel_spectrogram(audio, **KW), atol=DB_TOL[np.float32], rtol=0)
    assert out["label"].tolist() == [7, 8, 9]
    assert set(out) == {"amplitude", "label", "mel"}


def test_3d_blocks_mono_is_a_view_and_stereo_is_averaged(core):
    mono = make_audio((2, 1, 4000), seed=2)
    out = melplug.ray.MelSpectrogram(**KW)({"amplitude": mono})["mel"]
    np.testing.assert_array_equal(out, core(mono[:, 0]))
    stereo = make_audio((2, 2, 4000), seed=3)
    stereo[:, 1] *= 0.25  # the channels differ: the mean is not either of them
    out = melplug.ray.MelSpectrogram(**KW)({"amplitude": stereo})["mel"]
    assert out.shape == (2, 40, 26)
    np.testing.assert_array_equal(out, core(stereo.mean(axis=1, dtype=np.float32)))
    assert not np.allclose(out, core(stereo[:, 0]), atol=0.1)


def test_object_array_of_ragged_mono_and_stereo_clips(core):
    clips = [make_audio((n,), seed=n) for n in (4000, 2400)] + [make_audio((2, 3200), seed=5)]
    column = np.empty(3, dtype=object)
    column[:] = clips
    out = melplug.ray.MelSpectrogram(**KW)({"amplitude": column, "id": np.array([10, 11, 12])})
    mel = out["mel"]
    assert mel.dtype == object and [m.shape for m in mel] == [(40, 26), (40, 16), (40, 21)]
    expected = core([clips[0], clips[1], downmix(clips[2])])
    for got, want in zip(mel, expected, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
    # equal output shapes from an object array: one tensor
    same = np.empty(2, dtype=object)
    same[:] = [clips[0], clips[0][::-1].copy()]
    assert melplug.ray.MelSpectrogram(**KW)({"amplitude": same})["mel"].shape == (2, 40, 26)


def test_pandas_and_pyarrow_batches_keep_their_type(core):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    from ray.data.extensions import ArrowTensorArray

    clips = [make_audio((1, n), seed=n) for n in (3200, 1600)]
    mel = melplug.ray.MelSpectrogram(**KW)
    expected = [core(c[0]) for c in clips]
    frame = pd.DataFrame({"amplitude": clips, "key": ["x", "y"]})
    out = mel(frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["amplitude", "key", "mel"]
    assert "mel" not in frame.columns  # the input is not modified
    assert out["key"].tolist() == ["x", "y"]
    for got, want in zip(out["mel"], expected, strict=True):
        np.testing.assert_array_equal(got, want)
    ragged = np.empty(2, dtype=object)
    ragged[:] = [clips[0], clips[1]]
    table = pa.table({"amplitude": ArrowTensorArray.from_numpy(ragged), "key": ["x", "y"]})
    out = mel(table)
    assert isinstance(out, pa.Table) and out.column_names == ["amplitude", "key", "mel"]
    for got, want in zip(out.column("mel").chunk(0).to_numpy(zero_copy_only=False), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_out_column_defaults_and_extractor(core):
    assert melplug.ray.MelSpectrogram().out_column == "mel"
    whisper = melplug.ray.MelSpectrogram(extractor="whisper")
    assert whisper.out_column == "input_features" and whisper.column == "amplitude"
    audio = make_audio((2, 1, 8000), seed=4)
    out = whisper({"amplitude": audio, "sample_rate": np.array([16000, 16000])})["input_features"]
    assert out.shape == (2, 80, 3000)
    np.testing.assert_array_equal(out, melplug.preset("whisper")(audio[:, 0]))
    # an MFCC preset: cepstra, in the preset's (frames, 13) layout, at the actor's rate check
    mfcc = melplug.ray.MelSpectrogram(extractor="kaldi-mfcc")
    out = mfcc({"amplitude": audio, "sample_rate": np.array([16000, 16000])})["input_features"]
    np.testing.assert_array_equal(out, melplug.preset("kaldi-mfcc")(audio[:, 0]))
    assert out.shape == (2, 48, 13)
    replaced = melplug.ray.MelSpectrogram(extractor=core, column="x", out_column="x")({"x": audio[:, 0]})
    assert list(replaced) == ["x"] and replaced["x"].shape == (2, 40, 51)


# --------------------------------------------------------------------------- direct calls: errors


def test_wrong_sample_rate_names_rate_row_path_and_fix():
    mel = melplug.ray.MelSpectrogram(**KW)
    batch = {
        "amplitude": make_audio((3, 1, 1600)),
        "sample_rate": np.array([16000, 8000, 8000]),
        "path": np.array(["/data/a.wav", "/data/b.wav", "/data/c.wav"], dtype=object),
    }
    with pytest.raises(ValueError) as info:
        mel(batch)
    text = str(info.value)
    for part in ("sample_rate=8000", "row 1 of the batch", "path='/data/b.wav'", "sampling_rate=16000", "2 of 3"):
        assert part in text, text
    assert "resample" in text and "melplug.preset(name, sampling_rate=8000)" in text
    # no rate column, or rate_column=None: no check
    assert mel({"amplitude": batch["amplitude"]})["mel"].shape == (3, 40, 11)
    assert melplug.ray.MelSpectrogram(**KW, rate_column=None)(batch)["mel"].shape == (3, 40, 11)


def test_nan_names_the_row_and_propagate_gives_nan():
    audio = make_audio((3, 1600))
    audio[2, 100] = np.nan
    with pytest.raises(ValueError, match=r"column 'amplitude': row 2 of the batch \(id=12\) contains NaN"):
        melplug.ray.MelSpectrogram(**KW)({"amplitude": audio, "id": np.array([10, 11, 12])})
    ragged = np.empty(2, dtype=object)
    ragged[:] = [audio[2], audio[0, :800]]
    with pytest.raises(ValueError, match=r"row 0 of the batch contains NaN .*on_nonfinite='propagate'"):
        melplug.ray.MelSpectrogram(**KW)({"amplitude": ragged})
    out = melplug.ray.MelSpectrogram(**KW, on_nonfinite="propagate")({"amplitude": audio})["mel"]
    assert np.isnan(out[2]).all() and np.isfinite(out[:2]).all()


def test_multichannel_raise_and_bad_inputs():
    stereo = {"amplitude": make_audio((2, 2, 1600)), "path": np.array(["x.flac", "y.flac"], dtype=object)}
    with pytest.raises(ValueError, match=r"row 0 of the batch \(path='x.flac'\): it has 2 channels.*multichannel"):
        melplug.ray.MelSpectrogram(**KW, multichannel="raise")(stereo)
    with pytest.raises(ValueError, match=r"column='audio' is not in the batch; its columns are 'amplitude', 'path'"):
        melplug.ray.MelSpectrogram(**KW, column="audio")(stereo)
    with pytest.raises(ValueError, match=r"has shape \(2, 2, 2, 1600\)"):
        melplug.ray.MelSpectrogram(**KW)({"amplitude": np.zeros((2, 2, 2, 1600), np.float32)})
    empty = np.empty(2, dtype=object)
    empty[:] = [np.zeros(800, np.float32), np.zeros(0, np.float32)]
    with pytest.raises(ValueError, match=r"row 1 of the batch is empty"):
        melplug.ray.MelSpectrogram(**KW)({"amplitude": empty})
    with pytest.raises(TypeError, match="a dict of arrays, a pandas.DataFrame or a pyarrow.Table"):
        melplug.ray.MelSpectrogram(**KW)(np.zeros((2, 800)))
    with pytest.raises(TypeError, match="either extractor= or MelSpectrogram's arguments"):
        melplug.ray.MelSpectrogram(num_mel_bins=40, extractor="whisper")
    with pytest.raises(ValueError, match="multichannel='first' is invalid"):
        melplug.ray.MelSpectrogram(multichannel="first")
    with pytest.raises(TypeError, match="rate_column must be a non-empty column name"):
        melplug.ray.MelSpectrogram(rate_column="")


# --------------------------------------------------------------------------- threads, config, pickling


def test_threads_follow_the_assigned_cpus(monkeypatch):
    mel = melplug.ray.MelSpectrogram(**KW)
    assert melplug.ray.assigned_cpus() is None and mel.threads_per_call is None  # not a Ray worker
    seen = []
    real_call = type(mel.mel).__call__

    def spy(self, audio, *, num_threads=None):
        seen.append(num_threads)
        return real_call(self, audio, num_threads=num_threads)

    monkeypatch.setattr(type(mel.mel), "__call__", spy)
    for cpus, threads in ((0.5, 1), (1.0, 1), (1.5, 1), (2.0, 2), (0.0, 1)):
        monkeypatch.setattr(melplug.ray, "assigned_cpus", lambda cpus=cpus: cpus)
        assert mel.threads_per_call == threads
        mel({"amplitude": make_audio((2, 800))})
        assert seen[-1] == threads
    assert melplug.ray.MelSpectrogram(**KW, num_threads=3).threads_per_call == 3  # explicit wins


def test_config_repr_and_pickle_carry_config_and_arrays_only(core):
    cloudpickle = pytest.importorskip("cloudpickle")
    audio = make_audio((2, 1, 3200))
    for mel in (
        melplug.ray.MelSpectrogram(**KW, column="x", out_column="y", multichannel="raise"),
        melplug.ray.MelSpectrogram(extractor="kaldi", rate_column=None),
    ):
        expected = mel({mel.column: audio})[mel.out_column]
        assert melplug.ray.MelSpectrogram.from_config(mel.get_config()) == mel
        assert repr(mel).startswith(f"melplug.ray.MelSpectrogram(column={mel.column!r}, out_column=")
        for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
            payload = dumps(mel)
            assert b"numba" not in payload and b"Dispatcher" not in payload
            back = loads(payload)
            assert back == mel
            np.testing.assert_array_equal(back({mel.column: audio})[mel.out_column], expected)


# --------------------------------------------------------------------------- Ray Data on a local cluster


def test_read_audio_with_two_actors_equals_numpy_api_and_reference(cluster, audio_dir, core):
    folder, decoded = audio_dir
    ds = ray.data.read_audio(str(folder), include_paths=True)
    ds = ds.map_batches(
        melplug.ray.MelSpectrogram,
        batch_size=2,
        compute=ray.data.ActorPoolStrategy(size=2),
        num_cpus=ACTOR_CPUS,
        fn_constructor_kwargs=KW,
    )
    rows = ds.take_all()
    assert sorted(r["path"].rsplit("/", 1)[1] for r in rows) == sorted(name for name, _, _ in FILES)
    for row in rows:
        name = row["path"].rsplit("/", 1)[1]
        samples = decoded[name]
        assert row["sample_rate"] == 16000
        np.testing.assert_array_equal(row["amplitude"], samples)  # passed through untouched
        mono = downmix(samples)
        assert row["mel"].dtype == np.float32 and row["mel"].shape == (40, core.num_frames(mono.shape[0]))
        np.testing.assert_array_equal(row["mel"], core(mono))
        np.testing.assert_allclose(row["mel"], reference.mel_spectrogram(mono, **KW), atol=DB_TOL[np.float32], rtol=0)


def test_actor_threads_are_the_assigned_cpus(cluster):
    @ray.remote
    def probe(mel):
        import numba

        return mel.threads_per_call, melplug.ray.assigned_cpus(), numba.config.NUMBA_NUM_THREADS

    mel = melplug.ray.MelSpectrogram(**KW)
    answers = ray.get([probe.options(num_cpus=c).remote(mel) for c in (0.5, 1, 2)])
    assert [a[:2] for a in answers] == [(1, 0.5), (1, 1.0), (2, 2.0)]
    assert {a[2] for a in answers} == {melplug._parallel.default_num_threads()}  # Ray leaves Numba's count alone


def test_from_items_task_mode_keeps_rows_order_and_columns(cluster, core):
    clips = [make_audio((n,), seed=n) for n in (3200, 3200, 1600, 4000, 1600, 2400, 3200)]
    items = [{"audio": c, "id": i, "label": f"L{i}"} for i, c in enumerate(clips)]
    context = ray.data.DataContext.get_current()
    before = context.execution_options.preserve_order
    context.execution_options.preserve_order = True
    try:
        mel = melplug.ray.MelSpectrogram(**KW, column="audio")  # an instance: a stateless task function
        rows = ray.data.from_items(items, override_num_blocks=3).map_batches(mel, batch_size=3).take_all()
    finally:
        context.execution_options.preserve_order = before
    assert [r["id"] for r in rows] == list(range(len(clips)))
    assert [r["label"] for r in rows] == [f"L{i}" for i in range(len(clips))]
    for row, clip in zip(rows, clips, strict=True):
        np.testing.assert_array_equal(row["audio"], clip)
        np.testing.assert_array_equal(row["mel"], core(clip))


def test_wrong_rate_file_reaches_the_driver_with_rate_row_and_fix(cluster, tmp_path):
    sf.write(tmp_path / "ok.wav", make_audio((3200,)), 16000)
    sf.write(tmp_path / "slow.wav", make_audio((1600,)), 8000)
    ds = ray.data.read_audio(str(tmp_path), include_paths=True)
    ds = ds.map_batches(melplug.ray.MelSpectrogram, batch_size=2, fn_constructor_kwargs=KW, num_cpus=ACTOR_CPUS,
                        compute=ray.data.ActorPoolStrategy(size=1))  # fmt: skip
    with pytest.raises(Exception) as info:  # noqa: B017 - Ray re-raises it as its own error type
        ds.take_all()
    text = str(info.value)
    assert "sample_rate=8000" in text and "slow.wav" in text and "row " in text, text
    assert "sampling_rate=16000" in text and "resample" in text


def test_resample_true_converts_read_audio_rows_in_the_pipeline(cluster, tmp_path):
    """read_audio of 48 kHz and 22.05 kHz stereo files -> resample=True -> the features of the soxr-resampled clips."""
    import soxr

    files = {"a.wav": (48000, make_audio((4800, 1), seed=1)), "b.flac": (22050, make_audio((2205, 2), seed=2))}
    for name, (rate, x) in files.items():
        sf.write(tmp_path / name, x, rate)
    ds = ray.data.read_audio(str(tmp_path), include_paths=True)
    kwargs = dict(KW, resample=True)
    ds = ds.map_batches(melplug.ray.MelSpectrogram, batch_size=2, num_cpus=ACTOR_CPUS, fn_constructor_kwargs=kwargs,
                        compute=ray.data.ActorPoolStrategy(size=1))  # fmt: skip
    core = melplug.MelSpectrogram(**KW)
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in ds.take_all()}
    assert sorted(rows) == sorted(files)
    for name, (rate, _) in files.items():
        decoded, _ = sf.read(tmp_path / name, dtype="float32", always_2d=True)
        want = core(np.ascontiguousarray(soxr.resample(decoded, rate, 16000).mean(axis=1)))
        np.testing.assert_allclose(rows[name]["mel"], want, rtol=0, atol=1e-4)


def test_nan_row_reaches_the_driver_named_by_id(cluster):
    clips = [make_audio((1600,), seed=i) for i in range(4)]
    clips[3][5] = np.inf
    ds = ray.data.from_items([{"audio": c, "id": 100 + i} for i, c in enumerate(clips)], override_num_blocks=1)
    with pytest.raises(Exception) as info:  # noqa: B017 - Ray re-raises it as its own error type
        ds.map_batches(melplug.ray.MelSpectrogram(**KW, column="audio"), batch_size=4).take_all()
    assert "column 'audio': row 3 of the batch (id=103) contains NaN or Inf" in str(info.value)


def test_importing_the_adapter_does_not_import_ray():
    code = """
        import sys, melplug.ray
        assert "ray" not in sys.modules and "pyarrow" not in sys.modules, sorted(sys.modules)
        print("ok")
    """
    assert run_python(code).stdout.strip() == "ok"
