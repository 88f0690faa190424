"""Multi-node mel spectrograms with ``datasets.distributed.split_dataset_by_node``.

Every node (rank) runs this script on the same dataset; each maps only its own
part and saves it.  Together the ranks cover the dataset exactly once, and the
concatenated result equals a single-node run (``--world-size 1``).

Run (one command per node; ``RANK``/``WORLD_SIZE`` from the environment, as
set by ``torchrun`` and most launchers, are the defaults)::

    python integrations/hf_multinode.py --make-data 64 --data-dir /shared/clips --rank 0 --world-size 2
    python integrations/hf_multinode.py --data-dir /shared/clips --rank 0 --world-size 2 --out-dir /shared/mels
    python integrations/hf_multinode.py --data-dir /shared/clips --rank 1 --world-size 2 --out-dir /shared/mels
    python integrations/hf_multinode.py --data-dir /shared/clips --out-dir /shared/mels --check 2

``--streaming`` splits an ``IterableDataset`` instead (one shard per rank);
``--check N`` loads the N ranks' outputs and compares them with a single-node
run; ``--quick`` does all of it for 2 ranks in one process on a tiny dataset.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np


def make_dataset(rows: int, path: str, seed: int = 0) -> None:
    """Write ``rows`` synthetic clips of varying length, with an ``id`` column, to ``path``."""
    import datasets

    rng = np.random.default_rng(seed)
    clips = [(0.3 * rng.standard_normal(int(n))).astype(np.float32) for n in rng.integers(1600, 8000, rows)]
    features = datasets.Features({"audio": datasets.List(datasets.Value("float32")), "id": datasets.Value("int64")})
    datasets.Dataset.from_dict({"audio": clips, "id": list(range(rows))}, features=features).save_to_disk(path)


def make_mel():
    import melplug.hf

    return melplug.hf.MelSpectrogram(
        num_mel_bins=40, sampling_rate=16000, fft_length=512, sequence_length=400, sequence_stride=160
    )


def process_rank(ds, rank: int, world_size: int, mel, streaming: bool = False):
    """This rank's part of ``ds`` with mel spectrograms: a ``Dataset`` (streaming: a list of rows)."""
    from datasets.distributed import split_dataset_by_node

    if streaming:
        ds = ds.to_iterable_dataset(num_shards=world_size)
    part = split_dataset_by_node(ds, rank=rank, world_size=world_size)
    mapped = mel.map(part, remove_columns=["audio"])
    if streaming:
        return list(mapped.with_format("numpy"))
    return mapped


def save_rank(result, out_dir: str, rank: int, world_size: int) -> str:
    import datasets

    path = os.path.join(out_dir, f"rank-{rank:05d}-of-{world_size:05d}")
    if isinstance(result, list):
        result = datasets.Dataset.from_list(result, features=make_mel().features({"id": datasets.Value("int64")}))
    result.save_to_disk(path)
    return path


def check(data_dir: str, out_dir: str, world_size: int, mel) -> int:
    """Compare the ranks' saved outputs with a single-node run; print and return 0 if they agree."""
    import datasets

    ds = datasets.load_from_disk(data_dir).with_format("numpy")
    single = mel.map(ds, remove_columns=["audio"]).with_format("numpy")
    parts = [
        datasets.load_from_disk(os.path.join(out_dir, f"rank-{r:05d}-of-{world_size:05d}")) for r in range(world_size)
    ]
    merged = datasets.concatenate_datasets(parts).with_format("numpy")
    ids = sorted(int(i) for i in merged["id"])
    if ids != list(range(len(ds))):
        print(f"FAIL: the ranks covered ids {ids}, expected each of 0..{len(ds) - 1} once")
        return 1
    by_id = {int(row["id"]): row["mel"] for row in merged}
    for row in single:
        if not np.array_equal(by_id[int(row["id"])], row["mel"]):
            print(f"FAIL: row id {int(row['id'])} differs from the single-node run")
            return 1
    print(f"OK: {world_size} ranks covered {len(ds)} rows exactly once, equal to the single-node run")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rank", type=int, default=int(os.environ.get("RANK", 0)))
    parser.add_argument("--world-size", type=int, default=int(os.environ.get("WORLD_SIZE", 1)))
    parser.add_argument("--data-dir", help="dataset saved with save_to_disk (columns 'audio', 'id')")
    parser.add_argument("--make-data", type=int, metavar="ROWS", help="first write ROWS synthetic clips to --data-dir")
    parser.add_argument("--out-dir", help="where each rank saves its part")
    parser.add_argument("--streaming", action="store_true", help="split an IterableDataset (one shard per rank)")
    parser.add_argument("--check", type=int, metavar="WORLD_SIZE", help="compare saved ranks with a single node")
    parser.add_argument("--quick", action="store_true", help="2 ranks on 12 rows in a temporary folder, then check")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    datasets.disable_progress_bars()
    mel = make_mel()
    if args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            data_dir, out_dir = os.path.join(tmp, "clips"), os.path.join(tmp, "mels")
            make_dataset(12, data_dir)
            for rank in range(2):
                _run_rank(data_dir, out_dir, rank, 2, mel, args.streaming)
            return check(data_dir, out_dir, 2, mel)
    if not args.data_dir:
        parser.error("--data-dir is required (or use --quick)")
    if args.make_data:
        make_dataset(args.make_data, args.data_dir)
        print(f"wrote {args.make_data} rows to {args.data_dir}")
    if args.check:
        if not args.out_dir:
            parser.error("--check needs --out-dir")
        return check(args.data_dir, args.out_dir, args.check, mel)
    if not 0 <= args.rank < args.world_size:
        parser.error(f"--rank={args.rank} must be in [0, --world-size={args.world_size})")
    if args.out_dir:
        _run_rank(args.data_dir, args.out_dir, args.rank, args.world_size, mel, args.streaming)
    return 0


def _run_rank(data_dir, out_dir, rank, world_size, mel, streaming) -> None:
    import datasets

    ds = datasets.load_from_disk(data_dir).with_format("numpy")
    result = process_rank(ds, rank, world_size, mel, streaming=streaming)
    ids = [int(row["id"]) for row in result] if isinstance(result, list) else [int(i) for i in result["id"]]
    path = save_rank(result, out_dir, rank, world_size)
    span = f"ids {min(ids)}..{max(ids)}" if ids else "no rows"
    print(f"rank {rank}/{world_size}: {len(ids)} rows ({span}) -> {path}")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
