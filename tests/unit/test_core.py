"""The core layer (``melplug.core``): one home for the defaults, the functional form, output shapes.

Regression tests: the functional form's cache used to key on values that hash
equal (``512`` and ``512.0``, ``True`` and ``1``), so whether a call was
validated depended on the calls before it; ``compute_output_shape`` used to
raise ``TypeError`` for unknown sizes where Keras returns ``None`` frames.
"""

from __future__ import annotations

import inspect

import pytest

import melplug
from melplug import core
from tests._util import make_audio

KW = dict(fft_length=512, sequence_length=400, sequence_stride=160, num_mel_bins=40, min_freq=0.0)


def test_one_home_for_the_defaults():
    params = inspect.signature(melplug.MelSpectrogram.__init__).parameters
    assert core.KERAS_DEFAULTS == {k: params[k].default for k in core.KERAS_DEFAULTS}
    assert list(core.KERAS_DEFAULTS) == [
        "fft_length",
        "sequence_stride",
        "sequence_length",
        "window",
        "sampling_rate",
        "num_mel_bins",
        "min_freq",
        "max_freq",
        "power_to_db",
        "top_db",
        "mag_exp",
        "min_power",
        "ref_power",
    ]
    assert list(core.EXTRA_DEFAULTS) == ["top_db_scope", "dtype", "on_nonfinite", "num_threads"]


# --------------------------------------------------------------------------- the functional form's cache


@pytest.mark.parametrize(
    "first, second", [({"fft_length": 512}, {"fft_length": 512.0}), ({"power_to_db": True}, {"power_to_db": 1})]
)
def test_functional_form_validates_whatever_was_called_before(first, second):
    x = make_audio((2000,))
    melplug.mel_spectrogram(x, num_mel_bins=40, **first)
    with pytest.raises(TypeError):
        melplug.mel_spectrogram(x, num_mel_bins=40, **second)
    with pytest.raises(TypeError):
        melplug.mel_spectrogram(x, num_mel_bins=40, **second)


# --------------------------------------------------------------------------- unknown sizes


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((2, None), (2, 40, None)),
        ((None,), (40, None)),
        ((None, None), (None, 40, None)),
        ((None, 16000), (None, 40, 101)),
    ],
)
def test_compute_output_shape_with_unknown_sizes(shape, expected):
    assert melplug.MelSpectrogram(**KW).compute_output_shape(shape) == expected


def test_unknown_sizes_as_keras(keras):
    layer = keras.layers.MelSpectrogram(num_mel_bins=40)
    mel = melplug.MelSpectrogram(num_mel_bins=40)
    for shape in [(2, None), (None,), (None, None)]:
        assert mel.compute_output_shape(shape) == tuple(layer.compute_output_shape(shape))
