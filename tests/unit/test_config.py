"""The config layer through ``from_config``: every dtype the constructor takes, and only those.

Regression tests: ``from_config`` used to skip every ``dtype`` other than
literally ``None``, ``"float32"`` or ``"float64"`` as if it were a Keras dtype
policy (``np.float64`` became ``None``; ``"float16"`` was accepted although the
constructor refuses it).  (The HF adapter's ``replace`` is tested in
``tests/adapters/test_hf.py``.)
"""

from __future__ import annotations

import numpy as np
import pytest

import melplug


@pytest.mark.parametrize(
    "value, expected", [(np.float64, "float64"), (np.dtype("float32"), "float32"), ("float64", "float64"), (None, None)]
)
def test_from_config_keeps_every_valid_dtype(value, expected):
    config = {**melplug.MelSpectrogram().get_config(), "dtype": value}
    assert melplug.MelSpectrogram.from_config(config).dtype == expected


@pytest.mark.parametrize("value", ["float16", "int32", np.float16, 3])
def test_from_config_refuses_what_the_constructor_refuses(value):
    with pytest.raises(ValueError, match="dtype="):
        melplug.MelSpectrogram(dtype=value)
    with pytest.raises(ValueError, match="dtype="):
        melplug.MelSpectrogram.from_config({"dtype": value})


def test_keras_dtype_policies_are_skipped(keras):
    config = keras.layers.MelSpectrogram(num_mel_bins=40).get_config()
    assert isinstance(config["dtype"], dict)  # Keras 3 serialises its DTypePolicy
    assert melplug.MelSpectrogram.from_config(config).dtype is None
    policy = keras.DTypePolicy("float32")
    assert melplug.MelSpectrogram.from_config({"dtype": policy}).dtype is None
