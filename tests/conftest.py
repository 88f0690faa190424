"""Shared fixtures.  Keras is imported with the numpy backend (a test-only dependency)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "numpy")

import pytest


@pytest.fixture(scope="session")
def keras():
    keras = pytest.importorskip("keras")
    assert keras.backend.backend() == "numpy"
    return keras


@pytest.fixture(scope="module")
def knf():
    return pytest.importorskip("kaldi_native_fbank", reason="the Kaldi reference needs kaldi-native-fbank")


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers", reason="the ast and w2v-bert references are transformers' extractors")
