"""A port of funasr_onnx's ``WavFrontend`` (SenseVoice / Paraformer / FSMN-VAD features), without onnxruntime.

Written from funasr_onnx 0.4.3 (PyPI), ``funasr_onnx/utils/frontend.py``,
identical to modelscope/FunASR 3c58cb5
``runtime/python/onnxruntime/funasr_onnx/utils/frontend.py``.  The models call
it as ``speech, _ = frontend.fbank(waveform)`` then
``feat, feat_len = frontend.lfr_cmvn(speech)``, with ``WavFrontend(**config["frontend_conf"],
cmvn_file=<model dir>/am.mvn)``; SenseVoiceSmall's and Paraformer's
``frontend_conf`` are ``fs: 16000, window: hamming, n_mels: 80, frame_length: 25,
frame_shift: 10, lfr_m: 7, lfr_n: 6`` and set no ``dither``.

The steps and their dtypes, as the library has them:

1. :func:`fbank`: ``waveform * (1 << 15)`` (dtype kept: float32 stays float32)
   fed as a Python list to ``kaldi_native_fbank.OnlineFbank`` with
   ``FbankOptions``: ``frame_opts.samp_freq = fs``, ``dither``,
   ``window_type = window``, ``frame_shift_ms``, ``frame_length_ms``,
   ``mel_opts.num_bins = n_mels``, ``energy_floor = 0``, ``snip_edges = True``,
   ``debug_mel = False``; the rest is kaldi-native-fbank's default
   (pre-emphasis 0.97, DC removal, power spectrum, FFT size rounded up to a
   power of two, ``low_freq = 20``, ``high_freq = 0`` i.e. Nyquist,
   ``use_energy = False``, log floor float32 eps).  kaldi-native-fbank computes
   in float32; the frames are collected in float64 and cast to **float32**,
   ``(frames, n_mels)``, ``1 + (n - 400) // 160`` frames (none below 400
   samples at 16 kHz).  **The library's default ``dither`` is 1.0, and the
   SenseVoice / Paraformer configs do not override it: kaldi-native-fbank then
   adds Gaussian noise of standard deviation 1 (in int16 units) from an
   unseeded generator, so the library's features are not reproducible.**  This
   port defaults to ``dither=0.0``; pass ``dither=1.0`` for the library's
   (random) behaviour.
2. :func:`apply_lfr` (only when ``lfr_m != 1 or lfr_n != 1``): low frame rate
   stacking, ``ceil(T / lfr_n)`` output frames of ``lfr_m`` stacked frames,
   after repeating the first frame ``(lfr_m - 1) // 2`` times in front; the last
   output frames are completed by repeating the last frame.  **float32**
   ``(ceil(T / lfr_n), lfr_m * n_mels)``.  With ``T = 0`` frames the library
   raises ``IndexError`` (``inputs[0]``); so does the port.
3. :func:`apply_cmvn` (only with a CMVN file): ``(feats + shift) * scale`` with
   the **float64** ``(2, dim)`` array of :func:`load_cmvn` (its first ``dim``
   columns), so the result is **float64**.  (SenseVoice's ``pad_feats`` then
   casts the batch to float32, outside the front end.)

:func:`load_cmvn` is the library's parser of the Kaldi nnet1 text ``am.mvn``
(without its ``lru_cache``); :func:`write_am_mvn` writes that format, byte for
byte as FunASR's SenseVoiceSmall ``am.mvn`` is laid out (8 lines:
``<Nnet>``, ``<Splice> D D``, ``[ 0 ]``, ``<AddShift> D D``, ``<LearnRateCoef> 0 [ ... ]``,
``<Rescale> D D``, ``<LearnRateCoef> 0 [ ... ]``, ``</Nnet>``, numbers with 7
significant digits).

Checked once, by hand, against the real funasr_onnx 0.4.3 ``WavFrontend``
(kaldi-native-fbank 1.23.0, numpy 2.4.6): ``tests/references/check_funasr_frontend.py``
found the outputs identical (same dtype, shape and bits) for 0 to 48000
samples (0, 1, 399, 400, 401, 560, 880, 1360, 1361, 1999, 16000, 16001, 48000),
with ``lfr_m/lfr_n`` 7/6, 5/1, 1/1 and 4/3, windows hamming, povey, hanning (the
last with 20 / 8 ms frames), 80 and 40 mels, with
and without a file from :func:`write_am_mvn`, and float32 and float64
clips; the parser and writer round-trip the SenseVoiceSmall ``am.mvn`` byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np


def fbank_options(*, fs=16000, window="hamming", n_mels=80, frame_length=25, frame_shift=10, dither=0.0):
    """The ``kaldi_native_fbank.FbankOptions`` that ``WavFrontend.__init__`` builds."""
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = fs
    opts.frame_opts.dither = dither
    opts.frame_opts.window_type = window
    opts.frame_opts.frame_shift_ms = float(frame_shift)
    opts.frame_opts.frame_length_ms = float(frame_length)
    opts.mel_opts.num_bins = n_mels
    opts.energy_floor = 0
    opts.frame_opts.snip_edges = True
    opts.mel_opts.debug_mel = False
    return opts


def fbank(audio, *, fs=16000, window="hamming", n_mels=80, frame_length=25, frame_shift=10, dither=0.0):
    """``WavFrontend.fbank(audio)[0]``: float32 ``(frames, n_mels)`` log mel filter bank of ``audio * 32768``."""
    opts = fbank_options(
        fs=fs, window=window, n_mels=n_mels, frame_length=frame_length, frame_shift=frame_shift, dither=dither
    )
    waveform = np.asarray(audio) * (1 << 15)  # float32 * int stays float32, as in the library
    online = knf.OnlineFbank(opts)
    online.accept_waveform(opts.frame_opts.samp_freq, waveform.tolist())
    frames = online.num_frames_ready
    mat = np.empty([frames, n_mels])  # float64, filled with kaldi-native-fbank's float32 values
    for i in range(frames):
        mat[i, :] = online.get_frame(i)
    return mat.astype(np.float32)


def apply_lfr(feats, lfr_m, lfr_n):
    """``WavFrontend.apply_lfr``: stack ``lfr_m`` frames every ``lfr_n``; float32 ``(ceil(T / lfr_n), lfr_m * D)``.

    The first frame is repeated ``(lfr_m - 1) // 2`` times in front; an output
    frame running past the end is completed with copies of the last frame.
    ``T = 0`` raises ``IndexError`` as the library does.
    """
    feats = np.asarray(feats)
    t = feats.shape[0]
    if t == 0:
        raise IndexError("index 0 is out of bounds for axis 0 with size 0 (no frames to stack)")
    t_lfr = int(np.ceil(t / lfr_n))
    left = (lfr_m - 1) // 2
    padded = np.vstack((np.tile(feats[0], (left, 1)), feats))
    t += left
    out = []
    for i in range(t_lfr):
        start = i * lfr_n
        if lfr_m <= t - start:
            out.append(padded[start : start + lfr_m].reshape(1, -1))
        else:  # the last output frames: complete them with copies of the last frame
            missing = lfr_m - (t - start)
            out.append(np.concatenate([padded[start:].reshape(-1)] + [padded[-1]] * missing))
    return np.vstack(out).astype(np.float32)


def apply_cmvn(feats, cmvn):
    """``WavFrontend.apply_cmvn``: ``(feats + cmvn[0, :D]) * cmvn[1, :D]``, float64 for the float64 ``cmvn``."""
    feats = np.asarray(feats)
    dim = feats.shape[1]
    return (feats + cmvn[0:1, :dim]) * cmvn[1:2, :dim]


def load_cmvn(path):
    """funasr_onnx's ``load_cmvn``: float64 ``(2, dim)``, row 0 the ``<AddShift>`` shift, row 1 the ``<Rescale>`` scale.

    The values are the tokens of the line after ``<AddShift>`` (``<Rescale>``)
    when that line starts with ``<LearnRateCoef>``, less its first three tokens
    (``<LearnRateCoef> 0 [``) and its last (``]``): each vector must be on one line.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError("cmvn file not exits")  # sic, the library's message
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    means, scales = [], []
    for i, line in enumerate(lines):
        tokens = line.split()
        if tokens[0] == "<AddShift>":  # a blank line raises IndexError here, as in the library
            following = lines[i + 1].split()
            if following[0] == "<LearnRateCoef>":
                means = following[3:-1]
        elif tokens[0] == "<Rescale>":
            following = lines[i + 1].split()
            if following[0] == "<LearnRateCoef>":
                scales = following[3:-1]
    return np.array([np.array(means).astype(np.float64), np.array(scales).astype(np.float64)])


def write_am_mvn(path, shift, scale):
    """Write ``shift`` and ``scale`` as a Kaldi nnet1 text ``am.mvn``, laid out as FunASR's SenseVoiceSmall one.

    ``shift`` is usually minus the global mean and ``scale`` one over the
    standard deviation, of the LFR features (dimension ``lfr_m * n_mels``).
    Numbers are written with 7 significant digits (``%.7g``), as Kaldi wrote
    them; the line ends and the spaces before them are the real file's.
    """
    shift = np.asarray(shift, dtype=np.float64).reshape(-1)
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    if shift.shape != scale.shape:
        raise ValueError(f"shift and scale differ in size: {shift.size} and {scale.size}")
    d = shift.size

    def vector(values):
        return "<LearnRateCoef> 0 [ " + " ".join(f"{v:.7g}" for v in values) + " ]\n"

    text = (
        "<Nnet> \n"
        f"<Splice> {d} {d}\n"
        "[ 0 ]\n"
        f"<AddShift> {d} {d} \n" + vector(shift) + f"<Rescale> {d} {d}\n" + vector(scale) + "</Nnet> \n"
    )
    Path(path).write_text(text, encoding="utf-8")


def wav_frontend(
    audio,
    *,
    fs=16000,
    window="hamming",
    n_mels=80,
    frame_length=25,
    frame_shift=10,
    lfr_m=7,
    lfr_n=6,
    dither=0.0,
    cmvn=None,
):
    """``WavFrontend(cmvn_file, ...).lfr_cmvn(WavFrontend.fbank(audio)[0])[0]`` for one clip.

    ``cmvn`` is ``None`` (no CMVN), the path of an ``am.mvn`` or a ``(2, dim)``
    array as :func:`load_cmvn` returns.  The result is float32 without CMVN and
    float64 with it, ``(ceil(frames / lfr_n), lfr_m * n_mels)`` (without LFR,
    ``(frames, n_mels)``).  Defaults: SenseVoiceSmall's ``frontend_conf``, but
    ``dither=0.0`` where the library's default is 1.0 (random).
    """
    feats = fbank(
        audio, fs=fs, window=window, n_mels=n_mels, frame_length=frame_length, frame_shift=frame_shift, dither=dither
    )
    if lfr_m != 1 or lfr_n != 1:
        feats = apply_lfr(feats, lfr_m, lfr_n)
    if cmvn is not None:
        if isinstance(cmvn, (str, Path)):
            cmvn = load_cmvn(cmvn)
        feats = apply_cmvn(feats, cmvn)
    return feats
