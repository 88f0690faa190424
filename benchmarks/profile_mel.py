#!/usr/bin/env python
"""Where melplug's time goes on workload C (one 10-minute signal, fft_length=1024, stride 256, 128 mels).

The phases are timed separately with melplug's public ``@njit`` building
blocks, single-threaded, on the same float32 input as ``bench_mel.py``:

* framing + window: ``melplug.kernels.windowed_frames``
* FFT: ``np.fft.rfft`` inside ``@njit`` (rocket-fft, one thread)
* power + mel + dB: ``melplug.kernels.spectra_to_mel``
* ``top_db`` floor: ``melplug.kernels.apply_top_db``

twice: once on the whole signal (every intermediate materialised: memory
bound, for reference), and once block by block, ``plan.block_frames`` frames
at a time, so that each phase's data stays in cache as it does in the real
kernel.  Then the full call, single- and multi-threaded, and SciPy's rfft on
the same frames (the lower bound used by ``bench_mel.py``).

Usage::

    python benchmarks/profile_mel.py                 # 10-minute signal
    python benchmarks/profile_mel.py --seconds 60 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import sys

import numba
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_mel import SAMPLING_RATE, SEED, WORKLOADS, cores, machine_info, measure  # noqa: E402

import melplug  # noqa: E402
from melplug import kernels  # noqa: E402


@numba.njit
def njit_rfft(frames):
    return np.fft.rfft(frames)


@numba.njit
def frames_blockwise(x, plan, block, n_blocks):
    """``windowed_frames`` on successive chunks that each yield ``block`` (+1) frames."""
    span = block * plan.hop_length
    acc = 0.0
    for b in range(n_blocks):
        s = b * span
        frames = kernels.windowed_frames(x[s : s + span], plan)
        acc += frames[0, plan.fft_length // 2]
    return acc


@numba.njit
def rfft_blockwise(block_frames, n_blocks):
    """``n_blocks`` FFTs of one cache-resident ``(block, fft_length)`` block."""
    acc = 0.0
    for _ in range(n_blocks):
        spec = np.fft.rfft(block_frames)
        acc += spec[0, 1].real
    return acc


@numba.njit
def mel_blockwise(block_spectra, plan, n_blocks):
    """``n_blocks`` power-mel-dB passes over one cache-resident block of spectra."""
    acc = 0.0
    for _ in range(n_blocks):
        mel = kernels.spectra_to_mel(block_spectra, plan)
        acc += mel[0, 0]
    return acc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600.0, help="signal length (default: workload C's 600 s)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=cores(), help="threads for the multi-threaded call")
    args = ap.parse_args(argv)

    workload = WORKLOADS["C"]
    rng = np.random.default_rng(SEED)  # the same input as bench_mel.py for 600 s
    x = rng.standard_normal(int(args.seconds * SAMPLING_RATE), dtype=np.float32) * np.float32(0.1)
    mel = melplug.MelSpectrogram(**workload.params)
    plan = mel.plan
    n_frames = mel.num_frames(x.shape[0])
    block = plan.block_frames
    n_blocks = -(-n_frames // block)
    audio_s = x.shape[0] / SAMPLING_RATE

    def t(fn):
        return measure(fn, args.repeats, warmup=1, min_time=0.0)

    rows = []

    def add(label, r, note=""):
        rows.append((label, r["seconds"], note))
        return r.get("out")

    # Whole signal, materialised (single thread).
    frames = add(
        "framing+window (whole signal)",
        t(lambda: kernels.windowed_frames(x, plan)),
        f"{n_frames} x {plan.fft_length} float32 = {n_frames * plan.fft_length * 4 / 2**20:.0f} MiB",
    )
    spectra = add("rfft in njit (whole signal)", t(lambda: njit_rfft(frames)), f"-> {njit_rfft(frames[:1]).dtype}")
    mel_db = add("power+mel+dB (whole signal)", t(lambda: kernels.spectra_to_mel(spectra, plan)))
    add("top_db floor (whole signal)", t(lambda: kernels.apply_top_db(mel_db.copy(), plan)), "includes a copy")
    whole = sum(r[1] for r in rows)
    rows.append(("  sum of whole-signal phases", whole, ""))

    # Block by block (cache-resident), as the kernel works.
    start = len(rows)
    block_frames = np.ascontiguousarray(frames[:block])
    block_spectra = np.ascontiguousarray(spectra[:block])
    add(
        "framing+window (blockwise)",
        t(lambda: frames_blockwise(x, plan, block, n_blocks)),
        f"{n_blocks} blocks of {block} frames",
    )
    add("rfft in njit (blockwise)", t(lambda: rfft_blockwise(block_frames, n_blocks)))
    add("power+mel+dB (blockwise)", t(lambda: mel_blockwise(block_spectra, plan, n_blocks)))
    blockwise = sum(r[1] for r in rows[start:])
    rows.append(("  sum of blockwise phases", blockwise, ""))

    # The real thing, and the FFT bound.
    serial = t(lambda: mel(x, num_threads=1))["seconds"]
    rows.append(("melplug call, 1 thread", serial, f"blockwise phases explain {blockwise / serial:.0%}"))
    parallel = t(lambda: mel(x, num_threads=args.threads))["seconds"]
    rows.append((f"melplug call, {args.threads} threads", parallel, f"speed-up {serial / parallel:.2f}x"))
    import scipy.fft

    rows.append(("scipy rfft, workers=1 (whole signal)", t(lambda: scipy.fft.rfft(frames, workers=1))["seconds"], ""))
    rows.append(
        (
            f"scipy rfft, workers={args.threads} (rfft bound)",
            t(lambda: scipy.fft.rfft(frames, workers=args.threads))["seconds"],
            "",
        )
    )

    meta = machine_info()
    print(
        f"melplug profile, workload C -- {meta['date']}; {meta['cpu']}, {meta['cores']} cores; "
        f"melplug {meta['versions']['melplug']}, numba {meta['versions']['numba']}, "
        f"rocket-fft {meta['versions']['rocket-fft']}"
    )
    print(
        f"signal {x.shape[0]} samples float32 ({audio_s:g} s); {workload.params}; block_frames={block}; "
        f"median of {args.repeats}"
    )
    print(f"  {'phase':<42} {'ms':>10} {'% of 1-thread call':>19} {'audio s/s':>11}  note")
    for label, sec, note in rows:
        print(f"  {label:<42} {sec * 1e3:>10.1f} {sec / serial:>18.0%} {audio_s / sec:>11,.0f}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
