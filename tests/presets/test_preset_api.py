"""``melplug.preset()``: the names, the ``keras`` preset, and overrides validated like the engine's options."""

from __future__ import annotations

import pytest

import melplug


def test_keras_preset_is_melspectrogram():
    assert melplug.PRESETS[0] == "keras"
    assert {"keras", "whisper", "kaldi"} <= set(melplug.PRESETS)
    keras = melplug.preset("keras")
    assert type(keras) is melplug.MelSpectrogram
    assert keras == melplug.MelSpectrogram()
    assert melplug.preset("keras", num_mel_bins=80, fft_length=512) == melplug.MelSpectrogram(
        num_mel_bins=80, fft_length=512
    )
    assert melplug.preset("keras", num_mel_bins=80) != melplug.MelSpectrogram()


@pytest.mark.parametrize("name", [None, 3, "", "Whisper", "whisper ", "kaldi-fbank"])
def test_unknown_preset(name):
    with pytest.raises(ValueError, match=r"preset .* is unknown; the presets are 'keras', 'whisper', 'kaldi'"):
        melplug.preset(name)


@pytest.mark.parametrize("name", ["whisper", "kaldi", "parakeet"])
@pytest.mark.parametrize("option", ["n_ffts", "feature_sizes", "fft_length_ms", "sequence_length"])
def test_unknown_override(name, option):
    """An option the engine does not have is named, with the list of those it has (and its reference's keys)."""
    with pytest.raises(ValueError, match=rf"preset '{name}' has no option '{option}'.*num_mel_bins"):
        melplug.preset(name, **{option: 1})


def test_transformers_keys_are_overrides_only_of_their_presets():
    # whisper, a transformers extractor, takes its config keys; kaldi has none
    assert melplug.preset("whisper", feature_size=128).num_mel_bins == 128
    assert melplug.preset("whisper", n_fft=512).frame_length == 512
    for option in ("n_fft", "feature_size"):
        with pytest.raises(ValueError, match=rf"preset 'kaldi' has no option '{option}'"):
            melplug.preset("kaldi", **{option: 1})


def test_unknown_keras_override():
    with pytest.raises(ValueError, match=r"'n_fft'.*sequence_stride"):
        melplug.preset("keras", n_fft=512)


@pytest.mark.parametrize(
    ("name", "options", "error", "option"),
    [
        ("kaldi", dict(preemphasis=1.5), ValueError, "preemphasis"),
        ("kaldi", dict(frame_length=0.01), ValueError, "frame_length"),
        ("kaldi", dict(window="hanning"), ValueError, "window"),
        ("kaldi", dict(sampling_rate=0), ValueError, "sampling_rate"),
        ("whisper", dict(layout="frames"), ValueError, "layout"),
        ("whisper", dict(window_periodic=1), TypeError, "window_periodic"),
        ("whisper", dict(output_frames=0), ValueError, "output_frames"),
        ("whisper", dict(sampling_rate=-16000), ValueError, "sampling_rate"),
        ("whisper", dict(num_mel_bins=0), ValueError, "num_mel_bins"),
        ("whisper", dict(num_mel_bins=80.0), TypeError, "num_mel_bins"),
    ],
)
def test_override_errors(name, options, error, option):
    """A preset's overrides are validated like the engine's options."""
    with pytest.raises(error, match=rf"(?<![a-z_]){option}\b"):
        melplug.preset(name, **options)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("kaldi-mfcc", dict(num_mel_bins=12)),
        ("kaldi-mfcc", dict(num_ceps=24)),
        ("kaldi-mfcc", dict(num_mel_bins=40, num_ceps=41)),
        ("librosa-mfcc", dict(num_mel_bins=19)),
        ("librosa-mfcc", dict(num_ceps=129)),
    ],
)
def test_more_cepstra_than_mel_bins_is_refused(name, options):
    with pytest.raises(ValueError, match=r"(?<![a-z_])num_ceps\b"):
        melplug.preset(name, **options)
