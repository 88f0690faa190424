"""Multi-host Grain input pipeline with melplug: one loader per host, each on its own shard.

On a real multi-host JAX job every host runs this same program; after
``jax.distributed.initialize()``, ``grain.sharding.ShardByJaxProcess()`` reads
the host's ``jax.process_index()`` / ``jax.process_count()`` and the
``DataLoader`` serves that host only its shard (records ``i`` with
``i % shard_count == shard_index`` of the shared, identically seeded sampler
order).  Without ``--shard-index``/``--shard-count`` this script does exactly
that; with them it simulates one host of a job on a single machine::

    python integrations/grain_multihost.py                                   # ShardByJaxProcess (1 host here)
    python integrations/grain_multihost.py --shard-index 0 --shard-count 2   # host 0 of 2
    python -m integrations.grain_multihost --shard-index 1 --shard-count 2 --quick --print-indices

The mel transform needs nothing host-specific: every host builds the same
``melplug.grain.MelSpectrogram``; the shards are disjoint and together cover
the dataset once per epoch.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if __package__ in (None, ""):  # run as a script: make `integrations` and `melplug` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import grain  # noqa: E402
import numpy as np  # noqa: E402

import melplug.grain  # noqa: E402
from integrations.grain_pipeline import (  # noqa: E402
    SAMPLING_RATE,
    CropOrPad,
    SyntheticAudio,
    mark_absl_flags_parsed,
)


def shard_options(shard_index: int | None, shard_count: int | None) -> grain.sharding.ShardOptions:
    """Explicit options when given, else this JAX process's shard."""
    if shard_index is None and shard_count is None:
        return grain.sharding.ShardByJaxProcess(drop_remainder=True)
    if shard_index is None or shard_count is None:
        raise SystemExit("pass both --shard-index and --shard-count, or neither (to use ShardByJaxProcess)")
    return grain.sharding.ShardOptions(shard_index=shard_index, shard_count=shard_count, drop_remainder=True)


def make_loader(args, options: grain.sharding.ShardOptions) -> grain.DataLoader:
    source = SyntheticAudio(args.records)
    mel = melplug.grain.MelSpectrogram(
        fft_length=512,
        sequence_length=400,
        sequence_stride=160,
        num_mel_bins=80,
        sampling_rate=SAMPLING_RATE,
        key="audio",
        out_key="mel",
    )
    return grain.DataLoader(
        data_source=source,
        # Same seed on every host: one global order, which the shard options split.
        sampler=grain.samplers.IndexSampler(num_records=len(source), shuffle=True, seed=42, num_epochs=1),
        operations=[
            CropOrPad(int(args.clip_seconds * SAMPLING_RATE)),
            mel,
            grain.transforms.Batch(batch_size=args.batch_size, drop_remainder=False),
        ],
        worker_count=args.workers,
        shard_options=options,
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shard-index", type=int, default=None, help="this host's shard (default: JAX process)")
    parser.add_argument("--shard-count", type=int, default=None, help="number of hosts (default: JAX processes)")
    parser.add_argument("--records", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--clip-seconds", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes on this host")
    parser.add_argument("--print-indices", action="store_true", help="print each record index seen, with its mel sum")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.records, args.batch_size = min(args.records, 16), min(args.batch_size, 4)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    mark_absl_flags_parsed()
    options = shard_options(args.shard_index, args.shard_count)
    loader = make_loader(args, options)
    start = time.perf_counter()
    sums: dict[int, float] = {}  # record index -> sum of its mel spectrogram
    for batch in loader:
        mel = np.asarray(batch["mel"], dtype=np.float64)
        for i, row in zip(batch["index"].tolist(), mel, strict=True):
            sums[int(i)] = float(row.sum())
    seconds = time.perf_counter() - start
    print(
        f"shard {options.shard_index}/{options.shard_count}: {len(sums)} of {args.records} records, "
        f"{len(sums) / seconds:.1f} elements/s"
    )
    if args.print_indices:
        print("records:", " ".join(f"{i}:{v!r}" for i, v in sorted(sums.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
