"""Preset overrides: ``sequence_stride`` is the hop in samples for every preset, ``hop_length`` in the preset's unit.

kaldi, ast and kaldi-mfcc are timed in milliseconds (25 ms frames every
10 ms); Keras' ``sequence_stride`` (and ``melplug compute --sequence-stride``,
whose help says samples) must still mean samples there.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import melplug
from melplug import _plan
from tests._util import make_audio

MS_PRESETS = ("kaldi", "ast", "kaldi-mfcc")
CLIP = make_audio((16000,), seed=3)


@pytest.mark.parametrize("name", MS_PRESETS)
def test_sequence_stride_is_samples_for_ms_presets(name):
    default = melplug.preset(name)
    same = melplug.preset(name, sequence_stride=160)  # 160 samples = the default 10 ms at 16 kHz
    np.testing.assert_array_equal(same(CLIP), default(CLIP))
    assert same.frame_unit == "samples" and same.hop_length == 160 and same.frame_length == 400
    if name != "ast":  # ast's output is a fixed 1024 frames
        assert default.num_frames(16000) == 98
        assert melplug.preset(name, sequence_stride=320).num_frames(16000) == 49  # twice the hop: half the frames


@pytest.mark.parametrize("rate", [22050, 16400, 8000])
def test_the_frame_length_converts_as_the_engine_does(rate):
    """At rates where 25 ms is not a whole number of samples, the frames stay the preset's own."""
    hop = _plan.samples(10.0, "ms", rate)
    clip = make_audio((rate,), seed=rate)
    by_stride = melplug.preset("kaldi", sampling_rate=rate, sequence_stride=hop)
    assert by_stride.frame_length == _plan.samples(25.0, "ms", rate)
    np.testing.assert_array_equal(by_stride(clip), melplug.preset("kaldi", sampling_rate=rate)(clip))


def test_frame_length_override_in_ms_is_converted_too():
    fx = melplug.preset("kaldi", frame_length=20.0, sequence_stride=80)
    assert (fx.frame_unit, fx.frame_length, fx.hop_length) == ("samples", 320, 80)
    np.testing.assert_array_equal(fx(CLIP), melplug.preset("kaldi", frame_length=20.0, hop_length=5.0)(CLIP))


def test_hop_length_keeps_the_presets_unit():
    fx = melplug.preset("kaldi", hop_length=20.0)  # milliseconds, like the preset's 10 ms
    assert fx.frame_unit == "ms" and fx.num_frames(16000) == 49
    np.testing.assert_array_equal(fx(CLIP), melplug.preset("kaldi", sequence_stride=320)(CLIP))


@pytest.mark.filterwarnings("ignore:.*mel bands are empty")  # torchaudio's default, as torchaudio warns
def test_samples_presets_take_sequence_stride_as_their_hop():
    assert melplug.preset("whisper", sequence_stride=320) == melplug.preset("whisper", hop_length=320)
    assert melplug.preset("torchaudio", sequence_stride=100) == melplug.preset("torchaudio", hop_length=100)
    assert melplug.preset("w2v-bert", sequence_stride=320) == melplug.preset("w2v-bert", hop_length=320)


def test_sequence_stride_errors():
    with pytest.raises(ValueError, match=r"both sequence_stride=160 and hop_length=10.0.*samples"):
        melplug.preset("kaldi", sequence_stride=160, hop_length=10.0)
    with pytest.raises((TypeError, ValueError), match=r"hop_length"):
        melplug.preset("kaldi", sequence_stride=0)
    with pytest.raises(TypeError, match=r"hop_length must be an integer"):
        melplug.preset("kaldi", sequence_stride=160.5)


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def wav(tmp_path):
    sf = pytest.importorskip("soundfile", reason="the command line decodes audio with soundfile (melplug[cli])")
    path = tmp_path / "a.wav"
    sf.write(path, CLIP, 16000, subtype="FLOAT")
    return path


def _compute(wav, out, *flags) -> np.ndarray:
    from melplug import cli

    assert cli.main(["compute", str(wav), "-o", str(out), "-q", *flags]) == 0
    return np.load(out / "a.npy")


def test_cli_sequence_stride_is_samples_with_a_preset(wav, tmp_path):
    default = _compute(wav, tmp_path / "default", "--preset", "kaldi")
    np.testing.assert_array_equal(
        _compute(wav, tmp_path / "s160", "--preset", "kaldi", "--sequence-stride", "160"), default
    )
    doubled = _compute(wav, tmp_path / "s320", "--preset", "kaldi", "--sequence-stride", "320")
    assert default.shape == (98, 23) and doubled.shape == (49, 23)
    np.testing.assert_array_equal(doubled, melplug.preset("kaldi", sequence_stride=320)(CLIP))
    mfcc = _compute(wav, tmp_path / "m320", "--preset", "kaldi-mfcc", "--sequence-stride", "320")
    assert mfcc.shape == (49, 13)


def test_cli_sequence_stride_with_a_presets_saved_config(wav, tmp_path):
    _compute(wav, tmp_path / "default", "--preset", "kaldi")
    config = tmp_path / "default" / "melplug.json"
    assert json.loads(config.read_text())["frame_unit"] == "ms"
    again = _compute(wav, tmp_path / "again", "--config", str(config), "--sequence-stride", "320")
    np.testing.assert_array_equal(again, melplug.preset("kaldi", sequence_stride=320)(CLIP))
