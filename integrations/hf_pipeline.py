"""Hugging Face ``datasets`` pipeline: mel spectrograms with ``Dataset.map``.

Builds a dataset of synthetic clips of varying length, saves it to disk (as a
real dataset would be), and maps :class:`melplug.hf.MelSpectrogram` over it
with ``num_proc`` 1 and 2, printing rows/s.  ``--layouts`` also measures how
fast the stored mel spectrograms read back with ``with_format("numpy")`` for
each storage layout.

Run::

    python integrations/hf_pipeline.py              # 256 clips of 0.5-2 s
    python integrations/hf_pipeline.py --quick      # a few small clips (smoke test)
    python integrations/hf_pipeline.py --layouts    # plus the storage read-back table
    python integrations/hf_pipeline.py --source flac  # FLAC bytes decoded with soundfile in the map

The parent process computes one spectrogram before the maps, so the forked
workers of ``num_proc=2`` start from a process that already used melplug.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def make_clips(rows: int, min_seconds: float, max_seconds: float, sampling_rate: int, seed: int = 0):
    """Speech-like float32 clips (a chirp, a tone and noise) of random lengths."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(int(min_seconds * sampling_rate), int(max_seconds * sampling_rate) + 1, rows)
    clips = []
    for n in lengths:
        t = np.arange(n) / sampling_rate
        f0 = rng.uniform(100, 300)
        x = 0.5 * np.sin(2 * np.pi * (f0 + 800 * t) * t) + 0.05 * rng.standard_normal(n)
        clips.append(x.astype(np.float32))
    return clips


def build_dataset(clips, path: str):
    """Save ``{"audio": clips, "id": ...}`` to ``path`` and load it back, numpy-formatted."""
    import datasets

    features = datasets.Features({"audio": datasets.List(datasets.Value("float32")), "id": datasets.Value("int64")})
    ds = datasets.Dataset.from_dict({"audio": clips, "id": list(range(len(clips)))}, features=features)
    ds.save_to_disk(path)
    return datasets.load_from_disk(path).with_format("numpy")


def build_file_dataset(clips, path: str, sampling_rate: int):
    """Write the clips as FLAC files; an ``Audio(decode=False)`` dataset of their bytes, saved and loaded back.

    ``melplug.hf`` decodes the ``{"bytes", "path"}`` values with soundfile (per row, in the map's process),
    the path to take where torchcodec (``datasets``' own decoder) is unavailable.
    """
    import datasets
    import soundfile

    folder = os.path.join(os.path.dirname(path), "flac")
    os.makedirs(folder, exist_ok=True)
    values = []
    for i, clip in enumerate(clips):
        file = os.path.join(folder, f"{i:05d}.flac")
        soundfile.write(file, clip, sampling_rate, subtype="PCM_16")
        with open(file, "rb") as f:
            values.append({"bytes": f.read(), "path": os.path.basename(file)})
    ds = datasets.Dataset.from_dict({"audio": values, "id": list(range(len(clips)))})
    ds = ds.cast_column("audio", datasets.Audio(decode=False))
    ds.save_to_disk(path)
    return datasets.load_from_disk(path)


def time_map(mel, ds, num_proc: int | None, batch_size: int, repeats: int):
    """Best wall time of ``mel.map(ds, num_proc=...)`` over ``repeats`` runs (no cache reuse)."""
    best = float("inf")
    out = None
    for _ in range(repeats):
        start = time.perf_counter()
        out = mel.map(
            ds, num_proc=num_proc, batch_size=batch_size, remove_columns=["audio"], load_from_cache_file=False
        )
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_throughput(mel, ds, args) -> list[tuple[str, float]]:
    """Rows/s for num_proc 1 and 2 (and 2 with oversubscribed workers)."""
    from melplug._parallel import default_num_threads

    cores = default_num_threads()
    runs = [
        ("num_proc=None (main process)", None, mel),
        ("num_proc=1", 1, mel),
        ("num_proc=2", 2, mel),
    ]
    if args.oversubscribe:
        runs.append((f"num_proc=2, num_threads={cores} per worker", 2, mel.replace(num_threads=cores)))
    print(
        f"{len(ds)} rows ({args.source}), {args.min_seconds}-{args.max_seconds} s clips, batch_size={args.batch_size}, "
        f"{cores} threads available (numba.config.NUMBA_NUM_THREADS)"
    )
    print(f"{'configuration':44s} {'seconds':>8s} {'rows/s':>9s} {'vs num_proc=1':>14s}")
    results = []
    base = None
    reference = None
    for name, num_proc, fn in runs:
        seconds, out = time_map(fn, ds, num_proc, args.batch_size, args.repeats)
        rate = len(ds) / seconds
        if num_proc == 1:
            base = rate
        ratio = f"{rate / base:13.2f}x" if base else f"{'':>14s}"
        print(f"{name:44s} {seconds:8.3f} {rate:9.1f} {ratio}")
        results.append((name, rate))
        first = out.with_format("numpy")[0]["mel"]
        if reference is None:
            reference = first
        elif not np.array_equal(first, reference):
            raise SystemExit(f"{name}: results differ from the first run")
    return results


def bench_layouts(mel, ds, args) -> None:
    """Read-back cost of the stored layouts with ``with_format("numpy")``.

    Variable-length clips: ``mels_frames`` is stored as nested lists (Arrow's
    ``Array2D`` cannot have a variable last dimension), ``frames_mels`` as
    ``Array2D((None, num_mel_bins))``.  Equal-length clips (cropped copies):
    both layouts are fixed-shape ``Array2D``.
    """
    import datasets

    n_min = min(len(a) for a in ds["audio"])
    cropped = datasets.Dataset.from_dict({"audio": [a[:n_min] for a in ds["audio"]]}).with_format("numpy")
    print()
    print(
        f"read-back of {len(ds)} stored mel spectrograms ({mel.num_mel_bins} bands), with_format('numpy'), "
        f"best of {args.repeats}"
    )
    print(f"{'clips':9s} {'layout':12s} {'feature':44s} {'ds[:]':>9s} {'iter(32)':>9s} {'row loop':>9s}")

    def best(task):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            task()
            times.append(time.perf_counter() - start)
        return min(times) * 1e3

    for label, source, num_samples in (("variable", ds, None), ("equal", cropped, n_min)):
        for layout in ("mels_frames", "frames_mels"):
            fn = mel.replace(layout=layout)
            features = fn.features(source.features, remove_columns=["audio"], num_samples=num_samples)
            out = fn.map(source, batch_size=args.batch_size, remove_columns=["audio"], features=features)
            out = out.with_format("numpy")
            col = fn.out_column
            t_all = best(lambda out=out, col=col: out[:][col])
            t_iter = best(lambda out=out, col=col: [b[col] for b in out.iter(batch_size=32)])
            t_rows = best(lambda out=out, col=col: [out[i][col] for i in range(len(out))])
            feature = repr(out.features[col])
            print(f"{label:9s} {layout:12s} {feature[:44]:44s} {t_all:7.1f}ms {t_iter:7.1f}ms {t_rows:7.1f}ms")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=256, help="number of clips (default 256)")
    parser.add_argument("--min-seconds", type=float, default=0.5)
    parser.add_argument("--max-seconds", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    parser.add_argument("--layouts", action="store_true", help="also measure the storage layouts' read-back")
    parser.add_argument(
        "--oversubscribe", action="store_true", help="also run num_proc=2 with all cores' threads in each worker"
    )
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repeat (smoke test)")
    parser.add_argument(
        "--source",
        choices=("arrays", "flac"),
        default="arrays",
        help="float32 arrays in Arrow (default), or FLAC bytes (Audio(decode=False)) decoded with soundfile",
    )
    parser.add_argument("--cache-dir", default=None, help="where to write the dataset and map caches")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.min_seconds, args.max_seconds, args.repeats = 8, 0.1, 0.3, 1

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    import melplug.hf

    datasets.disable_progress_bars()
    mel = melplug.hf.MelSpectrogram(
        num_mel_bins=80, sampling_rate=16000, fft_length=512, sequence_length=400, sequence_stride=160
    )
    clips = make_clips(args.rows, args.min_seconds, args.max_seconds, 16000)
    mel.mel(clips[:1])  # the parent uses melplug (loads the kernels) before HF forks its workers
    with tempfile.TemporaryDirectory(dir=args.cache_dir) as tmp:
        if args.source == "flac":
            ds = build_file_dataset(clips, os.path.join(tmp, "clips"), 16000)
        else:
            ds = build_dataset(clips, os.path.join(tmp, "clips"))
        bench_throughput(mel, ds, args)
        if args.layouts and args.source == "arrays":
            bench_layouts(mel, ds, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
