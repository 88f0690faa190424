"""melplug.hf with an extractor that reproduces a transformers extractor: the reference's column names and mask."""

from __future__ import annotations

import numpy as np
import pytest

import melplug
import melplug.hf

datasets = pytest.importorskip("datasets", reason="melplug.hf needs datasets (melplug[test])")


def _clips():
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (16000, 4321, 7777)]


@pytest.mark.parametrize("batched", [True, False])
def test_parakeet_writes_input_features_and_attention_mask(batched):
    fx = melplug.from_transformers({"feature_extractor_type": "ParakeetFeatureExtractor"})
    mel = melplug.hf.MelSpectrogram(extractor=fx)
    assert (mel.out_column, mel.mask_column) == ("input_features", "attention_mask")
    clips = _clips()
    features = datasets.Features({"audio": datasets.List(datasets.Value("float32"))})
    ds = datasets.Dataset.from_dict({"audio": clips}, features=features)
    out = mel.map(ds, batched=batched, remove_columns=["audio"]).with_format("numpy")
    assert set(out.column_names) == {"input_features", "attention_mask"}
    for i, clip in enumerate(clips):
        np.testing.assert_allclose(out[i]["input_features"], fx(clip), rtol=0, atol=1e-4)
        mask = out[i]["attention_mask"]
        assert mask.shape == (fx.num_frames(clip.shape[0]),)
        assert int(mask.sum()) == fx.valid_frames(clip.shape[0]) == clip.shape[0] // 160
        assert mask[: mask.sum()].all()


def test_a_reference_without_a_mask_writes_only_its_key():
    mel = melplug.hf.MelSpectrogram(extractor=melplug.preset("phi4-multimodal"))
    assert (mel.out_column, mel.mask_column) == ("audio_input_features", None)
    out = mel({"audio": _clips()})
    assert list(out) == ["audio_input_features"]
    ast = melplug.hf.MelSpectrogram(extractor="ast")
    assert ast.out_column == "input_values"


def test_a_2d_batch_gets_one_mask_per_row():
    mel = melplug.hf.MelSpectrogram(extractor="gemma3n")
    assert mel.mask_column == "input_features_mask"
    batch = np.stack(_clips()[0:1] * 2)
    out = mel({"audio": batch})
    assert out["input_features_mask"].shape == (2, out["input_features"].shape[1])
    assert (out["input_features_mask"].sum(axis=1) == mel.mel.valid_frames(16000)).all()
    assert mel.features()["input_features_mask"] == datasets.List(datasets.Value("int32"))
