"""End-to-end Grain pipeline: records -> crop/pad -> mel -> batch -> iterate.

Synthesised records ``{"audio": float32 (varying length), "label": int, "index": int}``
go through a ``grain.DataLoader``: crop or pad to a fixed length, melplug's
Grain transform (``audio`` -> ``mel``), keep ``mel``/``label``/``index``,
``Batch``; the script prints elements/s.

Run it as a script or a module (the ``__main__`` guard is what Grain's spawned
worker processes need)::

    python integrations/grain_pipeline.py --workers 2
    python -m integrations.grain_pipeline --quick
    python integrations/grain_pipeline.py --sweep      # workers 0/1/2 x threads
    python integrations/grain_pipeline.py --stage      # the mel stage alone: processes x threads

``--mel-after-batch`` computes mel on whole batches (one call per batch, where
the thread count matters) instead of per record.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make `melplug` importable from a checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import grain  # noqa: E402

import melplug  # noqa: E402
import melplug.grain  # noqa: E402

SAMPLING_RATE = 16000


class SyntheticAudio:
    """A random-access source of ``{"audio", "label", "index"}`` records.

    Audio lengths vary between ``min_seconds`` and ``max_seconds``; record
    ``i`` is generated from seed ``i``, so the source is tiny to pickle and
    every process sees the same data.
    """

    def __init__(self, num_records: int, min_seconds: float = 0.5, max_seconds: float = 2.0, seed: int = 0):
        self.num_records = num_records
        self.min_samples = int(min_seconds * SAMPLING_RATE)
        self.max_samples = int(max_seconds * SAMPLING_RATE)
        self.seed = seed

    def __len__(self) -> int:
        return self.num_records

    def __getitem__(self, index: int) -> dict:
        index = int(index)
        rng = np.random.default_rng((self.seed, index))
        n = int(rng.integers(self.min_samples, self.max_samples + 1))
        t = np.arange(n) / SAMPLING_RATE
        f0 = 100.0 + 40.0 * (index % 10)
        audio = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.05 * rng.standard_normal(n)
        return {"audio": audio.astype(np.float32), "label": index % 10, "index": index}


class CropOrPad(grain.transforms.Map):
    """Crop (centre) or zero-pad ``element[key]`` to ``num_samples`` so records can be batched."""

    def __init__(self, num_samples: int, key: str = "audio"):
        self.num_samples = num_samples
        self.key = key

    def __repr__(self) -> str:
        return f"CropOrPad(num_samples={self.num_samples}, key={self.key!r})"

    def map(self, element: dict) -> dict:
        audio = element[self.key]
        n = audio.shape[-1]
        if n >= self.num_samples:
            start = (n - self.num_samples) // 2
            audio = audio[..., start : start + self.num_samples]
        else:
            audio = np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(0, self.num_samples - n)])
        return {**element, self.key: np.ascontiguousarray(audio)}


class Select(grain.transforms.Map):
    """Keep only ``keys`` of a mapping (what the trainer needs; less to send back from workers)."""

    def __init__(self, *keys: str):
        self.keys = keys

    def __repr__(self) -> str:
        return f"Select{self.keys!r}"

    def map(self, element: dict) -> dict:
        return {k: element[k] for k in self.keys}


def mark_absl_flags_parsed() -> None:
    """Let Grain read its absl flags in a program that does not use ``absl.app``.

    With jax installed, ``DataLoader(worker_count>0)`` reads absl flags and
    raises ``UnparsedFlagAccessError`` unless they were parsed; a program
    that does not run ``absl.app.run`` marks them parsed (defaults) once.
    """
    try:
        from absl import flags
    except ImportError:
        return
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def make_loader(args, source, shard_options=None, num_epochs=1) -> grain.DataLoader:
    """The DataLoader for ``args`` (workers, threads, batch size, mel placement)."""
    mel = melplug.grain.MelSpectrogram(
        fft_length=512,
        sequence_length=400,
        sequence_stride=160,
        num_mel_bins=80,
        sampling_rate=SAMPLING_RATE,
        key="audio",
        out_key="mel",
        num_threads=args.num_threads,
    )
    crop = CropOrPad(int(args.clip_seconds * SAMPLING_RATE))
    batch = grain.transforms.Batch(batch_size=args.batch_size, drop_remainder=True)
    select = Select("mel", "label", "index")
    operations = [crop, batch, mel, select] if args.mel_after_batch else [crop, mel, select, batch]
    return grain.DataLoader(
        data_source=source,
        sampler=grain.samplers.IndexSampler(num_records=len(source), shuffle=True, seed=0, num_epochs=num_epochs),
        operations=operations,
        worker_count=args.workers,
        shard_options=shard_options or grain.sharding.NoSharding(),
    )


def run(args) -> dict:
    """Iterate once over the pipeline; return timings and the number of elements."""
    source = SyntheticAudio(args.records)
    loader = make_loader(args, source)
    start = time.perf_counter()
    first = None
    count = 0
    shape = None
    for batch in loader:
        count += batch["mel"].shape[0]
        shape = batch["mel"].shape
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    steady = count - args.batch_size
    return {
        "elements": count,
        "batch_shape": shape,
        "first_batch_s": first - start,
        "total_s": end - start,
        "elements_per_s": count / (end - start),
        "steady_elements_per_s": steady / (end - first) if steady > 0 and end > first else float("nan"),
    }


def _report(args, res) -> str:
    threads = "auto" if args.num_threads is None else args.num_threads
    return (
        f"workers={args.workers} threads={threads} mel={'after' if args.mel_after_batch else 'before'}-batch "
        f"elements={res['elements']} batch={res['batch_shape']} first_batch={res['first_batch_s']:.2f}s "
        f"total={res['total_s']:.2f}s elements/s={res['elements_per_s']:.1f} "
        f"steady elements/s={res['steady_elements_per_s']:.1f}"
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2048, help="number of synthesised records")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--clip-seconds", type=float, default=1.0, help="crop/pad length in seconds")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument(
        "--num-threads",
        type=int,
        default=None,
        help="threads per mel call (default: automatic: 1 in Grain workers, all cores otherwise)",
    )
    parser.add_argument("--mel-after-batch", action="store_true", help="compute mel on whole batches")
    parser.add_argument("--sweep", action="store_true", help="measure workers 0/1/2 x threads auto/1/2")
    parser.add_argument(
        "--stage", action="store_true", help="measure the mel stage alone: processes 1/2 x threads 1/2/4, no Grain"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration; the best is reported")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test (a few seconds)")
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.batch_size = min(args.records, 16), min(args.batch_size, 4)
    return args


def _stage_worker(threads: int, seconds: float, batch_size: int, barrier, queue) -> None:
    """One process of the stage benchmark: mel on (batch_size, 1 s) batches for ``seconds``."""
    mel = melplug.MelSpectrogram(fft_length=512, sequence_length=400, sequence_stride=160, num_mel_bins=80)
    audio = np.random.default_rng(0).standard_normal((batch_size, SAMPLING_RATE)).astype(np.float32)
    mel(audio, num_threads=threads)  # load the kernels before timing
    barrier.wait()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        mel(audio, num_threads=threads)
        count += batch_size
    queue.put(count / (time.perf_counter() - start))


def stage_sweep(args) -> None:
    """The mel stage alone: P spawned processes x T threads per call, elements/s summed over processes."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    configs = [(1, 1), (1, 2), (2, 1), (2, 2), (2, 4)]
    best = dict.fromkeys(configs, 0.0)
    for _ in range(args.repeat):  # round-robin, as in the pipeline sweep
        for procs, threads in configs:
            barrier, queue = ctx.Barrier(procs), ctx.Queue()
            workers = [
                ctx.Process(target=_stage_worker, args=(threads, 3.0, args.batch_size, barrier, queue))
                for _ in range(procs)
            ]
            for w in workers:
                w.start()
            rate = sum(queue.get() for _ in workers)
            for w in workers:
                w.join()
            best[procs, threads] = max(best[procs, threads], rate)
    for (procs, threads), rate in best.items():
        print(f"stage: processes={procs} threads={threads} elements/s={rate:.0f}", flush=True)


def _best(results: list[dict]) -> dict:
    return max(results, key=lambda r: r["elements_per_s"])


def main(argv=None) -> int:
    args = parse_args(argv)
    mark_absl_flags_parsed()
    print(f"cores: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}")
    if args.stage:
        stage_sweep(args)
        return 0
    if not args.sweep:
        print(_report(args, _best([run(args) for _ in range(args.repeat)])), flush=True)
        return 0
    run(argparse.Namespace(**{**vars(args), "records": 2 * args.batch_size}))  # warm-up: imports, kernel cache
    trials = [
        argparse.Namespace(**{**vars(args), "workers": workers, "num_threads": threads})
        for workers in (0, 1, 2)
        for threads in (None, 1, 2)
    ]
    results: list[list[dict]] = [[] for _ in trials]
    for _ in range(args.repeat):  # round-robin, so that background load hits every configuration alike
        for trial, runs in zip(trials, results, strict=True):
            runs.append(run(trial))
    for trial, runs in zip(trials, results, strict=True):
        print(_report(trial, _best(runs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
