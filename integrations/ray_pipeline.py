"""Ray Data pipeline: audio files -> ``read_audio`` -> melplug -> Parquet, checked against the NumPy API.

Writes WAV and FLAC files (mono and stereo, a few lengths, 16 kHz, 16-bit)
into a working folder, then runs::

    ray.data.read_audio(folder, include_paths=True)
      .map_batches(melplug.ray.MelSpectrogram, batch_size=B,
                   compute=ray.data.ActorPoolStrategy(size=N), num_cpus=C,
                   fn_constructor_kwargs=dict(extractor=PRESET))
      .drop_columns(["amplitude"])
      .write_parquet(out)

and reads the Parquet files back: every row must equal ``melplug.preset(PRESET)``
(the NumPy API) on soundfile's decode of its file, channels averaged, exactly.

Run::

    python integrations/ray_pipeline.py                         # 96 files of 4-10 s, whisper, 2 actors
    python integrations/ray_pipeline.py --quick --preset kaldi  # a few short files (smoke test)
    python integrations/ray_pipeline.py --actors 1 --batch-size 32
    python integrations/ray_pipeline.py --address auto --workdir /shared/melplug-demo   # an existing cluster

Actors get ``num_cpus`` = (cluster CPUs - 1) / actors, rounded down to a
quarter (at most what ``--actor-cpus`` says): actors that hold every CPU
starve ``read_audio``'s read tasks forever (ray-project/ray#44687).  Each
actor computes with as many threads as the CPUs it holds, at least one.

With ``--address`` the working folder must be visible to every node (a shared
filesystem), and melplug must be installed on the nodes, or shipped with
``--ship-melplug`` (Ray's ``runtime_env={"py_modules": [...]}``).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make `melplug` importable from a checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import melplug  # noqa: E402
import melplug.ray  # noqa: E402

SAMPLING_RATE = 16000


def write_files(folder: str, count: int, min_seconds: float, max_seconds: float, seed: int = 0) -> float:
    """``count`` speech-like clips as WAV/FLAC files (every third one stereo); returns the audio seconds written.

    Lengths come from four values between ``min_seconds`` and ``max_seconds``, so
    ``read_audio`` blocks hold equal shapes (3-D batches) as well as mixed ones (object arrays).
    """
    import soundfile

    rng = np.random.default_rng(seed)
    lengths = np.linspace(min_seconds, max_seconds, 4)
    total = 0.0
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        n = int(lengths[i % 4] * SAMPLING_RATE)
        channels = 2 if i % 3 == 2 else 1
        t = np.arange(n) / SAMPLING_RATE
        f0 = rng.uniform(100, 300)
        x = 0.5 * np.sin(2 * np.pi * (f0 + 800 * t) * t)[:, None] + 0.05 * rng.standard_normal((n, channels))
        x[:, 1:] *= 0.5  # the channels differ
        name = f"clip{i:05d}.{'flac' if i % 2 else 'wav'}"
        soundfile.write(os.path.join(folder, name), x.astype(np.float32), SAMPLING_RATE, subtype="PCM_16")
        total += n / SAMPLING_RATE
    return total


def actor_cpus(total_cpus: float, actors: int, cap: float | None) -> float:
    """CPUs per actor that leave at least one CPU (half of one on a 1-CPU cluster) to the read tasks."""
    free = total_cpus - (1.0 if total_cpus >= 2 else 0.5)
    per = max(0.25, math.floor(4 * free / actors) / 4)
    return min(per, cap) if cap else per


def run_pipeline(ray, folder: str, out: str, args, kwargs: dict, cpus: float) -> float:
    """The pipeline, read to written Parquet; returns its wall seconds."""
    start = time.perf_counter()
    ds = ray.data.read_audio(folder, include_paths=True)
    ds = ds.map_batches(
        melplug.ray.MelSpectrogram,
        batch_size=args.batch_size,
        compute=ray.data.ActorPoolStrategy(size=args.actors),
        num_cpus=cpus,
        fn_constructor_kwargs=kwargs,
    )
    ds.drop_columns(["amplitude"]).write_parquet(out)
    return time.perf_counter() - start


def check(ray, folder: str, out: str, extractor, out_column: str) -> tuple[int, int]:
    """Read the Parquet output back and compare every row with the NumPy API; returns (rows, shapes seen)."""
    import soundfile

    rows = ray.data.read_parquet(out).take_all()
    files = sorted(f for f in os.listdir(folder) if f.endswith((".wav", ".flac")))
    got = sorted(os.path.basename(r["path"]) for r in rows)
    if got != files:
        raise SystemExit(f"FAILED: the output has {len(rows)} rows for {len(files)} files (or other paths): {got[:5]}")
    shapes = set()
    for row in rows:
        data, rate = soundfile.read(row["path"], dtype="float32", always_2d=True)
        mono = data.T.mean(axis=0, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
        expected = extractor(mono)
        features = np.asarray(row[out_column])
        if rate != row["sample_rate"] or features.shape != expected.shape or not np.array_equal(features, expected):
            diff = np.abs(features - expected).max() if features.shape == expected.shape else "shape"
            raise SystemExit(f"FAILED: {row['path']}: {features.shape} vs {expected.shape}, max diff {diff}")
        shapes.add(features.shape)
    return len(rows), len(shapes)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actors", type=int, default=2, help="actors in the pool (default 2)")
    parser.add_argument("--batch-size", type=int, default=16, help="rows per batch (default 16)")
    parser.add_argument("--preset", default="whisper", choices=melplug.PRESETS, help="default whisper")
    parser.add_argument("--address", default=None, help="an existing Ray cluster ('auto', 'ray://host:10001')")
    parser.add_argument("--cpus", type=float, default=None, help="CPUs of the local cluster (default: all)")
    parser.add_argument("--actor-cpus", type=float, default=None, help="at most this many CPUs per actor")
    parser.add_argument("--files", type=int, default=None, help="files to write (default 96; --quick 10)")
    parser.add_argument("--workdir", default=None, help="folder for the files and the Parquet output")
    parser.add_argument("--ship-melplug", action="store_true", help="send this melplug to the workers")
    parser.add_argument("--quick", action="store_true", help="a few short files: a smoke test")
    args = parser.parse_args(argv)
    if args.actors < 1 or args.batch_size < 1:
        parser.error("--actors and --batch-size must be >= 1")
    count = args.files or (10 if args.quick else 96)
    seconds = (0.5, 1.25) if args.quick else (4.0, 10.0)

    import ray

    workdir = args.workdir or tempfile.mkdtemp(prefix="melplug-ray-")
    folder, out = os.path.join(workdir, "audio"), os.path.join(workdir, "features")
    shutil.rmtree(out, ignore_errors=True)
    audio_seconds = write_files(folder, count, *seconds)

    melplug_dir = os.path.dirname(os.path.abspath(melplug.__file__))
    runtime_env = {"py_modules": [melplug_dir]} if args.ship_melplug else {}
    if args.address is None:
        # a checkout that is not pip-installed: the local workers find melplug through PYTHONPATH
        checkout = os.path.dirname(melplug_dir)
        paths = [checkout, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        runtime_env.setdefault("env_vars", {})["PYTHONPATH"] = os.pathsep.join(paths)
    ray.init(address=args.address, num_cpus=args.cpus, include_dashboard=False, runtime_env=runtime_env or None)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        total = ray.cluster_resources().get("CPU", 1.0)
        cpus = actor_cpus(total, args.actors, args.actor_cpus)
        extractor = melplug.preset(args.preset)
        kwargs = {"extractor": args.preset}
        out_column = melplug.ray.MelSpectrogram(**kwargs).out_column
        print(
            f"{count} files ({audio_seconds:.0f} s of audio, mono and stereo, WAV and FLAC) in {folder}; "
            f"preset {args.preset!r}; {args.actors} actor(s) x {cpus:g} CPU of {total:g}; batch_size={args.batch_size}"
        )
        wall = run_pipeline(ray, folder, out, args, kwargs, cpus)
        print(
            f"read_audio -> melplug.ray.MelSpectrogram -> write_parquet: {wall:.2f} s, {count / wall:.1f} rows/s, "
            f"{audio_seconds / wall:.1f} audio s/s (first run: includes actor start-up)"
        )
        rows, shapes = check(ray, folder, out, extractor, out_column)
    finally:
        ray.shutdown()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"OK: {rows} rows read back from Parquet ({shapes} output shape(s)), equal to melplug.preset({args.preset!r})"
    )


if __name__ == "__main__":
    main()
