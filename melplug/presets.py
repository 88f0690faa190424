"""Presets: the front-ends models are trained on, as configurations of :class:`melplug.FeatureExtractor`.

Each preset reproduces its reference library exactly; the steps
below were read from the references' sources and are checked against them
by the test suite.  A preset is a function of the two overrides every
reference takes in its constructor (``sampling_rate``, ``num_mel_bins``),
returning engine options; any other engine option may be overridden too.

=================  ==========================================================================
name               reference
=================  ==========================================================================
keras              ``keras.layers.MelSpectrogram()`` (this is :class:`melplug.MelSpectrogram`)
whisper            transformers ``WhisperFeatureExtractor(feature_size=num_mel_bins)``, numpy path
kaldi              ``kaldi_native_fbank.OnlineFbank(FbankOptions())`` with ``dither = 0``
ast                transformers ``ASTFeatureExtractor()`` on its torchaudio path (``compliance.kaldi.fbank``)
w2v-bert           transformers ``SeamlessM4TFeatureExtractor()``, ``input_features`` only
librosa            ``librosa.feature.melspectrogram(y=x, sr=22050)``
torchaudio         ``torchaudio.transforms.MelSpectrogram()``
librosa-mfcc       ``librosa.feature.mfcc(y=x, sr=22050)``
kaldi-mfcc         ``kaldi_native_fbank.OnlineMfcc(MfccOptions())`` with ``dither = 0``
nemo               NeMo ``FilterbankFeatures`` as the Parakeet and Canary recipes configure it
speechbrain-fbank  SpeechBrain ``Fbank(n_mels=80)`` then ``InputNormalization("sentence", std_norm=False)``
wespeaker          pyannote.audio / WeSpeaker ``compute_fbank``: Kaldi fbank of x * 2**15, band means removed
sensevoice         funasr_onnx ``WavFrontend`` (SenseVoice, Paraformer): LFR 7/6, CMVN from ``cmvn="am.mvn"``
beats              BEATs ``preprocess``
eat                EAT ``preprocess_audio``
dasheng            Dasheng's ``MelSpectrogram`` + ``AmplitudeToDB(top_db=120)`` front end
vocos              Vocos ``MelSpectrogramFeatures()``
bigvgan            BigVGAN / HiFi-GAN ``meldataset.mel_spectrogram`` (v2 24 kHz, 100 bands)
=================  ==========================================================================

A preset's overrides that change more than one engine option, as in the
reference's constructor (:data:`REFERENCE_OVERRIDES`): ``sampling_rate``,
``num_mel_bins``, and where the reference ties them, ``fft_length`` (the
window and FFT size of librosa, torchaudio and whisper), ``hop_length``
(torchaudio's default is half the FFT; whisper's output frames follow it) and
``num_ceps`` (the MFCC count).

``sequence_stride`` (Keras' name) is the hop **in samples** for every preset.
The presets timed in milliseconds (kaldi, ast, kaldi-mfcc: 25 ms frames every
10 ms) then move to samples, their frame length converted as the engine
converts it (``int(sr * ms / 1000)`` in float32, Kaldi's rounding), so
``preset("kaldi", sequence_stride=160)`` at 16 kHz is the default kaldi.
``hop_length`` is in the preset's own ``frame_unit``: milliseconds for those
three (``hop_length=20.0`` is a 20 ms hop), samples for the others.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import numpy as np

from . import _plan
from ._references import REFERENCES
from ._validate import check_int, check_real
from .core import FeatureExtractor, MelSpectrogram

__all__ = ["PRESETS", "REFERENCE_OVERRIDES", "preset"]

_F32_EPS = float(np.finfo(np.float32).eps)  # Kaldi's log floor


def _whisper(sampling_rate=16000, num_mel_bins=80, fft_length=400, hop_length=160, chunk_length=30) -> dict[str, Any]:
    sampling_rate = check_int("sampling_rate", sampling_rate, 1, "the whisper preset needs an integer rate >= 1 (Hz)")
    hop_length = check_int("hop_length", hop_length, 1)
    chunk_length = check_int("chunk_length", chunk_length, 1, "it must be an integer >= 1 (seconds)")
    # transformers' WhisperFeatureExtractor: the clip is zero-padded or cut to 30 s *before* the
    # reflect centre padding; log10 of slaney-normalised slaney mels over 0-8000 Hz whatever the
    # rate; the last frame is dropped (output_frames) so the max - 8 floor is taken over the kept ones.
    n_samples = chunk_length * sampling_rate
    return dict(
        sampling_rate=sampling_rate,
        input_length=n_samples,
        framing="center",
        pad_mode="reflect",
        frame_length=fft_length,
        hop_length=hop_length,
        window="hann",
        window_periodic=True,
        num_mel_bins=num_mel_bins,
        mel_scale="slaney",
        mel_triangles="hz",
        mel_grid="integer",
        mel_norm="slaney",
        min_freq=0.0,
        max_freq=8000.0,
        empty_bands="ignore",
        log="log10",
        log_floor=1e-10,
        top_db=8.0,
        scale=0.25,
        offset=1.0,
        output_frames=n_samples // hop_length,
        layout="mels_frames",
        valid_frames="ceil",
    )


def _kaldi(sampling_rate=16000, num_mel_bins=23) -> dict[str, Any]:
    # kaldi-native-fbank FbankOptions(): 25/10 ms snip-edges frames, DC removal, pre-emphasis 0.97,
    # Povey window at the start of a power-of-two FFT buffer, power, Kaldi mels 20 Hz - Nyquist
    # (Nyquist bin excluded), ln with float32 eps floor, (frames, bins).
    check_real("sampling_rate", sampling_rate, "it must be a finite number > 0 (Hz)", minimum=0.0, strict=True)
    check_int("num_mel_bins", num_mel_bins, 3, "Kaldi needs at least 3 mel bins")
    return dict(
        sampling_rate=sampling_rate,
        framing="snip_edges",
        frame_unit="ms",
        frame_length=25.0,
        hop_length=10.0,
        fft_length="pow2",
        window="povey",
        window_periodic=False,
        window_position="start",
        remove_dc=True,
        preemphasis=0.97,
        num_mel_bins=num_mel_bins,
        mel_scale="kaldi",
        mel_triangles="mel",
        mel_grid="kaldi",
        min_freq=20.0,
        max_freq=None,
        empty_bands="raise",
        log="ln",
        log_floor=_F32_EPS,
        top_db=None,
        layout="frames_mels",
    )


def _ast(sampling_rate=16000, num_mel_bins=128) -> dict[str, Any]:
    # transformers' ASTFeatureExtractor, torchaudio path: torchaudio.compliance.kaldi.fbank(window_type="hanning",
    # num_mel_bins=128) = the kaldi steps with a symmetric Hann window (one band is empty at 16 kHz and stays
    # ln(eps), as there); rows zero-padded or cut to 1024, *then* (x + 4.2677393) / (2 * 4.5689974).
    return _hann_fbank_rows(sampling_rate, num_mel_bins, 1024, mean=-4.2677393, std=4.5689974)


def _hann_fbank_rows(sampling_rate, num_mel_bins, rows: int, *, mean: float, std: float) -> dict[str, Any]:
    """The Kaldi fbank of AST and EAT: a symmetric Hann window, rows padded or cut, then ``(x - mean) / (2 std)``.

    As torchaudio's ``compliance.kaldi.fbank`` followed by their scaling: rows
    zero-padded or cut to ``rows`` *before* it, so padded rows become
    ``-mean / (2 std)``.
    """
    options = _kaldi(sampling_rate, num_mel_bins)
    options.update(
        window="hann",
        empty_bands="ignore",
        output_frames=rows,
        pad_value=0.0,
        pad_before_scaling=True,
        scale=1.0 / (2.0 * std),
        offset=-mean / (2.0 * std),
    )
    return options


def _w2v_bert(sampling_rate=16000, num_mel_bins=80) -> dict[str, Any]:
    # transformers' SeamlessM4TFeatureExtractor (wav2vec-BERT 2.0), input_features: samples x 2**15, Kaldi's
    # steps with 400/160-sample frames at every rate and a 512 FFT, mels 20 Hz - sr // 2, ln, per-bin
    # normalisation over the clip (ddof 1), one zero frame after an odd count, pairs of frames stacked.
    options = _kaldi(sampling_rate, num_mel_bins)
    options.update(
        input_gain=2.0**15,
        frame_unit="samples",
        frame_length=400,
        hop_length=160,
        fft_length=512,
        max_freq=sampling_rate // 2,
        empty_bands="ignore",
        normalize=True,
        normalize_ddof=1,
        normalize_eps=1e-7,
        stack_frames=2,
        valid_rows="all",
    )
    return options


def _librosa(sampling_rate=22050, num_mel_bins=128, fft_length=2048) -> dict[str, Any]:
    # librosa.feature.melspectrogram (librosa >= 0.10): centred frames with zero padding (pad_mode="constant"),
    # periodic Hann of n_fft, hop 512, power; slaney scale and area norm, triangles linear in Hz on
    # np.fft.rfftfreq, 0 to sr / 2; no logarithm.  Empty bands warn, as librosa does.
    return dict(
        sampling_rate=sampling_rate,
        framing="center",
        pad_mode="constant",
        frame_length=fft_length,
        hop_length=512,
        window="hann",
        window_periodic=True,
        num_mel_bins=num_mel_bins,
        mel_scale="slaney",
        mel_triangles="hz",
        mel_grid="rfft",
        mel_norm="slaney",
        min_freq=0.0,
        max_freq=None,
        empty_bands="warn",
        log=None,
        top_db=None,
        layout="mels_frames",
    )


def _torchaudio(sampling_rate=16000, num_mel_bins=128, fft_length=400, hop_length=None) -> dict[str, Any]:
    # torchaudio.transforms.MelSpectrogram(): n_fft 400 = win_length, hop win_length // 2, torch's reflect
    # centre padding (a clip must be longer than the pad), periodic Hann, power; HTK mels with triangles linear
    # in Hz on linspace(0, sr // 2, bins) up to f_max = sr // 2 (an integer), no norm, no logarithm.  Empty bands
    # (4 of 128 at 16 kHz) warn, as torchaudio does.
    sampling_rate = check_int("sampling_rate", sampling_rate, 1, "torchaudio needs an integer rate >= 1 (Hz)")
    fft_length = check_int("fft_length", fft_length, 1)
    return dict(
        sampling_rate=sampling_rate,
        framing="center",
        pad_mode="reflect_once",
        frame_length=fft_length,
        hop_length=fft_length // 2 if hop_length is None else hop_length,
        window="hann",
        window_periodic=True,
        num_mel_bins=num_mel_bins,
        mel_scale="htk",
        mel_triangles="hz",
        mel_grid="integer",
        mel_norm=None,
        min_freq=0.0,
        max_freq=float(sampling_rate // 2),
        empty_bands="warn",
        log=None,
        top_db=None,
        layout="mels_frames",
    )


def _librosa_mfcc(sampling_rate=22050, num_mel_bins=128, fft_length=2048, num_ceps=20) -> dict[str, Any]:
    # librosa.feature.mfcc: power_to_db(melspectrogram, ref=1, amin=1e-10, top_db=80) with the floor per clip,
    # orthonormal DCT-II over the mel bands, the first n_mfcc=20, no lifter.
    options = _librosa(sampling_rate, num_mel_bins, fft_length)
    options.update(log="db", log_floor=1e-10, ref_power=1.0, top_db=80.0, num_ceps=num_ceps, lifter_style="librosa")
    return options


def _kaldi_mfcc(sampling_rate=16000, num_mel_bins=23, num_ceps=13) -> dict[str, Any]:
    # kaldi-native-fbank MfccOptions(): the kaldi steps (23 bins, ln), orthonormal DCT-II, the first 13 cepstra,
    # lifter 22, and c0 replaced by the frame's raw log energy (after DC removal, before pre-emphasis and window).
    options = _kaldi(sampling_rate, num_mel_bins)
    options.update(num_ceps=num_ceps, lifter=22.0, lifter_style="kaldi", energy_c0=True)
    return options


def nemo_steps(
    rate: int, n_fft: int, win: int, hop: int, bins: int, preemphasis: float, grid: str, normalise: bool = True
) -> dict[str, Any]:
    """NeMo's ``FilterbankFeatures`` steps (the ``nemo`` preset; transformers' Parakeet family reuses them).

    The whole clip pre-emphasised (zeros beyond it), torch's centred stft with
    zero padding of a symmetric Hann window of ``win`` centred in ``n_fft``,
    power, slaney-normalised slaney mels 0 - sr/2 on ``grid``, ``ln(M + 2**-24)``,
    frames from ``n // hop`` on set to 0 (NeMo's ``seq_len``); with ``normalise``
    each band first normalised over the others, ``(x - mean) / (std + 1e-5)``, ddof 1.
    """
    options = dict(
        sampling_rate=rate,
        signal_preemphasis=preemphasis,
        framing="center",
        pad_mode="constant",
        frame_length=n_fft,
        hop_length=hop,
        window="hann",
        window_length=win,
        window_periodic=False,
        window_position="center",
        num_mel_bins=bins,
        mel_scale="slaney",
        mel_triangles="hz",
        mel_grid=grid,
        mel_norm="slaney",
        min_freq=0.0,
        max_freq=rate / 2,
        empty_bands="ignore",
        log="ln",
        log_floor=2.0**-24,
        log_guard=2.0**-24,
        top_db=None,
        layout="frames_mels",
        valid_frames="n_over_hop",
        pad_invalid_frames=True,
        pad_value=0.0,
    )
    if normalise:
        options.update(normalize=True, normalize_ddof=1, normalize_eps=1e-5, normalize_eps_on="std")
    return options


def _nemo(sampling_rate=16000, num_mel_bins=80, pad_to=0) -> dict[str, Any]:
    # NeMo's AudioToMelSpectrogramPreprocessor / FilterbankFeatures as the Parakeet and Canary recipes set it:
    # 25/10 ms (int(0.025 sr), int(0.01 sr) samples), n_fft the next power of two, pre-emphasis 0.97, librosa's
    # filters (np.fft.rfftfreq grid), per-feature normalisation over the n // hop valid frames ((x - mean) /
    # (std + 1e-5), ddof 1), dither 0, pad_to 0 (the class default 16 as an override: zero frames up to a multiple).
    sampling_rate = check_int("sampling_rate", sampling_rate, 1, "the nemo preset needs an integer rate >= 1 (Hz)")
    pad_to = check_int("pad_to", pad_to, 0, "it must be an integer >= 0 (frames; 0: no padding, NeMo's default 16)")
    win, hop = int(0.025 * sampling_rate), int(0.01 * sampling_rate)
    if win < 1 or hop < 1:
        raise ValueError(f"sampling_rate={sampling_rate!r} is too low for NeMo's 25/10 ms frames (< 1 sample)")
    options = nemo_steps(sampling_rate, 1 << (win - 1).bit_length(), win, hop, num_mel_bins, 0.97, "rfft")
    return {**options, "layout": "mels_frames", "pad_frames_to": max(pad_to, 1)}


def _speechbrain_fbank(sampling_rate=16000, num_mel_bins=80, fft_length=400) -> dict[str, Any]:
    # SpeechBrain lobes.features.Fbank (ECAPA-TDNN's hyper-parameters) then InputNormalization(norm_type="sentence",
    # std_norm=False): STFT of round(sr * 25 ms) periodic Hamming centred in n_fft, hop round(sr * 10 ms), centre zero
    # padding, power; its Filterbank's HTK triangles on linspace(0, sr // 2, bins), symmetric around each centre;
    # 10 log10(max(M, 1e-10)) floored at the clip's max - 80 dB; each band's mean over the clip subtracted.
    sampling_rate = check_int(
        "sampling_rate", sampling_rate, 1, "the speechbrain-fbank preset needs an integer rate >= 1 (Hz)"
    )
    win, hop = round(sampling_rate / 1000.0 * 25), round(sampling_rate / 1000.0 * 10)
    fft_length = check_int("fft_length", fft_length, max(win, 1), f"it must be an integer >= the window ({win})")
    return dict(
        sampling_rate=sampling_rate,
        framing="center",
        pad_mode="constant",
        frame_length=fft_length,
        hop_length=hop,
        window="hamming",
        window_length=win,
        window_periodic=True,
        num_mel_bins=num_mel_bins,
        mel_scale="htk",
        mel_triangles="hz_symmetric",
        mel_grid="integer",
        min_freq=0.0,
        max_freq=float(sampling_rate // 2),
        empty_bands="ignore",
        log="db",
        log_floor=1e-10,
        ref_power=1.0,
        top_db=80.0,
        layout="frames_mels",
        normalize=True,
        normalize_variance=False,
        normalize_ddof=0,
    )


def _kaldi_x32768(sampling_rate, num_mel_bins, window) -> dict[str, Any]:
    """Kaldi's fbank of the clip x 2**15 with ``window`` (torchaudio's kaldi.fbank, empty bands kept)."""
    options = _kaldi(sampling_rate, num_mel_bins)
    options.update(input_gain=2.0**15, window=window, empty_bands="ignore")
    return options


def _wespeaker(sampling_rate=16000, num_mel_bins=80) -> dict[str, Any]:
    # pyannote.audio's WeSpeaker embeddings (compute_fbank) and WeSpeaker itself: x 2**15, torchaudio's
    # kaldi.fbank (80 bins, 25/10 ms, Hamming, dither 0, no energy), each band's mean over the clip subtracted.
    return {**_kaldi_x32768(sampling_rate, num_mel_bins, "hamming"), **_MEAN_ONLY}


_MEAN_ONLY = dict(normalize=True, normalize_variance=False, normalize_ddof=0)


def _sensevoice(sampling_rate=16000, num_mel_bins=80, lfr_m=7, lfr_n=6, cmvn=None) -> dict[str, Any]:
    # FunASR's WavFrontend (funasr_onnx; SenseVoice, Paraformer): x 2**15, kaldi-native-fbank (80 bins, Hamming,
    # 25/10 ms, dither 0), low frame rate stacking (rows of lfr_m frames every lfr_n, (lfr_m - 1) // 2 copies of
    # frame 0 before the first, the last frame repeated), then (x + shift) * scale from the am.mvn file ``cmvn``
    # (a path, or a (2, lfr_m * num_mel_bins) array of the shift and scale rows; None: no CMVN).
    from ._cmvn import read_am_mvn

    options = _kaldi(sampling_rate, num_mel_bins)
    options.update(input_gain=2.0**15, window="hamming")
    m = check_int("lfr_m", lfr_m, 1, "it must be an integer >= 1 (frames per row)")
    n = check_int("lfr_n", lfr_n, 1, f"it must be an integer in [1, lfr_m={m}] (frames between rows)")
    if n > m:
        raise ValueError(f"lfr_n={n!r} is invalid: rows of lfr_m={m} frames every lfr_n frames would skip frames")
    if m > 1 or n > 1:
        options.update(stack_frames=m, stack_stride=n, stack_remainder="repeat")
    if cmvn is None:
        return options
    if isinstance(cmvn, (str, os.PathLike)):
        shift, scale = read_am_mvn(cmvn)
    else:
        arr = np.asarray(cmvn, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[0] != 2:
            raise ValueError(
                f"cmvn has shape {arr.shape}; it must be an am.mvn path or an array of shape (2, features): the shift "
                "row, then the scale row"
            )
        shift, scale = arr
    width = m * num_mel_bins
    if shift.shape[0] != width:
        raise ValueError(
            f"cmvn has {shift.shape[0]} values per row; the sensevoice rows have lfr_m * num_mel_bins = {m} x "
            f"{num_mel_bins} = {width}"
        )
    return {**options, "feature_scale": scale, "feature_offset": shift * scale}


def _beats(sampling_rate=16000, num_mel_bins=128) -> dict[str, Any]:
    # BEATs preprocess: x 2**15, torchaudio's kaldi.fbank (128 bins, Povey window, 25/10 ms; one band is empty at
    # 16 kHz and stays ln(eps)), then (x - 15.41663) / (2 * 6.55582).
    mean, std = 15.41663, 6.55582
    return {**_kaldi_x32768(sampling_rate, num_mel_bins, "povey"), "scale": 1 / (2 * std), "offset": -mean / (2 * std)}


def _eat(sampling_rate=16000, num_mel_bins=128, target_length=1024) -> dict[str, Any]:
    # EAT's preprocess_audio: the clip's mean subtracted (a no-op after Kaldi's per-frame DC removal, which
    # melplug relies on), torchaudio's kaldi.fbank (128 bins, symmetric Hann "hanning", 25/10 ms, dither 0, no
    # energy), rows zero-padded or cut to target_length, *then* (x + 4.268) / (2 * 4.569).
    target_length = check_int("target_length", target_length, 1, "it must be an integer >= 1 (frames)")
    return _hann_fbank_rows(sampling_rate, num_mel_bins, target_length, mean=-4.268, std=4.569)


def _dasheng(sampling_rate=16000, num_mel_bins=64) -> dict[str, Any]:
    # Dasheng's front end: torchaudio MelSpectrogram(n_fft=512, win_length=512, hop_length=160, n_mels=64, f_min=0,
    # f_max=8000, center=True) then AmplitudeToDB(top_db=120): 10 log10(max(M, 1e-10)) floored at the clip's
    # max - 120 dB (torchaudio floors a whole (batch, mels, frames) batch at once; melplug each clip alone).
    options = _torchaudio(sampling_rate, num_mel_bins, fft_length=512, hop_length=160)
    options.update(max_freq=8000.0, empty_bands="ignore", log="db", log_floor=1e-10, ref_power=1.0, top_db=120.0)
    return options


def _vocos(sampling_rate=24000, num_mel_bins=100, fft_length=1024, hop_length=256) -> dict[str, Any]:
    # Vocos MelSpectrogramFeatures(padding="center"): torchaudio MelSpectrogram(center=True, power=1) (reflect
    # padding, periodic Hann, magnitude, HTK mels to sr // 2, no norm), then ln(max(M, 1e-7)).
    options = _torchaudio(sampling_rate, num_mel_bins, fft_length, hop_length)
    options.update(magnitude_power=1.0, empty_bands="ignore", log="ln", log_floor=1e-7)
    return options


def _bigvgan(sampling_rate=24000, num_mel_bins=100, fft_length=1024, hop_length=256) -> dict[str, Any]:
    # BigVGAN / HiFi-GAN meldataset.mel_spectrogram (the v2 24 kHz 100-band config): torch's reflect padding of
    # (n_fft - hop) // 2 each side, frames without centring (n // hop of them), periodic Hann, magnitude
    # sqrt(re^2 + im^2 + 1e-9), librosa's slaney mels fmin - fmax (None: sr / 2), ln(max(M, 1e-5)).
    fft_length = check_int("fft_length", fft_length, 1)
    hop_length = check_int("hop_length", hop_length, 1)
    return dict(
        sampling_rate=sampling_rate,
        framing="center",
        center_pad=max(fft_length - hop_length, 0) // 2,
        pad_mode="reflect_once",
        frame_length=fft_length,
        hop_length=hop_length,
        window="hann",
        window_periodic=True,
        magnitude_power=1.0,
        power_guard=1e-9,
        num_mel_bins=num_mel_bins,
        mel_scale="slaney",
        mel_triangles="hz",
        mel_grid="rfft",
        mel_norm="slaney",
        min_freq=0.0,
        max_freq=None,
        empty_bands="ignore",
        log="ln",
        log_floor=1e-5,
        top_db=None,
        layout="mels_frames",
    )


_BUILDERS = {
    "whisper": _whisper,
    "kaldi": _kaldi,
    "ast": _ast,
    "w2v-bert": _w2v_bert,
    "librosa": _librosa,
    "torchaudio": _torchaudio,
    "librosa-mfcc": _librosa_mfcc,
    "kaldi-mfcc": _kaldi_mfcc,
    "nemo": _nemo,
    "speechbrain-fbank": _speechbrain_fbank,
    "wespeaker": _wespeaker,
    "sensevoice": _sensevoice,
    "beats": _beats,
    "eat": _eat,
    "dasheng": _dasheng,
    "vocos": _vocos,
    "bigvgan": _bigvgan,
}
#: Per preset, the overrides its builder takes (they may set several engine options, as the reference does):
#: for a transformers extractor, its constructor's arguments (``feature_size``, ``n_fft``, ...).
REFERENCE_OVERRIDES: dict[str, tuple[str, ...]] = {
    **{name: tuple(inspect.signature(builder).parameters) for name, builder in _BUILDERS.items()},
    **{name: tuple(ref.defaults) for name, ref in REFERENCES.items() if name not in _BUILDERS},
}
#: The preset names, in the order of the table above, then transformers' extractors (:func:`melplug.from_transformers`).
PRESETS: tuple[str, ...] = ("keras", *_BUILDERS, *(name for name in REFERENCES if name not in _BUILDERS))
#: The reference's name for the mel bands, per transformers preset (``num_mel_bins`` is taken for it).
_BINS_KEYS = ("feature_size", "n_mels", "num_mel_bins")


def preset(name: str, **overrides: Any) -> FeatureExtractor:
    """The feature extractor of preset ``name``, with options overridden.

    Parameters
    ----------
    name : str
        One of :data:`PRESETS`.
    **overrides
        ``sampling_rate``, ``num_mel_bins`` and the preset's other
        :data:`REFERENCE_OVERRIDES` (``fft_length``, ``hop_length``,
        ``num_ceps``) go where the reference's constructor takes them (e.g.
        whisper's 30 s input follows the rate, librosa's window follows
        ``fft_length``); ``sequence_stride`` is the hop in samples (a preset
        timed in ms moves to samples, see the module docstring), while
        ``hop_length`` is in the preset's ``frame_unit``; other
        :class:`FeatureExtractor` options replace the preset's value.
        For ``"keras"`` the options are :class:`MelSpectrogram`'s.

    Examples
    --------
    >>> import numpy as np
    >>> import melplug
    >>> fx = melplug.preset("whisper")
    >>> fx(np.zeros(16000, np.float32)).shape
    (80, 3000)
    >>> melplug.preset("kaldi", num_mel_bins=80)(np.zeros(16000, np.float32)).shape
    (98, 80)
    >>> melplug.preset("kaldi", sequence_stride=320).num_frames(16000)  # samples, whatever the preset's unit
    49
    >>> melplug.preset("librosa-mfcc")(np.zeros(22050, np.float32)).shape
    (20, 44)
    >>> melplug.preset("keras") == melplug.MelSpectrogram()
    True
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"preset {name!r} is unknown; the presets are {', '.join(map(repr, PRESETS))}")
    cls = MelSpectrogram if name == "keras" else FeatureExtractor
    known = cls._config_keys()
    own = () if name == "keras" else (*REFERENCE_OVERRIDES[name], *_config_keys(name), "sequence_stride")
    unknown = sorted(set(overrides) - set(known) - set(own))
    if unknown:
        extra = f" and its reference's {', '.join(REFERENCE_OVERRIDES[name])}" if name != "keras" else ""
        raise ValueError(
            f"preset {name!r} has no option {', '.join(map(repr, unknown))}; its overrides are {cls.__name__} "
            f"options: {', '.join(known)}{extra}"
        )
    if name == "keras":
        return MelSpectrogram(**overrides)
    if name not in _BUILDERS or set(overrides) & (set(_config_keys(name)) - set(REFERENCE_OVERRIDES[name])):
        return _transformers_preset(name, overrides)  # a transformers config (feature_size, n_fft, ...)
    stride = None
    if "sequence_stride" in overrides:  # Keras' name for the hop: always samples
        if "hop_length" in overrides:
            raise ValueError(
                f"preset {name!r} received both sequence_stride={overrides['sequence_stride']!r} and "
                f"hop_length={overrides['hop_length']!r}; pass one (sequence_stride is Keras' name for the hop, "
                "in samples; hop_length is in the preset's frame_unit)"
            )
        stride = overrides.pop("sequence_stride")
        if "hop_length" in REFERENCE_OVERRIDES[name]:  # whisper, torchaudio: samples, and their frames follow it
            overrides["hop_length"], stride = stride, None
    reference = {k: overrides.pop(k) for k in REFERENCE_OVERRIDES[name] if k in overrides}
    options = _BUILDERS[name](**reference)
    if name in REFERENCES:
        options["reference"] = name
    options.update(overrides)
    if stride is not None:
        options.update(_hop_in_samples(options, stride))
    return FeatureExtractor(**options)


def _config_keys(name: str) -> tuple[str, ...]:
    """The constructor arguments of preset ``name``'s transformers extractor (none for the other presets)."""
    return tuple(REFERENCES[name].defaults) if name in REFERENCES else ()


def _transformers_preset(name: str, overrides: dict[str, Any]) -> FeatureExtractor:
    """A transformers extractor's preset: its constructor's arguments go to it, the rest replace engine options."""
    from . import _transformers  # imports this module

    keys = _config_keys(name)
    if "num_mel_bins" in overrides and "num_mel_bins" not in keys:
        bins = next(k for k in _BINS_KEYS if k in keys)
        if bins in overrides:
            raise ValueError(f"preset {name!r} received both num_mel_bins and {bins} (its name for them): pass one")
        overrides[bins] = overrides.pop("num_mel_bins")
    if "sequence_stride" in overrides:
        if "hop_length" in overrides:
            raise ValueError(
                f"preset {name!r} received both sequence_stride and hop_length; pass one (sequence_stride is "
                "Keras' name for the hop, in samples)"
            )
        overrides["hop_length"] = overrides.pop("sequence_stride")
    config = {k: overrides.pop(k) for k in keys if k in overrides}
    options = _transformers.build_options(name, config)
    options.update(overrides)
    return FeatureExtractor(**options)


def _hop_in_samples(options: dict[str, Any], stride) -> dict[str, Any]:
    """The options that make the hop ``stride`` samples.

    A preset timed in milliseconds (kaldi, ast, kaldi-mfcc) moves to samples:
    its frame length is converted as the engine converts it
    (:func:`melplug._plan.samples`, Kaldi's rounding), so the frames stay the
    same and only the hop is the one given.
    """
    if options.get("frame_unit", "samples") != "ms":
        return {"hop_length": stride}
    frame = check_real(
        "frame_length",
        options["frame_length"],
        "it must be a duration > 0 (ms, frame_unit='ms')",
        minimum=0.0,
        strict=True,
    )
    return {
        "frame_unit": "samples",
        "frame_length": _plan.samples(frame, "ms", options["sampling_rate"]),
        "hop_length": stride,
    }
