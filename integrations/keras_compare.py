"""Keras' MelSpectrogram (numpy backend) and melplug side by side.

Prints, for a few configurations: output shapes, the max |difference| in dB
(melplug uses top_db_scope="batch" here, Keras' behaviour), and timings.

    python integrations/keras_compare.py            # 64 clips of 1 s
    python integrations/keras_compare.py --quick    # tiny inputs (smoke test)
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "numpy")

import numpy as np

CONFIGS = {
    "keras defaults": {},
    "speech (A)": dict(
        fft_length=512, sequence_length=400, sequence_stride=160, num_mel_bins=80, min_freq=0.0, max_freq=8000
    ),
    "odd fft 401": dict(fft_length=401, sequence_stride=100, num_mel_bins=40),
    "magnitude, hamming": dict(fft_length=1024, sequence_stride=256, num_mel_bins=64, mag_exp=1.0, window="hamming"),
}


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=64, help="number of clips (default 64)")
    parser.add_argument("--seconds", type=float, default=1.0, help="clip length in seconds (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats, best kept (default 3)")
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.clips, args.seconds, args.repeats = 2, 0.25, 1

    import keras

    import melplug

    rng = np.random.default_rng(0)
    audio = rng.standard_normal((args.clips, int(16000 * args.seconds))).astype(np.float32)
    audio_seconds = args.clips * args.seconds
    print(
        f"keras {keras.__version__} (backend {keras.backend.backend()}), melplug {melplug.__version__}; "
        f"{args.clips} clips x {args.seconds} s"
    )
    header = f"{'config':<20} {'shape':<16} {'max |diff| dB':>13} {'keras s':>9} {'melplug s':>10} {'speed-up':>9}"
    print(header)
    print("-" * len(header))
    worst = 0.0
    for name, kw in CONFIGS.items():
        layer = keras.layers.MelSpectrogram(**kw)
        mel = melplug.MelSpectrogram(**kw, top_db_scope="batch")
        mel(audio[:1])  # compile / load from cache outside the timing
        t_keras, ref = best_time(lambda layer=layer: np.asarray(layer(audio)), args.repeats)
        t_mel, out = best_time(lambda mel=mel: mel(audio), args.repeats)
        assert out.shape == ref.shape, (out.shape, ref.shape)
        diff = float(np.abs(out - ref).max())
        worst = max(worst, diff)
        print(f"{name:<20} {str(out.shape):<16} {diff:>13.5f} {t_keras:>9.4f} {t_mel:>10.4f} {t_keras / t_mel:>8.1f}x")
    print(
        f"throughput on the last config: keras {audio_seconds / t_keras:,.0f} audio s/s, "
        f"melplug {audio_seconds / t_mel:,.0f} audio s/s"
    )
    print(f"worst max |diff|: {worst:.5f} dB")
    return 0 if worst < 0.05 else 1


if __name__ == "__main__":
    raise SystemExit(main())
