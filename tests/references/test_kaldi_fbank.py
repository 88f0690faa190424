"""The float64 Kaldi reference (:mod:`tests.references.kaldi_fbank`) against kaldi-native-fbank.

The ast, w2v-bert and kaldi-mfcc tests rely on it where kaldi-native-fbank
cannot answer (float64 output, the empty band of ast's default 128 bins at
16 kHz); here it is checked against that library wherever the library accepts
the configuration, so it cannot drift unnoticed.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests._util import assert_within
from tests.presets._tolerances import KNF_LN_TOL
from tests.references import kaldi_fbank as rk
from tests.references.libraries import knf_fbank, rk_fbank
from tests.references.signals import SIGNALS, make


@pytest.mark.parametrize(
    "sr, num_bins, window_type",
    [
        (16000, 23, "povey"),  # kaldi-native-fbank's defaults
        (16000, 80, "hanning"),
        (16000, 80, "hamming"),  # wespeaker, sensevoice
        (16000, 126, "hanning"),  # the most bins kaldi-native-fbank accepts at 16 kHz
        (22050, 128, "hanning"),  # 551/220-sample frames, FFT 1024
        (8000, 64, "povey"),  # FFT 256
        (16400, 64, "hanning"),  # 25 ms = 410 samples here (rk.samples, as kaldi-native-fbank counts them)
    ],
)
@pytest.mark.parametrize("kind", list(SIGNALS))
def test_reference_kaldi_matches_kaldi_native_fbank(knf, sr, num_bins, window_type, kind):
    for n in (rk.samples(sr, 25) - 1, rk.samples(sr, 25), 4001, sr + 7):
        x = make(kind, n, sr, np.float32)
        want = knf_fbank(knf, x, sr, num_bins, window_type)
        got = rk_fbank(x, sr, num_bins, window_type)
        assert got.shape == want.shape == (max(0, 1 + (n - rk.samples(sr, 25)) // rk.samples(sr, 10)), num_bins)
        assert_within(got, want.astype(np.float64), KNF_LN_TOL, f"reference_kaldi vs knf, {kind}, n={n}")


def test_kaldi_native_fbank_refuses_the_ast_default_and_one_band_is_empty(knf):
    # Why tests/references/kaldi_fbank.py is needed: at 16 kHz (FFT 512, 31.25 Hz bins) 127 or more bands leave one
    # without an FFT bin; kaldi-native-fbank refuses that, torchaudio (ast's reference) keeps it at ln(eps).
    x = make("noise", 4001, 16000, np.float32)
    assert knf_fbank(knf, x, 16000, 126, "hanning").shape == (23, 126)
    for bins in (127, 128):
        with pytest.raises(ValueError, match="num_mel_bins too large"):
            knf_fbank(knf, x, 16000, bins, "hanning")
    weights = rk.mel_banks(128, 512, 16000, 20.0, 8000.0)
    assert np.flatnonzero(weights.sum(axis=0) == 0).tolist() == [3]
    np.testing.assert_array_equal(rk_fbank(x, 16000, 128, "hanning")[:, 3], np.log(rk.F32_EPS))
