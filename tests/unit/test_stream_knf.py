"""Streams against kaldi-native-fbank's online API, and their properties (SPEC §8).

* kaldi-native-fbank's ``OnlineFbank``/``OnlineMfcc`` fed the same chunks as a
  :class:`melplug.FeatureStream` (``snip_edges`` True: the ``kaldi`` preset;
  False: ``framing="kaldi_center"``): after every chunk both have made the same
  number of frames (its ``num_frames_ready``), and the numbers agree within
  float32 rounding; after ``input_finished``/``finish`` too.
* hypothesis: every chunking of every length, dtype and thread count gives
  ``fx(clip)`` bit for bit, and each ``accept`` returns
  ``frames_ready(after) - frames_ready(before)`` frames.
* a pool of 120 streams fed at random equals each stream alone.
* memory: a 10-minute stream fed in 10 ms chunks allocates nothing that stays.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

import melplug
from tests.presets._tolerances import KALDI_MFCC_TOL, TOL
from tests.references.libraries import KALDI_REASON
from tests.references.signals import make_signal

knf = pytest.importorskip("kaldi_native_fbank", reason=KALDI_REASON)
pytest.importorskip("hypothesis", reason="the property tests need hypothesis (a test dependency)")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: (preset, snip_edges, kaldi-native-fbank class, its options, tolerance)
KALDI = {
    "fbank-snip": ("kaldi", True),
    "fbank-center": ("kaldi", False),
    "mfcc-snip": ("kaldi-mfcc", True),
    "mfcc-center": ("kaldi-mfcc", False),
}


def _pair(key: str):
    name, snip = KALDI[key]
    fx = melplug.preset(name) if snip else melplug.preset(name, framing="kaldi_center")
    if name == "kaldi":
        opts = knf.FbankOptions()
        make, tol = knf.OnlineFbank, TOL[("kaldi", np.float32)]
    else:
        opts = knf.MfccOptions()
        make, tol = knf.OnlineMfcc, KALDI_MFCC_TOL[np.float32]
    opts.frame_opts.dither = 0
    opts.frame_opts.snip_edges = snip
    return fx, (lambda: make(opts)), tol


def _chunks(n: int, rng) -> list[int]:
    sizes, left = [], n
    while left:
        k = int(min(left, rng.choice([0, 1, 80, 159, 160, 161, 399, 400, 401, 1000])))
        sizes.append(k)
        left -= k
    return sizes


@pytest.mark.parametrize("key", sorted(KALDI))
def test_frames_come_when_kaldi_native_fbank_has_them(key):
    fx, make, tol = _pair(key)
    rng = np.random.default_rng(11)
    for n in (1, 119, 120, 121, 400, 401, 4007):
        x = make_signal("speech", n, 16000, seed=n)
        ours, theirs = fx.stream(), make()
        got, want, at = [], [], 0
        for k in _chunks(n, rng):
            got.append(ours.accept(x[at : at + k]))
            theirs.accept_waveform(16000, x[at : at + k])
            at += k
            made = sum(g.shape[0] for g in got)
            assert made == theirs.num_frames_ready, (key, n, at)
        got.append(ours.finish())
        theirs.input_finished()
        assert sum(g.shape[0] for g in got) == theirs.num_frames_ready
        want = np.array([theirs.get_frame(i) for i in range(theirs.num_frames_ready)], np.float32)
        mine = np.concatenate(got)
        assert mine.shape[0] == want.shape[0] == fx.num_frames(n)
        if want.size:
            assert np.max(np.abs(mine - want.reshape(mine.shape))) <= tol, (key, n)
        np.testing.assert_array_equal(mine, fx(x))


#: Extractors of every causal framing: snip edges, Kaldi's centre, reflect (librosa) and zero padding, torch's
#: reflection (its clip must outgrow the pad), whole-signal pre-emphasis (NeMo's), with dither.
STREAMABLE = {
    "kaldi": lambda: melplug.preset("kaldi"),
    "kaldi_center": lambda: melplug.preset("kaldi", framing="kaldi_center", frame_length=50, hop_length=10),
    "librosa": lambda: melplug.preset("librosa", fft_length=256, hop_length=64, num_mel_bins=32),
    "zeros": lambda: melplug.FeatureExtractor(
        fft_length=128, frame_length=100, hop_length=37, pad_mode="constant", num_mel_bins=20, log="db", top_db=None
    ),
    "emphasis-zeros": lambda: melplug.FeatureExtractor(
        fft_length=128,
        frame_length=100,
        hop_length=30,
        pad_mode="constant",
        signal_preemphasis=0.97,
        num_mel_bins=24,
        log="ln",
        top_db=None,
    ),
    "torch-dither": lambda: melplug.preset(
        "torchaudio", fft_length=128, hop_length=40, num_mel_bins=16, empty_bands="ignore", dither=0.01, dither_seed=5
    ),
}
_MADE: dict = {}


def _fx(name):
    if name not in _MADE:
        _MADE[name] = STREAMABLE[name]()
    return _MADE[name]


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(STREAMABLE)),
    n=st.integers(1, 3000),
    sizes=st.lists(st.one_of(st.integers(0, 3), st.integers(0, 600)), min_size=1, max_size=30),
    dtype=st.sampled_from([np.float32, np.float64]),
    threads=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**16),
)
def test_any_chunking_is_the_offline_call(name, n, sizes, dtype, threads, seed):
    fx = _fx(name)
    if fx.plan.pad_mode == 2 and n <= fx.plan.pad:
        n = fx.plan.pad + 1  # torch's reflection refuses shorter clips offline too
    x = (0.3 * np.random.default_rng(seed).standard_normal(n)).astype(dtype)
    axis = 0 if fx.plan.frames_major else 1
    s = fx.stream()
    parts, at = [], 0
    for k in [*sizes, n]:  # the last chunk takes the rest
        k = min(k, n - at)
        part = s.accept(x[at : at + k])
        assert part.shape[axis] == fx.frames_ready(at + k) - fx.frames_ready(at)
        assert s.held < fx.plan.frame_length + fx.plan.hop_length
        parts.append(part)
        at += k
    parts.append(s.finish())
    assert s.finish().shape[axis] == 0
    got = np.concatenate(parts, axis=axis)
    np.testing.assert_array_equal(got, fx(x, num_threads=threads))


def test_a_pool_of_120_streams_fed_at_random_equals_each_alone():
    fx = melplug.preset("kaldi", framing="kaldi_center")
    pool = fx.stream_pool(num_threads=2)
    rng = np.random.default_rng(21)
    clips = [make_signal("noise", int(rng.integers(1, 6000)), 16000, seed=i) for i in range(120)]
    ids = [pool.open() for _ in clips]
    at = [0] * len(clips)
    got = [[] for _ in clips]
    for _ in range(30):
        chosen = [k for k in range(len(clips)) if rng.random() < 0.5]
        chunks = [clips[k][at[k] : at[k] + int(rng.choice([0, 1, 160, 800]))] for k in chosen]
        for k, part in zip(chosen, pool.accept(np.array([ids[k] for k in chosen]), chunks), strict=True):
            got[k].append(part.copy())
        for k, c in zip(chosen, chunks, strict=True):
            at[k] += c.shape[0]
    rest = pool.accept(ids, [clips[k][at[k] :] for k in range(len(clips))])
    ends = pool.finish(ids)
    for k, clip in enumerate(clips):
        np.testing.assert_array_equal(np.concatenate([*got[k], rest[k], ends[k]]), fx(clip))
    # equal chunks for every stream (the server's tick), a 2-D block: the same frames as a list of chunks
    a = fx.stream_pool()
    b = fx.stream_pool()
    ia, ib = [a.open() for _ in range(8)], [b.open() for _ in range(8)]
    block = np.stack([make_signal("tones", 1600, 16000, seed=i) for i in range(8)])
    for t in range(0, 1600, 160):
        for u, v in zip(a.accept(ia, block[:, t : t + 160]), b.accept(ib, list(block[:, t : t + 160])), strict=True):
            np.testing.assert_array_equal(u, v)
    pool.close(ids)
    assert len(pool) == 0


def test_a_long_stream_holds_no_more_memory():
    fx = melplug.preset("kaldi")
    s = fx.stream()
    chunk = make_signal("noise", 160, 16000, seed=1)
    for _ in range(200):  # warm: kernels loaded, caches made
        s.accept(chunk)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(60_000):  # 10 minutes at 16 kHz, 10 ms at a time
            s.accept(chunk)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, grown
    assert s.num_samples == 160 * 60_200 and s.held < fx.plan.frame_length + fx.plan.hop_length
