"""melplug: Keras-exact mel spectrograms as fast, pipeline-safe Numba kernels.

``import melplug`` imports only NumPy; Numba and the kernels load on the first
computation (or on ``melplug.kernels``).
"""

from __future__ import annotations

from ._plan import MelPlan
from .core import MelSpectrogram, mel_spectrogram

__version__ = "0.1.0"
__all__ = ["MelPlan", "MelSpectrogram", "__version__", "kernels", "mel_spectrogram"]


def __getattr__(name: str):
    if name == "kernels":
        import importlib

        return importlib.import_module(".kernels", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
