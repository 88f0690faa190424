"""One long clip against the same audio as several clips: the per-example floor must cost no more.

The top_db floor of a clip that spans many work units needs the clip's maximum; melplug once had every
unit recompute it over all the clip's units (quadratic in the clip's length).  This prints the time of
one 60-minute clip and of 6 x 10 minutes of the same samples, best of 3, and their ratio (1.0 = no
overhead for length).

    python benchmarks/bench_long_clip.py            # 60 min vs 6 x 10 min
    python benchmarks/bench_long_clip.py --quick    # 60 s vs 6 x 10 s
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import melplug


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="60 s instead of 60 minutes")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    sr = 16000
    seconds = 60 if args.quick else 3600
    x = np.random.default_rng(0).standard_normal(seconds * sr).astype(np.float32)
    six = x.reshape(6, -1)
    # Small frames: many units per clip (7 000 for one hour), where a quadratic floor shows.
    mel = melplug.MelSpectrogram(fft_length=256, sequence_stride=64, num_mel_bins=40)
    mel(x[:sr])
    mel(six[:, :sr])
    one = best(lambda: mel(x), args.repeats)
    many = best(lambda: mel(six), args.repeats)
    print(f"1 x {seconds} s: {one:.3f} s   6 x {seconds // 6} s: {many:.3f} s   ratio {one / many:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
