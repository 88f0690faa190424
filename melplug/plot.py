"""Pictures of mel spectrograms (needs matplotlib, the ``[cli]`` extra).

matplotlib is imported inside :func:`plot_mel`, and only its Agg canvas is
used (no ``pyplot``, no global backend switch), so ``import melplug.plot`` is
light and plotting never disturbs a user's own matplotlib session.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ._filters import hz_to_mel, mel_to_hz
from ._io import atomic_write

#: The mel scales a spectrogram's bands may be placed on (``FeatureExtractor``'s ``mel_scale``).
_MEL_SCALES = ("keras", "kaldi", "htk", "slaney")

__all__ = ["mel_band_centres", "plot_mel"]

#: Candidate frequency ticks (Hz); those inside the plotted range and not too
#: close to their neighbours on the mel axis are shown.
_TICKS_HZ = (
    0,
    100,
    200,
    300,
    500,
    700,
    1000,
    1500,
    2000,
    3000,
    4000,
    5000,
    6000,
    8000,
    10000,
    12000,
    16000,
    20000,
    24000,
    32000,
    48000,
    64000,
    96000,
)


def _mel_edges(num_mel_bins: int, min_freq: float, max_freq: float, scale: str = "keras") -> np.ndarray:
    """The ``num_mel_bins + 2`` band edges in mel on ``scale``, equally spaced, as the triangles are built."""
    return np.linspace(hz_to_mel(min_freq, scale), hz_to_mel(max_freq, scale), num_mel_bins + 2)


def mel_band_centres(num_mel_bins: int, min_freq: float = 20.0, max_freq: float = 8000) -> np.ndarray:
    """Centre frequency in Hz of each mel band, as Keras places them.

    Keras' triangles (HTK scale ``mel(f) = 1127 ln(1 + f / 700)``) have
    ``num_mel_bins + 2`` edges equally spaced in mel from ``min_freq`` to
    ``max_freq``; band ``m`` peaks at edge ``m + 1``.

    Parameters
    ----------
    num_mel_bins : int >= 1
        Number of mel bands.
    min_freq, max_freq : real, 0 <= min_freq < max_freq
        Lower edge of the lowest band and upper edge of the highest (Hz).

    Returns
    -------
    ndarray of float64, shape (num_mel_bins,)
        Increasing centre frequencies in Hz.

    Examples
    --------
    >>> from melplug.plot import mel_band_centres
    >>> mel_band_centres(3, min_freq=0.0, max_freq=8000).round(1)
    array([ 614.3, 1767.8, 3933.6])
    """
    return mel_to_hz(_mel_edges(num_mel_bins, min_freq, max_freq)[1:-1], "keras")


def _frequency_ticks(lo_mel: float, hi_mel: float, scale: str = "keras") -> tuple[list[float], list[str]]:
    """Round frequencies (Hz) inside ``[lo_mel, hi_mel]``, at least 6 % of the range apart on the mel axis."""
    span = hi_mel - lo_mel
    positions: list[float] = []
    labels: list[str] = []
    for hz in _TICKS_HZ:
        m = float(hz_to_mel(hz, scale))
        if m < lo_mel or m > hi_mel:
            continue
        if positions and m - positions[-1] < 0.06 * span:
            continue
        positions.append(m)
        labels.append(str(hz))
    return positions, labels


def plot_mel(
    mel: npt.ArrayLike,
    path: str | os.PathLike,
    *,
    sampling_rate: float = 16000,
    sequence_stride: int = 512,
    min_freq: float = 20.0,
    max_freq: float | None = None,
    db: bool = True,
    title: str | None = None,
    cmap: str = "magma",
    dpi: int = 100,
    mel_scale: str = "keras",
    kind: str = "mel",
    label: str | None = None,
) -> Path:
    """Write a PNG picture of one mel spectrogram (or of its cepstra).

    Time runs along x in seconds (frame ``i`` is centred on sample
    ``i * sequence_stride``, as with Keras' centre padding); the mel bands run
    up the y axis, lowest at the bottom, evenly spaced in mel and labelled in
    Hz at their positions on ``mel_scale`` (Keras': ``1127 ln(1 + f / 700)``);
    a colour bar gives the values.  Cepstra (``kind="cepstra"``) are drawn
    with the coefficient index up the y axis.

    Parameters
    ----------
    mel : array_like of shape (num_mel_bins, frames)
        One spectrogram in melplug's / Keras' layout (``(num_ceps, frames)``
        for cepstra).  NaN values are left blank.
    path : str or os.PathLike
        Where to write the PNG.  It is written to a temporary file in the same
        folder and renamed, so a failure leaves no partial file.
    sampling_rate : real > 0
        Sampling rate of the audio (Hz).
    sequence_stride : int >= 1
        Samples between frames.
    min_freq, max_freq : real, 0 <= min_freq < max_freq; max_freq None means ``int(sampling_rate / 2)``
        The mel range the spectrogram was computed with (Hz).
    db : bool
        Whether the values are decibels (``power_to_db=True``); sets the
        colour bar's label and its ``dB`` ticks.
    title : str, optional
        Title above the picture.
    cmap : str
        A matplotlib colour map name.
    dpi : int
        Resolution; the figure is 10 x 4 inches.
    mel_scale : {"keras", "kaldi", "htk", "slaney"}
        The scale the bands' edges were spaced evenly on (a
        :class:`~melplug.FeatureExtractor`'s ``mel_scale``; keras and kaldi
        are the same scale).
    kind : {"mel", "cepstra"}
        Mel bands (labelled in Hz), or cepstral coefficients (labelled by
        index; ``min_freq``, ``max_freq`` and ``mel_scale`` are then unused).
    label : str, optional
        The colour bar's label; by default ``"Power (dB)"`` or ``"Mel power"``
        per ``db``, ``"Cepstral coefficient"`` for cepstra.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from melplug.plot import plot_mel
    >>> mel = np.linspace(-80.0, 0.0, 128 * 32).reshape(128, 32)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     png = plot_mel(mel, os.path.join(tmp, "mel.png"), title="ramp")
    ...     png.read_bytes()[1:4]
    b'PNG'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = np.asarray(mel, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 1 or values.shape[1] < 1:
        raise ValueError(f"mel must have shape (num_mel_bins, frames) with both >= 1; received shape {np.shape(mel)}")
    if kind not in ("mel", "cepstra"):
        raise ValueError(f"kind={kind!r} is invalid: it must be 'mel' or 'cepstra'")
    if mel_scale not in _MEL_SCALES:
        raise ValueError(f"mel_scale={mel_scale!r} is invalid: it must be one of {', '.join(map(repr, _MEL_SCALES))}")
    if not sampling_rate > 0:
        raise ValueError(f"sampling_rate={sampling_rate!r} is invalid: it must be > 0 (Hz)")
    if not (isinstance(sequence_stride, (int, np.integer)) and sequence_stride >= 1):
        raise ValueError(f"sequence_stride={sequence_stride!r} is invalid: it must be an integer >= 1")
    if max_freq is None:
        max_freq = int(sampling_rate / 2)
    if not 0 <= min_freq < max_freq:
        raise ValueError(
            f"min_freq={min_freq!r}, max_freq={max_freq!r} are invalid: they need 0 <= min_freq < max_freq (Hz)"
        )
    num_mel_bins, frames = values.shape

    if kind == "mel":
        # Band m is drawn as a cell of one mel step centred on its peak (edge m + 1).
        edges = _mel_edges(num_mel_bins, min_freq, max_freq, mel_scale)
        step = edges[1] - edges[0]
        y_lo, y_hi = edges[1] - step / 2, edges[-2] + step / 2
    else:  # coefficient i is the cell [i - 0.5, i + 0.5]
        y_lo, y_hi = -0.5, num_mel_bins - 0.5
    hop = sequence_stride / sampling_rate
    x_lo, x_hi = -hop / 2, (frames - 0.5) * hop

    finite = values[np.isfinite(values)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmin == vmax:
        vmin, vmax = vmin - 1.0, vmax + 1.0

    fig = Figure(figsize=(10, 4), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(
        np.ma.masked_invalid(values),
        origin="lower",
        aspect="auto",
        interpolation="nearest",
        extent=(x_lo, x_hi, y_lo, y_hi),
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
    )
    if kind == "mel":
        positions, labels = _frequency_ticks(y_lo, y_hi, mel_scale)
        ax.set_yticks(positions, labels)
        ax.set_ylabel("Frequency (Hz, mel scale)")
    else:
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel("Cepstral coefficient")
    ax.set_xlabel("Time (s)")
    if title:
        ax.set_title(title)
    bar = fig.colorbar(image, ax=ax, pad=0.01)
    if label is None:
        label = "Cepstral coefficient" if kind == "cepstra" else "Power (dB)" if db else "Mel power"
    bar.set_label(label)
    if db:
        bar.ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:+.0f} dB" if not math.isclose(v, 0.0) else "0 dB")

    target = Path(path)
    atomic_write(target, lambda f: fig.savefig(f, format="png"))
    return target
