"""``framing="kaldi_center"``: Kaldi's ``snip_edges=False`` framing (sherpa-onnx, sherpa-ncnn), offline
(streamed: ``tests/unit/test_stream_knf.py``).

Against kaldi-native-fbank's ``OnlineFbank``/``OnlineMfcc`` with
``snip_edges=False`` (dither 0), run here, and against the float64 NumPy
reference :mod:`tests.references.kaldi_fbank` (its ``frames`` cut Kaldi's
``snip_edges=False`` frames sample by sample, reflecting as ``ExtractWindow``
does), itself checked against kaldi-native-fbank below.  Frames: ``(n + hop //
2) // hop``, frame ``f`` from ``f * hop + hop // 2 - frame_length // 2``; samples
outside the clip reflected symmetrically (the edge sample repeated), as often
as needed.
"""

from __future__ import annotations

import numpy as np
import pytest

import melplug
from melplug import _geometry
from tests.presets._grid import assert_close
from tests.presets._tolerances import KALDI_MFCC_TOL, KNF_LN_TOL, LN_TOL, TOL
from tests.references import kaldi_fbank as rk
from tests.references.libraries import kaldi_mfcc64, kaldi_reference, knf_mfcc
from tests.references.signals import DTYPES, make_signal

#: Around one hop (160), the left pad (120), one frame (400), and a second of audio plus 7.
LENGTHS = [1, 2, 79, 80, 81, 119, 120, 121, 159, 160, 161, 399, 400, 401, 16007]
KINDS = ("noise", "tones", "speech")


def _clip(n: int, i: int = 0) -> np.ndarray:
    return make_signal(KINDS[i % 3], n, 16000, seed=i)


def _kaldi_center(**overrides):
    return melplug.preset("kaldi", framing="kaldi_center", **overrides)


def _rk(x, *, frame_length=400, frame_shift=160, bins=23):
    return rk.fbank(
        x, sampling_rate=16000, frame_length=frame_length, frame_shift=frame_shift, num_mel_bins=bins, snip_edges=False
    )


def test_plan_pads_and_counts_as_kaldi():
    plan = _kaldi_center().plan
    assert (plan.pad, plan.pad_end, plan.pad_mode) == (120, 200, _geometry.PAD_MODES["symmetric"])
    assert plan.frame_rule == 0
    fx = _kaldi_center()
    again = melplug.FeatureExtractor.from_config(fx.get_config())
    assert again == fx and again.get_config()["framing"] == "kaldi_center"


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_matches_kaldi_native_fbank(dtype):
    fx = _kaldi_center()
    for i, n in enumerate(LENGTHS):
        x = _clip(n, i)
        want = kaldi_reference(16000, 23, x.astype(np.float32), snip_edges=False)
        got = fx(x.astype(dtype))
        assert got.dtype == dtype
        assert got.shape == want.shape == ((n + 80) // 160, 23), (n, got.shape, want.shape)
        assert_close(got, want, TOL["kaldi", dtype], f"kaldi_center vs kaldi-native-fbank, n={n}")


def test_float64_matches_the_float64_reference_which_matches_kaldi_native_fbank():
    fx = _kaldi_center(dtype="float64")
    for i, n in enumerate(LENGTHS):
        x = _clip(n, i)
        ref = _rk(x)
        assert_close(fx(x), ref, LN_TOL[np.float64], f"kaldi_center float64 vs the reference, n={n}")
        want = kaldi_reference(16000, 23, x.astype(np.float32), snip_edges=False).astype(np.float64)
        assert_close(_rk(x.astype(np.float32)), want, KNF_LN_TOL, f"the reference vs kaldi-native-fbank, n={n}")


def test_reflection_repeats_for_clips_shorter_than_the_left_pad():
    """1 ms hops: the pad is 200 - 8 = 192 samples, and clips of 8 to 30 samples are reflected many times."""
    fx32, fx64 = _kaldi_center(hop_length=1.0), _kaldi_center(hop_length=1.0, dtype="float64")
    assert fx32.plan.pad == 192
    for i, n in enumerate((8, 9, 15, 16, 17, 30)):
        x = _clip(n, i)
        want = np.asarray(_knf_fbank_1ms(x.astype(np.float32)))
        got = fx32(x.astype(np.float32))
        assert got.shape == want.shape == ((n + 8) // 16, 23), (n, got.shape, want.shape)
        assert_close(got, want, TOL["kaldi", np.float32], f"1 ms hops, n={n}")
        assert_close(fx64(x), _rk(x, frame_shift=16), LN_TOL[np.float64], f"1 ms hops, float64, n={n}")


def _knf_fbank_1ms(x):
    knf = pytest.importorskip("kaldi_native_fbank")
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0
    opts.frame_opts.snip_edges = False
    opts.frame_opts.frame_shift_ms = 1.0
    opts.mel_opts.num_bins = 23
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(16000, x)
    fbank.input_finished()
    return np.array([fbank.get_frame(i) for i in range(fbank.num_frames_ready)], np.float32).reshape(-1, 23)


@pytest.mark.parametrize(
    "frame, hop", [(401, 161), (400, 400), (400, 3), (401, 2)], ids=["odd", "hop=frame", "hop3", "hop2"]
)
def test_other_geometries_match_the_float64_reference(frame, hop):
    """Odd frames and hops, a hop as long as the frame, and 1- to 3-sample clips reflected hundreds of times."""
    fx = _kaldi_center(frame_unit="samples", frame_length=frame, hop_length=hop, dtype="float64")
    assert (fx.plan.pad, fx.plan.pad_end) == (frame // 2 - hop // 2, frame - fx.plan.pad + hop // 2 - hop)
    for i, n in enumerate((1, 2, 3, hop - 1, hop, hop + 1, frame + 7, 2 * frame + hop + 1)):
        if n < 1:
            continue
        x = _clip(n, i)
        want = _rk(x, frame_length=frame, frame_shift=hop)
        assert want.shape[0] == (n + hop // 2) // hop == fx.num_frames(n), (n, want.shape)
        assert_close(fx(x), want, LN_TOL[np.float64], f"frame {frame}, hop {hop}, n={n}")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_kaldi_mfcc_matches_online_mfcc(dtype):
    fx = melplug.preset("kaldi-mfcc", framing="kaldi_center", dtype=np.dtype(dtype).name)
    for i, n in enumerate((80, 161, 401, 16007)):
        x = _clip(n, i)
        got = fx(x.astype(dtype))
        want = knf_mfcc(x.astype(np.float32), snip_edges=False)
        assert got.shape == want.shape == ((n + 80) // 160, 13), (n, got.shape, want.shape)
        assert_close(got, want, KALDI_MFCC_TOL[np.float32], f"kaldi-mfcc kaldi_center vs OnlineMfcc, n={n}")
        if dtype is np.float64:
            ref = kaldi_mfcc64(x, snip_edges=False)
            assert_close(got, ref, KALDI_MFCC_TOL[np.float64], f"kaldi-mfcc kaldi_center vs float64, n={n}")


@pytest.mark.parametrize("frame, hop", [(400, 160), (401, 161), (400, 400), (25, 10), (7, 7), (1, 1)])
def test_num_frames_is_kaldis(frame, hop):
    fx = _kaldi_center(frame_unit="samples", frame_length=frame, hop_length=hop, fft_length=512)
    n = np.arange(2000)
    computed, rows = _geometry.plan_frames(fx.plan, n)
    np.testing.assert_array_equal(computed, (n + hop // 2) // hop)
    np.testing.assert_array_equal(rows, computed)
    assert [fx.num_frames(int(k)) for k in n[1:]] == ((n[1:] + hop // 2) // hop).tolist()
    assert fx.compute_output_shape((3, 16007)) == (3, (16007 + hop // 2) // hop, 23)


def test_batches_equal_each_clip():
    fx = _kaldi_center()
    clips = [_clip(n, i).astype(np.float32) for i, n in enumerate((81, 400, 1601))]
    for got, clip in zip(fx(clips), clips, strict=True):
        np.testing.assert_array_equal(got, fx(clip))
    batch = np.stack([clips[2], clips[2][::-1]])
    out = fx(batch)
    np.testing.assert_array_equal(out[1], fx(clips[2][::-1]))
    assert out.shape == (2, 10, 23)


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(hop_length=25.5), r"framing='kaldi_center' needs hop_length <= frame_length.*hop_length=25\.5"),
        (dict(pad_mode="constant"), r"pad_mode='constant' is invalid with framing='kaldi_center'.*'reflect'"),
        (dict(pad_mode="reflect_once"), r"pad_mode='reflect_once' is invalid with framing='kaldi_center'"),
        (dict(left_pad=10), r"left_pad=10 is the padding of framing='left'; received framing='kaldi_center'"),
        (dict(center_pad=10), r"center_pad=10 is the padding of framing='center'; received framing='kaldi_center'"),
        (dict(frame_rule="n_over_hop"), r"frame_rule='n_over_hop' is invalid with framing='kaldi_center'.*'all'"),
        (dict(frame_rule="lookahead"), r"frame_rule='lookahead' is invalid with framing='kaldi_center'"),
        (dict(signal_preemphasis=0.97), r"signal_preemphasis=0\.97.*framing='kaldi_center'"),
        (dict(framing="kaldi-center"), r"framing='kaldi-center' is invalid: .*'kaldi_center'"),
    ],
)
def test_refusals(overrides, match):
    options = dict(framing="kaldi_center")
    options.update(overrides)
    with pytest.raises(ValueError, match=match):
        melplug.preset("kaldi", **options)
