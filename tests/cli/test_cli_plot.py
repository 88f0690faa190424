"""``melplug plot`` of any preset's output: saved ``.npy`` with the ``melplug.json`` compute wrote, or audio.

The picture's axes come from the extractor's engine options: frames-first
outputs (kaldi) are transposed, stacked frames (w2v-bert) unstacked, MFCC
outputs drawn as cepstra, the hop read in samples whatever the preset's unit.
"""

from __future__ import annotations

import numpy as np
import pytest

import melplug
import melplug.plot
from melplug import cli
from tests._util import make_audio

pytest.importorskip("matplotlib")
sf = pytest.importorskip("soundfile", reason="the command line decodes audio with soundfile (melplug[cli])")

RATES = {"whisper": 16000, "kaldi": 16000, "kaldi-mfcc": 16000, "w2v-bert": 16000, "ast": 16000, "librosa-mfcc": 22050}
#: Per preset: the drawn array's shape for a 1 s clip, and the axes plot_mel is given.
DRAWN = {
    "whisper": ((80, 3000), dict(sequence_stride=160, mel_scale="slaney", max_freq=8000.0, kind="mel", db=False)),
    "kaldi": ((23, 98), dict(sequence_stride=160, mel_scale="kaldi", min_freq=20.0, kind="mel", db=False)),
    "kaldi-mfcc": ((13, 98), dict(sequence_stride=160, kind="cepstra", db=False)),
    "w2v-bert": ((80, 98), dict(sequence_stride=160, kind="mel", db=False)),
    "ast": ((128, 1024), dict(sequence_stride=160, kind="mel", db=False)),
    "librosa-mfcc": ((20, 44), dict(sequence_stride=512, kind="cepstra", db=False)),
}
LABELS = {
    "whisper": "Log mel power (log10), scaled",
    "kaldi": "Log mel power (ln)",
    "kaldi-mfcc": "Cepstral coefficient",
    "w2v-bert": "Log mel power (ln), normalised",
}


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Per preset, ``melplug compute --preset`` of a 1 s clip: (the .npy, the melplug.json)."""
    root = tmp_path_factory.mktemp("plot")
    out = {}
    for name, rate in RATES.items():
        wav = root / f"{rate}.wav"
        if not wav.exists():
            sf.write(wav, make_audio((rate,), seed=1), rate, subtype="FLOAT")
        assert cli.main(["compute", str(wav), "-o", str(root / name), "--preset", name, "-q"]) == 0
        out[name] = (root / name / f"{rate}.npy", root / name / "melplug.json")
    return out


@pytest.mark.parametrize("name", ["whisper", "kaldi", "kaldi-mfcc"])
def test_plot_saved_preset_output(saved, tmp_path, capsys, name):
    npy, config = saved[name]
    png = tmp_path / f"{name}.png"
    assert cli.main(["plot", str(npy), "--config", str(config), "-o", str(png)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip() == str(png)
    assert _png_size(png) == (1000, 400)
    import matplotlib.image

    pixels = matplotlib.image.imread(png)
    assert pixels[..., :3].std() > 0.05  # a picture, not a blank canvas


@pytest.mark.parametrize("name", list(DRAWN))
def test_plot_draws_features_by_frames_with_the_extractors_axes(saved, tmp_path, monkeypatch, name):
    drawn = []
    monkeypatch.setattr(melplug.plot, "plot_mel", lambda mel, path, **kw: drawn.append((np.asarray(mel), kw)))
    npy, config = saved[name]
    assert cli.main(["plot", str(npy), "--config", str(config), "-o", str(tmp_path / "x.png")]) == 0
    ((mel, kwargs),) = drawn
    shape, axes = DRAWN[name]
    assert mel.shape == shape
    assert {k: kwargs[k] for k in axes} == axes
    assert kwargs["sampling_rate"] == RATES[name]
    if name in LABELS:
        assert kwargs["label"] == LABELS[name]
    saved_array = np.load(npy)
    if name == "w2v-bert":  # (frames / 2, 2 x 80) rows hold two consecutive frames
        np.testing.assert_array_equal(mel, saved_array.reshape(-1, 80).T)
    elif saved_array.shape != shape:  # frames-first outputs are drawn transposed
        np.testing.assert_array_equal(mel, saved_array.T)
    else:
        np.testing.assert_array_equal(mel, saved_array)


def test_plot_keras_keeps_its_axes(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(melplug.plot, "plot_mel", lambda mel, path, **kw: drawn.append((np.asarray(mel), kw)))
    wav = tmp_path / "a.wav"
    sf.write(wav, make_audio((16000,)), 16000, subtype="FLOAT")
    assert cli.main(["plot", str(wav), "--num-mel-bins", "40", "-o", str(tmp_path / "a.png")]) == 0
    ((mel, kwargs),) = drawn
    assert mel.shape == (40, 32)
    assert kwargs == dict(
        title="a.wav",
        sampling_rate=16000,
        sequence_stride=512,
        min_freq=20.0,
        max_freq=8000,
        db=True,
        mel_scale="keras",
        kind="mel",
        label="Power (dB)",
    )


def test_plot_audio_with_a_preset(tmp_path, capsys):
    wav = tmp_path / "a.wav"
    sf.write(wav, make_audio((16000,)), 16000, subtype="FLOAT")
    png = tmp_path / "a.png"
    assert cli.main(["plot", str(wav), "--preset", "kaldi-mfcc", "-o", str(png)]) == 0, capsys.readouterr().err
    assert _png_size(png) == (1000, 400)


def test_plot_with_other_settings_is_a_usage_error(saved, tmp_path, capsys):
    npy, _ = saved["kaldi"]
    whisper_config = saved["whisper"][1]
    assert cli.main(["plot", str(npy), "--config", str(whisper_config), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "has shape (98, 23) but these settings give (num_mel_bins=80, frames)" in err and "--config" in err
    assert not (tmp_path / "x.png").exists()
    mfcc_config = saved["kaldi-mfcc"][1]
    assert cli.main(["plot", str(npy), "--config", str(mfcc_config), "-o", str(tmp_path / "x.png")]) == 2
    assert "these settings give (frames, num_ceps=13)" in capsys.readouterr().err
