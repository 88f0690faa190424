"""melplug: Keras-exact mel spectrograms as fast, pipeline-safe Numba kernels.

``import melplug`` loads NumPy, Numba and the kernel module (about 0.4 s), so
that the first computation only has to load compiled code from Numba's disk
cache.  No deep-learning framework and none of the adapters' libraries
(Grain, datasets, soundfile, matplotlib) are imported.
"""

from __future__ import annotations

from importlib import metadata as _metadata

from . import kernels
from ._plan import MelPlan
from ._stream import FeatureStream, StreamPool
from ._transformers import from_transformers
from .core import FeatureExtractor, MelSpectrogram, mel_spectrogram
from .presets import PRESETS, preset

try:
    __version__ = _metadata.version("melplug")
except _metadata.PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"
__all__ = [
    "PRESETS",
    "FeatureExtractor",
    "FeatureStream",
    "MelPlan",
    "MelSpectrogram",
    "StreamPool",
    "__version__",
    "from_transformers",
    "kernels",
    "mel_spectrogram",
    "preset",
]
