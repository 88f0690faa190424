"""The preset tests' tolerances, stated once, each with what it was measured against."""

from __future__ import annotations

import math

import numpy as np

from tests._util import DB_TOL

# --------------------------------------------------------------------------- whisper, kaldi


_DB = DB_TOL[np.float32]  # the Keras preset's target, 0.01 dB, expressed below in each preset's own units


#: max |melplug - reference| per (preset, output dtype), in the preset's output units.
TOL = {
    # whisper outputs (log10(M) + 4) / 4: 0.01 dB = 0.001 log10 = 0.00025 output units.
    ("whisper", np.float32): _DB / 10 / 4,
    # float64: against the reference's own float64 values (before its float32 cast; it keeps the STFT
    # in complex64, ~1e-8 from exact).
    ("whisper", np.float64): 1e-6,
    # kaldi outputs ln(M): 0.01 dB = 0.0023 ln.  kaldi-native-fbank computes in float32 whatever the
    # input, so float64 output is held to the same bound.
    ("kaldi", np.float32): _DB * math.log(10) / 10,
    ("kaldi", np.float64): _DB * math.log(10) / 10,
}


# --------------------------------------------------------------------------- librosa(-mfcc), torchaudio, kaldi-mfcc


#: librosa and torchaudio output linear power: max |melplug - reference| relative to the clip's largest
#: reference value.  float32: measured <= 3.4e-7 (librosa) and 3.0e-7 (torchaudio) on the grids of ``_grid.py``, a
#: few float32 ulps (torchaudio's own float32 transform is 1.5e-5 from its float64 port, references/torchaudio_mel.py).
#: float64: measured <= 5.0e-16 against the float64 references.
REL_TOL = {np.float32: 2e-6, np.float64: 1e-14}


#: librosa-mfcc, absolute, in its dB-DCT units: c0 of a frame of digital silence is -100 dB * sqrt(128) =
#: -1131, where a float32 ulp is 1.2e-4.  float32 vs librosa's float32 path: measured <= 1.3e-3 (there, ~10
#: ulps: float32 round-off of the 128-term DCT sum); float64 vs librosa's steps in float64: measured <= 1.6e-12.
#: For scale: 0.01 dB in every band would move c0 by 0.11.
MFCC_DB_TOL = {np.float32: 3e-3, np.float64: 1e-11}


#: kaldi-mfcc, absolute, in its units (liftered cepstra of ln power, up to x12; c0 = ln energy).  float32 vs
#: kaldi-native-fbank (float32 too): measured <= 5.3e-4; float64 vs kaldi_mfcc64: measured <= 9.6e-13.
KALDI_MFCC_TOL = {np.float32: 2e-3, np.float64: 1e-11}


#: kaldi_mfcc64 (float64) vs kaldi-native-fbank (float32): measured <= 5.6e-4.
KNF_MFCC_TOL = 2e-3


# --------------------------------------------------------------------------- ast, w2v-bert, the float64 Kaldi reference


#: Kaldi log-mel error budget, ln units, per compute dtype.  float32: melplug computes in float32; its
#: round-off measured <= 3.9e-4 ln (ast) and <= 2.9e-4 ln equivalent (w2v-bert, below) on these signals,
#: largest in the lowest bands, which pre-emphasis puts ~87 dB below the frame's peak.  kaldi-native-fbank
#: (float32 too) is <= 5.0e-4 ln off the float64 reference on the same signals, so two float32
#: implementations may differ by about the sum (melplug vs kaldi-native-fbank measured <= 5.1e-4 ln); 2e-3
#: is twice that sum, and 1e-3 ln is already ~0.004 dB.  float64: melplug vs the float64 reference measured
#: <= 2.1e-12 ln; 1e-9 leaves room for other FFT orders while catching any real difference.
LN_TOL = {np.float32: 2e-3, np.float64: 1e-9}


#: tests/references/kaldi_fbank.py (float64) vs kaldi-native-fbank (float32), ln: measured <= 5.0e-4.
KNF_LN_TOL = 1e-3


#: ast output units are ln / (2 * std) with the reference's std (4.5689974): its tolerance is
#: ``LN_TOL[dtype] / (2 * std)`` (2.2e-4 for float32), computed in ``test_ast._ast_tol``.
#: w2v-bert output units are ln / sqrt(var_b + 1e-7), per mel bin b over the clip: an error of e ln in the
#: log-mel is e / sqrt(var_b + 1e-7) there.  So the tolerance is per bin, ``LN_TOL[dtype] / sqrt(var_b + 1e-7)``
#: with var_b from the float64 reference, and errors are reported as |diff| * sqrt(var_b + 1e-7) ("ln
#: equivalent").  A flat tolerance would be too loose for speech (var_b ~ 1..150) and far too tight for
#: steady tones (sqrt(var_b) ~ 0.006) and empty bands (var_b = 0: the reference's own float32 mean, one ulp
#: of ln(eps) off, becomes 3e-3 there).
#: w2v-bert's empty bands (44.1 kHz, 128 bins) are constant, so 0 in exact arithmetic; any error in their mean is
#: divided by sqrt(1e-7).  melplug measured 5.6e-12 (a float64 mean one ulp off), transformers 3.0e-3 (a float32
#: mean one ulp off): a flat bound in normalised units.
EMPTY_BAND_TOL = 1e-9


#: Kernel path vs Python API, float64 w2v-bert, ln equivalent as above: the same normalisation loop compiled
#: in two places (fastmath reassoc/contract) measured 7.2e-15 apart (1.8e-13 normalised, on a steady tone);
#: float32 and ast are bit-for-bit.
KERNEL_F64_LN_TOL = 1e-13
