"""Presets through every adapter: ``extractor=`` on Grain and HF datasets, ``melplug compute --preset``.

The numbers are the core's (tested against the references in ``tests/presets/``);
here each adapter must hand the preset's exact output over, in its layout.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

import melplug
from melplug._adapter import extractor_from_config
from tests._util import make_audio

CLIPS = [make_audio((n,), seed=n) for n in (16000, 9000, 4000)]


@pytest.fixture(scope="module")
def expected():
    return {name: melplug.preset(name)(CLIPS) for name in ("whisper", "kaldi", "w2v-bert")}


@pytest.fixture(scope="module")
def expected64():
    """What the HF adapter computes: datasets hands list columns over as float64 (stored back as float32)."""
    clips = [c.astype(np.float64) for c in CLIPS]
    return {
        name: [m.astype(np.float32) for m in melplug.preset(name)(clips)]
        for name in ("whisper", "kaldi", "w2v-bert", "kaldi-mfcc")
    }


# --------------------------------------------------------------------------- HF datasets


@pytest.fixture(scope="module")
def dataset():
    datasets = pytest.importorskip("datasets", reason="the HF adapter needs datasets (melplug[hf])")
    return datasets.Dataset.from_dict({"audio": CLIPS, "label": [0, 1, 2]})


@pytest.mark.parametrize(
    "name, feature",
    [
        ("whisper", "Array2D(shape=(80, 3000), dtype='float32')"),
        ("kaldi", "Array2D(shape=(None, 23), dtype='float32')"),
        ("w2v-bert", "Array2D(shape=(None, 160), dtype='float32')"),
        ("kaldi-mfcc", "Array2D(shape=(None, 13), dtype='float32')"),
    ],
)
def test_hf_preset_writes_input_features_in_the_preset_layout(dataset, expected64, name, feature):
    import melplug.hf

    fx = melplug.hf.MelSpectrogram(extractor=name)
    assert fx.out_column == "input_features"
    # mel.map reads the float32 column as NumPy: the core on the stored float32 clips, exactly
    out = fx.map(dataset, remove_columns=["audio"]).with_format("numpy")
    assert repr(out.features["input_features"]) == feature
    assert list(out["label"]) == [0, 1, 2]
    for got, want in zip(out["input_features"], melplug.preset(name)(CLIPS), strict=True):
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
    # a plain ds.map(mel) gets Python lists of floats from datasets: computed in float64, stored as float32
    plain = dataset.map(fx, batched=True, remove_columns=["audio"], features=fx.features(dataset.features))
    for got, want in zip(plain.with_format("numpy")["input_features"], expected64[name], strict=True):
        np.testing.assert_array_equal(got, want)


def test_hf_extractor_object_layout_override_and_config_round_trip(dataset, expected):
    import melplug.hf

    fx = melplug.hf.MelSpectrogram(extractor=melplug.preset("kaldi"), out_column="fbank", layout="mels_frames")
    row = fx({"audio": CLIPS[0]})
    np.testing.assert_array_equal(row["fbank"], expected["kaldi"][0].T)
    again = melplug.hf.MelSpectrogram.from_config(fx.get_config())
    assert again == fx and again.mel == melplug.preset("kaldi")
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fx))({"audio": CLIPS[1]})["fbank"], expected["kaldi"][1].T)
    assert fx.replace(num_threads=1).mel.num_threads == 1
    assert melplug.hf.MelSpectrogram(extractor="keras").out_column == "mel"


def test_hf_extractor_errors():
    import melplug.hf

    with pytest.raises(TypeError, match="either extractor= or"):
        melplug.hf.MelSpectrogram(extractor="whisper", num_mel_bins=40)
    with pytest.raises(ValueError, match="preset 'nope' is unknown"):
        melplug.hf.MelSpectrogram(extractor="nope")
    with pytest.raises(TypeError, match="extractor must be a preset name"):
        melplug.hf.MelSpectrogram(extractor=3)
    fx = melplug.hf.MelSpectrogram(extractor="whisper")
    with pytest.raises(ValueError, match="sampling_rate=8000 but"):
        fx({"audio": {"array": CLIPS[0], "sampling_rate": 8000}})


# --------------------------------------------------------------------------- Grain


def test_grain_preset_key_out_key_and_spec(expected):
    grain = pytest.importorskip("grain", reason="the Grain adapter needs grain (melplug[grain])")
    import melplug.grain

    t = melplug.grain.MelSpectrogram(extractor="kaldi", key="audio", out_key="fbank")
    records = [{"audio": c, "id": i} for i, c in enumerate(CLIPS)]
    ds = grain.MapDataset.source(records).map(t)
    for i in range(len(CLIPS)):
        np.testing.assert_array_equal(ds[i]["fbank"], expected["kaldi"][i])
        assert ds[i]["id"] == i
    spec = t.output_spec({"audio": grain.experimental.ShapeDtypeStruct(shape=(4, 16000), dtype=np.float32)})
    assert spec["fbank"].shape == (4, 98, 23)
    w = melplug.grain.MelSpectrogram(extractor="w2v-bert")
    assert w.output_spec(grain.experimental.ShapeDtypeStruct(shape=(None,), dtype=np.float32)).shape == (None, 160)
    assert w.map(CLIPS[0]).shape == expected["w2v-bert"][0].shape
    with pytest.raises(TypeError, match="either extractor= or"):
        melplug.grain.MelSpectrogram(extractor="kaldi", fft_length=512)


def test_grain_librosa_mfcc():
    """Cepstra through Grain (22.05 kHz clips past one block of frames: the deferred DCT): the core's numbers."""
    grain = pytest.importorskip("grain", reason="the Grain adapter needs grain (melplug[grain])")
    import melplug.grain

    clips = [make_audio((n,), seed=n) for n in (66150, 5001)]
    t = melplug.grain.MelSpectrogram(extractor="librosa-mfcc", key="audio", out_key="mfcc")
    ds = grain.MapDataset.source([{"audio": c} for c in clips]).map(t)
    core = melplug.preset("librosa-mfcc")(clips)
    for i, want in enumerate(core):
        assert want.shape == (20, 1 + len(clips[i]) // 512)
        np.testing.assert_array_equal(ds[i]["mfcc"], want)
    spec = t.output_spec({"audio": grain.experimental.ShapeDtypeStruct(shape=(2, 22050), dtype=np.float32)})
    assert spec["mfcc"].shape == (2, 20, 44)


# --------------------------------------------------------------------------- CLI


def test_cli_compute_preset_and_its_config(tmp_path, capsys, expected):
    sf = pytest.importorskip("soundfile", reason="the command line decodes audio with soundfile (melplug[cli])")
    from melplug import cli

    data = tmp_path / "data"
    data.mkdir()
    for i, clip in enumerate(CLIPS):
        sf.write(data / f"c{i}.wav", clip, 16000, subtype="FLOAT")
    out = tmp_path / "out"
    assert cli.main(["compute", str(data), "-o", str(out), "--preset", "kaldi", "-q"]) == 0
    config = json.loads((out / "melplug.json").read_text())
    assert extractor_from_config(config) == melplug.preset("kaldi")
    for i in range(len(CLIPS)):
        np.testing.assert_array_equal(np.load(out / f"c{i}.npy"), expected["kaldi"][i])
    # The saved settings compute the same again (--config with a preset's engine config).
    again = tmp_path / "again"
    assert (
        cli.main(["compute", str(data / "c0.wav"), "-o", str(again), "--config", str(out / "melplug.json"), "-q"]) == 0
    )
    np.testing.assert_array_equal(np.load(again / "c0.npy"), expected["kaldi"][0])
    capsys.readouterr()
    assert cli.main(["compute", str(data), "-o", str(tmp_path / "x"), "--preset", "kaldi", "--top-db", "80"]) == 2
    assert "--top-db cannot be used with --preset kaldi" in capsys.readouterr().err
    hop = ["--fft-length", "1024", "--sequence-stride", "320"]  # the overrides every preset takes
    assert cli.main(["compute", str(data / "c0.wav"), "-o", str(tmp_path / "z"), "--preset", "kaldi", *hop, "-q"]) == 0
    want = melplug.preset("kaldi", fft_length=1024, sequence_stride=320)(CLIPS[0])  # samples
    np.testing.assert_array_equal(np.load(tmp_path / "z" / "c0.npy"), want)
    assert cli.main(["compute", str(data), "-o", str(tmp_path / "y"), "--preset", "kaldi", "--num-mel-bins", "2"]) == 2
    assert "num_mel_bins=2" in capsys.readouterr().err


def test_cli_compute_librosa_mfcc(tmp_path):
    """``melplug compute --preset librosa-mfcc`` on 22.05 kHz WAV files writes the core's cepstra."""
    sf = pytest.importorskip("soundfile", reason="the command line decodes audio with soundfile (melplug[cli])")
    from melplug import cli

    clips = [make_audio((n,), seed=n) for n in (66150, 5001)]
    data = tmp_path / "data"
    data.mkdir()
    for i, clip in enumerate(clips):
        sf.write(data / f"c{i}.wav", clip, 22050, subtype="FLOAT")
    out = tmp_path / "out"
    assert cli.main(["compute", str(data), "-o", str(out), "--preset", "librosa-mfcc", "-q"]) == 0
    assert extractor_from_config(json.loads((out / "melplug.json").read_text())) == melplug.preset("librosa-mfcc")
    for i, want in enumerate(melplug.preset("librosa-mfcc")(clips)):
        got = np.load(out / f"c{i}.npy")
        assert got.dtype == np.float32 and got.shape == want.shape == (20, 1 + len(clips[i]) // 512)
        np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------- transformers presets


@pytest.mark.parametrize("name", ["parakeet", "fun-asr-nano", "granite-speech5", "gemma3n"])
def test_grain_takes_transformers_presets(name):
    """Grain hands over the core's numbers and shapes for the new steps (pre-emphasis, LFR, deltas, lookahead)."""
    grain = pytest.importorskip("grain", reason="the Grain adapter needs grain (melplug[grain])")
    import melplug.grain

    fx = melplug.preset(name)
    t = melplug.grain.MelSpectrogram(extractor=name, key="audio")
    ds = grain.MapDataset.source([{"audio": c} for c in CLIPS]).map(t)
    for i, clip in enumerate(CLIPS):
        np.testing.assert_array_equal(ds[i]["audio"], fx(clip))
    spec = t.output_spec({"audio": grain.experimental.ShapeDtypeStruct(shape=(2, 16000), dtype=np.float32)})
    assert spec["audio"].shape == (2, *fx(CLIPS[0]).shape)


def test_cli_computes_a_transformers_preset(tmp_path):
    soundfile = pytest.importorskip("soundfile", reason="the CLI reads audio with soundfile (melplug[cli])")
    from melplug.cli import main

    src = tmp_path / "wav"
    src.mkdir()
    soundfile.write(src / "a.wav", CLIPS[0], 16000, subtype="FLOAT")
    assert main(["compute", str(src), "-o", str(tmp_path / "out"), "--preset", "parakeet"]) == 0
    files = sorted((tmp_path / "out").rglob("*.npy"))
    assert len(files) == 1
    np.testing.assert_array_equal(np.load(files[0]), melplug.preset("parakeet")(CLIPS[0]))
