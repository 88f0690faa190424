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
