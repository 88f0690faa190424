"""Streams (SPEC §8, first part): ``fx.stream()`` and ``fx.frames_ready(n)`` equal the offline call bit for bit."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import melplug

CAUSAL = {
    "kaldi": lambda: melplug.preset("kaldi"),
    "kaldi-mfcc": lambda: melplug.preset("kaldi-mfcc"),
    "kaldi_center": lambda: melplug.preset("kaldi", framing="kaldi_center"),
    "kaldi_center-mfcc": lambda: melplug.preset("kaldi-mfcc", framing="kaldi_center"),
    "librosa": lambda: melplug.preset("librosa"),
    "voxtral-realtime": lambda: melplug.preset("voxtral-realtime"),  # a fixed floor; the last frame dropped
    "torchaudio": lambda: melplug.preset("torchaudio", empty_bands="ignore"),
    "keras-top_db-None": lambda: melplug.MelSpectrogram(top_db=None),
    # dither, keyed on the frame's index in the stream: Kaldi's steps, with a gain, and centred frames
    "kaldi-dither": lambda: melplug.preset("kaldi", dither=1.0, dither_seed=3),
    "kaldi-gain-dither": lambda: melplug.preset("kaldi", input_gain=2.0**15, dither=1.0, remove_dc=False),
    "librosa-dither": lambda: melplug.preset("librosa", dither=1e-3),
    # whole-signal pre-emphasis (NeMo's order: emphasised, then zero-padded), centred and snip-edges
    "nemotron-asr-streaming": lambda: melplug.preset("nemotron-asr-streaming", pad_invalid_frames=False),
    "kaldi-signal-preemphasis": lambda: melplug.preset("kaldi", signal_preemphasis=0.97, input_gain=2.0),
    "keras-80-fixed-floor": lambda: melplug.MelSpectrogram(
        num_mel_bins=40, fft_length=512, sequence_length=400, sequence_stride=160, top_db=None
    ),
}


def _chunkings(n: int, rng) -> list[list[int]]:
    """Chunk sizes summing to ``n``: single samples at the start, zeros, random sizes, one big chunk."""
    out = [[n], [1] * min(n, 50) + [n - min(n, 50)]]
    sizes, left = [], n
    while left:
        k = int(min(left, rng.choice([0, 1, 7, 160, 333, 1024, 4096])))
        sizes.append(k)
        left -= k
    out.append(sizes)
    return out


def _streamed(fx, x, sizes):
    s = fx.stream()
    parts, at = [], 0
    for k in sizes:
        part = s.accept(x[at : at + k])
        assert part.shape[0 if fx.plan.frames_major else 1] == fx.frames_ready(at + k) - fx.frames_ready(at)
        parts.append(part)
        at += k
    parts.append(s.finish())
    return np.concatenate(parts, axis=0 if fx.plan.frames_major else 1)


@pytest.mark.parametrize("name", sorted(CAUSAL))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streamed_equals_offline_bit_for_bit(name, dtype):
    fx = CAUSAL[name]()
    rng = np.random.default_rng(7)
    for n in (fx.plan.frame_length * 3 + 17, 22050 + 3, fx.plan.pad + 1):
        x = (0.1 * rng.standard_normal(n)).astype(dtype)
        want = fx(x)
        for sizes in _chunkings(n, rng):
            got = _streamed(fx, x, sizes)
            assert got.dtype == want.dtype and got.shape == want.shape, (name, n, sizes[:5])
            np.testing.assert_array_equal(got, want, err_msg=f"{name} n={n} chunks={sizes[:8]}")


def test_short_clips_empty_chunks_finish_twice_reset():
    fx = melplug.preset("librosa")
    s = fx.stream()
    assert s.accept(np.zeros(0, np.float32)).shape == (128, 0)
    x = np.random.default_rng(1).standard_normal(300).astype(np.float32)  # shorter than the pad
    assert s.accept(x).shape == (128, 0)
    np.testing.assert_array_equal(s.finish(), fx(x))
    assert s.finish().shape == (128, 0)
    with pytest.raises(ValueError, match=r"accept\(\) after finish\(\)"):
        s.accept(x)
    s.reset()
    np.testing.assert_array_equal(np.concatenate([s.accept(x), s.finish()], axis=1), fx(x))
    kaldi = melplug.preset("kaldi").stream()
    assert kaldi.accept(np.zeros(399, np.float32)).shape == (0, 23) and kaldi.finish().shape == (0, 23)


def test_nan_chunk_names_the_sample_and_is_not_consumed():
    fx = melplug.preset("kaldi")
    s = fx.stream()
    x = np.random.default_rng(2).standard_normal(4000).astype(np.float32)
    first = s.accept(x[:1000])
    bad = x[1000:2000].copy()
    bad[17] = np.nan
    with pytest.raises(ValueError, match=r"NaN or Inf at sample 1017 of the stream"):
        s.accept(bad)
    rest = [s.accept(x[1000:]), s.finish()]
    np.testing.assert_array_equal(np.concatenate([first, *rest]), fx(x))


def test_pickled_mid_stream_and_bounded():
    fx = melplug.preset("torchaudio", empty_bands="ignore")
    x = np.random.default_rng(3).standard_normal(16000).astype(np.float32)
    s = fx.stream()
    a = s.accept(x[:5000])
    clone = pickle.loads(pickle.dumps(s))
    b = clone.accept(x[5000:])
    np.testing.assert_array_equal(np.concatenate([a, b, clone.finish()], axis=1), fx(x))
    p = fx.plan
    s.reset()
    for i in range(0, 16000, 100):
        s.accept(x[i : i + 100])
        assert s.held < p.frame_length + p.hop_length


@pytest.mark.parametrize(
    "make, step",
    [
        (lambda: melplug.MelSpectrogram(), "top_db=80.0"),
        (lambda: melplug.preset("whisper"), "top_db=8.0"),
        (lambda: melplug.preset("librosa-mfcc"), "top_db=80.0"),
        (lambda: melplug.preset("parakeet"), "normalize=True"),
        (lambda: melplug.preset("ast"), "fixed output length"),
        (lambda: melplug.preset("sensevoice"), "stacked frames"),
        (lambda: melplug.preset("nemotron-asr-streaming"), "pad_invalid_frames"),
    ],
)
def test_whole_clip_steps_are_refused_by_name(make, step):
    with pytest.raises(ValueError, match=rf"cannot stream: .*{step}"):
        make().stream()


def test_frames_ready():
    kaldi, librosa = melplug.preset("kaldi"), melplug.preset("librosa")
    torchaudio = melplug.preset("torchaudio", empty_bands="ignore")
    assert [kaldi.frames_ready(n) for n in (0, 399, 400, 559, 560)] == [0, 0, 1, 1, 2]
    assert librosa.frames_ready(1023) == 0 and librosa.frames_ready(1024) == 1  # zero padding: half a frame ahead
    assert torchaudio.frames_ready(200) == 0 and torchaudio.frames_ready(201) == 1  # reflection needs 201 samples
    with pytest.raises(ValueError, match="num_samples"):
        kaldi.frames_ready(-1)


def test_stream_pool_equals_each_stream_alone_whatever_the_grouping():
    fx = melplug.preset("librosa")
    pool = fx.stream_pool(num_threads=2)
    rng = np.random.default_rng(5)
    clips = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (30000, 4000, 12345, 700, 22050)]
    ids = [pool.open() for _ in clips]
    assert len(pool) == 5
    at = [0] * len(clips)
    got = [[] for _ in clips]
    for _ in range(40):  # each call: a random subset of the streams, random chunk sizes (0 included)
        chosen = [k for k in range(len(clips)) if rng.random() < 0.6]
        sizes = [int(rng.choice([0, 1, 160, 999, 4096])) for _ in chosen]
        chunks = [clips[k][at[k] : at[k] + m] for k, m in zip(chosen, sizes, strict=True)]
        for k, part in zip(chosen, pool.accept([ids[k] for k in chosen], chunks), strict=True):
            got[k].append(part)
        for k, m in zip(chosen, sizes, strict=True):
            at[k] = min(at[k] + m, clips[k].shape[0])
    rest = [pool.accept([ids[k]], [clips[k][at[k] :]])[0] for k in range(len(clips))]
    ends = pool.finish(ids)
    for k, clip in enumerate(clips):
        whole = np.concatenate([*got[k], rest[k], ends[k]], axis=1)
        np.testing.assert_array_equal(whole, fx(clip))
    pool.close(ids[:2])
    assert len(pool) == 3


def test_stream_pool_errors_change_no_stream():
    fx = melplug.preset("kaldi")
    pool = fx.stream_pool()
    a, b = pool.open(), pool.open()
    x = np.random.default_rng(6).standard_normal(2000).astype(np.float32)
    bad = x.copy()
    bad[3] = np.inf
    with pytest.raises(ValueError, match=rf"the chunk of stream {b} holds NaN or Inf at sample 3"):
        pool.accept([a, b], [x, bad])
    first = pool.accept([a, b], [x, x])  # stream a did not take x in the failed call
    np.testing.assert_array_equal(first[0], first[1])
    with pytest.raises(ValueError, match="more than once"):
        pool.accept([a, a], [x, x])
    with pytest.raises(ValueError, match="no open stream has id 99"):
        pool.accept([99], [x])
    with pytest.raises(ValueError, match="2 ids and 1 chunks"):
        pool.accept([a, b], [x])
    with pytest.raises(ValueError, match="cannot stream: top_db"):
        melplug.MelSpectrogram().stream_pool()


@pytest.mark.parametrize("name", ["kaldi", "librosa", "kaldi-dither", "nemotron-asr-streaming"])
def test_stream_pool_blocks_in_one_kernel_call_and_on_two_threads(name):
    """2-D blocks of chunks for fed streams take one kernel call, or two halves at once (>= PAIR_SAMPLES)."""
    from melplug import _stream

    fx = CAUSAL[name]()
    rng = np.random.default_rng(8)
    n_streams, n = 120, 16000
    clips = (0.1 * rng.standard_normal((n_streams, n))).astype(np.float32)
    clips[::3] *= np.sin(np.arange(n) / 50.0).astype(np.float32)  # and some tones
    # chunk widths: 0 (the first call gives each stream its row), then small blocks (one thread) and
    # blocks of 120 x 160 and more samples (two halves when the pool may use two threads)
    widths = [0, 1, 7, 160, 400, 3000, 1, 4000, 160, 2273]
    assert 120 * 7 < _stream.PAIR_SAMPLES <= 120 * 160
    outs = {}
    for threads in (1, 2):
        pool = fx.stream_pool(num_threads=threads)
        ids = np.array([pool.open() for _ in range(n_streams)])
        parts: list[list[np.ndarray]] = [[] for _ in ids]
        at = 0
        for w in [*widths, n - sum(widths)]:
            for part, got in zip(parts, pool.accept(ids, clips[:, at : at + w]), strict=True):
                part.append(got.copy())
            at += w
        for part, got in zip(parts, pool.finish(ids), strict=True):
            part.append(got)
        outs[threads] = [np.concatenate(p, axis=0 if fx.plan.frames_major else 1) for p in parts]
    want = fx(clips)
    for threads, got in outs.items():
        for k in range(n_streams):
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"stream {k}, {threads} threads")


def test_stream_pool_two_threads_check_every_chunk_before_any_is_taken():
    fx = melplug.preset("kaldi")
    pool = fx.stream_pool(num_threads=2)
    rng = np.random.default_rng(9)
    clips = (0.1 * rng.standard_normal((150, 8000))).astype(np.float32)
    ids = np.array([pool.open() for _ in range(150)])
    first = pool.accept(ids, clips[:, :500])
    bad = clips[:, 500:1000].copy()
    bad[149, 17] = np.nan  # in the second half's last chunk
    with pytest.raises(ValueError, match=rf"the chunk of stream {ids[149]} holds NaN or Inf at sample 517"):
        pool.accept(ids, bad)
    twice = ids.copy()
    twice[140] = ids[3]
    with pytest.raises(ValueError, match="more than once"):
        pool.accept(twice, clips[:, 500:1000])
    rest = pool.accept(ids, clips[:, 500:])  # no stream took a sample in the failed calls
    ends = pool.finish(ids)
    want = fx(clips)
    for k in range(150):
        np.testing.assert_array_equal(np.concatenate([first[k], rest[k], ends[k]]), want[k])


def _helper_threads():
    import threading

    return [t for t in threading.enumerate() if t.name == "melplug-stream"]


def _no_helper_threads(seconds: float = 10.0) -> bool:
    """Whether every pool's helper thread has ended (they end shortly after their pool is collected)."""
    import gc
    import time

    gc.collect()
    deadline = time.monotonic() + seconds
    while _helper_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return not _helper_threads()


def test_stream_pool_helper_asleep_or_awake_forked_pickled_and_stopped():
    """The thread of large ticks' second halves: exact asleep or awake, forked and pickled; gone with its pool."""
    import multiprocessing
    import time

    assert _no_helper_threads()  # other tests' pools are gone
    fx = melplug.preset("kaldi")
    rng = np.random.default_rng(10)
    clips = (0.1 * rng.standard_normal((128, 6400))).astype(np.float32)
    want = fx(clips)
    pool = fx.stream_pool(num_threads=2)
    ids = np.array([pool.open() for _ in range(128)])
    parts = [[p.copy()] for p in pool.accept(ids, clips[:, :0])]

    def feed(pool, parts, lo, hi, pause):
        for at in range(lo, hi, 160):
            for part, got in zip(parts, pool.accept(ids, clips[:, at : at + 160]), strict=True):
                part.append(got.copy())
            time.sleep(pause)

    feed(pool, parts, 0, 1600, 0.0)  # ticks back to back: the helper stays awake between them
    assert len(_helper_threads()) == 1
    feed(pool, parts, 1600, 2400, 0.01)  # 10 ms apart: it sleeps, each tick wakes it (or computes both halves)
    copy = pickle.loads(pickle.dumps(pool))  # a copy starts its own helper
    copy_parts = [list(p) for p in parts]
    feed(copy, copy_parts, 2400, 4000, 0.0)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def child(pool):  # the parent's helper thread did not come along: the child's pool starts one
        feed(pool, parts, 2400, 4000, 0.0)
        queue.put([np.concatenate(p) for p in parts])

    proc = ctx.Process(target=child, args=(pool,))
    proc.start()
    forked = queue.get(timeout=120)
    proc.join(timeout=60)
    assert proc.exitcode == 0
    feed(pool, parts, 2400, 6400, 0.0)
    for pool_, parts_ in ((pool, parts), (copy, copy_parts)):
        if pool_ is copy:
            feed(copy, copy_parts, 4000, 6400, 0.0)
        for part, got in zip(parts_, pool_.finish(ids), strict=True):
            part.append(got)
    for k in range(128):
        np.testing.assert_array_equal(np.concatenate(parts[k]), want[k])
        np.testing.assert_array_equal(np.concatenate(copy_parts[k]), want[k])
        n = forked[k].shape[0]
        np.testing.assert_array_equal(forked[k], want[k][:n])
    del pool, copy, pool_
    assert _no_helper_threads()


def test_stream_pool_helper_failure_is_raised_not_waited_for():
    """A helper thread that fails a job it claimed makes that tick raise (never a hang); the next starts another."""
    import numba

    from melplug import _stream
    from melplug._kernels import _stream as _k
    from melplug._kernels._layout import _claim, _load_acquire

    @numba.njit(nogil=True)
    def claim_and_fail(ctl, *args):  # the helper's loop, failing the first job it claims
        while True:
            seq = _load_acquire(ctl, _k.SEQ)
            if seq != _load_acquire(ctl, _k.TAKEN) and _claim(ctl, _k.TAKEN, seq - 1, seq):
                raise MemoryError("injected")

    fx = melplug.preset("kaldi")
    clips = (0.1 * np.random.default_rng(11).standard_normal((400, 16000))).astype(np.float32)
    pool = fx.stream_pool(num_threads=2)
    ids = np.array([pool.open() for _ in range(400)])
    pool.accept(ids, clips[:, :160])  # new streams: the checked path
    pool.accept(ids, clips[:, 160:320])  # a large tick: the helper is made
    helper = pool._helpers[np.float32]
    ctl = np.zeros(_k.CTL_SIZE, dtype=np.int64)
    ctl[_k.SEQ] = 1
    with pytest.raises(MemoryError):  # compiled now, not in the helper's thread while the ticks go by
        claim_and_fail(ctl, *helper._args[1:])
    helper.stop()
    assert _no_helper_threads()  # its working thread has ended
    helper._serve = claim_and_fail
    helper._pid = -1  # its next wake starts a thread serving with claim_and_fail
    with pytest.raises(RuntimeError, match=r"helper thread failed \(MemoryError: injected\)"):
        for at in range(320, 16000, 160):  # the caller may claim a half itself (a busy machine); the thread waits
            pool.accept(ids, clips[:, at : at + 160])
    assert helper.ctl[_k.FAILED] == helper.seq
    helper._serve = _stream.spec_of(fx).entry(_k._serve, np.float32, helper._args)  # a working helper again
    fresh = fx.stream_pool(num_threads=2)
    ids2 = np.array([fresh.open() for _ in range(400)])
    parts = [fresh.accept(ids2, clips[:, at : at + 160]) for at in range(0, 16000, 160)]
    ends = fresh.finish(ids2)
    want = fx(clips)
    for k in (0, 399):
        np.testing.assert_array_equal(np.concatenate([p[k] for p in parts] + [ends[k]]), want[k])
