"""``resample=True`` in the Hugging Face and Grain adapters (Ray's: ``test_ray.py``), against soundfile + soxr.

The reference is what a user would write: ``soundfile.read`` the bytes (float32, channels last), ``soxr.resample``
them to the extractor's rate, average the channels, call the core extractor.  Rates 8, 22.05, 44.1 and 48 kHz (and
the extractor's own 16 kHz, untouched), mono and stereo, FLAC and WAV bytes; without ``resample=True`` a clip at
another rate is a ``ValueError`` naming both rates and the option; a corrupt file names its row.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

import melplug
from melplug import _parallel

sf = pytest.importorskip("soundfile")
soxr = pytest.importorskip("soxr")
datasets = pytest.importorskip("datasets")
grain = pytest.importorskip("grain")
import melplug.grain  # noqa: E402
import melplug.hf  # noqa: E402

RATES = (8000, 22050, 44100, 48000, 16000)


def _encoded(rate: int, channels: int, seconds: float, fmt: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    x = (0.2 * rng.standard_normal((int(seconds * rate), channels))).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def _reference(fx, data: bytes) -> np.ndarray:
    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    if rate != fx.sampling_rate:
        samples = soxr.resample(samples, rate, fx.sampling_rate)
    return fx(np.ascontiguousarray(samples.mean(axis=1)))


@pytest.fixture(scope="module")
def rows():
    out = []
    for i, rate in enumerate(RATES):
        channels, fmt = (2, "WAV") if i % 2 else (1, "FLAC")
        out.append({"bytes": _encoded(rate, channels, 0.5 + 0.1 * i, fmt, seed=i), "path": f"clip{i}.{fmt.lower()}"})
    return out


def test_hf_bytes_at_any_rate_in_dataset_map(rows):
    mel = melplug.hf.MelSpectrogram(extractor="whisper", resample=True)
    ds = datasets.Dataset.from_dict({"audio": rows, "label": list(range(len(rows)))})
    out = mel.map(ds, batch_size=3).with_format("numpy")
    assert list(out["label"]) == list(range(len(rows)))
    for got, row in zip(list(out["input_features"]), rows, strict=True):
        np.testing.assert_array_equal(got, _reference(mel.mel, row["bytes"]))


def test_hf_on_the_fly_rows_and_decoded_dicts(rows):
    mel = melplug.hf.MelSpectrogram(extractor="kaldi", resample=True)
    ds = datasets.Dataset.from_dict({"audio": rows}).with_transform(mel)
    for i in (0, 3):
        np.testing.assert_array_equal(ds[i]["input_features"], _reference(mel.mel, rows[i]["bytes"]))
    batch = ds[1:4]["input_features"]
    assert len(batch) == 3
    samples, rate = sf.read(io.BytesIO(rows[2]["bytes"]), dtype="float32")
    got = mel({"audio": {"array": samples, "sampling_rate": rate}})["input_features"]
    np.testing.assert_array_equal(got, _reference(mel.mel, rows[2]["bytes"]))


def test_hf_without_resample_names_both_rates_and_the_option(rows):
    mel = melplug.hf.MelSpectrogram(extractor="kaldi")
    with pytest.raises(
        ValueError, match=r"row 0 of the batch .* sampling_rate=8000 .* sampling_rate=16000.*resample=True"
    ):
        mel({"audio": rows})
    assert mel({"audio": rows[4]})["input_features"].shape[1] == 23  # the extractor's own rate needs nothing


def test_hf_corrupt_file_names_its_row(rows):
    mel = melplug.hf.MelSpectrogram(extractor="kaldi", resample=True)
    bad = [rows[0], {"bytes": b"not audio at all", "path": "broken.flac"}, rows[1]]
    with pytest.raises(ValueError, match=r"row 1 of the batch \('broken.flac'\).*cannot read it as audio"):
        mel({"audio": bad})


def test_hf_resample_is_part_of_the_config_and_fingerprint():
    a = melplug.hf.MelSpectrogram(extractor="kaldi", resample=True)
    b = melplug.hf.MelSpectrogram(extractor="kaldi")
    assert a.get_config()["resample"] is True and melplug.hf.MelSpectrogram.from_config(a.get_config()) == a
    assert a != b and a._fingerprint_state() != b._fingerprint_state()
    with pytest.raises(TypeError, match="resample"):
        melplug.hf.MelSpectrogram(extractor="kaldi", resample="yes")


def test_grain_rate_field(rows):
    mel = melplug.grain.MelSpectrogram(extractor="kaldi", key="audio", out_key="mel", resample=True)
    elements = []
    for row in rows:
        samples, rate = sf.read(io.BytesIO(row["bytes"]), dtype="float32", always_2d=True)
        elements.append({"audio": np.ascontiguousarray(samples.mean(axis=1)), "sampling_rate": rate})
    ds = grain.MapDataset.source(elements).map(mel)
    for i, element in enumerate(elements):
        x, rate = element["audio"], element["sampling_rate"]
        want = mel.mel(soxr.resample(x, rate, 16000) if rate != 16000 else x)
        np.testing.assert_array_equal(ds[i]["mel"], want)
        assert ds[i]["sampling_rate"] == rate
    plain = melplug.grain.MelSpectrogram(extractor="kaldi", key="audio")
    with pytest.raises(ValueError, match=r"sampling_rate=8000 .* sampling_rate=16000; pass resample=True"):
        grain.MapDataset.source(elements).map(plain)[0]
    with pytest.raises(ValueError, match="one sampling rate > 0"):
        mel.map({"audio": np.zeros((2, 800), np.float32), "sample_rate": np.array([8000, 16000])})
    batched = mel.map({"audio": np.stack([elements[0]["audio"]] * 2), "sample_rate": np.array([8000, 8000])})
    np.testing.assert_array_equal(batched["mel"][1], ds[0]["mel"])


def test_map_items_keeps_order_and_raises_the_first_failure():
    items = list(range(50))
    assert _parallel.map_items(lambda i, x: (i, x * 2), items, 4) == [(i, 2 * i) for i in items]
    assert _parallel.map_items(lambda i, x: x, [], 4) == []

    def fail(i, x):
        if x in (7, 31):
            raise ValueError(f"item {x}")
        return x

    with pytest.raises(ValueError, match="item 7"):
        _parallel.map_items(fail, items, 4)
