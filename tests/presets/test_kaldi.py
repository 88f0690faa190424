"""``kaldi`` and ``kaldi-mfcc`` against kaldi-native-fbank.

``kaldi``: kaldi-native-fbank's ``OnlineFbank`` (dither 0), run in the test
(never pasted numbers) on the same clips as melplug: noise, tones and
speech-like bursts with silences, of lengths around one frame and odd.
``kaldi-mfcc``: its reference grid (``OnlineMfcc``) is in
``test_reference_grid.py``, with librosa's and torchaudio's; here what is
Kaldi's own, c0 as the log energy.  What every preset shares (unusual input,
batching, configuration) is tested across presets in ``test_inputs.py``,
``test_batching.py`` and ``test_config.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import melplug
from tests._util import max_error
from tests.presets._grid import assert_close
from tests.presets._tolerances import KALDI_MFCC_TOL, KNF_MFCC_TOL, TOL
from tests.references import kaldi_fbank as rk
from tests.references.libraries import (
    KALDI_REASON,
    kaldi_frames,
    kaldi_log_energy,
    kaldi_options,
    kaldi_reference,
    kaldi_samples,
    knf_mfcc,
)
from tests.references.signals import DTYPES, clips_of, make_signal


def _kaldi_lengths(sr: int) -> list[tuple[str, int]]:
    win = kaldi_samples(sr, 25.0)
    return [("noise", win - 1), ("tones", win), ("speech", win + 1), ("quiet", 3 * sr // 2 + 1), ("tones", sr + 7)]


KALDI_CASES = [
    (
        "16k-23",
        16000,
        23,
        [
            ("noise", 1),
            ("noise", 2),
            ("tones", 399),
            ("noise", 400),
            ("speech", 401),
            ("noise", 559),
            ("tones", 560),
            ("speech", 561),
            ("noise", 1601),
            ("speech", 16000),
            ("quiet", 16001),
            ("tones", 48017),
            ("speech", 80003),
        ],
    ),
    ("16k-40", 16000, 40, _kaldi_lengths(16000)),
    ("16k-80", 16000, 80, _kaldi_lengths(16000)),
    ("8k-23", 8000, 23, _kaldi_lengths(8000)),
    ("22k-23", 22050, 23, _kaldi_lengths(22050)),
    ("44k-23", 44100, 23, _kaldi_lengths(44100)),
    ("44k-80", 44100, 80, _kaldi_lengths(44100)),
]


@pytest.fixture(scope="module")
def kaldi_refs():
    kaldi_options(16000, 23)
    cache = {}

    def get(case_id):
        if case_id not in cache:
            _, sr, bins, spec = next(c for c in KALDI_CASES if c[0] == case_id)
            clips = clips_of(spec, sr)
            refs = [kaldi_reference(sr, bins, c) for c in clips[np.float32]]
            cache[case_id] = sr, bins, clips, refs
        return cache[case_id]

    return get


# --------------------------------------------------------------------------- kaldi: parity with the reference


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case_id", [c[0] for c in KALDI_CASES])
def test_kaldi_matches_reference(kaldi_refs, case_id, dtype):
    sr, bins, clips, refs = kaldi_refs(case_id)
    fx = melplug.preset("kaldi", sampling_rate=sr, num_mel_bins=bins)
    for i, clip in enumerate(clips[dtype]):
        got, expected = fx(clip), refs[i]
        assert got.dtype == dtype, i
        assert got.shape == expected.shape == (kaldi_frames(len(clip), sr), bins), (i, len(clip), got.shape)
        assert max_error(got, expected) <= TOL["kaldi", dtype], (case_id, i, len(clip), max_error(got, expected))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_kaldi_clips_shorter_than_a_window(kaldi_refs, dtype):
    """The reference gives no frame below 400 samples; melplug gives a ``(0, bins)`` array, batched too."""
    sr, bins, clips, refs = kaldi_refs("16k-23")
    fx = melplug.preset("kaldi")
    short = [c for c, r in zip(clips[dtype], refs, strict=True) if r.shape[0] == 0]
    assert [len(c) for c in short] == [1, 2, 399]
    batch = np.stack([short[2], short[2][::-1]])
    out = fx(batch)
    assert out.dtype == dtype
    assert out.shape == (2, 0, bins)
    outs = fx([*short, clips[dtype][3]])  # ragged: three short clips and one of exactly one window
    assert [o.shape for o in outs] == [(0, bins)] * 3 + [(1, bins)]
    assert all(o.dtype == dtype for o in outs)
    np.testing.assert_array_equal(outs[3], fx(clips[dtype][3]))


@pytest.mark.parametrize("sr", [16000, 8000, 22050, 44100])
def test_kaldi_num_frames(sr):
    """``num_frames(n)`` is ``1 + (n - win) // shift``, or 0 below one window: the reference's row count."""
    fx = melplug.preset("kaldi", sampling_rate=sr)
    win, shift = kaldi_samples(sr, 25.0), kaldi_samples(sr, 10.0)
    x = make_signal("noise", win + 3 * shift + 1, sr, seed=0).astype(np.float32)
    for n in (1, win - 1, win, win + 1, win + shift - 1, win + shift, win + 3 * shift + 1):
        expected = kaldi_reference(sr, 23, x[:n]).shape[0]
        assert expected == kaldi_frames(n, sr)
        assert fx.num_frames(n) == expected
        assert fx(x[:n]).shape == (expected, 23)
    assert fx.compute_output_shape((3, win)) == (3, 1, 23)


# --------------------------------------------------------------------------- kaldi: bin counts


@pytest.mark.parametrize("bins", [0, 1, 2])
def test_kaldi_needs_three_bins(bins):
    with pytest.raises(ValueError, match=rf"num_mel_bins={bins}.*at least 3"):
        melplug.preset("kaldi", num_mel_bins=bins)


def test_kaldi_num_mel_bins_type():
    with pytest.raises(TypeError, match="num_mel_bins"):
        melplug.preset("kaldi", num_mel_bins=80.0)


#: (sampling_rate, num_mel_bins) around kaldi-native-fbank's limits (its answers decide the test).
KALDI_BIN_PROBES = [(16000, n) for n in (1, 2, 3, 23, 126, 127, 128, 200)] + [
    (8000, 95),
    (8000, 96),
    (22050, 216),
    (22050, 217),
    (44100, 267),
    (44100, 268),
]


def test_kaldi_bin_limits_match_reference():
    """melplug refuses exactly the (rate, bins) kaldi-native-fbank refuses (too few, or an empty band)."""
    pytest.importorskip("kaldi_native_fbank", reason=KALDI_REASON)
    # In a subprocess: kaldi-native-fbank aborts the process on some invalid options.
    code = textwrap.dedent(f"""
        import json, kaldi_native_fbank as knf
        accepted = []
        for sr, bins in {KALDI_BIN_PROBES!r}:
            opts = knf.FbankOptions()
            opts.frame_opts.dither = 0
            opts.frame_opts.samp_freq = sr
            opts.mel_opts.num_bins = bins
            try:
                fbank = knf.OnlineFbank(opts)
                fbank.accept_waveform(sr, [0.1, -0.2] * sr)
                fbank.input_finished()
                accepted.append(fbank.num_frames_ready > 0)
            except ValueError:
                accepted.append(False)
        print(json.dumps(accepted))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    accepted = json.loads(proc.stdout.strip().splitlines()[-1])
    assert accepted.count(False) >= 6, accepted  # the probes straddle both limits
    for (sr, bins), ok in zip(KALDI_BIN_PROBES, accepted, strict=True):
        if ok:
            assert melplug.preset("kaldi", sampling_rate=sr, num_mel_bins=bins).num_mel_bins == bins
        else:
            with pytest.raises(ValueError, match=rf"num_mel_bins={bins}"):
                melplug.preset("kaldi", sampling_rate=sr, num_mel_bins=bins)


# --------------------------------------------------------------------------- kaldi-mfcc specifics


def test_kaldi_mfcc_c0_is_the_log_energy():
    """c0 is the frame's raw log energy (after DC removal, before pre-emphasis and window), as the reference's."""
    x = make_signal("speech", 16001, 16000, seed=5)
    energy = kaldi_log_energy(x)
    got = melplug.preset("kaldi-mfcc")(x.astype(np.float32))
    ref = knf_mfcc(x.astype(np.float32))
    assert got.shape == ref.shape == (energy.shape[0], 13)
    assert_close(ref[:, 0], energy, KNF_MFCC_TOL, "kaldi-native-fbank c0 vs log energy")
    assert_close(got[:, 0], energy, KALDI_MFCC_TOL[np.float32], "melplug c0 vs log energy")
    got64 = melplug.preset("kaldi-mfcc", dtype="float64")(x)
    assert_close(got64[:, 0], energy, KALDI_MFCC_TOL[np.float64], "melplug float64 c0 vs log energy")
    assert (energy == np.log(rk.F32_EPS)).any()  # whole frames of digital silence hit the floor
    dct_c0 = melplug.preset("kaldi-mfcc", energy_c0=False)(x.astype(np.float32))[:, 0]
    assert max_error(dct_c0, energy) > 1.0  # the DCT's c0 would be another number
    np.testing.assert_array_equal(melplug.preset("kaldi-mfcc", energy_c0=False)(x)[:, 1:], got64[:, 1:])
