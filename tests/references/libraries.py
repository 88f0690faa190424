"""The reference libraries, as the preset tests call them, and float64 versions built on the Kaldi reference.

The references run in the tests (never pasted numbers): transformers'
``WhisperFeatureExtractor`` (numpy path), ``ASTFeatureExtractor`` (its source:
the class needs torch) and ``SeamlessM4TFeatureExtractor``; kaldi-native-fbank's
``OnlineFbank`` and ``OnlineMfcc`` (dither 0); librosa.  Each helper that needs
a library skips its test where the library is not installed (all are in
``melplug[test]``).  Where a library computes in float32, a float64 version of
the same steps stands in for float64 output: built from transformers' own
calls (:func:`whisper_exact`), librosa's steps (:func:`librosa_mel`), or
:mod:`tests.references.kaldi_fbank` (:func:`w2v_exact`, :func:`kaldi_mfcc64`).
"""

from __future__ import annotations

import ast as pyast
import functools
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.references import kaldi_fbank as rk

WHISPER_REASON = "the whisper reference is transformers' WhisperFeatureExtractor (melplug[test])"
KALDI_REASON = "the kaldi reference is kaldi-native-fbank (melplug[test])"
KALDI_MFCC_REASON = "the kaldi-mfcc reference is kaldi-native-fbank (melplug[test])"
LIBROSA_REASON = "the librosa and librosa-mfcc references are librosa itself (melplug[test])"


# --------------------------------------------------------------------------- transformers' Whisper


def whisper_module():
    """transformers' Whisper feature-extraction module (skips the test without transformers)."""
    return pytest.importorskip("transformers.models.whisper.feature_extraction_whisper", reason=WHISPER_REASON)


def whisper_reference(sr: int, bins: int, clips) -> np.ndarray:
    """transformers' ``WhisperFeatureExtractor(feature_size=bins, sampling_rate=sr)`` on its numpy path.

    Its public ``__call__`` (float32 samples in, float32 features out), with
    torch hidden so the numpy path runs even where torch is installed.
    Returns ``(len(clips), bins, frames)``.
    """
    module = whisper_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # at 8 kHz, 17 of 80 bands are empty (docs/presets.md)
        fe = module.WhisperFeatureExtractor(feature_size=bins, sampling_rate=sr)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(module, "is_torch_available", lambda: False)
        out = fe(list(clips), sampling_rate=sr, return_tensors="np")["input_features"]
    return np.asarray(out)


def whisper_exact(sr: int, bins: int, clip, dtype=np.float64) -> np.ndarray:
    """``WhisperFeatureExtractor._np_extract_fbank_features`` of one clip, computed in ``dtype``.

    The same calls as transformers' numpy path (``audio_utils.spectrogram``
    then its post-processing), on the clip zero-padded or cut to 30 s as its
    ``pad`` does, but with ``dtype=np.float64`` the final float32 cast is
    skipped: the reference's own float64 values.  With ``np.float32`` it is
    the public output bit for bit (checked by ``test_whisper_exact_reference_replica``).
    """
    module = whisper_module()
    from transformers.audio_utils import spectrogram, window_function

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fe = module.WhisperFeatureExtractor(feature_size=bins, sampling_rate=sr)
    waveform = np.zeros(fe.n_samples, dtype=np.float64)
    n = min(len(clip), fe.n_samples)
    waveform[:n] = clip[:n]
    log_spec = spectrogram(
        waveform,
        window_function(fe.n_fft, "hann"),
        frame_length=fe.n_fft,
        hop_length=fe.hop_length,
        power=2.0,
        dither=fe.dither,
        mel_filters=fe.mel_filters,
        log_mel="log10",
        dtype=dtype,
    )
    log_spec = log_spec[:, :-1]
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


# --------------------------------------------------------------------------- kaldi-native-fbank


def kaldi_options(sr: int, bins: int, snip_edges: bool = True):
    knf = pytest.importorskip("kaldi_native_fbank", reason=KALDI_REASON)
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0
    opts.frame_opts.snip_edges = snip_edges
    opts.frame_opts.samp_freq = sr
    opts.mel_opts.num_bins = bins
    return knf, opts


def kaldi_reference(sr: int, bins: int, clip, snip_edges: bool = True) -> np.ndarray:
    """kaldi-native-fbank ``OnlineFbank`` (dither 0) of one clip: ``(frames, bins)`` float32."""
    knf, opts = kaldi_options(sr, bins, snip_edges)
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(sr, np.asarray(clip))
    fbank.input_finished()
    rows = [fbank.get_frame(i) for i in range(fbank.num_frames_ready)]
    return np.array(rows, dtype=np.float32).reshape(-1, bins)


def kaldi_samples(sr: int, ms: float) -> int:
    """Kaldi's samples per ``ms`` milliseconds, ``int(float32(sr) * 0.001 * ms)`` (in float32, as Kaldi)."""
    return int(np.float32(sr) * np.float32(0.001) * np.float32(ms))


def kaldi_frames(n: int, sr: int) -> int:
    """Kaldi's snip-edges frame count for 25 ms windows every 10 ms: none for a clip shorter than a window."""
    win, shift = kaldi_samples(sr, 25.0), kaldi_samples(sr, 10.0)
    return 1 + (n - win) // shift if n >= win else 0


def knf_fbank(knf, x, sr, num_bins, window_type):
    """kaldi-native-fbank's filter bank of a 1-D float32 clip, dither off, (frames, num_bins) float32."""
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = window_type
    opts.frame_opts.samp_freq = sr
    opts.mel_opts.num_bins = num_bins
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(sr, np.asarray(x, np.float32).tolist())
    fbank.input_finished()
    return np.array([fbank.get_frame(i) for i in range(fbank.num_frames_ready)], np.float32).reshape(-1, num_bins)


def knf_mfcc(x, *, sr=16000, num_bins=23, num_ceps=13, shift_ms=10.0, snip_edges=True):
    """kaldi-native-fbank ``OnlineMfcc(MfccOptions())``, dither 0, of a float32 clip: ``(frames, num_ceps)``."""
    knf = pytest.importorskip("kaldi_native_fbank", reason=KALDI_MFCC_REASON)
    opts = knf.MfccOptions()
    opts.frame_opts.dither = 0
    opts.frame_opts.snip_edges = snip_edges
    opts.frame_opts.samp_freq = sr
    opts.frame_opts.frame_shift_ms = shift_ms
    opts.mel_opts.num_bins = num_bins
    opts.num_ceps = num_ceps
    mfcc = knf.OnlineMfcc(opts)
    mfcc.accept_waveform(sr, np.asarray(x, np.float32))
    mfcc.input_finished()
    rows = [mfcc.get_frame(i) for i in range(mfcc.num_frames_ready)]
    return np.array(rows, dtype=np.float32).reshape(-1, num_ceps)


# --------------------------------------------------------------------------- librosa


def librosa_module():
    return pytest.importorskip("librosa", reason=LIBROSA_REASON)


def librosa_mel(x, *, sr, n_fft=2048, hop_length=512, n_mels=128, basis_dtype=np.float64):
    """``librosa.feature.melspectrogram``'s steps, with the mel basis in ``basis_dtype``.

    With ``basis_dtype=np.float32`` (librosa's default) it is the public call
    bit for bit (``test_librosa_replica``); with float64 it is what librosa
    computes when nothing is rounded to float32.
    """
    librosa = librosa_module()
    with warnings.catch_warnings():  # "n_fft=2048 is too large for input signal of length=...": clips shorter
        warnings.filterwarnings("ignore", message="n_fft=.* is too large", category=UserWarning)  # than a frame
        spec = np.abs(librosa.stft(x, n_fft=n_fft, hop_length=hop_length, center=True, pad_mode="constant")) ** 2
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, dtype=basis_dtype)
    return np.einsum("...ft,mf->...mt", spec, basis, optimize=True)


def librosa_reference(name, x, *, sr, n_fft=2048, hop_length=512, n_mels=128, n_mfcc=20):
    """The reference for clip ``x``: librosa's public call for float32, its float64 steps for float64."""
    librosa = librosa_module()
    kw = dict(n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    if x.dtype == np.float32:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="n_fft=.* is too large", category=UserWarning)
            if name == "librosa":
                return librosa.feature.melspectrogram(y=x, sr=sr, **kw)
            return librosa.feature.mfcc(y=x, sr=sr, n_mfcc=n_mfcc, **kw)
    mel = librosa_mel(x, sr=sr, **kw)
    if name == "librosa":
        return mel
    return librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=n_mfcc)


# --------------------------------------------------------------------------- transformers' AST and SeamlessM4T


@functools.lru_cache
def ast_source():
    """transformers' ASTFeatureExtractor as written: constructor defaults, its torchaudio call, its normalize.

    The class needs torch even to be inspected, so its source is parsed: ``(defaults, fbank_keywords,
    normalize_expression)``, the keywords and expression as source text.
    """
    spec = importlib.util.find_spec(
        "transformers.models.audio_spectrogram_transformer.feature_extraction_audio_spectrogram_transformer"
    )
    tree = pyast.parse(Path(spec.origin).read_text())
    cls = next(n for n in pyast.walk(tree) if isinstance(n, pyast.ClassDef) and n.name == "ASTFeatureExtractor")
    methods = {n.name: n for n in cls.body if isinstance(n, pyast.FunctionDef)}
    init = methods["__init__"].args
    defaults = {
        a.arg: pyast.literal_eval(d) for a, d in zip(init.args[-len(init.defaults) :], init.defaults, strict=True)
    }
    call = next(n for n in pyast.walk(cls) if isinstance(n, pyast.Call) and pyast.unparse(n.func) == "ta_kaldi.fbank")
    keywords = {k.arg: pyast.unparse(k.value) for k in call.keywords}
    (normalize,) = [pyast.unparse(s.value) for s in methods["normalize"].body if isinstance(s, pyast.Return)]
    return defaults, keywords, normalize


def ast_constants():
    """(max_length, mean, std) of the reference."""
    defaults = ast_source()[0]
    return defaults["max_length"], defaults["mean"], defaults["std"]


def ast_post(fbank):
    """ASTFeatureExtractor after the filter bank: zero-pad or cut to max_length rows, then (x - mean) / (2 std)."""
    max_length, mean, std = ast_constants()
    rows = np.zeros((max_length, fbank.shape[1]))
    kept = min(max_length, len(fbank))
    rows[:kept] = fbank[:kept]
    return (rows - mean) / (2.0 * std)


@functools.lru_cache
def seamless(sr, num_bins):
    """SeamlessM4TFeatureExtractor for rate ``sr`` with ``num_bins`` mels.

    ``num_mel_bins=`` is the argument that sets the mel count (``feature_size`` alone only labels the padding).
    """
    from transformers import SeamlessM4TFeatureExtractor

    with warnings.catch_warnings():  # "At least one mel filter has all zero values" (44.1 kHz, 128 bins)
        warnings.simplefilter("ignore", UserWarning)
        return SeamlessM4TFeatureExtractor(sampling_rate=sr, feature_size=num_bins, num_mel_bins=num_bins)


def w2v_reference(x, sr, num_bins):
    """transformers' input_features of one clip, ((frames + 1) // 2, 2 * num_bins) float32."""
    out = seamless(sr, num_bins)(x, sampling_rate=sr, return_tensors="np")["input_features"]
    assert out.shape[0] == 1
    return out[0]


# --------------------------------------------------------------------------- float64 versions on kaldi_fbank


def rk_fbank(x, sr, num_bins, window_type):
    """tests/references/kaldi_fbank.py with the 25/10 ms framing of kaldi-native-fbank and torchaudio."""
    return rk.fbank(
        x,
        sampling_rate=sr,
        frame_length=rk.samples(sr, 25),
        frame_shift=rk.samples(sr, 10),
        window_type=window_type,
        num_mel_bins=num_bins,
    )


def w2v_exact(x, sr, num_bins):
    """float64 w2v-bert from tests/references/kaldi_fbank.py: x 2**15, 400/160 samples, povey, 20 Hz - sr // 2, ln;
    per-bin (x - mean) / sqrt(var(ddof=1) + 1e-7); a zero frame after an odd count; pairs stacked.

    Returns the features and each output column's normaliser sqrt(var + 1e-7).
    """
    fb = rk.fbank(
        np.asarray(x, np.float64) * 2.0**15,
        sampling_rate=sr,
        frame_length=400,
        frame_shift=160,
        window_type="povey",
        num_mel_bins=num_bins,
        high_freq=sr // 2,
    )
    norm = np.sqrt(fb.var(axis=0, ddof=1) + 1e-7)
    z = (fb - fb.mean(axis=0)) / norm
    if len(z) % 2:
        z = np.vstack([z, np.zeros((1, num_bins))])
    return z.reshape(-1, 2 * num_bins), np.tile(norm, 2)


def kaldi_log_energy(x, *, sr=16000, shift_ms=10.0, snip_edges=True):
    """Kaldi's raw log energy per frame: ``ln(max(sum((frame - mean)**2), float32 eps))``, float64.

    Snip-edges frames, or with ``snip_edges=False`` Kaldi's other ones (:func:`kaldi_fbank.frames`).
    """
    win, shift = rk.samples(sr, 25.0), rk.samples(sr, shift_ms)
    raw = rk.frames(x, win, shift, snip_edges)
    energy = np.empty(raw.shape[0])
    for f, frame in enumerate(raw):
        energy[f] = np.log(max(float(np.sum((frame - frame.mean()) ** 2)), rk.F32_EPS))
    return energy


def kaldi_mfcc64(x, *, sr=16000, num_bins=23, num_ceps=13, shift_ms=10.0, snip_edges=True):
    """A float64 Kaldi MFCC: ``kaldi_fbank.fbank``, orthonormal DCT-II, first ``num_ceps``, lifter 22, c0 energy."""
    win, shift = rk.samples(sr, 25.0), rk.samples(sr, shift_ms)
    fbank = rk.fbank(
        x, sampling_rate=sr, frame_length=win, frame_shift=shift, num_mel_bins=num_bins, snip_edges=snip_edges
    )
    k = np.arange(num_ceps)[:, None]
    m = np.arange(num_bins)[None, :]
    dct = np.sqrt(2.0 / num_bins) * np.cos(np.pi * k * (m + 0.5) / num_bins)
    dct[0] = np.sqrt(1.0 / num_bins)
    ceps = fbank @ dct.T * (1.0 + 11.0 * np.sin(np.pi * np.arange(num_ceps) / 22.0))
    ceps[:, 0] = kaldi_log_energy(x, sr=sr, shift_ms=shift_ms, snip_edges=snip_edges)
    return ceps
