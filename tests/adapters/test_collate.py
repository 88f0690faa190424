"""``melplug.hf.MelSpectrogram.collate`` (a DataLoader collate function) and on-the-fly ``with_transform``."""

from __future__ import annotations

import importlib.util
import io

import numpy as np
import pytest

import melplug

sf = pytest.importorskip("soundfile")
soxr = pytest.importorskip("soxr")
datasets = pytest.importorskip("datasets")
import melplug.hf  # noqa: E402


def _clips(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in lengths]


@pytest.mark.parametrize("extractor, layout", [("kaldi", None), ("parakeet", None), ("kaldi", "mels_frames")])
def test_collate_pads_to_the_longest_and_masks(extractor, layout):
    mel = melplug.hf.MelSpectrogram(extractor=extractor, layout=layout)
    clips = _clips((16000, 4001, 9999))
    rows = [{"audio": c, "label": i, "text": f"clip {i}", "weights": np.ones(3) * i} for i, c in enumerate(clips)]
    batch = mel.collate(rows)
    fx = mel.mel
    alone = [mel({"audio": c})[mel.out_column] for c in clips]
    axis = 0 if mel.layout == "frames_mels" else 1
    frames = max(a.shape[axis] for a in alone)
    feats, mask = batch[mel.out_column], batch[mel.mask_column or "attention_mask"]
    assert feats.dtype == np.float32 and mask.dtype == np.int32 and mask.shape == (3, frames)
    for i, (a, c) in enumerate(zip(alone, clips, strict=True)):
        got = feats[i] if axis == 0 else feats[i].T
        want = a if axis == 0 else a.T
        np.testing.assert_array_equal(got[: want.shape[0]], want)
        assert (got[want.shape[0] :] == np.float32(fx.plan.pad_value)).all()
        assert mask[i].sum() == fx.valid_frames(c.shape[0]) and mask[i, : mask[i].sum()].all()
    assert batch["label"].tolist() == [0, 1, 2] and batch["text"] == ["clip 0", "clip 1", "clip 2"]
    assert batch["weights"].shape == (3, 3)


def test_collate_decodes_and_resamples_encoded_rows():
    mel = melplug.hf.MelSpectrogram(extractor="whisper", resample=True)
    rows = []
    for i, rate in enumerate((48000, 8000, 16000)):
        buf = io.BytesIO()
        sf.write(buf, _clips((rate // 2,), seed=i)[0], rate, format="FLAC")
        rows.append({"audio": {"bytes": buf.getvalue(), "path": None}, "id": i})
    batch = mel.collate(rows)
    assert batch["input_features"].shape == (3, 80, 3000)
    for i, row in enumerate(rows):
        x, rate = sf.read(io.BytesIO(row["audio"]["bytes"]), dtype="float32")
        x = soxr.resample(x, rate, 16000) if rate != 16000 else x
        np.testing.assert_array_equal(batch["input_features"][i], mel.mel(x))
        assert batch["attention_mask"][i].sum() == mel.mel.valid_frames(x.shape[0])


def test_a_loader_loop_over_a_dataset_and_with_transform_slices():
    clips = _clips((16000, 8000, 12000, 4000, 16000))
    ds = datasets.Dataset.from_dict({"audio": clips, "label": [0, 1, 0, 1, 1]})
    mel = melplug.hf.MelSpectrogram(extractor="kaldi")
    seen = 0
    for start in range(0, len(ds), 2):  # what DataLoader(ds, batch_size=2, collate_fn=mel.collate) hands over
        batch = mel.collate([ds[i] for i in range(start, min(start + 2, len(ds)))])
        seen += batch["input_features"].shape[0]
        assert batch["label"].shape == (batch["input_features"].shape[0],)
    assert seen == len(ds)
    fly = ds.with_transform(mel)  # the transform gets Python lists of floats: computed in float64, stored float32
    np.testing.assert_array_equal(fly[2]["input_features"], mel.mel(clips[2].astype(np.float64)).astype(np.float32))
    sliced = fly[1:4]["input_features"]
    assert [s.shape for s in sliced] == [mel.mel(c).shape for c in clips[1:4]]


def test_collate_return_tensors_and_errors():
    mel = melplug.hf.MelSpectrogram(extractor="kaldi")
    rows = [{"audio": c} for c in _clips((4000, 5000))]
    if importlib.util.find_spec("torch") is None:
        with pytest.raises(ImportError, match="return_tensors='pt' needs torch"):
            mel.collate(rows, return_tensors="pt")
    else:  # pragma: no cover - torch is not in the test extra
        import torch

        out = mel.collate(rows, return_tensors="pt")
        assert isinstance(out["input_features"], torch.Tensor)
    with pytest.raises(ValueError, match="return_tensors='tf' is invalid"):
        mel.collate(rows, return_tensors="tf")
    with pytest.raises(ValueError, match="row 1 of the batch has no column 'audio'"):
        mel.collate([rows[0], {"sound": rows[1]["audio"]}])
    with pytest.raises(TypeError, match="non-empty list of dataset rows"):
        mel.collate([])


def test_map_reads_plain_audio_as_numpy_and_gives_the_format_back():
    clips = _clips((16000, 8000, 12000))
    ds = datasets.Dataset.from_dict({"audio": clips, "label": [1, 2, 3]})
    mel = melplug.hf.MelSpectrogram(extractor="kaldi")
    out = mel.map(ds, batch_size=2, num_proc=2)
    assert out.format["type"] is None and out.column_names == ["audio", "label", "input_features"]
    plain = ds.map(mel, batched=True, batch_size=2, features=mel.features(ds.features))  # Python lists: float64
    for a, b, clip in zip(out["input_features"], plain["input_features"], clips, strict=True):
        np.testing.assert_array_equal(np.asarray(a, np.float32), mel.mel(clip))  # read as float32, as stored
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-4)
    assert out["label"] == [1, 2, 3]


def test_out_dtype_float16_halves_the_stored_features():
    ds = datasets.Dataset.from_dict({"audio": _clips((16000, 8000))})
    mel = melplug.hf.MelSpectrogram(extractor="whisper", out_dtype="float16")
    assert mel.feature(16000).dtype == "float16" and mel.output_dtype == np.float16
    out = mel.map(ds, remove_columns=["audio"]).with_format("numpy")
    assert out.features["input_features"].dtype == "float16"
    assert "halffloat" in str(out.data.column("input_features").type.storage_type)  # stored as float16
    got = out[:]["input_features"]  # datasets' numpy format reads floats back as float32
    np.testing.assert_array_equal(got[1], mel.mel(_clips((16000, 8000))[1]).astype(np.float16).astype(got.dtype))
    assert mel.get_config()["out_dtype"] == "float16" and melplug.hf.MelSpectrogram.from_config(mel.get_config()) == mel
    with pytest.raises(ValueError, match="out_dtype"):
        melplug.hf.MelSpectrogram(extractor="whisper", out_dtype="int8")
