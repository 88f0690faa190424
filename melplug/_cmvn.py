"""FunASR's CMVN file, ``am.mvn``: a Kaldi nnet1 text model holding an ``<AddShift>`` and a ``<Rescale>`` vector.

The ``sensevoice`` preset maps its stacked rows with it, ``(x + shift) * scale``
(funasr_onnx ``WavFrontend.apply_cmvn``).  The file looks like::

    <Nnet>
    <Splice> 560 560
    [ 0 ]
    <AddShift> 560 560
    <LearnRateCoef> 0 [ -8.311879 -8.600912 ... ]
    <Rescale> 560 560
    <LearnRateCoef> 0 [ 0.155775 0.154484 ... ]
    </Nnet>

funasr_onnx's own reader takes the tokens between ``<LearnRateCoef> 0 [``
and ``]`` on the line after each header; this one reads the same values and
refuses what that reader would silently misread (a missing vector, a
non-number, a count that differs from the header's, vectors of different
sizes), naming the file and the line.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["read_am_mvn"]

_HEADERS = {"<AddShift>": "shift", "<Rescale>": "scale"}


def read_am_mvn(path) -> tuple[np.ndarray, np.ndarray]:
    """``(shift, scale)``, float64, of the CMVN file ``path``; ``ValueError`` naming the file (and line) if unusable."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"cmvn must be a path to an am.mvn file (str or os.PathLike); received {type(path).__name__}")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cmvn={os.fspath(path)!r} cannot be read as an am.mvn file: {exc}") from None
    found: dict[str, np.ndarray] = {}
    for i, line in enumerate(lines):
        tokens = line.split()
        if not tokens or tokens[0] not in _HEADERS:
            continue
        what = _HEADERS[tokens[0]]
        where = f"cmvn file {os.fspath(path)!r}, line {i + 2}"
        nxt = lines[i + 1].split() if i + 1 < len(lines) else []
        if len(nxt) < 4 or nxt[0] != "<LearnRateCoef>" or nxt[2] != "[" or nxt[-1] != "]":
            raise ValueError(
                f"{where}: expected the {tokens[0]} vector as '<LearnRateCoef> 0 [ v1 v2 ... ]' after line {i + 1}; "
                f"found {' '.join(nxt)[:80]!r}"
            )
        try:
            values = np.array([float(t) for t in nxt[3:-1]], dtype=np.float64)
        except ValueError as exc:
            raise ValueError(f"{where}: the {tokens[0]} vector holds a value that is not a number ({exc})") from None
        if len(tokens) >= 2 and tokens[1].isdigit() and int(tokens[1]) != values.shape[0]:
            raise ValueError(
                f"{where}: {tokens[0]} declares {tokens[1]} values on line {i + 1}; its vector has {values.shape[0]}"
            )
        if not np.isfinite(values).all():
            raise ValueError(f"{where}: the {tokens[0]} vector holds NaN or Inf")
        found[what] = values
    missing = [h for h, what in _HEADERS.items() if what not in found]
    if missing:
        raise ValueError(f"cmvn file {os.fspath(path)!r} has no {' and no '.join(missing)} vector: it is not an am.mvn")
    if found["shift"].shape != found["scale"].shape or found["shift"].shape[0] == 0:
        raise ValueError(
            f"cmvn file {os.fspath(path)!r}: <AddShift> has {found['shift'].shape[0]} values and <Rescale> "
            f"{found['scale'].shape[0]}; they must be the same non-zero count"
        )
    return found["shift"], found["scale"]
